// ggml tensor storage types as GGUF numbers them, with their block geometry, and dequantization of
// the types ptq can read back to fp32. Block layouts follow ggml's (ggml-common.h): each block holds
// `block_size` consecutive weights of one row in `type_size` bytes.
#pragma once
#include <cstdint>
#include <string>

namespace ptq::io {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct GgmlTypeTraits {
  const char* name = nullptr;  // nullptr: unknown type id
  uint32_t block_size = 0;     // weights per block
  uint32_t type_size = 0;      // bytes per block
};

// Traits of a type id; name == nullptr for ids ggml does not define (or no longer uses).
GgmlTypeTraits ggml_type_traits(uint32_t type);
// "Q4_0", or "type#77" for an unknown id.
std::string ggml_type_name(uint32_t type);
// True when ggml_dequantize_row() can convert this type.
bool ggml_can_dequantize(uint32_t type);

// Converts `n` weights (a multiple of the type's block size) stored at `src` to fp32 in `dst`.
// The caller has checked that `src` holds n / block_size * type_size bytes.
void ggml_dequantize_row(uint32_t type, const uint8_t* src, float* dst, int64_t n);

// IEEE half and bfloat16 to float, exact.
float fp16_to_f32(uint16_t h);
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

}  // namespace ptq::io
