// KL divergence against a plain-loop oracle over the same logits, and its identities.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>

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
