#include "calibration/exact_sum.hpp"

#include "core/error.hpp"

namespace ptq::calib {

namespace {

// hi + lo += a + b exactly (TwoSum of the high parts, the error carried into the low part).
// Elements are independent, so threads split the range. T is float or double: a float term is
// widened element by element (exact), so no fp64 copy of it is ever made (at Llama-2-7B's MLP
// width that copy would be 1 GB).
template <typename T>
void add_pairs(double* hi, double* lo, const T* a_hi, const double* a_lo, int64_t n) {
  at::parallel_for(0, n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const double x = static_cast<double>(a_hi[i]);
      const double s = hi[i] + x;
      const double bp = s - hi[i];
      const double err = (hi[i] - (s - bp)) + (x - bp);
      hi[i] = s;
      lo[i] += err + (a_lo ? a_lo[i] : 0.0);
    }
  });
}

}  // namespace

ExactSum::ExactSum(std::vector<int64_t> shape) {
  hi_ = torch::zeros(shape, torch::kFloat64);
  lo_ = torch::zeros(shape, torch::kFloat64);
}

ExactSum ExactSum::of(const torch::Tensor& value) {
  ExactSum s;
  s.hi_ = value.to(torch::kFloat64).cpu().contiguous().clone();
  s.lo_ = torch::zeros_like(s.hi_);
  return s;
}

ExactSum ExactSum::from_parts(torch::Tensor hi, torch::Tensor lo) {
  if (hi.sizes() != lo.sizes()) fail("exact sum", "high and low parts differ in shape");
  ExactSum s;
  s.hi_ = hi.to(torch::kFloat64).cpu().contiguous();
  s.lo_ = lo.to(torch::kFloat64).cpu().contiguous();
  return s;
}

void ExactSum::add(const torch::Tensor& term) {
  if (term.sizes() != hi_.sizes()) fail("exact sum", "term shape differs from the sum's");
  if (term.is_cpu() && term.is_contiguous() && term.scalar_type() == torch::kFloat32) {
    add_pairs(hi_.data_ptr<double>(), lo_.data_ptr<double>(), term.data_ptr<float>(), nullptr, hi_.numel());
    return;
  }
  const auto t = term.to(torch::kFloat64).cpu().contiguous();  // fp32 -> fp64 is exact
  add_pairs(hi_.data_ptr<double>(), lo_.data_ptr<double>(), t.data_ptr<double>(), nullptr, hi_.numel());
}

void ExactSum::merge(const ExactSum& o) {
  if (o.hi_.sizes() != hi_.sizes()) fail("exact sum", "merged sums differ in shape");
  add_pairs(hi_.data_ptr<double>(), lo_.data_ptr<double>(), o.hi_.data_ptr<double>(), o.lo_.data_ptr<double>(), hi_.numel());
}

torch::Tensor ExactSum::value() const { return hi_ + lo_; }

}  // namespace ptq::calib
