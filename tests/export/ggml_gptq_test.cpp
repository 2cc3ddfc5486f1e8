// GPTQ on ggml's block grids, every type: the bytes are valid blocks of the type (the GGUF reader
// dequantizes them); the first block of a row gets exactly the scales the type's quantizer gives the
// untouched weights; without correlations (H = I) GPTQ is round-to-nearest on the type's own grid, so
// it reproduces the type's quantizer; and on correlated inputs the layer-output error
// tr((W - Q) H (W - Q)^T) is well below round-to-nearest's on the same grid (the reason to run GPTQ).
#include <catch2/catch.hpp>

#include "algorithms/ggml/ggml_gptq.hpp"
#include "core/error.hpp"
#include "ggml/ggml_blocks.hpp"
#include "ggml/ggml_rows.hpp"
#include "io/gguf_types.hpp"

using namespace ptq;
using io::GgmlType;

namespace {

torch::Tensor decode(GgmlType t, const std::vector<uint8_t>& bytes, int64_t rows, int64_t n) {
  torch::Tensor y = torch::empty({rows, n});
  io::ggml_dequantize_row(static_cast<uint32_t>(t), bytes.data(), y.data_ptr<float>(), rows * n);
  return y;
}

double proxy_loss(const torch::Tensor& W, const torch::Tensor& Q, const torch::Tensor& H) {
  const torch::Tensor D = (W - Q).to(torch::kDouble);
  return (D.matmul(H.to(torch::kDouble)) * D).sum().item<double>();
}

}  // namespace

TEST_CASE("GPTQ on every ggml block grid beats round-to-nearest on the layer output", "[export][ggml][gptq]") {
  torch::manual_seed(0);
  const int64_t rows = 64, n = 512, tokens = 4096;
  // Inputs with correlated channels and uneven scales, as activations have.
  const torch::Tensor mix = torch::randn({n, n}) / std::sqrt(static_cast<double>(n)) + torch::eye(n);
  const torch::Tensor X = torch::randn({tokens, n}).matmul(mix) * (torch::rand({n}) * 2 + 0.1);
  const torch::Tensor H = X.t().matmul(X) * (2.0 / tokens);
  const torch::Tensor W = torch::randn({rows, n}) * 0.05;
  struct Case {
    GgmlType type;
    double max_ratio;  // GPTQ loss / RTN loss must stay below
  };
  for (const Case c : {Case{GgmlType::Q4_0, 0.8}, Case{GgmlType::Q4_1, 0.8}, Case{GgmlType::Q5_0, 0.8},
                       Case{GgmlType::Q5_1, 0.8}, Case{GgmlType::Q8_0, 0.8}, Case{GgmlType::Q2_K, 0.8},
                       Case{GgmlType::Q3_K, 0.8}, Case{GgmlType::Q4_K, 0.8}, Case{GgmlType::Q5_K, 0.8},
                       Case{GgmlType::Q6_K, 0.8}}) {
    const auto t = static_cast<uint32_t>(c.type);
    INFO(io::ggml_type_name(t));
    const std::vector<uint8_t> g = ggml::gptq_encode_rows(t, W, H);
    const std::vector<uint8_t> r = ggml::encode_rows(t, W.contiguous().data_ptr<float>(), rows, n);
    REQUIRE(g.size() == r.size());
    const double lg = proxy_loss(W, decode(c.type, g, rows, n), H), lr = proxy_loss(W, decode(c.type, r, rows, n), H);
    WARN(io::ggml_type_name(t) << ": output error GPTQ " << lg << " vs RTN " << lr << " (ratio " << lg / lr << ")");
    CHECK(lg < c.max_ratio * lr);
  }
  // The first block of each row is scaled from the untouched weights: exactly ggml's reference d.
  const std::vector<uint8_t> g = ggml::gptq_encode_rows(static_cast<uint32_t>(GgmlType::Q4_0), W, H);
  const std::vector<uint8_t> r = ggml::encode_rows(static_cast<uint32_t>(GgmlType::Q4_0), W.contiguous().data_ptr<float>(), rows, n);
  for (int64_t row = 0; row < rows; ++row) {
    const auto* bg = reinterpret_cast<const ggml::BlockQ4_0*>(g.data()) + row * (n / 32);
    const auto* br = reinterpret_cast<const ggml::BlockQ4_0*>(r.data()) + row * (n / 32);
    CHECK(bg->d == br->d);
  }
  CHECK_THROWS_WITH(ggml::gptq_encode_rows(static_cast<uint32_t>(GgmlType::F16), W, H), Catch::Contains("F16"));
  CHECK_THROWS_AS(ggml::gptq_encode_rows(static_cast<uint32_t>(GgmlType::Q4_0), W, H.index({torch::indexing::Slice(0, 128)})), Error);
  // Issue 17: damping <= 0 was accepted, and a failed first Cholesky factorisation ignored.
  const auto q4 = static_cast<uint32_t>(GgmlType::Q4_0);
  CHECK_THROWS_WITH(ggml::gptq_encode_rows(q4, W, H, 0.0), Catch::Contains("damping must be > 0"));
  CHECK_THROWS_WITH(ggml::gptq_encode_rows(q4, W, H, -0.01), Catch::Contains("damping must be > 0"));
  // GPTQ's damping policy (x10 up to 5 times, algorithms/gptq): an indefinite Hessian whose diagonal
  // stays positive factors after retries; one that stays indefinite even with damping 0.01 x 1e5
  // (off-diagonal entries of -10 x the mean diagonal) gives the type's own quantizer when a warning
  // sink is passed, an error naming the damping without one. A negative diagonal is no X^T X at all.
  const double mean_diag = H.diagonal().mean().item<double>();
  const torch::Tensor eye = torch::eye(H.size(0)), ones = torch::ones_like(H);
  const torch::Tensor mild = H - 0.9 * H.diagonal().min().item<double>() * eye;
  REQUIRE(std::get<1>(torch::linalg_cholesky_ex(mild.to(torch::kDouble))).item<int>() != 0);  // indefinite indeed
  CHECK_NOTHROW(ggml::gptq_encode_rows(q4, W, mild, 0.01));
  const torch::Tensor hopeless = H - 10 * mean_diag * (ones - eye);
  CHECK_THROWS_WITH(ggml::gptq_encode_rows(q4, W, hopeless, 0.01), Catch::Contains("not positive definite even with damping"));
  CHECK_THROWS_WITH(ggml::gptq_encode_rows(q4, W, H - 2 * mean_diag * eye, 0.01), Catch::Contains("negative diagonal"));
  std::string warning;
  CHECK(ggml::gptq_encode_rows(q4, W, hopeless, 0.01, nullptr, 256, &warning) == r);
  CHECK_THAT(warning, Catch::Contains("not positive definite"));
}

