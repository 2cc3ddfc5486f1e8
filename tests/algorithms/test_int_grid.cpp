#include <catch2/catch.hpp>

#include "algorithms/common/int_grid.hpp"
#include "algorithms/rtn/rtn.hpp"
#include "core/error.hpp"

using namespace ptq;

namespace {

// Brute force: the distance from x to the nearest of the grid's maxq + 1 points.
double nearest_grid_distance(double x, double scale, double zero, int maxq) {
  double best = 1e300;
  for (int q = 0; q <= maxq; ++q) best = std::min(best, std::abs(scale * (q - zero) - x));
  return best;
}

}  // namespace

TEST_CASE("integer grid parameters by hand", "[algorithms][grid]") {
  auto w = torch::tensor({{-1.0f, 0.0f, 0.5f, 1.0f}, {0.2f, 0.4f, 0.6f, 0.8f}, {0.0f, 0.0f, 0.0f, 0.0f}});
  algo::IntGrid g;
  g.bits = 2;
  auto p = algo::fit_grid(w, g);
  // Row 0: range [-1, 1] over 3 steps; zero = round(1 / (2/3)) = round(1.5) = 2 (half to even).
  CHECK(p.scale[0].item<float>() == Approx(2.0 / 3));
  CHECK(p.zero[0].item<float>() == 2);
  // Row 1: the range always includes 0: [0, 0.8].
  CHECK(p.scale[1].item<float>() == Approx(0.8 / 3));
  CHECK(p.zero[1].item<float>() == 0);
  // Row 2: all zero, range [-1, 1], and the row still dequantizes to exactly zero.
  CHECK(p.scale[2].item<float>() == Approx(2.0 / 3));
  CHECK(algo::fake_quantize(w, p, 3)[2].abs().max().item<float>() == 0);
  g.sym = true;
  auto ps = algo::fit_grid(w, g);
  CHECK(ps.zero[0].item<float>() == 2);  // (maxq + 1) / 2
  CHECK(ps.scale[0].item<float>() == Approx(2.0 / 3));
  // As the GPTQ reference: a row without negative values keeps xmin = 0, so its symmetric scale is
  // xmax / maxq (the reference's behaviour, kept so results compare).
  CHECK(ps.scale[1].item<float>() == Approx(0.8 / 3));
}

TEST_CASE("RTN picks the nearest grid point inside the range, per group", "[algorithms][grid][rtn]") {
  torch::manual_seed(5);
  auto w = torch::randn({6, 100});
  for (int bits : {2, 3, 4, 8}) {
    for (int gs : {0, 32, -1}) {
      for (bool sym : {false, true}) {
        algo::IntGrid g;
        g.bits = bits;
        g.group_size = gs;
        g.sym = sym;
        auto q = algo::rtn_quantize(w, g);
        INFO("bits " << bits << " group " << gs << " sym " << sym);
        REQUIRE(q.scales.size(1) == (gs == 32 ? 4 : 1));  // 100 columns: 3 full groups and a partial one
        CHECK(q.codes.max().item<int>() <= g.maxq());
        auto deq = q.dequantize();
        auto wa = w.accessor<float, 2>();
        auto da = deq.accessor<float, 2>();
        auto ga = q.g_idx.accessor<int32_t, 1>();
        int mismatches = 0;
        for (int r = 0; r < 6; ++r) {
          for (int c = 0; c < 100; ++c) {
            const int grp = ga[c];
            CHECK(grp == (gs == 32 ? c / 32 : 0));
            const double s = q.scales[r][grp].item<float>(), z = q.zeros[r][grp].item<float>();
            const double got = std::abs(double(da[r][c]) - wa[r][c]);
            mismatches += got > nearest_grid_distance(wa[r][c], s, z, g.maxq()) + 1e-5 * s;
          }
        }
        CHECK(mismatches == 0);
      }
    }
  }
}

TEST_CASE("MSE clipping never does worse than min-max in its own norm", "[algorithms][grid]") {
  torch::manual_seed(9);
  // Heavy tails: a few large weights stretch the min-max range.
  auto w = torch::randn({16, 128}) + (torch::rand({16, 128}) < 0.02).to(torch::kFloat32) * 12;
  algo::IntGrid g;
  g.bits = 3;
  auto mm = algo::fit_grid(w, g);
  g.mse = true;
  auto ms = algo::fit_grid(w, g);
  auto err = [&](const algo::GridParams& p) { return (algo::fake_quantize(w, p, 7) - w).abs().pow(2.4).sum(1); };
  CHECK((err(ms) <= err(mm) + 1e-4).all().item<bool>());
  CHECK(err(ms).sum().item<float>() < 0.9 * err(mm).sum().item<float>());
  CHECK((ms.scale <= mm.scale + 1e-7).all().item<bool>());  // it only ever shrinks the range
}

TEST_CASE("grid and RTN refuse bad settings and bad weights", "[algorithms][grid][bad-input]") {
  algo::IntGrid g;
  g.bits = 1;
  CHECK_THROWS_WITH(algo::rtn_quantize(torch::randn({2, 4}), g), Catch::Contains("bits = 1 is outside 2..8"));
  g.bits = 4;
  g.group_size = -3;
  CHECK_THROWS_WITH(algo::rtn_quantize(torch::randn({2, 4}), g), Catch::Contains("group_size = -3"));
  g.group_size = 0;
  auto w = torch::randn({2, 4});
  w[1][2] = NAN;
  CHECK_THROWS_WITH(algo::rtn_quantize(w, g), Catch::Contains("NaN"));
}

TEST_CASE("a row of denormal weights gets finite parameters and stays finite", "[algorithms][grid][bad-input]") {
  // Issue 17: max |w| ~ 1e-44 made the scale underflow to 0 and the zero point -xmin / 0 = NaN.
  auto w = torch::tensor({{1e-44f, -3e-45f, 0.0f, 7e-45f}, {-1.0f, 0.25f, 0.5f, 1.0f}});
  for (bool sym : {false, true}) {
    for (bool mse : {false, true}) {
      INFO("sym " << sym << ", mse " << mse);
      algo::IntGrid g;
      g.bits = 4;
      g.sym = sym;
      g.mse = mse;
      const auto p = algo::fit_grid(w, g);
      CHECK(torch::isfinite(p.scale).all().item<bool>());
      CHECK(torch::isfinite(p.zero).all().item<bool>());
      CHECK(p.scale[0].item<float>() > 0);
      const auto q = algo::fake_quantize(w, p, g);
      CHECK(torch::isfinite(q).all().item<bool>());
      CHECK(q[0].abs().max().item<float>() <= 1e-44f);  // stored as the zeros it all but is
      CHECK(q[1][3].item<float>() == Approx(1.0).margin(0.1));  // an ordinary row is untouched
    }
  }
}
