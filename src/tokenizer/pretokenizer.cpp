#include "tokenizer/pretokenizer.hpp"

#include <cstdint>

#include "tokenizer/unicode_props.hpp"

namespace ptq::tok {

namespace {

const char* const kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// llama.cpp spells GPT-2's pattern without the last alternative; it splits the same way (a lone
// space before a non-space would be left between matches, a piece of its own either way).
const char* const kGpt2RegexShort =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
const char* const kContractionsCaseless = R"((?i:'s|'t|'re|'ve|'m|'ll|'d))";
const char* const kContractionsClasses = R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]))";
const char* const kLlama3Tail =
    R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kQwen2Tail =
    R"(|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

// One decoded character of the text being split.
struct Char {
  uint32_t cp;
  uint32_t offset;  // byte offset in the text
  uint8_t cls;      // unicode::ClassBits
};

bool is_other(const Char& c) { return (c.cls & (unicode::kLetter | unicode::kNumber | unicode::kSpace)) == 0; }
bool is_cr_or_lf(uint32_t cp) { return cp == '\r' || cp == '\n'; }
uint32_t ascii_lower(uint32_t cp) { return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp; }

// Length of 's 't 're 've 'm 'll 'd at i (0 if none).
size_t match_contraction(const std::vector<Char>& c, size_t i, bool caseless) {
  const size_t n = c.size();
  if (c[i].cp != '\'' || i + 1 >= n) return 0;
  auto at = [&](size_t k) { return caseless ? ascii_lower(c[k].cp) : c[k].cp; };
  const uint32_t a = at(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 < n) {
    const uint32_t b = at(i + 2);
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  return 0;
}

// \s+(?!\S) then \s+ at a whitespace character i: the whole run when it reaches the end, else the
// run less its last character (which then starts the next piece), but at least one character.
size_t match_trailing_space(const std::vector<Char>& c, size_t i) {
  size_t j = i;
  while (j < c.size() && (c[j].cls & unicode::kSpace)) ++j;
  const size_t run = j - i;
  if (j == c.size() || run == 1) return run;
  return run - 1;
}

size_t match_gpt2(const std::vector<Char>& c, size_t i) {
  const size_t n = c.size();
  if (size_t k = match_contraction(c, i, false)) return k;
  const size_t j = (c[i].cp == ' ' && i + 1 < n) ? i + 1 : i;  // the optional leading space
  size_t k = j;
  if (c[j].cls & unicode::kLetter) {  // ' ?\p{L}+'
    while (k < n && (c[k].cls & unicode::kLetter)) ++k;
    return k - i;
  }
  if (c[j].cls & unicode::kNumber) {  // ' ?\p{N}+'
    while (k < n && (c[k].cls & unicode::kNumber)) ++k;
    return k - i;
  }
  if (is_other(c[j])) {  // ' ?[^\s\p{L}\p{N}]+'
    while (k < n && is_other(c[k])) ++k;
    return k - i;
  }
  return match_trailing_space(c, i);  // c[i] is whitespace here
}

size_t match_llama3(const std::vector<Char>& c, size_t i, size_t max_digits) {
  const size_t n = c.size();
  if (size_t k = match_contraction(c, i, true)) return k;
  // '[^\r\n\p{L}\p{N}]?\p{L}+'
  if (c[i].cls & unicode::kLetter) {
    size_t k = i + 1;
    while (k < n && (c[k].cls & unicode::kLetter)) ++k;
    return k - i;
  }
  if (!is_cr_or_lf(c[i].cp) && !(c[i].cls & unicode::kNumber) && i + 1 < n &&
      (c[i + 1].cls & unicode::kLetter)) {
    size_t k = i + 2;
    while (k < n && (c[k].cls & unicode::kLetter)) ++k;
    return k - i;
  }
  // '\p{N}{1,3}' or '\p{N}'
  if (c[i].cls & unicode::kNumber) {
    size_t k = i + 1;
    while (k < n && k - i < max_digits && (c[k].cls & unicode::kNumber)) ++k;
    return k - i;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  const size_t j = (c[i].cp == ' ' && i + 1 < n) ? i + 1 : i;
  if (is_other(c[j])) {
    size_t k = j;
    while (k < n && is_other(c[k])) ++k;
    while (k < n && is_cr_or_lf(c[k].cp)) ++k;
    return k - i;
  }
  // '\s*[\r\n]+': c[i] is whitespace; the match ends after the run's last CR or LF.
  size_t end = 0;
  for (size_t k = i; k < n && (c[k].cls & unicode::kSpace); ++k) {
    if (is_cr_or_lf(c[k].cp)) end = k + 1;
  }
  if (end) return end - i;
  return match_trailing_space(c, i);
}

}  // namespace

const char* pre_tokenizer_name(PreTokenizer p) {
  switch (p) {
    case PreTokenizer::Gpt2: return "gpt2";
    case PreTokenizer::Llama3: return "llama3";
    case PreTokenizer::Qwen2: return "qwen2";
  }
  return "?";
}

std::optional<PreTokenizer> pre_tokenizer_from_regex(const std::string& regex) {
  if (regex == kGpt2Regex || regex == kGpt2RegexShort) return PreTokenizer::Gpt2;
  for (const char* head : {kContractionsCaseless, kContractionsClasses}) {
    if (regex == std::string(head) + kLlama3Tail) return PreTokenizer::Llama3;
    if (regex == std::string(head) + kQwen2Tail) return PreTokenizer::Qwen2;
  }
  return std::nullopt;
}

std::optional<PreTokenizer> pre_tokenizer_from_gguf_name(const std::string& name) {
  if (name == "default" || name == "gpt-2" || name == "gpt2") return PreTokenizer::Gpt2;
  if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") return PreTokenizer::Llama3;
  if (name == "qwen2") return PreTokenizer::Qwen2;
  return std::nullopt;
}

void pre_tokenize(PreTokenizer kind, std::string_view text, std::vector<std::string_view>& out) {
  std::vector<Char> chars;
  chars.reserve(text.size());
  for (size_t pos = 0, len = 0; pos < text.size(); pos += len) {
    const uint32_t cp = unicode::decode_utf8(text, pos, &len);
    chars.push_back({cp, static_cast<uint32_t>(pos), unicode::char_class(cp)});
  }
  const size_t n = chars.size();
  for (size_t i = 0; i < n;) {
    size_t len = 0;
    switch (kind) {
      case PreTokenizer::Gpt2: len = match_gpt2(chars, i); break;
      case PreTokenizer::Llama3: len = match_llama3(chars, i, 3); break;
      case PreTokenizer::Qwen2: len = match_llama3(chars, i, 1); break;
    }
    if (len == 0) len = 1;  // cannot happen (every character matches), but never loop forever
    const size_t begin = chars[i].offset;
    const size_t end = (i + len < n) ? chars[i + len].offset : text.size();
    out.push_back(text.substr(begin, end - begin));
    i += len;
  }
}

}  // namespace ptq::tok
