#include "algorithms/gptq/gptq.hpp"

#include "algorithms/rtn/rtn.hpp"
#include "core/error.hpp"

namespace ptq::algo {

namespace {

// Upper Cholesky factor of (H + damp I)^-1, in double; undefined when H + damp I is not positive
// definite.
torch::Tensor inverse_cholesky_upper(const torch::Tensor& H, double damp) {
  auto Hd = H.to(torch::kFloat64) + damp * torch::eye(H.size(0), torch::kFloat64);
  auto [L, info] = torch::linalg_cholesky_ex(Hd);
  if (info.item<int>() != 0) return {};
  auto Hinv = torch::cholesky_inverse(L);
  auto [U, info2] = torch::linalg_cholesky_ex(Hinv, /*upper=*/true);
  if (info2.item<int>() != 0) return {};
  return U.to(torch::kFloat32);
}

}  // namespace

double relative_output_error(const torch::Tensor& weight, const torch::Tensor& dequantized, const torch::Tensor& hessian) {
  auto W = weight.to(torch::kFloat64), D = W - dequantized.to(torch::kFloat64), H = hessian.to(torch::kFloat64);
  const double num = (D.matmul(H) * D).sum().item<double>();
  const double den = (W.matmul(H) * W).sum().item<double>();
  return den > 0 ? num / den : 0.0;
}

GptqResult gptq_quantize(const torch::Tensor& weight, const torch::Tensor& hessian, const IntGrid& grid,
                         const GptqOptions& opt, const std::string& where) {
  torch::NoGradGuard no_grad;
  grid.validate(where);
  const int64_t rows = weight.size(0), cols = weight.size(1);
  if (hessian.dim() != 2 || hessian.size(0) != cols || hessian.size(1) != cols) {
    fail(where, "Hessian is not " + std::to_string(cols) + " x " + std::to_string(cols));
  }
  auto W = weight.to(torch::kFloat32).clone();
  auto H = hessian.to(torch::kFloat32).clone();
  if (!torch::isfinite(W).all().item<bool>()) fail(where, "weight holds NaN or Inf");
  if (!torch::isfinite(H).all().item<bool>()) fail(where, "Hessian holds NaN or Inf (non-finite activations?)");
  const bool grouped = grid.group_size > 0;
  const int64_t gs = grouped ? grid.group_size : cols;
  const int maxq = grid.maxq();

  GptqResult res;
  res.q.grid = grid;
  res.q.scales = torch::empty({rows, num_groups(cols, grid)});
  res.q.zeros = torch::empty({rows, num_groups(cols, grid)});

  // One set of parameters for the whole row (per channel / per tensor), fitted before anything else.
  GridParams params;
  if (!grouped) {
    params = fit_grid(W, grid);
    res.q.scales.select(1, 0).copy_(params.scale);
    res.q.zeros.select(1, 0).copy_(params.zero);
  }
  auto diag = H.diagonal();
  auto dead = diag == 0;
  diag.masked_fill_(dead, 1.0f);
  W.index_put_({torch::indexing::Slice(), dead}, 0.0f);

  std::vector<GridParams> static_params;
  if (grouped && opt.static_groups) {
    for (int64_t g = 0; g < num_groups(cols, grid); ++g) {
      static_params.push_back(fit_grid(W.narrow(1, g * gs, std::min(gs, cols - g * gs)), grid));
      res.q.scales.select(1, g).copy_(static_params.back().scale);
      res.q.zeros.select(1, g).copy_(static_params.back().zero);
    }
  }

  torch::Tensor perm;
  if (opt.act_order) {
    perm = torch::argsort(H.diagonal(), /*dim=*/0, /*descending=*/true);
    W = W.index_select(1, perm);
    H = H.index_select(0, perm).index_select(1, perm);
  }

  res.damp = opt.damp_percent * H.diagonal().mean().item<double>();
  torch::Tensor Hinv = inverse_cholesky_upper(H, res.damp);
  while (!Hinv.defined() && res.damp_retries < 5) {
    res.damp *= 10;
    ++res.damp_retries;
    Hinv = inverse_cholesky_upper(H, res.damp);
  }
  if (!Hinv.defined()) {
    res.fell_back_to_rtn = true;
    res.note = where + ": Hessian not positive definite even with damping " + std::to_string(res.damp) +
               "; quantized with RTN instead";
    res.q = rtn_quantize(weight, grid);
    return res;
  }

  auto Q = torch::empty_like(W);  // codes in the working (possibly permuted) column order
  auto g_of_pos = torch::empty({cols}, torch::kInt32);  // group of each working position
  for (int64_t i1 = 0; i1 < cols; i1 += opt.block_size) {
    const int64_t i2 = std::min<int64_t>(i1 + opt.block_size, cols), count = i2 - i1;
    auto W1 = W.narrow(1, i1, count).clone();
    auto Err1 = torch::zeros_like(W1);
    auto Hinv1 = Hinv.narrow(0, i1, count).narrow(1, i1, count);
    for (int64_t i = 0; i < count; ++i) {
      const int64_t pos = i1 + i;
      int64_t group = 0;
      if (grouped) {
        if (opt.static_groups) {
          const int64_t col = opt.act_order ? perm[pos].item<int64_t>() : pos;
          group = col / gs;
          params = static_params[group];
        } else {
          group = pos / gs;
          if (pos % gs == 0) {
            // Fitted when the group begins, on its current (error-compensated) weights.
            const int64_t n = std::min(gs, cols - pos);
            const int64_t in_block = std::min(n, count - i);
            auto cur = W1.narrow(1, i, in_block);
            if (n > in_block) {
              // Columns past this block have not yet received the block's pending (lazy) update
              // from the i columns already quantized: apply it to the copy the fit sees.
              auto beyond = W.narrow(1, i2, n - in_block);
              if (i > 0) {
                beyond = beyond - Err1.narrow(1, 0, i).matmul(Hinv.narrow(0, i1, i).narrow(1, i2, n - in_block));
              }
              cur = torch::cat({cur, beyond}, 1);
            }
            params = fit_grid(cur, grid);
            res.q.scales.select(1, group).copy_(params.scale);
            res.q.zeros.select(1, group).copy_(params.zero);
          }
        }
      }
      g_of_pos[pos] = static_cast<int32_t>(group);
      auto w = W1.select(1, i);
      auto codes = quantize_codes(w.unsqueeze(1), params, maxq).squeeze(1);
      Q.select(1, pos).copy_(codes);
      auto err = (w - dequantize_codes(codes.unsqueeze(1), params).squeeze(1)) / Hinv1[i][i];
      W1.narrow(1, i, count - i).sub_(err.unsqueeze(1).matmul(Hinv1.select(0, i).narrow(0, i, count - i).unsqueeze(0)));
      Err1.select(1, i).copy_(err);
    }
    if (i2 < cols) W.narrow(1, i2, cols - i2).sub_(Err1.matmul(Hinv.narrow(0, i1, count).narrow(1, i2, cols - i2)));
  }

  if (opt.act_order) {
    auto inv = torch::argsort(perm);
    Q = Q.index_select(1, inv);
    g_of_pos = g_of_pos.index_select(0, inv);
  }
  res.q.codes = Q.to(torch::kUInt8);
  res.q.g_idx = g_of_pos;
  return res;
}

}  // namespace ptq::algo
