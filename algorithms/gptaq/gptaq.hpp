// GPTAQ (Li, Yin, Panda, ICML 2025; first released as GPTQv2): GPTQ matching the quantized layer on
// the quantized model's inputs X to the full-precision layer on the full-precision model's inputs
// X_fp, min ||W X_fp - Q X||^2, instead of GPTQ's ||W X - Q X||^2. With H = 2/N X X^T and
// dXXT = 2/N (X_fp - X) X^T (CrossStats::normalized(): [a][b] = sum_t (x_fp - x)[t][a] x[t][b]),
// U the upper Cholesky factor of H^-1 in the working column order, and
//   P = alpha * triu(dXXT U^T, 1) U          (strictly upper triangular),
// quantizing column i with current value w_i, code q_i and e_i = (w_i - q_i) / U[i][i] updates each
// later column j by
//   W[:, j] -= e_i U[i][j] - w_i P[i][j]:
// GPTQ's compensation plus column i's own input discrepancy w_i (x_fp - x)_i absorbed by the
// columns still free (w_i dXXT[i, j>i] H_{j>i}^-1, which U's trailing blocks give). P costs two
// cols^3 products once; each block of columns then works on its own slices of U and P, and the lazy
// update of the trailing columns is a second sgemm beside GPTQ's, so a block stays O(cols^2).
// alpha (0.25 in the reference) weights the asymmetric term. GPTAQ is GPTQ's own column loop with P
// as its extra feedback (gptq_quantize with an ExtraFeedback), so everything else (act-order, groups,
// static groups, dead columns, damping x10 up to 5 times then RTN) is GPTQ's, and with dXXT = 0 the
// result is GPTQ's to the bit.
//
// One difference from the reference code: its lazy update of the trailing columns multiplies P by
// the block's columns after quantization (Q), while its column loop, and the update the derivation
// gives, use the value each column had when it was quantized (w). Here both use w, so the result
// does not depend on the block size (gptaq_quantize_plain, column by column, is the check).
#pragma once
#include <string>

#include "algorithms/gptq/gptq.hpp"

namespace ptq::algo {

struct GptaqOptions {
  GptqOptions gptq;    // block size, damping, act-order, static groups
  double alpha = 0.25;  // weight of the asymmetric term (0: GPTQ)
};

// weight [out, in]; hessian [in, in] = 2/N X^T X (any positive multiple, as for GPTQ, but `cross`
// must be on the same scale); cross [in, in] = 2/N (X_fp - X)^T X. `where` names the layer.
GptqResult gptaq_quantize(const torch::Tensor& weight, const torch::Tensor& hessian, const torch::Tensor& cross,
                          const IntGrid& grid, const GptaqOptions& opt, const std::string& where = "gptaq");

// The same computed the plain way, returning the dequantized weights: U and P in fp64, no blocks,
// every later column updated after each column, parameters fitted with fit_grid on the current
// weights. Slow; what the tests hold the fast version to.
torch::Tensor gptaq_quantize_plain(const torch::Tensor& weight, const torch::Tensor& hessian, const torch::Tensor& cross,
                                     const IntGrid& grid, const GptaqOptions& opt);

// ||W X_fp - Q X||^2 / N up to the constant ||W X_fp||^2 / N, from the statistics alone:
// tr(Q H Q^T) / 2 - tr(W (H + dXXT) Q^T) with H, dXXT on the 2/N scale. Differences between two Q
// are exact differences of the objective (the tests compare GPTQ and GPTAQ with it).
double asymmetric_objective(const torch::Tensor& weight, const torch::Tensor& dequantized, const torch::Tensor& hessian,
                            const torch::Tensor& cross);

}  // namespace ptq::algo
