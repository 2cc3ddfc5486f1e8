// Random LLaMA-shaped checkpoints for tests and benchmarks (a model of any shape without
// downloading one): a Hugging Face directory with one safetensors shard per decoder layer, written
// layer by layer so even a large one never sits in memory whole. Deterministic for a seed.
#pragma once
#include <cstdint>
#include <string>

#include "model/config.hpp"

namespace ptq::model {

// A LLaMA config of the given shape (head_dim = hidden / heads, untied head).
ModelConfig synthetic_config(int hidden, int intermediate, int layers, int heads, int kv_heads, int vocab);

// Linear weights ~ N(0, 1/in_features), norms 1, embeddings ~ N(0, 1); `poison` names one tensor
// (e.g. "model.layers.1.mlp.up_proj.weight") whose first element is set to NaN, for bad-input tests.
void write_synthetic_model(const ModelConfig& cfg, const std::string& dir, uint64_t seed,
                           const std::string& poison = "");

}  // namespace ptq::model
