// ptq train: the trainable model computes what ptq's inference decoder computes on the checkpoint it
// writes; two runs of one recipe give identical bytes and another seed gives other bytes; the loss
// falls; the schedule and the recipe checks.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "model/hf_config.hpp"
#include "model/weight_source.hpp"
#include "train/trainable_llama.hpp"
#include "train/trainer.hpp"
#include "../support/shared_data.hpp"

using namespace ptq;
namespace fs = std::filesystem;

namespace {

// Logits of the trainable model and of model::Model may differ by float rounding only.
constexpr double kLogitTolerance = 2e-4;

model::ModelConfig tiny_config(bool tied) {
  model::ModelConfig c;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.vocab_size = 50;
  c.max_position_embeddings = 64;
  c.tie_word_embeddings = tied;
  return c;
}

// A text of simple sentences from a fixed word list and a fixed LCG (no library randomness), with
// paragraphs, so spm_train and the trainer have something learnable.
std::string tiny_corpus(int sentences, uint32_t seed) {
  const char* subjects[] = {"The cat", "A dog", "The old man", "My sister", "The teacher", "A bird"};
  const char* verbs[] = {"saw", "liked", "found", "painted", "followed", "called"};
  const char* objects[] = {"the red ball.", "a small house.", "the river.", "her friend.", "the garden.", "a letter."};
  uint32_t x = seed;
  auto next = [&](int n) {
    x = x * 1664525u + 1013904223u;
    return static_cast<int>((x >> 16) % static_cast<uint32_t>(n));
  };
  std::string out;
  for (int i = 0; i < sentences; ++i) {
    out += std::string(subjects[next(6)]) + " " + verbs[next(6)] + " " + objects[next(6)] + "\n";
    if (i % 5 == 4) out += "\n";
  }
  return out;
}

std::string tiny_recipe(const std::string& dir, int seed, int steps) {
  std::ostringstream y;
  y << "name: tiny\nseed: " << seed << "\nthreads: 1\n"
    << "data:\n  train: " << dir << "/train.txt\n  eval: " << dir << "/eval.txt\n"
    << "tokenizer:\n  spm_train: [--model_type=bpe, --vocab_size=400, --hard_vocab_limit=false, "
       "--character_coverage=1.0, --byte_fallback=true, --normalization_rule_name=identity, "
       "--remove_extra_whitespaces=false, --num_threads=1, --minloglevel=2]\n"
    << "model: {hidden_size: 32, intermediate_size: 64, num_layers: 2, num_heads: 4, num_kv_heads: 2,"
       " tie_word_embeddings: false, max_position_embeddings: 64}\n"
    << "train: {seqlen: 32, batch_size: 4, steps: " << steps
    << ", warmup_steps: 2, lr: 1.0e-2, min_lr: 1.0e-3, log_every: 5, eval_windows: 4}\n"
    << "output: {dir: " << dir << "/out, dtype: float32}\n";
  return y.str();
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Trains the tiny recipe in a fresh scratch directory; returns the directory.
std::string train_tiny(const std::string& name, int seed, int steps, train::TrainResult* result = nullptr) {
  const std::string dir = test::scratch_dir(name);
  io::write_file_atomically(dir + "/train.txt", tiny_corpus(1200, 12345));
  io::write_file_atomically(dir + "/eval.txt", tiny_corpus(100, 777));
  auto cfg = train::parse_train_config(tiny_recipe(dir, seed, steps), name + ".yaml");
  std::ostringstream console;
  auto r = train::train_model(cfg, console);
  if (result) *result = r;
  return dir;
}

}  // namespace

TEST_CASE("trainable model's logits equal ptq's inference decoder on the checkpoint it writes", "[train]") {
  for (bool tied : {true, false}) {
    torch::manual_seed(7);
    train::TrainableLlama m(tiny_config(tied), 0.1);
    {
      // Norm weights away from 1, so the test sees whether each norm is applied where it belongs.
      torch::NoGradGuard g;
      for (auto& v : m.vectors()) v.uniform_(0.5, 1.5);
    }
    const std::string dir = test::scratch_dir(tied ? "train-equiv-tied" : "train-equiv-untied");
    io::SafetensorsWriter w;
    for (const auto& [name, t] : m.named_parameters()) w.add(name, t.detach());
    w.write(dir + "/model.safetensors");
    io::write_file_atomically(dir + "/config.json", model::write_hf_config(m.config()));

    model::Model inference(model::open_weights(dir));
    auto tokens = torch::randint(0, 50, {2, 40}, torch::kInt64);
    auto expected = inference.forward(tokens);
    auto got = m.forward(tokens).detach();
    REQUIRE(got.sizes() == expected.sizes());
    CHECK((got - expected).abs().max().item<double>() < kLogitTolerance);
    CHECK(m.parameter_count() == (tied ? 50 * 32 : 2 * 50 * 32) + 32 +
                                     2 * (2 * 32 + 32 * 32 * 2 + 2 * 32 * 16 + 3 * 32 * 64));
  }
}

TEST_CASE("loss gradient matches a central finite difference", "[train]") {
  torch::manual_seed(3);
  auto cfg = tiny_config(true);
  cfg.num_layers = 1;
  train::TrainableLlama m(cfg, 0.2);
  auto windows = torch::randint(0, 50, {2, 9}, torch::kInt64);
  auto loss = m.loss(windows);
  loss.backward();
  // Probe a few entries of a k_proj weight (rotary + GQA path) and of the input norm, in double.
  for (const char* name : {"model.layers.0.self_attn.k_proj.weight", "model.layers.0.input_layernorm.weight"}) {
    auto p = m.named_parameters().at(name);
    auto flat = p.detach().view({-1});
    auto grad = p.grad().view({-1});
    for (int64_t i : {0, 5, 17}) {
      const float h = 1e-2f, orig = flat[i].item<float>();
      torch::NoGradGuard g;
      flat[i] = orig + h;
      const double up = m.loss(windows).item<double>();
      flat[i] = orig - h;
      const double down = m.loss(windows).item<double>();
      flat[i] = orig;
      INFO(name << "[" << i << "]");
      CHECK(grad[i].item<double>() == Approx((up - down) / (2 * h)).margin(2e-4).epsilon(2e-2));
    }
  }
}

TEST_CASE("a recipe trains to the same bytes twice, other bytes with another seed, and the loss falls",
          "[train][determinism]") {
  train::TrainResult r1, r2, r3;
  const auto a = train_tiny("train-det-a", 11, 30, &r1);
  const auto b = train_tiny("train-det-b", 11, 30, &r2);
  const auto c = train_tiny("train-det-c", 12, 30, &r3);
  for (const char* f : {"model.safetensors", "config.json", "tokenizer.model"}) {
    INFO(f);
    CHECK(read_bytes(a + "/out/" + f) == read_bytes(b + "/out/" + f));
  }
  CHECK(read_bytes(a + "/out/model.safetensors") != read_bytes(c + "/out/model.safetensors"));
  CHECK(r1.final_loss == r2.final_loss);
  CHECK(r1.eval_loss == r2.eval_loss);
  // The checkpoint loads in ptq and the written log records every logged step.
  model::Model loaded(model::open_weights(a + "/out"));
  // 30 steps on this repetitive text: from ~ln(vocab) at the start to well below it.
  CHECK(r1.eval_loss < 0.6 * std::log(double(loaded.config().vocab_size)));
  CHECK(r1.parameters == r3.parameters);
  CHECK(loaded.config().num_kv_heads == 2);
  const auto log = read_bytes(a + "/out/train_log.txt");
  CHECK(log.find("\n    30 ") != std::string::npos);
  CHECK(log.find("eval loss") != std::string::npos);
}

TEST_CASE("learning-rate schedule: linear warmup, cosine decay to min_lr", "[train]") {
  train::OptimSettings o;
  o.steps = 110;
  o.warmup_steps = 10;
  o.lr = 1.0;
  o.min_lr = 0.1;
  CHECK(train::learning_rate(o, 0) == Approx(0.1));
  CHECK(train::learning_rate(o, 9) == Approx(1.0));
  CHECK(train::learning_rate(o, 10) == Approx(1.0));
  CHECK(train::learning_rate(o, 60) == Approx(0.55));  // half way: the cosine's midpoint
  CHECK(train::learning_rate(o, 110) == Approx(0.1));
}

TEST_CASE("recipe errors name the file and key", "[train][config]") {
  const std::string ok = tiny_recipe("/tmp/x", 1, 5);
  CHECK_NOTHROW(train::parse_train_config(ok, "r.yaml"));
  auto bad = [&](const std::string& from, const std::string& to) {
    std::string y = ok;
    const auto at = y.find(from);
    REQUIRE(at != std::string::npos);
    return y.replace(at, from.size(), to);
  };
  CHECK_THROWS_WITH(train::parse_train_config(bad("threads: 1", "thread: 1"), "r.yaml"),
                    Catch::Contains("r.yaml:3:1") && Catch::Contains("did you mean 'threads'"));
  CHECK_THROWS_WITH(train::parse_train_config(bad("seqlen: 32", "seqlen: 128"), "r.yaml"),
                    Catch::Contains("train.seqlen") && Catch::Contains("max_position_embeddings"));
  CHECK_THROWS_WITH(train::parse_train_config(bad("lr: 1.0e-2", "lr: nan"), "r.yaml"),
                    Catch::Contains("train.lr") && Catch::Contains("finite"));
  CHECK_THROWS_WITH(train::parse_train_config(bad("--num_threads=1", "--input=/etc/passwd"), "r.yaml"),
                    Catch::Contains("tokenizer.spm_train"));
  CHECK_THROWS_WITH(train::parse_train_config(bad("--num_threads=1", "--num_threads=1;rm"), "r.yaml"),
                    Catch::Contains("shell characters"));
  CHECK_THROWS_WITH(train::parse_train_config(bad("num_kv_heads: 2", "num_kv_heads: 3"), "r.yaml"),
                    Catch::Contains("model.num_kv_heads"));
  CHECK_THROWS_WITH(train::parse_train_config(bad("dtype: float32", "dtype: int8"), "r.yaml"),
                    Catch::Contains("output.dtype"));
}
