// Per-tensor GGUF types under a file-size budget: each allocatable matrix's candidates become knapsack
// choices (padded bytes, cost = the sensitivity table's measured KL of that matrix alone, or its
// proxy when the table has no measurements), the exact multiple-choice knapsack picks the cheapest
// set whose file fits (predicted KL = the sum of the single-tensor KLs; the written file is then
// evaluated as a whole to check that sum).
#pragma once
#include <string>
#include <vector>

#include "mixed/gguf_budget.hpp"
#include "mixed/sensitivity.hpp"

namespace ptq::mixed {

struct GgufAllocation {
  std::vector<std::string> chosen;  // per GgufByteModel tensor
  uint64_t file_bytes = 0;          // exact size of the file these types give
  double predicted = 0;             // summed cost
  std::string cost;                 // "kl" or "proxy"
  bool exact = false;
};

// Throws ptq::Error when the table lacks a (tensor, type) the model needs (naming both and the
// command that fills it), or the budget is outside the reachable range.
GgufAllocation allocate_gguf(const GgufByteModel& m, const SensitivityTable& table, uint64_t budget);

}  // namespace ptq::mixed
