#include "mixed/grid_allocation.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.hpp"
#include "mixed/grid_candidates.hpp"
#include "mixed/knapsack.hpp"
#include "mixed/table_items.hpp"

namespace ptq::mixed {

namespace {

std::string bpw_text(double bpw) {
  char b[32];
  std::snprintf(b, sizeof b, "%.4f", bpw);
  return b;
}

}  // namespace

uint64_t GridByteModel::tensor_bytes(size_t i, const std::string& type) const {
  return grid_candidate_bytes(type, tensors.at(i).rows, tensors.at(i).row_length);
}

uint64_t GridByteModel::linear_bytes(const std::vector<std::string>& chosen) const {
  uint64_t n = 0;
  for (size_t i = 0; i < tensors.size(); ++i) n += tensor_bytes(i, chosen.at(i));
  return n;
}

uint64_t GridByteModel::min_linear_bytes() const {
  uint64_t n = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    uint64_t best = UINT64_MAX;
    for (const auto& t : types[i]) best = std::min(best, tensor_bytes(i, t));
    n += best;
  }
  return n;
}

uint64_t GridByteModel::max_linear_bytes() const {
  uint64_t n = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    uint64_t most = 0;
    for (const auto& t : types[i]) most = std::max(most, tensor_bytes(i, t));
    n += most;
  }
  return n;
}

GridByteModel grid_byte_model(const model::WeightSource& src, const std::vector<std::string>& candidates) {
  GridByteModel m;
  uint64_t all_weights = 0;
  for (const auto& t : src.tensors()) {
    uint64_t n = 1;
    for (auto d : t.shape) n *= static_cast<uint64_t>(d);
    all_weights += n;
  }
  for (const MatrixTensor& t : matrix_tensors(src)) {
    if (t.layer < 0) continue;
    std::vector<std::string> fit;
    for (const auto& c : candidates) {
      if (grid_fits(c, t.rows, t.row_length)) fit.push_back(c);
    }
    if (fit.empty()) {
      std::string would;
      for (const auto& c : known_grid_candidates()) {
        if (grid_fits(c, t.rows, t.row_length)) would += (would.empty() ? "" : ", ") + c;
      }
      throw Error(t.linear + " [" + std::to_string(t.rows) + " x " + std::to_string(t.row_length) +
                  "]: no candidate grid packs it (GPTQ); candidates that would: " + (would.empty() ? "none" : would));
    }
    m.tensors.push_back(t);
    m.types.push_back(fit);
    m.linear_weights += static_cast<uint64_t>(t.rows * t.row_length);
  }
  m.other_bytes = (all_weights - m.linear_weights) * 2;
  return m;
}

uint64_t grid_budget_bytes(const GridByteModel& m, double target_bpw, uint64_t target_size) {
  const bool by_bpw = target_bpw > 0;
  if (by_bpw == (target_size > 0)) throw Error("give exactly one of --target-bpw and --target-size");
  if (by_bpw && !std::isfinite(target_bpw)) throw Error("--target-bpw must be a positive number");
  const uint64_t lo = m.min_linear_bytes(), hi = m.max_linear_bytes();
  const uint64_t b = by_bpw ? static_cast<uint64_t>(std::floor(target_bpw * static_cast<double>(m.linear_weights) / 8.0))
                            : (target_size > m.other_bytes ? target_size - m.other_bytes : 0);
  if (b < lo || b > hi) {
    const std::string what = by_bpw ? "--target-bpw " + bpw_text(target_bpw)
                                    : "--target-size " + std::to_string(target_size) + " bytes";
    throw Error(what + " is outside the reachable range: " + bpw_text(m.bits_per_weight(lo)) + " .. " +
                bpw_text(m.bits_per_weight(hi)) + " bits per weight of the linear layers, " +
                std::to_string(lo + m.other_bytes) + " .. " + std::to_string(hi + m.other_bytes) +
                " bytes of the GPTQ export's tensors, for these candidate grids");
  }
  return b;
}

GridAllocation allocate_grids(const GridByteModel& m, const SensitivityTable& table, uint64_t linear_budget,
                              const std::vector<double>& weights) {
  if (!grid_candidates(table.types)) throw Error("the sensitivity table holds GGUF types, not integer grids (ptq sensitivity --types grids)");
  std::vector<std::string> names;
  for (const MatrixTensor& t : m.tensors) names.push_back(t.gguf);
  auto items = table_items(table, names, m.types, [&](size_t i, const std::string& type) { return m.tensor_bytes(i, type); });
  const auto plain = items;
  if (!weights.empty()) {
    if (weights.size() != items.size()) throw Error("allocate_grids: one weight per tensor expected");
    for (size_t i = 0; i < items.size(); ++i) {
      for (Choice& c : items[i]) c.cost *= weights[i];
    }
  }
  if (linear_budget < m.min_linear_bytes() || linear_budget > m.max_linear_bytes()) {
    grid_budget_bytes(m, 0, linear_budget + m.other_bytes);  // throws the range
  }
  const Allocation a = allocate(items, linear_budget);
  GridAllocation out;
  out.cost = table_cost(table);
  out.exact = a.exact;
  for (size_t i = 0; i < items.size(); ++i) {
    out.chosen.push_back(m.types[i][a.pick[i]]);
    out.predicted += plain[i][a.pick[i]].cost;
  }
  out.linear_bytes = m.linear_bytes(out.chosen);
  out.total_bytes = out.linear_bytes + m.other_bytes;
  out.bits_per_weight = m.bits_per_weight(out.linear_bytes);
  return out;
}

nlohmann::json to_json(const GridByteModel& m, const GridAllocation& a) {
  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 0; i < a.chosen.size(); ++i) {
    layers.push_back({{"module", m.tensors[i].linear}, {"grid", a.chosen[i]}, {"bytes", m.tensor_bytes(i, a.chosen[i])}});
  }
  return {{"linear_bytes", a.linear_bytes}, {"total_bytes", a.total_bytes}, {"bits_per_weight", a.bits_per_weight},
          {"predicted", a.predicted}, {"cost", a.cost}, {"exact", a.exact}, {"layers", layers}};
}

}  // namespace ptq::mixed
