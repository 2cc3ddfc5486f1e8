// Hyper-parameters of a LLaMA-family decoder, read from config.json, a llama2.c header or GGUF
// metadata.
#pragma once
#include <cstdint>
#include <string>

namespace ptq::model {

struct ModelConfig {
  std::string architecture = "LlamaForCausalLM";  // LlamaForCausalLM | MistralForCausalLM | Qwen2ForCausalLM
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;  // hidden_size / num_heads unless the config says otherwise
  int vocab_size = 0;
  int max_position_embeddings = 2048;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-5;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v biases (Qwen2)
  int bos_token_id = 1;
  int eos_token_id = 2;
  std::string torch_dtype = "float32";  // storage dtype of the weights

  // Throws ptq::Error naming `where` when a value is missing or inconsistent.
  void validate(const std::string& where) const;
};

}  // namespace ptq::model
