#include "tokenizer/spm_tokenizer.hpp"

#include <algorithm>
#include <cstdint>
#include <queue>

#include "core/error.hpp"

namespace ptq::tok {
namespace {

constexpr std::string_view kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's visible space

// Bytes of the UTF-8 character starting with `lead`, from its high nibble. A stray continuation
// byte counts as one character, as in llama.cpp, so malformed UTF-8 still splits deterministically.
inline size_t utf8_len(uint8_t lead) {
  static const uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[lead >> 4];
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The byte a "<0xXX>" piece stands for, or -1.
int byte_piece_value(const std::string& p) {
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return -1;
  const int hi = hex_digit(p[3]), lo = hex_digit(p[4]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

std::string spaces_from_marks(const std::string& p) {
  std::string out;
  out.reserve(p.size());
  for (size_t i = 0; i < p.size();) {
    if (p.compare(i, kSpace.size(), kSpace) == 0) {
      out += ' ';
      i += kSpace.size();
    } else {
      out += p[i++];
    }
  }
  return out;
}

// One symbol of the fragment being merged: a byte range of the escaped text, linked to its
// neighbours; `node` is the merge tree that built it (for re-splitting unused pieces).
struct Symbol {
  uint32_t off;
  uint32_t len;
  int prev;
  int next;
  int node;
};
struct Node {
  uint32_t off;
  uint32_t len;
  int left;  // -1 for a single character
  int right;
};
struct Bigram {
  float score;
  int left;
  int right;
  uint32_t len;
};
// Highest score first; among equal scores the leftmost pair (sentencepiece's and llama.cpp's order).
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

SpmVocabTokenizer::SpmVocabTokenizer(SpmVocab vocab, std::string kind)
    : vocab_(std::move(vocab)), kind_(std::move(kind)) {
  vocab_.validate();
  const int n = vocab_.size();
  all_pieces_.reserve(n * 2);
  mergeable_.reserve(n * 2);
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  byte_value_.assign(n, -1);
  for (int id = 0; id < n; ++id) {
    const std::string& p = vocab_.pieces[id];
    all_pieces_.emplace(std::string_view(p), id);  // first id wins for duplicate pieces
    switch (vocab_.types[id]) {
      case SpmTokenType::Normal:
      case SpmTokenType::Undefined:
      case SpmTokenType::Unused:
        if (!p.empty()) mergeable_.emplace(std::string_view(p), id);
        break;
      case SpmTokenType::Byte: {
        const int b = byte_piece_value(p);
        if (b < 0) fail(vocab_.source, "byte token " + std::to_string(id) + " has piece '" + p +
                                           "', expected <0xXX>");
        if (byte_ids_[b] < 0) byte_ids_[b] = id;
        byte_value_[id] = b;
        break;
      }
      case SpmTokenType::UserDefined:
        if (!p.empty()) user_defined_.emplace_back(spaces_from_marks(p), id);
        break;
      case SpmTokenType::Control:
      case SpmTokenType::Unknown:
        break;
    }
  }
  std::stable_sort(user_defined_.begin(), user_defined_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

int SpmVocabTokenizer::piece_to_id(const std::string& piece) const {
  auto it = all_pieces_.find(std::string_view(piece));
  return it == all_pieces_.end() ? -1 : it->second;
}

std::vector<int> SpmVocabTokenizer::encode(const std::string& text, bool add_bos) const {
  std::vector<int> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
  if (text.empty()) return out;  // "" encodes to nothing (sentencepiece: no dummy prefix alone)

  // Cut user-defined pieces out of the text, longest piece first, each at all its non-overlapping
  // occurrences in what is still raw text (llama.cpp's tokenizer_st_partition).
  struct Fragment {
    size_t off;
    size_t len;
    int token;  // -1: raw text
  };
  std::vector<Fragment> frags{{0, text.size(), -1}};
  for (const auto& [ud_text, ud_id] : user_defined_) {
    std::vector<Fragment> next;
    for (const Fragment& f : frags) {
      if (f.token >= 0) {
        next.push_back(f);
        continue;
      }
      size_t pos = f.off;
      const size_t end = f.off + f.len;
      while (pos < end) {
        size_t hit = text.find(ud_text, pos);
        if (hit == std::string::npos || hit + ud_text.size() > end) break;
        if (hit > pos) next.push_back({pos, hit - pos, -1});
        next.push_back({hit, ud_text.size(), ud_id});
        pos = hit + ud_text.size();
      }
      if (pos < end) next.push_back({pos, end - pos, -1});
    }
    frags.swap(next);
  }

  bool after_special = true;  // the text's start counts as following a special piece
  for (const Fragment& f : frags) {
    if (f.token >= 0) {
      out.push_back(f.token);
      after_special = true;
    } else {
      encode_fragment(std::string_view(text).substr(f.off, f.len),
                      vocab_.add_space_prefix && after_special, out);
      after_special = false;
    }
  }
  return out;
}

void SpmVocabTokenizer::encode_fragment(std::string_view raw, bool space_prefix,
                                        std::vector<int>& out) const {
  std::string s;
  s.reserve(raw.size() + raw.size() / 2 + 3);
  if (space_prefix) s += kSpace;
  for (char c : raw) {
    if (c == ' ') {
      s += kSpace;
    } else {
      s += c;
    }
  }
  if (s.empty()) return;

  std::vector<Symbol> sym;
  std::vector<Node> nodes;
  sym.reserve(s.size());
  nodes.reserve(s.size() * 2);
  for (size_t off = 0; off < s.size();) {
    const uint32_t len =
        static_cast<uint32_t>(std::min(utf8_len(static_cast<uint8_t>(s[off])), s.size() - off));
    const int idx = static_cast<int>(sym.size());
    nodes.push_back({static_cast<uint32_t>(off), len, -1, -1});
    off += len;
    sym.push_back({nodes.back().off, len, idx - 1, off == s.size() ? -1 : idx + 1, idx});
  }

  std::vector<Bigram> heap_storage;
  heap_storage.reserve(sym.size());
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue(BigramOrder{},
                                                                      std::move(heap_storage));
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const uint32_t len = sym[left].len + sym[right].len;
    auto it = mergeable_.find(std::string_view(s.data() + sym[left].off, len));
    if (it == mergeable_.end()) return;
    queue.push({vocab_.scores[it->second], left, right, len});
  };
  for (int i = 1; i < static_cast<int>(sym.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    // Stale entry: one side was merged into something else since it was queued.
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.len) continue;
    nodes.push_back({l.off, b.len, l.node, r.node});
    l.node = static_cast<int>(nodes.size()) - 1;
    l.len = b.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  // Emit a merged symbol: as its piece, or re-split when the piece is unused, or as bytes.
  auto emit = [&](auto&& self, int node_id) -> void {
    const Node& nd = nodes[node_id];
    const std::string_view text(s.data() + nd.off, nd.len);
    auto it = mergeable_.find(text);
    if (it != mergeable_.end() && vocab_.types[it->second] != SpmTokenType::Unused) {
      out.push_back(it->second);
      return;
    }
    if (nd.left >= 0) {
      self(self, nd.left);
      self(self, nd.right);
      return;
    }
    bool all_bytes = true;
    for (char c : text) all_bytes = all_bytes && byte_ids_[static_cast<uint8_t>(c)] >= 0;
    if (all_bytes) {
      for (char c : text) out.push_back(byte_ids_[static_cast<uint8_t>(c)]);
    } else if (vocab_.unk_id >= 0) {
      out.push_back(vocab_.unk_id);  // one unk per unknown character, as sentencepiece
    } else {
      fail(vocab_.source.empty() ? std::string("SentencePiece vocabulary") : vocab_.source,
           "cannot encode the character '" + std::string(text) +
               "': no piece, no byte pieces and no unknown token");
    }
  };
  for (int i = 0; i != -1; i = sym[i].next) emit(emit, sym[i].node);
}

std::string SpmVocabTokenizer::piece(int id) const {
  if (id < 0 || id >= vocab_.size()) {
    fail(vocab_.source, "token id " + std::to_string(id) + " is outside the vocabulary of " +
                            std::to_string(vocab_.size()) + " pieces");
  }
  switch (vocab_.types[id]) {
    case SpmTokenType::Byte:
      return std::string(1, static_cast<char>(byte_value_[id]));
    case SpmTokenType::Control:
    case SpmTokenType::Unknown:
      return vocab_.pieces[id];
    default:
      return spaces_from_marks(vocab_.pieces[id]);
  }
}

std::string SpmVocabTokenizer::decode(const std::vector<int>& ids) const {
  std::string out;
  bool at_start = true;  // next text piece starts the text (or follows a control piece)
  for (int id : ids) {
    std::string p = piece(id);
    const SpmTokenType t = vocab_.types[id];
    if (t == SpmTokenType::Control) {
      out += p;
      at_start = true;
      continue;
    }
    if (at_start && vocab_.add_space_prefix && t != SpmTokenType::Byte && !p.empty() &&
        p[0] == ' ') {
      p.erase(0, 1);
    }
    out += p;
    at_start = false;
  }
  return out;
}

}  // namespace ptq::tok
