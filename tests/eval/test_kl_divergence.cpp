// KL divergence against a plain-loop oracle over the same logits, and its identities.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "algorithms/rtn/rtn.hpp"
#include "eval/kl_divergence.hpp"
#include "eval/perplexity.hpp"
#include "model/model_files.hpp"
#include "../support/shared_data.hpp"

using namespace ptq;

namespace {
std::shared_ptr<model::Model> load(const std::string& path) {
  std::shared_ptr<model::WeightSource> src = model::open_weights(path);
  auto m = std::make_shared<model::Model>(src);
  m->make_resident();
  return m;
}

std::vector<int> text_tokens(int n, int vocab) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  auto t = at::randint(3, vocab, {n}, gen);
  return std::vector<int>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + n);
}
}  // namespace

TEST_CASE("KL divergence of a model to itself is zero, with full agreement", "[eval][kl][stories260K]") {
  SHARED_FILE(path, "models/stories260K.bin");
  auto m = load(path);
  const auto tokens = text_tokens(64 * 6, 512);
  eval::KlOptions opt;
  opt.seqlen = 64;
  const auto r = eval::kl_divergence(*m, *m, tokens, opt);
  CHECK(r.windows == 6);
  CHECK(r.tokens_scored == 6 * 31);
  CHECK(r.mean_kl == 0.0);
  CHECK(r.kl_max == 0.0);
  CHECK(r.top1_agreement == 1.0);
  CHECK(r.mean_delta_p == 0.0);
  eval::PerplexityOptions po;
  po.seqlen = 64;
  CHECK(r.ppl == Approx(eval::perplexity(*m, tokens, po).ppl).epsilon(1e-12));
}

TEST_CASE("KL divergence of an RTN model equals a plain-loop computation on the same logits", "[eval][kl][stories260K]") {
  SHARED_FILE(path, "models/stories260K.bin");
  auto fp = load(path), q = load(path);
  algo::IntGrid grid;
  grid.bits = 3;
  for (int L = 0; L < q->config().num_layers; ++L) {
    auto w = q->layer(L);
    for (auto& [name, t] : w.linear) t = algo::rtn_quantize(t, grid).dequantize();
    q->set_layer(L, w);
  }
  const int64_t n = 32;
  const auto tokens = text_tokens(n * 4, 512);
  for (const char* protocol : {"llamacpp", "gptq"}) {
    INFO(protocol);
    eval::KlOptions opt;
    opt.seqlen = n;
    opt.protocol = protocol;
    opt.batch = 3;  // a partial last batch
    const auto r = eval::kl_divergence(*fp, *q, tokens, opt);
    // Oracle: one window at a time, softmax and sums written out by hand in double.
    const bool lc = std::string(protocol) == "llamacpp";
    const int64_t first = lc ? n / 2 : 0;
    std::vector<double> kls;
    double agree = 0, dp = 0;
    for (int w = 0; w < 4; ++w) {
      auto ids = torch::empty({1, n}, torch::kInt64);
      for (int64_t j = 0; j < n; ++j) ids[0][j] = tokens[w * n + j];
      if (lc) ids[0][0] = 1;
      auto a = fp->forward(ids).to(torch::kFloat64)[0], b = q->forward(ids).to(torch::kFloat64)[0];
      for (int64_t pos = first; pos < n - 1; ++pos) {
        auto la = a[pos], lb = b[pos];
        const double ma = la.max().item<double>(), mb = lb.max().item<double>();
        const double za = (la - ma).exp().sum().item<double>(), zb = (lb - mb).exp().sum().item<double>();
        double kl = 0;
        int64_t arg_a = 0, arg_b = 0;
        for (int64_t v = 0; v < la.size(0); ++v) {
          const double pa = std::exp(la[v].item<double>() - ma) / za, pb = std::exp(lb[v].item<double>() - mb) / zb;
          kl += pa * (std::log(pa) - std::log(pb));
          if (la[v].item<double>() > la[arg_a].item<double>()) arg_a = v;
          if (lb[v].item<double>() > lb[arg_b].item<double>()) arg_b = v;
        }
        kls.push_back(kl);
        agree += arg_a == arg_b;
        const int t = tokens[w * n + pos + 1];
        dp += std::exp(lb[t].item<double>() - mb) / zb - std::exp(la[t].item<double>() - ma) / za;
      }
    }
    double mean = 0;
    for (double k : kls) mean += k;
    mean /= kls.size();
    std::sort(kls.begin(), kls.end());
    REQUIRE(r.tokens_scored == static_cast<int64_t>(kls.size()));
    CHECK(r.mean_kl > 0.01);  // 3-bit RTN moves the distribution visibly
    CHECK(r.mean_kl == Approx(mean).epsilon(1e-5));
    CHECK(r.kl_max == Approx(kls.back()).epsilon(1e-5));
    CHECK(r.top1_agreement == Approx(agree / kls.size()));
    CHECK(r.mean_delta_p == Approx(dp / kls.size()).margin(1e-9));
    CHECK(r.kl_median >= kls.front());
    CHECK(r.kl_p99 <= kls.back() + 1e-6);
  }
}

