// The multiple-choice knapsack against brute force (every combination) on small random instances.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "core/error.hpp"
#include "mixed/knapsack.hpp"
#include "mixed/rank_correlation.hpp"

using namespace ptq;
using namespace ptq::mixed;

namespace {

// The least cost over all combinations within the budget (inf when none fits).
double brute_force(const std::vector<std::vector<Choice>>& items, uint64_t budget) {
  double best = INFINITY;
  std::vector<size_t> k(items.size(), 0);
  for (;;) {
    uint64_t bytes = 0;
    double cost = 0;
    for (size_t i = 0; i < items.size(); ++i) bytes += items[i][k[i]].bytes, cost += items[i][k[i]].cost;
    if (bytes <= budget) best = std::min(best, cost);
    size_t i = 0;
    while (i < items.size() && ++k[i] == items[i].size()) k[i++] = 0;
    if (i == items.size()) break;
  }
  return best;
}

std::vector<std::vector<Choice>> random_instance(std::mt19937& rng) {
  std::uniform_int_distribution<int> n_items(1, 6), n_choices(1, 4), units(1, 40);
  std::uniform_real_distribution<double> cost(0.0, 1.0);
  std::vector<std::vector<Choice>> items(n_items(rng));
  for (auto& it : items) {
    const int c = n_choices(rng);
    for (int k = 0; k < c; ++k) it.push_back({static_cast<uint64_t>(32 * units(rng)), cost(rng)});
  }
  return items;
}

}  // namespace

TEST_CASE("The exact knapsack equals brute force; the Lagrangian one fits and is never better", "[mixed]") {
  std::mt19937 rng(7);
  int checked = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const auto items = random_instance(rng);
    const uint64_t lo = min_total_bytes(items), hi = max_total_bytes(items);
    for (uint64_t budget : {lo, (lo + hi) / 2, lo + (hi - lo) / 3, hi}) {
      const double best = brute_force(items, budget);
      const Allocation a = allocate_exact(items, budget);
      INFO("trial " << trial << " budget " << budget);
      REQUIRE(a.exact);
      CHECK(a.bytes <= budget);
      CHECK(a.cost == Approx(best).margin(1e-12));
      const Allocation l = allocate_lagrangian(items, budget);
      CHECK(l.bytes <= budget);
      CHECK(l.cost >= best - 1e-12);
      ++checked;
    }
  }
  CHECK(checked == 1200);
}

TEST_CASE("On convex choices (cost falling ever slower with bytes) the Lagrangian knapsack is optimal", "[mixed]") {
  // Each item: bytes 32k, cost w / k (convex in bytes), weights differ per item.
  std::vector<std::vector<Choice>> items;
  for (int i = 0; i < 5; ++i) {
    std::vector<Choice> c;
    for (int k = 1; k <= 4; ++k) c.push_back({static_cast<uint64_t>(32 * k), (1.0 + i) / k});
    items.push_back(c);
  }
  for (uint64_t budget = 160; budget <= 640; budget += 32) {
    INFO("budget " << budget);
    CHECK(allocate_lagrangian(items, budget).cost == Approx(brute_force(items, budget)).margin(1e-12));
  }
}

TEST_CASE("A knapsack budget below the smallest total is refused with that total", "[mixed]") {
  const std::vector<std::vector<Choice>> items = {{{64, 1.0}, {96, 0.5}}, {{32, 1.0}}};
  CHECK_THROWS_WITH(allocate(items, 95), Catch::Contains("below the smallest total 96"));
  CHECK(allocate(items, 96).cost == 2.0);
  CHECK(allocate(items, 128).cost == 1.5);
  CHECK_THROWS_WITH(allocate({{}}, 10), Catch::Contains("no choice"));
}

TEST_CASE("Spearman's rank correlation with and without ties", "[mixed]") {
  // d = -1, 1, -1, 1, 0: rho = 1 - 6 * 4 / (5 * 24) = 0.8
  CHECK(spearman({1, 2, 3, 4, 5}, {2, 1, 4, 3, 5}) == Approx(0.8));
  CHECK(spearman({1, 2, 3}, {30, 20, 10}) == Approx(-1.0));
  CHECK(ranks({10, 20, 20, 5}) == std::vector<double>{2, 3.5, 3.5, 1});
  // Ties: ranks x = 1, 2.5, 2.5, 4 and y = 1, 2, 3, 4; Pearson of those = 4.5 / sqrt(4.5 * 5).
  CHECK(spearman({1, 2, 2, 3}, {1, 2, 3, 4}) == Approx(4.5 / std::sqrt(4.5 * 5.0)));
  CHECK(std::isnan(spearman({1, 1, 1}, {1, 2, 3})));
  CHECK_THROWS_AS(spearman({1, 2}, {1}), Error);
}
