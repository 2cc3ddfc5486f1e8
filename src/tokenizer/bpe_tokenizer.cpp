#include "tokenizer/bpe_tokenizer_impl.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "tokenizer/unicode_props.hpp"

namespace ptq::tok {

namespace {

// Start of the UTF-8 character that ends at `end` (exclusive), stepping over continuation bytes.
size_t last_char_start(std::string_view s, size_t end) {
  size_t p = end - 1;
  for (int k = 0; k < 3 && p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80; ++k) --p;
  return p;
}

uint32_t char_before(std::string_view s, size_t pos) {
  if (pos == 0) return 0;
  size_t start = last_char_start(s, pos), len = 0;
  const uint32_t cp = unicode::decode_utf8(s, start, &len);
  return start + len == pos ? cp : unicode::kIllFormed;
}

uint32_t char_at(std::string_view s, size_t pos) {
  size_t len = 0;
  return pos < s.size() ? unicode::decode_utf8(s, pos, &len) : 0;
}

bool is_word_char(uint32_t cp) {
  return cp == '_' || (unicode::char_class(cp) & (unicode::kLetter | unicode::kNumber));
}

std::string_view trim_leading_space(std::string_view s) {
  size_t pos = 0, len = 0;
  while (pos < s.size() && unicode::is_space(unicode::decode_utf8(s, pos, &len))) pos += len;
  return s.substr(pos);
}

std::string_view trim_trailing_space(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    const size_t start = last_char_start(s, end);
    size_t len = 0;
    const uint32_t cp = unicode::decode_utf8(s, start, &len);
    if (start + len != end || !unicode::is_space(cp)) break;
    end = start;
  }
  return s.substr(0, end);
}

}  // namespace

BpeTokenizer::BpeTokenizer(std::unique_ptr<BpeModel> model, BpeTokenizerOptions options)
    : model_(std::move(model)), options_(std::move(options)), added_by_first_byte_(256) {
  for (const AddedToken& t : options_.added) {
    if (!model_->has_id(t.id)) fail(options_.source, "added token '" + t.content + "' has id " + std::to_string(t.id) + " outside the vocabulary");
    if (t.content.empty()) continue;
    added_by_first_byte_[static_cast<uint8_t>(t.content[0])].push_back(&t);
  }
  for (auto& list : added_by_first_byte_) {
    std::stable_sort(list.begin(), list.end(), [](const AddedToken* a, const AddedToken* b) {
      return a->content.size() > b->content.size();
    });
  }
  for (int id : {options_.bos, options_.eos}) {
    if (id != -1 && !model_->has_id(id)) fail(options_.source, "special token id " + std::to_string(id) + " is outside the vocabulary");
  }
}

const AddedToken* BpeTokenizer::match_added(std::string_view text, size_t pos) const {
  for (const AddedToken* t : added_by_first_byte_[static_cast<uint8_t>(text[pos])]) {
    const size_t len = t->content.size();
    if (text.compare(pos, len, t->content) != 0) continue;
    if (t->single_word && (is_word_char(char_before(text, pos)) || is_word_char(char_at(text, pos + len)))) continue;
    return t;
  }
  return nullptr;
}

void BpeTokenizer::encode_plain(std::string_view text, std::vector<int>& out) const {
  if (text.empty()) return;
  std::string buffer;
  if (options_.nfc) {
    buffer = unicode::to_nfc(std::string(text));
    text = buffer;
  }
  if (options_.add_prefix_space && text[0] != ' ') {
    buffer = " " + std::string(text);
    text = buffer;
  }
  std::vector<std::string_view> pieces;
  pre_tokenize(options_.pre_tokenizer, text, pieces);
  for (std::string_view p : pieces) model_->encode_word(p, out);
}

std::vector<int> BpeTokenizer::encode(const std::string& text, bool add_bos) const {
  std::vector<int> ids;
  ids.reserve(text.size() / 3 + 2);
  if (add_bos && options_.bos >= 0) ids.push_back(options_.bos);
  const std::string_view all(text);
  size_t segment_start = 0;
  bool strip_next_leading = false;  // the previous added token had rstrip
  for (size_t pos = 0; pos < all.size();) {
    const AddedToken* t = match_added(all, pos);
    if (!t) {
      ++pos;
      continue;
    }
    std::string_view before = all.substr(segment_start, pos - segment_start);
    if (strip_next_leading) before = trim_leading_space(before);
    if (t->lstrip) before = trim_trailing_space(before);
    encode_plain(before, ids);
    ids.push_back(t->id);
    pos += t->content.size();
    segment_start = pos;
    strip_next_leading = t->rstrip;
  }
  std::string_view rest = all.substr(segment_start);
  if (strip_next_leading) rest = trim_leading_space(rest);
  encode_plain(rest, ids);
  return ids;
}

std::vector<int> BpeTokenizer::encode_ordinary(const std::string& text) const {
  std::vector<int> ids;
  ids.reserve(text.size() / 3 + 2);
  encode_plain(text, ids);
  return ids;
}

std::string BpeTokenizer::decode(const std::vector<int>& ids) const {
  std::string out;
  for (int id : ids) out += piece(id);
  return out;
}

std::string BpeTokenizer::piece(int id) const {
  if (!model_->has_id(id)) fail(options_.source, "token id " + std::to_string(id) + " is not in the vocabulary (size " + std::to_string(vocab_size()) + ")");
  return model_->bytes_of(id);
}

bool bpe_adds_bos_by_default(const Tokenizer& tokenizer) {
  const auto* bpe = dynamic_cast<const BpeTokenizer*>(&tokenizer);
  return bpe && bpe->adds_bos_by_default();
}

}  // namespace ptq::tok
