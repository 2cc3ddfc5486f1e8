// AWQ's searches measure a linear layer's output error on the calibration tokens. When the layer is
// linear in what changes (its own weight), that error over all N tokens is a quadratic form in the
// weight change: sum_t ((Q - W) x_t)^2 = (Q - W) H (Q - W)^T per output row, H = sum_t x_t x_t^T
// (the Gram matrix of the layer's input). Forming H costs one pass over the tokens; each candidate
// then costs rows x C x C instead of rows x C x N, and sees every token instead of a sample.
#pragma once
#include <torch/torch.h>

#include <map>
#include <string>
#include <utility>

namespace ptq::algo {

// sum_t ((dW x_t)^2) per row of dW [O, C], given H [C, C]: [O].
torch::Tensor row_output_error(const torch::Tensor& dW, const torch::Tensor& H);

// The Gram matrices of a block's inputs, formed at most once each: the whole [C, C] matrix when a
// search needs all of it (a scale search, a per-channel clip), or only the diagonal blocks a grouped
// clip reads. Folding a scale s into an input's producer divides the input by s; rescale() applies
// that to the matrices already formed (H / s s^T) instead of forming them again.
class InputGrams {
 public:
  explicit InputGrams(const std::map<std::string, torch::Tensor>* inputs) : inputs_(inputs) {}
  const torch::Tensor& full(const std::string& input);
  // Columns [c0, c0 + n) x [c0, c0 + n) of the input's H.
  torch::Tensor block(const std::string& input, int64_t c0, int64_t n);
  int64_t tokens(const std::string& input) const;
  void rescale(const std::string& input, const torch::Tensor& s);

 private:
  const std::map<std::string, torch::Tensor>* inputs_;
  std::map<std::string, torch::Tensor> full_;
  std::map<std::pair<std::string, int64_t>, torch::Tensor> blocks_;  // (input, c0) -> block
};

}  // namespace ptq::algo
