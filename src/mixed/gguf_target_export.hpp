// `ptq export --format gguf --target-bpw X | --target-size BYTES`: per-tensor types chosen under the
// budget from a sensitivity table (mixed/gguf_allocation.hpp), then the ordinary GGUF export with
// one override per tensor (GPTQ / importance-weighted quantizers as the options say). The written
// file's size must equal the byte model's prediction; an allocation record (every tensor's type,
// predicted KL, bytes) is written beside the file as <out>.allocation.json.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "export/gguf_export.hpp"
#include "mixed/gguf_allocation.hpp"
#include "model/weight_source.hpp"

namespace ptq::mixed {

struct GgufTarget {
  double bpw = 0;         // file bits per model weight; 0: unset
  uint64_t size = 0;      // file bytes; 0: unset
  std::string sensitivity;  // ptq sensitivity's sensitivity.json
  std::vector<std::string> types;  // candidates; empty: the table's
};

struct GgufTargetResult {
  exporter::GgufExportResult exported;
  GgufAllocation allocation;
  GgufByteModel bytes;
  uint64_t budget = 0;
  nlohmann::json record;
};

// The quantization method an export with these options applies (gptq with --gptq-stats, imatrix
// with an --imatrix, else rtn): the sensitivity table must have been measured with it.
std::string export_method(const exporter::GgufExportOptions& opt);

// Throws ptq::Error for a budget outside the reachable range (naming it), a table measured with
// another method, unknown candidate types (did-you-mean), or options that fix the types themselves
// (--type, --override).
GgufTargetResult export_gguf_to_budget(const model::WeightSource& src, const std::string& out,
                                       const exporter::GgufExportOptions& opt, const GgufTarget& target);

}  // namespace ptq::mixed
