#include "dist/perplexity_ranks.hpp"

#include <chrono>
#include <cmath>

#include "core/error.hpp"
#include "dist/bytes.hpp"
#include "dist/shard.hpp"
#include "dist/world.hpp"
#include "eval/windows.hpp"

namespace ptq::dist {

eval::PerplexityResult perplexity_on_ranks(model::Model& model, const std::vector<int>& tokens, const eval::PerplexityOptions& opt) {
  if (size() <= 1) return eval::perplexity(model, tokens, opt);
  torch::NoGradGuard no_grad;
  const eval::WindowPlan plan = eval::plan_windows(opt.protocol, opt.seqlen, opt.max_windows, tokens.size(),
                                                   model.config().bos_token_id, "perplexity");
  const auto t0 = std::chrono::steady_clock::now();
  const auto [first, end] = batch_shard(plan.windows, opt.batch, rank(), size());
  // Per batch: sum of NLL, sum of NLL^2, count. The scoring is eval::perplexity's, operation for
  // operation, so each batch's sums are the ones it computes (tests/dist compares the two).
  ByteWriter mine;
  mine.i64((end - first + opt.batch - 1) / opt.batch);
  for (int64_t w0 = first; w0 < end; w0 += opt.batch) {
    set_step("perplexity windows " + std::to_string(w0));
    const int64_t b = std::min<int64_t>(opt.batch, end - w0);
    auto logits = model.forward(plan.inputs(tokens, w0, b), nullptr, opt.hook);
    auto lp = torch::log_softmax(logits.narrow(1, plan.first, plan.scored).to(torch::kFloat64), -1);
    auto nll = -lp.gather(-1, plan.targets(tokens, w0, b).unsqueeze(-1)).squeeze(-1);
    if (!torch::isfinite(nll).all().item<bool>()) {
      fail("perplexity", "non-finite log-likelihood in windows " + std::to_string(w0) + ".." + std::to_string(w0 + b - 1) +
                             " (NaN or Inf in the model's weights?)");
    }
    mine.f64(nll.sum().item<double>());
    mine.f64(nll.pow(2).sum().item<double>());
    mine.i64(nll.numel());
  }
  set_step("combine perplexity");
  const auto parts = gather(mine.take());
  ByteWriter totals;
  if (is_root()) {
    double sum = 0, sum2 = 0;
    int64_t count = 0;
    for (int r = 0; r < size(); ++r) {
      ByteReader in(parts[r], "perplexity sums from rank " + std::to_string(r));
      for (int64_t k = in.i64(); k > 0; --k) {
        sum += in.f64();
        sum2 += in.f64();
        count += in.i64();
      }
    }
    totals.f64(sum), totals.f64(sum2), totals.i64(count);
  }
  const Bytes all = broadcast(totals.take());
  ByteReader in(all, "perplexity totals from rank 0");
  const double sum = in.f64(), sum2 = in.f64();
  const int64_t count = in.i64();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  // The figures as eval::perplexity derives them.
  eval::PerplexityResult r;
  r.protocol = opt.protocol;
  r.seqlen = static_cast<int>(plan.seqlen);
  r.windows = plan.windows;
  r.tokens_scored = count;
  r.mean_nll = sum / count;
  const double var = std::max(0.0, sum2 / count - r.mean_nll * r.mean_nll);
  r.nll_stderr = count > 1 ? std::sqrt(var / (count - 1)) : 0.0;
  r.ppl = std::exp(r.mean_nll);
  r.ppl_stderr = r.ppl * r.nll_stderr;
  r.seconds = secs;
  r.tokens_per_second = secs > 0 ? double(plan.windows * plan.seqlen) / secs : 0;
  return r;
}

}  // namespace ptq::dist
