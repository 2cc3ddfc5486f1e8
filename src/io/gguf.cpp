#include "io/gguf.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <sstream>

#include "core/error.hpp"

namespace ptq::io {

const char* gguf_value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: return "UINT8";
    case GgufValueType::INT8: return "INT8";
    case GgufValueType::UINT16: return "UINT16";
    case GgufValueType::INT16: return "INT16";
    case GgufValueType::UINT32: return "UINT32";
    case GgufValueType::INT32: return "INT32";
    case GgufValueType::FLOAT32: return "FLOAT32";
    case GgufValueType::BOOL: return "BOOL";
    case GgufValueType::STRING: return "STRING";
    case GgufValueType::ARRAY: return "ARRAY";
    case GgufValueType::UINT64: return "UINT64";
    case GgufValueType::INT64: return "INT64";
    case GgufValueType::FLOAT64: return "FLOAT64";
  }
  return "UNKNOWN";
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

std::vector<int64_t> GgufTensorInfo::shape() const { return {dims.rbegin(), dims.rend()}; }

namespace {

constexpr uint64_t kMaxDims = 4;  // GGML_MAX_DIMS
// Counts a real file never approaches (vocabularies and merge lists hold ~10^5-10^6 entries, models
// ~10^3-10^5 tensors). The file's size alone does not bound what the counts cost in memory: a
// sparse file of tens of GB is cheap to make, and each 1-byte array element or empty string
// becomes an 8- or 32-byte object once read.
constexpr uint64_t kMaxArrayLength = uint64_t(1) << 26;
constexpr uint64_t kMaxEntries = uint64_t(1) << 20;

// Byte size of a scalar metadata value; 0 for STRING and ARRAY (variable length) and unknown types.
uint64_t scalar_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8:
    case GgufValueType::INT8:
    case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16:
    case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32:
    case GgufValueType::INT32:
    case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64:
    case GgufValueType::INT64:
    case GgufValueType::FLOAT64: return 8;
    default: return 0;
  }
}

bool is_integer(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8:
    case GgufValueType::INT8:
    case GgufValueType::UINT16:
    case GgufValueType::INT16:
    case GgufValueType::UINT32:
    case GgufValueType::INT32:
    case GgufValueType::UINT64:
    case GgufValueType::INT64: return true;
    default: return false;
  }
}

bool is_float(GgufValueType t) { return t == GgufValueType::FLOAT32 || t == GgufValueType::FLOAT64; }

template <typename T>
T load_le(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // GGUF is little-endian, as are the hosts ptq runs on
  return v;
}

// Reads an integer scalar of type `t` at `p`; false when a UINT64 does not fit int64.
bool read_int(GgufValueType t, const uint8_t* p, int64_t* out) {
  switch (t) {
    case GgufValueType::UINT8: *out = load_le<uint8_t>(p); return true;
    case GgufValueType::INT8: *out = load_le<int8_t>(p); return true;
    case GgufValueType::UINT16: *out = load_le<uint16_t>(p); return true;
    case GgufValueType::INT16: *out = load_le<int16_t>(p); return true;
    case GgufValueType::UINT32: *out = load_le<uint32_t>(p); return true;
    case GgufValueType::INT32: *out = load_le<int32_t>(p); return true;
    case GgufValueType::INT64: *out = load_le<int64_t>(p); return true;
    case GgufValueType::UINT64: {
      uint64_t u = load_le<uint64_t>(p);
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
      *out = static_cast<int64_t>(u);
      return true;
    }
    default: return false;
  }
}

double read_number(GgufValueType t, const uint8_t* p) {
  if (t == GgufValueType::FLOAT32) return load_le<float>(p);
  if (t == GgufValueType::FLOAT64) return load_le<double>(p);
  if (t == GgufValueType::UINT64) return static_cast<double>(load_le<uint64_t>(p));
  int64_t v = 0;
  read_int(t, p, &v);
  return static_cast<double>(v);
}

