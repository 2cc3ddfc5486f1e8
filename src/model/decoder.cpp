#include "model/decoder.hpp"

#include <cmath>

#include "core/error.hpp"
#include "model/architecture.hpp"
#include "model/attention.hpp"
#include "model/online_rotation.hpp"

namespace ptq::model {

namespace {

void check_shape(const WeightSource& src, const std::string& name, const torch::Tensor& t,
                 std::vector<int64_t> expected) {
  if (t.sizes().vec() != expected) {
    std::string got, want;
    for (auto d : t.sizes()) got += (got.empty() ? "" : "x") + std::to_string(d);
    for (auto d : expected) want += (want.empty() ? "" : "x") + std::to_string(d);
    fail(src.path(), "tensor " + name + " has shape " + got + ", the config implies " + want);
  }
}

torch::Tensor linear(const LayerWeights& w, const std::string& name, torch::Tensor x,
                     const LayerRun& run) {
  if (run.hook && *run.hook) (*run.hook)(layer_prefix(w.index) + name, x);
  if (run.compute == torch::kFloat32) return torch::nn::functional::linear(x, w.weight(name), w.bias_or_undefined(name));
  auto b = w.bias_or_undefined(name);
  return torch::nn::functional::linear(x.to(run.compute), w.weight(name).to(run.compute),
                                       b.defined() ? b.to(run.compute) : b)
      .to(x.scalar_type());
}

}  // namespace

const torch::Tensor& LayerWeights::weight(const std::string& linear_name) const {
  auto it = linear.find(linear_name);
  if (it == linear.end()) fail(layer_prefix(index) + linear_name, "weight not loaded");
  return it->second;
}

torch::Tensor LayerWeights::bias_or_undefined(const std::string& linear_name) const {
  auto it = bias.find(linear_name);
  return it == bias.end() ? torch::Tensor() : it->second;
}

RotaryTable::RotaryTable(int hd, int max_positions, double th) : head_dim(hd), theta(th) {
  ensure(max_positions);
}

void RotaryTable::ensure(int positions) {
  if (cos.defined() && cos.size(0) >= positions) return;
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  auto inv_freq = torch::pow(theta, -torch::arange(0, head_dim, 2, opts) / double(head_dim));
  auto pos = torch::arange(0, positions, opts);
  auto angles = torch::outer(pos, inv_freq);
  cos = torch::cos(angles).to(torch::kFloat32);
  sin = torch::sin(angles).to(torch::kFloat32);
}

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  // x [B, T, heads, hd]; cos/sin [T, hd/2] broadcast over batch and heads.
  const int64_t half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  auto c = cos.unsqueeze(1), s = sin.unsqueeze(1);
  return torch::cat({x1 * c - x2 * s, x2 * c + x1 * s}, -1);
}

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  auto var = x.pow(2).mean(-1, /*keepdim=*/true);
  return x * torch::rsqrt(var + eps) * weight;
}

torch::Tensor attention_block(const ModelConfig& cfg, const LayerWeights& w, RotaryTable& rope, const torch::Tensor& h,
                              const LayerRun& run) {
  torch::NoGradGuard no_grad;
  const int64_t B = h.size(0), T = h.size(1);
  const int64_t H = cfg.num_heads, KVH = cfg.num_kv_heads, hd = cfg.head_dim;
  auto q = linear(w, "self_attn.q_proj", h, run).view({B, T, H, hd});
  auto k = linear(w, "self_attn.k_proj", h, run).view({B, T, KVH, hd});
  auto v = linear(w, "self_attn.v_proj", h, run).view({B, T, KVH, hd});
  const int64_t pos0 = run.pos_offset;
  rope.ensure(static_cast<int>(pos0 + T));
  auto cos = rope.cos.narrow(0, pos0, T), sin = rope.sin.narrow(0, pos0, T);
  q = apply_rotary(q, cos, sin);
  k = apply_rotary(k, cos, sin);
  if (w.online_head.defined()) {
    q = torch::matmul(q, w.online_head);
    k = torch::matmul(k, w.online_head);
  }
  if (run.kv_quant && run.kv_quant->enabled()) {
    k = fake_quantize_kv(k, *run.kv_quant);
    v = fake_quantize_kv(v, *run.kv_quant);
  }
  if (run.cache) {
    auto& ck = run.cache->k[w.index];
    auto& cv = run.cache->v[w.index];
    ck = ck.defined() ? torch::cat({ck, k}, 1) : k;
    cv = cv.defined() ? torch::cat({cv, v}, 1) : v;
    k = ck;
    v = cv;
  }
  auto attn = causal_attention(q, k, v, pos0);
  return linear(w, "self_attn.o_proj", attn, run);
}

