// AWQ and SmoothQuant: folded scales leave the model's function unchanged (stories260K and a
// multi-head synthetic model where v_proj -> o_proj folds too), the clip search against a brute-force
// oracle, AWQ beating RTN on a block with outlier channels, and bad options.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <limits>

#include "algorithms/awq/awq.hpp"
#include "algorithms/common/channel_scaling.hpp"
#include "algorithms/registry.hpp"
#include "algorithms/rtn/rtn.hpp"
#include "algorithms/smoothquant/smoothquant.hpp"
#include "calibration/layerwise.hpp"
#include "core/error.hpp"
#include "model/decoder.hpp"
#include "model/model_files.hpp"
#include "model/synthetic_model.hpp"
#include "../support/shared_data.hpp"

using namespace ptq;

namespace {

constexpr double kFoldLogitTolerance = 1e-4;  // the bound on max |Δlogit| after folding

// Runs `transform` on every layer of the model (FP activations, block-wise) with the given grid and
// puts the transformed full-precision weights back: only the folding changes the model.
nlohmann::json transform_model(model::Model& m, const torch::Tensor& samples, const algo::Transform& t,
                               const algo::IntGrid& grid) {
  calib::CalibrationOptions opt;
  nlohmann::json reports = nlohmann::json::array();
  std::vector<model::LayerWeights> done;
  calib::calibrate_blockwise(m, samples, opt, [&](model::LayerWeights& w, std::map<std::string, torch::Tensor>& inputs) {
    algo::BlockContext ctx;
    ctx.w = &w;
    ctx.inputs = inputs;
    ctx.run_module = [&](const model::LayerWeights& lw, const std::string& mod, const torch::Tensor& x) {
      return m.run_module(lw, mod, x);
    };
    ctx.where = model::layer_prefix(w.index);
    reports.push_back(t.apply(ctx, grid));
    done.push_back(w);
  });
  for (auto& w : done) m.set_layer(w.index, w);
  return reports;
}

double max_logit_change(model::Model& fp, model::Model& folded, const torch::Tensor& tokens) {
  return (fp.forward(tokens) - folded.forward(tokens)).abs().max().item<double>();
}

std::string synthetic_mha(const std::string& name) {
  const std::string dir = test::scratch_dir(name);
  auto cfg = model::synthetic_config(64, 128, 2, 4, 4, 97);  // multi-head: v_proj -> o_proj folds
  model::write_synthetic_model(cfg, dir, 7);
  return dir;
}

}  // namespace

TEST_CASE("fold_scale leaves a layer's function unchanged, for every mapping", "[awq][fold]") {
  model::Model m(model::open_weights(synthetic_mha("fold_unit")));
  auto w = m.load_layer(0);
  auto x = torch::randn({2, 9, 64}, torch::Generator(at::make_generator<at::CPUGeneratorImpl>(1)));
  const auto ref = m.run_layer_weights(w, x, {});
  for (const auto& spec : model::block_inputs()) {
    REQUIRE(algo::can_fold(w, spec));
    const int64_t C = w.weight(algo::consumers_of(spec.input).front()).size(1);
    algo::fold_scale(w, spec, torch::rand({C}) * 4 + 0.25);
  }
  CHECK((m.run_layer_weights(w, x, {}) - ref).abs().max().item<double>() < 1e-4);
}

TEST_CASE("fold_scale refuses v_proj -> o_proj under grouped-query attention, naming the layer", "[awq][fold]") {
  const std::string dir = test::scratch_dir("fold_gqa");
  model::write_synthetic_model(model::synthetic_config(64, 128, 1, 4, 2, 97), dir, 3);
  model::Model m(model::open_weights(dir));
  auto w = m.load_layer(0);
  const auto& spec = algo::input_spec("attn_out");
  CHECK_FALSE(algo::can_fold(w, spec));
  CHECK_THROWS_WITH(algo::fold_scale(w, spec, torch::ones({64})), Catch::Contains("model.layers.0.self_attn.v_proj"));
}

TEST_CASE("AWQ's scales, folded, change stories260K's logits by at most 1e-4", "[awq][stories260K]") {
  SHARED_FILE(path, "models/stories260K.bin");
  model::Model fp(model::open_weights(path)), m(model::open_weights(path));
  auto samples = torch::randint(1, 512, {4, 64}, torch::Generator(at::make_generator<at::CPUGeneratorImpl>(5)));
  auto awq = algo::make_transform("awq", {{"clip", false}});
  algo::IntGrid grid;
  grid.bits = 3;
  const auto reports = transform_model(m, samples, *awq, grid);
  REQUIRE(reports.size() == 5u);
  // stories260K has 8 heads over 4 kv heads: v_proj -> o_proj is skipped, the other three are scaled.
  CHECK(reports[0]["scales"]["attn_out"].contains("skipped"));
  int scaled = 0;
  for (const auto& r : reports) {
    for (const auto& input : {"attn_in", "mlp_in", "mlp_act"}) {
      CHECK(r["scales"][input]["loss"].get<double>() <= r["scales"][input]["loss_unscaled"].get<double>());
      scaled += r["scales"][input]["alpha"].get<double>() > 0;
    }
  }
  CHECK(scaled > 0);  // the search does move away from s = 1 somewhere
  auto tokens = torch::randint(1, 512, {2, 48}, torch::Generator(at::make_generator<at::CPUGeneratorImpl>(9)));
  CHECK(max_logit_change(fp, m, tokens) <= kFoldLogitTolerance);
}

