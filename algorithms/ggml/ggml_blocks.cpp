#include "algorithms/ggml/ggml_blocks.hpp"

#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.hpp"
#include "io/gguf_types.hpp"

namespace ptq::ggml {

namespace {

void check_row(int64_t n, int qk, const char* type) {
  if (n < 0 || n % qk != 0) {
    throw Error(std::string(type) + ": a row of " + std::to_string(n) +
                " weights is not a whole number of " + std::to_string(qk) + "-weight blocks");
  }
}

}  // namespace

uint16_t fp32_to_fp16(float f) { return c10::detail::fp16_ieee_from_fp32_value(f); }

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  check_row(n, kQK8_0, "Q8_0");
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float* v = x + b * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(v[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    for (int j = 0; j < kQK8_0; ++j) y[b].qs[j] = static_cast<int8_t>(std::round(v[j] * id));
  }
}

void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n) {
  check_row(n, kQK4_0, "Q4_0");
  constexpr int half = kQK4_0 / 2;
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float* v = x + b * kQK4_0;
    float amax = 0.0f, max = 0.0f;  // max keeps the sign of the largest-magnitude weight
    for (int j = 0; j < kQK4_0; ++j) {
      if (std::fabs(v[j]) > amax) {
        amax = std::fabs(v[j]);
        max = v[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    for (int j = 0; j < half; ++j) {
      // ggml: truncation of x*id + 8.5 toward zero (codes are >= 0 here), clamped to 15.
      const int lo = std::min(15, static_cast<int>(static_cast<int8_t>(v[j] * id + 8.5f)));
      const int hi = std::min(15, static_cast<int>(static_cast<int8_t>(v[j + half] * id + 8.5f)));
      y[b].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n) {
  check_row(n, kQK8_0, "Q8_0");
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float d = io::fp16_to_f32(x[b].d);
    for (int j = 0; j < kQK8_0; ++j) y[b * kQK8_0 + j] = d * static_cast<float>(x[b].qs[j]);
  }
}

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n) {
  check_row(n, kQK4_0, "Q4_0");
  constexpr int half = kQK4_0 / 2;
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float d = io::fp16_to_f32(x[b].d);
    float* out = y + b * kQK4_0;
    for (int j = 0; j < half; ++j) {
      out[j] = d * static_cast<float>((x[b].qs[j] & 0x0F) - 8);
      out[j + half] = d * static_cast<float>((x[b].qs[j] >> 4) - 8);
    }
  }
}

std::vector<uint8_t> encode_rows(uint32_t type, const float* x, int64_t rows, int64_t n) {
  const io::GgmlTypeTraits tr = io::ggml_type_traits(type);
  const auto t = static_cast<io::GgmlType>(type);
  if (t != io::GgmlType::F32 && t != io::GgmlType::F16 && t != io::GgmlType::Q8_0 && t != io::GgmlType::Q4_0) {
    throw Error("ggml encoding to " + io::ggml_type_name(type) + " is not supported (F32, F16, Q8_0, Q4_0 are)");
  }
  check_row(n, static_cast<int>(tr.block_size), tr.name);
  const int64_t row_bytes = n / tr.block_size * tr.type_size;
  std::vector<uint8_t> out(static_cast<size_t>(rows * row_bytes));
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = x + r * n;
    uint8_t* dst = out.data() + r * row_bytes;
    switch (t) {
      case io::GgmlType::F32:
        std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
        break;
      case io::GgmlType::F16:
        for (int64_t j = 0; j < n; ++j) {
          const uint16_t h = fp32_to_fp16(src[j]);
          std::memcpy(dst + 2 * j, &h, 2);
        }
        break;
      case io::GgmlType::Q8_0:
        quantize_row_q8_0(src, reinterpret_cast<BlockQ8_0*>(dst), n);
        break;
      default:
        quantize_row_q4_0(src, reinterpret_cast<BlockQ4_0*>(dst), n);
        break;
    }
  }
  return out;
}

}  // namespace ptq::ggml
