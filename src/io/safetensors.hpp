// safetensors (Hugging Face's tensor file): an 8-byte little-endian header length N, N bytes of
// JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the
// tensor bytes, offsets relative to the byte after the header.
//
// The reader memory-maps the file and validates the whole header on open, so every later access is
// in bounds. The writer emits tensors in sorted name order with a deterministic, space-padded
// header, so identical input gives byte-identical files.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/mapped_file.hpp"

namespace ptq::io {

struct SafetensorsTensorInfo {
  std::string name;
  std::string dtype;  // F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // absolute byte offset in the file
  uint64_t nbytes = 0;
  int64_t numel() const;
};

// Bytes per element of a safetensors dtype name; 0 when the name is not one ptq supports.
size_t safetensors_dtype_size(const std::string& dtype);
// The torch dtype of a safetensors dtype name (throws for unsupported names).
torch::ScalarType safetensors_dtype_to_torch(const std::string& dtype);
// The safetensors name of a torch dtype; throws for types safetensors files cannot hold in ptq.
std::string torch_dtype_to_safetensors(torch::ScalarType t);

class SafetensorsReader {
 public:
  explicit SafetensorsReader(const std::string& path);

  const std::string& path() const { return file_->path(); }
  std::vector<std::string> names() const;  // sorted by name
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  const SafetensorsTensorInfo& info(const std::string& name) const;  // throws naming file, tensor
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::map<std::string, SafetensorsTensorInfo>& infos() const { return index_; }

  // Zero-copy view of the stored bytes in the original dtype. The returned tensor holds a
  // reference to the mapping, so it stays valid even after this reader is destroyed. The memory is
  // mapped read-only: writing through the view crashes; clone() it to get a writable tensor. The
  // data may be unaligned for its dtype if the file's offsets are not multiples of its item size.
  torch::Tensor view(const std::string& name) const;
  // An owned fp32 copy (converting F16, BF16 and the other numeric dtypes).
  torch::Tensor load_f32(const std::string& name) const;
  // The raw stored bytes (valid while this reader lives).
  const uint8_t* raw(const std::string& name) const { return file_->data() + info(name).offset; }

 private:
  std::shared_ptr<MappedFile> file_;
  std::map<std::string, SafetensorsTensorInfo> index_;
  std::map<std::string, std::string> metadata_;
};

class SafetensorsWriter {
 public:
  // Records `t` (any device/layout; kept as a contiguous CPU tensor until write(), so mutating the
  // caller's tensor before write() changes the output). Throws on duplicate names, empty names,
  // "__metadata__", or dtypes other than F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL.
  void add(const std::string& name, const torch::Tensor& t);
  void set_metadata(const std::string& key, const std::string& value);
  size_t size() const { return tensors_.size(); }
  // Writes through a temporary file renamed into place. Deterministic: tensors in sorted name
  // order, the header JSON with sorted keys and padded with spaces to a multiple of 8 bytes.
  void write(const std::string& path) const;

 private:
  std::map<std::string, torch::Tensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace ptq::io
