// llama.cpp's tokenizer test vectors (<vocab>.inp with <vocab>.out), read exactly as llama.cpp's
// tests/test-tokenizer-0.cpp reads them. Shared by the SentencePiece and BPE tokenizer tests.
#pragma once
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace ptq::test {

inline std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// llama.cpp's tests/test-tokenizer-0.cpp: inputs are separated by "\n__ggml_vocab_test__\n" (a
// trailing separator ends the last case); each .out line, stripped, is the ids separated by spaces.
inline std::vector<std::pair<std::string, std::vector<int>>> read_llamacpp_vectors(const std::string& vocab) {
  const std::string raw = read_whole(vocab + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> inputs;
  for (size_t pos = 0; pos < raw.size();) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      inputs.push_back(raw.substr(pos));
      break;
    }
    inputs.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::ifstream out(vocab + ".out");
  std::vector<std::pair<std::string, std::vector<int>>> cases;
  size_t i = 0;
  for (std::string line; std::getline(out, line); ++i) {
    std::vector<int> ids;
    std::istringstream ls(line);
    for (int id; ls >> id;) ids.push_back(id);
    cases.emplace_back(i < inputs.size() ? inputs[i] : std::string("<missing input>"), std::move(ids));
  }
  if (cases.size() != inputs.size()) cases.clear();  // the caller asserts a non-empty, matched set
  return cases;
}

}  // namespace ptq::test
