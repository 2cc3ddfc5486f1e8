// GPT-2's Hugging Face tokenizer.json against the GPT-2 vocabulary of llama.cpp's GGUF test file:
// two independently stored vocabularies and merge lists, two loaders, one pre-tokenizer; the ids
// must agree on all of WikiText-2 and on llama.cpp's vectors.
#include <catch2/catch.hpp>

#include <chrono>

#include "core/error.hpp"
#include "io/gguf.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/bpe_test_util.hpp"
#include "tokenizer/bpe_tokenizer_impl.hpp"

using ptq::test::bpe::read_file;
using ptq::test::bpe::show_ids;

TEST_CASE("GPT-2 tokenizer.json loads with its config", "[tokenizer][bpe]") {
  SHARED_FILE(json_path, "tokenizers/gpt2_tokenizer.json");
  const auto tok = ptq::tok::load_tokenizer_json(json_path);
  CHECK(tok->kind() == "bpe");
  CHECK(tok->vocab_size() == 50257);
  // gpt2_tokenizer_config.json beside it names <|endoftext|> as BOS and EOS, and asks for no BOS.
  CHECK(tok->bos() == 50256);
  CHECK(tok->eos() == 50256);
  CHECK_FALSE(ptq::tok::bpe_adds_bos_by_default(*tok));
  CHECK(tok->encode("Hello world", true) == std::vector<int>{50256, 15496, 995});
  CHECK(tok->encode("Hello world", false) == std::vector<int>{15496, 995});
  CHECK(tok->piece(18435) == " Hello");
  CHECK(tok->decode({15496, 11, 995, 0}) == "Hello, world!");
  // <|endoftext|> is matched whole; it is lstrip/rstrip/single_word in this file, so it swallows
  // the spaces around it (Hugging Face's behaviour).
  CHECK(tok->encode("a <|endoftext|> b", false) == std::vector<int>{64, 50256, 65});
  CHECK(tok->encode("<|endoftext|>", false) == std::vector<int>{50256});
  CHECK_THROWS_AS(tok->decode({50257}), ptq::Error);
  CHECK_THROWS_AS(tok->piece(-1), ptq::Error);
}

TEST_CASE("GPT-2 tokenizer.json on WikiText-2: count, round trip, speed", "[tokenizer][bpe]") {
  SHARED_FILE(json_path, "tokenizers/gpt2_tokenizer.json");
  SHARED_FILE(text_path, "text/wikitext2_raw_test_hfrows_crlf.raw");
  const auto tok = ptq::tok::load_tokenizer_json(json_path);
  const std::string text = read_file(text_path);
  REQUIRE(text.size() == 1290547);
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<int> a = tok->encode(text, false);
  const auto t1 = std::chrono::steady_clock::now();
  const std::vector<int> again = tok->encode(text, false);  // pre-token cache warm
  const auto t2 = std::chrono::steady_clock::now();
  const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  WARN("GPT-2 BPE on WikiText-2 (" << text.size() << " bytes, " << a.size() << " tokens): "
                                   << ms(t1 - t0) << " ms cold, " << ms(t2 - t1) << " ms warm");
  CHECK(a.size() == 286178);  // equal to the GGUF path's count (bpe_llamacpp_vectors_test)
  CHECK(again == a);
  CHECK(tok->decode(a) == text);
  CHECK(ms(t1 - t0) < 3000.0);
}
