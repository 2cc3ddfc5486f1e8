#include "tokenizer/sentencepiece_tokenizer.hpp"

#include "core/error.hpp"

namespace ptq::tok {

SentencePieceTokenizer::SentencePieceTokenizer(const std::string& path) : path_(path) {
  SpmModelProto m = read_spm_model_proto(path);
  if (m.model_type != 2) {
    const char* names[] = {"?", "unigram", "BPE", "word", "char"};
    const char* name = (m.model_type >= 1 && m.model_type <= 4) ? names[m.model_type] : "unknown";
    fail(path, std::string("SentencePiece model type ") + name + " (" + std::to_string(m.model_type) +
                   ") is not supported; only BPE models are");
  }
  if (m.has_precompiled_charsmap) {
    fail(path, "SentencePiece normalizer \"" + m.normalizer_name +
                   "\" uses a precompiled character map, which is not supported (only identity)");
  }
  if (!m.escape_whitespaces) {
    fail(path, "SentencePiece models with escape_whitespaces=false are not supported");
  }
  remove_extra_whitespaces_ = m.remove_extra_whitespaces;
  inner_ = std::make_unique<SpmVocabTokenizer>(std::move(m.vocab), "sentencepiece");
}

std::vector<int> SentencePieceTokenizer::encode(const std::string& text, bool add_bos) const {
  if (!remove_extra_whitespaces_) return inner_->encode(text, add_bos);
  // SentencePiece's normalizer: drop leading and trailing spaces, collapse inner runs to one.
  std::string s;
  s.reserve(text.size());
  bool pending_space = false;
  for (char c : text) {
    if (c == ' ') {
      pending_space = !s.empty();
    } else {
      if (pending_space) s += ' ';
      pending_space = false;
      s += c;
    }
  }
  return inner_->encode(s, add_bos);
}

}  // namespace ptq::tok
