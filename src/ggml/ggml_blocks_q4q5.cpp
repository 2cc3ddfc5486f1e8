// Bit-exactness with llama.cpp needs every a*b+c rounded twice, as ggml-base (built without FMA) does.
#pragma GCC optimize("fp-contract=off")
#include "ggml/ggml_blocks_q4q5.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "ggml/ggml_fp16.hpp"
#include "ggml/ggml_scale_search.hpp"
#include "ggml/ggml_types.hpp"

namespace ptq::ggml {

namespace {

constexpr int kQK = 32, kHalf = 16;

void min_max(const float* v, float& min, float& max) {
  min = FLT_MAX;
  max = -FLT_MAX;
  for (int j = 0; j < kQK; ++j) {
    if (v[j] < min) min = v[j];
    if (v[j] > max) max = v[j];
  }
}

// The signed weight of largest magnitude (the first one on ties), as Q4_0 / Q5_0 scale from.
float signed_absmax(const float* v) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    if (amax < std::fabs(v[j])) {
      amax = std::fabs(v[j]);
      max = v[j];
    }
  }
  return max;
}

// 5-bit codes q[0..31] into nibbles and the 32-bit mask of fifth bits.
template <class Block>
void pack5(const uint8_t* q, Block& b) {
  uint32_t qh = 0;
  for (int j = 0; j < kHalf; ++j) {
    b.qs[j] = static_cast<uint8_t>((q[j] & 0x0F) | ((q[j + kHalf] & 0x0F) << 4));
    qh |= static_cast<uint32_t>((q[j] & 0x10u) >> 4) << j;
    qh |= static_cast<uint32_t>((q[j + kHalf] & 0x10u) >> 4) << (j + kHalf);
  }
  std::memcpy(b.qh, &qh, sizeof qh);
}

template <class Block>
void unpack5(const Block& b, int* q) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, sizeof qh);
  for (int j = 0; j < kHalf; ++j) {
    q[j] = (b.qs[j] & 0x0F) | static_cast<int>(((qh >> j) & 1u) << 4);
    q[j + kHalf] = (b.qs[j] >> 4) | static_cast<int>(((qh >> (j + kHalf)) & 1u) << 4);
  }
}

template <class Block>
void pack4(const uint8_t* q, Block& b) {
  for (int j = 0; j < kHalf; ++j) b.qs[j] = static_cast<uint8_t>(q[j] | (q[j + kHalf] << 4));
}

// Row-wide mean square: the weighted quantizers add it to x^2 so small weights keep some importance.
float row_sigma2(const float* x, int64_t n) {
  float sum_x2 = 0;
  for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  return sum_x2 / n;
}

void block_weights(const float* xb, const float* qw, float sigma2, float* weight) {
  for (int j = 0; j < kQK; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
}

}  // namespace

void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t n) {
  check_block_row(n, kQK4_1, "Q4_1");
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float* v = x + b * kQK;
    float min, max;
    min_max(v, min, max);
    const float d = (max - min) / 15;
    const float id = d ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    y[b].m = fp32_to_fp16(min);
    uint8_t q[kQK];
    for (int j = 0; j < kQK; ++j) q[j] = static_cast<uint8_t>(std::min(15, static_cast<int>(static_cast<int8_t>((v[j] - min) * id + 0.5f))));
    pack4(q, y[b]);
  }
}

void quantize_row_q5_0(const float* x, BlockQ5_0* y, int64_t n) {
  check_block_row(n, kQK5_0, "Q5_0");
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float* v = x + b * kQK;
    const float d = signed_absmax(v) / -16;
    const float id = d ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    uint8_t q[kQK];
    for (int j = 0; j < kQK; ++j) q[j] = static_cast<uint8_t>(std::min(31, static_cast<int>(static_cast<int8_t>(v[j] * id + 16.5f))));
    pack5(q, y[b]);
  }
}

void quantize_row_q5_1(const float* x, BlockQ5_1* y, int64_t n) {
  check_block_row(n, kQK5_1, "Q5_1");
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float* v = x + b * kQK;
    float min, max;
    min_max(v, min, max);
    const float d = (max - min) / 31;
    const float id = d ? 1.0f / d : 0.0f;
    y[b].d = fp32_to_fp16(d);
    y[b].m = fp32_to_fp16(min);
    uint8_t q[kQK];
    for (int j = 0; j < kQK; ++j) q[j] = static_cast<uint8_t>((v[j] - min) * id + 0.5f);
    pack5(q, y[b]);
  }
}

