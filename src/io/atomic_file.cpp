#include "io/atomic_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"

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

void AtomicFile::write(const void* data, size_t n) {
  if (n == 0) return;
  if (std::fwrite(data, 1, n, f_) != n) {
    fail(path_, std::string("write failed: ") + std::strerror(errno));
  }
  written_ += n;
}

void AtomicFile::commit() {
  if (std::fflush(f_) != 0 || ::fsync(::fileno(f_)) != 0) {
    fail(path_, std::string("flush failed: ") + std::strerror(errno));
  }
  std::fclose(f_);
  f_ = nullptr;
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    fail(path_, std::string("rename from temporary file failed: ") + std::strerror(errno));
  }
  committed_ = true;
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

void replace_directory(const std::string& staged, const std::string& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string old = out + ".old-" + std::to_string(::getpid());
  const bool had_old = fs::exists(out);
  if (had_old) {
    fs::rename(out, old, ec);
    if (ec) fail(out, "cannot move the earlier output aside: " + ec.message());
  }
  fs::rename(staged, out, ec);
  if (ec) {
    std::error_code ignored;
    if (had_old) fs::rename(old, out, ignored);
    fail(out, "cannot move the output into place: " + ec.message());
  }
  if (had_old) fs::remove_all(old, ec);
}

}  // namespace ptq::io
