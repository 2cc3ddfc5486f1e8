// Outputs never destroy data (issue 17): what StagedDirectory refuses, and what a killed or failing
// writer leaves behind — at every step of a commit, the earlier output is intact or the new one is
// complete, never neither. Killed writers are real processes (ptq convert) killed by SIGKILL at the
// step named by PTQ_FAULT.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/byte_builder.hpp"
#include "io/staged_directory.hpp"
#include "support/run_ptq.hpp"
#include "support/shared_data.hpp"

using namespace ptq;
namespace fs = std::filesystem;

namespace {

void put(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
std::string get(const fs::path& p) { return io::read_text_file(p.string()); }

// Writes a one-file output holding `text`.
void write_output(const std::string& out, const std::string& text, const std::vector<std::string>& inputs = {}) {
  io::StagedDirectory s(out, "test output", inputs);
  io::write_file_atomically(s.file("data.txt"), text);
  s.commit();
}

std::vector<std::string> siblings(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("an output replaces only what ptq wrote, and never what it reads", "[io][staged][bad]") {
  const fs::path dir = test::scratch_dir("staged-refuse");
  const std::string out = (dir / "out").string();

  write_output(out, "first");  // a new output
  CHECK(get(dir / "out" / "data.txt") == "first");
  CHECK(fs::exists(dir / "out" / io::kOutputMarker));
  write_output(out, "second");  // ptq's own output is replaced
  CHECK(get(dir / "out" / "data.txt") == "second");
  CHECK(siblings(dir) == std::vector<std::string>{".out.ptq-lock", "out"});  // nothing left over

  fs::create_directories(dir / "empty");  // an empty directory the user made is fine
  write_output((dir / "empty").string(), "x");
  CHECK(get(dir / "empty" / "data.txt") == "x");

  fs::create_directories(dir / "mine");  // a user's directory is refused, untouched
  put(dir / "mine" / "notes.txt", "keep me");
  REQUIRE_PTQ_ERROR(write_output((dir / "mine").string(), "x"), "test output: exists and was not written by ptq",
                    "refusing to replace it");
  CHECK(get(dir / "mine" / "notes.txt") == "keep me");
  CHECK(siblings(dir / "mine") == std::vector<std::string>{"notes.txt"});
  put(dir / "file", "a file");
  REQUIRE_PTQ_ERROR(write_output((dir / "file").string(), "x"), "exists and is not a directory");
  CHECK(get(dir / "file") == "a file");

  // The output is, holds, or lies inside an input.
  fs::create_directories(dir / "model" / "sub");
  put(dir / "model" / "weights.bin", "w");
  REQUIRE_PTQ_ERROR(write_output((dir / "model").string(), "x", {(dir / "model").string()}), "the output is the input");
  REQUIRE_PTQ_ERROR(write_output((dir / "model" / "sub" / "q").string(), "x", {(dir / "model").string()}),
                    "the output lies inside the input");
  REQUIRE_PTQ_ERROR(write_output(dir.string(), "x", {(dir / "model" / "weights.bin").string()}),
                    "the output contains the input");
  REQUIRE_PTQ_ERROR(write_output((dir / "model" / "." / "sub" / ".." ).string(), "x", {(dir / "model").string()}),
                    "the output is the input");
  CHECK(get(dir / "model" / "weights.bin") == "w");
}

TEST_CASE("one writer per output: the second is told who holds it", "[io][staged][bad]") {
  const fs::path dir = test::scratch_dir("staged-lock");
  const std::string out = (dir / "out").string();
  io::StagedDirectory first(out, "test output");
  const std::string held = "another ptq process (pid " + std::to_string(::getpid()) + ") is writing this output";
  REQUIRE_PTQ_ERROR(io::StagedDirectory(out, "test output"), held.c_str());
  io::write_file_atomically(first.file("data.txt"), "one");
  first.commit();
  CHECK(get(dir / "out" / "data.txt") == "one");
}

TEST_CASE("a failed write leaves the earlier output and no partial files", "[io][staged][bad]") {
  const fs::path dir = test::scratch_dir("staged-fail");
  const std::string out = (dir / "out").string();
  write_output(out, "earlier");
  for (const char* fault : {"atomic-file:write", "atomic-file:fsync", "atomic-file:rename", "staged:fsync", "staged:no-exchange"}) {
    INFO(fault);
    ::setenv("PTQ_FAULT", fault, 1);
    const bool expect_success = std::string(fault) == "staged:no-exchange";  // the fallback path still works
    try {
      write_output(out, std::string("new ") + fault);
      CHECK(expect_success);
    } catch (const Error& e) {
      CHECK_FALSE(expect_success);
      const std::string msg = e.what();
      CHECK((msg.find("No space left on device") != std::string::npos || msg.find("failed") != std::string::npos));
    }
    ::unsetenv("PTQ_FAULT");
    CHECK(get(dir / "out" / "data.txt") == (expect_success ? std::string("new ") + fault : std::string("earlier")));
    CHECK(siblings(dir) == std::vector<std::string>{".out.ptq-lock", "out"});
  }
}

TEST_CASE("a writer killed at any step of its commit leaves an old or a new output, never neither",
          "[io][staged][kill]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  SHARED_FILE(tok, "models/tok512.model");
  const fs::path dir = test::scratch_dir("staged-kill");
  const std::string out = (dir / "hf").string();
  auto convert = [&](const std::string& env, const char* dtype) {
    return test::run_ptq_with_env(env, "convert --model " + bin + " --tokenizer " + tok + " --dtype " + dtype + " --out " + out);
  };
  REQUIRE(convert("", "f32").status == 0);
  const auto f32_size = fs::file_size(dir / "hf" / "model.safetensors");
  for (const std::string fault : {"staged:before-swap:kill", "staged:after-swap:kill", "atomic-file:write"}) {
    INFO(fault);
    const test::PtqRun killed = convert("PTQ_FAULT=" + fault, "f16");
    INFO(killed.output);
    CHECK(killed.status == (fault == "atomic-file:write" ? 1 : 128 + SIGKILL));
    // Right after the kill: the earlier (f32) or the new (f16) output, complete.
    REQUIRE(fs::exists(dir / "hf" / "model.safetensors"));
    const auto size = fs::file_size(dir / "hf" / "model.safetensors");
    CHECK((size == f32_size || size < f32_size * 6 / 10));  // f32, or f16 (half the data, same header)
    CHECK(fs::exists(dir / "hf" / "config.json"));
    // The next writer cleans up after the dead one and succeeds.
    const test::PtqRun next = convert("", "f32");
    CHECK(next.status == 0);
    CHECK(fs::file_size(dir / "hf" / "model.safetensors") == f32_size);
    CHECK(siblings(dir) == std::vector<std::string>{".hf.ptq-lock", "hf"});
  }
  // Where the file system has no atomic exchange, a kill between setting the earlier output aside
  // and renaming the new one in leaves no `hf` for a moment: the next writer puts it back first.
  const test::PtqRun killed = convert("PTQ_FAULT=staged:no-exchange,staged:after-aside:kill", "f16");
  CHECK(killed.status == 128 + SIGKILL);
  CHECK_FALSE(fs::exists(dir / "hf"));
  const auto left = siblings(dir);
  REQUIRE(left.size() == 3);  // the lock, hf.old-<pid> and hf.partial-<pid>
  CHECK(left[1].rfind("hf.old-", 0) == 0);
  const test::PtqRun next = convert("", "f32");
  CHECK(next.status == 0);
  CHECK_THAT(next.output, Catch::Contains("ptq: restored " + out + " (set aside by an interrupted run"));
  CHECK(fs::file_size(dir / "hf" / "model.safetensors") == f32_size);
  CHECK(siblings(dir) == std::vector<std::string>{".hf.ptq-lock", "hf"});
}
