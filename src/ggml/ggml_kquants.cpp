// Bit-exactness with llama.cpp needs every a*b+c rounded twice, as ggml-base (built without FMA) does.
#pragma GCC optimize("fp-contract=off")
#include "ggml/ggml_kquants.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ggml/ggml_fp16.hpp"
#include "ggml/ggml_scale_search.hpp"
#include "ggml/ggml_types.hpp"

namespace ptq::ggml {

namespace {

constexpr float kGroupMaxEps = 1e-15f;

float half(uint16_t h) { return fp16_to_f32(h); }

float super_block_sigma2(const float* x, float factor) {
  float sum_x2 = 0;
  for (int l = 0; l < kQK_K; ++l) sum_x2 += x[l] * x[l];
  return factor * sum_x2 / kQK_K;
}

// ---- 2-bit codes four to a byte (Q2_K, and Q3_K's low bits): per 128 weights 32 bytes.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kQK_K; j += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
  }
}
int unpack_2bit(const uint8_t* qs, int j) { return (qs[(j / 128) * 32 + j % 32] >> (2 * ((j % 128) / 32))) & 3; }

// ---- Q4_K / Q5_K: eight 6-bit scales and mins in 12 bytes. Sub-blocks 0-3 use the low 6 bits of
// bytes 0-3 (scales) and 4-7 (mins); sub-blocks 4-7 keep their low nibbles in bytes 8-11 and their
// top two bits in the top bits of bytes 0-7.
void pack_scale_min_k4(const uint8_t* ls, const uint8_t* lm, uint8_t* s) {
  for (int j = 0; j < 8; ++j) {
    if (j < 4) {
      s[j] = ls[j];
      s[j + 4] = lm[j];
    } else {
      s[j + 4] = static_cast<uint8_t>((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
      s[j - 4] |= static_cast<uint8_t>((ls[j] >> 4) << 6);
      s[j] |= static_cast<uint8_t>((lm[j] >> 4) << 6);
    }
  }
}
void scale_min_k4(int j, const uint8_t* s, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Codes from the stored (fp16-rounded) scales and mins: the weights are requantized against exactly
// what the dequantizer will use. A sub-block whose scale came out 0 keeps its search codes.
template <class Block>
void requantize_affine32(const float* x, const Block& b, int nmax, uint8_t* L) {
  for (int j = 0; j < kQK_K / 32; ++j) {
    int sc, m;
    scale_min_k4(j, b.scales, sc, m);
    const float d = half(b.d) * sc;
    if (!d) continue;
    const float dm = half(b.dmin) * m;
    for (int ii = 0; ii < 32; ++ii) L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(nmax, nearest_int((x[32 * j + ii] + dm) / d))));
  }
}

void pack_q4_K_codes(const uint8_t* L, BlockQ4_K& b) {
  for (int j = 0; j < kQK_K; j += 64) {
    for (int l = 0; l < 32; ++l) b.qs[j / 2 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
  }
}

void pack_q5_K_codes(const uint8_t* L, BlockQ5_K& b) {
  std::memset(b.qh, 0, sizeof b.qh);
  uint8_t m1 = 1, m2 = 2;
  for (int n = 0; n < kQK_K; n += 64) {
    for (int j = 0; j < 32; ++j) {
      int l1 = L[n + j], l2 = L[n + j + 32];
      if (l1 > 15) {
        l1 -= 16;
        b.qh[j] |= m1;
      }
      if (l2 > 15) {
        l2 -= 16;
        b.qh[j] |= m2;
      }
      b.qs[n / 2 + j] = static_cast<uint8_t>(l1 | (l2 << 4));
    }
    m1 = static_cast<uint8_t>(m1 << 2);
    m2 = static_cast<uint8_t>(m2 << 2);
  }
}

// Reference Q4_K/Q5_K super-block: per sub-block an affine search weighted by av_x + |x|, then the
// eight scales and mins on 6-bit grids from their maxima.
template <class Block>
void affine_k_reference(const float* x, Block& b, int nmax, float rmin, float rdelta, int nstep, uint8_t* L) {
  float scales[8], mins[8], weights[32];
  uint8_t Laux[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, rdelta, nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t ls[8], lm[8];
  for (int j = 0; j < 8; ++j) {
    ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
    lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
  }
  pack_scale_min_k4(ls, lm, b.scales);
  b.d = fp32_to_fp16(max_scale / 63.f);
  b.dmin = fp32_to_fp16(max_min / 63.f);
  requantize_affine32(x, b, nmax, L);
}

// Weighted Q4_K/Q5_K super-block: importance-weighted affine searches, then the scales and mins
// themselves quantized by a weighted search (weights: each sub-block's total importance).
template <class Block>
void affine_k_weighted(const float* x, Block& b, int nmax, const float* qw, uint8_t* L) {
  float scales[8], mins[8], weights[32], sw[8];
  uint8_t Laux[32], ls[8], lm[8];
  const float sigma2 = super_block_sigma2(x, 2.0f);
  const float av_x = std::sqrt(sigma2);
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    if (qw) {
      for (int l = 0; l < 32; ++l) weights[l] = qw[32 * j + l] * std::sqrt(sigma2 + xs[l] * xs[l]);
    } else {
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
    }
    float sumw = 0;
    for (int l = 0; l < 32; ++l) sumw += weights[l];
    sw[j] = sumw;
    scales[j] = make_qkx3_quants(32, nmax, xs, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
  }
  const float d_block = make_qp_quants(8, 63, scales, ls, sw);
  const float m_block = make_qp_quants(8, 63, mins, lm, sw);
  for (int j = 0; j < 8; ++j) {
    ls[j] = std::min<uint8_t>(63, ls[j]);
    lm[j] = std::min<uint8_t>(63, lm[j]);
  }
  pack_scale_min_k4(ls, lm, b.scales);
  b.d = fp32_to_fp16(d_block);
  b.dmin = fp32_to_fp16(m_block);
  requantize_affine32(x, b, nmax, L);
}

// ---- Q2_K: 16 sub-blocks of 16, 4-bit scales and mins.
void q2_K_finish(const float* x, BlockQ2_K& b, uint8_t* L) {
  for (int j = 0; j < kQK_K / 16; ++j) {
    const float d = half(b.d) * (b.scales[j] & 0xF);
    if (!d) continue;
    const float dm = half(b.dmin) * (b.scales[j] >> 4);
    for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(3, nearest_int((x[16 * j + ii] + dm) / d))));
  }
  pack_2bit(L, b.qs);
}

void q2_K_reference(const float* x, BlockQ2_K& b) {
  uint8_t L[kQK_K], Laux[16];
  float weights[16], mins[16], scales[16];
  const float q4scale = 15.f;
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 16; ++j) {
    for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
    scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  if (max_scale > 0) {
    const float iscale = q4scale / max_scale;
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
    b.d = fp32_to_fp16(max_scale / q4scale);
  } else {
    std::memset(b.scales, 0, sizeof b.scales);
    b.d = fp32_to_fp16(0.f);
  }
  if (max_min > 0) {
    const float iscale = q4scale / max_min;
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>(b.scales[j] | (nearest_int(iscale * mins[j]) << 4));
    b.dmin = fp32_to_fp16(max_min / q4scale);
  } else {
    b.dmin = fp32_to_fp16(0.f);
  }
  q2_K_finish(x, b, L);
}

void q2_K_weighted(const float* x, BlockQ2_K& b, const float* qw) {
  uint8_t L[kQK_K], Laux[16], Ls[16], Lm[16];
  float mins[16], scales[16], sw[16], weight[16];
  const float sigma2 = super_block_sigma2(x, 1.0f);
  for (int j = 0; j < 16; ++j) {
    for (int l = 0; l < 16; ++l) weight[l] = qw[16 * j + l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
    sw[j] = 0;
    for (int l = 0; l < 16; ++l) sw[j] += weight[l];
    scales[j] = make_qkx3_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
  }
  const float dm = make_qp_quants(16, 15, scales, Ls, sw);
  const float mm = make_qp_quants(16, 15, mins, Lm, sw);
  b.d = fp32_to_fp16(dm);
  b.dmin = fp32_to_fp16(mm);
  for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<uint8_t>(Ls[j] | (Lm[j] << 4));
  q2_K_finish(x, b, L);
}

// ---- Q3_K: signed 6-bit scales (stored + 32) in 12 bytes: low nibbles of sub-blocks 0-7 and
// 8-15 share bytes 0-7, the 2-bit high parts fill bytes 8-11.
void pack_q3_K_scales(const int* l6, uint8_t* s) {
  std::memset(s, 0, 12);
  for (int j = 0; j < 16; ++j) {
    const int l = l6[j];
    if (j < 8) {
      s[j] = static_cast<uint8_t>(l & 0xF);
    } else {
      s[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
    }
    s[j % 4 + 8] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
  }
}
int q3_K_scale(const uint8_t* s, int j) {
  const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
  return (lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

// Codes 0..7 as two low bits (qs, as Q2_K) and a high bit (hmask).
void pack_q3_K_codes(const uint8_t* L, BlockQ3_K& b) {
  std::memset(b.hmask, 0, sizeof b.hmask);
  uint8_t low[kQK_K];
  for (int j = 0; j < kQK_K; ++j) {
    int l = L[j];
    if (l > 3) {
      b.hmask[j % 32] |= static_cast<uint8_t>(1u << (j / 32));
      l -= 4;
    }
    low[j] = static_cast<uint8_t>(l);
  }
  pack_2bit(low, b.qs);
}

// L: signed codes + 4 in [0, 8) (from the searches); requantized here, then split into bit planes.
void q3_K_finish(const float* x, BlockQ3_K& b, int8_t* L) {
  for (int j = 0; j < 16; ++j) {
    const float d = half(b.d) * q3_K_scale(b.scales, j);
    if (!d) continue;
    for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = static_cast<int8_t>(std::max(-4, std::min(3, nearest_int(x[16 * j + ii] / d))) + 4);
  }
  pack_q3_K_codes(reinterpret_cast<const uint8_t*>(L), b);
}

void q3_K_reference(const float* x, BlockQ3_K& b) {
  int8_t L[kQK_K];
  float scales[16];
  float max_scale = 0, amax = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j, true);
    const float a = std::fabs(scales[j]);
    if (a > amax) {
      amax = a;
      max_scale = scales[j];
    }
  }
  if (max_scale) {
    const float iscale = -32.f / max_scale;
    int l6[16];
    for (int j = 0; j < 16; ++j) {
      const int8_t l = static_cast<int8_t>(nearest_int(iscale * scales[j]));  // ggml narrows to int8 first
      l6[j] = std::max<int>(-32, std::min<int>(31, l)) + 32;
    }
    pack_q3_K_scales(l6, b.scales);
    b.d = fp32_to_fp16(1 / iscale);
  } else {
    std::memset(b.scales, 0, sizeof b.scales);
    b.d = fp32_to_fp16(0.f);
  }
  q3_K_finish(x, b, L);
}

void q3_K_weighted(const float* x, BlockQ3_K& b, const float* qw) {
  int8_t L[kQK_K], Ls[16];
  float scales[16], weight[16], sw[16];
  const float sigma2 = super_block_sigma2(x, 2.0f);
  for (int j = 0; j < 16; ++j) {
    const float* xs = x + 16 * j;
    if (qw) {
      for (int l = 0; l < 16; ++l) weight[l] = qw[16 * j + l] * std::sqrt(sigma2 + xs[l] * xs[l]);
    } else {
      for (int l = 0; l < 16; ++l) weight[l] = xs[l] * xs[l];
    }
    float sumw = 0;
    for (int l = 0; l < 16; ++l) sumw += weight[l];
    sw[j] = sumw;
    scales[j] = make_qx_quants(16, 4, xs, L + 16 * j, 1, weight);
  }
  const float d_block = make_qx_quants(16, 32, scales, Ls, 1, sw);
  int l6[16];
  for (int j = 0; j < 16; ++j) l6[j] = Ls[j];
  pack_q3_K_scales(l6, b.scales);
  b.d = fp32_to_fp16(d_block);
  q3_K_finish(x, b, L);
}

// ---- Q6_K: int8 scales on a 128-step grid of the largest one.
// Codes 0..63 as four low bits (ql) and two high bits (qh), per 128 weights.
void pack_q6_K_codes(const uint8_t* L, BlockQ6_K& b) {
  for (int j = 0; j < kQK_K; j += 128) {
    uint8_t* ql = b.ql + j / 2;
    uint8_t* qh = b.qh + j / 4;
    for (int l = 0; l < 32; ++l) {
      const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
      ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
      ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
      qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
  }
}

void q6_K_block(const float* x, BlockQ6_K& b, const float* qw) {
  int8_t L[kQK_K];
  float scales[16];
  float max_scale = 0, max_abs_scale = 0;
  for (int ib = 0; ib < 16; ++ib) {
    scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1, qw ? qw + 16 * ib : nullptr);
    const float a = std::fabs(scales[ib]);
    if (a > max_abs_scale) {
      max_abs_scale = a;
      max_scale = scales[ib];
    }
  }
  if (max_abs_scale < kGroupMaxEps) {
    std::memset(&b, 0, sizeof b);
    b.d = fp32_to_fp16(0.f);
    return;
  }
  const float iscale = -128.f / max_scale;
  b.d = fp32_to_fp16(1 / iscale);
  for (int ib = 0; ib < 16; ++ib) b.scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
  for (int j = 0; j < 16; ++j) {
    const float d = half(b.d) * b.scales[j];
    if (!d) continue;
    for (int ii = 0; ii < 16; ++ii) L[16 * j + ii] = static_cast<int8_t>(std::max(-32, std::min(31, nearest_int(x[16 * j + ii] / d))) + 32);
  }
  pack_q6_K_codes(reinterpret_cast<const uint8_t*>(L), b);
}

template <class Block, class Fn>
void for_each_super_block(const float* x, Block* y, int64_t n, const char* type, Fn fn) {
  check_block_row(n, kQK_K, type);
  for (int64_t i = 0; i < n / kQK_K; ++i) fn(x + i * kQK_K, y[i], i * kQK_K);
}

}  // namespace

void quantize_row_q2_K(const float* x, BlockQ2_K* y, int64_t n) {
  for_each_super_block(x, y, n, "Q2_K", [](const float* xb, BlockQ2_K& b, int64_t) { q2_K_reference(xb, b); });
}
void quantize_row_q3_K(const float* x, BlockQ3_K* y, int64_t n) {
  for_each_super_block(x, y, n, "Q3_K", [](const float* xb, BlockQ3_K& b, int64_t) { q3_K_reference(xb, b); });
}
void quantize_row_q4_K(const float* x, BlockQ4_K* y, int64_t n) {
  for_each_super_block(x, y, n, "Q4_K", [](const float* xb, BlockQ4_K& b, int64_t) {
    uint8_t L[kQK_K];
    affine_k_reference(xb, b, 15, -1.f, 0.1f, 20, L);
    pack_q4_K_codes(L, b);
  });
}
void quantize_row_q5_K(const float* x, BlockQ5_K* y, int64_t n) {
  for_each_super_block(x, y, n, "Q5_K", [](const float* xb, BlockQ5_K& b, int64_t) {
    uint8_t L[kQK_K];
    affine_k_reference(xb, b, 31, -0.5f, 0.1f, 15, L);
    pack_q5_K_codes(L, b);
  });
}
void quantize_row_q6_K(const float* x, BlockQ6_K* y, int64_t n) {
  for_each_super_block(x, y, n, "Q6_K", [](const float* xb, BlockQ6_K& b, int64_t) { q6_K_block(xb, b, nullptr); });
}

void quantize_row_q2_K_weighted(const float* x, BlockQ2_K* y, int64_t n, const float* importance) {
  if (!importance) return quantize_row_q2_K(x, y, n);
  for_each_super_block(x, y, n, "Q2_K", [&](const float* xb, BlockQ2_K& b, int64_t off) { q2_K_weighted(xb, b, importance + off); });
}
void quantize_row_q3_K_weighted(const float* x, BlockQ3_K* y, int64_t n, const float* importance) {
  if (!importance) return quantize_row_q3_K(x, y, n);
  for_each_super_block(x, y, n, "Q3_K", [&](const float* xb, BlockQ3_K& b, int64_t off) { q3_K_weighted(xb, b, importance + off); });
}
void quantize_row_q4_K_weighted(const float* x, BlockQ4_K* y, int64_t n, const float* importance) {
  if (!importance) return quantize_row_q4_K(x, y, n);
  for_each_super_block(x, y, n, "Q4_K", [&](const float* xb, BlockQ4_K& b, int64_t off) {
    uint8_t L[kQK_K];
    affine_k_weighted(xb, b, 15, importance + off, L);
    pack_q4_K_codes(L, b);
  });
}
void quantize_row_q5_K_weighted(const float* x, BlockQ5_K* y, int64_t n, const float* importance) {
  if (!importance) return quantize_row_q5_K(x, y, n);
  for_each_super_block(x, y, n, "Q5_K", [&](const float* xb, BlockQ5_K& b, int64_t off) {
    uint8_t L[kQK_K];
    affine_k_weighted(xb, b, 31, importance + off, L);
    pack_q5_K_codes(L, b);
  });
}
void quantize_row_q6_K_weighted(const float* x, BlockQ6_K* y, int64_t n, const float* importance) {
  if (!importance) return quantize_row_q6_K(x, y, n);
  for_each_super_block(x, y, n, "Q6_K", [&](const float* xb, BlockQ6_K& b, int64_t off) { q6_K_block(xb, b, importance + off); });
}

void dequantize_row_q2_K(const BlockQ2_K* x, float* y, int64_t n) {
  check_block_row(n, kQK_K, "Q2_K");
  for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
    const float d = half(x[i].d), dmin = half(x[i].dmin);
    for (int j = 0; j < kQK_K; ++j) {
      const uint8_t sc = x[i].scales[j / 16];
      const float dl = d * (sc & 0xF), ml = dmin * (sc >> 4);
      y[j] = dl * unpack_2bit(x[i].qs, j) - ml;
    }
  }
}

void dequantize_row_q3_K(const BlockQ3_K* x, float* y, int64_t n) {
  check_block_row(n, kQK_K, "Q3_K");
  for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
    const float d_all = half(x[i].d);
    for (int j = 0; j < kQK_K; ++j) {
      const float dl = d_all * q3_K_scale(x[i].scales, j / 16);
      const int high = (x[i].hmask[j % 32] >> (j / 32)) & 1;
      y[j] = dl * (unpack_2bit(x[i].qs, j) - (high ? 0 : 4));
    }
  }
}

