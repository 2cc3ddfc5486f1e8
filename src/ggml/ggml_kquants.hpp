// llama.cpp's k-quants: super-blocks of 256 weights split into sub-blocks of 16 or 32, each with its
// own scale (and min) stored as a small integer times the super-block's fp16 d (and dmin). The
// layouts are ggml's (ggml-common.h) byte for byte; the reference quantizers do what
// quantize_row_q*_K_ref does (llama-quantize without an importance matrix) and the weighted ones
// what quantize_row_q*_K_impl does with one (llama-quantize --imatrix).
#pragma once
#include <cstdint>

namespace ptq::ggml {

constexpr int kQK_K = 256;

// Q2_K: 16 sub-blocks of 16; per sub-block a 4-bit scale (low nibble) and 4-bit min (high nibble),
// 2-bit codes; w = d * sc * q - dmin * m. 84 bytes / 256 weights = 2.625 bits per weight.
struct BlockQ2_K {
  uint8_t scales[kQK_K / 16];
  uint8_t qs[kQK_K / 4];  // per 128 weights: 32 bytes, weight l + 32 * s in bits 2s..2s+1 of byte l
  uint16_t d, dmin;
};
static_assert(sizeof(BlockQ2_K) == 2 * 2 + kQK_K / 16 + kQK_K / 4, "block_q2_K must be 84 bytes, as in ggml");

// Q3_K: 16 sub-blocks of 16 with signed 6-bit scales (12 bytes: low nibbles, then 2-bit high parts),
// 3-bit codes as 2 low bits (qs, as Q2_K) plus a high bit (hmask: weight j in byte j % 32, bit j / 32);
// w = d * (sc - 32) * (q - 4). 110 bytes / 256 weights = 3.4375 bits per weight.
struct BlockQ3_K {
  uint8_t hmask[kQK_K / 8];
  uint8_t qs[kQK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 2 + kQK_K / 4 + kQK_K / 8 + 12, "block_q3_K must be 110 bytes, as in ggml");

// Q4_K: 8 sub-blocks of 32 with 6-bit scales and mins packed in 12 bytes, 4-bit codes (per 64
// weights: 32 bytes, the first 32 weights in the low nibbles); w = d * sc * q - dmin * m.
// 144 bytes / 256 weights = 4.5 bits per weight.
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ4_K) == 2 * 2 + 12 + kQK_K / 2, "block_q4_K must be 144 bytes, as in ggml");

// Q5_K: Q4_K plus a fifth bit per weight (qh: per 64 weights two bit planes, weight l of the pair
// in byte l). 176 bytes / 256 weights = 5.5 bits per weight.
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[kQK_K / 8];
  uint8_t qs[kQK_K / 2];
};
static_assert(sizeof(BlockQ5_K) == 2 * 2 + 12 + kQK_K / 8 + kQK_K / 2, "block_q5_K must be 176 bytes, as in ggml");

// Q6_K: 16 sub-blocks of 16 with int8 scales, 6-bit codes as 4 low bits (ql) and 2 high bits (qh);
// w = d * sc * (q - 32). 210 bytes / 256 weights = 6.5625 bits per weight.
struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];
  uint8_t qh[kQK_K / 4];
  int8_t scales[kQK_K / 16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 2 + kQK_K / 16 + 3 * kQK_K / 4, "block_q6_K must be 210 bytes, as in ggml");

// Reference quantizers; n % 256 == 0 else ptq::Error.
void quantize_row_q2_K(const float* x, BlockQ2_K* y, int64_t n);
void quantize_row_q3_K(const float* x, BlockQ3_K* y, int64_t n);
void quantize_row_q4_K(const float* x, BlockQ4_K* y, int64_t n);
void quantize_row_q5_K(const float* x, BlockQ5_K* y, int64_t n);
void quantize_row_q6_K(const float* x, BlockQ6_K* y, int64_t n);

// Importance-weighted quantizers of one row (importance: n values, one per column); nullptr gives
// the reference quantizer, as llama.cpp does without an imatrix.
void quantize_row_q2_K_weighted(const float* x, BlockQ2_K* y, int64_t n, const float* importance);
void quantize_row_q3_K_weighted(const float* x, BlockQ3_K* y, int64_t n, const float* importance);
void quantize_row_q4_K_weighted(const float* x, BlockQ4_K* y, int64_t n, const float* importance);
void quantize_row_q5_K_weighted(const float* x, BlockQ5_K* y, int64_t n, const float* importance);
void quantize_row_q6_K_weighted(const float* x, BlockQ6_K* y, int64_t n, const float* importance);

void dequantize_row_q2_K(const BlockQ2_K* x, float* y, int64_t n);
void dequantize_row_q3_K(const BlockQ3_K* x, float* y, int64_t n);
void dequantize_row_q4_K(const BlockQ4_K* x, float* y, int64_t n);
void dequantize_row_q5_K(const BlockQ5_K* x, float* y, int64_t n);
void dequantize_row_q6_K(const BlockQ6_K* x, float* y, int64_t n);

// Replace a super-block's 256 codes, keeping its scales: L[j] is weight j's code as the dequantizer
// reads it (Q2_K 0..3, Q3_K 0..7 for d*sc*(L-4), Q4_K 0..15, Q5_K 0..31, Q6_K 0..63 for d*sc*(L-32)).
// GPTQ on the block grid chooses codes itself against scales fixed earlier.
void set_codes_q2_K(BlockQ2_K& b, const uint8_t* L);
void set_codes_q3_K(BlockQ3_K& b, const uint8_t* L);
void set_codes_q4_K(BlockQ4_K& b, const uint8_t* L);
void set_codes_q5_K(BlockQ5_K& b, const uint8_t* L);
void set_codes_q6_K(BlockQ6_K& b, const uint8_t* L);

}  // namespace ptq::ggml
