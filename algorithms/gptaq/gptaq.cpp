#include "algorithms/gptaq/gptaq.hpp"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <numeric>
#include <system_error>
#include <thread>
#include <vector>

#include "algorithms/rtn/rtn.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"

namespace ptq::algo {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Rows of W handled together in the column loop (one short contiguous vector per column).
constexpr int64_t kRows = 16;

// U, the upper Cholesky factor of (H_w + damp I)^-1 with H_w = H in the working order and zero
// diagonal entries read as 1, row-major into U [n, n]; false when not positive definite. The same
// route and the same fp32 LAPACK calls as GPTQ (one Cholesky of the order-reversed matrix, one
// triangular inverse, indices reversed back), so equal inputs give GPTQ's U to the bit.
bool upper_factor_of_inverse(const float* H, int64_t n, const std::vector<int64_t>& order, float damp, float* U) {
  if (n == 0) return true;
  for (int64_t a = 0; a < n; ++a) {
    const float* h = H + order[n - 1 - a] * n;
    float* p = U + a * n;
    for (int64_t c = 0; c < a; ++c) p[c] = h[order[n - 1 - c]];
    const float d = h[order[n - 1 - a]];
    p[a] = (d == 0 ? 1.0f : d) + damp;
    std::fill(p + a + 1, p + n, 0.0f);
  }
  if (LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'U', n, U, n) != 0) return false;
  if (LAPACKE_strtri_work(LAPACK_COL_MAJOR, 'U', 'N', n, U, n) != 0) return false;
  std::reverse(U, U + n * n);  // J L^-1 J: both indices reversed
  return true;
}

// The state of the column loop. WT is W transposed in the working order (row pos = column
// col_of_pos[pos]), rows padded to whole tiles of kRows with zeros (scale 1, zero point 0: they
// quantize to 0 with no error).
struct Columns {
  int64_t rows = 0, cols = 0, tiles = 0, pr = 0;
  float maxq = 0;
  const FloatCodes* fcodes = nullptr;
  torch::Tensor WT;  // [cols, pr]
  torch::Tensor U;   // [cols, cols]
  torch::Tensor P;   // [cols, cols] the asymmetric term, strictly upper
  torch::Tensor ET;  // [bs, pr] the block's scaled rounding errors
  torch::Tensor VT;  // [bs, pr] the block's columns as they were when quantized
  torch::Tensor QT;  // [cols, pr] codes
  std::vector<int32_t> group_of_pos;
  std::vector<float> scale, zero;  // [groups][pr]

  void set_params(int64_t g, const GridParams& p) {
    auto s = p.scale.contiguous(), z = p.zero.contiguous();
    std::copy_n(s.data_ptr<float>(), rows, scale.data() + g * pr);
    std::copy_n(z.data_ptr<float>(), rows, zero.data() + g * pr);
  }

