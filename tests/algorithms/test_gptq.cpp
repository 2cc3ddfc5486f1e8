#include <catch2/catch.hpp>

#include "algorithms/gptq/gptq.hpp"
#include "algorithms/rtn/rtn.hpp"
#include "core/error.hpp"

using namespace ptq;

namespace {

// A correlated Hessian 2/N X^T X from random inputs with a few loud channels.
torch::Tensor random_hessian(int64_t n, uint64_t seed) {
  torch::manual_seed(seed);
  auto mix = torch::randn({n, n}) / std::sqrt(double(n)) + torch::eye(n);
  auto X = torch::randn({4 * n, n}).matmul(mix) * (1 + 4 * (torch::rand({n}) < 0.1).to(torch::kFloat32));
  return 2.0 / X.size(0) * X.t().matmul(X);
}

// GPTQ without lazy batching: after each column, every later column is updated at once. With
// act-order, columns are taken by decreasing Hessian diagonal and the result is put back in order.
torch::Tensor plain_gptq(torch::Tensor W, torch::Tensor H, const algo::IntGrid& g, double damp_percent, bool act_order = false) {
  if (act_order) {
    auto perm = torch::argsort(H.diagonal(), 0, true);
    auto out = plain_gptq(W.index_select(1, perm), H.index_select(0, perm).index_select(1, perm), g, damp_percent);
    return out.index_select(1, torch::argsort(perm));
  }
  W = W.clone();
  const int64_t cols = W.size(1);
  const double damp = damp_percent * H.diagonal().mean().item<double>();
  auto Hd = H.to(torch::kFloat64) + damp * torch::eye(cols, torch::kFloat64);
  auto U = torch::linalg_cholesky(torch::cholesky_inverse(torch::linalg_cholesky(Hd)), true).to(torch::kFloat32);
  auto out = torch::empty_like(W);
  algo::GridParams p = algo::fit_grid(W, g);
  for (int64_t i = 0; i < cols; ++i) {
    if (g.group_size > 0 && i % g.group_size == 0) p = algo::fit_grid(W.narrow(1, i, std::min<int64_t>(g.group_size, cols - i)), g);
    auto w = W.select(1, i);
    auto q = algo::fake_quantize(w.unsqueeze(1), p, g.maxq()).squeeze(1);
    out.select(1, i).copy_(q);
    auto err = (w - q) / U[i][i];
    W.narrow(1, i, cols - i).sub_(err.unsqueeze(1).matmul(U.select(0, i).narrow(0, i, cols - i).unsqueeze(0)));
  }
  return out;
}

// With H = I no error is spread: GPTQ must reproduce RTN to the bit (codes, parameters, g_idx).
void check_same_as_rtn(const torch::Tensor& W, const algo::IntGrid& g, const algo::GptqOptions& opt) {
  auto r = algo::gptq_quantize(W, torch::eye(W.size(1)), g, opt);
  auto rtn = algo::rtn_quantize(W, g);
  CHECK(torch::equal(r.q.codes, rtn.codes));
  CHECK(torch::equal(r.q.scales, rtn.scales));
  CHECK(torch::equal(r.q.zeros, rtn.zeros));
  CHECK(torch::equal(r.q.g_idx, rtn.g_idx));
}

}  // namespace

TEST_CASE("GPTQ with H = I gives exactly RTN's codes", "[algorithms][gptq]") {
  torch::manual_seed(1);
  auto W = torch::randn({24, 96});
  for (int gs : {0, 32}) {
    algo::IntGrid g;
    g.bits = 3;
    g.group_size = gs;
    check_same_as_rtn(W, g, {});
  }
}

TEST_CASE("blocked GPTQ equals plain column-by-column GPTQ", "[algorithms][gptq]") {
  auto H = random_hessian(80, 2);
  torch::manual_seed(3);
  auto W = torch::randn({16, 80});
  for (int gs : {0, 16, 24}) {
    algo::IntGrid g;
    g.bits = 4;
    g.group_size = gs;
    algo::GptqOptions opt;
    opt.block_size = 32;  // groups of 24 straddle blocks
    auto r = algo::gptq_quantize(W, H, g, opt);
    const float diff = (r.q.dequantize() - plain_gptq(W, H, g, opt.damp_percent)).abs().max().item<float>();
    INFO("group size " << gs);
    CHECK(diff <= 1e-5f);
  }
}

TEST_CASE("GPTQ with H = I fits exactly RTN's parameters on every kind of grid", "[algorithms][gptq]") {
  torch::manual_seed(11);
  auto W = torch::randn({19, 100});  // rows not a multiple of the row tile, a partial last group
  W[3].zero_();                      // an all-zero row gets the range [-1, 1]
  W.select(1, 7).mul_(30);
  for (int bits : {2, 4, 8}) {
    for (bool sym : {false, true}) {
      for (int gs : {-1, 0, 32, 40}) {
        for (bool mse : {false, true}) {
          algo::IntGrid g;
          g.bits = bits;
          g.sym = sym;
          g.group_size = gs;
          g.mse = mse;
          algo::GptqOptions opt;
          opt.block_size = 48;
          INFO("bits " << bits << " sym " << sym << " group " << gs << " mse " << mse);
          check_same_as_rtn(W, g, opt);
        }
      }
    }
  }
}

