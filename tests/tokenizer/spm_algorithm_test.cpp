// The SPM merge algorithm on small hand-made vocabularies, where the expected ids follow from the
// rules by hand: highest score first, ties leftmost, token types respected, byte fallback.
#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "tokenizer/spm_tokenizer.hpp"

using namespace ptq;
using tok::SpmTokenType;

namespace {

struct Entry {
  std::string piece;
  float score;
  SpmTokenType type = SpmTokenType::Normal;
};

// ids: 0 <unk>, 1 <s>, 2 </s>, then `rest` in order from 3.
tok::SpmVocabTokenizer make(const std::vector<Entry>& rest, bool space_prefix = false,
                            bool with_bytes = false) {
  tok::SpmVocab v;
  v.source = "hand-made vocabulary";
  auto add = [&](const std::string& p, float s, SpmTokenType t) {
    v.pieces.push_back(p);
    v.scores.push_back(s);
    v.types.push_back(t);
  };
  add("<unk>", 0, SpmTokenType::Unknown);
  add("<s>", 0, SpmTokenType::Control);
  add("</s>", 0, SpmTokenType::Control);
  for (const auto& e : rest) add(e.piece, e.score, e.type);
  if (with_bytes) {
    for (int b = 0; b < 256; ++b) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      add(buf, 0, SpmTokenType::Byte);
    }
  }
  v.bos_id = 1;
  v.eos_id = 2;
  v.unk_id = 0;
  v.add_space_prefix = space_prefix;
  return tok::SpmVocabTokenizer(std::move(v), "test");
}

using Ids = std::vector<int>;

}  // namespace

TEST_CASE("SPM merges take the highest score, ties to the leftmost pair", "[tokenizer][spm]") {
  // 3 a, 4 b, 5 ab, 6 ba
  auto tie = make({{"a", -5}, {"b", -5}, {"ab", -1}, {"ba", -1}});
  CHECK(tie.encode("aba", false) == Ids{5, 3});
  CHECK(tie.encode("bab", false) == Ids{6, 4});
  auto ba_wins = make({{"a", -5}, {"b", -5}, {"ab", -2}, {"ba", -1}});
  CHECK(ba_wins.encode("aba", false) == Ids{3, 6});
  // Merges chain: "ab" then "abab" beats the pairing "ba".
  auto chain = make({{"a", -5}, {"b", -5}, {"ab", -1}, {"ba", -3}, {"abab", -2}});
  CHECK(chain.encode("abab", false) == Ids{7});
  CHECK(chain.encode("ababa", false) == Ids{7, 3});
}

TEST_CASE("SPM spaces become the mark and the dummy prefix is added", "[tokenizer][spm]") {
  const std::string m = "\xE2\x96\x81";
  // 3 a, 4 ▁, 5 ▁a
  auto t = make({{"a", -5}, {m, -6}, {m + "a", -1}}, /*space_prefix=*/true);
  CHECK(t.encode("a", false) == Ids{5});
  CHECK(t.encode("a a", false) == Ids{5, 5});
  CHECK(t.encode("a  a", false) == Ids{5, 4, 5});  // runs of spaces are kept (no collapsing)
  CHECK(t.encode(" a", false) == Ids{4, 5});
  CHECK(t.encode("", false) == Ids{});
  CHECK(t.encode("", true) == Ids{1});
  CHECK(t.decode({5, 4, 5}) == "a  a");
  CHECK(t.decode({1, 5, 5}) == "<s>a a");
  CHECK(t.piece(5) == " a");
  auto no_prefix = make({{"a", -5}, {m, -6}, {m + "a", -1}}, /*space_prefix=*/false);
  CHECK(no_prefix.encode("a a", false) == Ids{3, 5});
  CHECK(no_prefix.decode({4, 5}) == "  a");
}

