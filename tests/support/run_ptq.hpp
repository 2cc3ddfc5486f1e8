// The ptq binary run as a user runs it (from PTQ_BUILD_DIR, else the source tree's build/), with
// extra environment assignments in front: its exit status (128 + signal when killed) and output.
#pragma once
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <sys/wait.h>

namespace ptq::test {

struct PtqRun {
  int status;
  std::string output;  // stdout and stderr
};

// A shell command's exit status (128 + signal when killed) and its stdout and stderr.
inline PtqRun run_shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int rc = pclose(p);
  return {WIFSIGNALED(rc) ? 128 + WTERMSIG(rc) : WEXITSTATUS(rc), out};
}

inline std::string ptq_binary() {
  const char* build = std::getenv("PTQ_BUILD_DIR");
  return std::string(build ? build : PTQ_SOURCE_DIR "/build") + "/ptq";
}

inline PtqRun run_ptq_with_env(const std::string& env, const std::string& args) {
  const std::string bin = ptq_binary();
  REQUIRE(std::filesystem::exists(bin));
  return run_shell(env + " " + bin + " --threads 1 " + args);
}

}  // namespace ptq::test
