// Floating-point grid data types: bitsandbytes' NF4 / FP4 tables against independent derivations,
// FP8 E4M3 / E5M2 rounding against hand-computed codes and a brute-force nearest-value oracle, and
// the grids through RTN, GPTQ and QuantizedLinear.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "algorithms/common/fp8.hpp"
#include "algorithms/common/int_grid.hpp"
#include "algorithms/common/nf4_fp4.hpp"
#include "algorithms/gptq/gptq.hpp"
#include "algorithms/rtn/rtn.hpp"
#include "core/error.hpp"

using namespace ptq;
using algo::Fp8Format;

namespace {

double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// Inverse of the normal CDF by bisection (an oracle independent of any table).
double normal_ppf(double p) {
  double lo = -10, hi = 10;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (normal_cdf(mid) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// The code of the finite value nearest to x, ties to the even code; saturating; brute force.
uint8_t fp8_oracle(float x, Fp8Format f) {
  int best = -1;
  double best_d = std::numeric_limits<double>::infinity();
  const double xc = std::max<double>(-algo::fp8_max(f), std::min<double>(algo::fp8_max(f), x));
  for (int c = 0; c < 256; ++c) {
    const float v = algo::fp8_decode(static_cast<uint8_t>(c), f);
    if (!std::isfinite(v)) continue;
    if (v == 0 && (std::signbit(v) != std::signbit(x))) continue;  // +-0 follow the sign of x
    const double d = std::fabs(double(v) - xc);
    if (d < best_d || (d == best_d && (c % 2 == 0) && (best % 2 == 1))) best = c, best_d = d;
  }
  return static_cast<uint8_t>(best);
}

}  // namespace

TEST_CASE("NF4 table: bitsandbytes' values, the normalised quantiles of N(0, 1)", "[algorithms][dtypes]") {
  const auto& t = algo::nf4_table();
  // Hand-copied spot values (bitsandbytes functional.py get_4bit_type("nf4")).
  CHECK(t[0] == -1.0f);
  CHECK(t[7] == 0.0f);
  CHECK(t[15] == 1.0f);
  CHECK(t[8] == 0.07958029955625534f);
  CHECK(t[1] == -0.6961928009986877f);
  // create_normal_map(offset = 0.9677083): 8 positive values at norm.ppf(linspace(offset, 0.5, 9)[:-1]),
  // 7 negative at -norm.ppf(linspace(offset, 0.5, 8)[:-1]), and 0, all divided by the largest.
  const double offset = 0.9677083, top = normal_ppf(offset);
  for (int i = 0; i < 8; ++i) {
    const double p = offset + (0.5 - offset) * i / 8.0;
    CHECK(t[15 - i] == Approx(normal_ppf(p) / top).margin(2e-7));
  }
  for (int i = 0; i < 7; ++i) {
    const double p = offset + (0.5 - offset) * i / 7.0;
    CHECK(t[i] == Approx(-normal_ppf(p) / top).margin(2e-7));
  }
}

TEST_CASE("FP4 table: E2M1 with bitsandbytes' bias and code order, normalised by 12", "[algorithms][dtypes]") {
  const auto& t = algo::fp4_table();
  for (int code = 0; code < 16; ++code) {
    const int sign = code >> 3 & 1, e1 = code >> 2 & 1, e2 = code >> 1 & 1, p1 = code & 1;
    const int exp = e1 * 2 + e2;
    const double mag = exp == 0 ? 0.0625 * p1 : std::ldexp(1.0 + 0.5 * p1, 4 - exp);  // 2^(-exp + bias 3 + 1)
    INFO("code " << code);
    CHECK(t[code] == Approx((sign ? -mag : mag) / 12.0).margin(1e-7));
  }
  // bitsandbytes' dDequantizeFP4Tree literals.
  CHECK(t[0b0110] == Approx(0.16666667f));
  CHECK(t[0b0001] == Approx(5.208333333e-03f));
  CHECK(t[0b1011] == -1.0f);
}

TEST_CASE("NF4 / FP4 encoders: nearest value, a midpoint goes to the lower value", "[algorithms][dtypes]") {
  const auto& n = algo::nf4_table();
  for (int i = 0; i < 16; ++i) CHECK(algo::nf4_encode(n[i]) == i);
  CHECK(algo::nf4_encode(0.03979014977812767f) == 7);  // bitsandbytes' first threshold: x > it goes up
  CHECK(algo::nf4_encode(0.0398f) == 8);
  CHECK(algo::nf4_encode(5.0f) == 15);
  CHECK(algo::nf4_encode(-5.0f) == 0);
  const auto& f = algo::fp4_table();
  for (int i = 0; i < 16; ++i) {
    if (i == 8) continue;  // -0 encodes as... -0 only for x < 0
    CHECK(algo::fp4_encode(f[i]) == i);
  }
  CHECK(algo::fp4_encode(0.29166667f) == 0b0111);  // midpoint 0.25 / 0.3333: stays at 0.25
  CHECK(algo::fp4_encode(0.2917f) == 0b0100);
  CHECK(algo::fp4_encode(-0.001f) == 0b1000);
  CHECK(algo::fp4_encode(-0.9f) == 0b1011);
  // Brute force: every other input encodes to a nearest value.
  torch::manual_seed(4);
  auto xs = torch::rand({2000}) * 2.2 - 1.1;
  for (int64_t i = 0; i < xs.size(0); ++i) {
    const float x = xs[i].item<float>();
    double bn = 1e9, bf = 1e9;
    for (int c = 0; c < 16; ++c) bn = std::min(bn, std::fabs(double(n[c]) - x)), bf = std::min(bf, std::fabs(double(f[c]) - x));
    CHECK(std::fabs(double(n[algo::nf4_encode(x)]) - x) == Approx(bn).margin(1e-7));
    CHECK(std::fabs(double(f[algo::fp4_encode(x)]) - x) == Approx(bf).margin(1e-7));
  }
}

TEST_CASE("FP8 E4M3: hand-computed codes: subnormals, ties to even, saturation, NaN", "[algorithms][dtypes][fp8]") {
  const auto F = Fp8Format::E4M3;
  CHECK(algo::fp8_max(F) == 448.0f);
  CHECK(algo::fp8_encode(1.0f, F) == 0x38);                 // 0.0111.000
  CHECK(algo::fp8_encode(-2.0f, F) == 0xC0);
  CHECK(algo::fp8_encode(1.0625f, F) == 0x38);              // tie 1 / 1.125: even mantissa 000
  CHECK(algo::fp8_encode(1.1875f, F) == 0x3A);              // tie 1.125 / 1.25: even mantissa 010
  CHECK(algo::fp8_encode(1.0626f, F) == 0x39);
  CHECK(algo::fp8_encode(std::ldexp(1.0f, -9), F) == 0x01); // smallest subnormal
  CHECK(algo::fp8_encode(std::ldexp(1.0f, -10), F) == 0x00);  // tie 0 / 2^-9 -> 0
  CHECK(algo::fp8_encode(std::ldexp(3.0f, -10), F) == 0x02);  // tie 2^-9 / 2^-8 -> even
  CHECK(algo::fp8_encode(std::ldexp(7.0f, -9), F) == 0x07);   // largest subnormal
  CHECK(algo::fp8_encode(std::ldexp(15.0f, -10), F) == 0x08); // tie 7*2^-9 / 2^-6 -> smallest normal
  CHECK(algo::fp8_encode(std::ldexp(1.0f, -6), F) == 0x08);
  CHECK(algo::fp8_encode(15.5f, F) == 0x58);                // tie 15 (0.1010.111) / 16 (0.1011.000): carry into the next binade
  CHECK(algo::fp8_encode(448.0f, F) == 0x7E);
  CHECK(algo::fp8_encode(460.0f, F) == 0x7E);
  CHECK(algo::fp8_encode(1e6f, F) == 0x7E);                 // saturates, never NaN
  CHECK(algo::fp8_encode(-std::numeric_limits<float>::infinity(), F) == 0xFE);
  CHECK(algo::fp8_encode(std::nanf(""), F) == 0x7F);
  CHECK(algo::fp8_encode(-0.0f, F) == 0x80);
  CHECK(algo::fp8_encode(-1e-9f, F) == 0x80);
  CHECK(std::isnan(algo::fp8_decode(0x7F, F)));
  CHECK(std::isnan(algo::fp8_decode(0xFF, F)));
  CHECK(algo::fp8_decode(0x01, F) == std::ldexp(1.0f, -9));
  CHECK(algo::fp8_decode(0x77, F) == 240.0f);
}

TEST_CASE("FP8 E5M2: hand-computed codes: subnormals, ties to even, saturation, Inf and NaN", "[algorithms][dtypes][fp8]") {
  const auto F = Fp8Format::E5M2;
  CHECK(algo::fp8_max(F) == 57344.0f);
  CHECK(algo::fp8_encode(1.0f, F) == 0x3C);
  CHECK(algo::fp8_encode(1.125f, F) == 0x3C);   // tie 1 / 1.25 -> mantissa 00
  CHECK(algo::fp8_encode(1.375f, F) == 0x3E);   // tie 1.25 / 1.5 -> mantissa 10
  CHECK(algo::fp8_encode(std::ldexp(1.0f, -16), F) == 0x01);
  CHECK(algo::fp8_encode(std::ldexp(1.0f, -17), F) == 0x00);
  CHECK(algo::fp8_encode(std::ldexp(3.0f, -17), F) == 0x02);
  CHECK(algo::fp8_encode(57344.0f, F) == 0x7B);
  CHECK(algo::fp8_encode(61440.0f, F) == 0x7B);  // would round to Inf: saturates
  CHECK(algo::fp8_encode(std::numeric_limits<float>::infinity(), F) == 0x7B);
  CHECK(algo::fp8_encode(std::nanf(""), F) == 0x7F);
  CHECK(std::isinf(algo::fp8_decode(0x7C, F)));
  CHECK(std::isinf(algo::fp8_decode(0xFC, F)));
  CHECK(algo::fp8_decode(0xFC, F) < 0);
  CHECK(std::isnan(algo::fp8_decode(0x7D, F)));
}

TEST_CASE("FP8 encoders agree with a brute-force nearest-value oracle and round-trip every code", "[algorithms][dtypes][fp8]") {
  for (auto F : {Fp8Format::E4M3, Fp8Format::E5M2}) {
    for (int c = 0; c < 256; ++c) {
      const float v = algo::fp8_decode(static_cast<uint8_t>(c), F);
      if (std::isfinite(v)) CHECK(algo::fp8_encode(v, F) == c);
    }
    // Random values over the whole range, plus every midpoint between neighbouring codes.
    torch::manual_seed(7);
    const double emax = F == Fp8Format::E4M3 ? 10 : 17, emin = F == Fp8Format::E4M3 ? -12 : -19;
    auto mags = torch::exp2(torch::rand({3000}, torch::kFloat64) * (emax - emin) + emin);
    auto signs = torch::where(torch::rand({3000}) < 0.5, -1.0, 1.0);
    auto xs = (mags * signs).to(torch::kFloat32);
    int mismatches = 0;
    for (int64_t i = 0; i < xs.size(0); ++i) mismatches += algo::fp8_encode(xs[i].item<float>(), F) != fp8_oracle(xs[i].item<float>(), F);
    for (int c = 0; c < 0x7F; ++c) {
      const float a = algo::fp8_decode(c, F), b = algo::fp8_decode(c + 1, F);
      if (!std::isfinite(b)) break;
      const float mid = 0.5f * (a + b);  // exact in fp32
      mismatches += algo::fp8_encode(mid, F) != fp8_oracle(mid, F);
      mismatches += algo::fp8_encode(-mid, F) != fp8_oracle(-mid, F);
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("RTN with NF4 blocks of 64: bitsandbytes' blockwise absmax, nearest table value", "[algorithms][dtypes]") {
  torch::manual_seed(11);
  auto W = torch::randn({8, 192});
  algo::IntGrid g;
  g.dtype = "nf4";
  g.group_size = 64;
  auto q = algo::rtn_quantize(W, g);
  REQUIRE(q.scales.sizes() == torch::IntArrayRef({8, 3}));
  CHECK(torch::equal(q.scales, W.view({8, 3, 64}).abs().amax(2)));
  CHECK(q.zeros.abs().max().item<float>() == 0);
  CHECK(q.codes.max().item<int>() <= 15);
  const auto& t = algo::nf4_table();
  auto D = q.dequantize();
  int bad = 0;
  for (int64_t r = 0; r < 8; ++r) {
    for (int64_t c = 0; c < 192; ++c) {
      const float s = q.scales[r][c / 64].item<float>(), w = W[r][c].item<float>();
      double best = 1e9;
      for (float v : t) best = std::min(best, std::fabs(double(v) * s - w));
      // D is the code's table value times the block's absmax, rounded once to float (compared in
      // double: the compiler may contract a float expression into an FMA that skips that rounding).
      const double Dv = D[r][c].item<float>();
      bad += std::fabs(Dv - double(t[q.codes[r][c].item<int>()]) * s) > std::ldexp(std::fabs(Dv), -24);
      bad += std::fabs(Dv - w) > best + 1e-6 * s;
    }
  }
  CHECK(bad == 0);
  // Every block's absmax element is reproduced exactly (it maps to +-1).
  CHECK((D.view({8, 3, 64}).abs().amax(2) - q.scales).abs().max().item<float>() == 0);
}

TEST_CASE("RTN with FP8 E4M3 per channel: scale absmax / 448, codes are fp8 bytes", "[algorithms][dtypes][fp8]") {
  torch::manual_seed(12);
  auto W = torch::randn({6, 40});
  algo::IntGrid g;
  g.dtype = "fp8_e4m3";
  g.bits = 8;
  auto q = algo::rtn_quantize(W, g);
  CHECK(torch::allclose(q.scales.squeeze(1), W.abs().amax(1) / 448));
  auto D = q.dequantize();
  int bad = 0;
  for (int64_t r = 0; r < 6; ++r) {
    const float s = q.scales[r][0].item<float>();
    for (int64_t c = 0; c < 40; ++c) {
      const uint8_t code = algo::fp8_encode(W[r][c].item<float>() / s, Fp8Format::E4M3);
      bad += q.codes[r][c].item<int>() != code;
      bad += D[r][c].item<float>() != algo::fp8_decode(code, Fp8Format::E4M3) * s;
    }
  }
  CHECK(bad == 0);
  // Relative error of E4M3 (3 mantissa bits): at most 2^-4 of each value above the subnormals.
  auto big = W.abs() > W.abs().amax(1, true) / 64;
  CHECK(((D - W).abs() / W.abs()).masked_select(big).max().item<float>() <= 1.0f / 16 + 1e-6f);
}

TEST_CASE("GPTQ with NF4 and FP4: RTN exactly at H = I, lower output error than RTN otherwise", "[algorithms][dtypes][gptq]") {
  torch::manual_seed(13);
  const int64_t n = 128;
  auto mix = torch::randn({n, n}) / std::sqrt(double(n)) + torch::eye(n);
  auto X = torch::randn({4 * n, n}).matmul(mix);
  auto H = 2.0 / X.size(0) * X.t().matmul(X);
  auto W = torch::randn({48, n});
  for (const char* dt : {"nf4", "fp4", "fp8_e5m2"}) {
    for (int gs : {0, 64}) {
      algo::IntGrid g;
      g.dtype = dt;
      g.bits = algo::dtype_bits(dt);
      g.group_size = gs;
      INFO(dt << " group size " << gs);
      auto same = algo::gptq_quantize(W, torch::eye(n), g, {});
      auto rtn = algo::rtn_quantize(W, g);
      CHECK(torch::equal(same.q.codes, rtn.codes));
      CHECK(torch::equal(same.q.scales, rtn.scales));
      auto r = algo::gptq_quantize(W, H, g, {});
      const double e_gptq = algo::relative_output_error(W, r.q.dequantize(), H);
      const double e_rtn = algo::relative_output_error(W, rtn.dequantize(), H);
      CHECK(e_gptq < 0.85 * e_rtn);
    }
  }
}

TEST_CASE("floating-point grids refuse what they cannot hold", "[algorithms][dtypes]") {
  algo::IntGrid g;
  g.dtype = "nf4";
  g.bits = 8;
  CHECK_THROWS_WITH(g.validate("grid"), Catch::Contains("4-bit codes"));
  g.bits = 4;
  g.group_size = 48;  // not a bitsandbytes block size
  CHECK_THROWS_WITH(g.validate("grid"), Catch::Contains("block size"));
  CHECK_THROWS_WITH(algo::rtn_quantize(torch::randn({4, 64}), g), Catch::Contains("block size"));
  CHECK_THROWS_AS(algo::gptq_quantize(torch::randn({4, 64}), torch::eye(64), g, {}), Error);
  g.dtype = "fp8_e4m3";  // FP8 groups: any size
  g.bits = 8;
  CHECK_NOTHROW(g.validate("grid"));
  g.dtype = "nf5";
  CHECK_THROWS_WITH(g.validate("grid"), Catch::Contains("nf4"));  // did-you-mean / allowed list
}

TEST_CASE("NF4 rows longer than whole blocks end with a partial block", "[algorithms][dtypes]") {
  torch::manual_seed(14);
  auto W = torch::randn({3, 100});
  algo::IntGrid g;
  g.dtype = "nf4";
  g.group_size = 64;
  auto q = algo::rtn_quantize(W, g);
  REQUIRE(q.scales.size(1) == 2);
  CHECK(torch::equal(q.scales.select(1, 1), W.narrow(1, 64, 36).abs().amax(1)));
}
