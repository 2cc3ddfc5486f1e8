// llama.cpp's 4-bit non-linear block formats IQ4_NL and IQ4_XS as ggml stores them (ggml-common.h),
// with the quantizer llama-quantize runs for them (ggml-quants.c's quantize_iq4_nl / quantize_iq4_xs,
// both built on quantize_row_iq4_nl_impl with ntry = 7, with or without an importance matrix) and
// the dequantizers. Codes index a fixed table of 16 unevenly spaced levels (kValuesIQ4NL): w = d *
// kValuesIQ4NL[q], denser near zero, where most weights are.
#pragma once
#include <cstdint>

namespace ptq::ggml {

constexpr int kQK4_NL = 32;
constexpr int kQK_IQ4_XS = 256;

// The 16 levels, ascending (ggml's kvalues_iq4nl).
constexpr int8_t kValuesIQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// IQ4_NL: one fp16 scale d, 32 4-bit level indices (weight j in the low nibble of byte j, weight
// j + 16 in its high nibble); w = d * kValuesIQ4NL[q]. 18 bytes / 32 weights = 4.5 bits per weight.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[kQK4_NL / 2];
};
static_assert(sizeof(BlockIQ4_NL) == 2 + kQK4_NL / 2, "block_iq4_nl must be 18 bytes, as in ggml");

// IQ4_XS: a super-block of 256 weights in 8 sub-blocks of 32. fp16 d; each sub-block's 6-bit scale
// ls (stored as ls + 32 in [0, 63]: low 4 bits in a nibble of scales_l, sub-block ib in the low
// nibble of byte ib / 2 when ib is even; high 2 bits in bits 2ib..2ib+1 of scales_h); indices as in
// IQ4_NL per sub-block. w = d * ls * kValuesIQ4NL[q]. 136 bytes / 256 weights = 4.25 bits per weight.
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[kQK_IQ4_XS / 64];
  uint8_t qs[kQK_IQ4_XS / 2];
};
static_assert(sizeof(BlockIQ4_XS) == 2 + 2 + kQK_IQ4_XS / 64 + kQK_IQ4_XS / 2, "block_iq4_xs must be 136 bytes, as in ggml");

// The index of the level nearest to x (ties to the upper level), as ggml's best_index_int8.
int iq4_nearest_level(float x);

// One row of n weights (n % 32, resp. n % 256 == 0, else ptq::Error) as llama-quantize writes it.
// importance: nullptr (no imatrix: weights x^2 in the scale search) or n values, one per column
// (weights importance * sqrt(sigma2 + x^2), sigma2 twice the block's mean square).
void quantize_row_iq4_nl(const float* x, BlockIQ4_NL* y, int64_t n, const float* importance);
void quantize_row_iq4_xs(const float* x, BlockIQ4_XS* y, int64_t n, const float* importance);
// Without importance (llama.cpp's quantize_row_iq4_nl_ref / _xs_ref).
void quantize_row_iq4_nl_ref(const float* x, BlockIQ4_NL* y, int64_t n);
void quantize_row_iq4_xs_ref(const float* x, BlockIQ4_XS* y, int64_t n);

void dequantize_row_iq4_nl(const BlockIQ4_NL* x, float* y, int64_t n);
void dequantize_row_iq4_xs(const BlockIQ4_XS* x, float* y, int64_t n);

// Replace a block's level indices (L[j] in [0, 15] for weight j), keeping its scales: GPTQ on the
// grid picks the indices itself.
void set_codes_iq4_nl(BlockIQ4_NL& b, const uint8_t* L);
void set_codes_iq4_xs(BlockIQ4_XS& b, const uint8_t* L);

}  // namespace ptq::ggml
