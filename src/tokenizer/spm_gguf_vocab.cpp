#include "tokenizer/spm_gguf_vocab.hpp"

#include "core/error.hpp"

namespace ptq::tok {

SpmVocab load_gguf_spm_vocab(const io::GgufReader& gguf) {
  const std::string& path = gguf.path();
  const std::string model = gguf.get_string("tokenizer.ggml.model");
  if (model != "llama") {
    fail(path, "tokenizer.ggml.model is \"" + model + "\", expected \"llama\" (SentencePiece)");
  }
  SpmVocab v;
  v.source = path;
  v.pieces = gguf.get_string_array("tokenizer.ggml.tokens");
  const size_t n = v.pieces.size();
  if (n == 0) fail(path, "tokenizer.ggml.tokens is empty");
  if (n > static_cast<size_t>(INT32_MAX)) fail(path, "tokenizer.ggml.tokens has too many entries");

  if (gguf.has("tokenizer.ggml.scores")) {
    const std::vector<double> s = gguf.get_float_array("tokenizer.ggml.scores");
    if (s.size() != n) {
      fail(path, "tokenizer.ggml.scores has " + std::to_string(s.size()) + " entries for " +
                     std::to_string(n) + " tokens");
    }
    v.scores.assign(s.begin(), s.end());
  } else {
    v.scores.assign(n, 0.0f);
  }

  if (gguf.has("tokenizer.ggml.token_type")) {
    const std::vector<int64_t> t = gguf.get_int_array("tokenizer.ggml.token_type");
    if (t.size() != n) {
      fail(path, "tokenizer.ggml.token_type has " + std::to_string(t.size()) + " entries for " +
                     std::to_string(n) + " tokens");
    }
    v.types.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (t[i] < 0 || t[i] > 6) {
        fail(path, "tokenizer.ggml.token_type[" + std::to_string(i) + "] = " + std::to_string(t[i]) +
                       " is not a token type (0..6)");
      }
      v.types.push_back(static_cast<SpmTokenType>(t[i]));
    }
  } else {
    v.types.assign(n, SpmTokenType::Normal);
  }

  auto special = [&](const char* key, int64_t dflt) -> int {
    const int64_t id = gguf.has(key) ? gguf.get_int(key) : dflt;
    // llama.cpp writes -1 (or leaves the key out) for "none"; an id past the end is an error.
    if (id < -1 || id >= static_cast<int64_t>(n)) {
      fail(path, std::string(key) + " = " + std::to_string(id) + " is outside the vocabulary of " +
                     std::to_string(n) + " tokens");
    }
    return static_cast<int>(id);
  };
  v.bos_id = special("tokenizer.ggml.bos_token_id", 1);
  v.eos_id = special("tokenizer.ggml.eos_token_id", 2);
  v.unk_id = special("tokenizer.ggml.unknown_token_id", 0);
  if (gguf.has("tokenizer.ggml.add_space_prefix")) {
    v.add_space_prefix = gguf.get_bool("tokenizer.ggml.add_space_prefix");
  }
  if (gguf.has("tokenizer.ggml.add_bos_token")) {
    v.add_bos_token = gguf.get_bool("tokenizer.ggml.add_bos_token");
  }
  v.validate();
  return v;
}

std::unique_ptr<SpmVocabTokenizer> make_gguf_spm_tokenizer(const io::GgufReader& gguf) {
  return std::make_unique<SpmVocabTokenizer>(load_gguf_spm_vocab(gguf), "gguf-spm");
}

}  // namespace ptq::tok
