#include "algorithms/gptq/gptq.hpp"

#include <ATen/Parallel.h>
#include <cblas.h>
#include <lapacke.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <numeric>
#include <system_error>
#include <thread>

#include "algorithms/rtn/rtn.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"

namespace ptq::algo {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Rows handled together in the column loop: the loop runs over a [columns, kTile] copy of a slice
// of the block, so each column of the tile is one short contiguous vector and the copy stays in L1.
constexpr int64_t kTile = 16;

// Quantizes one column of a tile, x[kTile], with scales s and zero points z as quantize_codes /
// dequantize_codes do (round half to even, then clamp): codes to q, rounding errors divided by d
// to e. The inputs are copied to local arrays first: on them the compiler vectorises the loop.
inline void quantize_tile_column(const float* x, const float* s, const float* z, float d, float maxq, uint8_t* q, float* e) {
  float xs[kTile], ss[kTile], zs[kTile], c[kTile];
  std::memcpy(xs, x, sizeof(xs));
  std::memcpy(ss, s, sizeof(ss));
  std::memcpy(zs, z, sizeof(zs));
  for (int64_t k = 0; k < kTile; ++k) {
    c[k] = std::min(std::max(std::nearbyint(xs[k] / ss[k]) + zs[k], 0.0f), maxq);
    e[k] = (xs[k] - ss[k] * (c[k] - zs[k])) / d;
  }
  uint8_t qs[kTile];
  for (int64_t k = 0; k < kTile; ++k) qs[k] = static_cast<uint8_t>(c[k]);
  std::memcpy(q, qs, sizeof(qs));
}

// The same for a floating-point dtype (zero points are 0): each code is the type's encoding of
// x / s, as quantize_codes does for such grids.
inline void quantize_tile_column_float(const float* x, const float* s, float d, const FloatCodes& fc, uint8_t* q, float* e) {
  for (int64_t k = 0; k < kTile; ++k) {
    q[k] = fc.encode(x[k] / s[k]);
    e[k] = (x[k] - s[k] * fc.value[q[k]]) / d;
  }
}

// A blockwise grid's column of a tile: value(q) = a q + b, codes clamped to [lo, hi] (a zero scale:
// every code gives b, so the lowest); or, with levels, the nearest of a * levels[k] (the first of
// equals).
inline void quantize_tile_column_affine(const float* x, const float* a, const float* b, float d, float lo, float hi, uint8_t* q,
                                        float* e) {
  for (int64_t k = 0; k < kTile; ++k) {
    const float c = a[k] != 0 ? std::min(std::max(std::nearbyint((x[k] - b[k]) / a[k]), lo), hi) : lo;
    q[k] = static_cast<uint8_t>(c);
    e[k] = (x[k] - (a[k] * c + b[k])) / d;
  }
}
inline void quantize_tile_column_levels(const float* x, const float* a, const std::vector<float>& levels, float d, uint8_t* q,
                                        float* e) {
  for (int64_t k = 0; k < kTile; ++k) {
    int best = 0;
    float best_value = a[k] * levels[0], best_dist = std::abs(x[k] - best_value);
    for (size_t l = 1; l < levels.size(); ++l) {
      const float v = a[k] * levels[l], dist = std::abs(x[k] - v);
      if (dist < best_dist) best = static_cast<int>(l), best_value = v, best_dist = dist;
    }
    q[k] = static_cast<uint8_t>(best);
    e[k] = (x[k] - best_value) / d;
  }
}

// Upper Cholesky factor U of (H_w + damp I)^-1, where H_w = H[order][:, order] with zero diagonal
// entries (dead columns) read as 1, written row-major to U (n x n, zeros below the diagonal).
// Returns false when H_w + damp I is not positive definite.
//
// The reference factors H, inverts it from the factor and factors the inverse again. With J the
// order-reversing permutation, J H_w J = L L^T gives H_w = (J L J)(J L J)^T with J L J upper, so
// H_w^-1 = (J L^-1 J)^T (J L^-1 J) and, the Cholesky factor being unique, U = J L^-1 J: one
// Cholesky and one triangular inverse, no explicit inverse to factor again. Both run in fp32
// LAPACK (OpenBLAS's spotrf + strtri), fp32 as in the reference. Measured on 4096 x 4096 with 2
// threads: 0.34 s, against 0.7-0.9 s for the reference's route in fp32 LAPACK (spotrf, spotri,
// spotrf), 0.75 s for this route in fp64 (dpotrf, dtrtri), 1.0-1.3 s for the reference's route
// through torch::linalg in fp32 and 1.9 s in fp64 (what this file did before).
bool inverse_cholesky_upper(const float* H, int64_t n, const std::vector<int64_t>& order, float damp, float* U) {
  if (n == 0) return true;
  // Row a of the buffer is row order[n-1-a] of H; only the lower triangle (what LAPACK reads as the
  // column-major upper one) is filled, the rest zeroed. Rows go in pairs a, n-1-a, which together
  // hold n entries of the triangle, so that the threads get even shares.
  auto fill_row = [&](int64_t a) {
    const float* h = H + order[n - 1 - a] * n;
    float* p = U + a * n;
    for (int64_t c = 0; c < a; ++c) p[c] = h[order[n - 1 - c]];
    const float d = h[order[n - 1 - a]];
    p[a] = (d == 0 ? 1.0f : d) + damp;
    std::fill(p + a + 1, p + n, 0.0f);
  };
  parallel_ranges((n + 1) / 2, 64, [&](int64_t b, int64_t e) {
    for (int64_t a = b; a < e; ++a) {
      fill_row(a);
      if (n - 1 - a != a) fill_row(n - 1 - a);
    }
  });
  // Column-major, the buffer holds L^T: spotrf('U') factors it in place, strtri('U') inverts it,
  // leaving (L^-1)^T column-major, i.e. L^-1 row-major.
  // The _work entry points skip LAPACKE's NaN scans of the matrix (the Hessian was checked).
  if (LAPACKE_spotrf_work(LAPACK_COL_MAJOR, 'U', n, U, n) != 0) return false;
  if (LAPACKE_strtri_work(LAPACK_COL_MAJOR, 'U', 'N', n, U, n) != 0) return false;
  // J L^-1 J reverses both indices: the flat array read backwards, i.e. row a and row n-1-a
  // swapped, each reversed.
  parallel_ranges((n + 1) / 2, 64, [&](int64_t b, int64_t e) {
    std::vector<float> row(n);
    for (int64_t a = b; a < e; ++a) {
      float* top = U + a * n;
      float* bottom = U + (n - 1 - a) * n;
      std::reverse_copy(top, top + n, row.begin());
      if (top != bottom) std::reverse_copy(bottom, bottom + n, top);
      std::copy(row.begin(), row.end(), bottom);
    }
  });
  return true;
}

bool all_finite(const torch::Tensor& t) {
  const float* p = t.data_ptr<float>();
  std::atomic<bool> ok{true};
  parallel_ranges(t.numel(), 1 << 16, [&](int64_t b, int64_t e) {
    // x - x is NaN exactly for NaN and +-Inf; an integer flag and fixed-length chunks let the
    // compiler vectorise the loop.
    constexpr int64_t kChunk = 64;
    int bad = 0;
    int64_t i = b;
    for (; i + kChunk <= e; i += kChunk) {
      for (int64_t k = 0; k < kChunk; ++k) bad |= !(p[i + k] - p[i + k] == 0.0f);
    }
    for (; i < e; ++i) bad |= !(p[i] - p[i] == 0.0f);
    if (bad) ok = false;
  });
  return ok;
}

// Rows fitted together by fit_min_max_chunk.
constexpr int64_t kFitRows = 256;

// fit_grid's min-max parameters for m <= kFitRows rows of a group held transposed (x + k * ld:
// column k of the group over the m rows), bit for bit: the same fp32 operations in the same order.
void fit_min_max_chunk(const float* x, int64_t n, int64_t ld, int64_t m, const IntGrid& grid, float* scale, float* zero) {
  const float maxq = static_cast<float>(grid.maxq());
  float lo[kFitRows] = {}, hi[kFitRows] = {};  // the range always includes 0
  for (int64_t k = 0; k < n; ++k) {
    const float* xk = x + k * ld;
    for (int64_t r = 0; r < m; ++r) {
      lo[r] = std::min(lo[r], xk[r]);
      hi[r] = std::max(hi[r], xk[r]);
    }
  }
  for (int64_t r = 0; r < m; ++r) {
    float l = lo[r], h = hi[r];
    if (grid.sym) {
      h = std::max(std::abs(l), h);
      if (l < 0) l = -h;
    }
    if (l == 0 && h == 0) l = -1, h = 1;
    scale[r] = (h - l) / maxq;
    zero[r] = grid.sym ? (maxq + 1) / 2 : std::nearbyint(-l / scale[r]);
  }
}

// The same for the first `rows` rows of x [n][ld].
void fit_min_max(const float* x, int64_t n, int64_t ld, int64_t rows, const IntGrid& grid, float* scale, float* zero) {
  parallel_ranges((rows + kFitRows - 1) / kFitRows, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t b = cb * kFitRows; b < std::min(rows, ce * kFitRows); b += kFitRows) {
      fit_min_max_chunk(x + b, n, ld, std::min(kFitRows, rows - b), grid, scale + b, zero + b);
    }
  });
}

