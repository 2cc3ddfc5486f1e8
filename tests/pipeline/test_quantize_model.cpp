// `ptq quantize` end to end on stories260K: outputs checked against the algorithms run directly,
// determinism, statistics reuse, and bad input.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "algorithms/gptq/gptq.hpp"
#include "algorithms/rtn/rtn.hpp"
#include "calibration/stats_store.hpp"
#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/staged_directory.hpp"
#include "io/quantized_checkpoint.hpp"
#include "model/architecture.hpp"
#include "model/model_files.hpp"
#include "model/synthetic_model.hpp"
#include "pipeline/quantize_model.hpp"
#include "../support/shared_data.hpp"

using namespace ptq;
namespace fs = std::filesystem;

namespace {

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

pipeline::QuantizeSpec gptq_spec(const std::string& model, const std::string& calib, const std::string& out) {
  pipeline::QuantizeSpec s;
  s.model = model;
  s.calib.path = calib;
  s.sampling.n_samples = 16;
  s.sampling.seqlen = 128;
  s.algorithm = "gptq";
  s.grid.bits = 3;
  s.out = out;
  return s;
}

}  // namespace

TEST_CASE("RTN output holds exactly RTN's codes and loads as a model", "[pipeline][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  const std::string dir = test::scratch_dir("quantize_rtn");
  pipeline::QuantizeSpec s;
  s.model = model;
  s.grid.bits = 4;
  s.grid.group_size = 32;
  s.out = dir + "/out";
  std::ostringstream log;
  const auto summary = pipeline::quantize_model(s, log);
  CHECK(summary.report["layers"].size() == 35u);
  CHECK(summary.stats_path.empty());

  auto fp = model::open_weights(model);
  auto q = model::open_weights(s.out);
  CHECK(q->format() == "ptq-quantized");
  auto* qc = dynamic_cast<io::QuantizedCheckpoint*>(q.get());
  REQUIRE(qc);
  CHECK(qc->quantization_config()["bits"] == 4);
  CHECK(qc->quantization_config()["algorithm"] == "rtn");
  for (int L = 0; L < fp->config().num_layers; ++L) {
    for (const auto& spec : model::block_linears()) {
      const std::string name = model::layer_prefix(L) + spec.name + ".weight";
      INFO(name);
      const auto want = algo::rtn_quantize(fp->load(name), s.grid);
      const auto got = qc->quantized(name);
      CHECK(torch::equal(got.codes, want.codes));
      CHECK(torch::equal(got.scales, want.scales));
      CHECK(torch::equal(q->load(name), want.dequantize()));
    }
  }
  for (const char* name : {"model.embed_tokens.weight", "model.norm.weight", "model.layers.3.input_layernorm.weight"}) {
    CHECK(torch::equal(q->load(name), fp->load(name)));
  }
  CHECK(fs::exists(fs::path(s.out) / "tokenizer.bin"));
  CHECK(model::find_tokenizer(s.out, 512) == s.out);
}

TEST_CASE("GPTQ runs are byte-identical and reuse matching statistics", "[pipeline][stories260K][determinism]") {
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(calib, "text/tinystories_valid_calib.txt");
  const std::string dir = test::scratch_dir("quantize_gptq");
  auto a = gptq_spec(model, calib, dir + "/a");
  a.stats = dir + "/a.h5";
  auto b = gptq_spec(model, calib, dir + "/b");
  b.stats = dir + "/b.h5";
  b.algorithm_options = {{"act_order", false}};  // explicit defaults change nothing
  std::ostringstream log;
  const auto ra = pipeline::quantize_model(a, log);
  const auto rb = pipeline::quantize_model(b, log);
  CHECK_FALSE(ra.stats_reused);
  CHECK_FALSE(rb.stats_reused);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(a.out)) files.push_back(e.path().filename().string());
  CHECK(files.size() == 12u);  // 6 shards, index, config, report, tokenizer + its config, the .ptq-output marker
  for (const auto& f : files) {
    if (f == "quant_report.json") continue;  // holds timings
    INFO(f);
    CHECK(file_bytes(fs::path(a.out) / f) == file_bytes(fs::path(b.out) / f));
  }
  CHECK(file_bytes(a.stats) == file_bytes(b.stats));

  // Same settings again: the statistics are reused and the output is the same bytes.
  std::ostringstream log2;
  auto c = a;
  c.out = dir + "/c";
  const auto rc = pipeline::quantize_model(c, log2);
  CHECK(rc.stats_reused);
  CHECK_THAT(log2.str(), Catch::Contains("reusing statistics"));
  CHECK(file_bytes(fs::path(a.out) / "model-00003-of-00006.safetensors") ==
        file_bytes(fs::path(c.out) / "model-00003-of-00006.safetensors"));
  // Another seed: recomputed, and the log says why.
  std::ostringstream log3;
  c.sampling.seed = 1;
  const auto rd = pipeline::quantize_model(c, log3);
  CHECK_FALSE(rd.stats_reused);
  CHECK_THAT(log3.str(), Catch::Contains("seed differs (file: 0, now: 1)"));
  CHECK(file_bytes(fs::path(a.out) / "model-00003-of-00006.safetensors") !=
        file_bytes(fs::path(c.out) / "model-00003-of-00006.safetensors"));
}

