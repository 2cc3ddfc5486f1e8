#include "tokenizer/llama2c_tokenizer.hpp"

#include <cctype>
#include <cstring>

#include "core/error.hpp"
#include "io/mapped_file.hpp"

namespace ptq::tok {
namespace {

int32_t read_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
float read_f32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}

// The piece in SentencePiece form: spaces back to "▁".
std::string marks_from_spaces(const uint8_t* p, size_t n) {
  std::string out;
  out.reserve(n + 8);
  for (size_t i = 0; i < n; ++i) {
    if (p[i] == ' ') {
      out += "\xE2\x96\x81";
    } else {
      out += static_cast<char>(p[i]);
    }
  }
  return out;
}

bool is_byte_piece(const std::string& p) {
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return false;
  return std::isxdigit(static_cast<unsigned char>(p[3])) &&
         std::isxdigit(static_cast<unsigned char>(p[4]));
}

}  // namespace

SpmVocab load_llama2c_vocab(const std::string& path, int vocab_size) {
  io::MappedFile file(path);
  const size_t size = file.size();
  if (size < 4) fail(path, "too short for a llama2.c tokenizer (" + std::to_string(size) + " bytes)");
  const int32_t max_len = read_i32(file.data());
  if (max_len <= 0 || static_cast<size_t>(max_len) > size) {
    fail(path, "max_token_len " + std::to_string(max_len) +
                   " is not a plausible piece length (is this a llama2.c tokenizer.bin?)");
  }
  // Each record takes at least 8 bytes: a bound on the count before anything is reserved.
  const size_t max_records = (size - 4) / 8;
  if (vocab_size > 0 && static_cast<size_t>(vocab_size) > max_records) {
    fail(path, "truncated: " + std::to_string(vocab_size) + " pieces need at least " +
                   std::to_string(4 + 8 * static_cast<uint64_t>(vocab_size)) + " bytes, the file has " +
                   std::to_string(size));
  }

  SpmVocab v;
  v.source = path;
  v.add_space_prefix = true;
  v.add_bos_token = true;
  const size_t expect = vocab_size > 0 ? static_cast<size_t>(vocab_size) : max_records;
  v.pieces.reserve(expect);
  v.scores.reserve(expect);
  v.types.reserve(expect);

  size_t off = 4;
  while (vocab_size > 0 ? v.pieces.size() < static_cast<size_t>(vocab_size) : off < size) {
    const std::string tok = "piece " + std::to_string(v.pieces.size());
    if (size - off < 8) {
      fail(path, "truncated: " + tok + " header at byte " + std::to_string(off) + " needs 8 bytes, " +
                     std::to_string(size - off) + " left");
    }
    const float score = read_f32(file.data() + off);
    const int32_t len = read_i32(file.data() + off + 4);
    off += 8;
    if (len < 0) fail(path, tok + " has negative length " + std::to_string(len));
    if (len > max_len) {
      fail(path, tok + " has length " + std::to_string(len) + ", above the file's max_token_len " +
                     std::to_string(max_len));
    }
    if (static_cast<size_t>(len) > size - off) {
      fail(path, "truncated: " + tok + " needs " + std::to_string(len) + " bytes at byte " +
                     std::to_string(off) + ", " + std::to_string(size - off) + " left");
    }
    std::string p = marks_from_spaces(file.data() + off, static_cast<size_t>(len));
    off += static_cast<size_t>(len);

    SpmTokenType type = SpmTokenType::Normal;
    const int id = static_cast<int>(v.pieces.size());
    if (p == "\n<s>\n" || p == "<s>") {
      p = "<s>";
      type = SpmTokenType::Control;
      if (v.bos_id < 0) v.bos_id = id;
    } else if (p == "\n</s>\n" || p == "</s>") {
      p = "</s>";
      type = SpmTokenType::Control;
      if (v.eos_id < 0) v.eos_id = id;
    } else if (p == "<unk>") {
      type = SpmTokenType::Unknown;
      if (v.unk_id < 0) v.unk_id = id;
    } else if (is_byte_piece(p)) {
      type = SpmTokenType::Byte;
    }
    v.pieces.push_back(std::move(p));
    v.scores.push_back(score);
    v.types.push_back(type);
  }
  if (vocab_size > 0 && off != size) {
    fail(path, "has " + std::to_string(size - off) + " bytes after the " + std::to_string(vocab_size) +
                   " pieces the model expects (vocabulary size mismatch?)");
  }
  if (v.pieces.empty()) fail(path, "holds no pieces");
  v.validate();
  return v;
}

std::unique_ptr<SpmVocabTokenizer> open_llama2c_tokenizer(const std::string& path, int vocab_size) {
  return std::make_unique<SpmVocabTokenizer>(load_llama2c_vocab(path, vocab_size), "llama2c");
}

}  // namespace ptq::tok
