#include "tokenizer/bpe_model.hpp"

#include <cstdio>
#include <queue>

#include "core/error.hpp"
#include "tokenizer/bpe_byte_alphabet.hpp"

namespace ptq::tok {

void BpeVocab::set(int id, std::string t, Kind k) {
  if (id < 0) fail("BpeVocab", "negative token id " + std::to_string(id));
  if (id >= size()) {
    text.resize(id + 1);
    kind.resize(id + 1, kMissing);
  }
  text[id] = std::move(t);
  kind[id] = k;
}

BpeModel::BpeModel(const std::string& where, BpeVocab vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges)
    : vocab_(std::move(vocab)), ignore_merges_(ignore_merges) {
  const int n = vocab_.size();
  bytes_.resize(n);
  std::unordered_map<std::string, int> by_text;  // byte-level text -> id, for reading merges
  by_text.reserve(n);
  by_bytes_.reserve(n);
  for (int id = 0; id < n; ++id) {
    if (vocab_.kind[id] == BpeVocab::kMissing) continue;
    const std::string& text = vocab_.text[id];
    if (vocab_.kind[id] == BpeVocab::kLiteral) {
      bytes_[id] = text;
      continue;
    }
    by_text.emplace(text, id);
    // A "byte-level" token with a character outside the alphabet can never be built from bytes;
    // like Hugging Face's decoder, it decodes to its own text.
    if (auto raw = byte_level_to_bytes(text)) {
      bytes_[id] = *raw;
      by_bytes_.emplace(std::move(*raw), id);  // the first id wins for duplicates
    } else {
      bytes_[id] = text;
    }
  }
  for (int b = 0; b < 256; ++b) {
    auto it = by_bytes_.find(std::string(1, static_cast<char>(b)));
    if (it == by_bytes_.end()) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", b);
      fail(where, std::string("the vocabulary has no token for byte ") + hex + " ('" +
                      bytes_to_byte_level(std::string(1, static_cast<char>(b))) +
                      "'), so it is not a byte-level BPE vocabulary");
    }
    byte_id_[b] = it->second;
  }
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = by_text.find(a);
    auto ib = by_text.find(b);
    const std::string which = "merge " + std::to_string(rank) + " ('" + a + "' '" + b + "')";
    if (ia == by_text.end()) fail(where, which + " names a token not in the vocabulary: '" + a + "'");
    if (ib == by_text.end()) fail(where, which + " names a token not in the vocabulary: '" + b + "'");
    auto ir = by_text.find(a + b);
    if (ir == by_text.end()) fail(where, which + " makes a token not in the vocabulary: '" + a + b + "'");
    merges_.emplace(pair_key(ia->second, ib->second), Merge{static_cast<int>(rank), ir->second});
  }
}

void BpeModel::encode_word(std::string_view bytes, std::vector<int>& out) const {
  if (bytes.empty()) return;
  if (bytes.size() == 1) {
    out.push_back(byte_id_[static_cast<uint8_t>(bytes[0])]);
    return;
  }
  const std::string key(bytes);
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int> ids;
  auto whole = ignore_merges_ ? by_bytes_.find(key) : by_bytes_.end();
  if (whole != by_bytes_.end()) {
    ids.push_back(whole->second);
  } else {
    merge_word(bytes, ids);
  }
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= (1u << 18)) cache_.clear();  // bound the memory on endless distinct text
  cache_.emplace(key, std::move(ids));
}

// Merges the pair of lowest rank (the leftmost among equals) until none applies. A min-heap of
// candidate pairs over a linked list of symbols keeps long pre-tokens O(n log n); entries made
// stale by an earlier merge are recognised when popped and skipped.
void BpeModel::merge_word(std::string_view bytes, std::vector<int>& out) const {
  struct Symbol {
    int id;
    int prev;
    int next;
    bool alive;
  };
  const int n = static_cast<int>(bytes.size());
  std::vector<Symbol> sym(n);
  for (int i = 0; i < n; ++i) sym[i] = {byte_id_[static_cast<uint8_t>(bytes[i])], i - 1, i + 1 < n ? i + 1 : -1, true};

  struct Candidate {
    int rank;
    int left;  // position of the left symbol
    int left_id;
    int right_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> heap;
  auto consider = [&](int left) {
    if (left < 0) return;
    const int right = sym[left].next;
    if (right < 0) return;
    auto it = merges_.find(pair_key(sym[left].id, sym[right].id));
    if (it != merges_.end()) heap.push({it->second.rank, left, sym[left].id, sym[right].id});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);

  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& l = sym[c.left];
    if (!l.alive || l.id != c.left_id || l.next < 0) continue;
    Symbol& r = sym[l.next];
    if (r.id != c.right_id) continue;
    l.id = merges_.at(pair_key(c.left_id, c.right_id)).result;
    r.alive = false;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = c.left;
    consider(l.prev);
    consider(c.left);
  }
  for (int i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace ptq::tok