TEST_CASE("SPM token types: control never from text, user-defined whole, unused re-split",
          "[tokenizer][spm]") {
  SECTION("control pieces are not formed by merges") {
    // 3 <, 4 s, 5 >, 6 <s (normal); "<s>" exists only as control id 1
    auto t = make({{"<", -1}, {"s", -1}, {">", -1}, {"<s", -1}});
    CHECK(t.encode("<s>", false) == Ids{6, 5});
  }
  SECTION("user-defined pieces match whole, longest first, and split the text") {
    // 3 a, 4 b, 5 <x> (user-defined), 6 <xy> (user-defined), 7 ab
    auto t = make({{"a", -1},
                   {"b", -1},
                   {"<x>", 0, SpmTokenType::UserDefined},
                   {"<xy>", 0, SpmTokenType::UserDefined},
                   {"ab", 0}});
    CHECK(t.encode("a<x>b", false) == Ids{3, 5, 4});
    CHECK(t.encode("a<xy>b<x>", false) == Ids{3, 6, 4, 5});
    CHECK(t.encode("ab<x>ab", false) == Ids{7, 5, 7});
    CHECK(t.decode({7, 5, 7}) == "ab<x>ab");
  }
  SECTION("the dummy prefix follows a user-defined piece, as in llama.cpp") {
    const std::string m = "\xE2\x96\x81";
    auto t = make({{"a", -1}, {m + "a", 0}, {"<x>", 0, SpmTokenType::UserDefined}}, true);
    CHECK(t.encode("a<x>a", false) == Ids{4, 5, 4});
  }
  SECTION("unused pieces may be merged through but are re-split when emitted") {
    // 3 a, 4 b, 5 c, 6 ab (unused), 7 abc
    auto t = make({{"a", -5}, {"b", -5}, {"c", -5}, {"ab", 0, SpmTokenType::Unused}, {"abc", -1}});
    CHECK(t.encode("abc", false) == Ids{7});
    CHECK(t.encode("ab", false) == Ids{3, 4});
  }
}

TEST_CASE("SPM byte fallback and unknown characters", "[tokenizer][spm]") {
  auto bytes = make({{"a", -1}}, false, /*with_bytes=*/true);
  // "é" = C3 A9 -> <0xC3> <0xA9>: byte pieces start at id 4.
  CHECK(bytes.encode("a\xC3\xA9", false) == Ids{3, 4 + 0xC3, 4 + 0xA9});
  CHECK(bytes.encode("\n", false) == Ids{4 + 0x0A});
  CHECK(bytes.decode({3, 4 + 0xC3, 4 + 0xA9}) == "a\xC3\xA9");
  CHECK(bytes.piece(4 + 0x0A) == "\n");
  auto no_bytes = make({{"a", -1}});
  CHECK(no_bytes.encode("a\xC3\xA9\xC3\xA9" "a", false) == Ids{3, 0, 0, 3});  // one unk per character
  CHECK_THROWS_AS(no_bytes.piece(99), Error);
  CHECK_THROWS_AS(no_bytes.decode({3, -1}), Error);
}

TEST_CASE("SpmVocab validation names the source", "[tokenizer][spm]") {
  tok::SpmVocab v;
  v.source = "somewhere.gguf";
  v.pieces = {"a", "b"};
  v.scores = {0};
  v.types = {SpmTokenType::Normal, SpmTokenType::Normal};
  CHECK_THROWS_WITH(tok::SpmVocabTokenizer(v, "x"), Catch::Matchers::Contains("somewhere.gguf"));
  v.scores = {0, 0};
  v.bos_id = 7;
  CHECK_THROWS_WITH(tok::SpmVocabTokenizer(v, "x"), Catch::Matchers::Contains("BOS id 7"));
  v.bos_id = -1;
  v.pieces = {"a", "<0xZZ>"};
  v.types = {SpmTokenType::Normal, SpmTokenType::Byte};
  CHECK_THROWS_WITH(tok::SpmVocabTokenizer(v, "x"), Catch::Matchers::Contains("<0xZZ>"));
}
