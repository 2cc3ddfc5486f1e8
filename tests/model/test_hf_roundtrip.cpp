#include <catch2/catch.hpp>

#include <filesystem>

#include "io/hf_checkpoint.hpp"
#include "io/llama2c.hpp"
#include "model/decoder.hpp"
#include "model/generate.hpp"
#include "model/hf_export.hpp"
#include "model/model_files.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace ptq;

TEST_CASE("llama2.c -> Hugging Face directory -> load gives bit-identical logits", "[model][convert]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  SHARED_FILE(tok, "models/tok512.bin");
  const std::string dir = test::scratch_dir("hf-roundtrip") + "/stories260K-hf";
  auto src = io::open_llama2c_model(bin);
  model::write_hf_directory(*src, tok, dir);
  REQUIRE(std::filesystem::exists(dir + "/config.json"));
  REQUIRE(std::filesystem::exists(dir + "/model.safetensors"));
  REQUIRE(std::filesystem::exists(dir + "/tokenizer.bin"));

  model::Model a(io::open_llama2c_model(bin));
  model::Model b(model::open_weights(dir));
  CHECK(b.source().format() != a.source().format());
  CHECK(b.config().num_kv_heads == a.config().num_kv_heads);
  CHECK(b.config().tie_word_embeddings);
  auto tokens = torch::randint(0, 512, {2, 64}, torch::kInt64);
  CHECK(torch::equal(a.forward(tokens), b.forward(tokens)));

  // The directory's tokenizer is found from the directory alone and equals the original.
  auto t1 = tok::open_tokenizer(tok);
  auto t2 = tok::open_tokenizer(model::find_tokenizer(dir, 512));
  const std::string text = "Once upon a time, there was a cat.\nIt said \"hi\"!";
  CHECK(t1->encode(text, true) == t2->encode(text, true));

  SECTION("an f16 directory computes nearly the same function") {
    const std::string d16 = test::scratch_dir("hf-roundtrip-f16") + "/m";
    model::write_hf_directory(*src, tok, d16, torch::kFloat16);
    model::Model c(model::open_weights(d16));
    CHECK(c.config().torch_dtype == "float16");
    const float diff = (a.forward(tokens) - c.forward(tokens)).abs().max().item<float>();
    CHECK(diff > 0.0f);   // really stored in half precision
    CHECK(diff < 0.05f);
  }
}

TEST_CASE("greedy decoding from BOS reproduces stories260K's published sample", "[model][generate]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  SHARED_FILE(tok, "models/tok512.bin");
  model::Model m(io::open_llama2c_model(bin));
  m.make_resident();
  auto t = tok::open_tokenizer(tok);
  model::GenerateOptions opt;
  opt.max_tokens = 40;
  opt.stop_token = t->eos();
  const auto ids = model::generate(m, {t->bos()}, opt);
  const std::string text = t->decode(ids);
  INFO(text);
  CHECK(text.rfind("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.", 0) == 0);

  SECTION("sampling is reproducible from the seed") {
    opt.temperature = 0.9;
    opt.top_p = 0.9;
    opt.seed = 42;
    const auto s1 = model::generate(m, {t->bos()}, opt);
    const auto s2 = model::generate(m, {t->bos()}, opt);
    opt.seed = 43;
    const auto s3 = model::generate(m, {t->bos()}, opt);
    CHECK(s1 == s2);
    CHECK(s1 != s3);
  }
}
