#include "tokenizer/spm_vocab.hpp"

#include "core/error.hpp"

namespace ptq::tok {

void SpmVocab::validate() const {
  const std::string where = source.empty() ? std::string("SentencePiece vocabulary") : source;
  if (pieces.empty()) fail(where, "the vocabulary has no pieces");
  if (scores.size() != pieces.size()) {
    fail(where, "has " + std::to_string(pieces.size()) + " pieces but " +
                    std::to_string(scores.size()) + " scores");
  }
  if (types.size() != pieces.size()) {
    fail(where, "has " + std::to_string(pieces.size()) + " pieces but " +
                    std::to_string(types.size()) + " token types");
  }
  for (size_t i = 0; i < types.size(); ++i) {
    const auto t = static_cast<int32_t>(types[i]);
    if (t < 0 || t > 6) {
      fail(where, "token " + std::to_string(i) + " has unknown token type " + std::to_string(t));
    }
  }
  auto check_id = [&](int id, const char* name) {
    if (id < -1 || id >= size()) {
      fail(where, std::string(name) + " id " + std::to_string(id) + " is outside the vocabulary of " +
                      std::to_string(size()) + " pieces");
    }
  };
  check_id(bos_id, "BOS");
  check_id(eos_id, "EOS");
  check_id(unk_id, "UNK");
}

}  // namespace ptq::tok
