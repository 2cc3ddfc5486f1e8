#include "io/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>
#include <cstring>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/gguf_types.hpp"  // fp16_to_f32, bf16_to_f32

namespace ptq::io {

namespace {

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // real headers are kilobytes; beyond is corrupt

struct DtypeEntry {
  const char* name;
  size_t size;
  torch::ScalarType torch_type;
};
constexpr DtypeEntry kDtypes[] = {
    {"F64", 8, torch::kFloat64}, {"F32", 4, torch::kFloat32}, {"F16", 2, torch::kFloat16},
    {"BF16", 2, torch::kBFloat16}, {"I64", 8, torch::kInt64}, {"I32", 4, torch::kInt32},
    {"I16", 2, torch::kInt16},   {"I8", 1, torch::kInt8},     {"U8", 1, torch::kUInt8},
    {"BOOL", 1, torch::kBool},
};

const DtypeEntry* find_dtype(const std::string& name) {
  for (const DtypeEntry& d : kDtypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

}  // namespace

int64_t SafetensorsTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t safetensors_dtype_size(const std::string& dtype) {
  const DtypeEntry* d = find_dtype(dtype);
  return d ? d->size : 0;
}

torch::ScalarType safetensors_dtype_to_torch(const std::string& dtype) {
  const DtypeEntry* d = find_dtype(dtype);
  if (!d) fail("safetensors", "unsupported dtype '" + dtype + "'");
  return d->torch_type;
}

std::string torch_dtype_to_safetensors(torch::ScalarType t) {
  for (const DtypeEntry& d : kDtypes) {
    if (d.torch_type == t) return d.name;
  }
  fail("safetensors", std::string("cannot store torch dtype ") + c10::toString(t));
}

// ---------------------------------------------------------------------------------------------
// reader

SafetensorsReader::SafetensorsReader(const std::string& path)
    : file_(std::make_shared<MappedFile>(path)) {
  const MappedFile& f = *file_;
  if (f.size() < 8) {
    fail(path, "too small for a safetensors file (" + std::to_string(f.size()) +
                   " bytes, the header length alone takes 8)");
  }
  uint64_t header_len;
  std::memcpy(&header_len, f.data(), 8);
  if (header_len > f.size() - 8) {
    fail(path, "header length " + std::to_string(header_len) + " runs past the end of the file (" +
                   std::to_string(f.size()) + " bytes; truncated or not a safetensors file?)");
  }
  if (header_len > kMaxHeaderBytes) {
    fail(path, "header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  }
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = f.size() - data_start;

  // A header is three levels deep; refusing deeper nesting while parsing keeps hostile files from
  // building values that recursive code (dump(), destructors) would walk off the stack. JSON lets
  // an object repeat a key and nlohmann keeps the last one: two entries for one tensor name are an
  // ambiguous file, refused as the format's reference reader does.
  constexpr int kMaxHeaderDepth = 8;
  nlohmann::json header;
  std::set<std::string> keys;
  std::string duplicate;
  const auto check = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth > kMaxHeaderDepth) {
      fail(path, "header JSON nests deeper than " + std::to_string(kMaxHeaderDepth) + " levels");
    }
    if (event == nlohmann::json::parse_event_t::key && depth == 1 && !keys.insert(parsed.get<std::string>()).second) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  try {
    const char* h = reinterpret_cast<const char*>(f.data() + 8);
    header = nlohmann::json::parse(h, h + header_len, check);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("header is not valid JSON: ") + e.what());
  }
  if (!duplicate.empty()) fail(path, "header names '" + duplicate + "' twice");
  if (!header.is_object()) fail(path, "header JSON is not an object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& e = it.value();
    if (name == "__metadata__") {
      if (!e.is_object()) fail(path, "__metadata__ is not an object");
      for (auto m = e.begin(); m != e.end(); ++m) {
        if (!m.value().is_string()) fail(path, "__metadata__ value of '" + m.key() + "' is not a string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string tw = "tensor '" + name + "'";
    if (!e.is_object()) fail(path, tw + ": header entry is not an object");
    SafetensorsTensorInfo ti;
    ti.name = name;

    auto dt = e.find("dtype");
    if (dt == e.end() || !dt->is_string()) fail(path, tw + ": missing or non-string dtype");
    ti.dtype = dt->get<std::string>();
    const size_t item = safetensors_dtype_size(ti.dtype);
    if (item == 0) fail(path, tw + ": unsupported dtype '" + ti.dtype + "'");

    auto sh = e.find("shape");
    if (sh == e.end() || !sh->is_array()) fail(path, tw + ": missing or non-array shape");
    // numel is kept below 2^62 so numel * item cannot overflow.
    constexpr uint64_t kLimit = uint64_t(1) << 62;
    uint64_t numel = 1;
    for (const nlohmann::json& d : *sh) {
      if (!d.is_number_unsigned()) fail(path, tw + ": shape entry " + d.dump() + " is not a non-negative integer");
      uint64_t n = d.get<uint64_t>();
      if (n >= kLimit || (n != 0 && numel >= kLimit / n)) {
        fail(path, tw + ": absurd shape " + sh->dump());
      }
      numel *= n;
      ti.shape.push_back(static_cast<int64_t>(n));
    }

    auto off = e.find("data_offsets");
    if (off == e.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned()) {
      fail(path, tw + ": data_offsets must be [begin, end] with non-negative integers");
    }
    const uint64_t begin = (*off)[0].get<uint64_t>(), end = (*off)[1].get<uint64_t>();
    if (begin > end) fail(path, tw + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] end before they begin");
    if (end > data_size) {
      fail(path, tw + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                     ") lie outside the data region of " + std::to_string(data_size) +
                     " bytes (truncated file?)");
    }
    ti.nbytes = end - begin;
    // numel < 2^62 times an 8-byte item could wrap around 2^64: compare without multiplying first.
    if (numel > ti.nbytes / item || numel * item != ti.nbytes) {
      const std::string need = numel > UINT64_MAX / item ? "more than 2^64" : std::to_string(numel * item);
      fail(path, tw + ": dtype " + ti.dtype + " and shape " + sh->dump() + " need " + need +
                     " bytes but data_offsets span " + std::to_string(ti.nbytes));
    }
    ti.offset = data_start + begin;
    index_.emplace(name, std::move(ti));
  }

  // The data region is the tensors back to back, as the format's reference reader requires: a gap
  // or trailing bytes mean a file written wrongly or tampered with, and an overlap lets two tensors
  // alias. Empty tensors take no bytes but still sit at the running offset.
  std::vector<const SafetensorsTensorInfo*> by_offset;
  for (const auto& [name, ti] : index_) by_offset.push_back(&ti);
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) {
    return a->offset != b->offset ? a->offset < b->offset : a->nbytes < b->nbytes;
  });
  uint64_t next = data_start;
  const SafetensorsTensorInfo* last = nullptr;
  for (const SafetensorsTensorInfo* t : by_offset) {
    if (t->offset < next) {
      fail(path, "tensors '" + last->name + "' and '" + t->name + "' overlap in the data region");
    }
    if (t->offset > next) {
      fail(path, "the data region has " + std::to_string(t->offset - next) + " unused bytes before tensor '" +
                     t->name + "' (at offset " + std::to_string(next - data_start) + ")");
    }
    next = t->offset + t->nbytes;
    if (t->nbytes != 0 || !last) last = t;
  }
  if (next != f.size()) {
    fail(path, "the data region has " + std::to_string(f.size() - next) + " bytes after the last tensor");
  }
}

std::vector<std::string> SafetensorsReader::names() const {
  std::vector<std::string> out;
  out.reserve(index_.size());
  for (const auto& kv : index_) out.push_back(kv.first);
  return out;
}

const SafetensorsTensorInfo& SafetensorsReader::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(path(), "tensor '" + name + "' is not in the file");
  return it->second;
}

torch::Tensor SafetensorsReader::view(const std::string& name) const {
  const SafetensorsTensorInfo& ti = info(name);
  std::shared_ptr<MappedFile> keep = file_;  // the view owns a reference to the mapping
  void* p = const_cast<uint8_t*>(file_->data() + ti.offset);
  if (ti.nbytes == 0) p = nullptr;
  return torch::from_blob(
      p, ti.shape, [keep](void*) mutable { keep.reset(); },
      torch::TensorOptions().dtype(safetensors_dtype_to_torch(ti.dtype)));
}

torch::Tensor SafetensorsReader::load_f32(const std::string& name) const {
  const SafetensorsTensorInfo& ti = info(name);
  torch::Tensor out = torch::empty(ti.shape, torch::kFloat32);
  const uint8_t* src = file_->data() + ti.offset;
  float* dst = out.data_ptr<float>();
  const int64_t n = ti.numel();
  if (ti.dtype == "F32") {
    std::memcpy(dst, src, ti.nbytes);  // memcpy: the source may be unaligned
  } else if (ti.dtype == "F16" || ti.dtype == "BF16") {
    const bool half = ti.dtype == "F16";
    at::parallel_for(0, n, 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = half ? fp16_to_f32(h) : bf16_to_f32(h);
      }
    });
  } else {
    // Integer and F64 tensors are rare (position ids, masks): let torch convert a copy.
    out.copy_(view(name).clone());
  }
  file_->release(ti.offset, ti.nbytes);
  return out;
}

// ---------------------------------------------------------------------------------------------
// writer

void SafetensorsWriter::add(const std::string& name, const torch::Tensor& t) {
  if (name.empty()) fail("safetensors writer", "empty tensor name");
  if (name == "__metadata__") fail("safetensors writer", "'__metadata__' cannot name a tensor");
  if (tensors_.count(name)) fail("safetensors writer", "tensor '" + name + "' added twice");
  if (!t.defined()) fail("safetensors writer", "tensor '" + name + "' is undefined");
  torch_dtype_to_safetensors(t.scalar_type());  // throws for unsupported dtypes
  tensors_.emplace(name, t.to(torch::kCPU).contiguous());
}

void SafetensorsWriter::set_metadata(const std::string& key, const std::string& value) {
  metadata_[key] = value;
}

void SafetensorsWriter::write(const std::string& path) const {
  // nlohmann::json objects are std::maps: keys come out sorted, so the header is deterministic.
  nlohmann::json header = nlohmann::json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors_) {
    const uint64_t nbytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", torch_dtype_to_safetensors(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("cannot encode the safetensors header: ") + e.what());
  }
  // Pad with spaces (allowed trailing JSON whitespace) so the data starts 8-byte aligned.
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t len = text.size();

  AtomicFile out(path);
  out.write(&len, 8);
  out.write(text);
  for (const auto& [name, t] : tensors_) {
    out.write(t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
  }
  out.commit();
}

}  // namespace ptq::io
