// Uniform integer quantization grids of 2-8 bits: symmetric or asymmetric; per-tensor, per-channel
// or per-group (any group size, a partial last group allowed); min-max or MSE-optimal clipping.
// Parameters are fitted as the GPTQ reference's Quantizer.find_params does: the range always
// includes 0, a symmetric grid puts its zero point at (maxq + 1) / 2, an all-zero row gets the range
// [-1, 1], and the MSE option searches shrink factors p = 1, 0.99, ... of the range, keeping the
// one with the smallest sum |q(x) - x|^2.4 per row.
#pragma once
#include <torch/torch.h>

#include <string>

namespace ptq::algo {

struct IntGrid {
  int bits = 4;
  bool sym = false;
  int group_size = 0;  // 0: per channel (one group per row); -1: per tensor; > 0: groups of columns
  bool mse = false;    // MSE-optimal clipping instead of min-max
  double mse_norm = 2.4;
  int mse_grid = 100;
  double mse_max_shrink = 0.8;

  int maxq() const { return (1 << bits) - 1; }
  // Throws ptq::Error naming `where` for bits outside 2..8, a group size below -1, ...
  void validate(const std::string& where) const;
};

// Scale and zero point of each row of one group of columns: both [rows] fp32 (zero holds integers).
struct GridParams {
  torch::Tensor scale, zero;
};

// Fits parameters to w [rows, cols] (the columns of one group; per tensor: all of w).
GridParams fit_grid(const torch::Tensor& w, const IntGrid& grid);
// Integer codes in [0, maxq] of w under p: clamp(round(w / scale) + zero, 0, maxq), as fp32.
torch::Tensor quantize_codes(const torch::Tensor& w, const GridParams& p, int maxq);
// scale * (codes - zero).
torch::Tensor dequantize_codes(const torch::Tensor& codes, const GridParams& p);
// Fake quantization: dequantize(quantize(w)).
torch::Tensor fake_quantize(const torch::Tensor& w, const GridParams& p, int maxq);

}  // namespace ptq::algo
