#include "algorithms/gptaq/gptaq.hpp"

#include <cmath>
#include <vector>

#include "core/error.hpp"

namespace ptq::algo {

// GPTQ's column loop (gptq.cpp) with the asymmetric term as its extra feedback: P from GPTQ's own U.
GptqResult gptaq_quantize(const torch::Tensor& weight, const torch::Tensor& hessian, const torch::Tensor& cross,
                          const IntGrid& grid, const GptaqOptions& opt, const std::string& where) {
  torch::NoGradGuard no_grad;
  if (!(opt.alpha >= 0) || !std::isfinite(opt.alpha)) fail(where, "alpha must be a finite number >= 0");
  if (weight.dim() != 2) fail(where, "weight is not a matrix");
  const int64_t cols = weight.size(1);
  if (cross.dim() != 2 || cross.size(0) != cols || cross.size(1) != cols) {
    fail(where, "GPTAQ's cross term (X_fp - X) X^T is not " + std::to_string(cols) + " x " + std::to_string(cols));
  }
  const auto D = cross.to(torch::kCPU, torch::kFloat32).contiguous();
  if (!torch::isfinite(D).all().item<bool>()) fail(where, "GPTAQ's cross term holds NaN or Inf");
  // P = alpha triu(D_w U^T, 1) U, D_w the cross term in the working order; dead columns (their
  // weights zeroed, as in the reference) contribute no cross term.
  auto asymmetric = [&](const torch::Tensor& U, const std::vector<int64_t>& col_of_pos, const torch::Tensor& dead) {
    auto order = torch::tensor(col_of_pos, torch::kInt64);
    auto Dw = dead.any().item<bool>() ? D.index_fill(1, torch::nonzero(dead).flatten(), 0.0f) : D;
    Dw = Dw.index_select(0, order).index_select(1, order);
    return Dw.matmul(U.t()).triu(1).matmul(U) * opt.alpha;
  };
  return gptq_quantize(weight, hessian, grid, opt.gptq, where, asymmetric);
}

double asymmetric_objective(const torch::Tensor& weight, const torch::Tensor& dequantized, const torch::Tensor& hessian,
                            const torch::Tensor& cross) {
  auto W = weight.to(torch::kFloat64), Q = dequantized.to(torch::kFloat64);
  auto H = hessian.to(torch::kFloat64), D = cross.to(torch::kFloat64);
  return 0.5 * (Q.matmul(H) * Q).sum().item<double>() - (W.matmul(H + D) * Q).sum().item<double>();
}

}  // namespace ptq::algo
