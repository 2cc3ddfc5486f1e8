#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <numeric>

#include "calibration/samples.hpp"
#include "core/error.hpp"

using ptq::calib::SamplingSpec;

TEST_CASE("Calibration windows are contiguous slices, reproducible for a seed", "[calibration]") {
  std::vector<int> tokens(1000);
  std::iota(tokens.begin(), tokens.end(), 0);  // token value == position: a window is a range
  SamplingSpec spec;
  spec.n_samples = 16;
  spec.seqlen = 64;
  spec.seed = 7;
  auto a = ptq::calib::draw_samples(tokens, spec, "t");
  auto b = ptq::calib::draw_samples(tokens, spec, "t");
  REQUIRE(a.sizes() == torch::IntArrayRef({16, 64}));
  CHECK(torch::equal(a, b));
  for (int s = 0; s < 16; ++s) {
    const int64_t start = a[s][0].item<int64_t>();
    CHECK(start >= 0);
    CHECK(start + 64 <= 1000);
    CHECK(torch::equal(a[s], torch::arange(start, start + 64, torch::kInt64)));
  }
  spec.seed = 8;
  CHECK_FALSE(torch::equal(a, ptq::calib::draw_samples(tokens, spec, "t")));
  spec.method = "consecutive";
  spec.n_samples = 15;  // 960 of the 1000 tokens
  auto c = ptq::calib::draw_samples(tokens, spec, "t");
  CHECK(torch::equal(c.reshape({-1}), torch::arange(0, 15 * 64, torch::kInt64)));
}

TEST_CASE("A text too short for the requested samples says how many tokens it has and needs", "[calibration][bad-input]") {
  std::vector<int> tokens(300, 5);
  SamplingSpec spec;
  spec.n_samples = 8;
  spec.seqlen = 512;
  CHECK_THROWS_WITH(ptq::calib::draw_samples(tokens, spec, "calib.txt"),
                    Catch::Contains("calib.txt") && Catch::Contains("300 tokens") && Catch::Contains("at least 513"));
  spec.method = "consecutive";
  spec.seqlen = 64;
  CHECK_THROWS_WITH(ptq::calib::draw_samples(tokens, spec, "calib.txt"), Catch::Contains("at least 512"));
  spec.method = "shuffled";
  CHECK_THROWS_WITH(ptq::calib::draw_samples(tokens, spec, "calib.txt"), Catch::Contains("'random' or 'consecutive'"));
}
