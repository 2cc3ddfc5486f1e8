// KL divergence of many variants of one model against the same reference on the same windows: the
// reference's log-probabilities are computed once and kept, and each variant's figures come from
// eval::KlAccumulator exactly as eval::kl_divergence computes them.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "eval/kl_divergence.hpp"
#include "eval/windows.hpp"
#include "model/decoder.hpp"

namespace ptq::mixed {

class ReferenceKl {
 public:
  // tokens: the text's ids; the windows are its last opt.max_windows windows (all when 0).
  ReferenceKl(model::Model& reference, const std::vector<int>& tokens, const eval::KlOptions& opt);
  eval::KlResult measure(model::Model& model) const;
  const eval::KlOptions& options() const { return opt_; }
  int64_t windows() const { return plan_.windows; }

 private:
  eval::KlOptions opt_;
  std::vector<int> tokens_;
  eval::WindowPlan plan_;
  std::vector<torch::Tensor> lp_ref_;  // per batch [b, scored, vocab] float64
};

// The full-precision model at `model` (tokenizer: "" -> found beside it) against the last
// opt.max_windows windows of the text file `text`.
std::unique_ptr<ReferenceKl> reference_on_text(const std::string& model, const std::string& tokenizer,
                                               const std::string& text, const eval::KlOptions& opt);

}  // namespace ptq::mixed
