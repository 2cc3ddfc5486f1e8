// The calibration driver against an oracle: whole-model forwards with a plain hook that sums x x^T.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "algorithms/rtn/rtn.hpp"
#include "calibration/layerwise.hpp"
#include "model/architecture.hpp"
#include "model/model_files.hpp"
#include "../support/shared_data.hpp"

using namespace ptq;

namespace {

std::shared_ptr<model::Model> open_model(const std::string& path) {
  std::shared_ptr<model::WeightSource> src = model::open_weights(path);
  return std::make_shared<model::Model>(src);
}

// Sum of x x^T of one linear layer's input over a full forward of `m`.
torch::Tensor oracle_xtx(model::Model& m, const torch::Tensor& samples, const std::string& linear) {
  torch::Tensor acc;
  model::LinearInputHook hook = [&](const std::string& name, torch::Tensor& x) {
    if (name != linear) return;
    auto f = x.reshape({-1, x.size(-1)}).to(torch::kFloat64);
    acc = acc.defined() ? acc + f.t().matmul(f) : f.t().matmul(f);
  };
  m.forward(samples, nullptr, &hook);
  return acc;
}

torch::Tensor random_samples(int vocab) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  return at::randint(1, vocab, {6, 48}, gen);
}

// Collects every stage's statistics, keyed by the full linear name.
struct Collector {
  std::map<std::string, torch::Tensor> xtx;
  std::vector<std::string> order;
  calib::QuantizeStep step(const algo::IntGrid* rtn_grid) {
    return [this, rtn_grid](model::LayerWeights& w, const calib::StageStats& st) {
      for (const auto& l : st.linears) {
        const std::string full = model::layer_prefix(w.index) + l;
        xtx[full] = st.of(l).xtx().to(torch::kFloat64);
        order.push_back(full);
        if (rtn_grid) w.linear[l] = algo::rtn_quantize(w.linear[l], *rtn_grid).dequantize();
      }
    };
  }
};

}  // namespace

TEST_CASE("One-shot calibration equals hooks on the full-precision model", "[calibration][stories260K]") {
  SHARED_FILE(path, "models/stories260K.bin");
  auto m = open_model(path);
  const auto samples = random_samples(m->config().vocab_size);
  Collector c;
  calib::CalibrationOptions opt;
  opt.mode = "one-shot";
  opt.batch = 4;  // two passes of unequal size
  calib::calibrate_layerwise(*m, samples, opt, c.step(nullptr));
  REQUIRE(c.xtx.size() == 7u * m->config().num_layers);
  for (const char* name : {"model.layers.0.self_attn.q_proj", "model.layers.2.self_attn.o_proj",
                           "model.layers.4.mlp.up_proj", "model.layers.3.mlp.down_proj"}) {
    INFO(name);
    const auto want = oracle_xtx(*m, samples, name);
    CHECK(torch::allclose(c.xtx.at(name), want, 1e-4, 1e-2 * want.abs().max().item<double>() * 1e-3));
  }
}

TEST_CASE("Sequential calibration without quantization equals one-shot; stages run q,k,v -> o -> gate,up -> down",
          "[calibration][stories260K]") {
  SHARED_FILE(path, "models/stories260K.bin");
  auto m = open_model(path);
  const auto samples = random_samples(m->config().vocab_size);
  Collector one, seq;
  calib::CalibrationOptions opt;
  opt.mode = "one-shot";
  calib::calibrate_layerwise(*m, samples, opt, one.step(nullptr));
  opt.mode = "sequential";
  opt.true_sequential = true;
  calib::calibrate_layerwise(*m, samples, opt, seq.step(nullptr));
  for (const auto& [name, x] : one.xtx) {
    INFO(name);
    CHECK(torch::allclose(seq.xtx.at(name), x, 1e-5, 1e-5));
  }
  REQUIRE(seq.order.size() >= 7u);
  CHECK(seq.order[0] == "model.layers.0.self_attn.q_proj");
  CHECK(seq.order[3] == "model.layers.0.self_attn.o_proj");
  CHECK(seq.order[6] == "model.layers.0.mlp.down_proj");
}

TEST_CASE("Sequential calibration sees the quantized layers before it, inside a block too", "[calibration][stories260K]") {
  SHARED_FILE(path, "models/stories260K.bin");
  auto m = open_model(path);
  const auto samples = random_samples(m->config().vocab_size);
  algo::IntGrid grid;
  grid.bits = 2;  // coarse, so quantized and FP inputs differ clearly
  Collector seq;
  calib::CalibrationOptions opt;
  opt.mode = "sequential";
  calib::calibrate_layerwise(*m, samples, opt, seq.step(&grid));

  // Oracle: a resident model with layer 0 quantized whole and layer 1's q, k, v quantized.
  auto oracle = open_model(path);
  oracle->make_resident();
  auto l0 = oracle->layer(0), l1 = oracle->layer(1);
  for (auto& [name, w] : l0.linear) w = algo::rtn_quantize(w, grid).dequantize();
  for (const char* name : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}) {
    l1.linear[name] = algo::rtn_quantize(l1.linear[name], grid).dequantize();
  }
  oracle->set_layer(0, l0);
  oracle->set_layer(1, l1);
  const auto want = oracle_xtx(*oracle, samples, "model.layers.1.self_attn.o_proj");
  const auto fp = oracle_xtx(*open_model(path), samples, "model.layers.1.self_attn.o_proj");
  const auto got = seq.xtx.at("model.layers.1.self_attn.o_proj");
  CHECK(torch::allclose(got, want, 1e-4, 1e-4 * want.abs().max().item<double>()));
  CHECK_FALSE(torch::allclose(got, fp, 1e-2, 1e-2 * fp.abs().max().item<double>()));
}
