// Hugging Face config.json <-> ModelConfig for the LLaMA family (LlamaForCausalLM,
// MistralForCausalLM, Qwen2ForCausalLM).
#pragma once
#include <string>

#include "model/config.hpp"

namespace ptq::model {

// Reads and validates config.json. Missing required keys, wrong value types, unknown architectures
// and unsupported features (rope_scaling, non-SiLU activations) throw ptq::Error naming the file and
// the key. Defaults follow transformers' config classes: num_key_value_heads = num_attention_heads,
// head_dim = hidden_size / num_attention_heads, rms_norm_eps 1e-6, rope_theta 10000,
// max_position_embeddings 2048, tie_word_embeddings false. Qwen2 always has q/k/v biases.
// bos/eos ids may be an integer, a list (the first entry is used) or null (stored as -1).
ModelConfig parse_hf_config(const std::string& config_json_path);
// The same from JSON text; `where` names the source in error messages.
ModelConfig parse_hf_config_text(const std::string& json_text, const std::string& where);

// config.json text for `c` (sorted keys, 2-space indent, trailing newline): deterministic, and
// parse_hf_config_text(write_hf_config(c)) == c.
std::string write_hf_config(const ModelConfig& c);

}  // namespace ptq::model
