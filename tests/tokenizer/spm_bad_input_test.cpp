// Malformed tokenizer files give a ptq::Error naming the file, never a crash or a huge allocation.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>

#include "core/error.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/llama2c_tokenizer.hpp"
#include "tokenizer/sentencepiece_tokenizer.hpp"
#include "tokenizer/spm_test_util.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace ptq;
using Catch::Matchers::Contains;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string i32(int32_t v) {
  std::string s(4, '\0');
  std::memcpy(&s[0], &v, 4);
  return s;
}
std::string f32(float v) {
  std::string s(4, '\0');
  std::memcpy(&s[0], &v, 4);
  return s;
}
std::string record(float score, const std::string& piece) {
  return f32(score) + i32(static_cast<int32_t>(piece.size())) + piece;
}

// A tiny valid llama2.c tokenizer: <unk>, <s>, </s>, then "a", "b", " a", " ab" (7 pieces).
std::string tiny_tokenizer_bin() {
  return i32(6) + record(0, "<unk>") + record(0, "\n<s>\n") + record(0, "\n</s>\n") +
         record(-1, "a") + record(-2, "b") + record(-3, " a") + record(-4, " ab");
}

}  // namespace

TEST_CASE("llama2.c tokenizer.bin: truncated, negative and huge lengths are errors naming the file",
          "[tokenizer][spm]") {
  const std::string dir = test::scratch_dir("spm_bad_input");

  const std::string good = dir + "/good.bin";
  write_bytes(good, tiny_tokenizer_bin());
  auto t = tok::open_llama2c_tokenizer(good);
  CHECK(t->vocab_size() == 7);
  CHECK(t->bos() == 1);
  CHECK(t->eos() == 2);
  CHECK(t->encode("ab", false) == std::vector<int>{6});
  CHECK(t->encode("ab", true) == std::vector<int>{1, 6});
  CHECK(t->decode({1, 6}) == "<s>ab");

  const std::string full = tiny_tokenizer_bin();
  SECTION("truncated inside a piece") {
    const std::string p = dir + "/truncated.bin";
    write_bytes(p, full.substr(0, full.size() - 2));
    CHECK_THROWS_WITH(tok::open_llama2c_tokenizer(p), Contains(p) && Contains("truncated"));
  }
  SECTION("truncated inside a record header") {
    const std::string p = dir + "/truncated_header.bin";
    write_bytes(p, full + f32(1.0f) + "\x01");
    CHECK_THROWS_WITH(tok::open_llama2c_tokenizer(p), Contains(p) && Contains("truncated"));
  }
  SECTION("fewer pieces than the model's vocabulary") {
    CHECK_THROWS_WITH(tok::open_llama2c_tokenizer(good, 8), Contains(good) && Contains("truncated"));
    CHECK_THROWS_WITH(tok::open_llama2c_tokenizer(good, 1000000000),
                      Contains(good) && Contains("truncated"));
  }
  SECTION("more pieces than the model's vocabulary") {
    CHECK_THROWS_WITH(tok::open_llama2c_tokenizer(good, 6), Contains(good) && Contains("after"));
  }
  SECTION("negative piece length") {
    const std::string p = dir + "/negative.bin";
    write_bytes(p, i32(6) + record(0, "<unk>") + f32(0) + i32(-5) + "xxxxxxxx");
    CHECK_THROWS_WITH(tok::open_llama2c_tokenizer(p), Contains(p) && Contains("negative length"));
  }
  SECTION("huge piece length") {
    const std::string p = dir + "/huge.bin";
    write_bytes(p, i32(6) + record(0, "<unk>") + f32(0) + i32(2000000000) + "xxxxxxxx");
    CHECK_THROWS_WITH(tok::open_llama2c_tokenizer(p), Contains(p) && Contains("max_token_len"));
  }
  SECTION("implausible max_token_len") {
    const std::string p = dir + "/maxlen.bin";
    write_bytes(p, i32(-1) + record(0, "<unk>"));
    CHECK_THROWS_WITH(tok::open_llama2c_tokenizer(p), Contains(p) && Contains("max_token_len"));
  }
  SECTION("empty file") {
    const std::string p = dir + "/empty.bin";
    write_bytes(p, "");
    CHECK_THROWS_WITH(tok::open_llama2c_tokenizer(p), Contains(p) && Contains("too short"));
  }
  SECTION("missing file") {
    const std::string p = dir + "/absent.bin";
    CHECK_THROWS_WITH(tok::open_llama2c_tokenizer(p), Contains(p));
  }
}

