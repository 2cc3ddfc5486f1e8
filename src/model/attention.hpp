// Causal grouped-query attention. On CPU the softmax is ptq's own: LibTorch 1.13 as Debian builds it
// evaluates exp() one element at a time (about 4 ns each), which made the softmax dominate a small
// model's forward pass; this kernel computes only the causal part of each row with a vectorisable
// exp. Other devices use LibTorch's ops.
#pragma once
#include <torch/torch.h>

namespace ptq::model {

// q [B, T, H, hd], k and v [B, S, KVH, hd] (S >= T: cached positions come first), query t sitting
// at absolute position pos0 + t and key s at position s. Head h reads kv head h / (H / KVH), as
// Hugging Face's repeat_kv does. Returns [B, T, H * hd].
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               int64_t pos0);

// In place over rows of a [rows, S] fp32 CPU tensor: row r is softmaxed over its first valid[r]
// entries, scaled by `scale` first; the rest of the row is set to 0. Exposed for tests.
void causal_softmax_rows_(torch::Tensor& scores, const std::vector<int64_t>& valid, float scale);

}  // namespace ptq::model
