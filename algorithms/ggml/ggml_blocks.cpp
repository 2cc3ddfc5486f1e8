#include "algorithms/ggml/ggml_blocks.hpp"

#include <cctype>

#include <ATen/Parallel.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>

#include "algorithms/ggml/ggml_blocks_q4q5.hpp"
#include "algorithms/ggml/ggml_iq4.hpp"
#include "algorithms/ggml/ggml_kquants.hpp"
#include "core/error.hpp"
#include "io/gguf_types.hpp"

namespace ptq::ggml {

void check_block_row(int64_t n, int qk, const char* type) {
  if (n < 0 || n % qk != 0) {
    throw Error(std::string(type) + ": a row of " + std::to_string(n) +
                " weights is not a whole number of " + std::to_string(qk) + "-weight blocks");
  }
}

uint16_t fp32_to_fp16(float f) { return c10::detail::fp16_ieee_from_fp32_value(f); }

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
    const float d = io::fp16_to_f32(x[b].d);
    for (int j = 0; j < kQK8_0; ++j) y[b * kQK8_0 + j] = d * static_cast<float>(x[b].qs[j]);
  }
}

void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n) {
  check_block_row(n, kQK4_0, "Q4_0");
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

bool can_encode(uint32_t type) {
  switch (static_cast<io::GgmlType>(type)) {
    case io::GgmlType::F32:
    case io::GgmlType::F16:
    case io::GgmlType::Q4_0:
    case io::GgmlType::Q4_1:
    case io::GgmlType::Q5_0:
    case io::GgmlType::Q5_1:
    case io::GgmlType::Q8_0:
    case io::GgmlType::Q2_K:
    case io::GgmlType::Q3_K:
    case io::GgmlType::Q4_K:
    case io::GgmlType::Q5_K:
    case io::GgmlType::Q6_K:
    case io::GgmlType::IQ4_NL:
    case io::GgmlType::IQ4_XS:
      return true;
    default:
      return false;
  }
}

namespace {

// One row of n weights at src as ggml type t at dst (row_bytes long).
void encode_row(io::GgmlType t, const float* src, uint8_t* dst, int64_t n, const float* imp) {
  using T = io::GgmlType;
  switch (t) {
    case T::F32: std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float)); return;
    case T::F16:
      for (int64_t j = 0; j < n; ++j) {
        const uint16_t h = fp32_to_fp16(src[j]);
        std::memcpy(dst + 2 * j, &h, 2);
      }
      return;
    case T::Q8_0: return quantize_row_q8_0(src, reinterpret_cast<BlockQ8_0*>(dst), n);
    case T::Q4_0: return quantize_row_q4_0_weighted(src, reinterpret_cast<BlockQ4_0*>(dst), n, imp);
    case T::Q4_1: return quantize_row_q4_1_weighted(src, reinterpret_cast<BlockQ4_1*>(dst), n, imp);
    case T::Q5_0: return quantize_row_q5_0_weighted(src, reinterpret_cast<BlockQ5_0*>(dst), n, imp);
    case T::Q5_1: return quantize_row_q5_1_weighted(src, reinterpret_cast<BlockQ5_1*>(dst), n, imp);
    case T::Q2_K: return quantize_row_q2_K_weighted(src, reinterpret_cast<BlockQ2_K*>(dst), n, imp);
    case T::Q3_K: return quantize_row_q3_K_weighted(src, reinterpret_cast<BlockQ3_K*>(dst), n, imp);
    case T::Q4_K: return quantize_row_q4_K_weighted(src, reinterpret_cast<BlockQ4_K*>(dst), n, imp);
    case T::Q5_K: return quantize_row_q5_K_weighted(src, reinterpret_cast<BlockQ5_K*>(dst), n, imp);
    case T::Q6_K: return quantize_row_q6_K_weighted(src, reinterpret_cast<BlockQ6_K*>(dst), n, imp);
    case T::IQ4_NL: return quantize_row_iq4_nl(src, reinterpret_cast<BlockIQ4_NL*>(dst), n, imp);
    case T::IQ4_XS: return quantize_row_iq4_xs(src, reinterpret_cast<BlockIQ4_XS*>(dst), n, imp);
    default: throw Error("ggml encoding to " + io::ggml_type_name(static_cast<uint32_t>(t)) + " is not supported");
  }
}

}  // namespace