void dequantize_row_q4_K(const BlockQ4_K* x, float* y, int64_t n) {
  check_block_row(n, kQK_K, "Q4_K");
  for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
    const float d = half(x[i].d), dmin = half(x[i].dmin);
    for (int j = 0; j < kQK_K; ++j) {
      int sc, m;
      scale_min_k4(j / 32, x[i].scales, sc, m);
      const uint8_t byte = x[i].qs[(j / 64) * 32 + j % 32];
      const int q = (j / 32) % 2 ? byte >> 4 : byte & 0xF;
      y[j] = d * sc * q - dmin * m;
    }
  }
}

void dequantize_row_q5_K(const BlockQ5_K* x, float* y, int64_t n) {
  check_block_row(n, kQK_K, "Q5_K");
  for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
    const float d = half(x[i].d), dmin = half(x[i].dmin);
    for (int j = 0; j < kQK_K; ++j) {
      int sc, m;
      scale_min_k4(j / 32, x[i].scales, sc, m);
      const uint8_t byte = x[i].qs[(j / 64) * 32 + j % 32];
      const int low = (j / 32) % 2 ? byte >> 4 : byte & 0xF;
      const int high = (x[i].qh[j % 32] >> (j / 32)) & 1;
      y[j] = d * sc * (low + 16 * high) - dmin * m;
    }
  }
}

