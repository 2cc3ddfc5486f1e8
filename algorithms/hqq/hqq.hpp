// HQQ, Half-Quadratic Quantization (Badri & Shaji, 2023): calibration-free. Each group's scale and
// zero point start from the group's min-max range; then the zero points minimise the sparsity-
// promoting error ||W - dequantize(quantize(W))||_p^p (p < 1, so a few large errors cost little and
// the bulk of small ones is fitted) by half-quadratic splitting, alternating
//   W_e  = shrink_p(W - W_r, beta)                      the error, generalised soft-thresholding
//   zero = mean over the group of (Q - (W - W_e) / scale)  closed form, codes Q held fixed
// with beta growing by kappa each step. As the reference (mobiusml/hqq, optimize_weights_proximal),
// the whole layer stops at the first step that does not lower its mean |W - W_r|, keeping the best.
//
// Zero points are real numbers by default, as in HQQ: codes are round(W / scale + zero) and the
// layer dequantizes as scale * (codes - zero) like any of ptq's layers. `integer_zero` keeps them on
// the integer grid (0..maxq) for formats that store integer zeros (GPTQ / AWQ exports, and the
// bits-per-weight count, which charges a zero `bits` bits). `optimize_scale` also refits each group's
// scale in the closed-form step (least squares of the shrunk target on the codes).
#pragma once
#include <string>
#include <vector>

#include "algorithms/common/quantized_linear.hpp"

namespace ptq::algo {

struct HqqOptions {
  double lp_norm = 0.7;  // p in (0, 1]
  double beta = 10.0;    // initial half-quadratic penalty
  double kappa = 1.01;   // beta's growth per step
  int iters = 20;        // zero-point updates at most
  bool early_stop = true;
  bool optimize_scale = false;
  bool integer_zero = false;
};

struct HqqResult {
  QuantizedLinear q;
  // Mean |W - W_r| over the layer after 0, 1, 2 ... updates (entry 0: the min-max start); with early
  // stopping the last entry is the first that did not improve, and q holds the best.
  std::vector<double> l1_trace;
  std::vector<double> lp_trace;  // mean |W - W_r|^p at the same points
  int updates_kept = 0;          // updates in q's parameters
};

// Asymmetric integer grids of 2-8 bits, per channel (group_size 0) or groups of columns. Throws
// ptq::Error naming `where` for other grids, bad options, NaN weights or a non-2-D weight.
HqqResult hqq_quantize(const torch::Tensor& weight, const IntGrid& grid, const HqqOptions& opt, const std::string& where);
void validate(const HqqOptions& opt, const std::string& where);

}  // namespace ptq::algo
