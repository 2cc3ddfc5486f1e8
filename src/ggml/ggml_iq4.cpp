// The float operations below are those of ggml-quants.c in the same order (the files are compared
// with llama.cpp's byte for byte), so no FMA contraction.
#pragma GCC optimize("fp-contract=off")
#include "ggml/ggml_iq4.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ggml/ggml_fp16.hpp"
#include "ggml/ggml_scale_search.hpp"
#include "ggml/ggml_types.hpp"

namespace ptq::ggml {

namespace {

constexpr float kGroupMaxEps = 1e-15f;  // ggml's GROUP_MAX_EPS: a sub-block below it is all zero
constexpr int kTries = 7;               // llama-quantize's ntry: scales -max/(127 -+ 0..7) are tried
constexpr int kSub = 32;                // weights per scale

// Packs 32 indices of a sub-block into 16 bytes (weight j low nibble, j + 16 high nibble).
void pack_nibbles(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kSub / 2; ++j) qs[j] = static_cast<uint8_t>(L[j] | (L[j + kSub / 2] << 4));
}

// Σ w q x and Σ w q² of the sub-block xb with indices chosen for the inverse scale id (written to L
// when given).
void weighted_sums(const float* xb, const float* weight, float id, uint8_t* L, float& sumqx, float& sumq2) {
  sumqx = 0.0f;
  sumq2 = 0.0f;
  for (int j = 0; j < kSub; ++j) {
    const int l = iq4_nearest_level(id * xb[j]);
    if (L) L[j] = static_cast<uint8_t>(l);
    const float q = kValuesIQ4NL[l];
    const float w = weight[j];
    sumqx += w * q * xb[j];
    sumq2 += w * q * q;
  }
}

// The least-squares scale of one 32-weight sub-block: start from the scale putting the
// largest-magnitude weight on the outermost level, then try the 2 * kTries + 1 grids that put it on
// 127 - kTries .. 127 + kTries (level 0 is -127), keeping the one of best weighted cosine.
float sub_block_scale(const float* xb, const float* weight, uint8_t* L) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kSub; ++j) {
    const float ax = std::fabs(xb[j]);
    if (ax > amax) {
      amax = ax;
      max = xb[j];
    }
  }
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, kSub);
    return 0.0f;
  }
  const float v0 = kValuesIQ4NL[0];
  float d = -max / v0;
  float sumqx, sumq2;
  weighted_sums(xb, weight, 1.0f / d, L, sumqx, sumq2);
  d = sumq2 > 0 ? sumqx / sumq2 : 0.0f;
  float best = d * sumqx;
  for (int itry = -kTries; itry <= kTries; ++itry) {
    const float id = static_cast<float>(itry + kValuesIQ4NL[0]) / max;
    weighted_sums(xb, weight, id, nullptr, sumqx, sumq2);
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

// Per-weight weights of a sub-block: importance * sqrt(sigma2 + x^2), or x^2 without importance.
void sub_block_weights(const float* xb, const float* qw, float sigma2, float* weight) {
  for (int j = 0; j < kSub; ++j) weight[j] = qw ? qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]) : xb[j] * xb[j];
}

float mean_square_twice(const float* x, int n) {
  float s = 0.0f;
  for (int j = 0; j < n; ++j) s += x[j] * x[j];
  return s * (2.0f / static_cast<float>(n));
}

void iq4_nl_block(const float* x, BlockIQ4_NL& b, const float* qw) {
  float weight[kSub];
  uint8_t L[kSub];
  sub_block_weights(x, qw, mean_square_twice(x, kSub), weight);
  const float d = sub_block_scale(x, weight, L);
  b.d = fp32_to_fp16(d);
  // Indices for the chosen scale itself (the search's last grid need not be the best one).
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < kSub; ++j) L[j] = static_cast<uint8_t>(iq4_nearest_level(id * x[j]));
  pack_nibbles(L, b.qs);
}

