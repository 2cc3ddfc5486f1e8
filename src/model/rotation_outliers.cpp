#include "model/rotation_outliers.hpp"

#include "core/error.hpp"

namespace ptq::model {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_norm_weight(const std::string& name) {
  return name.rfind("model.layers.", 0) == 0 &&
         (ends_with(name, ".input_layernorm.weight") || ends_with(name, ".post_attention_layernorm.weight"));
}

bool reads_a_norm(const std::string& name) {
  if (name.rfind("model.layers.", 0) != 0) return false;
  for (const char* l : {".self_attn.q_proj.weight", ".self_attn.k_proj.weight", ".self_attn.v_proj.weight",
                        ".mlp.gate_proj.weight", ".mlp.up_proj.weight"}) {
    if (ends_with(name, l)) return true;
  }
  return false;
}

}  // namespace

OutlierChannels::OutlierChannels(std::shared_ptr<WeightSource> base, int num_channels, double factor)
    : base_(std::move(base)), factor_(factor) {
  const int64_t D = base_->config().hidden_size;
  if (!(factor > 0)) fail(base_->path(), "outlier factor must be positive, got " + std::to_string(factor));
  if (num_channels < 1 || num_channels > D) {
    fail(base_->path(), "outlier channels must be 1.." + std::to_string(D) + ", got " + std::to_string(num_channels));
  }
  for (int64_t i = 0; i < num_channels; ++i) channels_.push_back((i * D / num_channels + 3) % D);
}

std::vector<TensorInfo> OutlierChannels::tensors() const {
  auto out = base_->tensors();
  for (auto& t : out) {
    if (is_norm_weight(t.name) || reads_a_norm(t.name)) {
      t.dtype = "F32";
      t.nbytes = 4;
      for (auto d : t.shape) t.nbytes *= static_cast<uint64_t>(d);
    }
  }
  return out;
}

torch::Tensor OutlierChannels::load(const std::string& name) const {
  auto t = base_->load(name);
  if (!is_norm_weight(name) && !reads_a_norm(name)) return t;
  auto idx = torch::tensor(channels_, torch::kInt64);
  t = t.to(torch::kFloat32).clone();
  if (is_norm_weight(name)) {
    t.index_put_({idx}, t.index({idx}) * factor_);
  } else {
    t.index_put_({torch::indexing::Slice(), idx}, t.index({torch::indexing::Slice(), idx}) / factor_);
  }
  return t;
}

}  // namespace ptq::model
