#include <catch2/catch.hpp>

#include <fstream>
#include <random>

#include "core/error.hpp"
#include "io/llama2c.hpp"
#include "io/rotary_layout.hpp"
#include "model/decoder.hpp"
#include "model/llama2c_reference.hpp"
#include "support/shared_data.hpp"

using namespace ptq;

namespace {

// The same fp32 computation through differently shaped matrix products (one window vs a batch,
// a whole sequence vs token by token) rounds differently; logits here are O(10).
constexpr float kReorderTolerance = 1e-4f;

std::vector<int> random_tokens(int n, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int> t(n);
  for (auto& x : t) x = static_cast<int>(rng() % vocab);
  t[0] = 1;  // BOS
  return t;
}

torch::Tensor as_batch(const std::vector<int>& t) {
  return torch::tensor(std::vector<int64_t>(t.begin(), t.end()), torch::kInt64).unsqueeze(0);
}

}  // namespace

TEST_CASE("decoder logits equal llama2.c's own forward pass on stories260K", "[model]") {
  SHARED_FILE(path, "models/stories260K.bin");
  test::Llama2cReference ref(path);
  model::Model m(io::open_llama2c_model(path));
  REQUIRE(m.config().num_kv_heads == 4);
  REQUIRE(m.config().head_dim == 8);
  const auto tokens = random_tokens(48, ref.vocab, 7);
  const auto want = ref.logits(tokens);
  const auto got = m.forward(as_batch(tokens))[0];
  double max_diff = 0;
  for (size_t p = 0; p < tokens.size(); ++p) {
    for (int v = 0; v < ref.vocab; ++v) {
      max_diff = std::max(max_diff, std::abs(double(got[p][v].item<float>()) - want[p][v]));
    }
  }
  INFO("max |logit difference| = " << max_diff);
  CHECK(max_diff < 1e-4);
}

TEST_CASE("incremental decoding with the KV cache equals the full forward pass", "[model]") {
  SHARED_FILE(path, "models/stories260K.bin");
  model::Model m(io::open_llama2c_model(path));
  m.make_resident();
  const auto tokens = random_tokens(30, m.config().vocab_size, 11);
  const auto full = m.forward(as_batch(tokens))[0];
  model::KVCache cache;
  // A prompt of 10 tokens, then one token at a time.
  std::vector<int> prompt(tokens.begin(), tokens.begin() + 10);
  std::vector<torch::Tensor> parts = {m.forward(as_batch(prompt), &cache)[0]};
  for (size_t i = 10; i < tokens.size(); ++i) parts.push_back(m.forward(as_batch({tokens[i]}), &cache)[0]);
  auto inc = torch::cat(parts, 0);
  CHECK(cache.length() == static_cast<int64_t>(tokens.size()));
  CHECK((inc - full).abs().max().item<float>() < kReorderTolerance);
}

TEST_CASE("batched windows give the same logits as single windows", "[model]") {
  SHARED_FILE(path, "models/stories260K.bin");
  model::Model m(io::open_llama2c_model(path));
  const auto a = random_tokens(20, 512, 1), b = random_tokens(20, 512, 2);
  auto batch = torch::cat({as_batch(a), as_batch(b)}, 0);
  auto both = m.forward(batch);
  CHECK((both[0] - m.forward(as_batch(a))[0]).abs().max().item<float>() < kReorderTolerance);
  CHECK((both[1] - m.forward(as_batch(b))[0]).abs().max().item<float>() < kReorderTolerance);
}

TEST_CASE("rotary layout conversion is a permutation and its inverse", "[model]") {
  auto w = torch::arange(0, 16 * 3, torch::kFloat32).reshape({16, 3});
  auto half = io::interleaved_to_rotate_half(w, 2);  // 2 heads of 8 rows
  // Row 2i + p of a head moves to p * 4 + i: head 0 row 1 (i=0, p=1) lands on row 4.
  CHECK(half[4][0].item<float>() == w[1][0].item<float>());
  CHECK(half[1][0].item<float>() == w[2][0].item<float>());
  CHECK(half[8 + 5][2].item<float>() == w[8 + 3][2].item<float>());
  CHECK(torch::equal(io::rotate_half_to_interleaved(half, 2), w));
}

namespace {

std::string write_bytes(const std::string& name, const std::string& bytes) {
  const std::string dir = test::scratch_dir("llama2c-bad");
  const std::string p = dir + "/" + name;
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return p;
}

std::string header(std::vector<int32_t> h) {
  return std::string(reinterpret_cast<const char*>(h.data()), h.size() * 4);
}

std::string error_of(const std::string& path) {
  try {
    io::open_llama2c_model(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("malformed llama2.c checkpoints give one clear error naming the file", "[model][bad-input]") {
  SECTION("shorter than the header") {
    auto p = write_bytes("short.bin", "abc");
    auto e = error_of(p);
    CHECK_THAT(e, Catch::Contains(p) && Catch::Contains("too small for a llama2.c header"));
  }
  SECTION("absurd header values never allocate") {
    auto p = write_bytes("absurd.bin", header({64, 172, 5, 8, 4, 2000000000, 512}));
    CHECK_THAT(error_of(p), Catch::Contains(p) && Catch::Contains("vocab_size") && Catch::Contains("out of range"));
  }
  SECTION("inconsistent heads") {
    auto p = write_bytes("heads.bin", header({64, 172, 5, 6, 4, 512, 512}));
    CHECK_THAT(error_of(p), Catch::Contains("inconsistent header"));
  }
  SECTION("truncated weights") {
    auto p = write_bytes("trunc.bin", header({64, 172, 5, 8, 4, 512, 512}) + std::string(1000, '\0'));
    CHECK_THAT(error_of(p), Catch::Contains(p) && Catch::Contains("truncated"));
  }
  SECTION("the version 1/2 export format") {
    auto p = write_bytes("v1.bin", header({0x616b3432, 1, 0, 0, 0, 0, 0}));
    CHECK_THAT(error_of(p), Catch::Contains("'ak42'"));
  }
  SECTION("missing file") {
    CHECK_THAT(error_of("/nonexistent/x.bin"), Catch::Contains("/nonexistent/x.bin") && Catch::Contains("cannot open"));
  }
}
