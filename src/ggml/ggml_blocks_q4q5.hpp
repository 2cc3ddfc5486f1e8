// ggml's other 32-weight block formats, Q4_1, Q5_0 and Q5_1, as llama.cpp stores them, with the
// reference quantizers (quantize_row_*_ref), the dequantizers, and the importance-weighted
// quantizers llama.cpp uses when given an importance matrix (for these and for Q4_0). Importance:
// one non-negative value per column of the row (llama.cpp's imatrix: the mean squared activation of
// that input channel); the weighted quantizers need the whole row because they scale the importance
// by the row's mean square.
#pragma once
#include <cstdint>

#include "ggml/ggml_blocks.hpp"

namespace ptq::ggml {

constexpr int kQK4_1 = 32;
constexpr int kQK5_0 = 32;
constexpr int kQK5_1 = 32;

// Q4_1: fp16 scale d and min m, 32 unsigned 4-bit codes (nibbles as in Q4_0); w = d * q + m.
// 20 bytes / 32 weights = 5 bits per weight.
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[kQK4_1 / 2];
};
static_assert(sizeof(BlockQ4_1) == 4 + kQK4_1 / 2, "block_q4_1 must be 20 bytes, as in ggml");

// Q5_0: fp16 scale d, the fifth bit of each code in a 32-bit mask qh (bit j for weight j), the low
// nibbles as in Q4_0; w = d * (q - 16). 22 bytes / 32 weights = 5.5 bits per weight.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[kQK5_0 / 2];
};
static_assert(sizeof(BlockQ5_0) == 2 + 4 + kQK5_0 / 2, "block_q5_0 must be 22 bytes, as in ggml");

// Q5_1: fp16 d and m, qh and nibbles as in Q5_0; w = d * q + m. 24 bytes / 32 weights = 6 bits per weight.
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[kQK5_1 / 2];
};
static_assert(sizeof(BlockQ5_1) == 4 + 4 + kQK5_1 / 2, "block_q5_1 must be 24 bytes, as in ggml");

// Reference (round-to-nearest from the block's range) quantizers; n % 32 == 0 else ptq::Error.
void quantize_row_q4_1(const float* x, BlockQ4_1* y, int64_t n);
void quantize_row_q5_0(const float* x, BlockQ5_0* y, int64_t n);
void quantize_row_q5_1(const float* x, BlockQ5_1* y, int64_t n);

void dequantize_row_q4_1(const BlockQ4_1* x, float* y, int64_t n);
void dequantize_row_q5_0(const BlockQ5_0* x, float* y, int64_t n);
void dequantize_row_q5_1(const BlockQ5_1* x, float* y, int64_t n);

// Importance-weighted quantizers of one row of n weights (llama.cpp's quantize_row_*_impl with
// quant_weights): per block, weights importance[j] * sqrt(sigma2 + x[j]^2) with sigma2 the row's
// mean square, and a weighted least-squares scale search. importance == nullptr: the reference one.
void quantize_row_q4_0_weighted(const float* x, BlockQ4_0* y, int64_t n, const float* importance);
void quantize_row_q4_1_weighted(const float* x, BlockQ4_1* y, int64_t n, const float* importance);
void quantize_row_q5_0_weighted(const float* x, BlockQ5_0* y, int64_t n, const float* importance);
void quantize_row_q5_1_weighted(const float* x, BlockQ5_1* y, int64_t n, const float* importance);

// Replace a block's codes (L[j] in [0, 15] for Q4_1, [0, 31] for the Q5 types), keeping its scale
// and min: GPTQ on the block grid picks the codes itself.
void set_codes_q4_1(BlockQ4_1& b, const uint8_t* L);
void set_codes_q5_0(BlockQ5_0& b, const uint8_t* L);
void set_codes_q5_1(BlockQ5_1& b, const uint8_t* L);

}  // namespace ptq::ggml