TEST_CASE("On stories260K's real Hessians GPTQ's error is at most RTN's for every layer", "[pipeline][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(calib, "text/tinystories_valid_calib.txt");
  const std::string dir = test::scratch_dir("quantize_gptq_vs_rtn");
  auto s = gptq_spec(model, calib, dir + "/out");
  s.sampling.n_samples = 32;
  s.calibration.mode = "one-shot";  // full-precision inputs: one Hessian per layer for both methods
  s.stats = dir + "/stats.h5";
  std::ostringstream log;
  pipeline::quantize_model(s, log);
  calib::StatsReader stats(s.stats);
  auto fp = model::open_weights(model);
  for (const auto& [bits, gs] : std::vector<std::pair<int, int>>{{4, 0}, {3, 0}, {2, 0}, {3, 32}}) {
    algo::IntGrid grid;
    grid.bits = bits;
    grid.group_size = gs;
    for (int L = 0; L < fp->config().num_layers; ++L) {
      for (const auto& spec : model::block_linears()) {
        const std::string name = model::layer_prefix(L) + spec.name;
        INFO(name << " w" << bits << " g" << gs);
        const auto W = fp->load(name + ".weight");
        const auto H = stats.read(name).hessian();
        const double rtn = algo::relative_output_error(W, algo::rtn_quantize(W, grid).dequantize(), H);
        for (bool act_order : {false, true}) {
          algo::GptqOptions opt;
          opt.act_order = act_order;
          const double gptq = algo::relative_output_error(W, algo::gptq_quantize(W, H, grid, opt).q.dequantize(), H);
          CHECK(gptq <= rtn);
        }
      }
    }
  }
}

TEST_CASE("Bad input stops quantize with the file or layer named, and keeps earlier output", "[pipeline][bad-input]") {
  SHARED_FILE(tok, "models/tok512.bin");
  SHARED_FILE(calib, "text/tinystories_valid_calib.txt");
  const std::string dir = test::scratch_dir("quantize_bad");
  const auto cfg = model::synthetic_config(32, 64, 2, 4, 2, 512);
  model::write_synthetic_model(cfg, dir + "/nan_weight", 1, "model.layers.1.mlp.up_proj.weight");
  model::write_synthetic_model(cfg, dir + "/nan_norm", 1, "model.layers.1.input_layernorm.weight");
  // An earlier output (ptq's own: it holds the marker) that a failed run must not destroy.
  fs::create_directories(dir + "/out");
  io::write_file_atomically(dir + "/out/keep.txt", "earlier run");
  io::write_file_atomically(dir + "/out/" + io::kOutputMarker, "{}\n");
  std::ostringstream log;

  pipeline::QuantizeSpec s;
  s.model = dir + "/nan_weight";
  s.tokenizer = tok;
  s.out = dir + "/out";
  CHECK_THROWS_WITH(pipeline::quantize_model(s, log), Catch::Contains("model.layers.1.mlp.up_proj.weight") &&
                                                          Catch::Contains("NaN or Inf"));
  s = gptq_spec(dir + "/nan_norm", calib, dir + "/out");
  s.tokenizer = tok;
  s.stats = dir + "/nan.h5";
  CHECK_THROWS_WITH(pipeline::quantize_model(s, log), Catch::Contains("model.layers.1.self_attn.q_proj") &&
                                                          Catch::Contains("activations hold NaN or Inf"));
  CHECK_FALSE(fs::exists(s.stats));  // no half-written statistics left behind
  s = gptq_spec(dir + "/nan_norm", calib, dir + "/out");
  s.tokenizer = tok;
  s.sampling.seqlen = 1000000;
  CHECK_THROWS_WITH(pipeline::quantize_model(s, log),
                    Catch::Contains("tinystories_valid_calib.txt") && Catch::Contains("too short") &&
                        Catch::Contains("tokens") && Catch::Contains("at least 1000001"));
  s.sampling.seqlen = 128;
  s.calib.path.clear();
  CHECK_THROWS_WITH(pipeline::quantize_model(s, log), Catch::Contains("needs calibration text"));
  s.algorithm = "gptqx";
  CHECK_THROWS_WITH(pipeline::quantize_model(s, log), Catch::Contains("did you mean 'gptq'"));
  s.algorithm = "gptq";
  s.algorithm_options = {{"act_ordr", true}};
  CHECK_THROWS_WITH(pipeline::quantize_model(s, log), Catch::Contains("gptq.act_ordr") && Catch::Contains("did you mean 'act_order'"));
  CHECK(io::read_text_file(dir + "/out/keep.txt") == "earlier run");
  for (const auto& e : fs::directory_iterator(dir)) CHECK(e.path().filename().string().find(".partial-") == std::string::npos);
}
