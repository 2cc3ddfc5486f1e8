#include "io/rotary_layout.hpp"

#include <string>
#include <vector>

#include "core/error.hpp"

namespace ptq::io {

namespace {

torch::Tensor swap_head_row_axes(const torch::Tensor& w, int n_heads, bool to_half) {
  if (w.dim() < 1 || n_heads <= 0 || w.size(0) % (2 * n_heads) != 0) {
    fail("rotary permutation", "tensor with " + std::to_string(w.dim() ? w.size(0) : 0) +
                                   " rows cannot be split into " + std::to_string(n_heads) +
                                   " heads of an even size");
  }
  const int64_t half = w.size(0) / n_heads / 2;
  std::vector<int64_t> shape = {n_heads, to_half ? half : 2, to_half ? 2 : half};
  for (int64_t d = 1; d < w.dim(); ++d) shape.push_back(w.size(d));
  return w.reshape(shape).transpose(1, 2).reshape(w.sizes()).contiguous();
}

}  // namespace

torch::Tensor interleaved_to_rotate_half(const torch::Tensor& w, int n_heads) {
  return swap_head_row_axes(w, n_heads, true);
}

torch::Tensor rotate_half_to_interleaved(const torch::Tensor& w, int n_heads) {
  return swap_head_row_axes(w, n_heads, false);
}

}  // namespace ptq::io
