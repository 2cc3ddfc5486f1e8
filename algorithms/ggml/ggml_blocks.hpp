// ggml's 32-weight block formats Q8_0 and Q4_0 as llama.cpp stores them in GGUF files, with the
// reference (round-to-nearest) quantizers of ggml-quants.c and the matching dequantizers. A row of n
// weights (n a multiple of 32) becomes n / 32 consecutive blocks; the bytes are exactly ggml's, so a
// GGUF written from them is read by llama.cpp unchanged.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

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

// IEEE float -> half, round to nearest even (as GGML_FP32_TO_FP16).
uint16_t fp32_to_fp16(float f);

// Throws ptq::Error unless a row of n weights is a whole number of qk-weight blocks of `type`.
void check_block_row(int64_t n, int qk, const char* type);

// Quantize n weights (n % 32 == 0, else ptq::Error) into n / 32 blocks at y, as ggml's
// quantize_row_q8_0_ref / quantize_row_q4_0_ref do.
void quantize_row_q8_0(const float* x, BlockQ8_0* y, int64_t n);
void quantize_row_q4_0(const float* x, BlockQ4_0* y, int64_t n);

// The inverse: n weights from n / 32 blocks.
void dequantize_row_q8_0(const BlockQ8_0* x, float* y, int64_t n);
void dequantize_row_q4_0(const BlockQ4_0* x, float* y, int64_t n);

// A row-major [rows, n] fp32 matrix as the bytes of ggml type `type` (io::GgmlType: F32, F16,
// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL, IQ4_XS), rows one after another as ggml lays them out.
// importance: nullptr (llama-quantize without an imatrix: the reference quantizers) or n values,
// one per column, shared by all rows (with an imatrix: the weighted quantizers; Q8_0 and the float
// types ignore it, as llama.cpp does). Throws ptq::Error when n is not a multiple of the type's
// block size or the type is not one of these.
std::vector<uint8_t> encode_rows(uint32_t type, const float* x, int64_t rows, int64_t n,
                                 const float* importance = nullptr);
// True when encode_rows() can write this type.
bool can_encode(uint32_t type);
// The inverse of encode_rows for one row: n weights of type `type` at src to fp32 (ptq's own
// dequantizers of these types).
void decode_row(uint32_t type, const uint8_t* src, float* dst, int64_t n);

// The block type of a lower-case ggml name (q4_0, q4_1, q5_0, q5_1, q8_0, q2_k .. q6_k, iq4_nl, iq4_xs); throws
// ptq::Error listing them. And the weights per block of a type (32 or 256).
uint32_t block_type_by_name(const std::string& name);
int64_t block_size_of(uint32_t type);

}  // namespace ptq::ggml
