// Forward-pass throughput, side by side with this machine's sgemm peak measured in the same run:
//  1. stories260K (../shared/data/models/stories260K.bin) at n_ctx 256, in tokens/s;
//  2. one synthetic decoder layer of Llama-2-7B's shape (hidden 4096, intermediate 11008, 32 heads,
//     random weights) over 2048 tokens, in GFLOP/s and as a fraction of the sgemm peak.
// Usage: bench_forward [--threads N] [--model PATH]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

#include "bench_common.hpp"
#include "core/threads.hpp"
#include "io/llama2c.hpp"
#include "model/decoder.hpp"

using namespace ptq;
using ptq::bench::Clock;
using ptq::bench::seconds_since;

namespace {

// A model with random weights of the given shape, through the same WeightSource interface.
class RandomWeights : public model::WeightSource {
 public:
  explicit RandomWeights(model::ModelConfig c) : cfg_(c) {}
  const model::ModelConfig& config() const override { return cfg_; }
  std::vector<model::TensorInfo> tensors() const override { return {}; }
  bool has(const std::string& name) const override {
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0) return false;
    return name != "lm_head.weight" || !cfg_.tie_word_embeddings;
  }
  torch::Tensor load(const std::string& name) const override {
    const int64_t D = cfg_.hidden_size, F = cfg_.intermediate_size, V = cfg_.vocab_size;
    const int64_t q = int64_t(cfg_.num_heads) * cfg_.head_dim, kv = int64_t(cfg_.num_kv_heads) * cfg_.head_dim;
    auto ends = [&](const char* s) { return name.size() >= std::strlen(s) && name.compare(name.size() - std::strlen(s), std::string::npos, s) == 0; };
    if (ends("layernorm.weight") || name == "model.norm.weight") return torch::ones({D});
    if (name == "model.embed_tokens.weight" || name == "lm_head.weight") return torch::randn({V, D}) * 0.02;
    if (ends("q_proj.weight")) return torch::randn({q, D}) / std::sqrt(double(D));
    if (ends("k_proj.weight") || ends("v_proj.weight")) return torch::randn({kv, D}) / std::sqrt(double(D));
    if (ends("o_proj.weight")) return torch::randn({D, q}) / std::sqrt(double(q));
    if (ends("gate_proj.weight") || ends("up_proj.weight")) return torch::randn({F, D}) / std::sqrt(double(D));
    if (ends("down_proj.weight")) return torch::randn({D, F}) / std::sqrt(double(F));
    throw std::runtime_error("no tensor " + name);
  }
  std::string format() const override { return "random"; }
  std::string path() const override { return "random"; }

 private:
  model::ModelConfig cfg_;
};

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  std::string model_path = std::string(PTQ_SOURCE_DIR) + "/../shared/data/models/stories260K.bin";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--model") && i + 1 < argc) model_path = argv[++i];
  }
  threads = set_threads(threads);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  std::printf("threads %d\n", threads);
  const double peak = bench::sgemm_peak_gflops(2048);
  std::printf("sgemm peak (2048^3, best of 5)            %8.1f GFLOP/s\n", peak);

  if (std::filesystem::exists(model_path)) {
    model::Model m(io::open_llama2c_model(model_path));
    m.make_resident();
    const int64_t B = 8, T = 256;
    auto tokens = torch::randint(0, m.config().vocab_size, {B, T}, torch::kInt64);
    m.forward(tokens);
    const int reps = 10;
    auto t = Clock::now();
    for (int r = 0; r < reps; ++r) m.forward(tokens);
    const double s = seconds_since(t);
    std::printf("stories260K forward, n_ctx 256, batch 8    %8.0f tokens/s\n", reps * B * T / s);
  } else {
    std::printf("stories260K: %s absent, skipped\n", model_path.c_str());
  }

  model::ModelConfig c;
  c.hidden_size = 4096;
  c.intermediate_size = 11008;
  c.num_layers = 1;
  c.num_heads = 32;
  c.num_kv_heads = 32;
  c.head_dim = 128;
  c.vocab_size = 32;
  c.max_position_embeddings = 4096;
  c.tie_word_embeddings = true;
  model::Model m(std::make_shared<RandomWeights>(c));
  m.make_resident();
  const int64_t T = 2048;
  auto x = torch::randn({1, T, c.hidden_size}) * 0.1;
  model::LayerRun run;
  m.run_layer(0, x, run);  // warm-up
  double best = 1e30;
  for (int r = 0; r < 3; ++r) {
    auto t = Clock::now();
    m.run_layer(0, x, run);
    best = std::min(best, seconds_since(t));
  }
  const double D = c.hidden_size, F = c.intermediate_size;
  const double linear = 2.0 * T * (4 * D * D + 3 * D * F);
  const double attention = 2.0 * 2.0 * T * T * D;  // QK^T and PV over all T x T (mask computed, not skipped)
  const double gflops = (linear + attention) / best / 1e9;
  std::printf("7B-shaped layer, 2048 tokens               %8.3f s  %8.1f GFLOP/s  (%.0f%% of sgemm peak)\n",
              best, gflops, 100.0 * gflops / peak);
  std::printf("  of which linear layers %.1f GFLOP, attention %.1f GFLOP\n", linear / 1e9, attention / 1e9);
  return 0;
}
