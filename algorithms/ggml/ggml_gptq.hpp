// GPTQ on ggml's own block grids: the columns of a weight matrix are quantized left to right with
// GPTQ's error feedback (the rounding error of each column spread over the later ones through the
// inverse Hessian). Each block's scales (and mins, and a k-quant's sub-block scales) are fixed when
// GPTQ reaches the block's first column, by the type's own quantizer run on that block's current
// (already updated) weights; GPTQ then picks every code against exactly those scales. The result is
// the GGUF bytes themselves, so the file holds exactly the weights GPTQ chose.
// Types: those whose row in the type table (ggml/ggml_types.hpp) has a code range and set_codes:
// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (32-weight blocks), Q2_K..Q6_K (256-weight super-blocks), and the
// non-linear IQ4_NL (32) and IQ4_XS (256), whose codes pick one of the type's levels times the
// block's stored scale.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ptq::ggml {

// True for the types gptq_encode_rows() handles.
bool gptq_supports(uint32_t type);

// W: [rows, n] fp32 (n a multiple of the type's block size); H: [n, n] the layer's Hessian (X^T X
// up to a factor). damp: fraction of the mean diagonal added to it. importance: nullptr (scales
// chosen by llama.cpp's reference quantizer) or n values, one per column (its importance-weighted
// quantizer, as with an imatrix; H's diagonal is the natural choice). The work is GPTQ's own column
// loop (algorithms/gptq) over a BlockwiseGrid, with its damping policy: x10 up to 5 times, then the
// type's own quantizer, reported in `warning`; without a warning sink that case throws. Throws
// ptq::Error on a type it does not handle, shape mismatches or damp <= 0.
std::vector<uint8_t> gptq_encode_rows(uint32_t type, const torch::Tensor& W, const torch::Tensor& H,
                                      double damp = 0.01, const float* importance = nullptr,
                                      int64_t block_columns = 256, std::string* warning = nullptr);

}  // namespace ptq::ggml
