// A LLaMA decoder whose weights are autograd leaves, for training. It shares ptq's inference
// primitives (model::rms_norm, model::apply_rotary, model::RotaryTable) and Hugging Face tensor names,
// so its parameters are written as a checkpoint that model::Model loads unchanged; attention is the
// plain masked softmax (differentiable) instead of the inference kernel. Tests check that its logits
// equal model::Model's on the written checkpoint.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/decoder.hpp"

namespace ptq::train {

class TrainableLlama {
 public:
  // Random initialisation from torch's global CPU generator (seed it first): linear weights and the
  // embedding ~ N(0, init_std), o_proj and down_proj ~ N(0, init_std / sqrt(2 * layers)) (GPT-2's
  // residual scaling), norms 1. Tensors are created in a fixed order, so a seed fixes every value.
  TrainableLlama(const model::ModelConfig& cfg, double init_std);

  const model::ModelConfig& config() const { return cfg_; }
  // Parameters by Hugging Face name (sorted); the tied head has no entry of its own.
  const std::map<std::string, torch::Tensor>& named_parameters() const { return params_; }
  // Matrices (decayed by AdamW) and vectors (norms, not decayed), in name order.
  std::vector<torch::Tensor> matrices() const;
  std::vector<torch::Tensor> vectors() const;
  int64_t parameter_count() const;

  // tokens [B, T] int64 -> logits [B, T, vocab], differentiable.
  torch::Tensor forward(const torch::Tensor& tokens);
  // Mean next-token cross-entropy of windows [B, T+1] (inputs = first T, targets = last T).
  torch::Tensor loss(const torch::Tensor& windows);

 private:
  const torch::Tensor& p(const std::string& name) const;
  torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) const;

  model::ModelConfig cfg_;
  model::RotaryTable rope_;
  std::map<std::string, torch::Tensor> params_;
};

}  // namespace ptq::train
