#include "dist/shard.hpp"

#include <algorithm>
#include <numeric>

#include "core/error.hpp"

namespace ptq::dist {

std::pair<int64_t, int64_t> batch_shard(int64_t n, int64_t batch, int rank, int ranks) {
  if (batch < 1 || ranks < 1 || rank < 0 || rank >= ranks) fail("shard", "batch and ranks must be positive, rank in range");
  const int64_t batches = (n + batch - 1) / batch;
  const int64_t b0 = batches * rank / ranks, b1 = batches * (rank + 1) / ranks;
  return {std::min(n, b0 * batch), std::min(n, b1 * batch)};
}

std::vector<int> assign_by_cost(const std::vector<double>& costs, int ranks) {
  std::vector<size_t> order(costs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return costs[a] > costs[b]; });
  std::vector<double> load(ranks, 0.0);
  std::vector<int> owner(costs.size(), 0);
  for (size_t i : order) {
    const int r = static_cast<int>(std::min_element(load.begin(), load.end()) - load.begin());
    owner[i] = r;
    load[r] += costs[i];
  }
  return owner;
}

}  // namespace ptq::dist