void dequantize_row_q6_K(const BlockQ6_K* x, float* y, int64_t n) {
  check_block_row(n, kQK_K, "Q6_K");
  for (int64_t i = 0; i < n / kQK_K; ++i, y += kQK_K) {
    const float d = half(x[i].d);
    for (int j = 0; j < kQK_K; ++j) {
      const int half128 = j / 128, r = j % 128, l = r % 32, quarter = r / 32;  // quarter: which of q1..q4
      const uint8_t lowbyte = x[i].ql[half128 * 64 + l + (quarter % 2) * 32];
      const int low = quarter < 2 ? lowbyte & 0xF : lowbyte >> 4;
      const int high = (x[i].qh[half128 * 32 + l] >> (2 * quarter)) & 3;
      const int sc = x[i].scales[half128 * 8 + l / 16 + 2 * quarter];
      y[j] = d * sc * ((low | (high << 4)) - 32);
    }
  }
}

void set_codes_q2_K(BlockQ2_K& b, const uint8_t* L) { pack_2bit(L, b.qs); }
void set_codes_q3_K(BlockQ3_K& b, const uint8_t* L) { pack_q3_K_codes(L, b); }
void set_codes_q4_K(BlockQ4_K& b, const uint8_t* L) { pack_q4_K_codes(L, b); }
void set_codes_q5_K(BlockQ5_K& b, const uint8_t* L) { pack_q5_K_codes(L, b); }
void set_codes_q6_K(BlockQ6_K& b, const uint8_t* L) { pack_q6_K_codes(L, b); }

}  // namespace ptq::ggml
