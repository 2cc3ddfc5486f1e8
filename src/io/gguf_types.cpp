#include "algorithms/ggml/ggml_iq4.hpp"
#include "algorithms/ggml/ggml_kquants.hpp"
#include "io/gguf_types.hpp"

#include <cmath>
#include <cstring>

#include "core/error.hpp"

namespace ptq::io {

GgmlTypeTraits ggml_type_traits(uint32_t type) {
  // Sizes from ggml-common.h's block structs (d and m are fp16 unless noted).
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32: return {"F32", 1, 4};
    case GgmlType::F16: return {"F16", 1, 2};
    case GgmlType::Q4_0: return {"Q4_0", 32, 18};    // d, 16 bytes of nibbles
    case GgmlType::Q4_1: return {"Q4_1", 32, 20};    // d, m, 16 bytes of nibbles
    case GgmlType::Q5_0: return {"Q5_0", 32, 22};    // d, 4 bytes of high bits, 16 of nibbles
    case GgmlType::Q5_1: return {"Q5_1", 32, 24};    // d, m, high bits, nibbles
    case GgmlType::Q8_0: return {"Q8_0", 32, 34};    // d, 32 int8
    case GgmlType::Q8_1: return {"Q8_1", 32, 36};    // d, s, 32 int8
    case GgmlType::Q2_K: return {"Q2_K", 256, 84};
    case GgmlType::Q3_K: return {"Q3_K", 256, 110};
    case GgmlType::Q4_K: return {"Q4_K", 256, 144};
    case GgmlType::Q5_K: return {"Q5_K", 256, 176};
    case GgmlType::Q6_K: return {"Q6_K", 256, 210};
    case GgmlType::Q8_K: return {"Q8_K", 256, 292};  // float d, 256 int8, 16 int16 sums
    case GgmlType::IQ2_XXS: return {"IQ2_XXS", 256, 66};
    case GgmlType::IQ2_XS: return {"IQ2_XS", 256, 74};
    case GgmlType::IQ3_XXS: return {"IQ3_XXS", 256, 98};
    case GgmlType::IQ1_S: return {"IQ1_S", 256, 50};
    case GgmlType::IQ4_NL: return {"IQ4_NL", 32, 18};   // d, 16 bytes of level-index nibbles
    case GgmlType::IQ3_S: return {"IQ3_S", 256, 110};
    case GgmlType::IQ2_S: return {"IQ2_S", 256, 82};
    case GgmlType::IQ4_XS: return {"IQ4_XS", 256, 136};  // d, scales_h, scales_l[4], 128 bytes of nibbles
    case GgmlType::I8: return {"I8", 1, 1};
    case GgmlType::I16: return {"I16", 1, 2};
    case GgmlType::I32: return {"I32", 1, 4};
    case GgmlType::I64: return {"I64", 1, 8};
    case GgmlType::F64: return {"F64", 1, 8};
    case GgmlType::IQ1_M: return {"IQ1_M", 256, 56};
    case GgmlType::BF16: return {"BF16", 1, 2};
    case GgmlType::TQ1_0: return {"TQ1_0", 256, 54};
    case GgmlType::TQ2_0: return {"TQ2_0", 256, 66};
    case GgmlType::MXFP4: return {"MXFP4", 32, 17};  // e8m0 scale, 16 bytes of fp4 nibbles
  }
  return {};
}

std::string ggml_type_name(uint32_t type) {
  GgmlTypeTraits t = ggml_type_traits(type);
  return t.name ? std::string(t.name) : "type#" + std::to_string(type);
}

bool ggml_can_dequantize(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16:
    case GgmlType::F64:
    case GgmlType::I8:
    case GgmlType::I16:
    case GgmlType::I32:
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
    case GgmlType::Q8_0:
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K:
    case GgmlType::IQ4_NL:
    case GgmlType::IQ4_XS:
      return true;
    default:
      return false;
  }
}

