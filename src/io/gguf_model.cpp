#include "io/gguf_model.hpp"
#include "io/rotary_layout.hpp"

#include <cstdlib>

#include "core/error.hpp"

namespace ptq::io {

namespace {

// blk.N.<part> -> model.layers.N.<hf part>
struct LayerName {
  const char* gguf;
  const char* hf;
};
constexpr LayerName kLayerNames[] = {
    {"attn_q", "self_attn.q_proj"},   {"attn_k", "self_attn.k_proj"},
    {"attn_v", "self_attn.v_proj"},   {"attn_output", "self_attn.o_proj"},
    {"ffn_gate", "mlp.gate_proj"},    {"ffn_up", "mlp.up_proj"},
    {"ffn_down", "mlp.down_proj"},    {"attn_norm", "input_layernorm"},
    {"ffn_norm", "post_attention_layernorm"},
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Reorders rows within each head: the row block of one head, viewed as [a, b, ...], becomes
// [b, a, ...]. With (a, b) = (head_dim/2, 2) this is interleaved -> rotate-half.

}  // namespace

std::string gguf_to_hf_name(const std::string& g) {
  if (g == "token_embd.weight") return "model.embed_tokens.weight";
  if (g == "output_norm.weight") return "model.norm.weight";
  if (g == "output.weight") return "lm_head.weight";
  if (g.rfind("blk.", 0) != 0) return "";
  // blk.<N>.<part>.<weight|bias>
  const size_t dot = g.find('.', 4);
  if (dot == std::string::npos || dot == 4) return "";
  const std::string layer = g.substr(4, dot - 4);
  if (layer.find_first_not_of("0123456789") != std::string::npos) return "";
  std::string rest = g.substr(dot + 1), suffix;
  if (ends_with(rest, ".weight")) {
    suffix = ".weight";
  } else if (ends_with(rest, ".bias")) {
    suffix = ".bias";
  } else {
    return "";
  }
  rest.resize(rest.size() - suffix.size());
  for (const LayerName& n : kLayerNames) {
    if (rest == n.gguf) return "model.layers." + layer + "." + n.hf + suffix;
  }
  return "";
}

GgufModel::GgufModel(const std::string& path) : reader_(path) {
  const GgufReader& r = reader_;
  if (!r.has("general.architecture")) fail(path, "metadata key 'general.architecture' is missing");
  const std::string arch = r.get_string("general.architecture");
  if (arch != "llama") {
    fail(path, "general.architecture is '" + arch + "'; ptq reads only 'llama' GGUF models");
  }
  if (r.tensors().empty()) fail(path, "has no tensors (a vocabulary-only GGUF?)");

  model::ModelConfig& c = config_;
  c.architecture = "LlamaForCausalLM";
  c.hidden_size = static_cast<int>(r.get_int("llama.embedding_length"));
  c.intermediate_size = static_cast<int>(r.get_int("llama.feed_forward_length"));
  c.num_layers = static_cast<int>(r.get_int("llama.block_count"));
  c.num_heads = static_cast<int>(r.get_int("llama.attention.head_count"));
  c.num_kv_heads = r.has("llama.attention.head_count_kv")
                       ? static_cast<int>(r.get_int("llama.attention.head_count_kv"))
                       : c.num_heads;
  if (c.num_heads <= 0) fail(path, "llama.attention.head_count must be positive");
  c.head_dim = r.has("llama.attention.key_length")
                   ? static_cast<int>(r.get_int("llama.attention.key_length"))
                   : c.hidden_size / c.num_heads;
  if (r.has("llama.rope.dimension_count") && r.get_int("llama.rope.dimension_count") != c.head_dim) {
    fail(path, "llama.rope.dimension_count " + std::to_string(r.get_int("llama.rope.dimension_count")) +
                   " differs from the head size " + std::to_string(c.head_dim) +
                   " (partial rotary embeddings are not supported)");
  }
  if (r.has("llama.rope.scaling.type") && r.get_string("llama.rope.scaling.type") != "none") {
    fail(path, "llama.rope.scaling.type '" + r.get_string("llama.rope.scaling.type") +
                   "' is not supported");
  }
  if (r.has("llama.context_length")) c.max_position_embeddings = static_cast<int>(r.get_int("llama.context_length"));
  c.rope_theta = r.has("llama.rope.freq_base") ? r.get_float("llama.rope.freq_base") : 10000.0;
  c.rms_norm_eps = r.get_float("llama.attention.layer_norm_rms_epsilon");

  const GgufTensorInfo& embd = r.tensor("token_embd.weight");
  if (embd.dims.size() != 2 || embd.dims[0] != c.hidden_size) {
    fail(path, "tensor 'token_embd.weight' does not have rows of embedding_length " +
                   std::to_string(c.hidden_size));
  }
  c.vocab_size = r.has("llama.vocab_size") ? static_cast<int>(r.get_int("llama.vocab_size"))
                                           : static_cast<int>(embd.dims[1]);
  if (c.vocab_size != embd.dims[1]) {
    fail(path, "llama.vocab_size " + std::to_string(c.vocab_size) + " differs from token_embd's " +
                   std::to_string(embd.dims[1]) + " rows");
  }
  c.tie_word_embeddings = !r.has_tensor("output.weight");
  c.attention_bias = r.has_tensor("blk.0.attn_q.bias");
  c.bos_token_id = r.has("tokenizer.ggml.bos_token_id") ? static_cast<int>(r.get_int("tokenizer.ggml.bos_token_id")) : 1;
  c.eos_token_id = r.has("tokenizer.ggml.eos_token_id") ? static_cast<int>(r.get_int("tokenizer.ggml.eos_token_id")) : 2;
  c.torch_dtype = "float32";  // ptq dequantizes every stored type to fp32
  c.validate(path);

  for (const GgufTensorInfo& t : r.tensors()) {
    const std::string hf = gguf_to_hf_name(t.name);
    if (hf.empty()) continue;  // rope_freqs and other tensors ptq recomputes or ignores
    if (t.name.rfind("blk.", 0) == 0) {
      const long layer = std::strtol(t.name.c_str() + 4, nullptr, 10);
      if (layer >= c.num_layers) {
        fail(path, "tensor '" + t.name + "' belongs to layer " + std::to_string(layer) +
                       " but llama.block_count is " + std::to_string(c.num_layers));
      }
    }
    hf_to_gguf_[hf] = t.name;
  }
}

const std::string& GgufModel::gguf_name(const std::string& hf_name) const {
  auto it = hf_to_gguf_.find(hf_name);
  if (it == hf_to_gguf_.end()) fail(path(), "tensor '" + hf_name + "' is not in the model");
  return it->second;
}

std::vector<model::TensorInfo> GgufModel::tensors() const {
  std::vector<model::TensorInfo> out;
  for (const auto& [hf, g] : hf_to_gguf_) {
    const GgufTensorInfo& t = reader_.tensor(g);
    out.push_back({hf, t.type_name, t.shape(), t.nbytes});
  }
  return out;
}

torch::Tensor GgufModel::load(const std::string& name) const {
  const std::string& g = gguf_name(name);
  torch::Tensor t = reader_.load_f32(g);
  const bool is_q = name.find(".self_attn.q_proj.") != std::string::npos;
  const bool is_k = name.find(".self_attn.k_proj.") != std::string::npos;
  if (is_q || is_k) {
    const int heads = is_q ? config_.num_heads : config_.num_kv_heads;
    if (t.size(0) != static_cast<int64_t>(heads) * config_.head_dim) {
      fail(path(), "tensor '" + g + "' has " + std::to_string(t.size(0)) + " rows, expected " +
                       std::to_string(heads) + " heads x " + std::to_string(config_.head_dim));
    }
    t = interleaved_to_rotate_half(t, heads);
  }
  return t;
}

std::unique_ptr<model::WeightSource> open_gguf_model(const std::string& path) {
  return std::make_unique<GgufModel>(path);
}

}  // namespace ptq::io
