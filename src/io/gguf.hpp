// Reader for GGUF (versions 2 and 3), llama.cpp's single-file model and vocabulary format.
//
// Layout: "GGUF" magic, u32 version, u64 tensor count, u64 metadata count, the metadata key/value
// pairs, the tensor infos, padding to general.alignment (default 32), then the tensor data. All
// integers are little-endian. The whole file is memory-mapped; metadata is indexed on open (every
// count and string length is checked against the bytes left before anything is allocated) and
// values are decoded from the mapping when asked for.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/gguf_types.hpp"
#include "io/mapped_file.hpp"

namespace ptq::io {

// Value types of GGUF metadata, numbered as in the file.
enum class GgufValueType : uint32_t {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
};
const char* gguf_value_type_name(GgufValueType t);

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> dims;  // ggml order: dims[0] is the fastest-varying (row length)
  uint32_t type = 0;          // ggml type id (GgmlType)
  std::string type_name;      // "F32", "Q4_0", ...
  uint64_t offset = 0;        // absolute byte offset of the data in the file
  uint64_t nbytes = 0;
  int64_t numel() const;
  // Row-major (torch) shape: dims reversed, so a ggml [ne0=in, ne1=out] matrix is [out, in].
  std::vector<int64_t> shape() const;
};

class GgufReader {
 public:
  explicit GgufReader(const std::string& path);

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of the tensor data section

  // ---- metadata ----
  // Every getter throws ptq::Error naming the file and key when the key is missing or holds a value
  // of another type. Integer getters accept any integer type (and bool is not an integer); a uint64
  // above INT64_MAX is an error. Float getters accept FLOAT32/FLOAT64 and, converted, any integer.
  std::vector<std::string> keys() const;  // in file order
  bool has(const std::string& key) const;
  GgufValueType type(const std::string& key) const;
  // For arrays: the element type and count (throws if `key` is not an array).
  GgufValueType array_type(const std::string& key) const;
  uint64_t array_size(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;
  std::vector<double> get_float_array(const std::string& key) const;
  std::vector<int64_t> get_int_array(const std::string& key) const;
  // A short printable form for `ptq inspect`: scalars in full, strings quoted and cut at 60
  // characters, arrays as "[INT32 x 32000]" followed by the first few elements.
  std::string describe(const std::string& key) const;

  // ---- tensors ----
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }  // in file order
  bool has_tensor(const std::string& name) const;
  const GgufTensorInfo& tensor(const std::string& name) const;  // throws naming file and tensor
  // The raw stored bytes of a tensor, inside the mapping (valid while this reader lives).
  const uint8_t* tensor_data(const std::string& name) const;
  // An owned fp32 tensor in row-major shape(): F32, F16, BF16, F64, I8/I16/I32 and the 32-block
  // quantized types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the K-quants Q4_K, Q5_K, Q6_K are supported;
  // others (Q2_K, Q3_K, IQ*, ...) throw naming the type.
  torch::Tensor load_f32(const std::string& name) const;

 private:
  struct Value {
    GgufValueType type;
    GgufValueType elem_type = GgufValueType::UINT8;  // arrays only
    uint64_t count = 0;                              // arrays only
    uint64_t offset = 0;  // file offset of the payload (for arrays, of the first element)
  };
  void parse();  // the constructor's work; throws ptq::Error
  const Value& value(const std::string& key) const;
  [[noreturn]] void fail_key(const std::string& key, const std::string& what) const;

  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::string> key_order_;
  std::map<std::string, Value> values_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace ptq::io