namespace {

// All 65536 halves converted once: a table lookup beats bit twiddling in the dequant loops.
struct HalfTable {
  float v[65536];
  HalfTable() {
    for (uint32_t h = 0; h < 65536; ++h) {
      uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
      float f;
      if (exp == 0) {
        // zero or subnormal: mant * 2^-24, exact in float
        f = std::ldexp(static_cast<float>(mant), -24);
        uint32_t u;
        std::memcpy(&u, &f, 4);
        u |= sign;
        std::memcpy(&f, &u, 4);
      } else {
        uint32_t u = exp == 31 ? (sign | 0x7f800000u | (mant << 13))  // inf / nan
                               : (sign | ((exp + 112) << 23) | (mant << 13));
        std::memcpy(&f, &u, 4);
      }
      v[h] = f;
    }
  }
};
const HalfTable& half_table() {
  static const HalfTable t;
  return t;
}

inline uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t rd32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// The 32-weight block types store weight j in the low nibble of byte j and weight j+16 in the
// high nibble; Q5 types add a fifth bit per weight from a 32-bit mask (bit j for weight j).
void deq_q4_0(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)];
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0x0f) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}
void deq_q4_1(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)], m = h[rd16(b + 2)];
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 0x0f) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}
void deq_q5_0(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)];
  const uint32_t qh = rd32(b + 2);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    const int hi0 = ((qh >> j) & 1) << 4, hi1 = ((qh >> (j + 16)) & 1) << 4;
    y[j] = static_cast<float>(((qs[j] & 0x0f) | hi0) - 16) * d;
    y[j + 16] = static_cast<float>(((qs[j] >> 4) | hi1) - 16) * d;
  }
}
void deq_q5_1(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)], m = h[rd16(b + 2)];
  const uint32_t qh = rd32(b + 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    const int hi0 = ((qh >> j) & 1) << 4, hi1 = ((qh >> (j + 16)) & 1) << 4;
    y[j] = static_cast<float>((qs[j] & 0x0f) | hi0) * d + m;
    y[j + 16] = static_cast<float>((qs[j] >> 4) | hi1) * d + m;
  }
}
void deq_q8_0(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)];
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = static_cast<float>(qs[j]) * d;
}

// K-quants: super-blocks of 256 weights in 8 sub-blocks of 32 (Q4_K, Q5_K) or 16 of 16 (Q6_K).
// Q4_K/Q5_K pack 8 six-bit scales and 8 six-bit mins into 12 bytes: sub-blocks 0-3 use the low
// 6 bits of bytes 0-3 (scales) and 4-7 (mins); sub-blocks 4-7 take their low 4 bits from the
// nibbles of bytes 8-11 and their top 2 bits from the top bits of bytes 0-3 (scales), 4-7 (mins).
inline void k4_scale_min(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}
// Q4_K: d, dmin, scales[12], qs[128]. Each 64 weights share 32 bytes: the first 32 weights are the
// low nibbles, the next 32 the high nibbles. Value = d*sc*q - dmin*m.
void deq_q4_k(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)], dmin = h[rd16(b + 2)];
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int j = 0; j < 8; j += 2, q += 32, y += 64) {
    int sc0, m0, sc1, m1;
    k4_scale_min(j, scales, &sc0, &m0);
    k4_scale_min(j + 1, scales, &sc1, &m1);
    const float d0 = d * sc0, o0 = dmin * m0, d1 = d * sc1, o1 = dmin * m1;
    for (int l = 0; l < 32; ++l) {
      y[l] = d0 * (q[l] & 0x0f) - o0;
      y[l + 32] = d1 * (q[l] >> 4) - o1;
    }
  }
}
// Q5_K: d, dmin, scales[12], qh[32], qs[128]: Q4_K plus a fifth bit per weight; for the pair of
// sub-blocks (2p, 2p+1) the bits are bit 2p and bit 2p+1 of qh[l].
void deq_q5_k(const uint8_t* b, float* y, const float* h) {
  const float d = h[rd16(b)], dmin = h[rd16(b + 2)];
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* q = b + 48;
  for (int j = 0; j < 8; j += 2, q += 32, y += 64) {
    int sc0, m0, sc1, m1;
    k4_scale_min(j, scales, &sc0, &m0);
    k4_scale_min(j + 1, scales, &sc1, &m1);
    const float d0 = d * sc0, o0 = dmin * m0, d1 = d * sc1, o1 = dmin * m1;
    for (int l = 0; l < 32; ++l) {
      y[l] = d0 * ((q[l] & 0x0f) | (((qh[l] >> j) & 1) << 4)) - o0;
      y[l + 32] = d1 * ((q[l] >> 4) | (((qh[l] >> (j + 1)) & 1) << 4)) - o1;
    }
  }
}
// Q6_K: ql[128], qh[64], scales[16] (int8), d. Per 128 weights: 64 bytes of low nibbles, 32 bytes
// of 2-bit high parts, 8 scales (one per 16 weights). Value = d * scale * (q - 32).
void deq_q6_k(const uint8_t* b, float* y, const float* h) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = h[rd16(b + 208)];
  for (int n = 0; n < 2; ++n, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
  }
}

}  // namespace