TEST_CASE("every llama-perplexity KL statistic equals a brute-force computation", "[eval][kl][llamacpp-stats]") {
  // Random per-token values with the shapes real ones have (KL >= 0, log-probabilities <= 0), fed
  // in three uneven batches; the oracle recomputes each figure from the whole list, by the formulas
  // llama-perplexity prints (tools/perplexity: mean_and_uncertainty, covariance, percentile).
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  const int64_t n = 1001;
  const auto kl = at::rand({n}, gen).to(torch::kFloat64).pow(3) * 0.5;
  const auto lp_ref = -at::rand({n}, gen).to(torch::kFloat64) * 6;
  const auto lp_q = lp_ref - (at::rand({n}, gen).to(torch::kFloat64) - 0.3) * 0.4;
  const auto same = (at::rand({n}, gen) < 0.8).to(torch::kFloat64);
  eval::KlAccumulator acc;
  for (auto [a, b] : {std::pair<int64_t, int64_t>{0, 7}, {7, 600}, {600, n}}) {
    acc.add(kl.slice(0, a, b), same.slice(0, a, b), lp_ref.slice(0, a, b), lp_q.slice(0, a, b));
  }
  const auto r = acc.finish(eval::KlOptions{}, 3, 0.0);

  std::vector<double> k(n), nq(n), nb(n), dp(n);
  for (int64_t i = 0; i < n; ++i) {
    k[i] = kl[i].item<double>();
    nq[i] = -lp_q[i].item<double>();
    nb[i] = -lp_ref[i].item<double>();
    dp[i] = std::exp(-nq[i]) - std::exp(-nb[i]);
  }
  auto mean = [&](const std::vector<double>& v) { double s = 0; for (double x : v) s += x; return s / n; };
  auto sem = [&](const std::vector<double>& v) {  // standard error of the mean, sample variance / n
    const double m = mean(v);
    double s = 0;
    for (double x : v) s += (x - m) * (x - m);
    return std::sqrt(s / n / (n - 1));
  };
  auto pct = [&](std::vector<double> v, double f) {
    std::sort(v.begin(), v.end());
    const double pos = f * (n - 1);
    const auto lo = static_cast<size_t>(pos);
    return v[lo] + (pos - lo) * (v[std::min<size_t>(lo + 1, n - 1)] - v[lo]);
  };
  double cov = 0;
  for (int64_t i = 0; i < n; ++i) cov += (nq[i] - mean(nq)) * (nb[i] - mean(nb));
  cov /= double(n) * (n - 1);

  CHECK(r.tokens_scored == n);
  CHECK(r.mean_kl == Approx(mean(k)).epsilon(1e-12));
  CHECK(r.kl_stderr == Approx(sem(k)).epsilon(1e-9));
  CHECK(r.kl_max == Approx(pct(k, 1)).epsilon(1e-6));
  CHECK(r.kl_min == Approx(pct(k, 0)).epsilon(1e-6));
  CHECK(r.kl_median == Approx(pct(k, 0.5)).epsilon(1e-6));  // odd n: the middle value
  for (auto [got, f] : {std::pair<double, double>{r.kl_p999, 0.999}, {r.kl_p99, 0.99}, {r.kl_p95, 0.95}, {r.kl_p90, 0.9},
                        {r.kl_p10, 0.1}, {r.kl_p05, 0.05}, {r.kl_p01, 0.01}, {r.kl_p001, 0.001}}) {
    INFO("KL percentile " << f);
    CHECK(got == Approx(pct(k, f)).epsilon(1e-5));  // llama.cpp places the position in float
  }
  for (auto [got, f] : {std::pair<double, double>{r.dp_max, 1}, {r.dp_p999, 0.999}, {r.dp_p99, 0.99}, {r.dp_p95, 0.95},
                        {r.dp_p90, 0.9}, {r.dp_p75, 0.75}, {r.dp_median, 0.5}, {r.dp_p25, 0.25}, {r.dp_p10, 0.1},
                        {r.dp_p05, 0.05}, {r.dp_p01, 0.01}, {r.dp_p001, 0.001}, {r.dp_min, 0}}) {
    INFO("delta-p percentile " << f);
    CHECK(got == Approx(pct(dp, f)).margin(1e-6));
  }
  CHECK(r.mean_delta_p == Approx(mean(dp)).margin(1e-12));
  CHECK(r.delta_p_stderr == Approx(sem(dp)).epsilon(1e-9));
  std::vector<double> dp2(n);
  for (int64_t i = 0; i < n; ++i) dp2[i] = dp[i] * dp[i];
  CHECK(r.rms_delta_p == Approx(std::sqrt(mean(dp2))).epsilon(1e-12));
  CHECK(r.rms_delta_p_stderr == Approx(0.5 / std::sqrt(mean(dp2)) * sem(dp2)).epsilon(1e-9));
  const double agree = mean(std::vector<double>(same.data_ptr<double>(), same.data_ptr<double>() + n));
  CHECK(r.top1_agreement == Approx(agree));
  CHECK(r.top1_stderr == Approx(std::sqrt(agree * (1 - agree) / (n - 1))));
  CHECK(r.ppl == Approx(std::exp(mean(nq))).epsilon(1e-12));
  CHECK(r.ppl_stderr == Approx(std::exp(mean(nq)) * sem(nq)).epsilon(1e-9));
  CHECK(r.ppl_reference == Approx(std::exp(mean(nb))).epsilon(1e-12));
  CHECK(r.ppl_reference_stderr == Approx(std::exp(mean(nb)) * sem(nb)).epsilon(1e-9));
  CHECK(r.ln_ppl_correlation == Approx(cov / (sem(nq) * sem(nb))).epsilon(1e-8));
  CHECK(r.ln_ppl_correlation > 0.9);  // q's log-probabilities follow the reference's closely here
  CHECK(r.ln_ppl_ratio == Approx(mean(nq) - mean(nb)).epsilon(1e-12));
  std::vector<double> diff(n);
  for (int64_t i = 0; i < n; ++i) diff[i] = nq[i] - nb[i];
  CHECK(r.ln_ppl_ratio_stderr == Approx(sem(diff)).epsilon(1e-6));  // var(a - b) = var a + var b - 2 cov
  CHECK(r.ppl_ratio == Approx(std::exp(mean(diff))).epsilon(1e-12));
  CHECK(r.ppl_ratio_stderr == Approx(std::exp(mean(diff)) * sem(diff)).epsilon(1e-6));
  CHECK(r.ppl_diff == Approx(std::exp(mean(nq)) - std::exp(mean(nb))).epsilon(1e-12));

  std::ostringstream printed;
  eval::print_llamacpp_kl(printed, r);
  const std::string s = printed.str();
  for (const char* label : {"Mean PPL(Q)                   :", "Cor(ln(PPL(Q)), ln(PPL(base))):", "Mean    KLD:",
                            "99.9%   KLD:", "Median  KLD:", " 0.1%   KLD:", "Minimum KLD:", "Mean    Δp:", "75.0%   Δp:",
                            "RMS Δp    :", "Same top p:"}) {
    CHECK_THAT(s, Catch::Contains(label));
  }
  char mean_line[64];
  std::snprintf(mean_line, sizeof mean_line, "Mean    KLD: %10.6lf", r.mean_kl);
  CHECK_THAT(s, Catch::Contains(mean_line));
}
