// `ptq quantize` with a floating-point dtype and static activation quantization on stories260K:
// the dtype reaches the quantized directory and back, static ranges are written and applied, and
// bad combinations are refused before any work.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <sstream>

#include "algorithms/rtn/rtn.hpp"
#include "core/error.hpp"
#include "data/text_source.hpp"
#include "io/quantized_checkpoint.hpp"
#include "model/architecture.hpp"
#include "model/model_files.hpp"
#include "pipeline/activation_quant.hpp"
#include "pipeline/quantize_model.hpp"
#include "tokenizer/tokenizer.hpp"
#include "../support/shared_data.hpp"

using namespace ptq;
namespace fs = std::filesystem;

TEST_CASE("NF4 blocks of 64 through ptq quantize: codes, dtype recorded, dequantized on load", "[pipeline][dtypes][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  const std::string dir = test::scratch_dir("quantize_nf4");
  pipeline::QuantizeSpec s;
  s.model = model;
  s.grid.dtype = "nf4";
  s.grid.sym = true;
  s.grid.group_size = 64;
  s.out = dir + "/out";
  std::ostringstream log;
  pipeline::quantize_model(s, log);
  auto fp = model::open_weights(model);
  auto q = model::open_weights(s.out);
  auto* qc = dynamic_cast<io::QuantizedCheckpoint*>(q.get());
  REQUIRE(qc);
  CHECK(qc->quantization_config()["dtype"] == "nf4");
  for (const auto& spec : model::block_linears()) {
    const std::string name = model::layer_prefix(2) + spec.name + ".weight";
    auto ql = qc->quantized(name);
    auto direct = algo::rtn_quantize(fp->load(name), s.grid);
    CHECK(torch::equal(ql.codes, direct.codes));
    CHECK(torch::equal(q->load(name), direct.dequantize()));
  }
}

TEST_CASE("static activation ranges: written by quantize, applied by evaluation", "[pipeline][actquant][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(calib, "text/tinystories_valid_calib.txt");
  const std::string dir = test::scratch_dir("quantize_static_act");
  pipeline::QuantizeSpec s;
  s.model = model;
  s.calib.path = calib;
  s.sampling.n_samples = 8;
  s.sampling.seqlen = 64;
  s.grid.bits = 8;
  s.grid.sym = true;
  s.act.bits = 8;
  s.act.scheme = "static";
  s.act.percentile = 99.9;
  s.out = dir + "/out";
  std::ostringstream log;
  pipeline::quantize_model(s, log);
  auto cfg = pipeline::read_act_quant(s.out);
  CHECK(cfg.spec.bits == 8);
  CHECK(cfg.spec.scheme == "static");
  CHECK(cfg.spec.percentile == 99.9);
  REQUIRE(cfg.ranges.size() == 35u);
  for (const auto& [name, r] : cfg.ranges) CHECK(r > 0);
  // q, k and v read the same input, so their ranges agree.
  CHECK(cfg.ranges.at("model.layers.1.self_attn.q_proj") == cfg.ranges.at("model.layers.1.self_attn.v_proj"));

  // Held-out text the static ranges were not measured on (random token ids were flaky: their
  // activations leave the calibrated range and clip, so the error depended on the draw).
  SHARED_FILE(eval_text, "text/tinystories_valid_eval.txt");
  SHARED_FILE(tok, "models/tok512.model");
  auto ids = tok::open_tokenizer(tok)->encode(data::read_text({eval_text}), true);
  REQUIRE(ids.size() >= 128u);
  auto tokens = torch::tensor(std::vector<int64_t>(ids.begin(), ids.begin() + 128), torch::kInt64).unsqueeze(0);
  model::Model m(model::open_weights(s.out));
  m.make_resident();
  auto plain = m.forward(tokens);
  pipeline::apply_act_quant(m, cfg);
  auto quant = m.forward(tokens);
  // 8-bit static activations move the logits by a few percent of their size (measured 0.051 with
  // these 8 calibration samples, where the 99.9th percentile clips the rare outlier channels; W8
  // per-tensor after smoothing moves them 0.011, test_awq_pipeline.cpp).
  const float rel = ((quant - plain).abs().mean() / plain.abs().mean()).item<float>();
  WARN("W8 + static A8 (p99.9) vs W8 alone, 128 held-out tokens: mean |dlogit| / mean |logit| = " << rel);
  CHECK(rel > 0);
  CHECK(rel < 0.1f);

  cfg.ranges.erase("model.layers.4.mlp.down_proj");
  CHECK_THROWS_WITH(pipeline::apply_act_quant(m, cfg), Catch::Contains("model.layers.4.mlp.down_proj"));
}

TEST_CASE("bad dtype and activation options are refused before any work", "[pipeline][dtypes][actquant]") {
  SHARED_FILE(model, "models/stories260K.bin");
  const std::string dir = test::scratch_dir("quantize_bad_dtype");
  pipeline::QuantizeSpec s;
  s.model = model;
  s.out = dir + "/out";
  std::ostringstream log;
  s.grid.dtype = "nf4";
  s.grid.group_size = 48;
  CHECK_THROWS_WITH(pipeline::quantize_model(s, log), Catch::Contains("block size"));
  s.grid.group_size = 0;
  s.grid.bits = 8;
  CHECK_THROWS_WITH(pipeline::quantize_model(s, log), Catch::Contains("4-bit codes"));
  s.grid.bits = 4;
  s.act.bits = 8;
  s.act.scheme = "static";  // no --calib
  CHECK_THROWS_WITH(pipeline::quantize_model(s, log), Catch::Contains("--calib"));
  s.act.scheme = "per-channel";
  CHECK_THROWS_WITH(pipeline::quantize_model(s, log), Catch::Contains("scheme"));
  s.act.scheme = "per-token";
  s.act.bits = 17;
  CHECK_THROWS_WITH(pipeline::quantize_model(s, log), Catch::Contains("bits"));
  CHECK_FALSE(fs::exists(s.out));
}
