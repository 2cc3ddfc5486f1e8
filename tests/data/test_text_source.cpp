#include <catch2/catch.hpp>

#include <fstream>

#include "core/error.hpp"
#include "core/sha256.hpp"
#include "data/text_source.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace ptq;

TEST_CASE("sha256 matches the FIPS 180-2 test vectors", "[data]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  CHECK(sha256_hex(std::string(1000000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("plain text splits into documents on blank lines or a separator; JSONL by field", "[data]") {
  const std::string dir = test::scratch_dir("text-source");
  std::ofstream(dir + "/a.txt") << "one\ntwo\n\n\nthree\r\n \nfour";
  std::ofstream(dir + "/b.txt") << "x\n<|endoftext|>\ny\nz";
  std::ofstream(dir + "/c.jsonl") << "{\"text\": \"first\"}\n\n{\"text\": \"second\", \"id\": 2}\n";
  std::ofstream(dir + "/bad.jsonl") << "{\"text\": \"ok\"}\n{\"body\": \"no text\"}\n";
  using V = std::vector<std::string>;
  CHECK(data::read_documents({dir + "/a.txt"}) == V{"one\ntwo", "three\r", "four"});
  CHECK(data::read_documents({dir + "/b.txt", "auto", "<|endoftext|>"}) == V{"x", "y\nz"});
  CHECK(data::read_documents({dir + "/c.jsonl"}) == V{"first", "second"});
  CHECK(data::read_text({dir + "/c.jsonl"}) == "first\n\nsecond");
  CHECK_THROWS_WITH(data::read_documents({dir + "/bad.jsonl"}),
                    Catch::Contains("bad.jsonl:2") && Catch::Contains("no string field 'text'"));
  CHECK_THROWS_WITH(data::read_text({dir + "/missing.txt"}), Catch::Contains("not found"));
}

TEST_CASE("tokenization is cached by content and reused", "[data]") {
  SHARED_FILE(tok, "models/tok512.bin");
  auto t = tok::open_tokenizer(tok);
  const std::string cache = test::scratch_dir("token-cache");
  const std::string text = "Once upon a time there was a dog named Max.";
  const auto first = data::tokenize_cached(*t, "tok512", text, true, cache);
  CHECK(first == t->encode(text, true));
  size_t files = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(cache)) files += e.is_regular_file();
  CHECK(files == 1);
  CHECK(data::tokenize_cached(*t, "tok512", text, true, cache) == first);
  // A different BOS policy or text is a different entry.
  CHECK(data::tokenize_cached(*t, "tok512", text, false, cache).size() == first.size() - 1);
  files = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(cache)) files += e.is_regular_file();
  CHECK(files == 2);
}
