// AWQ's scaled search: the output error through the input's Gram matrix equals the error summed
// over the tokens themselves (brute force in double), and the search built on it (Gram-form linear
// losses and clipping, nonlinear modules on a window sample) picks the same alphas and clipping
// ranges as the reference's token-form search on a small multi-head layer.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "algorithms/awq/awq.hpp"
#include "algorithms/awq/input_gram.hpp"
#include "algorithms/registry.hpp"
#include "model/decoder.hpp"
#include "model/model_files.hpp"
#include "model/synthetic_model.hpp"
#include "../support/shared_data.hpp"

using namespace ptq;

namespace {

// sum over tokens of (dW x_t)^2 per row, in double: the definition the Gram form must equal.
torch::Tensor token_error(const torch::Tensor& dW, const torch::Tensor& x) {
  const auto X = x.reshape({-1, x.size(-1)}).to(torch::kFloat64);
  return X.mm(dW.to(torch::kFloat64).t()).pow(2).sum(0);
}

}  // namespace

TEST_CASE("AWQ's Gram-form output error equals the error summed over the tokens", "[awq][gram]") {
  auto gen = torch::Generator(at::make_generator<at::CPUGeneratorImpl>(5));
  auto x = torch::randn({3, 50, 40}, gen);
  x.select(2, 7).mul_(25);  // a salient channel, as in real activations
  const auto dW = torch::randn({9, 40}, gen) * 0.01;
  std::map<std::string, torch::Tensor> inputs = {{"mlp_act", x}};
  algo::InputGrams grams(&inputs);
  CHECK(grams.tokens("mlp_act") == 150);
  const auto want = token_error(dW, x);
  const auto got = algo::row_output_error(dW, grams.full("mlp_act")).to(torch::kFloat64);
  CHECK(torch::allclose(got, want, 1e-5, 0));
  // Diagonal blocks (a grouped clip) without forming the whole matrix.
  algo::InputGrams blocks(&inputs);
  const auto part = dW.narrow(1, 16, 16);
  CHECK(torch::allclose(algo::row_output_error(part, blocks.block("mlp_act", 16, 16)).to(torch::kFloat64),
                        token_error(part, x.narrow(2, 16, 16)), 1e-5, 0));
  // Folding s into the producer divides the input by s: the rescaled matrices are those of x / s.
  const auto s = torch::rand({40}, gen) + 0.5;
  grams.rescale("mlp_act", s);
  blocks.rescale("mlp_act", s);
  CHECK(torch::allclose(algo::row_output_error(dW, grams.full("mlp_act")).to(torch::kFloat64), token_error(dW, x / s), 1e-5, 0));
  CHECK(torch::allclose(algo::row_output_error(part, blocks.block("mlp_act", 16, 16)).to(torch::kFloat64),
                        token_error(part, (x / s).narrow(2, 16, 16)), 1e-5, 0));
}

TEST_CASE("AWQ's window sample for the nonlinear searches spreads over the windows", "[awq][gram]") {
  const auto x = torch::arange(10).reshape({10, 1, 1}).expand({10, 8, 2}).contiguous();
  const auto sub = algo::awq_search_windows(x, 24);  // 3 windows of 8 tokens
  REQUIRE(sub.size(0) == 3);
  CHECK(sub[0][0][0].item<int64_t>() == 0);
  CHECK(sub[1][0][0].item<int64_t>() == 3);
  CHECK(sub[2][0][0].item<int64_t>() == 6);
  CHECK(algo::awq_search_windows(x, 25).size(0) == 4);
  CHECK(algo::awq_search_windows(x, 0).size(0) == 10);
  CHECK(algo::awq_search_windows(x, 1000).size(0) == 10);
}

TEST_CASE("AWQ's scaled search picks the reference search's alphas and clipping ranges", "[awq][gram]") {
  const std::string dir = test::scratch_dir("awq_gram");
  model::write_synthetic_model(model::synthetic_config(64, 128, 1, 4, 4, 97), dir, 3);  // multi-head: v -> o searched
  model::Model m(model::open_weights(dir));
  const model::LayerWeights w0 = m.load_layer(0);
  // The layer's own inputs from salient-channel hidden states, captured as the pipeline does.
  auto gen = torch::Generator(at::make_generator<at::CPUGeneratorImpl>(8));
  auto hidden = torch::randn({8, 32, 64}, gen);
  hidden.select(2, 3).mul_(30);
  hidden.select(2, 41).mul_(12);
  std::map<std::string, torch::Tensor> inputs;
  model::LinearInputHook hook = [&](const std::string& full, torch::Tensor& x) {
    const std::string name = full.substr(model::layer_prefix(0).size());
    for (const auto& l : model::block_linears()) {
      if (name == l.name && !inputs.count(l.input)) inputs[l.input] = x.clone();
    }
  };
  model::LayerRun run;
  run.hook = &hook;
  m.run_layer_weights(w0, hidden, run);
  REQUIRE(inputs.size() == 4);

  auto apply = [&](const nlohmann::json& options, model::LayerWeights& w) {
    algo::BlockContext ctx;
    ctx.w = &w;
    ctx.inputs = inputs;
    for (auto& [k, v] : ctx.inputs) v = v.clone();
    ctx.run_module = [&](const model::LayerWeights& lw, const std::string& mod, const torch::Tensor& x) { return m.run_module(lw, mod, x); };
    ctx.where = "layer0.";
    algo::IntGrid grid;
    grid.bits = 3;
    grid.group_size = 16;
    return algo::make_transform("awq", options)->apply(ctx, grid);
  };
  model::LayerWeights ref_w = w0, fast_w = w0;
  // The reference: every loss over tokens, the clip search on all 256 tokens (stride 1).
  const auto ref = apply({{"gram_loss", false}, {"clip_tokens", 1 << 20}, {"search_tokens", 0}}, ref_w);
  // Scaled: Gram-form linear losses and clipping, attention and MLP searched on 4 of the 8 windows.
  const auto fast = apply({{"gram_loss", true}, {"search_tokens", 128}}, fast_w);
  for (const auto& in : {"attn_in", "attn_out", "mlp_in", "mlp_act"}) {
    INFO(in);
    CHECK(fast["scales"][in]["alpha"] == ref["scales"][in]["alpha"]);
  }
  // The linear mappings' losses are the same quantity computed two ways.
  for (const auto& in : {"attn_out", "mlp_act"}) {
    CHECK(fast["scales"][in]["loss"].get<double>() == Approx(ref["scales"][in]["loss"].get<double>()).epsilon(1e-4));
  }
  // Same scales and clipping ranges: the same weights.
  for (const auto& l : model::block_linears()) {
    INFO(l.name);
    CHECK(torch::allclose(fast_w.weight(l.name), ref_w.weight(l.name), 1e-5, 1e-6));
  }
}
