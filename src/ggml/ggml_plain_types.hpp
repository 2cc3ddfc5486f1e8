// ggml's unblocked types (one value per element, block size 1): rows of them to fp32, and fp32 rows
// to F32 and F16. Values are little-endian, as in GGUF files.
#pragma once
#include <cstdint>

namespace ptq::ggml {

void f32_to_float(const void* src, float* dst, int64_t n);
void f16_to_float(const void* src, float* dst, int64_t n);
void bf16_to_float(const void* src, float* dst, int64_t n);
void f64_to_float(const void* src, float* dst, int64_t n);
void i8_to_float(const void* src, float* dst, int64_t n);
void i16_to_float(const void* src, float* dst, int64_t n);
void i32_to_float(const void* src, float* dst, int64_t n);

void float_to_f32(const float* src, void* dst, int64_t n);
// Round to nearest even.
void float_to_f16(const float* src, void* dst, int64_t n);

}  // namespace ptq::ggml
