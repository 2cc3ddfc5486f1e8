// Access to ../shared/data for tests. A test that needs a shared file calls SHARED_FILE(var, rel):
// when the file is absent the test returns early with a clear message, unless PTQ_REQUIRE_SHARED=1
// (CI), where a missing file fails the test.
#pragma once
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace ptq::test {

inline std::string shared_dir() {
  if (const char* d = std::getenv("PTQ_SHARED_DIR")) return d;
  return std::string(PTQ_SOURCE_DIR) + "/../shared/data";
}

inline bool shared_required() {
  const char* r = std::getenv("PTQ_REQUIRE_SHARED");
  return r && std::string(r) == "1";
}

// A scratch directory under the build tree, fresh for each call with a distinct name.
inline std::string scratch_dir(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path base = fs::temp_directory_path() / "ptq-tests";
  if (const char* b = std::getenv("PTQ_BUILD_DIR")) base = fs::path(b) / "test-scratch";
  fs::path p = base / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

}  // namespace ptq::test

#define SHARED_FILE(var, rel)                                                                  \
  const std::string var = ::ptq::test::shared_dir() + "/" + (rel);                              \
  if (!std::filesystem::exists(var)) {                                                          \
    if (::ptq::test::shared_required()) {                                                       \
      FAIL("missing shared data file " << var << " (PTQ_REQUIRE_SHARED=1)");                    \
    }                                                                                           \
    WARN("SKIPPED: shared data file " << var << " is absent (set PTQ_REQUIRE_SHARED=1 to fail)"); \
    return;                                                                                     \
  }
