#include "algorithms/common/int_grid.hpp"

#include "core/error.hpp"

namespace ptq::algo {

void IntGrid::validate(const std::string& where) const {
  if (bits < 2 || bits > 8) fail(where, "bits = " + std::to_string(bits) + " is outside 2..8");
  if (group_size < -1) {
    fail(where, "group_size = " + std::to_string(group_size) + " (use -1 per tensor, 0 per channel, or a positive size)");
  }
  if (mse && (mse_norm <= 0 || mse_grid < 1 || mse_max_shrink <= 0 || mse_max_shrink >= 1)) {
    fail(where, "MSE clipping needs norm > 0, grid >= 1 and max_shrink in (0, 1)");
  }
}

namespace {

// Parameters for the range [xmin, xmax] per row (xmin <= 0 <= xmax already).
GridParams params_for_range(torch::Tensor xmin, torch::Tensor xmax, const IntGrid& g) {
  const double maxq = g.maxq();
  if (g.sym) {
    xmax = torch::maximum(xmin.abs(), xmax);
    xmin = torch::where(xmin < 0, -xmax, xmin);
  }
  // An all-zero row: any scale reproduces it; the reference uses [-1, 1].
  auto empty = (xmin == 0) & (xmax == 0);
  xmin = torch::where(empty, torch::full_like(xmin, -1.0), xmin);
  xmax = torch::where(empty, torch::full_like(xmax, 1.0), xmax);
  GridParams p;
  p.scale = (xmax - xmin) / maxq;
  p.zero = g.sym ? torch::full_like(p.scale, (maxq + 1) / 2) : torch::round(-xmin / p.scale);
  return p;
}

}  // namespace

GridParams fit_grid(const torch::Tensor& w_in, const IntGrid& g) {
  torch::NoGradGuard no_grad;
  auto w = w_in.to(torch::kFloat32);
  if (g.group_size == -1) {
    auto p = fit_grid(w.reshape({1, -1}), IntGrid{g.bits, g.sym, 0, g.mse, g.mse_norm, g.mse_grid, g.mse_max_shrink});
    return {p.scale.expand({w.size(0)}).contiguous(), p.zero.expand({w.size(0)}).contiguous()};
  }
  auto zeros = torch::zeros({w.size(0)});
  auto xmin = torch::minimum(std::get<0>(w.min(1)), zeros);
  auto xmax = torch::maximum(std::get<0>(w.max(1)), zeros);
  GridParams best = params_for_range(xmin, xmax, g);
  if (!g.mse) return best;
  auto best_err = torch::full({w.size(0)}, std::numeric_limits<float>::infinity());
  const int steps = static_cast<int>(g.mse_max_shrink * g.mse_grid);
  for (int i = 0; i < steps; ++i) {
    const double shrink = 1.0 - double(i) / g.mse_grid;
    GridParams p = params_for_range(xmin * shrink, xmax * shrink, g);
    auto err = (fake_quantize(w, p, g.maxq()) - w).abs_().pow_(g.mse_norm).sum(1);
    auto better = err < best_err;
    best_err = torch::where(better, err, best_err);
    best.scale = torch::where(better, p.scale, best.scale);
    best.zero = torch::where(better, p.zero, best.zero);
  }
  return best;
}

torch::Tensor quantize_codes(const torch::Tensor& w, const GridParams& p, int maxq) {
  return torch::clamp(torch::round(w / p.scale.unsqueeze(1)) + p.zero.unsqueeze(1), 0, maxq);
}

torch::Tensor dequantize_codes(const torch::Tensor& codes, const GridParams& p) {
  return p.scale.unsqueeze(1) * (codes - p.zero.unsqueeze(1));
}

torch::Tensor fake_quantize(const torch::Tensor& w, const GridParams& p, int maxq) {
  return dequantize_codes(quantize_codes(w, p, maxq), p);
}

}  // namespace ptq::algo
