#include "io/staged_directory.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "core/error.hpp"
#include "io/atomic_file.hpp"

namespace ptq::io {

namespace fs = std::filesystem;

namespace {

std::string normalized(const std::string& p) {
  std::string s = fs::path(p).lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

bool inside(const fs::path& child, const fs::path& parent) {  // both canonical
  auto c = child.begin();
  for (auto p = parent.begin(); p != parent.end(); ++p, ++c) {
    if (c == child.end() || *c != *p) return false;
  }
  return true;
}

bool process_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

// "<name>.partial-<pid>" / "<name>.old-<pid>" -> pid, else -1.
long leftover_pid(const std::string& entry, const std::string& name, const char* kind) {
  const std::string prefix = name + kind;
  if (entry.size() <= prefix.size() || entry.compare(0, prefix.size(), prefix) != 0) return -1;
  const std::string digits = entry.substr(prefix.size());
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) return -1;
  return std::stol(digits);
}

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) fail(path, std::string("cannot open to fsync: ") + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 || fault_point("staged:fsync")) fail(path, std::string("fsync failed: ") + std::strerror(rc ? err : EIO));
}

// Removes what writers killed before their commit left beside `out`, and puts back an `out` that a
// killed writer of the two-rename fallback had set aside. Runs under the output's lock.
void recover_leftovers(const std::string& out) {
  const fs::path p(out);
  const fs::path parent = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const std::string name = p.filename().string();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(parent, ec)) {
    const std::string entry = e.path().filename().string();
    const long partial = leftover_pid(entry, name, ".partial-"), old = leftover_pid(entry, name, ".old-");
    const long pid = partial >= 0 ? partial : old;
    if (pid < 0 || pid == ::getpid() || process_alive(pid)) continue;
    std::error_code e2;
    if (old >= 0 && !fs::exists(p, e2)) {
      fs::rename(e.path(), p, e2);
      if (!e2) {
        std::cerr << "ptq: restored " << out << " (set aside by an interrupted run, pid " << pid << ")\n";
        continue;
      }
    }
    fs::remove_all(e.path(), e2);
  }
}

}  // namespace

bool fault_point(const char* name) {
  const char* env = std::getenv("PTQ_FAULT");  // read each time: tests set it per process
  if (!env || !*env) return false;
  const std::string faults = "," + std::string(env) + ",";
  if (faults.find("," + std::string(name) + ",") == std::string::npos) return false;
  const std::string n(name);
  if (n.size() > 5 && n.compare(n.size() - 5, 5, ":kill") == 0) ::raise(SIGKILL);
  return true;
}

void fsync_directory(const std::string& dir) { fsync_path(dir.empty() ? "." : dir, O_RDONLY | O_DIRECTORY); }

void check_output_disjoint(const std::string& out, const std::vector<std::string>& inputs, const std::string& what) {
  std::error_code ec;
  const fs::path o = fs::weakly_canonical(fs::absolute(out), ec);
  for (const std::string& in : inputs) {
    if (in.empty()) continue;
    const fs::path i = fs::weakly_canonical(fs::absolute(in), ec);
    if (ec) continue;
    if (o == i || inside(o, i) || inside(i, o)) {
      fail(out, what + ": the output " + (o == i ? "is" : inside(o, i) ? "lies inside" : "contains") + " the input " +
                    in + "; writing it would replace what is being read. Choose an output elsewhere");
    }
  }
}

OutputLock::OutputLock(const std::string& lock_path, const std::string& target, const std::string& what) {
  fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail(lock_path, std::string("cannot create the lock file: ") + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {0};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    ::close(fd_);
    fd_ = -1;
    fail(target, what + ": another ptq process" + (n > 0 ? " (pid " + std::string(buf, static_cast<size_t>(n)) + ")" : "") +
                     " is writing this output; wait for it to finish or choose another");
  }
  // The pid is only for the message a second writer prints; the flock is the lock.
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) == 0) (void)!::pwrite(fd_, pid.data(), pid.size(), 0);
}

OutputLock::~OutputLock() {
  if (fd_ >= 0) ::close(fd_);
}

