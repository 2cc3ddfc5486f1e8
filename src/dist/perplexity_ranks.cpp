#include "dist/perplexity_ranks.hpp"

#include <chrono>

#include "dist/bytes.hpp"
#include "dist/shard.hpp"
#include "dist/world.hpp"
#include "eval/perplexity.hpp"
#include "eval/windows.hpp"

namespace ptq::dist {

eval::PerplexityResult perplexity_on_ranks(model::Model& model, const std::vector<int>& tokens, const eval::PerplexityOptions& opt) {
  if (size() <= 1) return eval::perplexity(model, tokens, opt);
  const eval::WindowPlan plan = eval::plan_windows(opt.protocol, opt.seqlen, opt.max_windows, tokens.size(),
                                                   model.config().bos_token_id, "perplexity");
  const auto t0 = std::chrono::steady_clock::now();
  const auto [first, end] = batch_shard(plan.windows, opt.batch, rank(), size());
  // Each rank scores whole batches of the one-process plan; rank 0 folds the per-batch sums in
  // batch order from zero, which is exactly how eval::perplexity_sums adds them.
  set_step("perplexity windows " + std::to_string(first) + ".." + std::to_string(end - 1));
  const std::vector<eval::NllSums> batches = eval::perplexity_batch_sums(model, tokens, opt, first, end);
  ByteWriter mine;
  mine.i64(static_cast<int64_t>(batches.size()));
  for (const eval::NllSums& b : batches) mine.f64(b.nll), mine.f64(b.nll2), mine.i64(b.count), mine.i64(b.windows);
  set_step("combine perplexity");
  const auto parts = gather(mine.take());
  ByteWriter totals;
  if (is_root()) {
    eval::NllSums total;
    for (int r = 0; r < size(); ++r) {
      ByteReader in(parts[r], "perplexity sums from rank " + std::to_string(r));
      for (int64_t k = in.i64(); k > 0; --k) {
        eval::NllSums b;
        b.nll = in.f64(), b.nll2 = in.f64(), b.count = in.i64(), b.windows = in.i64();
        total.add(b);
      }
    }
    totals.f64(total.nll), totals.f64(total.nll2), totals.i64(total.count), totals.i64(total.windows);
  }
  const Bytes all = broadcast(totals.take());
  ByteReader in(all, "perplexity totals from rank 0");
  eval::NllSums total;
  total.nll = in.f64(), total.nll2 = in.f64(), total.count = in.i64(), total.windows = in.i64();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return eval::perplexity_from_sums(total, opt, secs);
}

}  // namespace ptq::dist
