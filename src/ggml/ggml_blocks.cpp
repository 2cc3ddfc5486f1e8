#include "ggml/ggml_blocks.hpp"

#include <algorithm>
#include <cmath>

#include "ggml/ggml_fp16.hpp"
#include "ggml/ggml_types.hpp"

namespace ptq::ggml {

void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n) {
  check_block_row(n, kQK8_0, "Q8_0");
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
  check_block_row(n, kQK4_0, "Q4_0");
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
  check_block_row(n, kQK8_0, "Q8_0");
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float d = fp16_to_f32(x[b].d);
    for (int j = 0; j < kQK8_0; ++j) y[b * kQK8_0 + j] = d * static_cast<float>(x[b].qs[j]);
  }
}

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n) {
  check_block_row(n, kQK4_0, "Q4_0");
  constexpr int half = kQK4_0 / 2;
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float d = fp16_to_f32(x[b].d);
    float* out = y + b * kQK4_0;
    for (int j = 0; j < half; ++j) {
      out[j] = d * static_cast<float>((x[b].qs[j] & 0x0F) - 8);
      out[j + half] = d * static_cast<float>((x[b].qs[j] >> 4) - 8);
    }
  }
}

void set_codes_q8_0(BlockQ8_0& b, const uint8_t* L) {
  for (int j = 0; j < kQK8_0; ++j) b.qs[j] = static_cast<int8_t>(int(L[j]) - 128);
}

void set_codes_q4_0(BlockQ4_0& b, const uint8_t* L) {
  constexpr int half = kQK4_0 / 2;
  for (int j = 0; j < half; ++j) b.qs[j] = static_cast<uint8_t>((L[j] & 0xF) | ((L[j + half] & 0xF) << 4));
}

}  // namespace ptq::ggml
