// Rotary layouts of q/k projections. GGUF, Meta and llama2.c checkpoints store q/k rows in the
// interleaved layout (rows 2i and 2i+1 of a head rotate together); Hugging Face's is rotate-half
// (rows i and i + head_dim/2). Loaders convert to rotate-half so the model knows one layout.
#pragma once
#include <torch/torch.h>

namespace ptq::io {

// Row 2i + p of each head moves to p * head_dim/2 + i. Works on weights [heads*head_dim, in] and
// biases [heads*head_dim]; throws when the rows do not split into heads of an even size.
torch::Tensor interleaved_to_rotate_half(const torch::Tensor& w, int n_heads);
torch::Tensor rotate_half_to_interleaved(const torch::Tensor& w, int n_heads);

}  // namespace ptq::io
