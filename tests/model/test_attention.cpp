#include <catch2/catch.hpp>

#include "model/attention.hpp"

using namespace ptq;

namespace {

// Straightforward attention with repeated kv heads and an explicit mask, as Hugging Face computes it.
torch::Tensor reference_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, int64_t pos0) {
  const int64_t B = q.size(0), T = q.size(1), H = q.size(2), hd = q.size(3), S = k.size(1), G = H / k.size(2);
  auto qh = q.permute({0, 2, 1, 3}).to(torch::kFloat64);
  auto kh = k.repeat_interleave(G, 2).permute({0, 2, 1, 3}).to(torch::kFloat64);
  auto vh = v.repeat_interleave(G, 2).permute({0, 2, 1, 3}).to(torch::kFloat64);
  auto scores = torch::matmul(qh, kh.transpose(-1, -2)) / std::sqrt(double(hd));
  auto qpos = torch::arange(pos0, pos0 + T).unsqueeze(1), kpos = torch::arange(0, S).unsqueeze(0);
  scores.masked_fill_(kpos > qpos, -INFINITY);
  return torch::matmul(torch::softmax(scores, -1), vh).permute({0, 2, 1, 3}).reshape({B, T, H * hd}).to(torch::kFloat32);
}

}  // namespace

TEST_CASE("causal GQA attention equals the plain masked softmax attention", "[model][attention]") {
  torch::manual_seed(3);
  for (auto [B, T, H, KVH, hd, pos0] : std::vector<std::array<int64_t, 6>>{
           {2, 17, 8, 4, 8, 0}, {1, 5, 4, 1, 16, 9}, {3, 1, 6, 6, 4, 30}, {1, 64, 2, 2, 32, 0}}) {
    auto q = torch::randn({B, T, H, hd}) * 2, k = torch::randn({B, pos0 + T, KVH, hd}) * 2,
         v = torch::randn({B, pos0 + T, KVH, hd});
    auto got = model::causal_attention(q, k, v, pos0);
    auto want = reference_attention(q, k, v, pos0);
    INFO("B " << B << " T " << T << " H " << H << " KVH " << KVH << " hd " << hd << " pos0 " << pos0);
    CHECK((got - want).abs().max().item<float>() < 2e-6f);
  }
}

TEST_CASE("the causal softmax kernel's exp is accurate over its whole range", "[model][attention]") {
  // One row of valid length n holding {0, x}: its softmax is {1/(1+e^x), e^x/(1+e^x)}.
  for (float x = -80.0f; x <= 0.0f; x += 0.37f) {
    auto row = torch::tensor({0.0f, x, 123.0f}).unsqueeze(0);
    model::causal_softmax_rows_(row, {2}, 1.0f);
    const double e = std::exp(double(x));
    INFO("x = " << x);
    CHECK(row[0][1].item<float>() == Approx(e / (1 + e)).epsilon(1e-6).margin(1e-37));
    CHECK(row[0][2].item<float>() == 0.0f);  // outside the valid part
  }
}
