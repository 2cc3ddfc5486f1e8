// Per-linear integer grids (bits x group size) under a size budget, for `ptq quantize
// --target-bpw / --target-size`: every decoder linear layer is an item whose choices are the
// candidate grids its shape packs into, with the bytes a GPTQ checkpoint stores for it (codes,
// zeros, fp16 scales, g_idx; mixed/grid_candidates.hpp) and the sensitivity table's cost. Budgets:
//   --target-bpw X    bits per weight of the quantized linear layers, as GPTQ stores them
//   --target-size B   bytes of every tensor of the GPTQ export (the linears packed, the rest fp16)
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "mixed/matrix_catalog.hpp"
#include "mixed/sensitivity.hpp"
#include "model/weight_source.hpp"

namespace ptq::mixed {

struct GridByteModel {
  std::vector<MatrixTensor> tensors;            // the decoder's linear layers
  std::vector<std::vector<std::string>> types;  // per tensor, the candidates its shape packs into
  uint64_t linear_weights = 0;                  // weights in those layers
  uint64_t other_bytes = 0;                     // every other tensor at fp16

  uint64_t tensor_bytes(size_t i, const std::string& type) const;
  uint64_t linear_bytes(const std::vector<std::string>& chosen) const;
  uint64_t min_linear_bytes() const;
  uint64_t max_linear_bytes() const;
  double bits_per_weight(uint64_t linear_bytes) const { return 8.0 * linear_bytes / static_cast<double>(linear_weights); }
};

// Throws ptq::Error naming a linear layer no candidate fits (and which candidates would).
GridByteModel grid_byte_model(const model::WeightSource& src, const std::vector<std::string>& candidates);

// The linear layers' byte budget of --target-bpw X or --target-size BYTES (exactly one > 0); throws
// ptq::Error naming the reachable range in both units when it is outside.
uint64_t grid_budget_bytes(const GridByteModel& m, double target_bpw, uint64_t target_size);

struct GridAllocation {
  std::vector<std::string> chosen;  // per GridByteModel tensor
  uint64_t linear_bytes = 0;
  uint64_t total_bytes = 0;         // linear_bytes + other_bytes
  double bits_per_weight = 0;       // of the linear layers
  double predicted = 0;             // summed table cost of the choices (unweighted)
  std::string cost;                 // "kl" or "proxy"
  bool exact = false;
};

// weights: per tensor, a factor on its costs (empty: all 1), for re-weighting after a measurement.
GridAllocation allocate_grids(const GridByteModel& m, const SensitivityTable& table, uint64_t linear_budget,
                              const std::vector<double>& weights = {});

nlohmann::json to_json(const GridByteModel& m, const GridAllocation& a);

}  // namespace ptq::mixed
