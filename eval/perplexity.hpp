// Perplexity under the two protocols people compare against:
//  - "gptq": the GPTQ paper's. The token stream is cut into non-overlapping windows of seqlen;
//    every position after the first of each window is scored.
//  - "llamacpp": llama.cpp's llama-perplexity. Windows of n_ctx tokens whose first token is
//    replaced by BOS; only the second half of each window is scored (positions n_ctx/2 .. n_ctx-2
//    predicting the next token), so every scored token has at least n_ctx/2 tokens of context.
#pragma once
#include <nlohmann/json.hpp>

#include <iosfwd>
#include <string>
#include <vector>

#include "eval/layer_major.hpp"
#include "model/decoder.hpp"

namespace ptq::eval {

struct PerplexityOptions {
  std::string protocol = "llamacpp";  // "llamacpp" | "gptq"
  int seqlen = 256;
  int batch = 4;            // windows per forward pass
  int max_windows = 0;      // 0 = all
  std::ostream* progress = nullptr;  // non-null: a progress bar (core/progress) per window batch
  const model::LinearInputHook* hook = nullptr;
  Traversal traversal = Traversal::automatic;   // eval/layer_major.hpp
  int64_t max_hidden_bytes = int64_t(4) << 30;  // layer-major: hidden states held at once (0: no limit)
};

struct PerplexityResult {
  std::string protocol;
  int seqlen = 0;
  int64_t windows = 0;
  int64_t tokens_scored = 0;
  double mean_nll = 0;     // nats per scored token
  double nll_stderr = 0;   // standard error of the mean NLL
  double ppl = 0;
  double ppl_stderr = 0;   // ppl * nll_stderr (delta method, as llama.cpp reports it)
  double seconds = 0;
  double tokens_per_second = 0;  // tokens processed (windows x seqlen) per second
};

// Partial sums of a subset of windows, for splitting one evaluation over processes (MPI ranks):
// each evaluates perplexity_sums over its own window range [w_begin, w_end) of the same plan, the
// sums are added (add(), or element-wise over MPI: doubles and counts), and perplexity_from_sums of
// the total is the perplexity of all windows. The totals equal one process's sums up to the order
// of double additions (relative ~1e-15); the count and windows are exact.
struct NllSums {
  double nll = 0;       // sum of the scored tokens' negative log-likelihoods (nats)
  double nll2 = 0;      // sum of their squares
  int64_t count = 0;    // tokens scored
  int64_t windows = 0;  // windows evaluated
  double seconds = 0;   // wall time spent (summed over parts: CPU-seconds when they ran in parallel)
  void add(const NllSums& o);
};

// The sums of windows [w_begin, w_end) of the plan `opt` makes for `tokens` (w_end = -1: to the
// last window). Throws naming the range when it lies outside the plan.
NllSums perplexity_sums(model::Model& model, const std::vector<int>& tokens, const PerplexityOptions& opt,
                        int64_t w_begin = 0, int64_t w_end = -1);
// The same, one NllSums per batch of `opt.batch` windows in window order. Folding them from zero in
// that order with add() gives perplexity_sums' totals to the bit, whoever computed which batches:
// how MPI ranks combine their shards exactly (dist/perplexity_ranks).
std::vector<NllSums> perplexity_batch_sums(model::Model& model, const std::vector<int>& tokens, const PerplexityOptions& opt,
                                           int64_t w_begin = 0, int64_t w_end = -1);
// Mean NLL, its standard error and the perplexity from (combined) sums; `seconds` is wall time.
PerplexityResult perplexity_from_sums(const NllSums& sums, const PerplexityOptions& opt, double seconds);

// tokens: the whole text's ids. For "llamacpp" the caller tokenizes with BOS (as llama-perplexity
// does); for "gptq" as the model's tokenizer would (Llama tokenizers add BOS once at the start).
PerplexityResult perplexity(model::Model& model, const std::vector<int>& tokens,
                            const PerplexityOptions& opt);

// The one JSON form of a result, used by `ptq eval --json` and every run's metrics.json.
nlohmann::json to_json(const PerplexityResult& r);

}  // namespace ptq::eval