// The working state of GPTQ. W is held transposed, in the working column order: row pos of WT is
// column col_of_pos[pos] of W, so a tile of the column loop reads and the errors and codes it
// writes are contiguous slices. Rows are padded to whole tiles (pr of them): the padding holds
// zero weights with scale 1 and zero point 0, which quantize to 0 with no error and stay 0.
struct Work {
  int64_t rows, cols, tiles, pr, bs;
  int maxq;
  const FloatCodes* fcodes = nullptr;  // set for a floating-point dtype
  const BlockwiseGrid* blockwise = nullptr;  // set for a blockwise grid: scale/zero hold a/b per position
  torch::Tensor WT;                  // [cols, pr]
  torch::Tensor U;                   // [cols, cols] upper factor of H^-1, working order
  torch::Tensor ET;                  // [bs, pr] scaled rounding errors of the current block
  torch::Tensor QT;                  // [cols, pr] codes
  torch::Tensor P;                   // [cols, cols] the extra feedback term, working order (undefined: none)
  torch::Tensor VT;                  // [bs, pr] with P: the block's columns as they were when quantized
  std::vector<int32_t> group_of_pos;
  std::vector<float> scale, zero;    // [groups][pr]

  void set_params(int64_t g, const torch::Tensor& s, const torch::Tensor& z) {
    auto sc = s.contiguous(), zc = z.contiguous();
    std::copy_n(sc.data_ptr<float>(), rows, scale.data() + g * pr);
    std::copy_n(zc.data_ptr<float>(), rows, zero.data() + g * pr);
  }