float fp16_to_f32(uint16_t h) { return half_table().v[h]; }

void ggml_dequantize_row(uint32_t type, const uint8_t* src, float* dst, int64_t n) {
  const float* h = half_table().v;
  using BlockFn = void (*)(const uint8_t*, float*, const float*);
  BlockFn block = nullptr;
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::F32: std::memcpy(dst, src, static_cast<size_t>(n) * 4); return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = h[rd16(src + 2 * i)];
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(rd16(src + 2 * i));
      return;
    case GgmlType::F64:
      for (int64_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        dst[i] = static_cast<float>(v);
      }
      return;
    case GgmlType::I8:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<int8_t>(src[i]));
      return;
    case GgmlType::I16:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<int16_t>(rd16(src + 2 * i)));
      return;
    case GgmlType::I32:
      for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<int32_t>(rd32(src + 4 * i)));
      return;
    case GgmlType::Q4_0: block = deq_q4_0; break;
    case GgmlType::Q4_1: block = deq_q4_1; break;
    case GgmlType::Q5_0: block = deq_q5_0; break;
    case GgmlType::Q5_1: block = deq_q5_1; break;
    case GgmlType::Q8_0: block = deq_q8_0; break;
    // Q2_K / Q3_K: the dequantizers of ptq's own block quantizers (checked against llama.cpp's).
    case GgmlType::Q2_K: ggml::dequantize_row_q2_K(reinterpret_cast<const ggml::BlockQ2_K*>(src), dst, n); return;
    case GgmlType::Q3_K: ggml::dequantize_row_q3_K(reinterpret_cast<const ggml::BlockQ3_K*>(src), dst, n); return;
    case GgmlType::Q4_K: block = deq_q4_k; break;
    case GgmlType::Q5_K: block = deq_q5_k; break;
    case GgmlType::Q6_K: block = deq_q6_k; break;
    // IQ4_NL / IQ4_XS: ptq's own dequantizers of its quantizers (checked against llama.cpp's).
    case GgmlType::IQ4_NL: ggml::dequantize_row_iq4_nl(reinterpret_cast<const ggml::BlockIQ4_NL*>(src), dst, n); return;
    case GgmlType::IQ4_XS: ggml::dequantize_row_iq4_xs(reinterpret_cast<const ggml::BlockIQ4_XS*>(src), dst, n); return;
    default:
      fail("ggml_dequantize_row", "cannot dequantize type " + ggml_type_name(type));
  }
  const GgmlTypeTraits t = ggml_type_traits(type);
  const int64_t blocks = n / t.block_size;
  for (int64_t i = 0; i < blocks; ++i) block(src + i * t.type_size, dst + i * t.block_size, h);
}

}  // namespace ptq::io