TEST_CASE("tokenizer.bin truncated from the real tok512.bin", "[tokenizer][spm]") {
  SHARED_FILE(bin, "models/tok512.bin");
  const std::string bytes = test::read_whole_file(bin);
  const std::string dir = test::scratch_dir("spm_bad_tok512");
  const std::string p = dir + "/tok512_cut.bin";
  write_bytes(p, bytes.substr(0, bytes.size() - 3));
  CHECK_THROWS_WITH(tok::open_llama2c_tokenizer(p, 512), Contains(p) && Contains("truncated"));
  // Without the model's size the loader reads to the end, where the last piece is cut short.
  CHECK_THROWS_WITH(tok::open_llama2c_tokenizer(p), Contains(p) && Contains("truncated"));
}

TEST_CASE("SentencePiece models: missing or garbage files are errors naming the file",
          "[tokenizer][spm]") {
  const std::string dir = test::scratch_dir("spm_bad_model");
  const std::string missing = dir + "/absent.model";
  CHECK_THROWS_WITH(tok::SentencePieceTokenizer(missing), Contains(missing) && Contains("does not exist"));
  CHECK_THROWS_WITH(tok::open_tokenizer(missing), Contains(missing));
  const std::string garbage = dir + "/garbage.model";
  write_bytes(garbage, "this is not a protobuf \xff\xff\xff\xff");
  CHECK_THROWS_WITH(tok::SentencePieceTokenizer(garbage), Contains(garbage) && Contains("malformed"));
  const std::string empty = dir + "/empty.model";
  write_bytes(empty, "");
  CHECK_THROWS_WITH(tok::SentencePieceTokenizer(empty), Contains(empty) && Contains("no pieces"));
}

TEST_CASE("SentencePiece model truncated from the real tok512.model", "[tokenizer][spm]") {
  SHARED_FILE(model, "models/tok512.model");
  const std::string bytes = test::read_whole_file(model);
  const std::string dir = test::scratch_dir("spm_bad_tok512_model");
  for (size_t cut : {size_t{1}, size_t{100}, bytes.size() / 2, bytes.size() - 1}) {
    const std::string p = dir + "/cut" + std::to_string(cut) + ".model";
    write_bytes(p, bytes.substr(0, cut));
    INFO("cut at " << cut);
    CHECK_THROWS_WITH(tok::SentencePieceTokenizer(p), Contains(p) && Contains("malformed"));
  }
}

TEST_CASE("open_tokenizer dispatches on the path", "[tokenizer][spm]") {
  SHARED_FILE(bin, "models/tok512.bin");
  SHARED_FILE(model, "models/tok512.model");
  SHARED_FILE(gguf, "peers/stories260K-F32.gguf");
  CHECK(tok::open_tokenizer(bin)->kind() == "llama2c");
  CHECK(tok::open_tokenizer(bin)->vocab_size() == 512);
  CHECK(tok::open_tokenizer(model)->kind() == "sentencepiece");
  CHECK(tok::open_tokenizer(gguf)->kind() == "gguf-spm");

  const std::string dir = test::scratch_dir("spm_open_dir");
  CHECK_THROWS_WITH(tok::open_tokenizer(dir), Contains(dir) && Contains("tokenizer.json"));
  {
    std::ofstream(dir + "/tokenizer.bin", std::ios::binary) << test::read_whole_file(bin);
  }
  CHECK(tok::open_tokenizer(dir)->kind() == "llama2c");
  {
    std::ofstream(dir + "/tokenizer.model", std::ios::binary) << test::read_whole_file(model);
  }
  CHECK(tok::open_tokenizer(dir)->kind() == "sentencepiece");  // .model preferred over .bin

  const std::string odd = dir + "/vocab.txt";
  write_bytes(odd, "hello");
  CHECK_THROWS_WITH(tok::open_tokenizer(odd), Contains(odd) && Contains("unrecognised"));
  const std::string absent = dir + "/nothing.bin";
  CHECK_THROWS_WITH(tok::open_tokenizer(absent), Contains(absent) && Contains("does not exist"));
}
