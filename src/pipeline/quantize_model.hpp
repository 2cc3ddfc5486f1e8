// `ptq quantize` as a function: model -> (calibration statistics, reused from the HDF5 store when
// they match) -> algorithm per linear layer -> ptq's quantized directory and a per-layer report.
// Streams one decoder layer at a time: the FP model stays memory-mapped, each finished layer is
// written as its own shard.
#pragma once
#include <nlohmann/json.hpp>

#include <functional>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "algorithms/common/act_quant.hpp"
#include "algorithms/common/int_grid.hpp"
#include "calibration/layerwise.hpp"
#include "calibration/samples.hpp"
#include "data/text_source.hpp"

namespace ptq::pipeline {

// A block transform run before the quantizer (AWQ, SmoothQuant), with its options.
struct TransformStep {
  std::string name;
  nlohmann::json options = nlohmann::json::object();
};

struct QuantizeSpec {
  std::string model, tokenizer;  // tokenizer: found beside the model when empty
  data::TextSourceSpec calib;    // calib.path empty: no calibration (data-free algorithms only)
  calib::SamplingSpec sampling;
  calib::CalibrationOptions calibration;
  std::string stats;             // HDF5 statistics file; empty: <cache>/stats/<provenance hash>.h5
  std::vector<TransformStep> transforms;  // in order; they need calibration and run block-wise
  std::string algorithm = "rtn";
  nlohmann::json algorithm_options = nlohmann::json::object();
  algo::IntGrid grid;
  // Per-linear grids (mixed precision) by module name ("model.layers.0.mlp.down_proj"); the other
  // linears take `grid`. Recorded as "dynamic" rules in the quantization_config.
  std::map<std::string, algo::IntGrid> layer_grids;
  // Recorded for evaluation (static ranges calibrated on `calib`); SmoothQuant's alpha search
  // measures with it too.
  algo::ActQuantSpec act;
  std::string out;
  // Calibration forwards' linear products: "f32" or "bf16" (Model::set_compute_dtype; the hooks and
  // so the Hessians stay fp32).
  std::string compute_dtype = "f32";
};

struct QuantizeSummary {
  nlohmann::json report;      // what quant_report.json holds
  nlohmann::json transforms = nlohmann::json::array();  // per layer: what each transform chose
  bool stats_reused = false;
  std::string stats_path;
  double seconds = 0;
};

// Progress and warnings go to `log`. Throws ptq::Error naming the file, key or layer.
QuantizeSummary quantize_model(const QuantizeSpec& spec, std::ostream& log);

// Content fingerprint of a model file or directory (SHA-256 over its weight and config files).
std::string model_fingerprint(const std::string& path);

}  // namespace ptq::pipeline