void iq4_xs_block(const float* x, BlockIQ4_XS& b, const float* qw) {
  constexpr int nb = kQK_IQ4_XS / kSub;
  float weight[kSub], scales[nb];
  uint8_t L[kQK_IQ4_XS];
  const float sigma2 = mean_square_twice(x, kQK_IQ4_XS);
  float max_scale = 0.0f, amax_scale = 0.0f;
  for (int ib = 0; ib < nb; ++ib) {
    sub_block_weights(x + ib * kSub, qw ? qw + ib * kSub : nullptr, sigma2, weight);
    scales[ib] = sub_block_scale(x + ib * kSub, weight, L + ib * kSub);
    if (std::fabs(scales[ib]) > amax_scale) {
      amax_scale = std::fabs(scales[ib]);
      max_scale = scales[ib];
    }
  }
  // Sub-block scales as 6-bit integers ls in [-32, 31] times d; the largest-magnitude one maps to -32.
  const float d = -max_scale / 32;
  b.d = fp32_to_fp16(d);
  b.scales_h = 0;
  std::memset(b.scales_l, 0, sizeof b.scales_l);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int ib = 0; ib < nb; ++ib) {
    const int ls = std::max(-32, std::min(31, nearest_int(id * scales[ib])));
    const float dl = d * static_cast<float>(ls);
    const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
    for (int j = 0; j < kSub; ++j) L[ib * kSub + j] = static_cast<uint8_t>(iq4_nearest_level(idl * x[ib * kSub + j]));
    const int stored = ls + 32;
    b.scales_l[ib / 2] = static_cast<uint8_t>(b.scales_l[ib / 2] | ((stored & 0xF) << (4 * (ib % 2))));
    b.scales_h = static_cast<uint16_t>(b.scales_h | ((stored >> 4) << (2 * ib)));
  }
  set_codes_iq4_xs(b, L);
}

int xs_scale(const BlockIQ4_XS& b, int ib) {
  return (((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b.scales_h >> (2 * ib)) & 3) << 4)) - 32;
}

}  // namespace

int iq4_nearest_level(float x) {
  // Level i is chosen once x reaches the midpoint of levels i - 1 and i; doubling x keeps the
  // comparison exact (the midpoints are halves of integers).
  const float x2 = x + x;
  int idx = 0;
  for (int i = 1; i < 16; ++i) {
    if (x2 >= static_cast<float>(kValuesIQ4NL[i - 1] + kValuesIQ4NL[i])) idx = i;
  }
  return idx;
}

void quantize_row_iq4_nl(const float* x, BlockIQ4_NL* y, int64_t n, const float* importance) {
  check_block_row(n, kQK4_NL, "IQ4_NL");
  for (int64_t b = 0; b < n / kQK4_NL; ++b) {
    iq4_nl_block(x + b * kQK4_NL, y[b], importance ? importance + b * kQK4_NL : nullptr);
  }
}

void quantize_row_iq4_xs(const float* x, BlockIQ4_XS* y, int64_t n, const float* importance) {
  check_block_row(n, kQK_IQ4_XS, "IQ4_XS");
  for (int64_t b = 0; b < n / kQK_IQ4_XS; ++b) {
    iq4_xs_block(x + b * kQK_IQ4_XS, y[b], importance ? importance + b * kQK_IQ4_XS : nullptr);
  }
}

void quantize_row_iq4_nl_ref(const float* x, BlockIQ4_NL* y, int64_t n) { quantize_row_iq4_nl(x, y, n, nullptr); }
void quantize_row_iq4_xs_ref(const float* x, BlockIQ4_XS* y, int64_t n) { quantize_row_iq4_xs(x, y, n, nullptr); }

void dequantize_row_iq4_nl(const BlockIQ4_NL* x, float* y, int64_t n) {
  check_block_row(n, kQK4_NL, "IQ4_NL");
  for (int64_t b = 0; b < n / kQK4_NL; ++b, y += kQK4_NL) {
    const float d = fp16_to_f32(x[b].d);
    for (int j = 0; j < kQK4_NL / 2; ++j) {
      y[j] = d * static_cast<float>(kValuesIQ4NL[x[b].qs[j] & 0xF]);
      y[j + kQK4_NL / 2] = d * static_cast<float>(kValuesIQ4NL[x[b].qs[j] >> 4]);
    }
  }
}

void dequantize_row_iq4_xs(const BlockIQ4_XS* x, float* y, int64_t n) {
  check_block_row(n, kQK_IQ4_XS, "IQ4_XS");
  for (int64_t b = 0; b < n / kQK_IQ4_XS; ++b) {
    const float d = fp16_to_f32(x[b].d);
    for (int ib = 0; ib < kQK_IQ4_XS / kSub; ++ib, y += kSub) {
      const float dl = d * static_cast<float>(xs_scale(x[b], ib));
      const uint8_t* qs = x[b].qs + ib * (kSub / 2);
      for (int j = 0; j < kSub / 2; ++j) {
        y[j] = dl * static_cast<float>(kValuesIQ4NL[qs[j] & 0xF]);
        y[j + kSub / 2] = dl * static_cast<float>(kValuesIQ4NL[qs[j] >> 4]);
      }
    }
  }
}

void set_codes_iq4_nl(BlockIQ4_NL& b, const uint8_t* L) { pack_nibbles(L, b.qs); }

void set_codes_iq4_xs(BlockIQ4_XS& b, const uint8_t* L) {
  for (int ib = 0; ib < kQK_IQ4_XS / kSub; ++ib) pack_nibbles(L + ib * kSub, b.qs + ib * (kSub / 2));
}

}  // namespace ptq::ggml
