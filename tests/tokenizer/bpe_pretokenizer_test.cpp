// The hand-written pre-tokenizer matchers on cases whose splits follow from the regexes by hand
// (the backtracking of \s+(?!\S), the Llama-3 prefix class, digit grouping, CR LF handling).
#include <catch2/catch.hpp>

#include "tokenizer/pretokenizer.hpp"

using ptq::tok::PreTokenizer;

namespace {

std::vector<std::string> split(PreTokenizer kind, const std::string& text) {
  std::vector<std::string_view> views;
  ptq::tok::pre_tokenize(kind, text, views);
  return {views.begin(), views.end()};
}

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("GPT-2 pre-tokenizer", "[tokenizer][bpe]") {
  CHECK(split(PreTokenizer::Gpt2, "Hello world") == V{"Hello", " world"});
  CHECK(split(PreTokenizer::Gpt2, "   Hello") == V{"  ", " Hello"});       // \s+(?!\S) gives back one space
  CHECK(split(PreTokenizer::Gpt2, "a  \n b") == V{"a", "  \n", " b"});
  CHECK(split(PreTokenizer::Gpt2, "x \n\ty") == V{"x", " \n", "\t", "y"});  // lone \t before y: \s+
  CHECK(split(PreTokenizer::Gpt2, "end   ") == V{"end", "   "});           // run at the end stays whole
  CHECK(split(PreTokenizer::Gpt2, "I'm they'RE") == V{"I", "'m", " they", "'", "RE"});  // case-sensitive
  CHECK(split(PreTokenizer::Gpt2, "x 12345!? ") == V{"x", " 12345", "!?", " "});
  CHECK(split(PreTokenizer::Gpt2, "naïve日本") == V{"naïve日本"});
  CHECK(split(PreTokenizer::Gpt2, "a\r\nb") == V{"a", "\r", "\n", "b"});  // no CR LF rule in GPT-2
  CHECK(split(PreTokenizer::Gpt2, "") == V{});
}

TEST_CASE("Llama-3 and Qwen2 pre-tokenizers", "[tokenizer][bpe]") {
  CHECK(split(PreTokenizer::Llama3, "I'M they'RE") == V{"I", "'M", " they", "'RE"});  // case-insensitive
  CHECK(split(PreTokenizer::Llama3, "(Hello\tworld") == V{"(Hello", "\tworld"});    // any non-CR/LF prefix
  CHECK(split(PreTokenizer::Llama3, "1234567") == V{"123", "456", "7"});
  CHECK(split(PreTokenizer::Qwen2, "1234 x") == V{"1", "2", "3", "4", " x"});
  CHECK(split(PreTokenizer::Llama3, "a.\r\n\r\nb") == V{"a", ".\r\n\r\n", "b"});     // punctuation takes CR LF
  CHECK(split(PreTokenizer::Llama3, "a \n  \n  b") == V{"a", " \n  \n", " ", " b"});  // \s*[\r\n]+ then \s+(?!\S)
  CHECK(split(PreTokenizer::Llama3, "\n\nHello") == V{"\n\n", "Hello"});
  CHECK(split(PreTokenizer::Llama3, "x  ") == V{"x", "  "});
  CHECK(split(PreTokenizer::Qwen2, "'hello") == V{"'hello"});
}

TEST_CASE("pre-tokenizer patterns are recognised by their text", "[tokenizer][bpe]") {
  using ptq::tok::pre_tokenizer_from_regex;
  CHECK(pre_tokenizer_from_regex(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)") ==
        PreTokenizer::Gpt2);
  CHECK(pre_tokenizer_from_regex(
            R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)") ==
        PreTokenizer::Llama3);
  CHECK(pre_tokenizer_from_regex(
            R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)") ==
        PreTokenizer::Qwen2);
  CHECK_FALSE(pre_tokenizer_from_regex(R"(\p{N}{1,3})"));
  CHECK(ptq::tok::pre_tokenizer_from_gguf_name("llama-bpe") == PreTokenizer::Llama3);
  CHECK_FALSE(ptq::tok::pre_tokenizer_from_gguf_name("deepseek-llm"));
}