TEST_CASE("GPTQ on a ggml grid without input correlations is round-to-nearest on the type's grid", "[export][ggml][gptq]") {
  torch::manual_seed(1);
  const int64_t rows = 16, n = 512;
  const torch::Tensor W = (torch::randn({rows, n}) * 0.05).contiguous();
  const torch::Tensor H = torch::eye(n);
  // With H = I no error is fed forward, so every block gets the scales the type's reference quantizer
  // gives it and GPTQ picks the nearest point of that stored grid. llama.cpp's 32-weight quantizers
  // round against the scale before its fp16 rounding (and Q4_0/Q5_0 by the unrounded reciprocal), so
  // they sometimes miss the nearest stored point: GPTQ's error is never larger, and equal almost always.
  constexpr double kMinSameFraction = 0.99;  // measured: Q8_0 0.994, k-quants 1.0
  constexpr float kFloatSlack = 1e-7f;
  for (const GgmlType type : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q8_0,
                              GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K}) {
    const auto t = static_cast<uint32_t>(type);
    const std::vector<uint8_t> g = ggml::gptq_encode_rows(t, W, H);
    const std::vector<uint8_t> r = ggml::encode_rows(t, W.data_ptr<float>(), rows, n);
    const torch::Tensor dg = decode(type, g, rows, n), dr = decode(type, r, rows, n);
    const double same = (dg == dr).to(torch::kDouble).mean().item<double>();
    const double worse = ((W - dg).abs() > (W - dr).abs() + kFloatSlack).to(torch::kDouble).sum().item<double>();
    INFO(io::ggml_type_name(t) << ": " << same << " of the weights identical, " << worse << " with a larger error");
    CHECK(same >= kMinSameFraction);
    CHECK(worse == 0);
  }
}
