#include "mixed/gguf_allocation.hpp"

#include <cmath>

#include "core/error.hpp"
#include "mixed/knapsack.hpp"

namespace ptq::mixed {

GgufAllocation allocate_gguf(const GgufByteModel& m, const SensitivityTable& table, uint64_t budget) {
  GgufAllocation out;
  out.cost = table.measured() ? "kl" : "proxy";
  if (budget < m.min_file_bytes() || budget > m.max_file_bytes()) budget_bytes(m, 0, budget);  // throws the range
  std::vector<std::vector<Choice>> items;
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    std::vector<Choice> choices;
    for (const std::string& type : m.types[i]) {
      const SensitivityRow* r = table.find(m.tensors[i].gguf, type);
      if (!r) {
        throw Error("the sensitivity table has no row for " + m.tensors[i].gguf + " as " + type +
                    " (measure it: ptq sensitivity --types including " + type + ")");
      }
      const double cost = out.cost == "kl" ? r->kl : r->proxy;
      if (!std::isfinite(cost)) {
        throw Error("the sensitivity table has no " + out.cost + " for " + m.tensors[i].gguf + " as " + type +
                    (out.cost == "proxy" ? " (no statistics for it: measure KL, ptq sensitivity --calib TEXT)" : ""));
      }
      choices.push_back({m.tensor_bytes(i, type), cost});
    }
    items.push_back(choices);
  }
  const Allocation a = allocate(items, budget - m.fixed_bytes);
  for (size_t i = 0; i < items.size(); ++i) out.chosen.push_back(m.types[i][a.pick[i]]);
  out.file_bytes = m.file_bytes(out.chosen);
  out.predicted = a.cost;
  out.exact = a.exact;
  return out;
}

}  // namespace ptq::mixed
