// The 16-bit floats inside ggml's blocks and its F16 / BF16 tensors, to and from fp32.
#pragma once
#include <cstdint>

namespace ptq::ggml {

// IEEE half to float, exact (a lookup in a table of all 65536 halves: it beats bit twiddling in the
// dequantization loops).
float fp16_to_f32(uint16_t h);

// Float to IEEE half, round to nearest even (as GGML_FP32_TO_FP16).
uint16_t fp32_to_fp16(float f);

// bfloat16 to float, exact: the top half of the float's bits.
inline float bf16_to_f32(uint16_t h) {
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}

}  // namespace ptq::ggml
