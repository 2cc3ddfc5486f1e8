// ExactSum against an integer oracle (every fp32 term is an integer multiple of 2^-80 here, so
// __int128 sums of the scaled terms are exact), and InputStats split into shards and merged against
// the same batches added by one accumulator: bit for bit, in any grouping.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "calibration/exact_sum.hpp"
#include "calibration/input_stats.hpp"

using ptq::calib::ExactSum;
using ptq::calib::InputStats;

namespace {

// Terms with exponents spread over 2^-30 .. 2^30 (wider than fp64 holds in one sum, within what
// ExactSum keeps exactly) and both signs, so plain double accumulation depends on the order.
std::vector<torch::Tensor> wide_terms(int n, int64_t len, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> ex(-30, 30);
  std::uniform_real_distribution<float> mant(-1.f, 1.f);
  std::vector<torch::Tensor> out;
  for (int i = 0; i < n; ++i) {
    auto t = torch::empty({len}, torch::kFloat32);
    for (int64_t j = 0; j < len; ++j) t[j] = std::ldexp(mant(rng), ex(rng));
    out.push_back(t);
  }
  return out;
}

// The exact sum as a scaled integer, rounded once to double.
double oracle(const std::vector<torch::Tensor>& terms, int64_t j) {
  __int128 acc = 0;
  for (const auto& t : terms) {
    const float v = t[j].item<float>();
    int e;
    const float m = std::frexp(v, &e);  // v = m 2^e, |m| in [0.5, 1): 24 bits
    acc += static_cast<__int128>(std::ldexp(m, 24)) << (e - 24 + 80);  // e >= -31: a positive shift
  }
  // Round |acc| to 53 significant bits, to nearest, ties to even.
  const bool neg = acc < 0;
  unsigned __int128 mag = neg ? -static_cast<unsigned __int128>(acc) : static_cast<unsigned __int128>(acc);
  int top = 0;
  while (top < 127 && (mag >> (top + 1)) != 0) ++top;
  int shift = std::max(0, top - 52);
  unsigned __int128 kept = mag >> shift;
  if (shift > 0) {
    const unsigned __int128 rest = mag & ((static_cast<unsigned __int128>(1) << shift) - 1);
    const unsigned __int128 half = static_cast<unsigned __int128>(1) << (shift - 1);
    if (rest > half || (rest == half && (kept & 1))) ++kept;
  }
  const double d = std::ldexp(static_cast<double>(static_cast<uint64_t>(kept)), shift - 80);
  return neg ? -d : d;
}

}  // namespace

TEST_CASE("ExactSum: every order and grouping gives the exactly rounded sum", "[calibration][exact_sum]") {
  const auto terms = wide_terms(40, 64, 7);
  ExactSum forward({64}), backward({64});
  for (const auto& t : terms) forward.add(t);
  for (auto it = terms.rbegin(); it != terms.rend(); ++it) backward.add(*it);
  // Three shards of uneven size, merged in two different groupings.
  ExactSum a({64}), b({64}), c({64});
  for (int i = 0; i < 40; ++i) (i < 7 ? a : i < 29 ? b : c).add(terms[i]);
  ExactSum ab = ExactSum::from_parts(a.hi().clone(), a.lo().clone());
  ab.merge(b);
  ab.merge(c);
  ExactSum cb = ExactSum::from_parts(c.hi().clone(), c.lo().clone());
  cb.merge(b);
  cb.merge(a);
  CHECK(torch::equal(forward.value(), backward.value()));
  CHECK(torch::equal(forward.value(), ab.value()));
  CHECK(torch::equal(forward.value(), cb.value()));
  int plain_differs = 0;
  for (int64_t j = 0; j < 64; ++j) {
    INFO(j);
    CHECK(forward.value()[j].item<double>() == oracle(terms, j));
    double f = 0, r = 0;
    for (const auto& t : terms) f += t[j].item<float>();
    for (auto it = terms.rbegin(); it != terms.rend(); ++it) r += (*it)[j].item<float>();
    plain_differs += f != r;
  }
  CHECK(plain_differs > 0);  // the test would not notice an order-dependent sum otherwise
}

TEST_CASE("InputStats split into shards and merged equals one accumulator, bit for bit", "[calibration][exact_sum]") {
  torch::manual_seed(3);
  std::vector<torch::Tensor> batches;
  for (int i = 0; i < 9; ++i) batches.push_back(torch::randn({2, 37, 48}) * (1 + i));
  for (bool fp64 : {false, true}) {
    InputStats whole(48, fp64), s0(48, fp64), s1(48, fp64), s2(48, fp64);
    for (int i = 0; i < 9; ++i) whole.add(batches[i], "whole");
    for (int i = 0; i < 9; ++i) (i < 2 ? s0 : i < 6 ? s1 : s2).add(batches[i], "shard");
    // Through the exchange format, as ranks send it.
    InputStats merged = InputStats::from_exact_state(s0.exact_state(), fp64, "s0");
    merged.merge(InputStats::from_exact_state(s1.exact_state(), fp64, "s1"), "merge");
    merged.merge(s2, "merge");
    CHECK(merged.count() == whole.count());
    CHECK(torch::equal(merged.xtx(), whole.xtx()));
    CHECK(torch::equal(merged.abs_sum(), whole.abs_sum()));
    CHECK(torch::equal(merged.sq_sum(), whole.sq_sum()));
    CHECK(torch::equal(merged.abs_max(), whole.abs_max()));
    CHECK(torch::equal(merged.hessian(), whole.hessian()));
    // And the sums are right: against a float64 product of all tokens.
    auto all = torch::cat(batches, 0).reshape({-1, 48}).to(torch::kFloat64);
    // (fp32 batch products: within fp32 rounding of sums of 666 products up to ~10^4.)
    CHECK(torch::allclose(whole.xtx().to(torch::kFloat64), all.t().matmul(all), fp64 ? 1e-12 : 1e-5, fp64 ? 1e-8 : 1e-2));
  }
}
