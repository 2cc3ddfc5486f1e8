#include "algorithms/awq/input_gram.hpp"

#include <algorithm>

#include "calibration/input_stats.hpp"

namespace ptq::algo {

namespace {

// H = X^T X over all tokens of x [..., C], columns [c0, c0 + n): the calibration statistics
// accumulator (one syrk, half a general product's flops).
torch::Tensor gram(const torch::Tensor& input, int64_t c0, int64_t n, const std::string& where) {
  const auto x = input.reshape({-1, input.size(-1)});
  calib::InputStats stats(n, false);
  stats.add(n == x.size(1) ? x : x.narrow(1, c0, n), where);
  return stats.xtx();
}

}  // namespace

torch::Tensor row_output_error(const torch::Tensor& dW, const torch::Tensor& H) { return (dW.mm(H) * dW).sum(1); }

const torch::Tensor& InputGrams::full(const std::string& input) {
  auto it = full_.find(input);
  if (it == full_.end()) {
    const torch::Tensor& x = inputs_->at(input);
    it = full_.emplace(input, gram(x, 0, x.size(-1), input)).first;
  }
  return it->second;
}

torch::Tensor InputGrams::block(const std::string& input, int64_t c0, int64_t n) {
  const auto f = full_.find(input);
  if (f != full_.end()) return f->second.narrow(0, c0, n).narrow(1, c0, n);
  auto it = blocks_.find({input, c0});
  if (it == blocks_.end() || it->second.size(0) != n) {
    it = blocks_.insert_or_assign({input, c0}, gram(inputs_->at(input), c0, n, input)).first;
  }
  return it->second;
}

int64_t InputGrams::tokens(const std::string& input) const {
  const torch::Tensor& x = inputs_->at(input);
  return x.numel() / x.size(-1);
}

void InputGrams::rescale(const std::string& input, const torch::Tensor& s) {
  const auto inv = s.reciprocal();
  if (auto f = full_.find(input); f != full_.end()) f->second.mul_(inv.unsqueeze(1)).mul_(inv.unsqueeze(0));
  for (auto& [key, H] : blocks_) {
    if (key.first != input) continue;
    const auto part = inv.narrow(0, key.second, H.size(0));
    H.mul_(part.unsqueeze(1)).mul_(part.unsqueeze(0));
  }
}

}  // namespace ptq::algo
