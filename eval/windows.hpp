// The evaluation windows of a token stream under the two perplexity protocols (see perplexity.hpp):
// which tokens go into a forward pass and which logits are scored against which targets. Shared by
// perplexity and KL divergence, so both score exactly the same positions.
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

namespace ptq::eval {

struct WindowPlan {
  bool llamacpp = true;
  int64_t seqlen = 0;
  int64_t windows = 0;
  int64_t first = 0;      // first scored logit position in a window
  int64_t scored = 0;     // scored positions per window
  int bos = -1;

  // Inputs [b, seqlen] and targets [b, scored] of windows w0 .. w0+b-1.
  torch::Tensor inputs(const std::vector<int>& tokens, int64_t w0, int64_t b) const;
  torch::Tensor targets(const std::vector<int>& tokens, int64_t w0, int64_t b) const;
};

// Throws naming `what` for an unknown protocol, seqlen < 2 or a text shorter than one window.
WindowPlan plan_windows(const std::string& protocol, int seqlen, int max_windows, size_t n_tokens, int bos,
                        const std::string& what);

}  // namespace ptq::eval
