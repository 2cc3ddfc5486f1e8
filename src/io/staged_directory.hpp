// How ptq writes an output directory (a quantized model, an export, a converted model) without ever
// losing what the user had:
//  - the files go into `<out>.partial-<pid>` beside it, and only a complete directory takes the
//    name `out`, swapped in with one atomic exchange (renameat2 RENAME_EXCHANGE) where the file
//    system has it, so there is no moment without an `out`;
//  - an existing `out` is replaced only when ptq wrote it (it holds the marker file
//    `.ptq-output`) or it is empty; anything else is refused before any work starts;
//  - an output that is, holds or lies inside one of the run's inputs is refused;
//  - one writer at a time: a lock file `.<name>.ptq-lock` beside `out` (flock), and a second
//    writer is told the pid that holds it;
//  - files, the directory and its parent are fsynced before the output counts as written;
//  - leftovers of a writer that was killed (`.partial-<pid>` / `.old-<pid>` of dead processes) are
//    removed, and an `out` set aside by a killed writer of the two-rename fallback is restored.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace ptq::io {

// The marker a ptq output directory holds.
inline constexpr const char* kOutputMarker = ".ptq-output";

// An exclusive lock on `target` through the lock file `lock_path` (flock, released when the
// object dies or the process does). A second holder fails naming `target`, `what` and the pid
// holding it.
class OutputLock {
 public:
  OutputLock(const std::string& lock_path, const std::string& target, const std::string& what);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

 private:
  int fd_ = -1;
};

class StagedDirectory {
 public:
  // `what` names the output in messages ("--out", "export"); `inputs` are the paths the run reads.
  // Throws ptq::Error before creating anything when `out` may not be written.
  StagedDirectory(const std::string& out, const std::string& what, const std::vector<std::string>& inputs = {});
  ~StagedDirectory();  // removes the staging directory unless commit() ran; releases the lock
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;

  const std::string& dir() const { return tmp_; }  // where to write
  const std::string& out() const { return out_; }
  std::string file(const std::string& name) const;
  void commit();  // marker, fsync, swap into place, fsync parent, remove the earlier output

 private:
  std::string out_, tmp_, what_;
  std::unique_ptr<OutputLock> lock_;
  bool committed_ = false;
};

// Throws ptq::Error naming `what` when `out` is one of `inputs`, lies inside one, or holds one.
void check_output_disjoint(const std::string& out, const std::vector<std::string>& inputs, const std::string& what);

// Test hook: when the environment variable PTQ_FAULT names this point, the process fails there
// (points ending in ":kill" die by SIGKILL, as a killed run would; others return true so the caller
// fails as if the system call had, e.g. with ENOSPC). Points: atomic-file:write, atomic-file:fsync,
// atomic-file:rename, staged:fsync, staged:rename, staged:before-swap:kill, staged:after-swap:kill,
// staged:after-aside:kill, and staged:no-exchange (the file system refuses the atomic exchange).
bool fault_point(const char* name);

// fsync of a directory (its entries), so a rename inside it survives a power loss.
void fsync_directory(const std::string& dir);

}  // namespace ptq::io
