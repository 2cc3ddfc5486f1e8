#include "ggml/ggml_plain_types.hpp"

#include <cstring>

#include "ggml/ggml_fp16.hpp"

namespace ptq::ggml {

namespace {

inline uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t rd32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
inline const uint8_t* bytes(const void* p) { return static_cast<const uint8_t*>(p); }

}  // namespace

void f32_to_float(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }

void f16_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(rd16(bytes(src) + 2 * i));
}

void bf16_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(rd16(bytes(src) + 2 * i));
}

void f64_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    double v;
    std::memcpy(&v, bytes(src) + 8 * i, 8);
    dst[i] = static_cast<float>(v);
  }
}

void i8_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<int8_t>(bytes(src)[i]));
}

void i16_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<int16_t>(rd16(bytes(src) + 2 * i)));
}

void i32_to_float(const void* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(static_cast<int32_t>(rd32(bytes(src) + 4 * i)));
}

void float_to_f32(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }

void float_to_f16(const float* src, void* dst, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    const uint16_t h = fp32_to_fp16(src[j]);
    std::memcpy(static_cast<uint8_t*>(dst) + 2 * j, &h, 2);
  }
}

}  // namespace ptq::ggml
