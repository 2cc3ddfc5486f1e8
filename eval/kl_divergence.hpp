// How far a quantized model's next-token distribution moved from the reference (FP) model's, on
// the same text and windows as perplexity (either protocol), as llama.cpp's --kl-divergence reports
// it: mean KL(P_ref || P_q) per scored token with its standard error and percentiles, top-1
// agreement, and the change of the correct token's probability.
// kl_divergence() runs both models side by side per batch of windows (exact, no stored logits), or
// layer-major in lockstep when they are not resident (eval/layer_major.hpp: both models' hidden
// states and one layer of each in memory). reference_logits.hpp stores the reference's top-k once per text instead.
#pragma once
#include <nlohmann/json.hpp>

#include <iosfwd>
#include <string>
#include <vector>

#include "eval/layer_major.hpp"
#include "model/decoder.hpp"

namespace ptq::eval {

struct KlOptions {
  std::string protocol = "llamacpp";
  int seqlen = 256;
  int batch = 4;
  int max_windows = 0;
  std::ostream* progress = nullptr;  // non-null: a progress bar (core/progress) per window batch
  Traversal traversal = Traversal::automatic;   // eval/layer_major.hpp
  int64_t max_hidden_bytes = int64_t(4) << 30;  // layer-major: hidden states held at once (0: no limit)
};

// eval/layer_major's options for these.
LayerMajorOptions layer_major_options(const KlOptions& opt, const char* label);

// Every figure llama-perplexity --kl-divergence prints, computed as it computes them (its
// mean_and_uncertainty, covariance and percentile rules), plus ptq's own top-1 and timing fields.
// Uncertainties are standard errors of the mean; like llama.cpp they are 0 below 11 tokens.
struct KlResult {
  std::string protocol;
  int seqlen = 0;
  int64_t windows = 0, tokens_scored = 0;
  // KL(P_ref || P_q) per scored token, nats.
  double mean_kl = 0, kl_stderr = 0;
  double kl_max = 0, kl_p999 = 0, kl_p99 = 0, kl_p95 = 0, kl_p90 = 0, kl_median = 0;
  double kl_p10 = 0, kl_p05 = 0, kl_p01 = 0, kl_p001 = 0, kl_min = 0;
  // Δp = p_q(correct) - p_ref(correct), as fractions (llama.cpp prints them in %).
  double mean_delta_p = 0, delta_p_stderr = 0;
  double dp_max = 0, dp_p999 = 0, dp_p99 = 0, dp_p95 = 0, dp_p90 = 0, dp_p75 = 0, dp_median = 0;
  double dp_p25 = 0, dp_p10 = 0, dp_p05 = 0, dp_p01 = 0, dp_p001 = 0, dp_min = 0;
  double rms_delta_p = 0, rms_delta_p_stderr = 0;
  // "Same top p": the fraction of tokens whose most likely next token is the same.
  double top1_agreement = 0, top1_stderr = 0;
  // Perplexities over the scored tokens and how they relate.
  double ppl = 0, ppl_stderr = 0, ppl_reference = 0, ppl_reference_stderr = 0;
  double ln_ppl_correlation = 0;                        // Cor(ln PPL(Q), ln PPL(base)), -1..1
  double ln_ppl_ratio = 0, ln_ppl_ratio_stderr = 0;     // mean ln(PPL(Q)/PPL(base))
  double ppl_ratio = 0, ppl_ratio_stderr = 0;
  double ppl_diff = 0, ppl_diff_stderr = 0;
  double seconds = 0;
};

// Running sums of the per-token statistics, shared by the exact and the stored-reference paths.
class KlAccumulator {
 public:
  // One batch of scored tokens, 1-D float64 tensors of equal length: KL(P_ref || P_q), whether the
  // argmaxes agree (0/1), and both models' log-probabilities of the correct token.
  void add(const torch::Tensor& kl, const torch::Tensor& same, const torch::Tensor& target_logp_ref,
           const torch::Tensor& target_logp_q);
  // Appends another accumulator's tokens after this one's (partials of consecutive window ranges,
  // in window order, give exactly the percentiles of the whole; the sums add up to double rounding).
  void merge(const KlAccumulator& other);
  int64_t tokens() const { return static_cast<int64_t>(kls_.size()); }
  KlResult finish(const KlOptions& opt, int64_t windows, double seconds);

 private:
  std::vector<float> kls_, dps_;
  double nll_ = 0, nll2_ = 0, nll_ref_ = 0, nll_ref2_ = 0, nll_nll_ref_ = 0;
  double kl_sum_ = 0, kl_sum2_ = 0, dp_sum_ = 0, dp_sum2_ = 0, dp_sum4_ = 0, agree_ = 0;
};

// The report llama-perplexity --kl-divergence ends with: its three blocks (perplexity, KL divergence,
// token probability statistics) with the same labels, order and number formats.
void print_llamacpp_kl(std::ostream& out, const KlResult& r);

KlResult kl_divergence(model::Model& reference, model::Model& model, const std::vector<int>& tokens,
                       const KlOptions& opt);

// The part of kl_divergence over windows [w_begin, w_end) of the same plan, added to `acc`: one
// process (MPI rank) per range, the accumulators merged in window order, then finish() with the total
// window count gives kl_divergence's result (percentiles exactly, sums up to double rounding).
void kl_divergence_partial(model::Model& reference, model::Model& model, const std::vector<int>& tokens,
                           const KlOptions& opt, int64_t w_begin, int64_t w_end, KlAccumulator& acc);

nlohmann::json to_json(const KlResult& r);

}  // namespace ptq::eval
