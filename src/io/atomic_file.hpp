// Writes a file under a temporary name and renames it into place on commit(), so an interrupted
// writer never leaves a partial file under the final name.
#pragma once
#include <cstdio>
#include <string>

namespace ptq::io {

class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();  // removes the temporary file unless commit() ran
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(const std::string& s) { write(s.data(), s.size()); }
  uint64_t written() const { return written_; }
  const std::string& temp_path() const { return tmp_; }
  void commit();  // flush, fsync, rename

 private:
  std::string path_, tmp_;
  std::FILE* f_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

// Convenience: the whole content at once.
void write_file_atomically(const std::string& path, const std::string& content);
std::string read_text_file(const std::string& path);

}  // namespace ptq::io
