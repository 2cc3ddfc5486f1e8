#include "io/gguf_writer.hpp"

#include <cstring>

#include "core/error.hpp"
#include "io/atomic_file.hpp"

namespace ptq::io {

namespace {

template <typename T>
void put(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // x86-64 and aarch64 are little-endian, as GGUF is
  out.append(b, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

template <typename T>
std::string scalar(T v) {
  std::string s;
  put(s, v);
  return s;
}

uint64_t elem_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: case GgufValueType::INT8: case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16: case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32: case GgufValueType::INT32: case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64: case GgufValueType::INT64: case GgufValueType::FLOAT64: return 8;
    default: return 0;
  }
}

uint64_t align_up(uint64_t n, uint64_t a) { return (n + a - 1) / a * a; }

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    throw Error("GGUF alignment " + std::to_string(alignment) + " is not a power of two");
  }
  if (alignment != 32) add_u32("general.alignment", alignment);
}

void GgufWriter::add_kv(const std::string& key, GgufValueType type, const std::string& payload) {
  if (key.empty()) throw Error("GGUF metadata key is empty");
  if (!keys_.insert(key).second) throw Error("GGUF metadata key '" + key + "' is set twice");
  put_string(kv_bytes_, key);
  put<uint32_t>(kv_bytes_, static_cast<uint32_t>(type));
  kv_bytes_ += payload;
  ++kv_count_;
}

void GgufWriter::add_u8(const std::string& k, uint8_t v) { add_kv(k, GgufValueType::UINT8, scalar(v)); }
void GgufWriter::add_i8(const std::string& k, int8_t v) { add_kv(k, GgufValueType::INT8, scalar(v)); }
void GgufWriter::add_u16(const std::string& k, uint16_t v) { add_kv(k, GgufValueType::UINT16, scalar(v)); }
void GgufWriter::add_i16(const std::string& k, int16_t v) { add_kv(k, GgufValueType::INT16, scalar(v)); }
void GgufWriter::add_u32(const std::string& k, uint32_t v) { add_kv(k, GgufValueType::UINT32, scalar(v)); }
void GgufWriter::add_i32(const std::string& k, int32_t v) { add_kv(k, GgufValueType::INT32, scalar(v)); }
void GgufWriter::add_u64(const std::string& k, uint64_t v) { add_kv(k, GgufValueType::UINT64, scalar(v)); }
void GgufWriter::add_i64(const std::string& k, int64_t v) { add_kv(k, GgufValueType::INT64, scalar(v)); }
void GgufWriter::add_f32(const std::string& k, float v) { add_kv(k, GgufValueType::FLOAT32, scalar(v)); }
void GgufWriter::add_f64(const std::string& k, double v) { add_kv(k, GgufValueType::FLOAT64, scalar(v)); }
void GgufWriter::add_bool(const std::string& k, bool v) { add_kv(k, GgufValueType::BOOL, scalar<uint8_t>(v ? 1 : 0)); }

void GgufWriter::add_string(const std::string& k, const std::string& v) {
  std::string p;
  put_string(p, v);
  add_kv(k, GgufValueType::STRING, p);
}

void GgufWriter::add_string_array(const std::string& k, const std::vector<std::string>& v) {
  std::string p;
  put<uint32_t>(p, static_cast<uint32_t>(GgufValueType::STRING));
  put<uint64_t>(p, v.size());
  for (const std::string& s : v) put_string(p, s);
  add_kv(k, GgufValueType::ARRAY, p);
}

void GgufWriter::add_f32_array(const std::string& k, const std::vector<float>& v) {
  add_array(k, GgufValueType::FLOAT32, v.data(), v.size());
}

void GgufWriter::add_i32_array(const std::string& k, const std::vector<int32_t>& v) {
  add_array(k, GgufValueType::INT32, v.data(), v.size());
}

void GgufWriter::add_array(const std::string& k, GgufValueType elem, const void* data, uint64_t count) {
  const uint64_t es = elem_size(elem);
  if (es == 0) {
    throw Error("GGUF metadata key '" + k + "': add_array takes fixed-size elements, not " +
                gguf_value_type_name(elem));
  }
  std::string p;
  put<uint32_t>(p, static_cast<uint32_t>(elem));
  put<uint64_t>(p, count);
  p.append(static_cast<const char*>(data), count * es);
  add_kv(k, GgufValueType::ARRAY, p);
}

void GgufWriter::add_tensor(const std::string& name, const std::vector<int64_t>& dims, GgmlType type) {
  const GgmlTypeTraits tr = ggml_type_traits(static_cast<uint32_t>(type));
  if (!tr.name) throw Error("GGUF tensor '" + name + "': unknown ggml type");
  if (name.empty() || !tensor_names_.insert(name).second) {
    throw Error("GGUF tensor '" + name + "' is empty or declared twice");
  }
  if (dims.empty() || dims.size() > 4) throw Error("GGUF tensor '" + name + "' must have 1 to 4 dimensions");
  uint64_t numel = 1;
  for (int64_t d : dims) {
    if (d <= 0) throw Error("GGUF tensor '" + name + "' has a non-positive dimension");
    numel *= static_cast<uint64_t>(d);
  }
  if (dims[0] % tr.block_size != 0) {
    throw Error("tensor '" + name + "': row length " + std::to_string(dims[0]) + " is not a multiple of " +
                tr.name + "'s block size " + std::to_string(tr.block_size) + " (ggml requires whole blocks per row)");
  }
  const uint64_t nbytes = numel / tr.block_size * tr.type_size;
  tensors_.push_back({name, dims, type, nbytes, data_size_});
  data_size_ = align_up(data_size_ + nbytes, alignment_);
}

uint64_t GgufWriter::write(const std::string& path, const DataFn& data) const {
  std::string head;
  head += "GGUF";
  put<uint32_t>(head, 3);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kv_count_);
  head += kv_bytes_;
  for (const Tensor& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) put<uint64_t>(head, static_cast<uint64_t>(d));
    put<uint32_t>(head, static_cast<uint32_t>(t.type));
    put<uint64_t>(head, t.offset);
  }
  head.resize(align_up(head.size(), alignment_), '\0');

  AtomicFile f(path);
  f.write(head);
  const std::string zeros(alignment_, '\0');
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    const std::vector<uint8_t> bytes = data(i, t);
    if (bytes.size() != t.nbytes) {
      fail(path, "tensor '" + t.name + "' has " + std::to_string(bytes.size()) + " bytes of data, expected " +
                     std::to_string(t.nbytes));
    }
    f.write(bytes.data(), bytes.size());
    const uint64_t end = i + 1 < tensors_.size() ? tensors_[i + 1].offset : data_size_;
    f.write(zeros.data(), end - t.offset - t.nbytes);
  }
  const uint64_t size = f.written();
  f.commit();
  return size;
}

}  // namespace ptq::io
