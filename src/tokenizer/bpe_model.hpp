// The BPE model of a byte-level vocabulary: token ids of the bytes, merge ranks, and the
// lowest-rank-first merging of one pre-token. Pre-tokens repeat a lot in real text, so their ids
// are cached.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ptq::tok {

// A vocabulary as stored: per id its text and what kind of token it is.
struct BpeVocab {
  enum Kind : uint8_t {
    kMissing = 0,    // no token has this id
    kByteLevel = 1,  // text is in GPT-2's byte alphabet; the merges build these
    kLiteral = 2,    // added / control / user-defined tokens: the text stands for itself
  };
  std::vector<std::string> text;
  std::vector<Kind> kind;

  void set(int id, std::string t, Kind k);  // grows the tables to hold `id`
  int size() const { return static_cast<int>(text.size()); }
};

class BpeModel {
 public:
  // `where` names the source file in errors. Each merge is a pair of byte-level token texts; its
  // rank is its index. A merge naming a token absent from the vocabulary, or whose concatenation
  // is absent, is an error; so is a vocabulary without a token for every single byte.
  // ignore_merges (Llama-3): a pre-token that is itself a token is emitted whole.
  BpeModel(const std::string& where, BpeVocab vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges);

  // Appends the ids of one pre-token (raw bytes).
  void encode_word(std::string_view bytes, std::vector<int>& out) const;

  int vocab_size() const { return vocab_.size(); }
  bool has_id(int id) const { return id >= 0 && id < vocab_.size() && vocab_.kind[id] != BpeVocab::kMissing; }
  // Raw bytes of a token (its text for literal tokens); empty for a missing id.
  const std::string& bytes_of(int id) const { return bytes_[id]; }
  const BpeVocab& vocab() const { return vocab_; }
  size_t merge_count() const { return merges_.size(); }

 private:
  struct Merge {
    int rank;
    int result;
  };
  static uint64_t pair_key(int a, int b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void merge_word(std::string_view bytes, std::vector<int>& out) const;

  BpeVocab vocab_;
  std::vector<std::string> bytes_;                 // per id: raw bytes
  std::unordered_map<std::string, int> by_bytes_;  // raw bytes -> id of byte-level tokens
  std::array<int, 256> byte_id_{};
  std::unordered_map<uint64_t, Merge> merges_;
  bool ignore_merges_ = false;

  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int>> cache_;
};

}  // namespace ptq::tok
