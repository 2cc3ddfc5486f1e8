#include "eval/kl_divergence.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <memory>

#include "core/error.hpp"
#include "eval/windows.hpp"

namespace ptq::eval {

namespace {

// llama-perplexity's mean_and_uncertainty: the mean and its standard error, the error left at 0 for
// ten tokens or fewer.
std::pair<double, double> mean_and_uncertainty(double sum, double sum2, int64_t n) {
  const double mean = sum / double(n);
  const double var = sum2 / double(n) - mean * mean;
  return {mean, var > 0 && n > 10 ? std::sqrt(var / double(n - 1)) : 0.0};
}

// llama-perplexity's covariance of two means (0 below ten tokens).
double covariance(double sum_a, double sum_b, double sum_ab, int64_t n) {
  if (n < 10) return 0.0;
  const double c = sum_ab / double(n) - (sum_a / double(n)) * (sum_b / double(n));
  return c / double(n - 1);
}

// llama-perplexity's percentile of sorted values: linear interpolation at fraction * (n - 1), in
// float as it does it (the position's rounding matters on large counts).
double percentile(const std::vector<float>& sorted, float fraction) {
  if (fraction <= 0) return sorted.front();
  if (fraction >= 1) return sorted.back();
  float p = fraction * float(sorted.size() - 1);
  const size_t ip = size_t(p);
  p -= float(ip);
  return (1 - p) * sorted[ip] + p * sorted[std::min(ip + 1, sorted.size() - 1)];
}

double median(const std::vector<float>& sorted) {
  const size_t n = sorted.size();
  return n % 2 == 0 ? 0.5f * (sorted[n / 2] + sorted[n / 2 - 1]) : sorted[n / 2];
}

void append(std::vector<float>& to, const torch::Tensor& values) {
  const auto f = values.to(torch::kFloat32).contiguous();
  to.insert(to.end(), f.data_ptr<float>(), f.data_ptr<float>() + f.numel());
}

}  // namespace

void KlAccumulator::add(const torch::Tensor& kl, const torch::Tensor& same, const torch::Tensor& target_logp_ref,
                        const torch::Tensor& target_logp_q) {
  const auto nll = -target_logp_q, nll_ref = -target_logp_ref;
  const auto dp = target_logp_q.exp() - target_logp_ref.exp();
  const auto dp2 = dp * dp;
  nll_ += nll.sum().item<double>();
  nll2_ += (nll * nll).sum().item<double>();
  nll_ref_ += nll_ref.sum().item<double>();
  nll_ref2_ += (nll_ref * nll_ref).sum().item<double>();
  nll_nll_ref_ += (nll * nll_ref).sum().item<double>();
  kl_sum_ += kl.sum().item<double>();
  kl_sum2_ += (kl * kl).sum().item<double>();
  dp_sum_ += dp.sum().item<double>();
  dp_sum2_ += dp2.sum().item<double>();
  dp_sum4_ += (dp2 * dp2).sum().item<double>();
  agree_ += same.sum().item<double>();
  append(kls_, kl);
  append(dps_, dp);
}

void KlAccumulator::merge(const KlAccumulator& o) {
  nll_ += o.nll_;
  nll2_ += o.nll2_;
  nll_ref_ += o.nll_ref_;
  nll_ref2_ += o.nll_ref2_;
  nll_nll_ref_ += o.nll_nll_ref_;
  kl_sum_ += o.kl_sum_;
  kl_sum2_ += o.kl_sum2_;
  dp_sum_ += o.dp_sum_;
  dp_sum2_ += o.dp_sum2_;
  dp_sum4_ += o.dp_sum4_;
  agree_ += o.agree_;
  kls_.insert(kls_.end(), o.kls_.begin(), o.kls_.end());
  dps_.insert(dps_.end(), o.dps_.begin(), o.dps_.end());
}

KlResult KlAccumulator::finish(const KlOptions& opt, int64_t windows, double seconds) {
  KlResult r;
  r.protocol = opt.protocol;
  r.seqlen = opt.seqlen;
  r.windows = windows;
  r.seconds = seconds;
  const int64_t n = r.tokens_scored = static_cast<int64_t>(kls_.size());
  if (n == 0) fail("kl-divergence", "no scored tokens");

  const auto [ln_ppl, ln_ppl_err] = mean_and_uncertainty(nll_, nll2_, n);
  const auto [ln_ppl_ref, ln_ppl_ref_err] = mean_and_uncertainty(nll_ref_, nll_ref2_, n);
  const double cov = covariance(nll_, nll_ref_, nll_nll_ref_, n);
  r.ppl = std::exp(ln_ppl);
  r.ppl_stderr = r.ppl * ln_ppl_err;
  r.ppl_reference = std::exp(ln_ppl_ref);
  r.ppl_reference_stderr = r.ppl_reference * ln_ppl_ref_err;
  r.ln_ppl_correlation = ln_ppl_err > 0 && ln_ppl_ref_err > 0 ? cov / (ln_ppl_err * ln_ppl_ref_err) : 0.0;
  r.ln_ppl_ratio = ln_ppl - ln_ppl_ref;
  r.ln_ppl_ratio_stderr =
      std::sqrt(std::max(0.0, ln_ppl_err * ln_ppl_err + ln_ppl_ref_err * ln_ppl_ref_err - 2.0 * cov));
  r.ppl_ratio = std::exp(r.ln_ppl_ratio);
  r.ppl_ratio_stderr = r.ppl_ratio * r.ln_ppl_ratio_stderr;
  r.ppl_diff = r.ppl - r.ppl_reference;
  r.ppl_diff_stderr = std::sqrt(std::max(0.0, r.ppl_stderr * r.ppl_stderr + r.ppl_reference_stderr * r.ppl_reference_stderr -
                                                   2.0 * r.ppl * r.ppl_reference * cov));

  std::tie(r.mean_kl, r.kl_stderr) = mean_and_uncertainty(kl_sum_, kl_sum2_, n);
  std::sort(kls_.begin(), kls_.end());
  r.kl_max = kls_.back();
  r.kl_p999 = percentile(kls_, 0.999f);
  r.kl_p99 = percentile(kls_, 0.990f);
  r.kl_p95 = percentile(kls_, 0.950f);
  r.kl_p90 = percentile(kls_, 0.900f);
  r.kl_median = median(kls_);
  r.kl_p10 = percentile(kls_, 0.100f);
  r.kl_p05 = percentile(kls_, 0.050f);
  r.kl_p01 = percentile(kls_, 0.010f);
  r.kl_p001 = percentile(kls_, 0.001f);
  r.kl_min = kls_.front();

  std::tie(r.mean_delta_p, r.delta_p_stderr) = mean_and_uncertainty(dp_sum_, dp_sum2_, n);
  std::sort(dps_.begin(), dps_.end());
  r.dp_max = dps_.back();
  r.dp_p999 = percentile(dps_, 0.999f);
  r.dp_p99 = percentile(dps_, 0.990f);
  r.dp_p95 = percentile(dps_, 0.950f);
  r.dp_p90 = percentile(dps_, 0.900f);
  r.dp_p75 = percentile(dps_, 0.750f);
  r.dp_median = median(dps_);
  r.dp_p25 = percentile(dps_, 0.250f);
  r.dp_p10 = percentile(dps_, 0.100f);
  r.dp_p05 = percentile(dps_, 0.050f);
  r.dp_p01 = percentile(dps_, 0.010f);
  r.dp_p001 = percentile(dps_, 0.001f);
  r.dp_min = dps_.front();
  const auto [mse, mse_err] = mean_and_uncertainty(dp_sum2_, dp_sum4_, n);
  r.rms_delta_p = std::sqrt(mse);
  r.rms_delta_p_stderr = r.rms_delta_p > 0 ? 0.5 / r.rms_delta_p * mse_err : 0.0;

  r.top1_agreement = agree_ / double(n);
  r.top1_stderr = n > 1 ? std::sqrt(r.top1_agreement * (1 - r.top1_agreement) / double(n - 1)) : 0.0;
  return r;
}

LayerMajorOptions layer_major_options(const KlOptions& opt, const char* label) {
  LayerMajorOptions lm;
  lm.batch = opt.batch;
  lm.max_hidden_bytes = opt.max_hidden_bytes;
  lm.progress = opt.progress;
  lm.label = label;
  return lm;
}

void kl_divergence_partial(model::Model& reference, model::Model& model, const std::vector<int>& tokens,
                           const KlOptions& opt, int64_t w_begin, int64_t w_end, KlAccumulator& acc) {
  torch::NoGradGuard no_grad;
  if (reference.config().vocab_size != model.config().vocab_size) {
    fail("kl-divergence", "the models' vocabularies differ (" + std::to_string(reference.config().vocab_size) +
                              " and " + std::to_string(model.config().vocab_size) + " tokens)");
  }
  const WindowPlan plan = plan_windows(opt.protocol, opt.seqlen, opt.max_windows, tokens.size(),
                                       reference.config().bos_token_id, "kl-divergence");
  evaluate_windows({&reference, &model}, {}, plan, tokens, w_begin, w_end, opt.traversal,
                   layer_major_options(opt, "KL divergence"),
                   [&](int64_t w0, int64_t b, const std::vector<torch::Tensor>& logits) {
                     const auto targets = plan.targets(tokens, w0, b).unsqueeze(-1);
                     auto lp_ref = torch::log_softmax(logits[0].narrow(1, plan.first, plan.scored).to(torch::kFloat64), -1);
                     auto lp_q = torch::log_softmax(logits[1].narrow(1, plan.first, plan.scored).to(torch::kFloat64), -1);
                     if (!torch::isfinite(lp_q).all().item<bool>() || !torch::isfinite(lp_ref).all().item<bool>()) {
                       fail("kl-divergence", "non-finite log-probabilities in windows " + std::to_string(w0) + ".." +
                                                 std::to_string(w0 + b - 1));
                     }
                     const auto kl = (lp_ref.exp() * (lp_ref - lp_q)).sum(-1).clamp_min(0.0).reshape({-1});
                     const auto same = (lp_ref.argmax(-1) == lp_q.argmax(-1)).to(torch::kFloat64).reshape({-1});
                     acc.add(kl, same, lp_ref.gather(-1, targets).reshape({-1}), lp_q.gather(-1, targets).reshape({-1}));
                   });
}

KlResult kl_divergence(model::Model& reference, model::Model& model, const std::vector<int>& tokens,
                       const KlOptions& opt) {
  const WindowPlan plan = plan_windows(opt.protocol, opt.seqlen, opt.max_windows, tokens.size(),
                                       reference.config().bos_token_id, "kl-divergence");
  const auto t0 = std::chrono::steady_clock::now();
  KlAccumulator acc;
  kl_divergence_partial(reference, model, tokens, opt, 0, plan.windows, acc);
  return acc.finish(opt, plan.windows, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

nlohmann::json to_json(const KlResult& r) {
  return {{"protocol", r.protocol},
          {"seqlen", r.seqlen},
          {"windows", r.windows},
          {"tokens_scored", r.tokens_scored},
          {"mean_kl", r.mean_kl},
          {"kl_stderr", r.kl_stderr},
          {"kl_max", r.kl_max},
          {"kl_p999", r.kl_p999},
          {"kl_p99", r.kl_p99},
          {"kl_p95", r.kl_p95},
          {"kl_p90", r.kl_p90},
          {"kl_median", r.kl_median},
          {"kl_p10", r.kl_p10},
          {"kl_p05", r.kl_p05},
          {"kl_p01", r.kl_p01},
          {"kl_p001", r.kl_p001},
          {"kl_min", r.kl_min},
          {"mean_delta_p", r.mean_delta_p},
          {"delta_p_stderr", r.delta_p_stderr},
          {"delta_p_percentiles", {{"max", r.dp_max}, {"p99.9", r.dp_p999}, {"p99", r.dp_p99}, {"p95", r.dp_p95},
                                   {"p90", r.dp_p90}, {"p75", r.dp_p75}, {"median", r.dp_median}, {"p25", r.dp_p25},
                                   {"p10", r.dp_p10}, {"p5", r.dp_p05}, {"p1", r.dp_p01}, {"p0.1", r.dp_p001},
                                   {"min", r.dp_min}}},
          {"rms_delta_p", r.rms_delta_p},
          {"rms_delta_p_stderr", r.rms_delta_p_stderr},
          {"top1_agreement", r.top1_agreement},
          {"top1_stderr", r.top1_stderr},
          {"ppl", r.ppl},
          {"ppl_stderr", r.ppl_stderr},
          {"ppl_reference", r.ppl_reference},
          {"ppl_reference_stderr", r.ppl_reference_stderr},
          {"ln_ppl_correlation", r.ln_ppl_correlation},
          {"ln_ppl_ratio", r.ln_ppl_ratio},
          {"ln_ppl_ratio_stderr", r.ln_ppl_ratio_stderr},
          {"ppl_ratio", r.ppl_ratio},
          {"ppl_ratio_stderr", r.ppl_ratio_stderr},
          {"ppl_diff", r.ppl_diff},
          {"ppl_diff_stderr", r.ppl_diff_stderr},
          {"seconds", r.seconds}};
}

void print_llamacpp_kl(std::ostream& out, const KlResult& r) {
  char line[160];
  auto put = [&](const char* fmt, auto... v) {
    std::snprintf(line, sizeof line, fmt, v...);
    out << line;
  };
  put("====== Perplexity statistics ======\n");
  put("Mean PPL(Q)                   : %10.6lf ± %10.6lf\n", r.ppl, r.ppl_stderr);
  put("Mean PPL(base)                : %10.6lf ± %10.6lf\n", r.ppl_reference, r.ppl_reference_stderr);
  put("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2lf%%\n", 100.0 * r.ln_ppl_correlation);
  put("Mean ln(PPL(Q)/PPL(base))     : %10.6lf ± %10.6lf\n", r.ln_ppl_ratio, r.ln_ppl_ratio_stderr);
  put("Mean PPL(Q)/PPL(base)         : %10.6lf ± %10.6lf\n", r.ppl_ratio, r.ppl_ratio_stderr);
  put("Mean PPL(Q)-PPL(base)         : %10.6lf ± %10.6lf\n", r.ppl_diff, r.ppl_diff_stderr);
  put("\n====== KL divergence statistics ======\n");
  put("Mean    KLD: %10.6lf ± %10.6lf\n", r.mean_kl, r.kl_stderr);
  const std::pair<const char*, double> kl_rows[] = {
      {"Maximum", r.kl_max}, {"99.9%  ", r.kl_p999}, {"99.0%  ", r.kl_p99}, {"95.0%  ", r.kl_p95},
      {"90.0%  ", r.kl_p90}, {"Median ", r.kl_median}, {"10.0%  ", r.kl_p10}, {" 5.0%  ", r.kl_p05},
      {" 1.0%  ", r.kl_p01}, {" 0.1%  ", r.kl_p001}, {"Minimum", r.kl_min}};
  for (const auto& [label, v] : kl_rows) put("%s KLD: %10.6f\n", label, v);
  put("\n====== Token probability statistics ======\n");
  put("Mean    Δp: %6.3lf ± %5.3lf %%\n", 100.0 * r.mean_delta_p, 100.0 * r.delta_p_stderr);
  const std::pair<const char*, double> dp_rows[] = {
      {"Maximum", r.dp_max}, {"99.9%  ", r.dp_p999}, {"99.0%  ", r.dp_p99}, {"95.0%  ", r.dp_p95},
      {"90.0%  ", r.dp_p90}, {"75.0%  ", r.dp_p75},  {"Median ", r.dp_median}, {"25.0%  ", r.dp_p25},
      {"10.0%  ", r.dp_p10}, {" 5.0%  ", r.dp_p05},  {" 1.0%  ", r.dp_p01},   {" 0.1%  ", r.dp_p001},
      {"Minimum", r.dp_min}};
  for (const auto& [label, v] : dp_rows) put("%s Δp: %6.3lf%%\n", label, 100.0 * v);
  put("RMS Δp    : %6.3lf ± %5.3lf %%\n", 100.0 * r.rms_delta_p, 100.0 * r.rms_delta_p_stderr);
  put("Same top p: %6.3lf ± %5.3lf %%\n", 100.0 * r.top1_agreement, 100.0 * r.top1_stderr);
}

}  // namespace ptq::eval
