// QuaRot-style rotations (model/hadamard, model/rotation): the Hadamard constructions are
// orthogonal at every size they claim, and rotating a model (norms folded, residual rotation, online
// Hadamards on the MLP activation and the attention heads) leaves its function unchanged, checked
// against the unrotated model's logits (the oracle is the model itself).
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <memory>

#include "core/error.hpp"
#include "data/text_source.hpp"
#include "model/decoder.hpp"
#include "model/hadamard.hpp"
#include "model/online_rotation.hpp"
#include "model/rotation.hpp"
#include "model/rotation_outliers.hpp"
#include "tokenizer/tokenizer.hpp"
#include "../support/shared_data.hpp"

using namespace ptq;

namespace {

double max_orthogonality_error(const torch::Tensor& q) {
  const auto eye = torch::eye(q.size(0), torch::kFloat64);
  return (torch::matmul(q, q.t()) - eye).abs().max().item<double>();
}

// Fixed token windows from the model's vocabulary (seeded).
torch::Tensor tokens_for(int64_t vocab, int64_t batch, int64_t len) {
  auto gen = at::detail::createCPUGenerator(1234);
  return torch::randint(1, vocab, {batch, len}, gen, torch::kInt64);
}

double relative_difference(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).norm() / b.norm()).item<double>();
}

torch::Tensor logits_of(std::shared_ptr<model::WeightSource> src, const torch::Tensor& tokens,
                        const model::KvQuantSpec& kv = {}) {
  model::Model m(std::move(src));
  m.make_resident();
  if (kv.enabled()) m.set_kv_quant(kv);
  return m.forward(tokens);
}

}  // namespace

TEST_CASE("Hadamard matrices are orthogonal at every size constructed; 172 falls back to random orthogonal", "[model][rotation]") {
  for (int64_t n : {1, 2, 8, 12, 20, 24, 28, 32, 36, 40, 44, 48, 60, 64, 76, 96, 108, 128, 160, 256, 768, 1024}) {
    INFO("n = " << n);
    const auto h = model::hadamard_matrix(n);
    REQUIRE(h.defined());
    CHECK(h.abs().eq(1).all().item<bool>());  // entries +-1
    CHECK((torch::matmul(h, h.t()) - n * torch::eye(n, torch::kFloat64)).abs().max().item<double>() == 0.0);
    const auto r = model::rotation_matrix(n, 7, true);
    CHECK(r.hadamard);
    CHECK(max_orthogonality_error(r.q) < 1e-12);
  }
  CHECK(model::hadamard_construction(768) == "sylvester(64) x paley1(12)");
  CHECK(model::hadamard_construction(4096) == "sylvester(4096)");
  CHECK(model::hadamard_construction(36) == "paley2(36)");
  // Llama-2-7B's MLP width through Paley I with q = 5503 (prime, 3 mod 4); named without building it.
  CHECK(model::hadamard_construction(11008) == "sylvester(2) x paley1(5504)");
  // No construction: 172 = 4 * 43 (stories260K's MLP width), 344 (343 = 7^3 is not prime), odd sizes.
  for (int64_t n : {172, 344, 6, 43}) {
    CHECK(model::hadamard_construction(n).empty());
    CHECK_FALSE(model::hadamard_matrix(n).defined());
  }
  const auto f = model::rotation_matrix(172, 3, true);
  CHECK_FALSE(f.hadamard);
  CHECK(f.construction.find("random orthogonal") != std::string::npos);
  CHECK(max_orthogonality_error(f.q) < 1e-12);
  CHECK(torch::equal(f.q, model::rotation_matrix(172, 3, true).q));        // same seed, same bits
  CHECK_FALSE(torch::equal(f.q, model::rotation_matrix(172, 4, true).q));  // another seed, another matrix
  // The random signs make the residual rotation depend on the seed.
  CHECK_FALSE(torch::equal(model::rotation_matrix(64, 0, true).q, model::rotation_matrix(64, 1, true).q));
}

