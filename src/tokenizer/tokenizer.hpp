// The tokenizer interface every format implements (SentencePiece models, llama2.c tokenizer.bin,
// GGUF vocabularies, Hugging Face tokenizer.json).
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace ptq::tok {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Token ids of `text`. add_bos prepends bos() when the vocabulary has one (the BOS/EOS policy
  // of a model comes from its config; callers decide).
  virtual std::vector<int> encode(const std::string& text, bool add_bos) const = 0;
  // Text of ids, with byte pieces reassembled; special tokens are rendered as their text.
  virtual std::string decode(const std::vector<int>& ids) const = 0;
  // The text one token contributes when appended after `prev` (for streaming generation).
  virtual std::string piece(int id) const = 0;

  virtual int vocab_size() const = 0;
  virtual int bos() const = 0;  // -1 when absent
  virtual int eos() const = 0;  // -1 when absent
  virtual std::string kind() const = 0;  // "sentencepiece", "llama2c", "gguf-spm", "bpe", ...
};

// Opens a tokenizer from a file or a Hugging Face model directory:
//   *.model -> libsentencepiece; tokenizer.bin (llama2.c) ; *.gguf -> its vocabulary;
//   tokenizer.json -> byte-level BPE; a directory -> tokenizer.json, else tokenizer.model.
std::unique_ptr<Tokenizer> open_tokenizer(const std::string& path);

}  // namespace ptq::tok
