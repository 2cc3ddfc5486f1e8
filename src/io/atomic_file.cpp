#include "io/atomic_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "io/staged_directory.hpp"

namespace ptq::io {

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  tmp_ = path + ".tmp." + std::to_string(::getpid());
  f_ = std::fopen(tmp_.c_str(), "wb");
  if (!f_) fail(path, std::string("cannot create temporary file: ") + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (f_) std::fclose(f_);
  if (!committed_) std::remove(tmp_.c_str());
}

namespace {
// A fault injected by a test (io::fault_point) fails the call as the system would, with `err`.
bool injected(const char* point, int err) {
  if (!fault_point(point)) return false;
  errno = err;
  return true;
}
}  // namespace

void AtomicFile::write(const void* data, size_t n) {
  if (n == 0) return;
  if (injected("atomic-file:write", ENOSPC) || std::fwrite(data, 1, n, f_) != n) {
    fail(path_, std::string("write failed: ") + std::strerror(errno));
  }
  written_ += n;
}

void AtomicFile::commit() {
  if (std::fflush(f_) != 0 || ::fsync(::fileno(f_)) != 0 || injected("atomic-file:fsync", EIO)) {
    fail(path_, std::string("flush failed: ") + std::strerror(errno));
  }
  std::fclose(f_);
  f_ = nullptr;
  if (injected("atomic-file:rename", EXDEV) || std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    fail(path_, std::string("rename from temporary file failed: ") + std::strerror(errno));
  }
  committed_ = true;
  // The rename is durable only once the directory holding it is on disk.
  const std::string parent = std::filesystem::path(path_).parent_path().string();
  fsync_directory(parent.empty() ? "." : parent);
}

void write_file_atomically(const std::string& path, const std::string& content) {
  AtomicFile f(path);
  f.write(content);
  f.commit();
}

std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace ptq::io
