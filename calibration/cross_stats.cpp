#include "calibration/cross_stats.hpp"

#include "core/error.hpp"

namespace ptq::calib {

CrossStats::CrossStats(int64_t channels, bool fp64) : channels_(channels) {
  sum_ = torch::zeros({channels, channels}, torch::TensorOptions().dtype(fp64 ? torch::kFloat64 : torch::kFloat32));
}

void CrossStats::add(const torch::Tensor& x_fp_in, const torch::Tensor& x_in, const std::string& where) {
  torch::NoGradGuard no_grad;
  if (x_fp_in.sizes() != x_in.sizes()) {
    fail(where, "full-precision and quantized inputs differ in shape: " + std::to_string(x_fp_in.numel()) + " vs " +
                    std::to_string(x_in.numel()) + " values");
  }
  if (x_in.size(-1) != channels_) {
    fail(where, "input has " + std::to_string(x_in.size(-1)) + " channels, statistics expect " + std::to_string(channels_));
  }
  const auto dt = sum_.scalar_type();
  const auto x = x_in.reshape({-1, channels_}).to(dt);
  const auto dx = x_fp_in.reshape({-1, channels_}).to(dt) - x;
  if (x.size(0) == 0) return;
  if (!torch::isfinite(dx).all().item<bool>()) fail(where, "full-precision or quantized input activations hold NaN or Inf");
  sum_ = sum_.to(x.device());
  sum_.addmm_(dx.t(), x);
  count_ += x.size(0);
}

torch::Tensor CrossStats::normalized() const {
  if (count_ == 0) return torch::zeros({channels_, channels_});
  return (sum_ * (2.0 / static_cast<double>(count_))).to(torch::kFloat32);
}

}  // namespace ptq::calib
