// Writer for GGUF version 3, the inverse of GgufReader: metadata key/values (every value type,
// arrays included) kept in the order they were added, tensor infos in the order they were declared,
// data aligned to `alignment` (32, llama.cpp's default; general.alignment is written only for other
// values). Output is deterministic: the same calls give the same bytes.
//
// Tensor data is streamed: write() emits the header and tensor infos (sizes are known from the
// declared shapes and types), then asks a callback for each tensor's bytes in declaration order, so
// only one tensor is in memory at a time. The file goes through io::AtomicFile: an exception from a
// callback or a size mismatch leaves no file under the final name.
#pragma once
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "io/gguf.hpp"
#include "io/gguf_types.hpp"

namespace ptq::io {

class GgufWriter {
 public:
  explicit GgufWriter(uint32_t alignment = 32);  // a power of two, else ptq::Error

  // ---- metadata (a key may be set once; a repeated or empty key is a ptq::Error) ----
  void add_u8(const std::string& key, uint8_t v);
  void add_i8(const std::string& key, int8_t v);
  void add_u16(const std::string& key, uint16_t v);
  void add_i16(const std::string& key, int16_t v);
  void add_u32(const std::string& key, uint32_t v);
  void add_i32(const std::string& key, int32_t v);
  void add_u64(const std::string& key, uint64_t v);
  void add_i64(const std::string& key, int64_t v);
  void add_f32(const std::string& key, float v);
  void add_f64(const std::string& key, double v);
  void add_bool(const std::string& key, bool v);
  void add_string(const std::string& key, const std::string& v);
  void add_string_array(const std::string& key, const std::vector<std::string>& v);
  void add_f32_array(const std::string& key, const std::vector<float>& v);
  void add_i32_array(const std::string& key, const std::vector<int32_t>& v);
  // Any array of fixed-size elements: `count` little-endian values of `elem` at `data`
  // (elem must not be STRING or ARRAY).
  void add_array(const std::string& key, GgufValueType elem, const void* data, uint64_t count);

  // ---- tensors ----
  // dims in ggml order (dims[0] = row length). Throws naming the tensor when the name repeats, a
  // dimension is not positive, or dims[0] is not a multiple of the type's block size.
  void add_tensor(const std::string& name, const std::vector<int64_t>& dims, GgmlType type);
  struct Tensor {
    std::string name;
    std::vector<int64_t> dims;
    GgmlType type;
    uint64_t nbytes;
    uint64_t offset;  // relative to the start of the data section
  };
  const std::vector<Tensor>& tensors() const { return tensors_; }

  // Writes the file. data(i) returns tensor i's bytes; their size must equal tensors()[i].nbytes.
  // Returns the file size in bytes.
  using DataFn = std::function<std::vector<uint8_t>(size_t index, const Tensor& t)>;
  uint64_t write(const std::string& path, const DataFn& data) const;

 private:
  void add_kv(const std::string& key, GgufValueType type, const std::string& payload);

  uint32_t alignment_;
  std::string kv_bytes_;  // serialised key/value pairs
  uint64_t kv_count_ = 0;
  std::set<std::string> keys_, tensor_names_;
  std::vector<Tensor> tensors_;
  uint64_t data_size_ = 0;
};

}  // namespace ptq::io
