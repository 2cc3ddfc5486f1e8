#include "model/synthetic_model.hpp"

#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <map>

#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "model/architecture.hpp"
#include "model/hf_config.hpp"

namespace ptq::model {

namespace fs = std::filesystem;

ModelConfig synthetic_config(int hidden, int intermediate, int layers, int heads, int kv_heads, int vocab) {
  ModelConfig c;
  c.hidden_size = hidden;
  c.intermediate_size = intermediate;
  c.num_layers = layers;
  c.num_heads = heads;
  c.num_kv_heads = kv_heads;
  c.head_dim = hidden / heads;
  c.vocab_size = vocab;
  return c;
}

void write_synthetic_model(const ModelConfig& cfg_in, const std::string& dir, uint64_t seed,
                           const std::string& poison) {
  ModelConfig cfg = cfg_in;
  if (cfg.head_dim == 0) cfg.head_dim = cfg.hidden_size / cfg.num_heads;
  cfg.validate(dir);
  fs::create_directories(dir);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const int64_t D = cfg.hidden_size, F = cfg.intermediate_size, hd = cfg.head_dim;
  const int64_t q_out = int64_t(cfg.num_heads) * hd, kv_out = int64_t(cfg.num_kv_heads) * hd;
  auto linear = [&](int64_t out, int64_t in) {
    return at::normal(0.0, 1.0 / std::sqrt(double(in)), {out, in}, gen);
  };
  nlohmann::json weight_map;
  const int shards = cfg.num_layers + 1;
  auto write = [&](int k, std::map<std::string, torch::Tensor> tensors) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors", k + 1, shards);
    io::SafetensorsWriter w;
    w.set_metadata("format", "pt");
    for (auto& [n, t] : tensors) {
      if (n == poison) t.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
      w.add(n, t);
      weight_map[n] = name;
    }
    w.write((fs::path(dir) / name).string());
  };
  for (int L = 0; L < cfg.num_layers; ++L) {
    const std::string p = layer_prefix(L);
    std::map<std::string, torch::Tensor> t;
    t[p + "input_layernorm.weight"] = torch::ones({D});
    t[p + "post_attention_layernorm.weight"] = torch::ones({D});
    t[p + "self_attn.q_proj.weight"] = linear(q_out, D);
    t[p + "self_attn.k_proj.weight"] = linear(kv_out, D);
    t[p + "self_attn.v_proj.weight"] = linear(kv_out, D);
    t[p + "self_attn.o_proj.weight"] = linear(D, q_out);
    t[p + "mlp.gate_proj.weight"] = linear(F, D);
    t[p + "mlp.up_proj.weight"] = linear(F, D);
    t[p + "mlp.down_proj.weight"] = linear(D, F);
    if (cfg.attention_bias) {
      t[p + "self_attn.q_proj.bias"] = at::normal(0.0, 0.02, {q_out}, gen);
      t[p + "self_attn.k_proj.bias"] = at::normal(0.0, 0.02, {kv_out}, gen);
      t[p + "self_attn.v_proj.bias"] = at::normal(0.0, 0.02, {kv_out}, gen);
    }
    write(L, std::move(t));
  }
  std::map<std::string, torch::Tensor> rest;
  rest["model.embed_tokens.weight"] = at::normal(0.0, 1.0, {int64_t(cfg.vocab_size), D}, gen);
  rest["model.norm.weight"] = torch::ones({D});
  if (!cfg.tie_word_embeddings) rest["lm_head.weight"] = linear(cfg.vocab_size, D);
  write(cfg.num_layers, std::move(rest));
  nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", weight_map}};
  io::write_file_atomically((fs::path(dir) / "model.safetensors.index.json").string(), index.dump(2) + "\n");
  io::write_file_atomically((fs::path(dir) / "config.json").string(), write_hf_config(cfg));
}

}  // namespace ptq::model
