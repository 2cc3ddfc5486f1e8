#include "tokenizer/spm_model_proto.hpp"

#include <cstring>
#include <filesystem>

#include "core/error.hpp"
#include "io/mapped_file.hpp"

namespace ptq::tok {
namespace {

// A bounds-checked cursor over one protobuf message.
class Wire {
 public:
  Wire(const uint8_t* p, size_t n, const std::string& path, const char* what)
      : p_(p), end_(p + n), path_(path), what_(what) {}
  bool done() const { return p_ >= end_; }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) bad("varint runs past the end");
      const uint8_t c = *p_++;
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    bad("varint longer than 10 bytes");
  }
  // A length-delimited field: the payload's start and size.
  std::pair<const uint8_t*, size_t> bytes() {
    const uint64_t n = varint();
    if (n > static_cast<uint64_t>(end_ - p_)) {
      bad("field of " + std::to_string(n) + " bytes, only " + std::to_string(end_ - p_) + " left");
    }
    const uint8_t* start = p_;
    p_ += n;
    return {start, static_cast<size_t>(n)};
  }
  uint32_t fixed32() {
    if (end_ - p_ < 4) bad("fixed32 runs past the end");
    uint32_t v;
    std::memcpy(&v, p_, 4);
    p_ += 4;
    return v;
  }
  void skip(uint32_t wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1:
        if (end_ - p_ < 8) bad("fixed64 runs past the end");
        p_ += 8;
        break;
      case 2: bytes(); break;
      case 5: fixed32(); break;
      default: bad("unsupported wire type " + std::to_string(wire_type));
    }
  }
  [[noreturn]] void bad(const std::string& why) const {
    fail(path_, std::string("malformed SentencePiece model (") + what_ + "): " + why);
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  const std::string& path_;
  const char* what_;
};

float as_float(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

SpmModelProto read_spm_model_proto(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    fail(path, "SentencePiece model file does not exist or is not a regular file");
  }
  io::MappedFile file(path);
  SpmModelProto m;
  SpmVocab& v = m.vocab;
  v.source = path;
  int64_t unk_id = 0, bos_id = 1, eos_id = 2;  // TrainerSpec defaults

  Wire top(file.data(), file.size(), path, "ModelProto");
  while (!top.done()) {
    const uint64_t key = top.varint();
    const uint32_t field = static_cast<uint32_t>(key >> 3), wt = key & 7;
    if (field == 1 && wt == 2) {  // repeated SentencePiece pieces
      auto [p, n] = top.bytes();
      Wire w(p, n, path, "SentencePiece");
      std::string piece;
      float score = 0;
      int64_t type = 1;
      while (!w.done()) {
        const uint64_t k = w.varint();
        const uint32_t f = static_cast<uint32_t>(k >> 3), t = k & 7;
        if (f == 1 && t == 2) {
          auto [q, len] = w.bytes();
          piece.assign(reinterpret_cast<const char*>(q), len);
        } else if (f == 2 && t == 5) {
          score = as_float(w.fixed32());
        } else if (f == 3 && t == 0) {
          type = static_cast<int64_t>(w.varint());
        } else {
          w.skip(t);
        }
      }
      if (type < 1 || type > 6) {
        w.bad("piece " + std::to_string(v.pieces.size()) + " has type " + std::to_string(type));
      }
      v.pieces.push_back(std::move(piece));
      v.scores.push_back(score);
      v.types.push_back(static_cast<SpmTokenType>(type));
    } else if (field == 2 && wt == 2) {  // TrainerSpec
      auto [p, n] = top.bytes();
      Wire w(p, n, path, "TrainerSpec");
      while (!w.done()) {
        const uint64_t k = w.varint();
        const uint32_t f = static_cast<uint32_t>(k >> 3), t = k & 7;
        // int32 fields are sign-extended varints: -1 arrives as a 64-bit two's complement.
        auto int32_of = [](uint64_t x) { return static_cast<int64_t>(static_cast<int32_t>(x)); };
        if (t != 0) {
          w.skip(t);
        } else if (f == 3) {
          m.model_type = static_cast<int>(w.varint());
        } else if (f == 35) {
          m.byte_fallback = w.varint() != 0;
        } else if (f == 40) {
          unk_id = int32_of(w.varint());
        } else if (f == 41) {
          bos_id = int32_of(w.varint());
        } else if (f == 42) {
          eos_id = int32_of(w.varint());
        } else {
          w.varint();
        }
      }
    } else if (field == 3 && wt == 2) {  // NormalizerSpec
      auto [p, n] = top.bytes();
      Wire w(p, n, path, "NormalizerSpec");
      while (!w.done()) {
        const uint64_t k = w.varint();
        const uint32_t f = static_cast<uint32_t>(k >> 3), t = k & 7;
        if (f == 1 && t == 2) {
          auto [q, len] = w.bytes();
          m.normalizer_name.assign(reinterpret_cast<const char*>(q), len);
        } else if (f == 2 && t == 2) {
          m.has_precompiled_charsmap = w.bytes().second > 0;
        } else if (f == 3 && t == 0) {
          m.add_dummy_prefix = w.varint() != 0;
        } else if (f == 4 && t == 0) {
          m.remove_extra_whitespaces = w.varint() != 0;
        } else if (f == 5 && t == 0) {
          m.escape_whitespaces = w.varint() != 0;
        } else {
          w.skip(t);
        }
      }
    } else {
      top.skip(wt);
    }
  }
  if (v.pieces.empty()) fail(path, "SentencePiece model has no pieces (is this a *.model file?)");
  const int64_t n = static_cast<int64_t>(v.pieces.size());
  auto special = [&](int64_t id, const char* name) -> int {
    if (id < -1 || id >= n) {
      fail(path, std::string(name) + " id " + std::to_string(id) + " is outside the " +
                     std::to_string(n) + " pieces");
    }
    return static_cast<int>(id);
  };
  v.unk_id = special(unk_id, "unk");
  v.bos_id = special(bos_id, "bos");
  v.eos_id = special(eos_id, "eos");
  v.add_space_prefix = m.add_dummy_prefix;
  v.add_bos_token = true;
  v.validate();
  return m;
}

}  // namespace ptq::tok
