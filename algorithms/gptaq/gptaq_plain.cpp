// GPTAQ written as the update reads, for checking the blocked version: no tiles, no lazy updates.
#include "algorithms/gptaq/gptaq.hpp"

#include "core/error.hpp"

namespace ptq::algo {

torch::Tensor gptaq_quantize_plain(const torch::Tensor& weight, const torch::Tensor& hessian, const torch::Tensor& cross,
                                   const IntGrid& grid, const GptaqOptions& opt) {
  torch::NoGradGuard no_grad;
  const auto& g = opt.gptq;
  const int64_t cols = weight.size(1);
  auto W = weight.to(torch::kFloat32).clone();
  auto H = hessian.to(torch::kFloat64).clone();
  auto D = cross.to(torch::kFloat64).clone();
  // Dead columns: H[i,i] = 1, weights and the cross term's columns 0.
  auto dead = H.diagonal() == 0;
  H.diagonal().masked_fill_(dead, 1.0);
  auto dead_cols = torch::nonzero(dead).flatten();
  W.index_fill_(1, dead_cols, 0.0f);
  D.index_fill_(1, dead_cols, 0.0);

  const bool grouped = grid.group_size > 0;
  const int64_t gs = grouped ? grid.group_size : cols;
  std::vector<GridParams> static_params;
  if (grouped && g.static_groups) {
    for (int64_t c = 0; c < cols; c += gs) static_params.push_back(fit_grid(W.narrow(1, c, std::min(gs, cols - c)), grid));
  }
  GridParams p = fit_grid(W, grid);  // per channel / per tensor: fitted once on the whole row

  auto perm = g.act_order ? torch::argsort(H.diagonal(), 0, true) : torch::arange(cols);
  W = W.index_select(1, perm);
  H = H.index_select(0, perm).index_select(1, perm);
  D = D.index_select(0, perm).index_select(1, perm);

  const double damp = g.damp_percent * H.diagonal().mean().item<double>();
  auto Hinv = torch::cholesky_inverse(torch::linalg_cholesky(H + damp * torch::eye(cols, torch::kFloat64)));
  auto U64 = torch::linalg_cholesky(Hinv, /*upper=*/true);
  auto P = (opt.alpha * D.matmul(U64.t()).triu(1).matmul(U64)).to(torch::kFloat32);
  auto U = U64.to(torch::kFloat32);

  auto Q = torch::empty_like(W);
  for (int64_t i = 0; i < cols; ++i) {
    if (grouped && g.static_groups) {
      p = static_params[perm[i].item<int64_t>() / gs];
    } else if (grouped && i % gs == 0) {
      p = fit_grid(W.narrow(1, i, std::min(gs, cols - i)), grid);
    }
    auto w = W.select(1, i).clone();
    auto q = fake_quantize(w.unsqueeze(1), p, grid).squeeze(1);
    Q.select(1, i).copy_(q);
    auto e = (w - q) / U[i][i];
    auto rest = W.narrow(1, i, cols - i);
    rest.sub_(e.unsqueeze(1).matmul(U.select(0, i).narrow(0, i, cols - i).unsqueeze(0)) -
              w.unsqueeze(1).matmul(P.select(0, i).narrow(0, i, cols - i).unsqueeze(0)));
  }
  return Q.index_select(1, torch::argsort(perm));
}

}  // namespace ptq::algo