void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t n) {
  check_block_row(n, kQK4_1, "Q4_1");
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float d = fp16_to_f32(x[b].d), m = fp16_to_f32(x[b].m);
    float* out = y + b * kQK;
    for (int j = 0; j < kHalf; ++j) {
      out[j] = (x[b].qs[j] & 0x0F) * d + m;
      out[j + kHalf] = (x[b].qs[j] >> 4) * d + m;
    }
  }
}

void dequantize_row_q5_0(const BlockQ5_0* x, float* y, int64_t n) {
  check_block_row(n, kQK5_0, "Q5_0");
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float d = fp16_to_f32(x[b].d);
    int q[kQK];
    unpack5(x[b], q);
    for (int j = 0; j < kQK; ++j) y[b * kQK + j] = (q[j] - 16) * d;
  }
}

void dequantize_row_q5_1(const BlockQ5_1* x, float* y, int64_t n) {
  check_block_row(n, kQK5_1, "Q5_1");
  for (int64_t b = 0; b < n / kQK; ++b) {
    const float d = fp16_to_f32(x[b].d), m = fp16_to_f32(x[b].m);
    int q[kQK];
    unpack5(x[b], q);
    for (int j = 0; j < kQK; ++j) y[b * kQK + j] = q[j] * d + m;
  }
}

void quantize_row_q4_0_weighted(const float* x, BlockQ4_0* y, int64_t n, const float* importance) {
  if (!importance) return quantize_row_q4_0(x, y, n);
  check_block_row(n, kQK4_0, "Q4_0");
  const float sigma2 = row_sigma2(x, n);
  float weight[kQK];
  int8_t L[kQK];
  for (int64_t b = 0; b < n / kQK; ++b) {
    block_weights(x + b * kQK, importance + b * kQK, sigma2, weight);
    const float d = make_qx_quants(kQK, 8, x + b * kQK, L, 1, weight);
    y[b].d = fp32_to_fp16(d);
    for (int j = 0; j < kHalf; ++j) y[b].qs[j] = static_cast<uint8_t>(L[j] | (L[j + kHalf] << 4));
  }
}

void quantize_row_q5_0_weighted(const float* x, BlockQ5_0* y, int64_t n, const float* importance) {
  if (!importance) return quantize_row_q5_0(x, y, n);
  check_block_row(n, kQK5_0, "Q5_0");
  const float sigma2 = row_sigma2(x, n);
  float weight[kQK];
  int8_t L[kQK];
  for (int64_t b = 0; b < n / kQK; ++b) {
    block_weights(x + b * kQK, importance + b * kQK, sigma2, weight);
    const float d = make_qx_quants(kQK, 16, x + b * kQK, L, 1, weight);
    y[b].d = fp32_to_fp16(d);
    uint8_t q[kQK];
    for (int j = 0; j < kQK; ++j) q[j] = static_cast<uint8_t>(L[j]);
    pack5(q, y[b]);
  }
}

namespace {

// Q4_1 / Q5_1 with importance: an affine least-squares search per block (min stored negated).
template <class Block, int kNmax>
void affine_weighted(const float* x, Block* y, int64_t n, const float* importance) {
  const float sigma2 = row_sigma2(x, n);
  float weight[kQK];
  uint8_t L[kQK], Laux[kQK];
  for (int64_t b = 0; b < n / kQK; ++b) {
    block_weights(x + b * kQK, importance + b * kQK, sigma2, weight);
    float min;
    const float d = make_qkx3_quants(kQK, kNmax, x + b * kQK, weight, L, &min, Laux, -0.9f, 0.05f, 36, false);
    y[b].d = fp32_to_fp16(d);
    y[b].m = fp32_to_fp16(-min);
    if constexpr (kNmax == 15) {
      pack4(L, y[b]);
    } else {
      pack5(L, y[b]);
    }
  }
}

}  // namespace

void quantize_row_q4_1_weighted(const float* x, BlockQ4_1* y, int64_t n, const float* importance) {
  if (!importance) return quantize_row_q4_1(x, y, n);
  check_block_row(n, kQK4_1, "Q4_1");
  affine_weighted<BlockQ4_1, 15>(x, y, n, importance);
}

void quantize_row_q5_1_weighted(const float* x, BlockQ5_1* y, int64_t n, const float* importance) {
  if (!importance) return quantize_row_q5_1(x, y, n);
  check_block_row(n, kQK5_1, "Q5_1");
  affine_weighted<BlockQ5_1, 31>(x, y, n, importance);
}

void set_codes_q4_1(BlockQ4_1& b, const uint8_t* L) { pack4(L, b); }
void set_codes_q5_0(BlockQ5_0& b, const uint8_t* L) { pack5(L, b); }
void set_codes_q5_1(BlockQ5_1& b, const uint8_t* L) { pack5(L, b); }

}  // namespace ptq::ggml
