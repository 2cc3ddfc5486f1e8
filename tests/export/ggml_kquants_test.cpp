// ptq's Q4_1/Q5_0/Q5_1 and k-quant blocks without an external oracle (ggml_kquants_oracle_test
// compares them with llama.cpp's library): blocks worked out by hand, the error of each type on
// Gaussian weights against a named bound, more bits never worse, importance lowering the weighted
// error where it is large.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include "core/error.hpp"
#include "ggml/ggml_blocks.hpp"
#include "ggml/ggml_blocks_q4q5.hpp"
#include "ggml/ggml_kquants.hpp"
#include "ggml/ggml_rows.hpp"
#include "ggml/ggml_scale_search.hpp"
#include "io/gguf_types.hpp"
#include "support/gaussian.hpp"

using namespace ptq;
using io::GgmlType;
using test::gaussian;

namespace {

std::vector<float> round_trip(GgmlType t, const std::vector<float>& x, int64_t rows, const float* imp = nullptr) {
  const int64_t n = static_cast<int64_t>(x.size()) / rows;
  const std::vector<uint8_t> q = ggml::encode_rows(static_cast<uint32_t>(t), x.data(), rows, n, imp);
  std::vector<float> y(x.size());
  ggml::dequantize_row(static_cast<uint32_t>(t), q.data(), y.data(), static_cast<int64_t>(x.size()));
  return y;
}

// sqrt(mean((y - x)^2 * w)) / sqrt(mean(x^2 * w)), w per column (1 when empty).
double relative_rmse(const std::vector<float>& x, const std::vector<float>& y, const std::vector<float>& w = {}) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double wi = w.empty() ? 1.0 : w[i % w.size()];
    num += wi * (y[i] - x[i]) * (y[i] - x[i]);
    den += wi * x[i] * x[i];
  }
  return std::sqrt(num / den);
}

}  // namespace

TEST_CASE("nearest_int rounds half to even like rintf", "[export][ggml]") {
  for (float v : {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 3.49f, -7.51f, 1000.5f, 0.0f, -0.0f}) {
    INFO(v);
    CHECK(ggml::nearest_int(v) == static_cast<int>(std::nearbyint(v)));
  }
}

TEST_CASE("Q5_0, Q5_1 and Q4_1 blocks of ramps, by hand", "[export][ggml]") {
  std::vector<float> ramp(32);
  for (int j = 0; j < 32; ++j) ramp[j] = static_cast<float>(j - 16);  // -16 .. 15
  ggml::BlockQ5_0 b50;
  ggml::quantize_row_q5_0(ramp.data(), &b50, 32);
  CHECK(io::fp16_to_f32(b50.d) == 1.0f);  // -16 / -16
  uint32_t qh;
  std::memcpy(&qh, b50.qh, 4);
  CHECK(qh == 0xFFFF0000u);  // codes j: the fifth bit is set for j >= 16
  CHECK(b50.qs[3] == (3 | (3 << 4)));
  float y[32];
  ggml::dequantize_row_q5_0(&b50, y, 32);
  CHECK(std::vector<float>(y, y + 32) == ramp);

  std::vector<float> up(32);
  for (int j = 0; j < 32; ++j) up[j] = 2.0f + static_cast<float>(j);  // 2 .. 33: d = 31 / 31 = 1, m = 2
  ggml::BlockQ5_1 b51;
  ggml::quantize_row_q5_1(up.data(), &b51, 32);
  CHECK(io::fp16_to_f32(b51.d) == 1.0f);
  CHECK(io::fp16_to_f32(b51.m) == 2.0f);
  ggml::dequantize_row_q5_1(&b51, y, 32);
  CHECK(std::vector<float>(y, y + 32) == up);

  for (int j = 0; j < 32; ++j) up[j] = static_cast<float>(j % 16);  // 0 .. 15 twice: d = 1, m = 0
  ggml::BlockQ4_1 b41;
  ggml::quantize_row_q4_1(up.data(), &b41, 32);
  CHECK(io::fp16_to_f32(b41.d) == 1.0f);
  CHECK(b41.qs[5] == (5 | (5 << 4)));
  ggml::dequantize_row_q4_1(&b41, y, 32);
  CHECK(std::vector<float>(y, y + 32) == up);
}

