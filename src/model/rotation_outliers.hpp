// A test model for rotations and smoothing: an exact reparametrisation of a model with strong
// activation outlier channels. A few residual channels c get their RMSNorm weights multiplied by
// `factor` in every decoder layer (input and post-attention norms) and the columns c of the linear
// layers reading those norms (q/k/v, gate/up) divided by it, so the function is unchanged (up to
// float rounding) but the inputs of those linear layers carry channels `factor` times larger, the
// outliers that make per-token activation quantization fail (SmoothQuant's and QuaRot's setting).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/weight_source.hpp"

namespace ptq::model {

class OutlierChannels : public WeightSource {
 public:
  // Throws ptq::Error for a factor <= 0, or a channel count outside 1..hidden_size.
  OutlierChannels(std::shared_ptr<WeightSource> base, int num_channels, double factor);

  const ModelConfig& config() const override { return base_->config(); }
  std::vector<TensorInfo> tensors() const override;
  bool has(const std::string& name) const override { return base_->has(name); }
  torch::Tensor load(const std::string& name) const override;
  std::string format() const override { return "outlier-channels " + base_->format(); }
  std::string path() const override { return base_->path(); }

  const std::vector<int64_t>& channels() const { return channels_; }

 private:
  std::shared_ptr<WeightSource> base_;
  std::vector<int64_t> channels_;  // evenly spread over the hidden size
  double factor_;
};

}  // namespace ptq::model
