// Where a decoder layer's quantizer gets its inputs: the layers of the model, one at a time, each
// handed over in stages (the linear layers to quantize now and the statistics of their inputs).
// quantize_model picks one stream and runs one loop over it (stages -> quantizer -> shard writer):
//   StoredStatsStream  statistics read from the HDF5 store, or none (data-free algorithms), or no
//                      quantization at all (a rotation written in full precision);
//   CalibratingStream  statistics computed layer by layer (sequential or one-shot, GPTAQ's FP stream),
//                      combined over MPI ranks and stored for reuse;
//   TransformingStream block transforms (AWQ, SmoothQuant) on each layer's FP activations, then the
//                      statistics of the transformed inputs (not stored: they depend on the transform).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "algorithms/common/act_quant.hpp"
#include "algorithms/common/block_context.hpp"
#include "algorithms/common/int_grid.hpp"
#include "calibration/input_stats.hpp"
#include "calibration/layerwise.hpp"
#include "calibration/stats_store.hpp"
#include "model/decoder.hpp"

namespace ptq::pipeline {

// The linear layers of one decoder layer to quantize now.
struct LayerStage {
  model::LayerWeights& w;
  std::vector<std::string> linears;  // block names: "self_attn.q_proj", ...
  std::vector<int> owner;            // the MPI rank quantizing each of `linears`
  std::function<const calib::InputStats*(const std::string& linear)> stats_of;  // null: data-free
  // Later stages or layers calibrate on the quantized weights, so every rank needs the results
  // (otherwise only rank 0, which writes them).
  bool everyone = false;
};

using StageFn = std::function<void(LayerStage& stage)>;
// A decoder layer is finished; `w`, when given, holds its norms, biases (and, when nothing is
// quantized, its linear weights) as the stream left them, to be written instead of the source's.
using LayerDoneFn = std::function<void(int layer, const model::LayerWeights* w)>;
// The ranks that quantize `linears` of `w` (by the algorithm's cost).
using OwnersFn = std::function<std::vector<int>(const model::LayerWeights& w, const std::vector<std::string>& linears)>;

class LayerStream {
 public:
  virtual ~LayerStream() = default;
  virtual void run(const StageFn& stage, const LayerDoneFn& done) = 0;
  // Per layer, what the transforms chose (empty without transforms).
  virtual nlohmann::json transform_rows() const { return nlohmann::json::array(); }
};

// Layers loaded from the model; statistics from `reader` (null: none). quantize = false writes the
// layers as loaded (a rotated model in full precision).
std::unique_ptr<LayerStream> stored_stats_stream(model::Model& model, const calib::StatsReader* reader, bool quantize,
                                                 OwnersFn owners);

// Calibration statistics computed as the layers go, on this rank's shard of `samples`; stored in
// `writer` (rank 0 only; null elsewhere or when not cached), committed at the end.
std::unique_ptr<LayerStream> calibrating_stream(model::Model& model, const torch::Tensor& samples,
                                                const calib::CalibrationOptions& opt, calib::StatsWriter* writer,
                                                OwnersFn owners);

struct TransformSettings {
  const std::vector<std::unique_ptr<algo::Transform>>* transforms = nullptr;
  algo::IntGrid grid;            // the quantizer's grid, which the transforms search against
  algo::ActQuantSpec act;        // activation quantization the transforms measure with
  std::string ggml_target;       // a llama.cpp type or mix the transforms search against, or empty
  bool quantize = true;          // false: the transforms' output is written in full precision
  calib::CalibrationOptions calibration;
};

// Block transforms on each layer's full-precision activations, then the statistics of the
// transformed inputs.
std::unique_ptr<LayerStream> transforming_stream(model::Model& model, const torch::Tensor& samples,
                                                 TransformSettings settings, OwnersFn owners);

}  // namespace ptq::pipeline
