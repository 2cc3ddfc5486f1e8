#include "mixed/table_items.hpp"

#include <cmath>

#include "core/error.hpp"

namespace ptq::mixed {

std::string table_cost(const SensitivityTable& table) { return table.measured() ? "kl" : "proxy"; }

std::vector<std::vector<Choice>> table_items(const SensitivityTable& table, const std::vector<std::string>& tensors,
                                             const std::vector<std::vector<std::string>>& types,
                                             const std::function<uint64_t(size_t, const std::string&)>& bytes) {
  const std::string cost = table_cost(table);
  std::vector<std::vector<Choice>> items;
  for (size_t i = 0; i < tensors.size(); ++i) {
    std::vector<Choice> choices;
    for (const std::string& type : types[i]) {
      const SensitivityRow* r = table.find(tensors[i], type);
      if (!r) {
        throw Error("the sensitivity table has no row for " + tensors[i] + " as " + type +
                    " (measure it: ptq sensitivity --types including " + type + ")");
      }
      const double c = cost == "kl" ? r->kl : r->proxy;
      if (!std::isfinite(c)) {
        throw Error("the sensitivity table has no " + cost + " for " + tensors[i] + " as " + type +
                    (cost == "proxy" ? " (no statistics for it: measure KL, ptq sensitivity --calib TEXT)" : ""));
      }
      choices.push_back({bytes(i, type), c});
    }
    items.push_back(choices);
  }
  return items;
}

}  // namespace ptq::mixed