torch::Tensor mlp_block(const LayerWeights& w, const torch::Tensor& m, const LayerRun& run) {
  torch::NoGradGuard no_grad;
  auto gate = linear(w, "mlp.gate_proj", m, run);
  auto up = linear(w, "mlp.up_proj", m, run);
  auto act = torch::silu(gate).mul_(up);
  if (w.online_down_proj.defined()) act = torch::matmul(act, w.online_down_proj);
  return linear(w, "mlp.down_proj", act, run);
}

torch::Tensor decoder_layer_forward(const ModelConfig& cfg, const LayerWeights& w, RotaryTable& rope,
                                    const torch::Tensor& x, const LayerRun& run) {
  torch::NoGradGuard no_grad;
  auto x1 = x + attention_block(cfg, w, rope, rms_norm(x, w.input_norm, cfg.rms_norm_eps), run);
  return x1 + mlp_block(w, rms_norm(x1, w.post_norm, cfg.rms_norm_eps), run);
}

Model::Model(std::shared_ptr<WeightSource> source)
    : source_(std::move(source)),
      cfg_(source_->config()),
      rope_(cfg_.head_dim, std::min(cfg_.max_position_embeddings, 4096), cfg_.rope_theta) {
  cfg_.validate(source_->path());
  const int64_t V = cfg_.vocab_size, D = cfg_.hidden_size;
  embed_ = source_->load("model.embed_tokens.weight");
  check_shape(*source_, "model.embed_tokens.weight", embed_, {V, D});
  final_norm_ = source_->load("model.norm.weight");
  check_shape(*source_, "model.norm.weight", final_norm_, {D});
  if (source_->has("lm_head.weight")) {
    lm_head_ = source_->load("lm_head.weight");
    check_shape(*source_, "lm_head.weight", lm_head_, {V, D});
  } else if (cfg_.tie_word_embeddings) {
    lm_head_ = embed_;
  } else {
    fail(source_->path(), "lm_head.weight is missing and tie_word_embeddings is false");
  }
  if (source_->has(kOnlineDownProjRotation)) {
    online_down_proj_ = source_->load(kOnlineDownProjRotation);
    check_shape(*source_, kOnlineDownProjRotation, online_down_proj_, {cfg_.intermediate_size, cfg_.intermediate_size});
  }
  if (source_->has(kOnlineHeadRotation)) {
    online_head_ = source_->load(kOnlineHeadRotation);
    check_shape(*source_, kOnlineHeadRotation, online_head_, {cfg_.head_dim, cfg_.head_dim});
  }
}

LayerWeights Model::load_layer(int i) const {
  if (i < 0 || i >= cfg_.num_layers) {
    fail(source_->path(), "layer " + std::to_string(i) + " out of range");
  }
  const std::string p = layer_prefix(i);
  const int64_t D = cfg_.hidden_size, F = cfg_.intermediate_size;
  const int64_t qd = int64_t(cfg_.num_heads) * cfg_.head_dim;
  const int64_t kvd = int64_t(cfg_.num_kv_heads) * cfg_.head_dim;
  const std::map<std::string, std::vector<int64_t>> shapes = {
      {"self_attn.q_proj", {qd, D}},  {"self_attn.k_proj", {kvd, D}}, {"self_attn.v_proj", {kvd, D}},
      {"self_attn.o_proj", {D, qd}},  {"mlp.gate_proj", {F, D}},      {"mlp.up_proj", {F, D}},
      {"mlp.down_proj", {D, F}},
  };
  LayerWeights w;
  w.index = i;
  auto load = [&](const std::string& name, std::vector<int64_t> shape) {
    const std::string full = p + name;
    if (!source_->has(full)) fail(source_->path(), "missing tensor " + full);
    auto t = source_->load(full);
    check_shape(*source_, full, t, shape);
    return t;
  };
  w.online_down_proj = online_down_proj_;
  w.online_head = online_head_;
  w.input_norm = load("input_layernorm.weight", {D});
  w.post_norm = load("post_attention_layernorm.weight", {D});
  for (const auto& spec : block_linears()) {
    w.linear[spec.name] = load(std::string(spec.name) + ".weight", shapes.at(spec.name));
    const std::string bias = p + spec.name + ".bias";
    if (source_->has(bias)) w.bias[spec.name] = load(std::string(spec.name) + ".bias", {shapes.at(spec.name)[0]});
  }
  return w;
}

