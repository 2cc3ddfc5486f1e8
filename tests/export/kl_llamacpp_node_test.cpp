// ptq eval --reference reports llama-perplexity --kl-divergence's statistics. The oracle:
// llama.cpp itself (node-llama-cpp) computes the full next-token logits of the same two GGUF files
// (llama.cpp's own F32 and Q4_0 quantizations of stories260K) on the same windows, and
// tests/export/node/llama/kl_divergence.mjs derives the statistics from them as llama-perplexity
// does (16-bit stored base log-probabilities included). The two runtimes' arithmetic differs
// (llama.cpp multiplies Q4_0 by Q8-quantized activations), so figures agree within measured bounds,
// not bit for bit.
#include <catch2/catch.hpp>

#include <cmath>
#include <nlohmann/json.hpp>

#include "eval/kl_divergence.hpp"
#include "export/export_test_util.hpp"
#include "export/node_client.hpp"
#include "io/atomic_file.hpp"
#include "io/gguf_model.hpp"
#include "model/decoder.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace ptq;
using test::kLlamaCpp;
using test::run_node;

TEST_CASE("KL statistics of ptq eval agree with llama.cpp's on the same GGUF files", "[export][node][llamacpp][kl]") {
  SHARED_FILE(base_path, "peers/stories260K-F32.gguf");
  SHARED_FILE(quant_path, "peers/stories260K-Q4_0.gguf");
  SHARED_FILE(tok_model, "models/tok512.model");
  SHARED_FILE(text_path, "text/tinystories_valid_eval.txt");
  REQUIRE_NODE_PACKAGE(kLlamaCpp);
  const std::string scratch = test::scratch_dir("kl-llamacpp");
  const std::vector<int> tokens = tok::open_tokenizer(tok_model)->encode(io::read_text_file(text_path).substr(0, 40000), true);
  const int n_ctx = 128, windows = 12;
  const std::string tokens_path = scratch + "/tokens.json";
  io::write_file_atomically(tokens_path, nlohmann::json(tokens).dump());
  const nlohmann::json theirs =
      run_node(kLlamaCpp, {base_path, quant_path, tokens_path, std::to_string(n_ctx), std::to_string(windows)},
               "kl_divergence.mjs");

  model::Model base(io::open_gguf_model(base_path)), quant(io::open_gguf_model(quant_path));
  base.make_resident();
  quant.make_resident();
  eval::KlOptions opt;
  opt.protocol = "llamacpp";
  opt.seqlen = n_ctx;
  opt.max_windows = windows;
  const eval::KlResult ours = eval::kl_divergence(base, quant, tokens, opt);
  const nlohmann::json mine = eval::to_json(ours);
  REQUIRE(theirs.at("tokens_scored") == ours.tokens_scored);
  REQUIRE(ours.tokens_scored == windows * (n_ctx - 1 - n_ctx / 2));
  for (const char* key : {"ppl", "ppl_reference", "mean_kl", "kl_median", "kl_p90", "kl_p99", "kl_max", "top1_agreement",
                          "rms_delta_p", "mean_delta_p", "ln_ppl_ratio", "ln_ppl_correlation"}) {
    WARN(key << ": ptq " << mine.at(key).get<double>() << ", llama.cpp " << theirs.at(key).get<double>());
  }
  CHECK(ours.mean_kl > 0.005);  // Q4_0 of a 64-wide model moves the distribution visibly
  // Perplexities: the bound of the export tests (0.5 %).
  CHECK(ours.ppl == Approx(theirs.at("ppl").get<double>()).epsilon(0.005));
  CHECK(ours.ppl_reference == Approx(theirs.at("ppl_reference").get<double>()).epsilon(0.005));
  CHECK(ours.ln_ppl_correlation == Approx(theirs.at("ln_ppl_correlation").get<double>()).margin(0.01));
  // KL and delta-p: within 5 % of the mean, the spread figures within 10 %.
  CHECK(ours.mean_kl == Approx(theirs.at("mean_kl").get<double>()).epsilon(0.05));
  CHECK(ours.kl_stderr == Approx(theirs.at("kl_stderr").get<double>()).epsilon(0.10));
  CHECK(ours.kl_median == Approx(theirs.at("kl_median").get<double>()).epsilon(0.10));
  CHECK(ours.kl_p90 == Approx(theirs.at("kl_p90").get<double>()).epsilon(0.10));
  CHECK(ours.rms_delta_p == Approx(theirs.at("rms_delta_p").get<double>()).epsilon(0.05));
  CHECK(ours.mean_delta_p == Approx(theirs.at("mean_delta_p").get<double>()).margin(0.002));
  CHECK(ours.top1_agreement == Approx(theirs.at("top1_agreement").get<double>()).margin(0.02));
}