  // Columns [c0, c1) of the block of `count` columns from i1, a tile of rows at a time: each
  // column is quantized, and its error and its own value spread over the block's later columns.
  void quantize_columns(int64_t i1, int64_t count, int64_t c0, int64_t c1) {
    float* wt = WT.data_ptr<float>();
    float* et = ET.data_ptr<float>();
    float* vt = VT.data_ptr<float>();
    uint8_t* qt = QT.data_ptr<uint8_t>();
    const float* u_all = U.data_ptr<float>();
    const float* p_all = P.data_ptr<float>();
    parallel_ranges(tiles, 1, [&](int64_t tb, int64_t te) {
      std::vector<float> buf((count - c0) * kRows);
      auto col = [&](int64_t j) { return buf.data() + (j - c0) * kRows; };
      for (int64_t t = tb; t < te; ++t) {
        const int64_t r0 = t * kRows;
        for (int64_t j = c0; j < count; ++j) std::memcpy(col(j), wt + (i1 + j) * pr + r0, sizeof(float) * kRows);
        for (int64_t i = c0; i < c1; ++i) {
          const int64_t pos = i1 + i;
          const float* s = scale.data() + group_of_pos[pos] * pr + r0;
          const float* z = zero.data() + group_of_pos[pos] * pr + r0;
          const float* u = u_all + pos * cols + i1;  // row pos of U from the block's first column
          const float* p = p_all + pos * cols + i1;
          const float d = u[i];
          float w[kRows], e[kRows];
          std::memcpy(w, col(i), sizeof(w));
          uint8_t* q = qt + pos * pr + r0;
          for (int64_t k = 0; k < kRows; ++k) {
            // As GPTQ's column loop and quantize_codes: round half to even, clamp; error over d.
            if (fcodes) {
              q[k] = fcodes->encode(w[k] / s[k]);
              e[k] = (w[k] - s[k] * fcodes->value[q[k]]) / d;
            } else {
              const float c = std::min(std::max(std::nearbyint(w[k] / s[k]) + z[k], 0.0f), maxq);
              q[k] = static_cast<uint8_t>(c);
              e[k] = (w[k] - s[k] * (c - z[k])) / d;
            }
          }
          std::memcpy(et + i * pr + r0, e, sizeof(e));
          std::memcpy(vt + i * pr + r0, w, sizeof(w));
          // GPTQ's update as GPTQ writes it (the compiler may fuse it into one FMA), then the
          // asymmetric term: with P = 0 the second adds exact zeros and the result is GPTQ's.
          for (int64_t j = i + 1; j < count; ++j) {
            const float uj = u[j], pj = p[j];
            float* x = col(j);
            for (int64_t k = 0; k < kRows; ++k) x[k] -= e[k] * uj;
            for (int64_t k = 0; k < kRows; ++k) x[k] += w[k] * pj;
          }
        }
        for (int64_t j = c1; j < count; ++j) std::memcpy(wt + (i1 + j) * pr + r0, col(j), sizeof(float) * kRows);
      }
    });
  }

  // Trailing columns after the block [i1, i1 + count): WT[c:] -= U[blk, c:]^T ET - P[blk, c:]^T VT,
  // GPTQ's sgemm followed by the asymmetric one.
  void update_trailing(int64_t i1, int64_t count) {
    const int64_t c = i1 + count;
    if (pr == 0 || c >= cols) return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cols - c, pr, count, -1.0f, U.data_ptr<float>() + i1 * cols + c, cols,
                ET.data_ptr<float>(), pr, 1.0f, WT.data_ptr<float>() + c * pr, pr);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cols - c, pr, count, 1.0f, P.data_ptr<float>() + i1 * cols + c, cols,
                VT.data_ptr<float>(), pr, 1.0f, WT.data_ptr<float>() + c * pr, pr);
  }
};

}  // namespace

