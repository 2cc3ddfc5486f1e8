// The SentencePiece BPE encoding algorithm over a plain vocabulary (SpmVocab), as llama.cpp's
// llm_tokenizer_spm and llama2.c's encode() run it:
//   1. user-defined pieces are cut out of the raw text whole (longest first, as llama.cpp does);
//   2. each remaining fragment gets the dummy-prefix space when add_space_prefix is set and the
//      fragment starts the text or follows a user-defined piece; spaces become "▁";
//   3. the fragment is split into UTF-8 characters, and the adjacent pair whose concatenation is a
//      piece with the highest score is merged, repeatedly (ties: the leftmost pair), using a
//      priority queue of candidate bigrams (O(n log n), not O(n^2) rescans);
//   4. every final symbol that is a piece is emitted; otherwise its bytes are emitted as <0xXX>
//      byte pieces (byte fallback), or as unk when the vocabulary has no byte pieces.
// Runs of spaces are kept as they are (no remove_extra_whitespaces), like llama.cpp and llama2.c and
// unlike libsentencepiece with tok512.model's normalizer: see tests/tokenizer/spm_stories_test.cpp.
#pragma once
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/spm_vocab.hpp"
#include "tokenizer/tokenizer.hpp"

namespace ptq::tok {

class SpmVocabTokenizer : public Tokenizer {
 public:
  // kind: "llama2c" or "gguf-spm" (reported by kind()). Validates the vocabulary.
  SpmVocabTokenizer(SpmVocab vocab, std::string kind);

  std::vector<int> encode(const std::string& text, bool add_bos) const override;
  // Byte pieces are reassembled into raw bytes; control and unknown pieces render as their text
  // ("<s>"); "▁" becomes a space; with add_space_prefix, the leading space of the first piece of
  // the text and of the first piece after a control piece is dropped (the dummy prefix).
  std::string decode(const std::vector<int>& ids) const override;
  // The raw contribution of one id: its text with "▁" as space (leading space kept), one raw byte
  // for a byte piece, the text of a control piece. Throws ptq::Error for an id out of range.
  std::string piece(int id) const override;

  int vocab_size() const override { return vocab_.size(); }
  int bos() const override { return vocab_.bos_id; }
  int eos() const override { return vocab_.eos_id; }
  std::string kind() const override { return kind_; }

  const SpmVocab& vocab() const { return vocab_; }
  // Id of a piece (SentencePiece form, "▁" for space) of any type, or -1.
  int piece_to_id(const std::string& piece) const;

 private:
  void encode_fragment(std::string_view raw, bool space_prefix, std::vector<int>& out) const;

  SpmVocab vocab_;
  std::string kind_;
  // Every piece -> id (pieces live in vocab_.pieces, whose storage never moves after construction).
  std::unordered_map<std::string_view, int> all_pieces_;
  // Pieces that merges may form: normal, undefined and unused ones.
  std::unordered_map<std::string_view, int> mergeable_;
  int byte_ids_[256];            // id of the byte piece <0xXX>, or -1
  std::vector<int> byte_value_;  // per id: the byte a byte piece stands for, or -1
  // User-defined pieces with "▁" turned back into spaces, longest first, with their ids.
  std::vector<std::pair<std::string, int>> user_defined_;
};

}  // namespace ptq::tok