TEST_CASE("AWQ on a multi-head model folds v_proj -> o_proj too, function unchanged", "[awq]") {
  const std::string dir = synthetic_mha("awq_mha");
  model::Model fp(model::open_weights(dir)), m(model::open_weights(dir));
  auto samples = torch::randint(0, 97, {3, 32}, torch::Generator(at::make_generator<at::CPUGeneratorImpl>(2)));
  auto awq = algo::make_transform("awq", {{"clip", false}, {"duo_scaling", true}});
  algo::IntGrid grid;
  grid.bits = 3;
  grid.group_size = 32;
  const auto reports = transform_model(m, samples, *awq, grid);
  CHECK(reports[0]["scales"]["attn_out"].contains("alpha"));
  CHECK(max_logit_change(fp, m, samples) <= kFoldLogitTolerance);
}

TEST_CASE("SmoothQuant's folded scales change stories260K's logits by at most 1e-4", "[smoothquant][stories260K]") {
  SHARED_FILE(path, "models/stories260K.bin");
  model::Model fp(model::open_weights(path)), m(model::open_weights(path));
  auto samples = torch::randint(1, 512, {4, 64}, torch::Generator(at::make_generator<at::CPUGeneratorImpl>(5)));
  auto sq = algo::make_transform("smoothquant", {{"alpha", 0.85}});
  algo::IntGrid grid;
  grid.bits = 8;
  grid.sym = true;
  grid.group_size = -1;
  const auto reports = transform_model(m, samples, *sq, grid);
  CHECK(reports[0]["attn_in"]["alpha"].get<double>() == 0.85);
  CHECK_FALSE(reports[0].contains("attn_out"));  // norm -> linear pairs only
  auto tokens = torch::randint(1, 512, {2, 48}, torch::Generator(at::make_generator<at::CPUGeneratorImpl>(9)));
  CHECK(max_logit_change(fp, m, tokens) <= kFoldLogitTolerance);
}

TEST_CASE("SmoothQuant's scale matches the formula on hand-made maxima", "[smoothquant]") {
  auto act = torch::tensor({4.0f, 1.0f, 0.0f});
  auto w1 = torch::tensor({{1.0f, -2.0f, 0.5f}}), w2 = torch::tensor({{-3.0f, 0.5f, 0.25f}});
  auto s = algo::smoothquant_scale(act, {w1, w2}, 0.5);
  CHECK(s[0].item<float>() == Approx(std::sqrt(4.0) / std::sqrt(3.0)));
  CHECK(s[1].item<float>() == Approx(1.0 / std::sqrt(2.0)));
  CHECK(s[2].item<float>() == Approx(std::sqrt(1e-5) / std::sqrt(0.5)));  // a dead channel clamps to 1e-5
}

TEST_CASE("AWQ's clip search equals a brute-force search per row and group", "[awq][clip]") {
  auto gen = torch::Generator(at::make_generator<at::CPUGeneratorImpl>(11));
  auto w = torch::randn({6, 24}, gen);
  w[2][5] = 6.0;  // an outlier worth clipping
  auto x = torch::randn({40, 24}, gen);
  algo::IntGrid grid;
  grid.bits = 3;
  grid.group_size = 8;
  algo::AwqOptions opt;
  opt.clip_tokens = 20;  // every second token
  const auto got = algo::awq_search_clip(w, x, grid, opt);
  auto xs = x.slice(0, 0, 40, 2);
  algo::IntGrid one = grid;
  one.group_size = 0;
  for (int64_t r = 0; r < 6; ++r) {
    for (int64_t g = 0; g < 3; ++g) {
      auto wr = w[r].narrow(0, g * 8, 8).unsqueeze(0);
      auto xg = xs.narrow(1, g * 8, 8);
      const double m0 = wr.abs().max().item<double>();
      double best = std::numeric_limits<double>::infinity(), best_max = m0;
      for (int i = 0; i < 10; ++i) {
        const double mv = m0 * (1.0 - i / 20.0);
        auto q = algo::rtn_quantize(torch::clamp(wr, -mv, mv), one).dequantize();
        const double err = (torch::matmul(q - wr, xg.t())).pow(2).mean().item<double>();
        if (err < best) best = err, best_max = mv;
      }
      CHECK(got.max_val[r][g].item<double>() == Approx(best_max).epsilon(1e-5));
    }
  }
  CHECK(got.clipped[2][5].item<float>() <= 6.0f);
}

