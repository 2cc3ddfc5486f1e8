// The byte-level BPE tokenizer behind load_tokenizer_json and make_gguf_bpe_tokenizer.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/bpe_model.hpp"
#include "tokenizer/bpe_tokenizer.hpp"
#include "tokenizer/pretokenizer.hpp"

namespace ptq::tok {

// A token matched whole in the input before pre-tokenization (Hugging Face added_tokens; GGUF
// control and user-defined tokens). lstrip/rstrip: the token swallows the whitespace on that side;
// single_word: it only matches when no letter, digit or '_' touches it.
struct AddedToken {
  std::string content;
  int id = -1;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

struct BpeTokenizerOptions {
  std::string source;  // the file, for messages
  PreTokenizer pre_tokenizer = PreTokenizer::Gpt2;
  bool nfc = false;               // NFC-normalize text between added tokens
  bool add_prefix_space = false;  // ByteLevel add_prefix_space
  int bos = -1;
  int eos = -1;
  bool add_bos_default = false;
  std::vector<AddedToken> added;
};

class BpeTokenizer final : public Tokenizer {
 public:
  BpeTokenizer(std::unique_ptr<BpeModel> model, BpeTokenizerOptions options);

  std::vector<int> encode(const std::string& text, bool add_bos) const override;
  std::string decode(const std::vector<int>& ids) const override;
  std::string piece(int id) const override;
  int vocab_size() const override { return model_->vocab_size(); }
  int bos() const override { return options_.bos; }
  int eos() const override { return options_.eos; }
  std::string kind() const override { return "bpe"; }

  // Ids of text with no added-token matching (llama.cpp's parse_special = false).
  std::vector<int> encode_ordinary(const std::string& text) const;
  bool adds_bos_by_default() const { return options_.add_bos_default; }
  PreTokenizer pre_tokenizer() const { return options_.pre_tokenizer; }
  const BpeModel& model() const { return *model_; }
  const std::vector<AddedToken>& added_tokens() const { return options_.added; }

 private:
  // The added token matching at text[pos] (longest first), or nullptr.
  const AddedToken* match_added(std::string_view text, size_t pos) const;
  void encode_plain(std::string_view text, std::vector<int>& out) const;

  std::unique_ptr<BpeModel> model_;
  BpeTokenizerOptions options_;
  std::vector<std::vector<const AddedToken*>> added_by_first_byte_;  // 256 lists, longest first
};

}  // namespace ptq::tok
