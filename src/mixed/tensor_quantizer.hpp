// One weight matrix through a GGUF block type and back, exactly as `ptq export --format gguf` would
// store it, for measuring what that type costs: the reference quantizer (rtn), the importance-weighted
// one with the statistics' mean squared activation (imatrix, as --imatrix stats.h5), or GPTQ on the
// block grid with the layer's Hessian (gptq, as --gptq-stats stats.h5; scales from the weighted
// quantizer with H's diagonal). A matrix without statistics (the embedding, the output matrix) gets
// the reference quantizer under every method, as in the export.
// Rows are quantized independently, so the result in Hugging Face layout equals the export's rows
// (which are permuted for q/k's rotary layout) moved back.
#pragma once
#include <torch/torch.h>

#include <string>

#include "algorithms/common/int_grid.hpp"
#include "calibration/input_stats.hpp"

namespace ptq::mixed {

enum class QuantMethod { Rtn, Imatrix, Gptq };
// "rtn" | "imatrix" | "gptq"; throws ptq::Error naming the choices.
QuantMethod parse_quant_method(const std::string& name);
std::string to_string(QuantMethod m);

// W [rows, n] fp32 -> the weights `type` stores ("f16" or a block type), dequantized to fp32.
// stats: the matrix's input statistics, or nullptr.
torch::Tensor quantize_dequantize(const std::string& type, const torch::Tensor& W, QuantMethod method,
                                  const calib::InputStats* stats, double gptq_damp = 0.01);

// W [out, in] through an integer grid as `ptq quantize` applies it (method gptq: ptq's GPTQ with the
// layer's Hessian; rtn: round to nearest), dequantized to fp32. `name` labels errors.
torch::Tensor quantize_dequantize_grid(const algo::IntGrid& grid, const torch::Tensor& W, QuantMethod method,
                                       const calib::InputStats* stats, double gptq_damp, const std::string& name);

// The Hessian-weighted output error of replacing W by Wq: tr(dW H dW^T), dW = Wq - W, H = 2/N X^T X.
double hessian_weighted_error(const torch::Tensor& W, const torch::Tensor& Wq, const calib::InputStats& stats);

}  // namespace ptq::mixed