  // Quantizes columns [c0, c1) of the block of `count` columns starting at i1, tile by tile:
  // each column's scaled error is spread over the later columns of the block, codes and errors
  // are recorded, and columns from c1 on are written back updated for the next segment.
  void quantize_columns(int64_t i1, int64_t count, int64_t c0, int64_t c1) {
    const float fmaxq = static_cast<float>(maxq);
    float* wt = WT.data_ptr<float>();
    float* et = ET.data_ptr<float>();
    uint8_t* qt = QT.data_ptr<uint8_t>();
    const float* u_all = U.data_ptr<float>();
    const float* p_all = P.defined() ? P.data_ptr<float>() : nullptr;
    float* vt = P.defined() ? VT.data_ptr<float>() : nullptr;
    parallel_ranges(tiles, 1, [&](int64_t tb, int64_t te) {
      // Block column j (>= c0) of the tile: x(j)[0 .. kTile).
      std::vector<float> buf((count - c0) * kTile);
      auto x = [&](int64_t j) { return buf.data() + (j - c0) * kTile; };
      for (int64_t t = tb; t < te; ++t) {
        const int64_t r0 = t * kTile;
        // Fixed-size memcpy: inlined as vector moves (a loop would need proof the two don't alias).
        for (int64_t j = c0; j < count; ++j) std::memcpy(x(j), wt + (i1 + j) * pr + r0, sizeof(float) * kTile);
        for (int64_t i = c0; i < c1; ++i) {
          const int64_t pos = i1 + i;
          const float* s = scale.data() + group_of_pos[pos] * pr + r0;
          const float* z = zero.data() + group_of_pos[pos] * pr + r0;
          const float* u = u_all + pos * cols + i1;  // row pos of U from the block's first column
          const float d = u[i];
          float e[kTile];
          if (blockwise && blockwise->levels.empty()) {
            quantize_tile_column_affine(x(i), s, z, d, float(blockwise->lo), float(blockwise->hi), qt + pos * pr + r0, e);
          } else if (blockwise) {
            quantize_tile_column_levels(x(i), s, blockwise->levels, d, qt + pos * pr + r0, e);
          } else if (fcodes) {
            quantize_tile_column_float(x(i), s, d, *fcodes, qt + pos * pr + r0, e);
          } else {
            quantize_tile_column(x(i), s, z, d, fmaxq, qt + pos * pr + r0, e);
          }
          std::memcpy(et + i * pr + r0, e, sizeof(e));
          if (!p_all) {
            for (int64_t j = i + 1; j < count; ++j) {
              const float uj = u[j];
              float* xj = x(j);
              for (int64_t k = 0; k < kTile; ++k) xj[k] -= e[k] * uj;
            }
            continue;
          }
          // GPTQ's update as above, then the extra term: with P = 0 it adds exact zeros, so the
          // result is GPTQ's to the bit.
          float w[kTile];
          std::memcpy(w, x(i), sizeof(w));
          std::memcpy(vt + i * pr + r0, w, sizeof(w));
          const float* p = p_all + pos * cols + i1;
          for (int64_t j = i + 1; j < count; ++j) {
            const float uj = u[j], pj = p[j];
            float* xj = x(j);
            for (int64_t k = 0; k < kTile; ++k) xj[k] -= e[k] * uj;
            for (int64_t k = 0; k < kTile; ++k) xj[k] += w[k] * pj;
          }
        }
        for (int64_t j = c1; j < count; ++j) std::memcpy(wt + (i1 + j) * pr + r0, x(j), sizeof(float) * kTile);
      }
    });
  }

