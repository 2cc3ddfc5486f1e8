#include "eval/windows.hpp"

#include "core/error.hpp"

namespace ptq::eval {

WindowPlan plan_windows(const std::string& protocol, int seqlen, int max_windows, size_t n_tokens, int bos,
                        const std::string& what) {
  WindowPlan p;
  p.llamacpp = protocol == "llamacpp";
  if (!p.llamacpp && protocol != "gptq") fail(what, "unknown protocol '" + protocol + "' (llamacpp, gptq)");
  if (seqlen < 2) fail(what, "seqlen must be at least 2");
  p.seqlen = seqlen;
  p.windows = static_cast<int64_t>(n_tokens) / seqlen;
  if (max_windows > 0) p.windows = std::min<int64_t>(p.windows, max_windows);
  if (p.windows == 0) {
    fail(what, "the text has " + std::to_string(n_tokens) + " tokens, fewer than one window of " + std::to_string(seqlen));
  }
  p.bos = bos;
  p.first = p.llamacpp ? seqlen / 2 : 0;
  p.scored = seqlen - 1 - p.first;
  return p;
}

torch::Tensor WindowPlan::inputs(const std::vector<int>& tokens, int64_t w0, int64_t b) const {
  auto ids = torch::empty({b, seqlen}, torch::kInt64);
  auto acc = ids.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const int64_t start = (w0 + i) * seqlen;
    for (int64_t j = 0; j < seqlen; ++j) acc[i][j] = tokens[start + j];
    if (llamacpp && bos >= 0) acc[i][0] = bos;  // llama-perplexity starts every window with BOS
  }
  return ids;
}

torch::Tensor WindowPlan::targets(const std::vector<int>& tokens, int64_t w0, int64_t b) const {
  // The original tokens: the BOS substitution affects only the input.
  auto t = torch::empty({b, scored}, torch::kInt64);
  auto acc = t.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const int64_t start = (w0 + i) * seqlen;
    for (int64_t j = 0; j < scored; ++j) acc[i][j] = tokens[start + first + j + 1];
  }
  return t;
}

}  // namespace ptq::eval
