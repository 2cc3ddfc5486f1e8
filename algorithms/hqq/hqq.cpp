#include "algorithms/hqq/hqq.hpp"

#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace ptq::algo {

namespace {

// Groups of one width, one group per row of `w` [n, width]; scale and zero [n]. A layer is its full
// groups ([rows * G, group_size], row-major so row r's group g is r * G + g) plus, when the column
// count is not a multiple of the group size, the partial last group of each row ([rows, tail]).
struct Groups {
  torch::Tensor w, scale, zero;
  torch::Tensor codes, err;  // of the last evaluation
};

// Generalised soft-thresholding: the proximal operator of |x|^p / beta (for p < 1 the reference's
// approximation sign(x) * max(|x| - |x|^(p-1) / beta, 0)).
torch::Tensor shrink(const torch::Tensor& x, double beta, double p) {
  auto a = x.abs();
  auto t = p == 1.0 ? a - 1.0 / beta : a - a.pow(p - 1.0) / beta;  // |x| = 0: 0 - inf, clamped to 0
  return torch::sign(x) * torch::clamp_min(t, 0.0);
}

// The min-max start: HQQ's own (range [min, max], real zero point) or, with integer zeros, ptq's
// RTN parameters (range widened to hold 0, zero rounded onto 0..maxq).
void init_params(Groups& g, const IntGrid& grid, bool integer_zero) {
  if (integer_zero) {
    const GridParams p = fit_grid(g.w, grid);
    g.scale = p.scale, g.zero = p.zero;
    return;
  }
  auto lo = std::get<0>(g.w.min(1)), hi = std::get<0>(g.w.max(1));
  auto range = hi - lo;
  // A constant group: scale 1, zero -c / 1 reproduces it exactly.
  g.scale = torch::where(range > 0, range / grid.maxq(), torch::ones_like(range));
  g.zero = -lo / g.scale;
}

void evaluate(Groups& g, int maxq) {
  auto s = g.scale.unsqueeze(1), z = g.zero.unsqueeze(1);
  g.codes = torch::clamp(torch::round(g.w / s + z), 0, maxq);
  g.err = g.w - s * (g.codes - z);
}

// The closed-form step with the codes fixed: the zero point (and optionally the scale) that best
// maps the codes onto the target W - W_e in least squares.
void update(Groups& g, double beta, const HqqOptions& opt, int maxq) {
  auto target = g.w - shrink(g.err, beta, opt.lp_norm);
  auto qm = g.codes.mean(1), tm = target.mean(1);
  if (opt.optimize_scale) {
    auto dq = g.codes - qm.unsqueeze(1);
    auto var = (dq * dq).sum(1), cov = (dq * (target - tm.unsqueeze(1))).sum(1);
    auto s = cov / var;
    g.scale = torch::where((var > 0) & (s > 0), s, g.scale);  // one code only, or a flipped fit: keep it
  }
  g.zero = qm - tm / g.scale;  // mean(codes - target / scale)
  if (opt.integer_zero) g.zero = torch::clamp(torch::round(g.zero), 0, maxq);
}

}  // namespace

void validate(const HqqOptions& opt, const std::string& where) {
  if (!(opt.lp_norm > 0 && opt.lp_norm <= 1)) fail(where + ".lp_norm", std::to_string(opt.lp_norm) + " is outside (0, 1]");
  if (!(opt.beta > 0 && std::isfinite(opt.beta))) fail(where + ".beta", "must be a positive number");
  if (!(opt.kappa >= 1 && std::isfinite(opt.kappa))) fail(where + ".kappa", "must be at least 1");
  if (opt.iters < 0) fail(where + ".iters", "must be at least 0");
}

HqqResult hqq_quantize(const torch::Tensor& weight, const IntGrid& grid, const HqqOptions& opt, const std::string& where) {
  torch::NoGradGuard no_grad;
  grid.validate(where);
  validate(opt, where);
  if (!grid.is_int()) fail(where, "HQQ quantizes onto integer grids, not dtype " + grid.dtype);
  if (grid.sym) fail(where, "HQQ's grid is asymmetric (the zero point is what it optimises); drop sym");
  if (grid.mse) fail(where, "HQQ fits its own parameters; MSE clipping does not apply (drop mse)");
  if (grid.group_size == -1) fail(where, "HQQ works per channel (group_size 0) or on groups, not per tensor");
  if (weight.dim() != 2) fail(where, "expected a 2-D weight, got " + std::to_string(weight.dim()) + " dimensions");
  auto w = weight.to(torch::kFloat32).contiguous();
  if (!torch::isfinite(w).all().item<bool>()) fail(where, "weight holds NaN or Inf");

  const int64_t rows = w.size(0), cols = w.size(1);
  const int64_t gs = grid.group_size > 0 ? std::min<int64_t>(grid.group_size, cols) : cols;
  const int64_t full = gs > 0 ? cols / gs : 0, tail = cols - full * gs;
  std::vector<Groups> parts;
  if (full > 0) parts.push_back({w.narrow(1, 0, full * gs).reshape({rows * full, gs})});
  if (tail > 0) parts.push_back({w.narrow(1, full * gs, tail).contiguous()});
  const int maxq = grid.maxq();
  for (auto& g : parts) init_params(g, grid, opt.integer_zero);

  HqqResult r;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> best(parts.size());
  double best_l1 = std::numeric_limits<double>::infinity(), beta = opt.beta;
  const double n = std::max<int64_t>(w.numel(), 1);
  for (int i = 0;; ++i) {
    double l1 = 0, lp = 0;
    for (auto& g : parts) {
      evaluate(g, maxq);
      auto a = g.err.abs().to(torch::kFloat64);
      l1 += a.sum().item<double>();
      lp += a.pow(opt.lp_norm).sum().item<double>();
    }
    r.l1_trace.push_back(l1 / n);
    r.lp_trace.push_back(lp / n);
    if (opt.early_stop && !(l1 / n < best_l1)) break;
    best_l1 = l1 / n;
    r.updates_kept = i;
    for (size_t k = 0; k < parts.size(); ++k) best[k] = {parts[k].scale, parts[k].zero};
    if (i == opt.iters) break;
    for (auto& g : parts) update(g, beta, opt, maxq);
    beta *= opt.kappa;
  }

  QuantizedLinear& q = r.q;
  q.grid = grid;
  const int64_t G = num_groups(cols, grid);
  q.codes = torch::empty({rows, cols}, torch::kUInt8);
  q.scales = torch::empty({rows, G});
  q.zeros = torch::empty({rows, G});
  q.g_idx = contiguous_g_idx(cols, grid);
  for (size_t k = 0; k < parts.size(); ++k) {
    Groups& g = parts[k];
    g.scale = best[k].first, g.zero = best[k].second;
    evaluate(g, maxq);
    const bool is_tail = k == 1;  // parts: the full groups, then the partial last ones
    const int64_t c0 = is_tail ? full * gs : 0, width = is_tail ? tail : full * gs, ng = is_tail ? 1 : full;
    q.codes.narrow(1, c0, width).copy_(g.codes.reshape({rows, width}));
    q.scales.narrow(1, is_tail ? full : 0, ng).copy_(g.scale.reshape({rows, ng}));
    q.zeros.narrow(1, is_tail ? full : 0, ng).copy_(g.zero.reshape({rows, ng}));
  }
  return r;
}

}  // namespace ptq::algo
