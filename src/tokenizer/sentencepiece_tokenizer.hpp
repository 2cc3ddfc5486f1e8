// A SentencePiece *.model: read natively (spm_model_proto.hpp explains why libsentencepiece cannot
// be loaded next to LibTorch) and encoded with SpmVocabTokenizer plus the model's normalizer
// options. Supported: BPE models (LLaMA, TinyLlama, llama2.c's trained vocabularies) whose
// normalizer is the identity (no precompiled character map); remove_extra_whitespaces and
// add_dummy_prefix are honoured. Anything else is refused with an error naming the file.
//
// remove_extra_whitespaces (true in tok512.model) collapses runs of spaces and strips leading and
// trailing ones, as libsentencepiece does; llama.cpp and llama2.c do not, so this tokenizer and the
// llama2.c/GGUF ones differ exactly there (one token on the TinyStories eval text).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/spm_model_proto.hpp"
#include "tokenizer/spm_tokenizer.hpp"
#include "tokenizer/tokenizer.hpp"

namespace ptq::tok {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // Throws ptq::Error naming `path` when the file is missing, not a SentencePiece model, or uses
  // an unsupported model type or normalizer.
  explicit SentencePieceTokenizer(const std::string& path);

  std::vector<int> encode(const std::string& text, bool add_bos) const override;
  // As SpmVocabTokenizer::decode (the dummy-prefix space is dropped; control pieces as text).
  std::string decode(const std::vector<int>& ids) const override { return inner_->decode(ids); }
  std::string piece(int id) const override { return inner_->piece(id); }

  int vocab_size() const override { return inner_->vocab_size(); }
  int bos() const override { return inner_->bos(); }
  int eos() const override { return inner_->eos(); }
  std::string kind() const override { return "sentencepiece"; }

  const std::string& path() const { return path_; }
  const SpmVocab& vocab() const { return inner_->vocab(); }
  bool remove_extra_whitespaces() const { return remove_extra_whitespaces_; }

 private:
  std::string path_;
  bool remove_extra_whitespaces_ = true;
  std::unique_ptr<SpmVocabTokenizer> inner_;
};

}  // namespace ptq::tok
