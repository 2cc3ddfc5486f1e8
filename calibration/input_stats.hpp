// Statistics of the input of a linear layer over the calibration tokens, kept as sums plus a count
// so shards from several processes or texts add up exactly; normalised only when read. Layers that
// read the same input (q/k/v, gate/up) share one InputStats.
//   xtx      sum of x x^T               [C, C]  read as fp32 (fp64 on request); H = 2/N * xtx
//   abs_sum  sum of |x| per channel     [C]     fp64; AWQ's statistic is abs_sum / N
//   sq_sum   sum of x^2 per channel     [C]     fp64; llama.cpp's importance matrix is sq_sum / N
//   abs_max, min, max per channel       [C]     fp32; SmoothQuant's statistic is abs_max
// Each add() computes its batch's sums from zero (x^T x by BLAS syrk in fp32, or fp64 on request;
// the per-channel sums in fp64) and adds them to exact running sums (calibration/exact_sum.hpp):
// the totals depend only on the batches, not on their order or on how they were split among
// processes and merged, so calibration on N ranks gives one process's statistics bit for bit.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "calibration/exact_sum.hpp"

namespace ptq::calib {

class CrossStats;  // calibration/cross_stats.hpp

class InputStats {
 public:
  InputStats() = default;
  // An empty accumulator for `channels` input channels.
  InputStats(int64_t channels, bool fp64_xtx);

  // Adds tokens x [..., C] (any float dtype, any device). The x x^T product runs through BLAS syrk
  // on CPU (half the flops of a general product); elsewhere through torch's addmm. Throws naming
  // `where` when x holds NaN or Inf.
  void add(const torch::Tensor& x, const std::string& where);
  // Adds another accumulator's sums (same channel count).
  void merge(const InputStats& other, const std::string& where);

  int64_t channels() const { return channels_; }
  int64_t count() const { return count_; }
  bool fp64() const { return fp64_; }
  bool empty() const { return count_ == 0; }

  // Sum of x x^T, symmetric (the accumulator keeps only the upper triangle until asked).
  torch::Tensor xtx() const;
  // H = 2/N sum x x^T in fp32, N the token count (the GPTQ Hessian up to a positive factor).
  torch::Tensor hessian() const;
  torch::Tensor abs_mean() const;  // fp32 [C]
  torch::Tensor sq_mean() const;   // fp32 [C]
  torch::Tensor abs_sum() const { return abs_sum_.value(); }
  torch::Tensor sq_sum() const { return sq_sum_.value(); }
  const torch::Tensor& abs_max() const { return abs_max_; }
  const torch::Tensor& min() const { return min_; }
  const torch::Tensor& max() const { return max_; }

  // GPTAQ's cross term sum (x_fp - x) x^T over the same tokens, present only when sequential
  // calibration carried the full-precision model alongside (null otherwise). Neither merged nor stored.
  const CrossStats* fp_cross() const { return fp_cross_.get(); }
  void set_fp_cross(std::shared_ptr<const CrossStats> c) { fp_cross_ = std::move(c); }

  // Rebuilds an accumulator from stored sums (the statistics store); checks shapes against `where`.
  static InputStats from_sums(int64_t count, torch::Tensor xtx, torch::Tensor abs_sum, torch::Tensor sq_sum,
                              torch::Tensor abs_max, torch::Tensor min, torch::Tensor max,
                              const std::string& where);

  // The exact state (count, the sums' high and low parts, the ranges) for sending to another
  // process, and back; from_exact_state checks shapes against `where`.
  std::vector<torch::Tensor> exact_state() const;
  static InputStats from_exact_state(const std::vector<torch::Tensor>& state, bool fp64_xtx, const std::string& where);

 private:
  void add_channel_sums_cpu(const torch::Tensor& x, const std::string& where);

  int64_t channels_ = 0, count_ = 0;
  bool fp64_ = false;
  ExactSum xtx_;  // the upper triangle of sum x x^T (the lower one stays zero)
  ExactSum abs_sum_, sq_sum_;
  torch::Tensor abs_max_, min_, max_;
  std::shared_ptr<const CrossStats> fp_cross_;
};

}  // namespace ptq::calib
