// Work splitting among ranks: batch shards cover every item once in whole batches, and the cost
// assignment matches a brute-force search for the best makespan on small cases (LPT is not always
// optimal; it must stay within its 4/3 bound and be deterministic).
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <random>

#include "dist/shard.hpp"

using ptq::dist::assign_by_cost;
using ptq::dist::batch_shard;

TEST_CASE("batch shards: contiguous, whole batches, every item once", "[dist][shard]") {
  for (int64_t n : {1, 5, 17, 18, 128}) {
    for (int64_t batch : {1, 4, 7, 200}) {
      for (int ranks : {1, 2, 3, 8, 64}) {
        int64_t next = 0;
        for (int r = 0; r < ranks; ++r) {
          const auto [a, b] = batch_shard(n, batch, r, ranks);
          CHECK(a == next);
          CHECK(b >= a);
          CHECK((a % batch == 0 || a == n));
          next = b;
        }
        CHECK(next == n);
      }
    }
  }
  CHECK_THROWS(batch_shard(10, 0, 0, 1));
  CHECK_THROWS(batch_shard(10, 2, 2, 2));
}

TEST_CASE("cost assignment: within 4/3 of the best makespan, deterministic", "[dist][shard]") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(1, 100);
  for (int trial = 0; trial < 50; ++trial) {
    const int items = 1 + trial % 8, ranks = 1 + trial % 3;
    std::vector<double> costs(items);
    for (auto& c : costs) c = std::round(u(rng));
    const auto owner = assign_by_cost(costs, ranks);
    CHECK(owner == assign_by_cost(costs, ranks));
    std::vector<double> load(ranks);
    for (int i = 0; i < items; ++i) load[owner[i]] += costs[i];
    const double makespan = *std::max_element(load.begin(), load.end());
    // Brute force over every assignment.
    double best = 1e300;
    std::vector<int> a(items, 0);
    std::function<void(int)> go = [&](int i) {
      if (i == items) {
        std::vector<double> l(ranks);
        for (int k = 0; k < items; ++k) l[a[k]] += costs[k];
        best = std::min(best, *std::max_element(l.begin(), l.end()));
        return;
      }
      for (int r = 0; r < ranks; ++r) a[i] = r, go(i + 1);
    };
    go(0);
    CHECK(makespan <= best * 4.0 / 3.0 + 1e-9);
  }
  // Equal costs go round the ranks in order.
  CHECK(assign_by_cost({1, 1, 1, 1}, 2) == std::vector<int>{0, 1, 0, 1});
}
