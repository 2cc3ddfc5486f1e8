// llama2.c checkpoints (Karpathy's "legacy" export: a 7 x int32 header, then fp32 weights in a fixed
// order) as a WeightSource with Hugging Face names and layout.
#pragma once
#include <memory>
#include <string>

#include "model/weight_source.hpp"

namespace ptq::io {

std::unique_ptr<model::WeightSource> open_llama2c_model(const std::string& path);

// llama2.c stores q/k rows in the interleaved rotary layout (pairs 2i, 2i+1 rotate together);
// Hugging Face's rotate-half layout pairs i with i + head_dim/2. Row r = 2i + p of each head moves
// to p * head_dim/2 + i. The inverse is `rotary_rows_to_interleaved`.
torch::Tensor rotary_rows_to_half(const torch::Tensor& w, int n_heads);
torch::Tensor rotary_rows_to_interleaved(const torch::Tensor& w, int n_heads);

}  // namespace ptq::io
