// Random LLaMA-shaped checkpoints for tests, benchmarks and scale runs (a model of any shape without
// downloading one): a Hugging Face directory with one safetensors shard per decoder layer, written
// layer by layer so even a 70B-shaped one never sits in memory whole (the largest tensor is
// generated in row chunks straight into its storage dtype). Deterministic for a seed.
//
// Random models give meaningless perplexities; they exist for time and memory. For those to be
// like a trained model's, SynthOptions can make the weights heavy-tailed (Student-t) and give every
// RMSNorm a few large weights on the same residual channels, so the inputs of q/k/v and gate/up
// carry the outlier channels AWQ and SmoothQuant look for.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.hpp"

namespace ptq::model {

// A LLaMA config of the given shape (head_dim = hidden / heads, untied head).
ModelConfig synthetic_config(int hidden, int intermediate, int layers, int heads, int kv_heads, int vocab);

// Published shapes by name ("llama2-7b", "llama2-13b", "llama3-8b", "tinyllama-1.1b",
// "mistral-7b"); throws ptq::Error listing the names for another one.
ModelConfig named_shape(const std::string& name);
std::vector<std::string> named_shapes();

struct SynthOptions {
  torch::ScalarType dtype = torch::kFloat32;  // storage: kFloat32, kFloat16 or kBFloat16
  // 0: linear weights N(0, 1/in). An even number >= 6: Student-t with that many degrees of freedom,
  // scaled to the same variance (excess kurtosis 6 / (dof - 4): 3 at dof 6).
  int student_t_dof = 0;
  // This many residual channels (chosen by the seed, the same in every layer) get norm weights
  // `outlier_factor` times the others' in both norms of every layer; 0: all norm weights 1.
  int outlier_channels = 0;
  double outlier_factor = 20.0;
  // Names one tensor (e.g. "model.layers.1.mlp.up_proj.weight") whose first element is set to NaN,
  // for bad-input tests.
  std::string poison;
};

// The outlier channels write_synthetic_model picks for this config, seed and count (sorted).
std::vector<int64_t> synthetic_outlier_channels(const ModelConfig& cfg, uint64_t seed, int count);

void write_synthetic_model(const ModelConfig& cfg, const std::string& dir, uint64_t seed, const SynthOptions& opt);

// Linear weights ~ N(0, 1/in_features), norms 1, embeddings ~ N(0, 1), fp32.
void write_synthetic_model(const ModelConfig& cfg, const std::string& dir, uint64_t seed,
                           const std::string& poison = "");

}  // namespace ptq::model
