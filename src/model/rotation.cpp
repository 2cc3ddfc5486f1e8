#include "model/rotation.hpp"

#include "core/error.hpp"
#include "model/architecture.hpp"
#include "model/online_rotation.hpp"

namespace ptq::model {

namespace {

constexpr const char* kLayers = "model.layers.";

// "model.layers.3.mlp.up_proj.weight" -> (3, "mlp.up_proj.weight"); (-1, "") for other names.
std::pair<int, std::string> split_layer_name(const std::string& name) {
  const std::string p = kLayers;
  if (name.rfind(p, 0) != 0) return {-1, ""};
  const auto dot = name.find('.', p.size());
  if (dot == std::string::npos) return {-1, ""};
  try {
    return {std::stoi(name.substr(p.size(), dot - p.size())), name.substr(dot + 1)};
  } catch (const std::exception&) {
    return {-1, ""};
  }
}

torch::Tensor f64(const torch::Tensor& t) { return t.to(torch::kFloat64); }
torch::Tensor f32(const torch::Tensor& t) { return t.to(torch::kFloat32).contiguous(); }

}  // namespace

nlohmann::json RotationSpec::to_json() const {
  nlohmann::json online = nlohmann::json::array();
  if (online_down_proj) online.push_back("down_proj");
  if (online_kv) online.push_back("kv");
  return {{"seed", seed}, {"online", online}};
}

RotatedWeights::RotatedWeights(std::shared_ptr<WeightSource> base, const RotationSpec& spec)
    : base_(std::move(base)), spec_(spec), cfg_(base_->config()) {
  for (const auto& n : online_rotation_tensor_names()) {
    if (base_->has(n)) fail(base_->path(), "already holds online rotations (" + n + "): rotate the unrotated model");
  }
  cfg_.validate(base_->path());
  residual_ = rotation_matrix(cfg_.hidden_size, spec_.seed, /*random_signs=*/true);
  // The online rotations are plain Hadamard matrices (QuaRot's); other seeds for their fallbacks.
  if (spec_.online_down_proj) down_ = rotation_matrix(cfg_.intermediate_size, spec_.seed + 1, false);
  if (spec_.online_kv) head_ = rotation_matrix(cfg_.head_dim, spec_.seed + 2, false);
  cfg_.tie_word_embeddings = false;  // the head holds the final norm, the embeddings do not
  cfg_.torch_dtype = "float32";
}

nlohmann::json RotatedWeights::description() const {
  auto j = spec_.to_json();
  j["residual"] = {{"size", cfg_.hidden_size}, {"matrix", residual_.construction}};
  if (spec_.online_down_proj) j["down_proj_input"] = {{"size", cfg_.intermediate_size}, {"matrix", down_.construction}};
  if (spec_.online_kv) j["head"] = {{"size", cfg_.head_dim}, {"matrix", head_.construction}};
  return j;
}

std::vector<TensorInfo> RotatedWeights::tensors() const {
  std::vector<TensorInfo> out;
  auto f32_info = [](const std::string& name, std::vector<int64_t> shape) {
    uint64_t n = 4;
    for (auto d : shape) n *= static_cast<uint64_t>(d);
    return TensorInfo{name, "F32", shape, n};
  };
  bool head = false;
  for (const auto& t : base_->tensors()) {
    out.push_back(f32_info(t.name, t.shape));
    head = head || t.name == "lm_head.weight";
  }
  if (!head) out.push_back(f32_info("lm_head.weight", {cfg_.vocab_size, cfg_.hidden_size}));
  if (spec_.online_down_proj) out.push_back(f32_info(kOnlineDownProjRotation, {cfg_.intermediate_size, cfg_.intermediate_size}));
  if (spec_.online_kv) out.push_back(f32_info(kOnlineHeadRotation, {cfg_.head_dim, cfg_.head_dim}));
  return out;
}

bool RotatedWeights::has(const std::string& name) const {
  if (name == "lm_head.weight") return true;
  if (name == kOnlineDownProjRotation) return spec_.online_down_proj;
  if (name == kOnlineHeadRotation) return spec_.online_kv;
  return base_->has(name);
}

torch::Tensor RotatedWeights::load(const std::string& name) const {
  torch::NoGradGuard no_grad;
  const auto& Q = residual_.q;
  if (name == kOnlineDownProjRotation && spec_.online_down_proj) return f32(down_.q);
  if (name == kOnlineHeadRotation && spec_.online_kv) return f32(head_.q);
  if (name == "model.embed_tokens.weight") return f32(torch::matmul(f64(base_->load(name)), Q));
  if (name == "model.norm.weight") return torch::ones({cfg_.hidden_size}, torch::kFloat32);
  if (name == "lm_head.weight") {
    const auto w = base_->has(name) ? base_->load(name) : base_->load("model.embed_tokens.weight");
    return f32(torch::matmul(f64(w) * f64(base_->load("model.norm.weight")).unsqueeze(0), Q));
  }
  const auto [layer, part] = split_layer_name(name);
  if (layer >= 0) return rotate_layer_tensor(layer, part);
  return base_->load(name);
}

torch::Tensor RotatedWeights::rotate_layer_tensor(int layer, const std::string& part) const {
  const std::string p = layer_prefix(layer);
  const auto& Q = residual_.q;
  if (part == "input_layernorm.weight" || part == "post_attention_layernorm.weight") {
    return torch::ones({cfg_.hidden_size}, torch::kFloat32);
  }
  const int64_t D = cfg_.hidden_size, hd = cfg_.head_dim;
  auto per_head_rows = [&](const torch::Tensor& w) {  // [heads*hd, ...] -> H_d^T per head
    auto v = w.reshape({-1, hd, w.dim() == 2 ? w.size(1) : 1});
    return torch::matmul(head_.q.t(), v).reshape(w.sizes());
  };
  auto x = f64(base_->load(p + part));
  const bool weight = part.size() > 7 && part.compare(part.size() - 7, 7, ".weight") == 0;
  const std::string linear = weight ? part.substr(0, part.size() - 7) : part.substr(0, part.rfind('.'));
  if (linear == "self_attn.q_proj" || linear == "self_attn.k_proj" || linear == "self_attn.v_proj" ||
      linear == "mlp.gate_proj" || linear == "mlp.up_proj") {
    const bool attn = linear.rfind("self_attn.", 0) == 0;
    if (weight) {
      const auto g = f64(base_->load(p + (attn ? "input_layernorm.weight" : "post_attention_layernorm.weight")));
      x = torch::matmul(x * g.unsqueeze(0), Q);
    }
    if (linear == "self_attn.v_proj" && spec_.online_kv) x = per_head_rows(x);  // weight rows and bias
    return f32(x);
  }
  if (linear == "self_attn.o_proj" || linear == "mlp.down_proj") {
    if (weight) {
      if (linear == "self_attn.o_proj" && spec_.online_kv) {
        x = torch::matmul(x.reshape({D, -1, hd}), head_.q).reshape({D, -1});
      }
      if (linear == "mlp.down_proj" && spec_.online_down_proj) x = torch::matmul(x, down_.q);
      return f32(torch::matmul(Q.t(), x));
    }
    return f32(torch::matmul(x, Q));  // a writer's bias b -> Q^T b
  }
  return f32(x);
}

}  // namespace ptq::model
