// How work is split among ranks so the pieces are the same whatever the number of ranks.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ptq::dist {

// Items [0, n) processed in batches of `batch` (the last may be short): this rank's contiguous run
// of whole batches, [first, end). Every batch is the batch one process would form, so per-batch
// results are bit for bit the same on any number of ranks; ranks beyond the batch count get none.
std::pair<int64_t, int64_t> batch_shard(int64_t n, int64_t batch, int rank, int ranks);

// Assigns work items to ranks by cost: largest first, each to the rank with the least cost so far
// (ties to the lower rank), so the result is a function of the costs alone. Returns the rank of
// every item, in the items' order.
std::vector<int> assign_by_cost(const std::vector<double>& costs, int ranks);

}  // namespace ptq::dist
