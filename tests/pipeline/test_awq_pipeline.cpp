// AWQ and SmoothQuant through `ptq quantize`'s pipeline on stories260K: AWQ's perplexity below RTN's
// at W3 (the acceptance), AWQ+GPTQ, the folded norms written to the output, determinism.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/text_source.hpp"
#include "eval/perplexity.hpp"
#include "io/quantized_checkpoint.hpp"
#include "model/model_files.hpp"
#include "pipeline/quantize_model.hpp"
#include "tokenizer/tokenizer.hpp"
#include "../support/shared_data.hpp"

using namespace ptq;

namespace {

pipeline::QuantizeSpec w3_spec(const std::string& model, const std::string& calib, const std::string& out) {
  pipeline::QuantizeSpec s;
  s.model = model;
  s.calib.path = calib;
  s.sampling.n_samples = 32;
  s.sampling.seqlen = 256;
  s.grid.bits = 3;
  s.out = out;
  return s;
}

double ppl_of(const std::string& model_path, const std::vector<int>& ids) {
  model::Model m(model::open_weights(model_path));
  m.make_resident();
  eval::PerplexityOptions opt;
  opt.protocol = "gptq";
  opt.seqlen = 256;
  opt.batch = 8;
  opt.max_windows = 96;
  return eval::perplexity(m, ids, opt).ppl;
}

std::string bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("AWQ beats RTN at W3 per channel on stories260K; AWQ+GPTQ too; outputs are deterministic", "[pipeline][awq][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(tok, "models/tok512.bin");
  SHARED_FILE(calib, "text/tinystories_valid_calib.txt");
  SHARED_FILE(text, "text/tinystories_valid_eval.txt");
  const std::string dir = test::scratch_dir("awq_pipeline");
  std::ostringstream log;

  auto rtn = w3_spec(model, "", dir + "/rtn");
  pipeline::quantize_model(rtn, log);
  auto awq = w3_spec(model, calib, dir + "/awq");
  awq.transforms = {{"awq", {}}};
  const auto summary = pipeline::quantize_model(awq, log);
  CHECK(summary.report["quantization"]["transforms"][0]["name"] == "awq");
  CHECK(summary.report["transforms"].size() == 5u);
  CHECK(log.str().find("block-wise on full-precision activations") != std::string::npos);
  auto again = awq;
  again.out = dir + "/awq-again";
  pipeline::quantize_model(again, log);
  CHECK(bytes(dir + "/awq/model-00001-of-00006.safetensors") == bytes(dir + "/awq-again/model-00001-of-00006.safetensors"));

  auto awq_gptq = w3_spec(model, calib, dir + "/awq-gptq");
  awq_gptq.transforms = {{"awq", {}}};
  awq_gptq.algorithm = "gptq";
  pipeline::quantize_model(awq_gptq, log);

  const auto ids = tok::open_tokenizer(tok)->encode(data::read_text({text}), true);
  const double p_fp = ppl_of(model, ids), p_rtn = ppl_of(dir + "/rtn", ids), p_awq = ppl_of(dir + "/awq", ids),
               p_awq_gptq = ppl_of(dir + "/awq-gptq", ids);
  WARN("W3 per-channel, 96 windows: FP " << p_fp << ", RTN " << p_rtn << ", AWQ " << p_awq << ", AWQ+GPTQ " << p_awq_gptq);
  CHECK(p_awq < p_rtn);
  CHECK(p_awq_gptq < p_rtn);
  CHECK(p_fp < p_awq);
}

TEST_CASE("SmoothQuant's folded norms are what the quantized directory holds", "[pipeline][smoothquant][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(calib, "text/tinystories_valid_calib.txt");
  const std::string dir = test::scratch_dir("sq_pipeline");
  auto s = w3_spec(model, calib, dir + "/sq");
  s.sampling.n_samples = 8;
  s.grid.bits = 8;
  s.grid.sym = true;
  s.grid.group_size = -1;
  s.transforms = {{"smoothquant", {{"alpha", 0.5}}}};
  std::ostringstream log;
  const auto summary = pipeline::quantize_model(s, log);
  CHECK(summary.report["transforms"][0]["smoothquant"]["attn_in"]["alpha"] == 0.5);
  std::shared_ptr<model::WeightSource> fp = model::open_weights(model), q = model::open_weights(dir + "/sq");
  const auto n_fp = fp->load("model.layers.0.input_layernorm.weight"), n_q = q->load("model.layers.0.input_layernorm.weight");
  // The norm was divided by s, and at 8 bits the model still computes nearly the same.
  CHECK((n_fp - n_q).abs().max().item<double>() > 1e-3);
  model::Model mf(fp), mq(q);
  auto tokens = torch::randint(1, 512, {1, 64}, torch::Generator(at::make_generator<at::CPUGeneratorImpl>(3)));
  const auto lf = mf.forward(tokens), lq = mq.forward(tokens);
  const double drift = (lf - lq).abs().mean().item<double>() / lf.abs().mean().item<double>();
  WARN("W8 per-tensor after smoothing: mean |dlogit| / mean |logit| = " << drift);
  CHECK(drift < 0.05);
}

TEST_CASE("transforms without calibration text are refused before any work", "[pipeline][bad-input]") {
  SHARED_FILE(model, "models/stories260K.bin");
  const std::string dir = test::scratch_dir("awq_nocalib");
  auto s = w3_spec(model, "", dir + "/out");
  s.transforms = {{"awq", {}}};
  std::ostringstream log;
  CHECK_THROWS_WITH(pipeline::quantize_model(s, log), Catch::Contains("transform 'awq'") && Catch::Contains("--calib"));
  CHECK_FALSE(std::filesystem::exists(dir + "/out"));
  s.transforms = {{"smoothquant", {{"alpha", -0.1}}}};
  s.calib.path = "x";
  CHECK_THROWS_WITH(pipeline::quantize_model(s, log), Catch::Contains("smoothquant.alpha"));
}

TEST_CASE("--algo none keeps AWQ's output in full precision: scaled, clipped, function nearly unchanged", "[pipeline][awq][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(calib, "text/tinystories_valid_calib.txt");
  const std::string dir = test::scratch_dir("awq_none");
  auto s = w3_spec(model, calib, dir + "/fp");
  s.sampling.n_samples = 8;
  s.grid.bits = 4;
  s.grid.group_size = 32;
  s.algorithm = "none";
  s.transforms = {{"awq", {{"ggml_type", "q4_0"}}}};
  std::ostringstream log;
  const auto summary = pipeline::quantize_model(s, log);
  CHECK(summary.report["quantization"]["algorithm"] == "none");
  CHECK(summary.report["layers"].empty());
  std::shared_ptr<model::WeightSource> fp = model::open_weights(model), out = model::open_weights(dir + "/fp");
  // Full precision, not on any 4-bit grid: many distinct values per row.
  const auto q = out->load("model.layers.0.self_attn.q_proj.weight");
  CHECK(std::get<0>(at::_unique(q[0])).numel() > 32);
  // Scales folded into the norms wherever the search chose alpha > 0; clipping moves the function a
  // little, quantization not at all.
  int scaled = 0;
  for (int L = 0; L < 5; ++L) {
    const std::string norm = "model.layers." + std::to_string(L) + ".input_layernorm.weight";
    const double alpha = summary.report["transforms"][L]["awq"]["scales"]["attn_in"]["alpha"].get<double>();
    INFO("layer " << L << " alpha " << alpha);
    CHECK(((fp->load(norm) - out->load(norm)).abs().max().item<double>() > 1e-6) == (alpha > 0));
    scaled += alpha > 0;
  }
  CHECK(scaled > 0);
  model::Model mf(fp), mo(out);
  auto tokens = torch::randint(1, 512, {1, 64}, torch::Generator(at::make_generator<at::CPUGeneratorImpl>(5)));
  const auto lf = mf.forward(tokens), lo = mo.forward(tokens);
  const double drift = (lf - lo).abs().mean().item<double>() / lf.abs().mean().item<double>();
  WARN("AWQ (Q4_0 target) in full precision: mean |dlogit| / mean |logit| = " << drift);
  CHECK(drift < 0.05);

  s.transforms.clear();
  CHECK_THROWS_WITH(pipeline::quantize_model(s, log), Catch::Contains("'none'") && Catch::Contains("--transform awq"));
}
