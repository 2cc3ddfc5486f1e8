// GPTAQ's asymmetric statistic of a linear layer's input: over the calibration tokens, the sum of
// (x_fp - x) x^T, where x is the input the quantized model gives the layer and x_fp the input the
// full-precision model gives it on the same token. Element [a][b] = sum_t (x_fp - x)[t][a] x[t][b]
// (the reference's dXXT). Kept as a sum plus a count, like InputStats; normalised as the Hessian is
// (2/N), so that GPTAQ reads it on the same scale as InputStats::hessian().
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace ptq::calib {

class CrossStats {
 public:
  CrossStats() = default;
  CrossStats(int64_t channels, bool fp64);

  // Adds the tokens of one batch: x_fp and x [..., C] of the same shape. Throws naming `where` for
  // mismatched shapes or non-finite values.
  void add(const torch::Tensor& x_fp, const torch::Tensor& x, const std::string& where);

  int64_t channels() const { return channels_; }
  int64_t count() const { return count_; }
  const torch::Tensor& sum() const { return sum_; }  // [C, C], fp32 or fp64
  // 2/N * sum in fp32 (zeros when empty): the scale of InputStats::hessian().
  torch::Tensor normalized() const;

 private:
  int64_t channels_ = 0, count_ = 0;
  torch::Tensor sum_;
};

}  // namespace ptq::calib