TEST_CASE("k-quant blocks: all-zero super-blocks and exact small-integer grids", "[export][ggml]") {
  const std::vector<float> zeros(256, 0.0f);
  for (GgmlType t : {GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    INFO(io::ggml_type_name(static_cast<uint32_t>(t)));
    CHECK(round_trip(t, zeros, 1) == zeros);
  }
  // Q6_K on multiples of 0.25 in [-8, 8): a 6-bit grid nearly holds them.
  std::vector<float> ints(256);
  for (int j = 0; j < 256; ++j) ints[j] = static_cast<float>((j * 7) % 64 - 32) * 0.25f;
  const std::vector<float> y = round_trip(GgmlType::Q6_K, ints, 1);
  CHECK(relative_rmse(ints, y) < 0.02);  // the int8 sub-block scales may clip at 127
}

TEST_CASE("ggml block types: error on Gaussian weights within named bounds, more bits never worse", "[export][ggml]") {
  const int64_t rows = 16, n = 1024;
  const std::vector<float> x = gaussian(rows * n, 5);
  // Relative RMSE bounds: a uniform b-bit grid over about +-3 sigma has step 6/(2^b - 1) sigma and
  // RMSE step/sqrt(12); the per-block scales do better than that on most blocks, so the bounds are
  // those of the grid over the block's range (with the fp16/6-bit scale rounding well inside).
  struct Case {
    GgmlType type;
    double bound;
  };
  const std::vector<Case> cases = {
      {GgmlType::Q2_K, 0.40},  {GgmlType::Q3_K, 0.20},  {GgmlType::Q4_0, 0.12}, {GgmlType::Q4_1, 0.11},
      {GgmlType::Q4_K, 0.10},  {GgmlType::Q5_0, 0.06},  {GgmlType::Q5_1, 0.055}, {GgmlType::Q5_K, 0.05},
      {GgmlType::Q6_K, 0.025}, {GgmlType::Q8_0, 0.006}};
  std::map<GgmlType, double> err;
  for (const Case& c : cases) {
    err[c.type] = relative_rmse(x, round_trip(c.type, x, rows));
    INFO(io::ggml_type_name(static_cast<uint32_t>(c.type)) << " relative RMSE " << err[c.type]);
    CHECK(err[c.type] < c.bound);
  }
  CHECK(err[GgmlType::Q2_K] > err[GgmlType::Q3_K]);
  CHECK(err[GgmlType::Q3_K] > err[GgmlType::Q4_K]);
  CHECK(err[GgmlType::Q4_K] > err[GgmlType::Q5_K]);
  CHECK(err[GgmlType::Q5_K] > err[GgmlType::Q6_K]);
  CHECK(err[GgmlType::Q6_K] > err[GgmlType::Q8_0]);
  CHECK(err[GgmlType::Q4_0] > err[GgmlType::Q5_0]);
  CHECK(err[GgmlType::Q4_1] > err[GgmlType::Q5_1]);
}

TEST_CASE("importance-weighted quantizers lower the importance-weighted error", "[export][ggml]") {
  const int64_t rows = 16, n = 512;
  const std::vector<float> x = gaussian(rows * n, 9);
  std::vector<float> imp(n);
  std::mt19937 rng(3);
  std::lognormal_distribution<float> ln(0.0f, 1.5f);  // a few channels matter much more
  for (float& v : imp) v = ln(rng);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q2_K, GgmlType::Q3_K,
                     GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    const double plain = relative_rmse(x, round_trip(t, x, rows), imp);
    const double weighted = relative_rmse(x, round_trip(t, x, rows, imp.data()), imp);
    INFO(io::ggml_type_name(static_cast<uint32_t>(t)) << ": weighted error " << plain << " (reference) -> " << weighted);
    CHECK(weighted < plain);
  }
}
