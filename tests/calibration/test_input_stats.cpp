#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "calibration/input_stats.hpp"
#include "core/error.hpp"

using ptq::calib::InputStats;

TEST_CASE("InputStats sums equal a direct computation over the same tokens", "[calibration]") {
  torch::manual_seed(3);
  auto x = torch::randn({3, 50, 24}) * torch::linspace(0.1, 3.0, 24);
  InputStats s(24, false);
  s.add(x.narrow(0, 0, 2), "layer");
  s.add(x.narrow(0, 2, 1), "layer");
  auto flat = x.reshape({-1, 24}).to(torch::kFloat64);
  CHECK(s.count() == 150);
  // Oracle: plain matrix product in double.
  CHECK(torch::allclose(s.xtx().to(torch::kFloat64), flat.t().matmul(flat), 1e-4, 1e-3));
  CHECK(torch::allclose(s.hessian().to(torch::kFloat64), 2.0 / 150 * flat.t().matmul(flat), 1e-4, 1e-4));
  CHECK(torch::allclose(s.abs_mean().to(torch::kFloat64), flat.abs().mean(0), 1e-5, 1e-6));
  CHECK(torch::allclose(s.sq_mean().to(torch::kFloat64), (flat * flat).mean(0), 1e-5, 1e-6));
  CHECK(torch::equal(s.abs_max(), x.reshape({-1, 24}).abs().amax(0)));
  CHECK(torch::equal(s.min(), x.reshape({-1, 24}).amin(0)));
  CHECK(torch::equal(s.max(), x.reshape({-1, 24}).amax(0)));
  // The xtx product is symmetric although syrk fills one triangle.
  CHECK(torch::equal(s.xtx(), s.xtx().t()));
}

TEST_CASE("InputStats in fp64 and merged shards add up to one pass", "[calibration]") {
  torch::manual_seed(4);
  auto x = torch::randn({100, 16});
  InputStats whole(16, true), a(16, true), b(16, true);
  whole.add(x, "l");
  a.add(x.narrow(0, 0, 37), "l");
  b.add(x.narrow(0, 37, 63), "l");
  a.merge(b, "l");
  CHECK(a.count() == whole.count());
  CHECK(whole.xtx().scalar_type() == torch::kFloat64);
  CHECK(torch::allclose(a.xtx(), whole.xtx(), 1e-12, 1e-10));
  CHECK(torch::allclose(a.abs_sum(), whole.abs_sum(), 1e-12, 1e-10));
  CHECK(torch::equal(a.abs_max(), whole.abs_max()));
  InputStats other(8, false);
  CHECK_THROWS_WITH(a.merge(other, "model.layers.0.mlp.down_proj"), Catch::Contains("model.layers.0.mlp.down_proj"));
}

TEST_CASE("InputStats stops on NaN or Inf activations and names the layer", "[calibration][bad-input]") {
  InputStats s(4, false);
  auto x = torch::ones({2, 4});
  x[1][2] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(s.add(x, "model.layers.2.self_attn.q_proj"),
                    Catch::Contains("model.layers.2.self_attn.q_proj") && Catch::Contains("NaN or Inf"));
  x[1][2] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_AS(s.add(x, "l"), ptq::Error);
  CHECK(s.count() == 0);
  CHECK_THROWS_WITH(s.add(torch::ones({2, 5}), "l"), Catch::Contains("5 channels"));
}