  // The lazy update of the trailing columns after the block [i1, i1 + count):
  // W[:, c:] -= Err1 @ U[i1:i1+count, c:], here WT[c:] -= U[i1:i1+count, c:]^T @ ET, one sgemm.
  void update_trailing(int64_t i1, int64_t count) {
    const int64_t c = i1 + count;
    if (pr == 0 || c >= cols) return;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cols - c, pr, count, -1.0f, U.data_ptr<float>() + i1 * cols + c, cols,
                ET.data_ptr<float>(), pr, 1.0f, WT.data_ptr<float>() + c * pr, pr);
    if (P.defined()) {  // + P[blk, c:]^T VT
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cols - c, pr, count, 1.0f, P.data_ptr<float>() + i1 * cols + c, cols,
                  VT.data_ptr<float>(), pr, 1.0f, WT.data_ptr<float>() + c * pr, pr);
    }
  }

  // The block's pending lazy update of positions [b, b + n) (past the block) from its first c0
  // columns, applied to a copy: cur - U[blk, b:]^T ET (+ P[blk, b:]^T VT).
  torch::Tensor pending(const torch::Tensor& cur, int64_t i1, int64_t c0, int64_t b, int64_t n) const {
    if (c0 == 0) return cur;
    auto out = cur - U.narrow(0, i1, c0).narrow(1, b, n).t().matmul(ET.narrow(0, 0, c0));
    if (P.defined()) out = out + P.narrow(0, i1, c0).narrow(1, b, n).t().matmul(VT.narrow(0, 0, c0));
    return out;
  }

  // WT[pos_of_col[c]][r] = W[r][c], in blocks of kTile x kTile: kTile rows of the block are copied
  // whole into a small buffer, whose columns are then written as rows of WT. The last tile's
  // padding rows get zeros.
  void load_weights(const float* w, const std::vector<int64_t>& pos_of_col) {
    float* wt = WT.data_ptr<float>();
    parallel_ranges(tiles, 1, [&](int64_t tb, int64_t te) {
      float buf[kTile][kTile];
      for (int64_t t = tb; t < te; ++t) {
        const int64_t r0 = t * kTile, valid = std::min(kTile, rows - r0);
        for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
          const int64_t width = std::min(kTile, cols - c0);
          for (int64_t k = 0; k < kTile; ++k) {
            if (k < valid && width == kTile) {
              std::memcpy(buf[k], w + (r0 + k) * cols + c0, sizeof(buf[k]));
            } else {
              for (int64_t c = 0; c < kTile; ++c) buf[k][c] = k < valid && c < width ? w[(r0 + k) * cols + c0 + c] : 0.0f;
            }
          }
          for (int64_t c = 0; c < width; ++c) {
            float* dst = wt + pos_of_col[c0 + c] * pr + r0;
            for (int64_t k = 0; k < kTile; ++k) dst[k] = buf[k][c];
          }
        }
      }
    });
  }

  // codes[r][col_of_pos[pos]] = QT[pos][r], a tile of rows at a time through a buffer whose row
  // stride is padded (rows a multiple of 4 KiB apart would compete for the same cache sets).
  torch::Tensor codes_in_order(const std::vector<int64_t>& col_of_pos) const {
    auto codes = torch::empty({rows, cols}, torch::kUInt8);
    const uint8_t* qt = QT.data_ptr<uint8_t>();
    uint8_t* out = codes.data_ptr<uint8_t>();
    const int64_t ld = cols + 64;
    parallel_ranges(tiles, 1, [&](int64_t tb, int64_t te) {
      std::vector<uint8_t> buf(kTile * ld);
      for (int64_t t = tb; t < te; ++t) {
        const int64_t r0 = t * kTile, valid = std::min(kTile, rows - r0);
        for (int64_t pos = 0; pos < cols; ++pos) {
          const uint8_t* src = qt + pos * pr + r0;
          uint8_t* dst = buf.data() + col_of_pos[pos];
          for (int64_t k = 0; k < kTile; ++k) dst[k * ld] = src[k];
        }
        for (int64_t k = 0; k < valid; ++k) std::copy_n(buf.data() + k * ld, cols, out + (r0 + k) * cols);
      }
    });
    return codes;
  }
};

}  // namespace