TEST_CASE("AWQ beats RTN at 3 bits on a block with outlier activation channels", "[awq]") {
  const std::string dir = synthetic_mha("awq_outliers");
  model::Model m(model::open_weights(dir));
  auto w = m.load_layer(0);
  auto gen = torch::Generator(at::make_generator<at::CPUGeneratorImpl>(4));
  auto x = torch::randn({4, 32, 64}, gen);
  x.select(2, 3).mul_(30);
  x.select(2, 17).mul_(12);  // salient channels, as in real LLM activations
  algo::BlockContext ctx;
  ctx.w = &w;
  ctx.inputs["mlp_in"] = x;
  ctx.run_module = [&](const model::LayerWeights& lw, const std::string& mod, const torch::Tensor& in) { return m.run_module(lw, mod, in); };
  algo::IntGrid grid;
  grid.bits = 3;
  grid.group_size = 32;
  const auto found = algo::awq_search_scale(ctx, algo::input_spec("mlp_in"), grid, {});
  CHECK(found.alpha > 0);
  CHECK(found.loss < 0.8 * found.loss_unscaled);

  // The same search against llama.cpp's Q4_0 quantizer (for a GGUF export) helps as much, and its
  // unscaled loss is Q4_0's own round-to-nearest error, not the integer grid's.
  algo::AwqOptions q4;
  q4.ggml_type = "q4_0";
  const auto on_q4_0 = algo::awq_search_scale(ctx, algo::input_spec("mlp_in"), grid, q4);
  CHECK(on_q4_0.alpha > 0);
  CHECK(on_q4_0.loss < 0.8 * on_q4_0.loss_unscaled);
  CHECK(on_q4_0.loss_unscaled != Approx(found.loss_unscaled).epsilon(1e-3));

  // A llama.cpp mix searches each consumer against the type the pipeline says the export gives it.
  algo::AwqOptions mix;
  mix.ggml_type = "q4_k_m";
  CHECK_THROWS_WITH(algo::awq_search_scale(ctx, algo::input_spec("mlp_in"), grid, mix),
                    Catch::Contains("mlp.gate_proj") && Catch::Contains("llama.cpp mix"));
  ctx.ggml_types = {{"mlp.gate_proj", "q4_0"}, {"mlp.up_proj", "q4_0"}};
  const auto as_q4_0 = algo::awq_search_scale(ctx, algo::input_spec("mlp_in"), grid, mix);
  CHECK(as_q4_0.alpha == on_q4_0.alpha);
  CHECK(as_q4_0.loss == on_q4_0.loss);
  // Tensors the mix keeps in float have no rounding error to reduce: the scale stays 1 (every alpha
  // would score the same up to float noise).
  ctx.ggml_types = {{"mlp.gate_proj", "f16"}, {"mlp.up_proj", "f16"}};
  const auto in_float = algo::awq_search_scale(ctx, algo::input_spec("mlp_in"), grid, mix);
  CHECK(in_float.loss_unscaled == 0);
  CHECK(in_float.alpha == 0);
  CHECK(torch::equal(in_float.scale, torch::ones({64})));
  // One consumer at Q8_0, the other at Q4_0: between the two uniform searches.
  ctx.ggml_types = {{"mlp.gate_proj", "q8_0"}, {"mlp.up_proj", "q4_0"}};
  const auto mixed = algo::awq_search_scale(ctx, algo::input_spec("mlp_in"), grid, mix);
  CHECK(mixed.loss_unscaled < on_q4_0.loss_unscaled);
  CHECK(mixed.loss_unscaled > 0);
}

TEST_CASE("transform options are checked before any work, naming the key", "[awq][smoothquant][bad-input]") {
  CHECK_THROWS_WITH(algo::make_transform("smoothquant", {{"alpha", 1.5}}), Catch::Contains("smoothquant.alpha") && Catch::Contains("outside [0"));
  CHECK_THROWS_WITH(algo::make_transform("smoothquant", {{"alpah", 0.5}}), Catch::Contains("smoothquant.alpah") && Catch::Contains("alpha"));
  CHECK_THROWS_WITH(algo::make_transform("awq", {{"clip", 1}}), Catch::Contains("awq.clip") && Catch::Contains("true or false"));
  CHECK_THROWS_WITH(algo::make_transform("awk"), Catch::Contains("awq"));
  CHECK_THROWS_WITH(algo::make_transform("awq", {{"ggml_type", "q4_2"}}), Catch::Contains("q4_2") && Catch::Contains("q4_k"));
  CHECK_NOTHROW(algo::make_transform("awq", {{"ggml_type", "q4_k_m"}}));  // a mix: per-tensor types from the pipeline
  CHECK_THROWS_WITH(algo::make_transform("awq", {{"ggml_type", "q4_k_x"}}), Catch::Contains("q4_k_x") && Catch::Contains("q4_k_m"));
  // A mapping naming an input the architecture's table does not have is refused by name.
  CHECK_THROWS_WITH(algo::input_spec("mlp_inn"), Catch::Contains("mlp_inn: not an input of a decoder block"));
  CHECK(algo::consumers_of("mlp_inn").empty());
  CHECK(algo::consumers_of("mlp_in") == std::vector<std::string>{"mlp.gate_proj", "mlp.up_proj"});
}