// A bounds-checked forward reader over the mapping. Every read checks the bytes left first, so a
// corrupted length can neither read past the end nor make us allocate more than the file holds.
class Cursor {
 public:
  Cursor(const MappedFile& f) : f_(f) {}
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return f_.size() - pos_; }

  const uint8_t* take(uint64_t n, const std::string& what) {
    if (n > left()) {
      fail(f_.path(), what + " needs " + std::to_string(n) + " bytes at offset " +
                          std::to_string(pos_) + " but only " + std::to_string(left()) +
                          " remain (truncated file?)");
    }
    const uint8_t* p = f_.data() + pos_;
    pos_ += n;
    return p;
  }
  uint32_t u32(const std::string& what) { return load_le<uint32_t>(take(4, what)); }
  uint64_t u64(const std::string& what) { return load_le<uint64_t>(take(8, what)); }
  // A GGUF string: u64 length, then that many bytes (no terminator).
  std::string str(const std::string& what) {
    uint64_t n = u64(what + " length");
    if (n > left()) {
      fail(f_.path(), what + " has length " + std::to_string(n) + " but only " +
                          std::to_string(left()) + " bytes remain (corrupted file?)");
    }
    const uint8_t* p = take(n, what);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  void skip_str(const std::string& what) {
    uint64_t n = u64(what + " length");
    if (n > left()) {
      fail(f_.path(), what + " has length " + std::to_string(n) + " but only " +
                          std::to_string(left()) + " bytes remain (corrupted file?)");
    }
    pos_ += n;
  }

 private:
  const MappedFile& f_;
  uint64_t pos_ = 0;
};

// Number of U+FFFD replacement characters (EF BF BD) in the file: the trace a binary file leaves
// when something decoded it as UTF-8 text and wrote it back.
size_t count_replacement_chars(const MappedFile& f) {
  size_t n = 0;
  const uint8_t* p = f.data();
  const uint8_t* end = f.data() + f.size();
  while (p && end - p >= 3) {
    const void* hit = std::memchr(p, 0xEF, static_cast<size_t>(end - p - 2));
    if (!hit) break;
    p = static_cast<const uint8_t*>(hit);
    if (p[1] == 0xBF && p[2] == 0xBD) {
      ++n;
      p += 3;
    } else {
      ++p;
    }
  }
  return n;
}

}  // namespace

GgufReader::GgufReader(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
  try {
    parse();
  } catch (const Error& e) {
    // A GGUF can hold U+FFFD legitimately (a token "\uFFFD"), so this is only a hint on failure.
    const size_t n = count_replacement_chars(*file_);
    if (n == 0) throw;
    throw Error(std::string(e.what()) + "; note: the file contains " + std::to_string(n) +
                " U+FFFD replacement sequences (bytes EF BF BD), the mark of a binary file that was "
                "decoded and re-encoded as UTF-8 text, which destroys its numbers: get an unmodified copy");
  }
}

