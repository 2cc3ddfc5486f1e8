// What a block-level transform (AWQ, SmoothQuant) sees of one decoder layer: its weights, the
// full-precision inputs of its linear layers on the calibration samples, and a way to run one of the
// block's modules. Transforms rescale channels between a producer (a norm or a linear layer) and the
// linear layers reading it; they may change the block's weights but not its function, except through
// the clipping a transform chooses for the quantizer that follows.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>

#include "algorithms/common/int_grid.hpp"
#include "model/architecture.hpp"
#include "model/decoder.hpp"

namespace ptq::algo {

struct BlockContext {
  model::LayerWeights* w = nullptr;
  // Input name ("attn_in", "attn_out", "mlp_in", "mlp_act") -> [n_samples, seqlen, channels] fp32, the
  // full-precision activations; a transform that folds a scale s into a producer divides the input by s.
  std::map<std::string, torch::Tensor> inputs;
  // Runs a module of the block ("self_attn", "mlp" or a linear layer's name) with the given weights on
  // x [n, T, C]. The pipeline batches it over samples.
  std::function<torch::Tensor(const model::LayerWeights&, const std::string& module, const torch::Tensor& x)> run_module;
  // Fake-quantizes the activation entering a linear layer, under the run's activation scheme; the
  // identity when activations stay in full precision. `calib_absmax` is the static scale source:
  // the largest |x| the input reaches on the calibration samples.
  std::function<torch::Tensor(const torch::Tensor& x, double calib_absmax)> act_quant;
  std::string where;  // "model.layers.3."
  // Linear layer ("self_attn.v_proj") -> the llama.cpp type a GGUF export will store it in (lower
  // case: "q6_k", "f16"), when a transform targets a llama.cpp mix; empty otherwise.
  std::map<std::string, std::string> ggml_types;

  const model::LayerWeights& weights() const { return *w; }
};

// A transform applied to each decoder layer before its linear layers are quantized.
class Transform {
 public:
  virtual ~Transform() = default;
  virtual std::string name() const = 0;
  virtual nlohmann::json options() const = 0;
  // Rewrites ctx.w (and ctx.inputs accordingly); `grid` is the weight grid the quantizer will use.
  // Returns per-layer figures for the report (chosen alpha, errors, ...).
  virtual nlohmann::json apply(BlockContext& ctx, const IntGrid& grid) const = 0;
};

}  // namespace ptq::algo
