// A weight source that serves some tensors replaced (quantized-then-dequantized copies) and every
// other tensor from the wrapped source, so a model can be built with just those tensors quantized.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "model/weight_source.hpp"

namespace ptq::mixed {

class OverrideSource : public model::WeightSource {
 public:
  OverrideSource(std::shared_ptr<const model::WeightSource> base, std::map<std::string, torch::Tensor> replaced)
      : base_(std::move(base)), replaced_(std::move(replaced)) {}
  const model::ModelConfig& config() const override { return base_->config(); }
  std::vector<model::TensorInfo> tensors() const override { return base_->tensors(); }
  bool has(const std::string& name) const override { return base_->has(name); }
  torch::Tensor load(const std::string& name) const override {
    const auto it = replaced_.find(name);
    return it == replaced_.end() ? base_->load(name) : it->second.clone();
  }
  std::string format() const override { return base_->format(); }
  std::string path() const override { return base_->path(); }

 private:
  std::shared_ptr<const model::WeightSource> base_;
  std::map<std::string, torch::Tensor> replaced_;
};

}  // namespace ptq::mixed