GptqResult gptaq_quantize(const torch::Tensor& weight, const torch::Tensor& hessian, const torch::Tensor& cross,
                          const IntGrid& grid, const GptaqOptions& opt, const std::string& where) {
  torch::NoGradGuard no_grad;
  const auto t_start = Clock::now();
  grid.validate(where);
  if (weight.dim() != 2) fail(where, "weight is not a matrix");
  if (opt.gptq.block_size < 1) fail(where, "block_size must be positive");
  if (!(opt.alpha >= 0) || !std::isfinite(opt.alpha)) fail(where, "alpha must be a finite number >= 0");
  const int64_t rows = weight.size(0), cols = weight.size(1);
  const std::string square = std::to_string(cols) + " x " + std::to_string(cols);
  if (hessian.dim() != 2 || hessian.size(0) != cols || hessian.size(1) != cols) fail(where, "Hessian is not " + square);
  if (cross.dim() != 2 || cross.size(0) != cols || cross.size(1) != cols) fail(where, "GPTAQ's cross term (X_fp - X) X^T is not " + square);
  const auto cpu_f32 = torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCPU);
  const auto W0 = weight.to(cpu_f32).contiguous();
  const auto H = hessian.to(cpu_f32).contiguous();
  const auto D = cross.to(cpu_f32).contiguous();
  if (!torch::isfinite(W0).all().item<bool>()) fail(where, "weight holds NaN or Inf");
  if (!torch::isfinite(H).all().item<bool>()) fail(where, "Hessian holds NaN or Inf (non-finite activations?)");
  if (!torch::isfinite(D).all().item<bool>()) fail(where, "GPTAQ's cross term holds NaN or Inf");
  const bool grouped = grid.group_size > 0;
  const int64_t gs = grouped ? grid.group_size : cols;
  const int64_t groups = num_groups(cols, grid);
  const GptqOptions& g = opt.gptq;

  GptqResult res;
  Columns wk;
  wk.rows = rows;
  wk.cols = cols;
  wk.tiles = (rows + kRows - 1) / kRows;
  wk.pr = wk.tiles * kRows;
  const int64_t bs = std::min<int64_t>(g.block_size, std::max<int64_t>(cols, 1));
  wk.maxq = static_cast<float>(grid.maxq());
  if (!grid.is_int()) wk.fcodes = &float_codes(grid.dtype);
  wk.scale.assign(groups * wk.pr, 1.0f);
  wk.zero.assign(groups * wk.pr, 0.0f);
  if (!grouped) wk.set_params(0, fit_grid(W0, grid));

  // Dead columns (H[i,i] = 0): read as H[i,i] = 1, weights 0, no cross term (as the reference).
  auto diag = H.diagonal().clone();
  auto dead = diag == 0;
  diag.masked_fill_(dead, 1.0f);
  const bool any_dead = dead.any().item<bool>();
  const auto dead_cols = any_dead ? torch::nonzero(dead).flatten() : torch::Tensor();
  if (grouped && g.static_groups) {
    auto Wz = any_dead ? W0.index_fill(1, dead_cols, 0.0f) : W0;
    for (int64_t k = 0; k < groups; ++k) wk.set_params(k, fit_grid(Wz.narrow(1, k * gs, std::min(gs, cols - k * gs)), grid));
  }

  std::vector<int64_t> col_of_pos(cols);
  if (g.act_order) {
    auto perm = torch::argsort(diag, 0, true).contiguous();
    std::copy_n(perm.data_ptr<int64_t>(), cols, col_of_pos.begin());
  } else {
    std::iota(col_of_pos.begin(), col_of_pos.end(), int64_t{0});
  }
  wk.group_of_pos.resize(cols);
  for (int64_t pos = 0; pos < cols; ++pos) {
    wk.group_of_pos[pos] = !grouped ? 0 : static_cast<int32_t>((g.static_groups ? col_of_pos[pos] : pos) / gs);
  }

  const auto t_factor = Clock::now();
  res.damp = g.damp_percent * diag.mean().item<double>();
  wk.U = torch::empty({cols, cols});
  bool ok = upper_factor_of_inverse(H.data_ptr<float>(), cols, col_of_pos, static_cast<float>(res.damp), wk.U.data_ptr<float>());
  while (!ok && res.damp_retries < 5) {
    res.damp *= 10;
    ++res.damp_retries;
    ok = upper_factor_of_inverse(H.data_ptr<float>(), cols, col_of_pos, static_cast<float>(res.damp), wk.U.data_ptr<float>());
  }
  if (!ok) {
    res.fell_back_to_rtn = true;
    res.note = where + ": Hessian not positive definite even with damping " + std::to_string(res.damp) +
               "; quantized with RTN instead";
    res.q = rtn_quantize(weight, grid);
    res.timing.factor_s = seconds_since(t_factor);
    res.timing.total_s = seconds_since(t_start);
    return res;
  }
  // P = alpha triu(D_w U^T, 1) U, D_w the cross term in the working order.
  {
    auto order = torch::from_blob(col_of_pos.data(), {cols}, torch::kInt64);
    auto Dw = D;
    if (any_dead) Dw = Dw.index_fill(1, dead_cols, 0.0f);
    Dw = Dw.index_select(0, order).index_select(1, order);
    wk.P = (Dw.matmul(wk.U.t()).triu(1).matmul(wk.U) * opt.alpha).contiguous();
  }
  res.timing.factor_s = seconds_since(t_factor);

  wk.WT = torch::zeros({cols, wk.pr});
  {
    auto Wz = any_dead ? W0.index_fill(1, dead_cols, 0.0f) : W0;
    auto order = torch::from_blob(col_of_pos.data(), {cols}, torch::kInt64);
    wk.WT.narrow(1, 0, rows).copy_(Wz.index_select(1, order).t());
  }
  wk.ET = torch::empty({bs, wk.pr});
  wk.VT = torch::empty({bs, wk.pr});
  wk.QT = torch::empty({cols, wk.pr}, torch::kUInt8);
  const bool fit_as_we_go = grouped && !g.static_groups;

  for (int64_t i1 = 0; i1 < cols; i1 += bs) {
    const int64_t i2 = std::min(i1 + bs, cols), count = i2 - i1;
    const auto t_cols = Clock::now();
    int64_t c0 = 0;
    while (c0 < count) {
      const int64_t pos = i1 + c0;
      if (fit_as_we_go && pos % gs == 0) {
        // A group's parameters from the current weights of its columns; those past this block
        // get the block's pending update from the c0 columns quantized so far.
        const int64_t n = std::min(gs, cols - pos), in_block = std::min(n, count - c0);
        auto cur = wk.WT.narrow(0, pos, in_block);
        if (n > in_block) {
          auto beyond = wk.WT.narrow(0, i2, n - in_block);
          if (c0 > 0) {
            beyond = beyond - wk.U.narrow(0, i1, c0).narrow(1, i2, n - in_block).t().matmul(wk.ET.narrow(0, 0, c0));
            beyond = beyond + wk.P.narrow(0, i1, c0).narrow(1, i2, n - in_block).t().matmul(wk.VT.narrow(0, 0, c0));
          }
          cur = torch::cat({cur, beyond}, 0);
        }
        wk.set_params(pos / gs, fit_grid(cur.narrow(1, 0, rows).t().contiguous(), grid));
      }
      const int64_t c1 = fit_as_we_go ? std::min(count, (pos / gs + 1) * gs - i1) : count;
      wk.quantize_columns(i1, count, c0, c1);
      c0 = c1;
    }
    res.timing.columns_s += seconds_since(t_cols);
    const auto t_upd = Clock::now();
    wk.update_trailing(i1, count);
    res.timing.update_s += seconds_since(t_upd);
  }

  auto scales = torch::empty({rows, groups}), zeros = torch::empty({rows, groups});
  for (int64_t k = 0; k < groups; ++k) {
    scales.select(1, k).copy_(torch::from_blob(wk.scale.data() + k * wk.pr, {rows}));
    zeros.select(1, k).copy_(torch::from_blob(wk.zero.data() + k * wk.pr, {rows}));
  }
  auto g_idx = torch::empty({cols}, torch::kInt32);
  auto codes = torch::empty({rows, cols}, torch::kUInt8);
  auto qt = wk.QT.narrow(1, 0, rows);
  for (int64_t pos = 0; pos < cols; ++pos) {
    g_idx.data_ptr<int32_t>()[col_of_pos[pos]] = wk.group_of_pos[pos];
    codes.select(1, col_of_pos[pos]).copy_(qt[pos]);
  }
  const auto dev = weight.device();
  res.q.grid = grid;
  res.q.codes = codes.to(dev);
  res.q.scales = scales.to(dev);
  res.q.zeros = zeros.to(dev);
  res.q.g_idx = g_idx.to(dev);
  res.timing.total_s = seconds_since(t_start);
  return res;
}

double asymmetric_objective(const torch::Tensor& weight, const torch::Tensor& dequantized, const torch::Tensor& hessian,
                            const torch::Tensor& cross) {
  auto W = weight.to(torch::kFloat64), Q = dequantized.to(torch::kFloat64);
  auto H = hessian.to(torch::kFloat64), D = cross.to(torch::kFloat64);
  return 0.5 * (Q.matmul(H) * Q).sum().item<double>() - (W.matmul(H + D) * Q).sum().item<double>();
}

}  // namespace ptq::algo