StagedDirectory::StagedDirectory(const std::string& out, const std::string& what, const std::vector<std::string>& inputs)
    : out_(normalized(out)), what_(what) {
  if (out.empty()) fail(what, "no output directory given");
  check_output_disjoint(out_, inputs, what);
  const fs::path p(out_);
  const fs::path parent = p.has_parent_path() ? p.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) fail(out_, what + ": cannot create its parent directory: " + ec.message());

  lock_ = std::make_unique<OutputLock>((parent / ("." + p.filename().string() + ".ptq-lock")).string(), out_, what);
  recover_leftovers(out_);

  if (fs::exists(p, ec) || fs::is_symlink(p, ec)) {
    if (!fs::is_directory(p, ec) || fs::is_symlink(p, ec)) {
      fail(out_, what + ": exists and is not a directory; refusing to replace it");
    }
    if (!fs::exists(p / kOutputMarker, ec) && !fs::is_empty(p, ec)) {
      fail(out_, what + ": exists and was not written by ptq (it has no " + kOutputMarker +
                     " marker); refusing to replace it. Remove it or choose another output");
    }
  }
  tmp_ = out_ + ".partial-" + std::to_string(::getpid());
  fs::remove_all(tmp_, ec);
  fs::create_directories(tmp_, ec);
  if (ec) fail(out_, what + ": cannot create the staging directory " + tmp_ + ": " + ec.message());
}

StagedDirectory::~StagedDirectory() {
  if (!committed_ && !tmp_.empty()) {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
}

std::string StagedDirectory::file(const std::string& name) const { return (fs::path(tmp_) / name).string(); }

void StagedDirectory::commit() {
  if (committed_) fail(out_, what_ + ": committed twice");
  std::ostringstream marker;
  marker << "{\"written_by\": \"ptq\", \"version\": \"" << PTQ_VERSION << "\", \"pid\": " << ::getpid() << "}\n";
  write_file_atomically(file(kOutputMarker), marker.str());
  // Every file and directory of the new output reaches the disk before it takes the name.
  for (const auto& e : fs::recursive_directory_iterator(tmp_)) {
    if (e.is_regular_file()) fsync_path(e.path().string(), O_RDONLY);
    if (e.is_directory()) fsync_directory(e.path().string());
  }
  fsync_directory(tmp_);
  fault_point("staged:before-swap:kill");

  const fs::path p(out_);
  const std::string parent = p.has_parent_path() ? p.parent_path().string() : ".";
  std::error_code ec;
  if (fs::exists(p, ec)) {
    const bool exchange_refused = fault_point("staged:no-exchange") && (errno = EINVAL);
    if (!exchange_refused && ::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, out_.c_str(), RENAME_EXCHANGE) == 0) {
      // The new output has the name; the earlier one now sits at the staging path.
      fault_point("staged:after-swap:kill");
      fsync_directory(parent);
      fs::remove_all(tmp_, ec);
    } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
      // No atomic exchange on this file system: set the earlier output aside, then rename. A kill
      // between the two leaves `<out>.old-<pid>`, which the next writer puts back.
      const std::string old = out_ + ".old-" + std::to_string(::getpid());
      fs::rename(p, old, ec);
      if (ec) fail(out_, what_ + ": cannot move the earlier output aside: " + ec.message());
      fault_point("staged:after-aside:kill");
      fs::rename(tmp_, p, ec);
      if (ec) {
        std::error_code ignored;
        fs::rename(old, p, ignored);
        fail(out_, what_ + ": cannot move the output into place: " + ec.message());
      }
      fsync_directory(parent);
      fs::remove_all(old, ec);
    } else {
      fail(out_, what_ + ": cannot move the output into place: " + std::strerror(errno));
    }
  } else {
    if (fault_point("staged:rename") || ::rename(tmp_.c_str(), out_.c_str()) != 0) {
      fail(out_, what_ + ": cannot move the output into place: " + std::strerror(errno ? errno : EIO));
    }
    fsync_directory(parent);
  }
  committed_ = true;
}

}  // namespace ptq::io
