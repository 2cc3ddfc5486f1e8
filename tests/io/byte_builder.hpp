// Little-endian byte strings for building well-formed and deliberately broken files in tests.
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include "core/error.hpp"

namespace ptq::test {

struct Bytes {
  std::string b;

  template <typename T>
  Bytes& put(T v) {
    char tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    b.append(tmp, sizeof(T));
    return *this;
  }
  Bytes& u8(uint8_t v) { return put(v); }
  Bytes& u32(uint32_t v) { return put(v); }
  Bytes& u64(uint64_t v) { return put(v); }
  Bytes& i32(int32_t v) { return put(v); }
  Bytes& f32(float v) { return put(v); }
  Bytes& raw(const std::string& s) {
    b += s;
    return *this;
  }
  // GGUF string: u64 length + bytes.
  Bytes& str(const std::string& s) {
    u64(s.size());
    return raw(s);
  }
  Bytes& pad_to(size_t align) {
    while (b.size() % align) b.push_back('\0');
    return *this;
  }
  size_t size() const { return b.size(); }
};

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace ptq::test

// Requires `expr` to throw ptq::Error whose message contains every listed fragment.
#define REQUIRE_PTQ_ERROR(expr, ...)                                                   \
  do {                                                                                 \
    bool threw_ = false;                                                               \
    try {                                                                              \
      (void)(expr);                                                                    \
    } catch (const ::ptq::Error& e_) {                                                 \
      threw_ = true;                                                                   \
      const std::string msg_ = e_.what();                                              \
      for (const char* frag_ : {__VA_ARGS__}) {                                        \
        INFO("message: " << msg_ << "\n  expected to contain: " << frag_);            \
        CHECK(msg_.find(frag_) != std::string::npos);                                  \
      }                                                                                \
    }                                                                                  \
    if (!threw_) FAIL("expected ptq::Error from " #expr);                              \
  } while (0)
