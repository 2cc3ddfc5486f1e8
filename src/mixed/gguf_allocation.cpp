#include "mixed/gguf_allocation.hpp"

#include "core/error.hpp"
#include "mixed/knapsack.hpp"
#include "mixed/table_items.hpp"

namespace ptq::mixed {

GgufAllocation allocate_gguf(const GgufByteModel& m, const SensitivityTable& table, uint64_t budget) {
  GgufAllocation out;
  out.cost = table_cost(table);
  if (budget < m.min_file_bytes() || budget > m.max_file_bytes()) budget_bytes(m, 0, budget);  // throws the range
  std::vector<std::string> names;
  for (const MatrixTensor& t : m.tensors) names.push_back(t.gguf);
  const auto items = table_items(table, names, m.types, [&](size_t i, const std::string& type) { return m.tensor_bytes(i, type); });
  const Allocation a = allocate(items, budget - m.fixed_bytes);
  for (size_t i = 0; i < items.size(); ++i) out.chosen.push_back(m.types[i][a.pick[i]]);
  out.file_bytes = m.file_bytes(out.chosen);
  out.predicted = a.cost;
  out.exact = a.exact;
  return out;
}

}  // namespace ptq::mixed
