#include "eval/perplexity.hpp"

#include <chrono>
#include <cmath>
#include <memory>

#include "core/error.hpp"
#include "eval/layer_major.hpp"
#include "eval/windows.hpp"

namespace ptq::eval {

namespace {

// Adds one batch's logits [b, n, V] against its targets to `s`.
void add_batch(NllSums& s, const WindowPlan& plan, const std::vector<int>& tokens, int64_t w0, int64_t b,
               const torch::Tensor& logits) {
  auto lp = torch::log_softmax(logits.narrow(1, plan.first, plan.scored).to(torch::kFloat64), -1);
  auto targets = plan.targets(tokens, w0, b);
  auto nll = -lp.gather(-1, targets.unsqueeze(-1)).squeeze(-1);  // [b, scored]
  if (!torch::isfinite(nll).all().item<bool>()) {
    fail("perplexity", "non-finite log-likelihood in windows " + std::to_string(w0) + ".." +
                           std::to_string(w0 + b - 1) + " (NaN or Inf in the model's weights?)");
  }
  s.nll += nll.sum().item<double>();
  s.nll2 += nll.pow(2).sum().item<double>();
  s.count += nll.numel();
  s.windows += b;
}

}  // namespace

void NllSums::add(const NllSums& o) {
  nll += o.nll;
  nll2 += o.nll2;
  count += o.count;
  windows += o.windows;
  seconds += o.seconds;
}

std::vector<NllSums> perplexity_batch_sums(model::Model& model, const std::vector<int>& tokens, const PerplexityOptions& opt,
                                           int64_t w_begin, int64_t w_end) {
  torch::NoGradGuard no_grad;
  const WindowPlan plan = plan_windows(opt.protocol, opt.seqlen, opt.max_windows, tokens.size(),
                                       model.config().bos_token_id, "perplexity");
  if (w_end < 0) w_end = plan.windows;
  std::vector<NllSums> batches;
  LayerMajorOptions lm;
  lm.batch = opt.batch;
  lm.max_hidden_bytes = opt.max_hidden_bytes;
  lm.progress = opt.progress;
  lm.label = "perplexity";
  auto t = std::chrono::steady_clock::now();
  evaluate_windows({&model}, {opt.hook}, plan, tokens, w_begin, w_end, opt.traversal, lm,
                   [&](int64_t w0, int64_t b, const std::vector<torch::Tensor>& logits) {
                     NllSums s;
                     add_batch(s, plan, tokens, w0, b, logits[0]);
                     const auto now = std::chrono::steady_clock::now();
                     s.seconds = std::chrono::duration<double>(now - t).count();
                     t = now;
                     batches.push_back(s);
                   });
  return batches;
}

NllSums perplexity_sums(model::Model& model, const std::vector<int>& tokens, const PerplexityOptions& opt,
                        int64_t w_begin, int64_t w_end) {
  NllSums total;
  for (const NllSums& b : perplexity_batch_sums(model, tokens, opt, w_begin, w_end)) total.add(b);
  return total;
}

PerplexityResult perplexity_from_sums(const NllSums& s, const PerplexityOptions& opt, double seconds) {
  if (s.count == 0) fail("perplexity", "no tokens scored");
  PerplexityResult r;
  r.protocol = opt.protocol;
  r.seqlen = opt.seqlen;
  r.windows = s.windows;
  r.tokens_scored = s.count;
  r.mean_nll = s.nll / s.count;
  const double var = std::max(0.0, s.nll2 / s.count - r.mean_nll * r.mean_nll);
  r.nll_stderr = s.count > 1 ? std::sqrt(var / (s.count - 1)) : 0.0;
  r.ppl = std::exp(r.mean_nll);
  r.ppl_stderr = r.ppl * r.nll_stderr;
  r.seconds = seconds;
  r.tokens_per_second = seconds > 0 ? double(s.windows * opt.seqlen) / seconds : 0;
  return r;
}

PerplexityResult perplexity(model::Model& model, const std::vector<int>& tokens, const PerplexityOptions& opt) {
  const NllSums s = perplexity_sums(model, tokens, opt);
  return perplexity_from_sums(s, opt, s.seconds);
}

nlohmann::json to_json(const PerplexityResult& r) {
  return {{"protocol", r.protocol},     {"seqlen", r.seqlen},
          {"windows", r.windows},       {"tokens_scored", r.tokens_scored},
          {"ppl", r.ppl},               {"ppl_stderr", r.ppl_stderr},
          {"mean_nll", r.mean_nll},     {"nll_stderr", r.nll_stderr},
          {"seconds", r.seconds},       {"tokens_per_second", r.tokens_per_second}};
}

}  // namespace ptq::eval
