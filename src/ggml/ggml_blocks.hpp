// ggml's 32-weight block formats Q8_0 and Q4_0 as llama.cpp stores them in GGUF files, with the
// reference (round-to-nearest) quantizers of ggml-quants.c and the matching dequantizers. A row of n
// weights (n a multiple of 32) becomes n / 32 consecutive blocks; the bytes are exactly ggml's, so a
// GGUF written from them is read by llama.cpp unchanged.
#pragma once
#include <cstdint>

namespace ptq::ggml {

constexpr int kQK8_0 = 32;
constexpr int kQK4_0 = 32;

// Q8_0: one fp16 scale d, 32 signed 8-bit codes; w = d * q. 34 bytes / 32 weights = 8.5 bits per weight.
struct BlockQ8_0 {
  uint16_t d;           // fp16 bits of the scale amax / 127
  int8_t qs[kQK8_0];    // codes in [-127, 127]
};
static_assert(sizeof(BlockQ8_0) == 2 + kQK8_0, "block_q8_0 must be 34 bytes, as in ggml");

// Q4_0: one fp16 scale d, 32 unsigned 4-bit codes packed two per byte (weight j in the low nibble of
// byte j, weight j + 16 in its high nibble); w = d * (q - 8). 18 bytes / 32 weights = 4.5 bits per weight.
struct BlockQ4_0 {
  uint16_t d;                // fp16 bits of the scale max / -8 (max: the weight of largest magnitude)
  uint8_t qs[kQK4_0 / 2];    // nibbles
};
static_assert(sizeof(BlockQ4_0) == 2 + kQK4_0 / 2, "block_q4_0 must be 18 bytes, as in ggml");

// Quantize n weights (n % 32 == 0, else ptq::Error) into n / 32 blocks at y, as ggml's
// quantize_row_q8_0_ref / quantize_row_q4_0_ref do.
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n);

// The inverse: n weights from n / 32 blocks.
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n);

// Replace a block's codes, keeping its scale (GPTQ on the block grid picks the codes itself): Q8_0
// code L[j] in [1, 255] is stored as L[j] - 128 (llama.cpp never writes -128), Q4_0 L[j] in [0, 15].
void set_codes_q8_0(BlockQ8_0& b, const uint8_t* L);
void set_codes_q4_0(BlockQ4_0& b, const uint8_t* L);

}  // namespace ptq::ggml
