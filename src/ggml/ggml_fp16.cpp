#include "ggml/ggml_fp16.hpp"

#include <c10/util/Half.h>

#include <cmath>
#include <cstring>

namespace ptq::ggml {

namespace {

struct HalfTable {
  float v[65536];
  HalfTable() {
    for (uint32_t h = 0; h < 65536; ++h) {
      const uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
      float f;
      if (exp == 0) {
        // zero or subnormal: mant * 2^-24, exact in float
        f = std::ldexp(static_cast<float>(mant), -24);
        uint32_t u;
        std::memcpy(&u, &f, 4);
        u |= sign;
        std::memcpy(&f, &u, 4);
      } else {
        const uint32_t u = exp == 31 ? (sign | 0x7f800000u | (mant << 13))  // inf / nan
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

}  // namespace

float fp16_to_f32(uint16_t h) { return half_table().v[h]; }

uint16_t fp32_to_fp16(float f) { return c10::detail::fp16_ieee_from_fp32_value(f); }

}  // namespace ptq::ggml
