// Helpers shared by the byte-level BPE tests: reading files and llama.cpp's tokenizer test vectors.
#pragma once
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "support/llamacpp_vectors.hpp"

namespace ptq::test::bpe {

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using ::ptq::test::read_llamacpp_vectors;

inline std::string show_ids(const std::vector<int>& ids) {
  std::string s;
  for (int id : ids) s += std::to_string(id) + " ";
  return s;
}

}  // namespace ptq::test::bpe
