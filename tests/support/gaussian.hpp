// Reproducible standard-normal test weights.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace ptq::test {

inline std::vector<float> gaussian(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = g(rng);
  return x;
}

}  // namespace ptq::test
