// A running sum of tensors that does not depend on the order of its terms: each element is kept as
// an unevaluated pair hi + lo of doubles (double-double), and every addend is added with Knuth's
// TwoSum, so the pair holds the exact sum as long as the sum and its smallest unit fit in 106 bits
// less log2(terms). Calibration statistics use it so that shards of the calibration windows summed
// on several ranks (or several texts) and merged in any grouping give the very same value as one
// process adding them one by one: value() rounds the exact sum once, to the nearest double.
// When the condition fails (an element whose terms span more than ~80 binary orders of magnitude,
// e.g. 1e24 and 1e-1 in one sum) the result is still within one rounding of the exact sum but may
// then depend on the grouping.
#pragma once
#include <torch/torch.h>

#include <vector>

namespace ptq::calib {

class ExactSum {
 public:
  ExactSum() = default;
  explicit ExactSum(std::vector<int64_t> shape);
  // From a value held exactly in fp64 (the low part zero).
  static ExactSum of(const torch::Tensor& value);
  // Adds a tensor of the same shape (fp32 or fp64, CPU; converted to fp64 exactly).
  void add(const torch::Tensor& term);
  void merge(const ExactSum& other);
  // hi + lo rounded once to fp64.
  torch::Tensor value() const;
  const torch::Tensor& hi() const { return hi_; }
  const torch::Tensor& lo() const { return lo_; }
  static ExactSum from_parts(torch::Tensor hi, torch::Tensor lo);
  bool defined() const { return hi_.defined(); }

 private:
  torch::Tensor hi_, lo_;  // fp64, contiguous, CPU
};

}  // namespace ptq::calib
