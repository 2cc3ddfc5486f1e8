// Knapsack items from a sensitivity table: one item per allocatable tensor, one choice per candidate
// it takes, with the candidate's stored bytes and its cost in the table (measured KL of that tensor
// alone, or the Hessian proxy when nothing was measured). GGUF and integer-grid allocations share it.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mixed/knapsack.hpp"
#include "mixed/sensitivity.hpp"

namespace ptq::mixed {

// "kl" when every row of the table has a measured KL, else "proxy".
std::string table_cost(const SensitivityTable& table);

// tensors: table names (GGUF names); types[i]: tensor i's candidates; bytes(i, type): its stored
// bytes. Throws ptq::Error naming the tensor and type when the table lacks the row or its cost.
std::vector<std::vector<Choice>> table_items(const SensitivityTable& table, const std::vector<std::string>& tensors,
                                             const std::vector<std::vector<std::string>>& types,
                                             const std::function<uint64_t(size_t, const std::string&)>& bytes);

}  // namespace ptq::mixed