void Model::make_resident() {
  if (!resident_.empty()) return;
  for (int i = 0; i < cfg_.num_layers; ++i) resident_.push_back(load_layer(i));
}

LayerWeights Model::layer(int i) const {
  if (!resident_.empty()) return resident_.at(i);
  return load_layer(i);
}

void Model::set_layer(int i, LayerWeights w) {
  make_resident();
  resident_.at(i) = std::move(w);
}

void Model::set_kv_quant(const KvQuantSpec& spec) {
  spec.validate(cfg_.head_dim, "KV-cache quantization");
  kv_quant_ = spec;
}

torch::Tensor Model::embed(const torch::Tensor& tokens) const {
  auto mx = tokens.max().item<int64_t>(), mn = tokens.min().item<int64_t>();
  if (mn < 0 || mx >= cfg_.vocab_size) {
    fail(source_->path(), "token id " + std::to_string(mn < 0 ? mn : mx) + " outside the vocabulary of " +
                              std::to_string(cfg_.vocab_size));
  }
  return torch::embedding(embed_, tokens);
}

torch::Tensor Model::head(const torch::Tensor& hidden) const {
  torch::NoGradGuard no_grad;
  return torch::nn::functional::linear(rms_norm(hidden, final_norm_, cfg_.rms_norm_eps), lm_head_);
}

void Model::set_compute_dtype(torch::ScalarType dtype) {
  if (dtype != torch::kFloat32 && dtype != torch::kBFloat16) {
    fail(source_->path(), std::string("compute dtype must be f32 or bf16, not ") + c10::toString(dtype));
  }
  compute_ = dtype;
}

LayerRun Model::with_compute(const LayerRun& run) const {
  LayerRun r = run;
  r.compute = compute_;
  return r;
}

torch::Tensor Model::run_layer(int i, const torch::Tensor& x, const LayerRun& run) {
  if (!resident_.empty()) return decoder_layer_forward(cfg_, resident_.at(i), rope_, x, with_compute(run));
  return decoder_layer_forward(cfg_, load_layer(i), rope_, x, with_compute(run));
}

torch::Tensor Model::run_layer_weights(const LayerWeights& w, const torch::Tensor& x, const LayerRun& run) {
  return decoder_layer_forward(cfg_, w, rope_, x, with_compute(run));
}

torch::Tensor Model::run_module(const LayerWeights& w, const std::string& module, const torch::Tensor& x,
                                const LayerRun& run_in) {
  const LayerRun run = with_compute(run_in);
  if (module == "self_attn") return attention_block(cfg_, w, rope_, x, run);
  if (module == "mlp") return mlp_block(w, x, run);
  if (w.linear.count(module)) return linear(w, module, x, run);
  fail(layer_prefix(w.index) + module, "not a module of a decoder block (self_attn, mlp or a linear layer)");
}

LayerRun Model::simulation_run(const LinearInputHook* hook, LinearInputHook& storage) const {
  LayerRun run;
  run.hook = hook;
  // The model-level hook first, then the caller's.
  if (default_hook_) {
    storage = hook && *hook ? LinearInputHook([this, hook](const std::string& name, torch::Tensor& x) {
      default_hook_(name, x);
      (*hook)(name, x);
    })
                            : default_hook_;
    run.hook = &storage;
  }
  if (kv_quant_.enabled()) run.kv_quant = &kv_quant_;
  run.compute = compute_;
  return run;
}

torch::Tensor Model::forward(const torch::Tensor& tokens, KVCache* cache,
                             const LinearInputHook* hook) {
  torch::NoGradGuard no_grad;
  LinearInputHook both;
  LayerRun run = simulation_run(hook, both);
  run.cache = cache;
  if (cache) {
    run.pos_offset = cache->length();
    cache->k.resize(cfg_.num_layers);
    cache->v.resize(cfg_.num_layers);
  }
  auto x = embed(tokens);
  for (int i = 0; i < cfg_.num_layers; ++i) x = run_layer(i, x, run);
  return head(x);
}

}  // namespace ptq::model
