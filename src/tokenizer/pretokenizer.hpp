// Pre-tokenizers of the byte-level BPE families, as hand-written matchers of their regexes
// (leftmost alternative wins, as in a backtracking regex engine):
//   GPT-2   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   Llama-3 (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//           ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   Qwen2   as Llama-3 with \p{N} (one digit per piece)
// Pieces cover the input exactly (Split "Isolated": text between matches would be its own piece,
// but every character matches some alternative of these patterns).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ptq::tok {

enum class PreTokenizer { Gpt2, Llama3, Qwen2 };

const char* pre_tokenizer_name(PreTokenizer p);

// The known pattern a tokenizer.json Split regex spells, or nullopt.
std::optional<PreTokenizer> pre_tokenizer_from_regex(const std::string& regex);
// llama.cpp's tokenizer.ggml.pre names of the patterns above, or nullopt.
std::optional<PreTokenizer> pre_tokenizer_from_gguf_name(const std::string& name);

// Splits `text` into pre-tokens, appended to `out` as views into `text`.
void pre_tokenize(PreTokenizer kind, std::string_view text, std::vector<std::string_view>& out);

}  // namespace ptq::tok