void GgufReader::parse() {
  const std::string& path = file_->path();
  const MappedFile& f = *file_;
  Cursor c(f);

  // ---- header ----
  if (f.size() < 4 || std::memcmp(f.data(), "GGUF", 4) != 0) {
    fail(path, "not a GGUF file (bad magic: expected \"GGUF\" in the first 4 bytes)");
  }
  c.take(4, "magic");
  version_ = c.u32("version");
  if (version_ == 1) fail(path, "GGUF version 1 is not supported (only versions 2 and 3)");
  if (version_ != 2 && version_ != 3) {
    if ((version_ & 0xffff) == 0) fail(path, "big-endian GGUF files are not supported");
    fail(path, "unsupported GGUF version " + std::to_string(version_) + " (only 2 and 3)");
  }
  const uint64_t n_tensors = c.u64("tensor count");
  const uint64_t n_kv = c.u64("metadata count");
  // Smallest possible entries: a key/value is an 8-byte key length, a 4-byte type and a 1-byte
  // value; a tensor info is an 8-byte name length, 4-byte dim count, 4-byte type, 8-byte offset.
  if (n_kv > c.left() / 13) {
    fail(path, "metadata count " + std::to_string(n_kv) + " is impossible: only " +
                   std::to_string(c.left()) + " bytes follow the header (corrupted file?)");
  }
  if (n_tensors > c.left() / 24) {
    fail(path, "tensor count " + std::to_string(n_tensors) + " is impossible: only " +
                   std::to_string(c.left()) + " bytes follow the header (corrupted file?)");
  }

  if (n_kv > kMaxEntries || n_tensors > kMaxEntries) {
    fail(path, "metadata count " + std::to_string(n_kv) + " or tensor count " + std::to_string(n_tensors) +
                   " exceeds ptq's limit of " + std::to_string(kMaxEntries) + " (corrupted file?)");
  }

  // ---- metadata: index each value's position, validating every length on the way ----
  key_order_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string where = "metadata entry " + std::to_string(i);
    std::string key = c.str(where + " key");
    const std::string kw = "metadata key '" + key + "'";
    Value v;
    uint32_t t = c.u32(kw + " type");
    if (t > static_cast<uint32_t>(GgufValueType::FLOAT64)) {
      fail(path, kw + " has unknown value type " + std::to_string(t));
    }
    v.type = static_cast<GgufValueType>(t);
    if (v.type == GgufValueType::ARRAY) {
      uint32_t et = c.u32(kw + " array element type");
      if (et > static_cast<uint32_t>(GgufValueType::FLOAT64)) {
        fail(path, kw + " is an array of unknown element type " + std::to_string(et));
      }
      v.elem_type = static_cast<GgufValueType>(et);
      if (v.elem_type == GgufValueType::ARRAY) fail(path, kw + " is a nested array (not supported)");
      v.count = c.u64(kw + " array length");
      const auto check_length = [&] {
        if (v.count > kMaxArrayLength) {
          fail(path, kw + " claims " + std::to_string(v.count) + " elements, more than ptq reads (" +
                         std::to_string(kMaxArrayLength) + "; corrupted file?)");
        }
      };
      v.offset = c.pos();
      if (v.elem_type == GgufValueType::STRING) {
        if (v.count > c.left() / 8) {
          fail(path, kw + " claims " + std::to_string(v.count) + " strings but only " +
                         std::to_string(c.left()) + " bytes remain (corrupted file?)");
        }
        check_length();
        for (uint64_t j = 0; j < v.count; ++j) c.skip_str(kw + " element " + std::to_string(j));
      } else {
        const uint64_t es = scalar_size(v.elem_type);
        if (v.count > c.left() / es) {
          fail(path, kw + " claims " + std::to_string(v.count) + " elements of " +
                         gguf_value_type_name(v.elem_type) + " but only " +
                         std::to_string(c.left()) + " bytes remain (corrupted file?)");
        }
        check_length();
        c.take(v.count * es, kw + " array");
      }
    } else if (v.type == GgufValueType::STRING) {
      v.offset = c.pos();
      c.skip_str(kw);
    } else {
      v.offset = c.pos();
      c.take(scalar_size(v.type), kw);
    }
    if (!values_.emplace(key, v).second) fail(path, kw + " appears twice");
    key_order_.push_back(std::move(key));
  }

  if (has("general.alignment")) {
    int64_t a = get_int("general.alignment");
    if (a <= 0 || (a & (a - 1)) != 0 || a > (1 << 20)) {
      fail(path, "general.alignment " + std::to_string(a) + " is not a power of two in [1, 2^20]");
    }
    alignment_ = static_cast<uint64_t>(a);
  }

  // ---- tensor infos ----
  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo ti;
    ti.name = c.str("tensor info " + std::to_string(i) + " name");
    const std::string tw = "tensor '" + ti.name + "'";
    uint32_t nd = c.u32(tw + " dimension count");
    if (nd == 0 || nd > kMaxDims) {
      fail(path, tw + " has " + std::to_string(nd) + " dimensions (expected 1 to 4)");
    }
    int64_t numel = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      uint64_t n = c.u64(tw + " dimension");
      // Each dim and the running product stay below 2^62 so the byte counts below cannot overflow.
      constexpr uint64_t kLimit = uint64_t(1) << 62;
      if (n >= kLimit || (n != 0 && static_cast<uint64_t>(numel) >= kLimit / n)) {
        fail(path, tw + " has an absurd dimension " + std::to_string(n) + " (corrupted file?)");
      }
      ti.dims.push_back(static_cast<int64_t>(n));
      numel *= static_cast<int64_t>(n);
    }
    ti.type = c.u32(tw + " type");
    GgmlTypeTraits tt = ggml_type_traits(ti.type);
    if (!tt.name) fail(path, tw + " has unknown ggml type id " + std::to_string(ti.type));
    ti.type_name = tt.name;
    if (ti.dims[0] % tt.block_size != 0) {
      fail(path, tw + " has rows of " + std::to_string(ti.dims[0]) + " weights, not a multiple of " +
                     ti.type_name + "'s block size " + std::to_string(tt.block_size));
    }
    // Checked before multiplying: numel < 2^62 times an 8-byte type could wrap around 2^64.
    const uint64_t blocks = static_cast<uint64_t>(numel) / tt.block_size;
    if (blocks > f.size() / tt.type_size) {
      fail(path, tw + " needs " + std::to_string(blocks) + " blocks of " + std::to_string(tt.type_size) +
                     " bytes, which cannot fit in the file of " + std::to_string(f.size()) + " bytes");
    }
    ti.nbytes = blocks * tt.type_size;
    ti.offset = c.u64(tw + " offset");  // relative to the data section for now
    if (ti.offset % alignment_ != 0) {
      fail(path, tw + " data offset " + std::to_string(ti.offset) + " is not a multiple of the alignment " +
                     std::to_string(alignment_));
    }
    if (!tensor_index_.emplace(ti.name, tensors_.size()).second) fail(path, tw + " appears twice");
    tensors_.push_back(std::move(ti));
  }

  // ---- data section: every tensor inside the file, none overlapping ----
  data_offset_ = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
  const uint64_t size = f.size();
  for (GgufTensorInfo& ti : tensors_) {
    const uint64_t rel = ti.offset;
    if (data_offset_ > size || rel > size - data_offset_ || ti.nbytes > size - data_offset_ - rel) {
      fail(path, "tensor '" + ti.name + "' data [" + std::to_string(rel) + ", " +
                     std::to_string(rel + ti.nbytes) + ") relative to the data section at " +
                     std::to_string(data_offset_) + " lies outside the file of " +
                     std::to_string(size) + " bytes (truncated or corrupted?)");
    }
    ti.offset = data_offset_ + rel;
  }
  std::vector<const GgufTensorInfo*> by_offset;
  for (const GgufTensorInfo& ti : tensors_) by_offset.push_back(&ti);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const GgufTensorInfo &a = *by_offset[i - 1], &b = *by_offset[i];
    if (a.offset + a.nbytes > b.offset) {
      fail(path, "tensors '" + a.name + "' and '" + b.name + "' overlap in the data section");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// metadata access

void GgufReader::fail_key(const std::string& key, const std::string& what) const {
  fail(path(), "metadata key '" + key + "' " + what);
}

const GgufReader::Value& GgufReader::value(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) fail_key(key, "is missing");
  return it->second;
}

