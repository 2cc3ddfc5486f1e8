#include "calibration/input_stats.hpp"

#include <cblas.h>

#include <atomic>
#include <cmath>
#include <cstring>

#include "core/error.hpp"

namespace ptq::calib {

InputStats::InputStats(int64_t channels, bool fp64_xtx)
    : channels_(channels), fp64_(fp64_xtx), xtx_({channels, channels}), abs_sum_({channels}), sq_sum_({channels}) {
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
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
  torch::Tensor abs_part = torch::zeros({C}, torch::kFloat64), sq_part = torch::zeros({C}, torch::kFloat64);
  double* abs_sum = abs_part.data_ptr<double>();
  double* sq_sum = sq_part.data_ptr<double>();
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
  abs_sum_.add(abs_part);
  sq_sum_.add(sq_part);
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
    abs_sum_.add(ax.sum(0, false, torch::kFloat64).cpu());
    sq_sum_.add((x * x).sum(0, false, torch::kFloat64).cpu());
  }

  // This batch's x^T x from zero, then into the exact running sum.
  if (x.is_cpu()) {
    // Upper triangle: syrk with A = x stored row-major [n, C] and A^T A requested.
    const int C = static_cast<int>(channels_), N = static_cast<int>(n);
    if (fp64_) {
      const auto xd = x.to(torch::kFloat64).contiguous();
      auto part = torch::zeros({channels_, channels_}, torch::kFloat64);
      cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, C, N, 1.0, xd.data_ptr<double>(), C, 0.0, part.data_ptr<double>(), C);
      xtx_.add(part);
    } else {
      auto part = torch::zeros({channels_, channels_}, torch::kFloat32);
      cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, C, N, 1.0f, x.data_ptr<float>(), C, 0.0f, part.data_ptr<float>(), C);
      xtx_.add(part);
    }
  } else {
    const auto dt = fp64_ ? torch::kFloat64 : torch::kFloat32;
    xtx_.add(x.t().to(dt).matmul(x.to(dt)).triu().cpu());
  }
  count_ += n;
}

namespace {

// The symmetric matrix from the upper triangle of hi + lo, each entry rounded once to fp64 and then
// to T, written in place: no full-size temporaries (at Llama-2-7B's MLP width each one is 0.5-1 GB).
// "+ T(0)" keeps the values of the former upper + upper.triu(1).t() exactly (a -0 becomes +0).
template <typename T>
void symmetric_from_upper(const double* hi, const double* lo, int64_t C, T* out) {
  at::parallel_for(0, C, 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      for (int64_t j = i; j < C; ++j) {
        const T v = static_cast<T>(hi[i * C + j] + lo[i * C + j]) + T(0);
        out[i * C + j] = v;
        out[j * C + i] = v;
      }
    }
  });
}

}  // namespace

torch::Tensor InputStats::xtx() const {
  const int64_t C = channels_;
  const double* hi = xtx_.hi().data_ptr<double>();
  const double* lo = xtx_.lo().data_ptr<double>();
  if (fp64_) {
    auto out = torch::empty({C, C}, torch::kFloat64);
    symmetric_from_upper(hi, lo, C, out.data_ptr<double>());
    return out;
  }
  auto out = torch::empty({C, C}, torch::kFloat32);
  symmetric_from_upper(hi, lo, C, out.data_ptr<float>());
  return out;
}

void InputStats::merge(const InputStats& o, const std::string& where) {
  if (o.channels_ != channels_) {
    fail(where, "cannot add statistics of " + std::to_string(o.channels_) + " channels to " +
                    std::to_string(channels_));
  }
  if (o.count_ == 0) return;
  xtx_.merge(o.xtx_);
  abs_sum_.merge(o.abs_sum_);
  sq_sum_.merge(o.sq_sum_);
  abs_max_ = torch::maximum(abs_max_, o.abs_max_);
  min_ = torch::minimum(min_, o.min_);
  max_ = torch::maximum(max_, o.max_);
  count_ += o.count_;
}

std::vector<torch::Tensor> InputStats::exact_state() const {
  return {torch::tensor({count_}, torch::kInt64), xtx_.hi(), xtx_.lo(), abs_sum_.hi(), abs_sum_.lo(), sq_sum_.hi(),
          sq_sum_.lo(), abs_max_, min_, max_};
}

InputStats InputStats::from_exact_state(const std::vector<torch::Tensor>& st, bool fp64_xtx, const std::string& where) {
  if (st.size() != 10 || st[0].numel() != 1) fail(where, "statistics message has the wrong layout");
  const int64_t c = st[3].numel();
  const std::vector<int64_t> square{c, c}, vec{c};
  for (int i = 1; i < 10; ++i) {
    if (st[i].sizes() != torch::IntArrayRef(i <= 2 ? square : vec)) fail(where, "statistics message has the wrong shapes");
  }
  InputStats s;
  s.channels_ = c;
  s.count_ = st[0].item<int64_t>();
  s.fp64_ = fp64_xtx;
  s.xtx_ = ExactSum::from_parts(st[1], st[2]);
  s.abs_sum_ = ExactSum::from_parts(st[3], st[4]);
  s.sq_sum_ = ExactSum::from_parts(st[5], st[6]);
  s.abs_max_ = st[7].to(torch::kFloat32);
  s.min_ = st[8].to(torch::kFloat32);
  s.max_ = st[9].to(torch::kFloat32);
  return s;
}

torch::Tensor InputStats::hessian() const {
  if (count_ == 0) return torch::zeros({channels_, channels_});
  return (xtx() * (2.0 / static_cast<double>(count_))).to(torch::kFloat32);
}

torch::Tensor InputStats::abs_mean() const {
  return (abs_sum() / std::max<int64_t>(count_, 1)).to(torch::kFloat32);
}

torch::Tensor InputStats::sq_mean() const {
  return (sq_sum() / std::max<int64_t>(count_, 1)).to(torch::kFloat32);
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
  s.xtx_ = ExactSum::of(xtx.triu());
  s.abs_sum_ = ExactSum::of(abs_sum);
  s.sq_sum_ = ExactSum::of(sq_sum);
  s.abs_max_ = abs_max.to(torch::kFloat32);
  s.min_ = min.to(torch::kFloat32);
  s.max_ = max.to(torch::kFloat32);
  return s;
}

}  // namespace ptq::calib
