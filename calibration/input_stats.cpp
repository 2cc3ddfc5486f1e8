#include "calibration/input_stats.hpp"

#include <cblas.h>

#include "core/error.hpp"

namespace ptq::calib {

InputStats::InputStats(int64_t channels, bool fp64_xtx) : channels_(channels), fp64_(fp64_xtx) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64);
  xtx_ = torch::zeros({channels, channels}, fp64_xtx ? f64 : f32);
  abs_sum_ = torch::zeros({channels}, f64);
  sq_sum_ = torch::zeros({channels}, f64);
  abs_max_ = torch::zeros({channels}, f32);
  min_ = torch::full({channels}, std::numeric_limits<float>::infinity(), f32);
  max_ = torch::full({channels}, -std::numeric_limits<float>::infinity(), f32);
}

void InputStats::add(const torch::Tensor& x_in, const std::string& where) {
  torch::NoGradGuard no_grad;
  if (x_in.size(-1) != channels_) {
    fail(where, "input has " + std::to_string(x_in.size(-1)) + " channels, statistics expect " +
                    std::to_string(channels_));
  }
  const auto x = x_in.reshape({-1, channels_}).to(torch::kFloat32).contiguous();
  const int64_t n = x.size(0);
  if (n == 0) return;
  const auto ax = x.abs();
  const auto amax = ax.amax(0);
  // max() propagates NaN and keeps Inf, so one check over the per-channel maxima covers every value.
  if (!torch::isfinite(amax).all().item<bool>()) {
    fail(where, "input activations hold NaN or Inf (" + std::to_string(n) + " tokens in this batch)");
  }
  const auto dev = abs_max_.device();
  abs_max_ = torch::maximum(abs_max_, amax.to(dev));
  min_ = torch::minimum(min_, x.amin(0).to(dev));
  max_ = torch::maximum(max_, x.amax(0).to(dev));
  abs_sum_ += ax.sum(0, false, torch::kFloat64).to(dev);
  sq_sum_ += (x * x).sum(0, false, torch::kFloat64).to(dev);

  if (x.is_cpu() && xtx_.is_cpu()) {
    // Upper triangle of x^T x: syrk with A = x stored row-major [n, C] and A^T A requested.
    const int C = static_cast<int>(channels_), N = static_cast<int>(n);
    if (fp64_) {
      const auto xd = x.to(torch::kFloat64).contiguous();
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, C, N, 1.0, xd.data_ptr<double>(), C, 1.0,
                  xtx_.data_ptr<double>(), C);
    } else {
      cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, C, N, 1.0f, x.data_ptr<float>(), C, 1.0f,
                  xtx_.data_ptr<float>(), C);
    }
    upper_only_ = true;
  } else {
    xtx_ = xtx_.to(x.device());
    if (upper_only_) {
      xtx_ = xtx_.triu() + xtx_.triu(1).t();
      upper_only_ = false;
    }
    xtx_.addmm_(x.t().to(xtx_.dtype()), x.to(xtx_.dtype()));
  }
  count_ += n;
}

torch::Tensor InputStats::xtx() const {
  if (!upper_only_) return xtx_.clone();
  return xtx_.triu() + xtx_.triu(1).t();
}

void InputStats::merge(const InputStats& o, const std::string& where) {
  if (o.channels_ != channels_) {
    fail(where, "cannot add statistics of " + std::to_string(o.channels_) + " channels to " +
                    std::to_string(channels_));
  }
  if (o.count_ == 0) return;
  auto sum = xtx() + o.xtx().to(xtx_.dtype()).to(xtx_.device());
  xtx_ = sum;
  upper_only_ = false;
  abs_sum_ += o.abs_sum_;
  sq_sum_ += o.sq_sum_;
  abs_max_ = torch::maximum(abs_max_, o.abs_max_);
  min_ = torch::minimum(min_, o.min_);
  max_ = torch::maximum(max_, o.max_);
  count_ += o.count_;
}

torch::Tensor InputStats::hessian() const {
  if (count_ == 0) return torch::zeros({channels_, channels_});
  return (xtx() * (2.0 / static_cast<double>(count_))).to(torch::kFloat32);
}

torch::Tensor InputStats::abs_mean() const {
  return (abs_sum_ / std::max<int64_t>(count_, 1)).to(torch::kFloat32);
}

torch::Tensor InputStats::sq_mean() const {
  return (sq_sum_ / std::max<int64_t>(count_, 1)).to(torch::kFloat32);
}

InputStats InputStats::from_sums(int64_t count, torch::Tensor xtx, torch::Tensor abs_sum, torch::Tensor sq_sum,
                                 torch::Tensor abs_max, torch::Tensor min, torch::Tensor max,
                                 const std::string& where) {
  const int64_t c = abs_sum.numel();
  auto check = [&](const torch::Tensor& t, const char* name, std::vector<int64_t> shape) {
    if (t.sizes() != torch::IntArrayRef(shape)) fail(where, std::string(name) + " has the wrong shape");
  };
  check(xtx, "xtx", {c, c});
  for (auto* p : {&abs_sum, &sq_sum, &abs_max, &min, &max}) check(*p, "per-channel statistic", {c});
  if (count < 0) fail(where, "negative token count");
  InputStats s;
  s.channels_ = c;
  s.count_ = count;
  s.fp64_ = xtx.scalar_type() == torch::kFloat64;
  s.xtx_ = s.fp64_ ? xtx : xtx.to(torch::kFloat32);
  s.abs_sum_ = abs_sum.to(torch::kFloat64);
  s.sq_sum_ = sq_sum.to(torch::kFloat64);
  s.abs_max_ = abs_max.to(torch::kFloat32);
  s.min_ = min.to(torch::kFloat32);
  s.max_ = max.to(torch::kFloat32);
  return s;
}

}  // namespace ptq::calib