TEST_CASE("blocked GPTQ with act-order equals plain GPTQ on the permuted layer", "[algorithms][gptq]") {
  auto H = random_hessian(72, 12);
  torch::manual_seed(13);
  auto W = torch::randn({21, 72});
  for (int gs : {0, 16, 20}) {
    for (int bs : {16, 28, 128}) {
      algo::IntGrid g;
      g.bits = 3;
      g.group_size = gs;
      algo::GptqOptions opt;
      opt.block_size = bs;
      opt.act_order = true;
      auto r = algo::gptq_quantize(W, H, g, opt);
      const float diff = (r.q.dequantize() - plain_gptq(W, H, g, opt.damp_percent, true)).abs().max().item<float>();
      INFO("group size " << gs << " block size " << bs);
      CHECK(diff <= 1e-5f);
    }
  }
}

TEST_CASE("act-order: g_idx maps every column to the group that quantized it", "[algorithms][gptq]") {
  auto H = random_hessian(64, 4);
  torch::manual_seed(5);
  auto W = torch::randn({8, 64});
  algo::IntGrid g;
  g.bits = 4;
  g.group_size = 16;
  for (bool static_groups : {false, true}) {
    algo::GptqOptions opt;
    opt.act_order = true;
    opt.static_groups = static_groups;
    opt.block_size = 16;
    auto r = algo::gptq_quantize(W, H, g, opt);
    // Groups follow the order of decreasing diagonal: column j's group is its rank / 16.
    auto rank = torch::argsort(torch::argsort(H.diagonal(), 0, true));
    auto want = static_groups ? torch::arange(64).floor_divide(16) : rank.floor_divide(16);
    INFO("static groups " << static_groups);
    CHECK(torch::equal(r.q.g_idx.to(torch::kInt64), want));
    // Each column's codes dequantized with its g_idx group stay within half a step of the weights
    // GPTQ quantized, so the parameters g_idx points at are the ones that were used.
    CHECK(r.q.codes.max().item<int>() <= 15);
    const double rel = algo::relative_output_error(W, r.q.dequantize(), H);
    CHECK(rel < 0.05);
  }
}

TEST_CASE("GPTQ's output error is below RTN's on correlated Hessians", "[algorithms][gptq]") {
  auto H = random_hessian(128, 6);
  torch::manual_seed(7);
  auto W = torch::randn({64, 128});
  for (int bits : {2, 3, 4}) {
    for (int gs : {0, 32}) {
      algo::IntGrid g;
      g.bits = bits;
      g.group_size = gs;
      const double e_gptq = algo::relative_output_error(W, algo::gptq_quantize(W, H, g, {}).q.dequantize(), H);
      const double e_rtn = algo::relative_output_error(W, algo::rtn_quantize(W, g).dequantize(), H);
      INFO("bits " << bits << " group " << gs << ": gptq " << e_gptq << " rtn " << e_rtn);
      CHECK(e_gptq < e_rtn);
    }
  }
}

TEST_CASE("GPTQ handles dead columns, grows damping, then falls back to RTN", "[algorithms][gptq][bad-input]") {
  auto H = random_hessian(32, 8);
  H[5].zero_();
  H.select(1, 5).zero_();
  torch::manual_seed(9);
  auto W = torch::randn({4, 32});
  algo::IntGrid g;
  auto r = algo::gptq_quantize(W, H, g, {});
  CHECK_FALSE(r.fell_back_to_rtn);
  CHECK(r.q.dequantize().select(1, 5).abs().max().item<float>() == 0);  // dead column zeroed

  // The same with act-order and groups fitted up front or as they begin.
  for (bool static_groups : {false, true}) {
    algo::IntGrid grouped;
    grouped.group_size = 8;
    algo::GptqOptions opt;
    opt.act_order = true;
    opt.static_groups = static_groups;
    opt.block_size = 12;
    auto a = algo::gptq_quantize(W, H, grouped, opt);
    INFO("static groups " << static_groups);
    CHECK(a.q.dequantize().select(1, 5).abs().max().item<float>() == 0);
    CHECK(algo::relative_output_error(W, a.q.dequantize(), H) < algo::relative_output_error(W, algo::rtn_quantize(W, grouped).dequantize(), H));
  }

  // Indefinite with a positive diagonal: off-diagonal entries of -1000 give the all-ones direction
  // the eigenvalue 1 - 31000, far below any damping (at most 0.01 x 1e5 x the mean diagonal 1).
  auto bad = -1000 * (torch::ones({32, 32}) - torch::eye(32)) + torch::eye(32);
  auto f = algo::gptq_quantize(W, bad, g, {}, "model.layers.0.mlp.up_proj");
  CHECK(f.fell_back_to_rtn);
  CHECK(f.damp_retries == 5);
  CHECK_THAT(f.note, Catch::Contains("model.layers.0.mlp.up_proj") && Catch::Contains("RTN"));
  CHECK(torch::equal(f.q.codes, algo::rtn_quantize(W, g).codes));

  // A negative diagonal entry is no sum of x x^T: an error naming the layer, not a fallback.
  auto negative = H.clone();
  negative[3][3] = -1;
  CHECK_THROWS_WITH(algo::gptq_quantize(W, negative, g, {}, "layer.x"), Catch::Contains("layer.x") && Catch::Contains("negative diagonal"));

  auto nan = H.clone();
  nan[1][1] = NAN;
  CHECK_THROWS_WITH(algo::gptq_quantize(W, nan, g, {}, "layer.x"), Catch::Contains("layer.x") && Catch::Contains("Hessian holds NaN"));
}