void decode_row(uint32_t type, const uint8_t* src, float* dst, int64_t n) {
  using T = io::GgmlType;
  switch (static_cast<T>(type)) {
    case T::Q8_0: return dequantize_row_q8_0(reinterpret_cast<const BlockQ8_0*>(src), dst, n);
    case T::Q4_0: return dequantize_row_q4_0(reinterpret_cast<const BlockQ4_0*>(src), dst, n);
    case T::Q4_1: return dequantize_row_q4_1(reinterpret_cast<const BlockQ4_1*>(src), dst, n);
    case T::Q5_0: return dequantize_row_q5_0(reinterpret_cast<const BlockQ5_0*>(src), dst, n);
    case T::Q5_1: return dequantize_row_q5_1(reinterpret_cast<const BlockQ5_1*>(src), dst, n);
    case T::Q2_K: return dequantize_row_q2_K(reinterpret_cast<const BlockQ2_K*>(src), dst, n);
    case T::Q3_K: return dequantize_row_q3_K(reinterpret_cast<const BlockQ3_K*>(src), dst, n);
    case T::Q4_K: return dequantize_row_q4_K(reinterpret_cast<const BlockQ4_K*>(src), dst, n);
    case T::Q5_K: return dequantize_row_q5_K(reinterpret_cast<const BlockQ5_K*>(src), dst, n);
    case T::Q6_K: return dequantize_row_q6_K(reinterpret_cast<const BlockQ6_K*>(src), dst, n);
    case T::IQ4_NL: return dequantize_row_iq4_nl(reinterpret_cast<const BlockIQ4_NL*>(src), dst, n);
    case T::IQ4_XS: return dequantize_row_iq4_xs(reinterpret_cast<const BlockIQ4_XS*>(src), dst, n);
    default: return io::ggml_dequantize_row(type, src, dst, n);  // F32 / F16
  }
}

std::vector<uint8_t> encode_rows(uint32_t type, const float* x, int64_t rows, int64_t n, const float* importance) {
  if (!can_encode(type)) {
    throw Error("ggml encoding to " + io::ggml_type_name(type) +
                " is not supported (F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS are)");
  }
  const io::GgmlTypeTraits tr = io::ggml_type_traits(type);
  check_block_row(n, static_cast<int>(tr.block_size), tr.name);
  const int64_t row_bytes = n / tr.block_size * tr.type_size;
  std::vector<uint8_t> out(static_cast<size_t>(rows * row_bytes));
  // Rows are independent: split them over ptq's threads (torch's intra-op count), as llama-quantize
  // does. Each row's bytes depend on that row alone, so the output is the same for any thread count.
  const int64_t work = rows * n;
  const int threads = static_cast<int>(std::min<int64_t>(std::max(1, at::get_num_threads()), std::max<int64_t>(1, work / (1 << 16))));
  auto encode_range = [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) encode_row(static_cast<io::GgmlType>(type), x + r * n, out.data() + r * row_bytes, n, importance);
  };
  if (threads <= 1 || rows < 2) {
    encode_range(0, rows);
    return out;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
  const int64_t per = (rows + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) {
    const int64_t r0 = t * per, r1 = std::min(rows, r0 + per);
    if (r0 >= r1) break;
    pool.emplace_back([&, t, r0, r1] {
      try {
        encode_range(r0, r1);
      } catch (...) {
        errors[static_cast<size_t>(t)] = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  return out;
}

uint32_t block_type_by_name(const std::string& name) {
  using T = io::GgmlType;
  std::string known;
  for (const T t : {T::Q4_0, T::Q4_1, T::Q5_0, T::Q5_1, T::Q8_0, T::Q2_K, T::Q3_K, T::Q4_K, T::Q5_K, T::Q6_K, T::IQ4_NL, T::IQ4_XS}) {
    std::string n = io::ggml_type_name(static_cast<uint32_t>(t));
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (n == name) return static_cast<uint32_t>(t);
    known += (known.empty() ? "" : ", ") + n;
  }
  throw Error("unknown llama.cpp block type '" + name + "' (choose " + known + ")");
}

int64_t block_size_of(uint32_t type) { return io::ggml_type_traits(type).block_size; }

}  // namespace ptq::ggml
