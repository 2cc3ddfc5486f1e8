// make_gguf_bpe_tokenizer: the byte-level BPE vocabulary of a GGUF file (tokenizer.ggml.model "gpt2").
#include "core/error.hpp"
#include "io/gguf.hpp"
#include "tokenizer/bpe_tokenizer_impl.hpp"

namespace ptq::tok {

namespace {

// llama.cpp's token types (tokenizer.ggml.token_type).
enum GgufTokenType : int64_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

}  // namespace

std::unique_ptr<Tokenizer> make_gguf_bpe_tokenizer(const ptq::io::GgufReader& gguf) {
  const std::string& path = gguf.path();
  const std::string model = gguf.get_string("tokenizer.ggml.model");
  if (model != "gpt2") fail(path, "tokenizer.ggml.model is '" + model + "', not 'gpt2' (byte-level BPE)");
  const std::vector<std::string> tokens = gguf.get_string_array("tokenizer.ggml.tokens");
  const int n = static_cast<int>(tokens.size());
  std::vector<int64_t> types(tokens.size(), kNormal);
  if (gguf.has("tokenizer.ggml.token_type")) {
    types = gguf.get_int_array("tokenizer.ggml.token_type");
    if (types.size() != tokens.size()) {
      fail(path, "tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries for " + std::to_string(n) + " tokens");
    }
  }
  std::vector<std::pair<std::string, std::string>> merges;
  if (gguf.has("tokenizer.ggml.merges")) {
    const std::vector<std::string> lines = gguf.get_string_array("tokenizer.ggml.merges");
    merges.reserve(lines.size());
    for (size_t i = 0; i < lines.size(); ++i) {
      const std::string& s = lines[i];
      const size_t space = s.find(' ', 1);  // as llama.cpp: a merge may begin with a space-like token
      if (space == std::string::npos || space + 1 >= s.size()) {
        fail(path, "tokenizer.ggml.merges[" + std::to_string(i) + "] is not two tokens separated by a space: '" + s + "'");
      }
      merges.emplace_back(s.substr(0, space), s.substr(space + 1));
    }
  }

  BpeVocab vocab;
  BpeTokenizerOptions options;
  options.source = path;
  for (int id = 0; id < n; ++id) {
    const int64_t t = types[id];
    const bool literal = t == kUnknown || t == kControl || t == kUserDefined || t == kUnused;
    vocab.set(id, tokens[id], literal ? BpeVocab::kLiteral : BpeVocab::kByteLevel);
    if ((t == kUnknown || t == kControl || t == kUserDefined) && !tokens[id].empty()) {
      options.added.push_back(AddedToken{tokens[id], id, false, false, false});
    }
  }

  const std::string pre = gguf.has("tokenizer.ggml.pre") ? gguf.get_string("tokenizer.ggml.pre") : "default";
  auto kind = pre_tokenizer_from_gguf_name(pre);
  if (!kind) fail(path, "tokenizer.ggml.pre '" + pre + "' is not a supported pre-tokenizer (known: default, gpt-2, llama-bpe, qwen2)");
  options.pre_tokenizer = *kind;

  auto id_key = [&](const char* key) -> int {
    if (!gguf.has(key)) return -1;
    const int64_t v = gguf.get_int(key);
    if (v == -1) return -1;
    if (v < 0 || v >= n) fail(path, std::string(key) + " = " + std::to_string(v) + " is outside the vocabulary of " + std::to_string(n));
    return static_cast<int>(v);
  };
  options.bos = id_key("tokenizer.ggml.bos_token_id");
  options.eos = id_key("tokenizer.ggml.eos_token_id");
  if (gguf.has("tokenizer.ggml.add_bos_token")) options.add_bos_default = gguf.get_bool("tokenizer.ggml.add_bos_token");

  // llama.cpp emits a Llama-3 pre-token that is itself a token whole, as the HF files say.
  const bool ignore_merges = *kind == PreTokenizer::Llama3;
  auto bpe = std::make_unique<BpeModel>(path, std::move(vocab), merges, ignore_merges);
  return std::make_unique<BpeTokenizer>(std::move(bpe), std::move(options));
}

}  // namespace ptq::tok