std::vector<std::string> GgufReader::keys() const { return key_order_; }
bool GgufReader::has(const std::string& key) const { return values_.count(key) != 0; }
GgufValueType GgufReader::type(const std::string& key) const { return value(key).type; }

GgufValueType GgufReader::array_type(const std::string& key) const {
  const Value& v = value(key);
  if (v.type != GgufValueType::ARRAY) {
    fail_key(key, std::string("is ") + gguf_value_type_name(v.type) + ", expected an array");
  }
  return v.elem_type;
}

uint64_t GgufReader::array_size(const std::string& key) const {
  array_type(key);
  return value(key).count;
}

std::string GgufReader::get_string(const std::string& key) const {
  const Value& v = value(key);
  if (v.type != GgufValueType::STRING) {
    fail_key(key, std::string("is ") + gguf_value_type_name(v.type) + ", expected STRING");
  }
  const uint8_t* p = file_->data() + v.offset;
  uint64_t n = load_le<uint64_t>(p);
  return std::string(reinterpret_cast<const char*>(p + 8), n);
}

int64_t GgufReader::get_int(const std::string& key) const {
  const Value& v = value(key);
  if (!is_integer(v.type)) {
    fail_key(key, std::string("is ") + gguf_value_type_name(v.type) + ", expected an integer");
  }
  int64_t out = 0;
  if (!read_int(v.type, file_->data() + v.offset, &out)) fail_key(key, "does not fit in int64");
  return out;
}

double GgufReader::get_float(const std::string& key) const {
  const Value& v = value(key);
  if (!is_float(v.type) && !is_integer(v.type)) {
    fail_key(key, std::string("is ") + gguf_value_type_name(v.type) + ", expected a number");
  }
  return read_number(v.type, file_->data() + v.offset);
}

bool GgufReader::get_bool(const std::string& key) const {
  const Value& v = value(key);
  if (v.type != GgufValueType::BOOL) {
    fail_key(key, std::string("is ") + gguf_value_type_name(v.type) + ", expected BOOL");
  }
  return file_->data()[v.offset] != 0;
}

std::vector<std::string> GgufReader::get_string_array(const std::string& key) const {
  const Value& v = value(key);
  if (v.type != GgufValueType::ARRAY || v.elem_type != GgufValueType::STRING) {
    fail_key(key, "is not an array of STRING");
  }
  std::vector<std::string> out;
  out.reserve(v.count);
  const uint8_t* p = file_->data() + v.offset;  // lengths were validated when the file was opened
  for (uint64_t i = 0; i < v.count; ++i) {
    uint64_t n = load_le<uint64_t>(p);
    out.emplace_back(reinterpret_cast<const char*>(p + 8), n);
    p += 8 + n;
  }
  return out;
}

