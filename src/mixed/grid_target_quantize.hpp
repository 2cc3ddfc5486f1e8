// `ptq quantize --target-bpw X | --target-size BYTES --sensitivity T.json`: per-linear integer grids
// chosen under the budget (mixed/grid_allocation.hpp), the chosen mix checked as a whole, then the
// ordinary quantization with each linear on its own grid (pipeline::QuantizeSpec::layer_grids).
//
// Interactions: the table's cost of a mix is the sum of single-tensor KLs. The mix itself is
// quantized in memory (one-shot statistics, the table's method) and its KL measured on the table's
// own windows; so is the mix with each decoder layer left in full precision, which gives each
// layer's measured contribution. Layers whose contribution exceeds their predicted share by more
// than the tolerance get their tensors' costs scaled up by that ratio and the knapsack runs again,
// at most `refine` times; the mix with the lowest measured KL is kept. The record (predicted and
// measured per round, every layer's grid) is written as <out>/allocation.json.
#pragma once
#include <nlohmann/json.hpp>

#include <iosfwd>
#include <string>
#include <vector>

#include "mixed/grid_allocation.hpp"
#include "pipeline/quantize_model.hpp"

namespace ptq::mixed {

struct GridTarget {
  double bpw = 0;                  // bits per weight of the linear layers; 0: unset
  uint64_t size = 0;               // bytes of the GPTQ export's tensors; 0: unset
  std::string sensitivity;         // ptq sensitivity's sensitivity.json (integer-grid candidates)
  std::vector<std::string> candidates;  // empty: the table's
  int refine = 2;                  // re-weighting rounds after the first allocation (0: none)
  double tolerance = 0.1;          // a layer's measured / predicted above 1 + tolerance is re-weighted
};

struct GridTargetResult {
  GridByteModel bytes;
  GridAllocation allocation;  // the one written
  nlohmann::json record;
  pipeline::QuantizeSummary summary;
};

// spec: the quantization as `ptq quantize` would run it uniformly; its grid gives sym / mse, its
// algorithm must be the table's method (gptq or rtn). Throws ptq::Error for a table of GGUF types
// or another method / symmetry, candidates outside the table (did-you-mean), a budget outside the
// reachable range (naming it).
GridTargetResult quantize_to_budget(pipeline::QuantizeSpec spec, const GridTarget& target, std::ostream& log);

}  // namespace ptq::mixed
