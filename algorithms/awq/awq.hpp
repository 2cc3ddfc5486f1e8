// AWQ (Lin et al., 2023) as the reference implementation (mit-han-lab/llm-awq, auto_scale.py and
// auto_clip.py) defines it, applied to one decoder layer at a time:
//   1. Scale search, per producer -> consumers mapping of the architecture's table (input_layernorm ->
//      q,k,v inspected through the whole attention; v_proj -> o_proj when grouped-query attention
//      allows; post_attention_layernorm -> gate,up through the whole MLP; up_proj -> down_proj).
//      x̄ = mean |x| per input channel; for alpha = 0, 1/n_grid, ..., (n_grid-1)/n_grid:
//      s = clamp(x̄^alpha, 1e-4) (or, "duo", x̄^alpha / (w̄^(1-alpha) + 1e-4) with w̄ the mean
//      group-normalised |w| per column), s /= sqrt(max s * min s); the consumers' weights become
//      Q(W diag(s)) diag(s)^-1 and the inspected module's output is compared with full precision
//      (mean squared error over the calibration tokens). All searches run on the unscaled block;
//      the best scales are then folded into the producers, so the block's function is unchanged.
//   2. Clip search, per consumer except q_proj and k_proj: per output row and group, the range
//      max|w| is shrunk by 1 - i/clip_n_grid for i < clip_max_shrink * clip_n_grid, the weights are
//      clamped to ±range and quantized, and the range with the smallest mean squared error of the
//      group's partial products over ~clip_tokens evenly strided calibration tokens is kept. The
//      stride is made coprime with the calibration window length (clip_token_step), so the tokens
//      cover every position of the windows instead of a few aliased ones.
// Cost (gram_loss, search_tokens): where the inspected module is the consumer itself (v_proj ->
// o_proj, up_proj -> down_proj) and in the clip search, the error is a quadratic form in the weight
// change through the input's Gram matrix (input_gram.hpp): exact over all calibration tokens, with
// no forward per candidate and no token sample. The searches through attention and the MLP run on
// whole calibration windows spread evenly over the set, at least search_tokens tokens.
// The grid's rounding (RTN, or GPTQ for AWQ+GPTQ) comes after, in the pipeline.
#pragma once
#include <memory>

#include "algorithms/awq/input_gram.hpp"
#include "algorithms/common/block_context.hpp"

namespace ptq::algo {

struct AwqOptions {
  int n_grid = 20;
  bool duo_scaling = false;  // AutoAWQ's default; llm-awq uses x̄^alpha alone
  bool clip = true;
  double clip_max_shrink = 0.5;
  int clip_n_grid = 20;
  int clip_tokens = 512;  // the token-form clip search's sample (gram_loss false)
  // Linear losses (clip search, v_proj -> o_proj, up_proj -> down_proj) through the input's Gram
  // matrix over all tokens; false: the reference's token forms (clip on ~clip_tokens tokens).
  bool gram_loss = true;
  // Tokens (whole windows, evenly spread) for the scale searches through attention and the MLP;
  // 0: all calibration tokens. stories260K (32,768 calibration tokens) is as good with 4,096 as with
  // all of them, within the calibration seed's noise (experiments/results/2026-12-03-awq-w4.md).
  int search_tokens = 4096;
  // A llama.cpp block type (q4_0, q4_k, ...) to search for instead of the grid: scales and clipping
  // are chosen against that type's own quantizer, for a GGUF export of the result (--algo none).
  // A mix (q4_k_m, ...) searches each tensor against the type the export gives it
  // (BlockContext::ggml_types, filled by the pipeline).
  std::string ggml_type;
};

// Step 1 for one mapping: the best scale [C] and a report {alpha, loss, loss_unscaled}.
struct ScaleSearch {
  torch::Tensor scale;
  double alpha = 0, loss = 0, loss_unscaled = 0;
};
// `grams` holds the block's input Gram matrices for the linear mappings under gram_loss (formed on
// demand; null: a private one).
ScaleSearch awq_search_scale(const BlockContext& ctx, const model::InputSpec& spec, const IntGrid& grid,
                             const AwqOptions& opt, InputGrams* grams = nullptr);
// The calibration windows of x [n, T, C] a search through a nonlinear module runs on: the fewest
// windows holding at least min_tokens tokens, evenly spread over the n (all of x when min_tokens is
// 0 or not less than n * T).
torch::Tensor awq_search_windows(const torch::Tensor& x, int64_t min_tokens);
// Step 2 for one linear layer of the (scaled) block: the clipping range [out, n_groups] and the
// weight clamped to it.
struct ClipSearch {
  torch::Tensor max_val;   // [out, n_groups]
  torch::Tensor clipped;   // [out, in]
  double mean_shrink = 1;  // mean of max_val / original max
};
// The stride through n_tokens calibration tokens (windows of `window` tokens, 0 when unknown) that
// keeps about clip_tokens of them: n_tokens / clip_tokens, lowered until coprime with the window.
int64_t clip_token_step(int64_t n_tokens, int64_t window, int64_t clip_tokens);
// Token form: the error over ~opt.clip_tokens strided tokens of input [..., C].
ClipSearch awq_search_clip(const torch::Tensor& weight, const torch::Tensor& input, const IntGrid& grid,
                           const AwqOptions& opt);
// Gram form: the error over all tokens of the named input, through grams.
ClipSearch awq_search_clip(const torch::Tensor& weight, InputGrams& grams, const std::string& input, const IntGrid& grid,
                           const AwqOptions& opt);

std::unique_ptr<Transform> make_awq(const nlohmann::json& options);

}  // namespace ptq::algo