double relative_output_error(const torch::Tensor& weight, const torch::Tensor& dequantized, const torch::Tensor& hessian) {
  auto W = weight.to(torch::kFloat64), D = W - dequantized.to(torch::kFloat64), H = hessian.to(torch::kFloat64);
  const double num = (D.matmul(H) * D).sum().item<double>();
  const double den = (W.matmul(H) * W).sum().item<double>();
  return den > 0 ? num / den : 0.0;
}

// How the work goes: U (the upper factor of H^-1, working order) by one Cholesky and one triangular
// inverse in LAPACK; W transposed into WT; then per block of columns, the column loop in plain C++
// over tiles of kTile rows (rows are independent, so the tiles are shared out among the threads;
// group parameters are fitted where groups begin), and the lazy update of the trailing columns as
// one sgemm. Codes come back to the original column order at the end.
namespace {

// The one GPTQ: over an integer / floating-point grid (`grid`), or a blockwise one (`bw` set, `grid`
// unused), with an optional extra feedback term.
GptqResult run_gptq(const torch::Tensor& weight, const torch::Tensor& hessian, const IntGrid& grid, const BlockwiseGrid* bw,
                    const GptqOptions& opt, const std::string& where, const ExtraFeedback& extra) {
  torch::NoGradGuard no_grad;
  const auto t_start = Clock::now();
  if (!bw) grid.validate(where);
  if (weight.dim() != 2) fail(where, "weight is not a matrix");
  if (opt.block_size < 1) fail(where, "block_size must be positive");
  const int64_t rows = weight.size(0), cols = weight.size(1);
  if (bw) {
    if (bw->block < 1 || cols % bw->block != 0) {
      fail(where, "rows of " + std::to_string(cols) + " weights are not whole blocks of " + std::to_string(bw->block));
    }
    if (bw->levels.empty() ? !(0 <= bw->lo && bw->lo <= bw->hi && bw->hi <= 255) : bw->levels.size() > 256) {
      fail(where, "the blockwise grid's codes do not fit a byte");
    }
    if (!bw->fit) fail(where, "the blockwise grid has no fit");
    if (opt.act_order || opt.static_groups) fail(where, "act-order and static groups do not apply to a blockwise grid");
  }
  if (hessian.dim() != 2 || hessian.size(0) != cols || hessian.size(1) != cols) {
    fail(where, "Hessian is not " + std::to_string(cols) + " x " + std::to_string(cols));
  }
  // The work runs on the CPU; results go back to the weight's device.
  const auto cpu_f32 = torch::TensorOptions().dtype(torch::kFloat32).device(torch::kCPU);
  const auto W0 = weight.to(cpu_f32).contiguous();  // read only
  const auto H = hessian.to(cpu_f32).contiguous();  // read only
  if (!all_finite(W0)) fail(where, "weight holds NaN or Inf");
  if (!all_finite(H)) fail(where, "Hessian holds NaN or Inf (non-finite activations?)");
  // A blockwise grid is a grouped one whose every position has parameters of its own (a, b in
  // scale, zero), set for a whole block when its first column comes.
  const bool grouped = bw || grid.group_size > 0;
  const int64_t gs = bw ? bw->block : grouped ? grid.group_size : cols;
  const int64_t groups = bw ? cols : num_groups(cols, grid);

  GptqResult res;
  Work wk;
  wk.rows = rows;
  wk.cols = cols;
  wk.tiles = (rows + kTile - 1) / kTile;
  wk.pr = wk.tiles * kTile;
  wk.bs = std::min<int64_t>(opt.block_size, std::max<int64_t>(cols, 1));
  wk.blockwise = bw;
  if (!bw) {
    wk.maxq = grid.maxq();
    if (!grid.is_int()) wk.fcodes = &float_codes(grid.dtype);
  }
  wk.scale.assign(groups * wk.pr, 1.0f);  // padding rows: scale 1, zero 0
  wk.zero.assign(groups * wk.pr, 0.0f);

  // One set of parameters for the whole row (per channel / per tensor), fitted before anything else.
  if (!grouped) {
    auto p = fit_grid(W0, grid);
    wk.set_params(0, p.scale, p.zero);
  }
  // Dead columns (H[i,i] = 0): H[i,i] reads as 1 and their weights as 0.
  auto diag = H.diagonal().clone();
  if ((diag < 0).any().item<bool>()) {
    fail(where, "Hessian has a negative diagonal entry (column " + std::to_string((diag < 0).nonzero()[0].item<int64_t>()) +
                    "): not a sum of x x^T (corrupt statistics?)");
  }
  auto dead = diag == 0;
  diag.masked_fill_(dead, 1.0f);
  const bool any_dead = dead.any().item<bool>();
  if (grouped && opt.static_groups) {
    auto Wz = any_dead ? W0.index_fill(1, torch::nonzero(dead).flatten(), 0.0f) : W0;
    for (int64_t g = 0; g < groups; ++g) {
      auto p = fit_grid(Wz.narrow(1, g * gs, std::min(gs, cols - g * gs)), grid);
      wk.set_params(g, p.scale, p.zero);
    }
  }

  // The working column order: position pos holds column col_of_pos[pos].
  std::vector<int64_t> col_of_pos(cols);
  if (opt.act_order) {
    auto perm = torch::argsort(diag, /*dim=*/0, /*descending=*/true).contiguous();
    std::copy_n(perm.data_ptr<int64_t>(), cols, col_of_pos.begin());
  } else {
    std::iota(col_of_pos.begin(), col_of_pos.end(), int64_t{0});
  }
  wk.group_of_pos.resize(cols);
  for (int64_t pos = 0; pos < cols; ++pos) {
    wk.group_of_pos[pos] = bw ? static_cast<int32_t>(pos)
                              : !grouped ? 0 : static_cast<int32_t>((opt.static_groups ? col_of_pos[pos] : pos) / gs);
  }

  const auto t_factor = Clock::now();
  res.damp = opt.damp_percent * diag.mean().item<double>();
  wk.U = torch::empty({cols, cols});
  bool ok = inverse_cholesky_upper(H.data_ptr<float>(), cols, col_of_pos, static_cast<float>(res.damp), wk.U.data_ptr<float>());
  while (!ok && res.damp_retries < 5) {
    res.damp *= 10;
    ++res.damp_retries;
    ok = inverse_cholesky_upper(H.data_ptr<float>(), cols, col_of_pos, static_cast<float>(res.damp), wk.U.data_ptr<float>());
  }
  if (!ok) {
    res.fell_back_to_rtn = true;
    res.note = where + ": Hessian not positive definite even with damping " + std::to_string(res.damp) +
               "; quantized with RTN instead";
    if (!bw) res.q = rtn_quantize(weight, grid);
    res.timing.factor_s = seconds_since(t_factor);
    res.timing.total_s = seconds_since(t_start);
    return res;
  }
  if (extra) {
    wk.P = extra(wk.U, col_of_pos, dead).to(cpu_f32).contiguous();
    if (wk.P.dim() != 2 || wk.P.size(0) != cols || wk.P.size(1) != cols) fail(where, "the extra feedback term is not " + std::to_string(cols) + " x " + std::to_string(cols));
    wk.VT = torch::empty({wk.bs, wk.pr});
  }
  res.timing.factor_s = seconds_since(t_factor);

  std::vector<int64_t> pos_of_col(cols);
  for (int64_t pos = 0; pos < cols; ++pos) pos_of_col[col_of_pos[pos]] = pos;
  wk.WT = torch::empty({cols, wk.pr});
  wk.load_weights(W0.data_ptr<float>(), pos_of_col);
  if (any_dead) {
    const bool* is_dead = dead.data_ptr<bool>();
    for (int64_t pos = 0; pos < cols; ++pos) {
      if (is_dead[col_of_pos[pos]]) wk.WT[pos].zero_();
    }
  }
  wk.ET = torch::empty({wk.bs, wk.pr});
  wk.QT = torch::empty({cols, wk.pr}, torch::kUInt8);
  const bool fit_as_we_go = grouped && !opt.static_groups;

  for (int64_t i1 = 0; i1 < cols; i1 += wk.bs) {
    const int64_t i2 = std::min(i1 + wk.bs, cols), count = i2 - i1;
    auto t_cols = Clock::now();
    // The block splits where groups begin: a group's parameters are fitted on the current
    // (error-compensated) weights of all rows before its first column is quantized.
    int64_t c0 = 0;
    while (c0 < count) {
      const int64_t pos = i1 + c0;
      if (fit_as_we_go && pos % gs == 0) {
        const int64_t n = std::min(gs, cols - pos), in_block = std::min(n, count - c0);
        auto cur = wk.WT.narrow(0, pos, in_block);  // [n, pr]: the group's columns, transposed
        if (n > in_block) {
          // Columns past this block have not yet received the block's pending (lazy) update from
          // the c0 columns already quantized: apply it to the copy the fit sees.
          cur = torch::cat({cur, wk.pending(wk.WT.narrow(0, i2, n - in_block), i1, c0, i2, n - in_block)}, 0);
        }
        const int64_t g = pos / gs;
        if (bw) {
          // The block's weights as rows [rows, n]; a and b come back the same way, then go to the
          // per-position parameters (scale, zero) the column loop reads.
          auto block = cur.narrow(1, 0, rows).t().contiguous();
          std::vector<float> a(rows * n), b(rows * n);
          bw->fit(pos, block.data_ptr<float>(), a.data(), b.data());
          for (int64_t j = 0; j < n; ++j) {
            for (int64_t r = 0; r < rows; ++r) {
              wk.scale[(pos + j) * wk.pr + r] = a[r * n + j];
              wk.zero[(pos + j) * wk.pr + r] = b[r * n + j];
            }
          }
        } else if (grid.mse || !grid.is_int()) {
          auto p = fit_grid(cur.narrow(1, 0, rows).t().contiguous(), grid);
          wk.set_params(g, p.scale, p.zero);
        } else {
          cur = cur.contiguous();
          fit_min_max(cur.data_ptr<float>(), n, wk.pr, rows, grid, wk.scale.data() + g * wk.pr, wk.zero.data() + g * wk.pr);
        }
      }
      const int64_t c1 = fit_as_we_go ? std::min(count, (pos / gs + 1) * gs - i1) : count;
      wk.quantize_columns(i1, count, c0, c1);
      c0 = c1;
    }
    res.timing.columns_s += seconds_since(t_cols);
    if (i2 < cols) {
      auto t_upd = Clock::now();
      wk.update_trailing(i1, count);
      res.timing.update_s += seconds_since(t_upd);
    }
  }

  if (bw) {
    res.q.codes = wk.codes_in_order(col_of_pos).to(weight.device());
    res.timing.total_s = seconds_since(t_start);
    return res;
  }
  // Parameters back to [rows, groups]; codes and g_idx to the original column order.
  auto scales = torch::empty({rows, groups}), zeros = torch::empty({rows, groups});
  for (int64_t g = 0; g < groups; ++g) {
    scales.select(1, g).copy_(torch::from_blob(wk.scale.data() + g * wk.pr, {rows}));
    zeros.select(1, g).copy_(torch::from_blob(wk.zero.data() + g * wk.pr, {rows}));
  }
  auto g_idx = torch::empty({cols}, torch::kInt32);
  for (int64_t pos = 0; pos < cols; ++pos) g_idx.data_ptr<int32_t>()[col_of_pos[pos]] = wk.group_of_pos[pos];
  auto codes = wk.codes_in_order(col_of_pos);

  const auto dev = weight.device();
  res.q.grid = grid;
  res.q.codes = codes.to(dev);
  res.q.scales = scales.to(dev);
  res.q.zeros = zeros.to(dev);
  res.q.g_idx = g_idx.to(dev);
  res.timing.total_s = seconds_since(t_start);
  return res;
}

}  // namespace

GptqResult gptq_quantize(const torch::Tensor& weight, const torch::Tensor& hessian, const IntGrid& grid,
                         const GptqOptions& opt, const std::string& where) {
  return run_gptq(weight, hessian, grid, nullptr, opt, where, ExtraFeedback{});
}

GptqResult gptq_quantize(const torch::Tensor& weight, const torch::Tensor& hessian, const IntGrid& grid,
                         const GptqOptions& opt, const std::string& where, const ExtraFeedback& extra) {
  return run_gptq(weight, hessian, grid, nullptr, opt, where, extra);
}

GptqResult gptq_quantize(const torch::Tensor& weight, const torch::Tensor& hessian, const BlockwiseGrid& grid,
                         const GptqOptions& opt, const std::string& where) {
  return run_gptq(weight, hessian, IntGrid{}, &grid, opt, where, ExtraFeedback{});
}

}  // namespace ptq::algo
