// GPTQ (Frantar et al., 2022) as the reference implementation defines it: columns quantized in
// order (or by decreasing Hessian diagonal with act-order), each column's rounding error spread over
// the not-yet-quantized columns through the upper Cholesky factor of H^-1, with lazy batch updates
// of `block_size` columns; damping as a fraction of the mean diagonal; dead columns (H[i,i] = 0) set
// to H[i,i] = 1 with their weights zeroed; group parameters fitted when a group begins (or all up
// front with static groups). When Cholesky fails the damping grows x10 up to 5 times; then the
// layer falls back to RTN, and the result says so.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "algorithms/common/quantized_linear.hpp"

namespace ptq::algo {

struct GptqOptions {
  int block_size = 128;
  double damp_percent = 0.01;
  bool act_order = false;
  bool static_groups = false;
};

struct GptqResult {
  QuantizedLinear q;
  double damp = 0;           // damping added to the diagonal in the end (absolute)
  int damp_retries = 0;      // times the damping was multiplied by 10
  bool fell_back_to_rtn = false;
  std::string note;          // why, when it fell back
  // Where the time went (wall seconds): factoring H^-1, the column loops (fits included), and the
  // lazy block updates of the trailing columns.
  struct Timing {
    double total_s = 0, factor_s = 0, columns_s = 0, update_s = 0;
  } timing;
};

// weight [out, in]; hessian [in, in] (any positive multiple of X^T X). `where` names the layer in
// errors and notes.
GptqResult gptq_quantize(const torch::Tensor& weight, const torch::Tensor& hessian, const IntGrid& grid,
                         const GptqOptions& opt, const std::string& where = "gptq");

// A second error-feedback term beside GPTQ's, for the methods that extend it (GPTAQ). Called once,
// after H^-1 is factored, with U (the upper Cholesky factor of H^-1 in the working column order),
// the working order (position -> column) and the dead-column mask [cols], it returns P [cols, cols]
// in the working order, strictly upper triangular. Quantizing the column at position i, whose value
// was w_i when it was quantized, then also adds w_i P[i][j] to each later position j: in the column
// loop, in the lazy block update and in the weights a group's parameters are fitted on.
using ExtraFeedback =
    std::function<torch::Tensor(const torch::Tensor& U, const std::vector<int64_t>& col_of_pos, const torch::Tensor& dead)>;
GptqResult gptq_quantize(const torch::Tensor& weight, const torch::Tensor& hessian, const IntGrid& grid,
                         const GptqOptions& opt, const std::string& where, const ExtraFeedback& extra);

// A grid set block by block by another quantizer (ggml's block types: Q4_0, the k-quants, IQ4...):
// when the column loop reaches the first column of a block, `fit` gets the block's current
// (error-compensated) weights and sets each weight's grid: value(q) = a q + b for codes lo..hi, or,
// with `levels`, value(k) = a levels[k] for the nearest level k. GPTQ then picks every code of the
// block against exactly that grid. Columns go in order (no act-order, no static groups).
struct BlockwiseGrid {
  int64_t block = 0;                  // columns per block; the row length must be a multiple
  int lo = 0, hi = 0;                 // affine codes
  std::vector<float> levels;          // non-uniform levels (codes index them); empty: affine
  // first_col: the block's first column; cur [rows, block] row-major; a, b: [rows, block] out.
  std::function<void(int64_t first_col, const float* cur, float* a, float* b)> fit;
};
// GPTQ over a blockwise grid. The result's q.codes [rows, cols] holds the codes (its scales, zeros
// and grid are not set: the grid lives in the blocks `fit` wrote). When H stays singular after the
// damping retries no codes are set and fell_back_to_rtn says so: the caller's own quantizer stands.
GptqResult gptq_quantize(const torch::Tensor& weight, const torch::Tensor& hessian, const BlockwiseGrid& grid,
                         const GptqOptions& opt, const std::string& where);

// tr((W - Q) H (W - Q)^T) / tr(W H W^T): the layer's relative output error on the calibration data.
double relative_output_error(const torch::Tensor& weight, const torch::Tensor& dequantized, const torch::Tensor& hessian);

}  // namespace ptq::algo
