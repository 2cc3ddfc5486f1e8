// One exception type for every user-facing failure. Messages name the file, key or layer and the
// problem, so the command line can print them as they are.
#pragma once
#include <stdexcept>
#include <string>

namespace ptq {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// "<where>: <what>", the one shape every error message takes.
[[noreturn]] inline void fail(const std::string& where, const std::string& what) {
  throw Error(where + ": " + what);
}

}  // namespace ptq
