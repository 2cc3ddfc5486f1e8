// GPTAQ's cross term (calibration/cross_stats.hpp) and the layer-wise driver's full-precision stream,
// against oracles: a direct product, and two whole-model forwards (the FP model and the model with
// the quantized layers) hooked at the same linear layer.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "algorithms/rtn/rtn.hpp"
#include "calibration/cross_stats.hpp"
#include "calibration/layerwise.hpp"
#include "core/error.hpp"
#include "model/architecture.hpp"
#include "model/model_files.hpp"
#include "../support/shared_data.hpp"

using namespace ptq;

namespace {

std::shared_ptr<model::Model> open_model(const std::string& path) {
  return std::make_shared<model::Model>(model::open_weights(path));
}

// The inputs of one linear layer over a full forward of `m`, [tokens, C] in fp64.
torch::Tensor linear_inputs(model::Model& m, const torch::Tensor& samples, const std::string& linear) {
  std::vector<torch::Tensor> parts;
  model::LinearInputHook hook = [&](const std::string& name, torch::Tensor& x) {
    if (name == linear) parts.push_back(x.reshape({-1, x.size(-1)}).to(torch::kFloat64));
  };
  m.forward(samples, nullptr, &hook);
  return torch::cat(parts, 0);
}

torch::Tensor random_samples(int vocab) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  return at::randint(1, vocab, {6, 48}, gen);
}

}  // namespace

TEST_CASE("CrossStats sums (x_fp - x) x^T over batches; normalised like the Hessian", "[calibration][gptaq]") {
  torch::manual_seed(5);
  auto x_fp = torch::randn({2, 30, 12}), x = x_fp + 0.1 * torch::randn({2, 30, 12});
  calib::CrossStats c(12, false);
  c.add(x_fp.narrow(0, 0, 1), x.narrow(0, 0, 1), "l");
  c.add(x_fp.narrow(0, 1, 1), x.narrow(0, 1, 1), "l");
  const auto X = x.reshape({-1, 12}).to(torch::kFloat64), D = x_fp.reshape({-1, 12}).to(torch::kFloat64) - X;
  const auto want = D.t().matmul(X);
  CHECK(c.count() == 60);
  CHECK(torch::allclose(c.sum().to(torch::kFloat64), want, 1e-5, 1e-5));
  CHECK(torch::allclose(c.normalized().to(torch::kFloat64), want * (2.0 / 60), 1e-5, 1e-6));
  // Element [a][b] is sum_t (x_fp - x)[t][a] x[t][b]: not symmetric.
  CHECK_FALSE(torch::allclose(want, want.t(), 1e-3, 1e-3));

  calib::CrossStats d(12, true);
  CHECK_THROWS_WITH(d.add(x_fp, x.narrow(1, 0, 10), "model.layers.2.mlp.up_proj"), Catch::Contains("model.layers.2.mlp.up_proj") && Catch::Contains("shape"));
  auto bad = x_fp.clone();
  bad[0][3][4] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(d.add(bad, x, "layer.x"), Catch::Contains("layer.x") && Catch::Contains("NaN"));
  CHECK(d.count() == 0);
  CHECK(calib::CrossStats(4, false).normalized().abs().sum().item<float>() == 0);
}

TEST_CASE("The FP stream: cross terms are 0 where nothing before is quantized, and match two hooked forwards after",
          "[calibration][gptaq][stories260K]") {
  SHARED_FILE(path, "models/stories260K.bin");
  auto m = open_model(path);
  const auto samples = random_samples(m->config().vocab_size);
  algo::IntGrid grid;
  grid.bits = 2;
  std::map<std::string, torch::Tensor> cross;  // full linear name -> sum (x_fp - x) x^T
  std::map<std::string, torch::Tensor> xtx;
  calib::CalibrationOptions opt;
  opt.fp_inputs = true;
  opt.batch = 4;  // two batches, the second partial
  calib::calibrate_layerwise(*m, samples, opt, [&](model::LayerWeights& w, const calib::StageStats& st) {
    for (const auto& l : st.linears) {
      const std::string full = model::layer_prefix(w.index) + l;
      REQUIRE(st.of(l).fp_cross() != nullptr);
      cross[full] = st.of(l).fp_cross()->sum().to(torch::kFloat64);
      xtx[full] = st.of(l).xtx().to(torch::kFloat64);
      w.linear[l] = algo::rtn_quantize(w.linear[l], grid).dequantize();
    }
  });
  // Layer 0's q/k/v read the embeddings in both streams.
  CHECK(cross.at("model.layers.0.self_attn.q_proj").abs().max().item<double>() == 0);
  CHECK(cross.at("model.layers.0.self_attn.o_proj").abs().max().item<double>() > 0);

  // Oracle for layer 1's o_proj: the FP model, and a model with layer 0 and layer 1's q, k, v quantized.
  auto q = open_model(path);
  q->make_resident();
  auto l0 = q->layer(0), l1 = q->layer(1);
  for (auto& [name, w] : l0.linear) w = algo::rtn_quantize(w, grid).dequantize();
  for (const char* name : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}) {
    l1.linear[name] = algo::rtn_quantize(l1.linear[name], grid).dequantize();
  }
  q->set_layer(0, l0);
  q->set_layer(1, l1);
  const std::string o1 = "model.layers.1.self_attn.o_proj";
  const auto x = linear_inputs(*q, samples, o1), x_fp = linear_inputs(*open_model(path), samples, o1);
  const auto want = (x_fp - x).t().matmul(x);
  const auto got = cross.at(o1);
  CHECK(torch::allclose(got, want, 1e-3, 1e-4 * want.abs().max().item<double>()));
  CHECK(want.abs().max().item<double>() > 1e-3 * xtx.at(o1).abs().max().item<double>());  // a real difference
  CHECK(torch::allclose(xtx.at(o1), x.t().matmul(x), 1e-4, 1e-4 * xtx.at(o1).abs().max().item<double>()));
}

TEST_CASE("Without quantization the two streams agree exactly: every cross term is 0", "[calibration][gptaq][stories260K]") {
  SHARED_FILE(path, "models/stories260K.bin");
  auto m = open_model(path);
  const auto samples = random_samples(m->config().vocab_size);
  calib::CalibrationOptions opt;
  opt.fp_inputs = true;
  int stages = 0;
  calib::calibrate_layerwise(*m, samples, opt, [&](model::LayerWeights& w, const calib::StageStats& st) {
    for (const auto& l : st.linears) {
      INFO(model::layer_prefix(w.index) + l);
      CHECK(st.of(l).fp_cross()->sum().abs().max().item<double>() == 0);
      CHECK(st.of(l).fp_cross()->count() == st.of(l).count());
    }
    ++stages;
  });
  CHECK(stages == 4 * m->config().num_layers);
}

TEST_CASE("The FP stream needs sequential calibration", "[calibration][gptaq][bad-input]") {
  calib::CalibrationOptions opt;
  opt.fp_inputs = true;
  opt.mode = "one-shot";
  CHECK_THROWS_WITH(opt.validate("calibration"), Catch::Contains("sequential") && Catch::Contains("GPTAQ"));
  opt.mode = "sequential";
  CHECK_NOTHROW(opt.validate("calibration"));
}
