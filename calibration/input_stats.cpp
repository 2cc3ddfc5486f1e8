#include "calibration/input_stats.hpp"

#include <cblas.h>

#include <atomic>
#include <cmath>
#include <cstring>

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

// The per-channel sums in one pass over x [n, C] (instead of one tensor operation per statistic):
// threads take disjoint column ranges, so no two write the same accumulator, and within a range
// the column loop is contiguous and vectorises.
void InputStats::add_channel_sums_cpu(const torch::Tensor& x, const std::string& where) {
  const int64_t n = x.size(0), C = channels_;
  const float* xp = x.data_ptr<float>();
  double* abs_sum = abs_sum_.data_ptr<double>();
  double* sq_sum = sq_sum_.data_ptr<double>();
  float* amax = abs_max_.data_ptr<float>();
  float* mn = min_.data_ptr<float>();
  float* mx = max_.data_ptr<float>();
  // Checked before anything is added, so a bad batch leaves the accumulator as it was.
  std::atomic<bool> finite{true};
  at::parallel_for(0, n, 64, [&](int64_t b, int64_t e) {
    // An all-ones exponent is NaN or Inf; an integer test vectorises where isfinite() may not.
    uint32_t bad = 0;
    for (int64_t k = b * C; k < e * C; ++k) {
      uint32_t u;
      std::memcpy(&u, xp + k, 4);
      bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    if (bad) finite = false;
  });
  if (!finite) fail(where, "input activations hold NaN or Inf (" + std::to_string(n) + " tokens in this batch)");
  constexpr int64_t kColumns = 256;
  at::parallel_for(0, (C + kColumns - 1) / kColumns, 1, [&](int64_t b, int64_t e) {
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t c0 = blk * kColumns, c1 = std::min(C, c0 + kColumns);
      for (int64_t i = 0; i < n; ++i) {
        const float* row = xp + i * C;
        for (int64_t c = c0; c < c1; ++c) {
          const float v = row[c], a = std::fabs(v);
          abs_sum[c] += a;
          sq_sum[c] += double(v) * v;
          amax[c] = std::max(amax[c], a);
          mn[c] = std::min(mn[c], v);
          mx[c] = std::max(mx[c], v);
        }
      }
    }
  });
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
  if (x.is_cpu() && abs_max_.is_cpu()) {
    add_channel_sums_cpu(x, where);
  } else {
    const auto ax = x.abs();
    const auto amax = ax.amax(0);
    // amax propagates NaN and keeps Inf, so one check over the per-channel maxima covers every value.
    if (!torch::isfinite(amax).all().item<bool>()) {
      fail(where, "input activations hold NaN or Inf (" + std::to_string(n) + " tokens in this batch)");
    }
    const auto dev = abs_max_.device();
    abs_max_ = torch::maximum(abs_max_, amax.to(dev));
    min_ = torch::minimum(min_, x.amin(0).to(dev));
    max_ = torch::maximum(max_, x.amax(0).to(dev));
    abs_sum_ += ax.sum(0, false, torch::kFloat64).to(dev);
    sq_sum_ += (x * x).sum(0, false, torch::kFloat64).to(dev);
  }

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
  // Statistics come from a cache file that may be corrupt or from another tool: NaN or Inf here
  // would flow silently into every Hessian and scale computed from them.
  const std::pair<const torch::Tensor*, const char*> all[] = {{&xtx, "xtx"}, {&abs_sum, "abs_sum"}, {&sq_sum, "sq_sum"},
                                                              {&abs_max, "abs_max"}, {&min, "min"}, {&max, "max"}};
  for (const auto& [t, name] : all) {
    if (t->numel() > 0 && !torch::isfinite(*t).all().item<bool>()) {
      fail(where, std::string(name) + " holds NaN or Inf values (corrupted statistics?)");
    }
  }
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
