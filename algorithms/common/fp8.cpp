#include "algorithms/common/fp8.hpp"

#include <cmath>
#include <limits>

namespace ptq::algo {

namespace {

struct Layout {
  int mbits, bias;
  uint8_t max_code;  // the largest finite magnitude's bits (sign clear)
  uint8_t nan_code;  // the positive quiet NaN's bits
};

Layout layout(Fp8Format f) {
  if (f == Fp8Format::E4M3) return {3, 7, 0x7E, 0x7F};  // 0.1111.110 = 448
  return {2, 15, 0x7B, 0x7F};                           // 0.11110.11 = 57344
}

}  // namespace

float fp8_decode(uint8_t code, Fp8Format f) {
  const Layout l = layout(f);
  const bool neg = code & 0x80;
  const int e = (code & 0x7F) >> l.mbits, m = code & ((1 << l.mbits) - 1);
  const int emax_field = (1 << (7 - l.mbits)) - 1;
  float v;
  if (f == Fp8Format::E4M3 && e == emax_field && m == (1 << l.mbits) - 1) {
    v = std::numeric_limits<float>::quiet_NaN();
  } else if (f == Fp8Format::E5M2 && e == emax_field) {
    v = m == 0 ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
  } else if (e == 0) {
    v = std::ldexp(float(m), 1 - l.bias - l.mbits);  // subnormal: m * 2^(1 - bias - mbits)
  } else {
    v = std::ldexp(float((1 << l.mbits) + m), e - l.bias - l.mbits);
  }
  return neg ? -v : v;
}

float fp8_max(Fp8Format f) { return fp8_decode(layout(f).max_code, f); }

uint8_t fp8_encode(float x, Fp8Format f) {
  const Layout l = layout(f);
  if (std::isnan(x)) return l.nan_code;
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  const double a = std::fabs(static_cast<double>(x));
  if (a == 0) return sign;  // frexp(0) has no binade: +-0 keep their sign
  if (a >= fp8_max(f)) return sign | l.max_code;  // saturate (rounding could only go up from here)
  // Quantum of a's binade: 2^(e - mbits) for normal a in [2^e, 2^(e+1)), 2^(1 - bias - mbits) for
  // subnormals. a / quantum is then exact, and nearbyint rounds it half to even (the default
  // rounding mode). The rounded count of quanta, offset by the binade's first code, is the code:
  // a carry into the next binade (mantissa all ones rounding up) lands on its first code as it
  // should, and the largest subnormal rounding up lands on the smallest normal.
  int e2 = 0;
  std::frexp(a, &e2);  // a = f * 2^e2, f in [0.5, 1): a in [2^(e2-1), 2^e2)
  const int e = std::max(e2 - 1, 1 - l.bias);  // binade exponent, subnormals share the lowest one
  const double quanta = std::nearbyint(std::ldexp(a, l.mbits - e));
  const int first_code = ((e + l.bias) << l.mbits) - (1 << l.mbits);  // 0 for the subnormal binade
  const int code = first_code + static_cast<int>(quanta);
  return static_cast<uint8_t>(sign | std::min<int>(code, l.max_code));
}

}  // namespace ptq::algo