TEST_CASE("Rotating stories260K leaves its logits unchanged, online rotations included", "[model][rotation][stories260K]") {
  SHARED_FILE(path, "models/stories260K.bin");
  std::shared_ptr<model::WeightSource> base = model::open_weights(path);
  const auto tokens = tokens_for(base->config().vocab_size, 2, 64);
  const auto ref = logits_of(base, tokens);
  for (int variant = 0; variant < 3; ++variant) {
    model::RotationSpec spec;
    spec.seed = 5;
    spec.online_down_proj = variant >= 1;
    spec.online_kv = variant >= 2;
    auto rotated = std::make_shared<model::RotatedWeights>(base, spec);
    INFO("variant " << variant << ": " << rotated->description().dump());
    CHECK(rotated->has(model::kOnlineDownProjRotation) == spec.online_down_proj);
    CHECK(rotated->has(model::kOnlineHeadRotation) == spec.online_kv);
    CHECK(rotated->load("model.layers.2.input_layernorm.weight").eq(1).all().item<bool>());
    // The rotated tensors really differ (the comparison below is not of the model with itself).
    CHECK(relative_difference(rotated->load("model.layers.0.self_attn.q_proj.weight"),
                              base->load("model.layers.0.self_attn.q_proj.weight")) > 0.5);
    const auto out = logits_of(rotated, tokens);
    CHECK(relative_difference(out, ref) < 1e-4);
  }
  model::RotationSpec full;
  full.online_down_proj = full.online_kv = true;
  const auto d = model::RotatedWeights(base, full).description();
  CHECK(d["residual"]["matrix"].get<std::string>().find("sylvester(64)") != std::string::npos);
  CHECK(d["down_proj_input"]["matrix"].get<std::string>().find("random orthogonal") != std::string::npos);  // 172
  CHECK(d["head"]["matrix"] == "hadamard sylvester(8)");
}

TEST_CASE("Rotating the default model (256 / 768 = 64 x Paley 12, GQA) leaves its logits unchanged", "[model][rotation]") {
  const std::string path = std::string(PTQ_SOURCE_DIR) + "/models/brown-5m";
  std::shared_ptr<model::WeightSource> base = model::open_weights(path);
  REQUIRE(base->config().tie_word_embeddings);
  const auto tokens = tokens_for(base->config().vocab_size, 2, 96);
  const auto ref = logits_of(base, tokens);
  model::RotationSpec spec;
  spec.seed = 0;
  spec.online_down_proj = spec.online_kv = true;
  auto rotated = std::make_shared<model::RotatedWeights>(base, spec);
  CHECK_FALSE(rotated->config().tie_word_embeddings);
  CHECK(rotated->description()["down_proj_input"]["matrix"] == "hadamard sylvester(64) x paley1(12)");
  CHECK(relative_difference(logits_of(rotated, tokens), ref) < 1e-4);
  // A rotated model is not rotated again (the online rotations would compound).
  CHECK_THROWS_WITH(model::RotatedWeights(rotated, spec), Catch::Contains("already holds online rotations"));
}

TEST_CASE("Per-head rotation makes 4-bit KV-cache quantization of stories260K more accurate", "[model][rotation][stories260K]") {
  SHARED_FILE(path, "models/stories260K.bin");
  SHARED_FILE(tok, "models/tok512.bin");
  SHARED_FILE(text, "text/tinystories_valid_eval.txt");
  std::shared_ptr<model::WeightSource> base = model::open_weights(path);
  // Real text (keys and values of random tokens are not the ones that matter): 4 windows of 128.
  const auto ids = tok::open_tokenizer(tok)->encode(data::read_text({text}), true);
  REQUIRE(ids.size() > 512u);
  const auto tokens = torch::tensor(std::vector<int64_t>(ids.begin(), ids.begin() + 512)).view({4, 128});
  const auto ref = logits_of(base, tokens);
  model::KvQuantSpec kv;
  kv.bits = 4;
  model::RotationSpec spec;
  spec.online_kv = true;
  const double plain = relative_difference(logits_of(base, tokens, kv), ref);
  const double rotated = relative_difference(logits_of(std::make_shared<model::RotatedWeights>(base, spec), tokens, kv), ref);
  WARN("KV4 relative logit error on text: plain " << plain << ", rotated heads " << rotated);
  CHECK(rotated < 0.95 * plain);
}

TEST_CASE("The outlier-channel model is an exact reparametrisation with large activation channels", "[model][rotation]") {
  const std::string path = std::string(PTQ_SOURCE_DIR) + "/models/brown-5m";
  std::shared_ptr<model::WeightSource> base = model::open_weights(path);
  auto outl = std::make_shared<model::OutlierChannels>(base, 4, 30.0);
  REQUIRE(outl->channels().size() == 4u);
  const int64_t c = outl->channels()[1];
  const std::string n = "model.layers.1.post_attention_layernorm.weight";
  CHECK(outl->load(n)[c].item<double>() == Approx(30.0 * base->load(n)[c].item<double>()).epsilon(1e-6));
  const std::string g = "model.layers.1.mlp.gate_proj.weight";
  CHECK(outl->load(g).index({0, c}).item<double>() == Approx(base->load(g).index({0, c}).item<double>() / 30.0).epsilon(1e-6));
  const auto tokens = tokens_for(base->config().vocab_size, 2, 96);
  CHECK(relative_difference(logits_of(outl, tokens), logits_of(base, tokens)) < 1e-4);
  CHECK_THROWS_WITH(model::OutlierChannels(base, 0, 30.0), Catch::Contains("outlier channels must be"));
  CHECK_THROWS_WITH(model::OutlierChannels(base, 4, -1.0), Catch::Contains("positive"));
}
