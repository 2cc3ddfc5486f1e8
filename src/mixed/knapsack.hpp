// Multiple-choice knapsack: every item (a tensor) takes exactly one of its choices (a type, with its
// bytes and predicted cost, e.g. measured KL), minimising the summed cost with the summed bytes under
// a budget. Exact by dynamic programming over bytes in units of the greatest common divisor of the
// choices' byte differences (GGUF tensors are padded to 32 bytes, so the table stays small for
// models of millions of weights); a Lagrangian relaxation (one price per byte, each item on its own
// lower convex hull) for instances too large for the table, which is optimal for the bytes it uses.
#pragma once
#include <cstdint>
#include <vector>

namespace ptq::mixed {

struct Choice {
  uint64_t bytes = 0;
  double cost = 0;
};

struct Allocation {
  std::vector<int> pick;  // per item, the index of its choice
  uint64_t bytes = 0;
  double cost = 0;
  bool exact = false;     // from the dynamic programme (optimal), else the Lagrangian relaxation
};

// The smallest and largest total bytes any allocation can have.
uint64_t min_total_bytes(const std::vector<std::vector<Choice>>& items);
uint64_t max_total_bytes(const std::vector<std::vector<Choice>>& items);

// Exact optimum. Throws ptq::Error when the budget is below the smallest total, or when the table
// would exceed max_cells (items x budget units).
Allocation allocate_exact(const std::vector<std::vector<Choice>>& items, uint64_t budget,
                          uint64_t max_cells = 50000000);
// Lagrangian relaxation: the cheapest-cost allocation on the items' convex hulls whose bytes fit the
// budget (then single upgrades that still fit, best cost drop per byte first).
Allocation allocate_lagrangian(const std::vector<std::vector<Choice>>& items, uint64_t budget);
// Exact when the table fits, else Lagrangian.
Allocation allocate(const std::vector<std::vector<Choice>>& items, uint64_t budget);

}  // namespace ptq::mixed
