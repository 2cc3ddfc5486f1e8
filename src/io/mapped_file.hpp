// A read-only memory mapping of a whole file. Model weights stay mapped and are only paged in
// when a layer needs them, so opening a 70B checkpoint costs no memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace ptq::io {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

  // Bounds-checked view: throws naming the file when [offset, offset+len) is not inside it.
  const uint8_t* at(uint64_t offset, uint64_t len, const char* what) const;

  // Drops the pages of [offset, offset+len) from this process's resident set once their bytes have
  // been copied out (the page cache keeps them; a later read faults them back in). Without this a
  // layer-by-layer pass over a mapped model would end with the whole file counted in its RSS.
  void release(uint64_t offset, uint64_t len) const;

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace ptq::io