std::vector<double> GgufReader::get_float_array(const std::string& key) const {
  const Value& v = value(key);
  if (v.type != GgufValueType::ARRAY || !(is_float(v.elem_type) || is_integer(v.elem_type))) {
    fail_key(key, "is not an array of numbers");
  }
  std::vector<double> out(v.count);
  const uint64_t es = scalar_size(v.elem_type);
  const uint8_t* p = file_->data() + v.offset;
  for (uint64_t i = 0; i < v.count; ++i) out[i] = read_number(v.elem_type, p + i * es);
  return out;
}

std::vector<int64_t> GgufReader::get_int_array(const std::string& key) const {
  const Value& v = value(key);
  if (v.type != GgufValueType::ARRAY || !is_integer(v.elem_type)) {
    fail_key(key, "is not an array of integers");
  }
  std::vector<int64_t> out(v.count);
  const uint64_t es = scalar_size(v.elem_type);
  const uint8_t* p = file_->data() + v.offset;
  for (uint64_t i = 0; i < v.count; ++i) {
    if (!read_int(v.elem_type, p + i * es, &out[i])) {
      fail_key(key, "element " + std::to_string(i) + " does not fit in int64");
    }
  }
  return out;
}

std::string GgufReader::describe(const std::string& key) const {
  const Value& v = value(key);
  auto quote = [](std::string s) {
    bool cut = s.size() > 60;
    if (cut) s.resize(60);
    return "\"" + s + (cut ? "...\"" : "\"");
  };
  auto scalar = [&](GgufValueType t, const uint8_t* p) -> std::string {
    if (t == GgufValueType::BOOL) return *p ? "true" : "false";
    if (is_float(t)) {
      std::ostringstream ss;
      ss << read_number(t, p);
      return ss.str();
    }
    if (t == GgufValueType::UINT64) return std::to_string(load_le<uint64_t>(p));
    int64_t x = 0;
    read_int(t, p, &x);
    return std::to_string(x);
  };
  const uint8_t* p = file_->data() + v.offset;
  if (v.type == GgufValueType::STRING) return quote(get_string(key));
  if (v.type != GgufValueType::ARRAY) return scalar(v.type, p);
  std::string out = std::string("[") + gguf_value_type_name(v.elem_type) + " x " +
                    std::to_string(v.count) + "]";
  const uint64_t shown = std::min<uint64_t>(v.count, 5);
  for (uint64_t i = 0; i < shown; ++i) {
    out += i == 0 ? " " : ", ";
    if (v.elem_type == GgufValueType::STRING) {
      uint64_t n = load_le<uint64_t>(p);
      out += quote(std::string(reinterpret_cast<const char*>(p + 8), n));
      p += 8 + n;
    } else {
      out += scalar(v.elem_type, p);
      p += scalar_size(v.elem_type);
    }
  }
  if (v.count > shown) out += ", ...";
  return out;
}

// ---------------------------------------------------------------------------------------------
// tensors

bool GgufReader::has_tensor(const std::string& name) const { return tensor_index_.count(name) != 0; }

const GgufTensorInfo& GgufReader::tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  if (it == tensor_index_.end()) fail(path(), "tensor '" + name + "' is not in the file");
  return tensors_[it->second];
}

const uint8_t* GgufReader::tensor_data(const std::string& name) const {
  return file_->data() + tensor(name).offset;
}

torch::Tensor GgufReader::load_f32(const std::string& name) const {
  const GgufTensorInfo& ti = tensor(name);
  if (!ggml_can_dequantize(ti.type)) {
    fail(path(), "tensor '" + name + "' has type " + ti.type_name +
                     ", which ptq cannot convert to fp32 (supported: " + ggml::readable_type_names() + ")");
  }
  torch::Tensor out = torch::empty(ti.shape(), torch::kFloat32);
  const int64_t row = ti.dims[0], rows = row == 0 ? 0 : ti.numel() / row;
  const GgmlTypeTraits tt = ggml_type_traits(ti.type);
  const uint64_t row_bytes = static_cast<uint64_t>(row) / tt.block_size * tt.type_size;
  const uint8_t* src = file_->data() + ti.offset;
  float* dst = out.data_ptr<float>();
  // Rows are independent; the grain keeps small tensors on one thread.
  at::parallel_for(0, rows, std::max<int64_t>(1, 65536 / std::max<int64_t>(row, 1)),
                   [&](int64_t r0, int64_t r1) {
                     for (int64_t r = r0; r < r1; ++r) {
                       ggml_dequantize_row(ti.type, src + r * row_bytes, dst + r * row, row);
                     }
                   });
  return out;
}

}  // namespace ptq::io
