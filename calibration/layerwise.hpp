// The calibration driver: runs the calibration samples through the model one decoder layer at a
// time, accumulates the statistics of every linear layer's input, and hands each group of linear
// layers to a quantization step before the layer's outputs become the next layer's inputs.
//   sequential (GPTQ's default): layer L+1 sees the outputs of the already quantized layer L; with
//     true_sequential, also inside a block: q,k,v -> o -> gate,up -> down, each stage calibrated on
//     the outputs of the stages quantized before it (a pass stops as soon as it has its inputs).
//   one-shot: every layer is calibrated on the full-precision model's activations.
//   fp_inputs (sequential only; GPTAQ): the full-precision model runs alongside as a second stream
//     of the same samples, and each stage also accumulates the cross term sum (x_fp - x) x^T of its
//     inputs (CrossStats), attached to the stage's InputStats. Each batch of a stage first runs the
//     FP layer on the FP hidden states up to the stage (its inputs kept for that batch only), then
//     the layer being quantized on the quantized model's hidden states.
// Peak memory: the hidden states of all samples [n, T, D] (updated in place), one layer's weights,
// the statistics of one stage and one batch's activations. fp_inputs doubles the hidden states (a
// second [n, T, D]) and the layer's weights (its FP copy), adds one [C, C] cross term per input of
// the stage and the FP inputs of one batch, and about doubles the forward passes.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "calibration/cross_stats.hpp"
#include "calibration/input_stats.hpp"
#include "model/decoder.hpp"

namespace ptq::calib {

struct CalibrationOptions {
  std::string mode = "sequential";  // sequential | one-shot
  bool true_sequential = true;      // sequential mode only
  bool fp64_hessian = false;
  bool fp_inputs = false;           // carry the FP model alongside (sequential only; GPTAQ)
  int batch = 0;                    // samples per forward pass through a layer; 0 = by memory budget
  int64_t batch_budget_bytes = int64_t(1) << 30;  // activations of one batch when batch = 0

  void validate(const std::string& where) const;
};

// The linear layers of one quantization step and the statistics of their inputs.
struct StageStats {
  int layer = 0;
  std::vector<std::string> linears;          // names inside the block: "self_attn.q_proj", ...
  std::map<std::string, InputStats> inputs;  // input ("attn_in", ...) -> statistics
  const InputStats& of(const std::string& linear) const;  // the statistics a linear layer reads
};

// Quantizes `stage.linears` of `w` in place (their weights replaced by the dequantized result, which
// the rest of the pass then computes with). Empty: calibrate only.
using QuantizeStep = std::function<void(model::LayerWeights& w, const StageStats& stage)>;
// Called when a decoder layer is done (progress reports).
using LayerDone = std::function<void(int layer, double seconds)>;

void calibrate_layerwise(model::Model& model, const torch::Tensor& samples, const CalibrationOptions& opt,
                         const QuantizeStep& quantize, const LayerDone& done = {});

// Block-wise calibration for transforms that need the activations themselves (AWQ, SmoothQuant's
// alpha search): each layer's weights are handed to `visit` with the full-precision inputs of its
// linear layers on every sample, input name -> [n_samples, seqlen, channels]. Activations propagate
// in full precision, as in AWQ's reference: layer L+1 sees the FP outputs of layer L. Peak memory: the
// hidden states and the four inputs of one layer for all samples.
using BlockVisit = std::function<void(model::LayerWeights& w, std::map<std::string, torch::Tensor>& inputs)>;
void calibrate_blockwise(model::Model& model, const torch::Tensor& samples, const CalibrationOptions& opt,
                         const BlockVisit& visit, const LayerDone& done = {});
// Samples per forward pass through one layer under the options' memory budget.
int calibration_batch(const model::ModelConfig& cfg, const torch::Tensor& samples, const CalibrationOptions& opt);

// The input a linear layer (block name) reads, and the block names of the layers that share it.
std::string input_of(const std::string& linear);
std::vector<std::string> linears_reading(const std::string& input);

}  // namespace ptq::calib
