#include "train/trainable_llama.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "model/architecture.hpp"

namespace ptq::train {

namespace {

std::map<std::string, std::vector<int64_t>> layer_shapes(const model::ModelConfig& c) {
  const int64_t D = c.hidden_size, F = c.intermediate_size;
  const int64_t qd = int64_t(c.num_heads) * c.head_dim, kvd = int64_t(c.num_kv_heads) * c.head_dim;
  return {{"self_attn.q_proj", {qd, D}}, {"self_attn.k_proj", {kvd, D}}, {"self_attn.v_proj", {kvd, D}},
          {"self_attn.o_proj", {D, qd}}, {"mlp.gate_proj", {F, D}},      {"mlp.up_proj", {F, D}},
          {"mlp.down_proj", {D, F}}};
}

}  // namespace

TrainableLlama::TrainableLlama(const model::ModelConfig& cfg, double init_std)
    : cfg_(cfg), rope_(cfg.head_dim, cfg.max_position_embeddings, cfg.rope_theta) {
  cfg_.validate("trainable model");
  if (cfg_.attention_bias) fail("trainable model", "q/k/v biases are not supported");
  const int64_t V = cfg_.vocab_size, D = cfg_.hidden_size;
  const double residual_std = init_std / std::sqrt(2.0 * cfg_.num_layers);
  auto normal = [](std::vector<int64_t> shape, double sigma) { return torch::randn(shape) * sigma; };
  // Creation order (not name order) fixes which random numbers each tensor gets.
  params_["model.embed_tokens.weight"] = normal({V, D}, init_std);
  const auto shapes = layer_shapes(cfg_);
  for (int i = 0; i < cfg_.num_layers; ++i) {
    const std::string prefix = model::layer_prefix(i);
    for (const auto& spec : model::block_linears()) {
      const std::string name = spec.name;
      const bool residual = name == "self_attn.o_proj" || name == "mlp.down_proj";
      params_[prefix + name + ".weight"] = normal(shapes.at(name), residual ? residual_std : init_std);
    }
    params_[prefix + "input_layernorm.weight"] = torch::ones({D});
    params_[prefix + "post_attention_layernorm.weight"] = torch::ones({D});
  }
  params_["model.norm.weight"] = torch::ones({D});
  if (!cfg_.tie_word_embeddings) params_["lm_head.weight"] = normal({V, D}, init_std);
  for (auto& [name, t] : params_) t.set_requires_grad(true);
}

const torch::Tensor& TrainableLlama::p(const std::string& name) const {
  auto it = params_.find(name);
  if (it == params_.end()) fail("trainable model", "no parameter " + name);
  return it->second;
}

std::vector<torch::Tensor> TrainableLlama::matrices() const {
  std::vector<torch::Tensor> out;
  for (const auto& [name, t] : params_) {
    if (t.dim() == 2) out.push_back(t);
  }
  return out;
}

std::vector<torch::Tensor> TrainableLlama::vectors() const {
  std::vector<torch::Tensor> out;
  for (const auto& [name, t] : params_) {
    if (t.dim() != 2) out.push_back(t);
  }
  return out;
}

int64_t TrainableLlama::parameter_count() const {
  int64_t n = 0;
  for (const auto& [name, t] : params_) n += t.numel();
  return n;
}

torch::Tensor TrainableLlama::attention(const torch::Tensor& q, const torch::Tensor& k,
                                        const torch::Tensor& v) const {
  // Grouped-query attention as model::causal_attention lays it out: the G query heads of one kv head
  // form one [G*T, hd] matrix against that kv head's keys (head h reads kv head h / G).
  const int64_t B = q.size(0), T = q.size(1), H = q.size(2), hd = q.size(3), KVH = k.size(2), G = H / KVH;
  auto q3 = q.view({B, T, KVH, G, hd}).permute({0, 2, 3, 1, 4}).reshape({B, KVH, G * T, hd});
  auto kt = k.permute({0, 2, 3, 1});  // [B, KVH, hd, T]
  auto v3 = v.permute({0, 2, 1, 3});  // [B, KVH, T, hd]
  auto pos = torch::arange(T, torch::kInt64);
  auto future = (pos.unsqueeze(0) > pos.unsqueeze(1)).repeat({G, 1});  // [G*T, T]: key after query
  auto scores = torch::matmul(q3, kt) * (1.0 / std::sqrt(static_cast<double>(hd)));
  auto probs = torch::softmax(scores.masked_fill(future, -std::numeric_limits<float>::infinity()), -1);
  auto out = torch::matmul(probs, v3);  // [B, KVH, G*T, hd]
  return out.view({B, KVH, G, T, hd}).permute({0, 3, 1, 2, 4}).reshape({B, T, H * hd});
}

torch::Tensor TrainableLlama::forward(const torch::Tensor& tokens) {
  const int64_t B = tokens.size(0), T = tokens.size(1);
  const int64_t H = cfg_.num_heads, KVH = cfg_.num_kv_heads, hd = cfg_.head_dim;
  const double eps = cfg_.rms_norm_eps;
  rope_.ensure(static_cast<int>(T));
  auto cos = rope_.cos.narrow(0, 0, T), sin = rope_.sin.narrow(0, 0, T);
  namespace F = torch::nn::functional;
  auto x = torch::embedding(p("model.embed_tokens.weight"), tokens);
  for (int i = 0; i < cfg_.num_layers; ++i) {
    const std::string pre = model::layer_prefix(i);
    auto w = [&](const char* name) -> const torch::Tensor& { return p(pre + name + ".weight"); };
    auto h = model::rms_norm(x, w("input_layernorm"), eps);
    auto q = model::apply_rotary(F::linear(h, w("self_attn.q_proj")).view({B, T, H, hd}), cos, sin);
    auto k = model::apply_rotary(F::linear(h, w("self_attn.k_proj")).view({B, T, KVH, hd}), cos, sin);
    auto v = F::linear(h, w("self_attn.v_proj")).view({B, T, KVH, hd});
    x = x + F::linear(attention(q, k, v), w("self_attn.o_proj"));
    auto m = model::rms_norm(x, w("post_attention_layernorm"), eps);
    auto act = torch::silu(F::linear(m, w("mlp.gate_proj"))) * F::linear(m, w("mlp.up_proj"));
    x = x + F::linear(act, w("mlp.down_proj"));
  }
  const auto& head = cfg_.tie_word_embeddings ? p("model.embed_tokens.weight") : p("lm_head.weight");
  return F::linear(model::rms_norm(x, p("model.norm.weight"), eps), head);
}

torch::Tensor TrainableLlama::loss(const torch::Tensor& windows) {
  const int64_t T = windows.size(1) - 1;
  auto logits = forward(windows.narrow(1, 0, T));
  auto targets = windows.narrow(1, 1, T);
  return torch::nn::functional::cross_entropy(logits.reshape({-1, cfg_.vocab_size}), targets.reshape({-1}));
}

}  // namespace ptq::train
