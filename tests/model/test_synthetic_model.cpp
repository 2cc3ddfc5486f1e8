// ptq synth's model: shapes and dtypes, heavy tails, outlier channels that calibration sees, byte
// determinism, and that the rest of ptq loads it (weights, tokenizer, a forward pass).
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/staged_directory.hpp"
#include "model/decoder.hpp"
#include "model/hf_export.hpp"
#include "model/model_files.hpp"
#include "model/synthetic_model.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace ptq;
namespace fs = std::filesystem;

namespace {

// Excess kurtosis E[(x-m)^4]/var^2 - 3, in double.
double excess_kurtosis(const torch::Tensor& t) {
  auto x = t.to(torch::kFloat64).flatten();
  x = x - x.mean();
  const double var = x.pow(2).mean().item<double>();
  return x.pow(4).mean().item<double>() / (var * var) - 3.0;
}

model::ModelConfig small() { return model::synthetic_config(256, 1024, 2, 4, 2, 600); }

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("synthetic model: f16 shards of the named shape, heavy tails, outlier norms", "[model][synth]") {
  const std::string dir = test::scratch_dir("synth-stats") + "/m";
  model::SynthOptions opt;
  opt.dtype = torch::kFloat16;
  opt.student_t_dof = 6;
  opt.outlier_channels = 4;
  opt.outlier_factor = 20;
  model::write_synthetic_model(small(), dir, 11, opt);
  auto src = model::open_weights(dir);
  CHECK(src->config().torch_dtype == "float16");
  for (const auto& t : src->tensors()) CHECK(t.dtype == "F16");
  const auto up = src->load("model.layers.1.mlp.up_proj.weight");
  REQUIRE(up.sizes().vec() == std::vector<int64_t>{1024, 256});
  // Student-t with 6 degrees of freedom: excess kurtosis 3 (a normal's is 0); std 1/sqrt(in).
  CHECK(excess_kurtosis(up) > 1.5);
  CHECK(up.std().item<double>() == Approx(1.0 / 16).epsilon(0.03));
  const auto norm = src->load("model.layers.0.input_layernorm.weight");
  const auto chosen = model::synthetic_outlier_channels(src->config(), 11, 4);
  CHECK(chosen.size() == 4);
  CHECK((norm > 1.5).sum().item<int64_t>() == 4);
  for (int64_t c : chosen) CHECK(norm[c].item<float>() == 20.0f);

  // Normal weights for comparison: no tails.
  const std::string ndir = test::scratch_dir("synth-normal") + "/m";
  model::write_synthetic_model(small(), ndir, 11);
  CHECK(std::abs(excess_kurtosis(model::open_weights(ndir)->load("model.layers.1.mlp.up_proj.weight"))) < 0.1);
}

TEST_CASE("synthetic model: the outlier channels are the largest linear inputs a forward pass sees", "[model][synth]") {
  const std::string dir = test::scratch_dir("synth-outliers") + "/m";
  model::SynthOptions opt;
  opt.student_t_dof = 6;
  opt.outlier_channels = 3;
  model::write_synthetic_model(small(), dir, 5, opt);
  model::Model m(model::open_weights(dir));
  std::map<std::string, torch::Tensor> absmax;  // per linear input: max |x| per channel
  model::LinearInputHook hook = [&](const std::string& name, torch::Tensor& x) {
    auto a = x.abs().reshape({-1, x.size(-1)}).amax(0);
    absmax[name] = absmax.count(name) ? torch::maximum(absmax[name], a) : a;
  };
  const auto tokens = torch::randint(0, 600, {2, 64}, torch::kInt64);
  m.forward(tokens, nullptr, &hook);
  const auto chosen = model::synthetic_outlier_channels(m.config(), 5, 3);
  for (const char* name : {"model.layers.0.self_attn.q_proj", "model.layers.1.mlp.gate_proj"}) {
    INFO(name);
    REQUIRE(absmax.count(name));
    auto top = std::get<0>(std::get<1>(absmax[name].topk(3)).sort()).contiguous();
    std::vector<int64_t> got(top.data_ptr<int64_t>(), top.data_ptr<int64_t>() + 3);
    CHECK(got == chosen);
    // Outliers an order of magnitude above the median channel, as trained LLaMAs show.
    CHECK(absmax[name].index_select(0, top).min().item<float>() > 5 * absmax[name].median().item<float>());
  }
}

TEST_CASE("synthetic model: same seed same bytes, another seed other bytes; ptq opens it", "[model][synth]") {
  const std::string root = test::scratch_dir("synth-determinism");
  model::SynthOptions opt;
  opt.dtype = torch::kBFloat16;
  opt.student_t_dof = 8;
  opt.outlier_channels = 2;
  model::write_synthetic_model(small(), root + "/a", 3, opt);
  model::write_synthetic_model(small(), root + "/b", 3, opt);
  model::write_synthetic_model(small(), root + "/c", 4, opt);
  for (const char* f : {"model-00001-of-00003.safetensors", "model-00003-of-00003.safetensors", "config.json"}) {
    INFO(f);
    CHECK(read_bytes(fs::path(root) / "a" / f) == read_bytes(fs::path(root) / "b" / f));
  }
  CHECK(read_bytes(fs::path(root) / "a" / "model-00001-of-00003.safetensors") !=
        read_bytes(fs::path(root) / "c" / "model-00001-of-00003.safetensors"));
  // With a tokenizer beside it (as ptq synth copies one), ptq's loaders take the directory.
  model::copy_tokenizer_files(std::string(PTQ_SOURCE_DIR) + "/models/brown-5m/tokenizer.model", root + "/a");
  auto tok = tok::open_tokenizer(model::find_tokenizer(root + "/a", 600));
  const auto ids = tok->encode("The quick brown fox.", true);
  REQUIRE(!ids.empty());
  model::Model m(model::open_weights(root + "/a"));
  CHECK(m.config().torch_dtype == "bfloat16");
  std::vector<int64_t> ids64(ids.begin(), ids.end());
  const auto logits = m.forward(torch::tensor(ids64).remainder(600).unsqueeze(0));
  CHECK(logits.sizes().vec() == std::vector<int64_t>{1, int64_t(ids.size()), 600});
  CHECK(torch::isfinite(logits).all().item<bool>());
}

TEST_CASE("synthetic model: named shapes and bad options", "[model][synth]") {
  const auto c = model::named_shape("llama3-8b");
  CHECK(c.hidden_size == 4096);
  CHECK(c.intermediate_size == 14336);
  CHECK(c.num_kv_heads == 8);
  CHECK(c.vocab_size == 128256);
  CHECK(model::named_shape("llama2-7b").num_kv_heads == 32);
  CHECK_THROWS_WITH(model::named_shape("llama9"), Catch::Contains("llama2-7b"));
  model::SynthOptions opt;
  opt.student_t_dof = 5;
  CHECK_THROWS_WITH(model::write_synthetic_model(small(), test::scratch_dir("synth-bad") + "/m", 1, opt),
                    Catch::Contains("even number"));
}
