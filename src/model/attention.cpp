#include "model/attention.hpp"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace ptq::model {

namespace {

// Above this many scores per slice the queries are processed in slices, so a 2048-token window of
// a 32-head model never materialises all its T x S scores at once.
constexpr int64_t kMaxScoresPerSlice = int64_t(1) << 24;

// exp(x) for x <= 0 (softmax arguments after subtracting the row max), relative error ~3e-7:
// x = n ln2 + r with |r| <= ln2/2, n taken from x log2(e) and r computed with ln2 split in a high
// part exact in float and a low correction (Cody-Waite), so large |x| loses no accuracy; e^r is a
// degree-6 Taylor polynomial and 2^n is added to the exponent bits. Branch-free, so the loops
// below vectorise.
inline float exp_nonpositive(float x) {
  x = std::max(x, -87.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  int32_t bits;
  std::memcpy(&bits, &p, 4);
  bits += static_cast<int32_t>(n) * (1 << 23);
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

void softmax_row(float* row, int64_t valid, int64_t total, float scale) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t s = 0; s < valid; ++s) mx = std::max(mx, row[s] * scale);
  float sum = 0;
  for (int64_t s = 0; s < valid; ++s) {
    const float e = exp_nonpositive(row[s] * scale - mx);
    row[s] = e;
    sum += e;
  }
  const float inv = 1.0f / sum;
  for (int64_t s = 0; s < valid; ++s) row[s] *= inv;
  if (total > valid) std::memset(row + valid, 0, sizeof(float) * (total - valid));
}

}  // namespace

void causal_softmax_rows_(torch::Tensor& scores, const std::vector<int64_t>& valid, float scale) {
  TORCH_CHECK(scores.is_contiguous() && scores.scalar_type() == torch::kFloat32 && scores.dim() == 2);
  const int64_t rows = scores.size(0), S = scores.size(1);
  float* base = scores.data_ptr<float>();
  at::parallel_for(0, rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) softmax_row(base + r * S, valid[r], S, scale);
  });
}

torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               int64_t pos0) {
  const int64_t B = q.size(0), T = q.size(1), H = q.size(2), hd = q.size(3);
  const int64_t S = k.size(1), KVH = k.size(2), G = H / KVH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  // Queries of one kv head's G heads form one [G*T, hd] matrix against that head's [S, hd] keys.
  auto q3 = q.view({B, T, KVH, G, hd}).permute({0, 2, 3, 1, 4}).reshape({B * KVH, G * T, hd});
  auto kt = k.permute({0, 2, 3, 1}).reshape({B * KVH, hd, S});
  auto v3 = v.permute({0, 2, 1, 3}).reshape({B * KVH, S, hd});
  const bool cpu_fast = q.device().is_cpu() && q.scalar_type() == torch::kFloat32;

  // Slice the queries (over t) to bound the scores' memory.
  const int64_t per_t = B * KVH * G * S;
  const int64_t slice = std::max<int64_t>(1, std::min<int64_t>(T, kMaxScoresPerSlice / std::max<int64_t>(1, per_t)));
  auto out = torch::empty({B * KVH, G, T, hd}, q.options());
  auto q4 = q3.view({B * KVH, G, T, hd});
  for (int64_t t0 = 0; t0 < T; t0 += slice) {
    const int64_t tn = std::min(slice, T - t0);
    auto qs = q4.narrow(2, t0, tn).reshape({B * KVH, G * tn, hd});
    auto scores = torch::bmm(qs, kt);  // [B*KVH, G*tn, S]
    if (cpu_fast) {
      std::vector<int64_t> valid(static_cast<size_t>(B * KVH * G * tn));
      for (size_t r = 0; r < valid.size(); ++r) {
        const int64_t t = t0 + static_cast<int64_t>(r) % tn;
        valid[r] = std::min<int64_t>(S, pos0 + t + 1);
      }
      auto flat = scores.view({-1, S});
      causal_softmax_rows_(flat, valid, scale);
    } else {
      auto qpos = torch::arange(pos0 + t0, pos0 + t0 + tn, torch::TensorOptions().dtype(torch::kInt64).device(q.device()));
      auto kpos = torch::arange(0, S, torch::TensorOptions().dtype(torch::kInt64).device(q.device()));
      auto masked = (kpos.unsqueeze(0) > qpos.unsqueeze(1)).repeat({G, 1});  // [G*tn, S]
      scores = torch::softmax(scores.mul_(scale).masked_fill_(masked, -std::numeric_limits<float>::infinity()), -1);
    }
    out.narrow(2, t0, tn).copy_(torch::bmm(scores, v3).view({B * KVH, G, tn, hd}));
  }
  // [B, KVH, G, T, hd] -> [B, T, KVH*G*hd]
  return out.view({B, KVH, G, T, hd}).permute({0, 3, 1, 2, 4}).reshape({B, T, H * hd});
}

}  // namespace ptq::model
