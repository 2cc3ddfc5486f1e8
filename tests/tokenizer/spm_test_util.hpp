// Helpers shared by the SentencePiece-tokenizer tests.
#pragma once
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ptq::test {

inline std::string read_whole_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Lines of `text` split on '\n' (without the newline); a trailing newline adds no empty line.
inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

// Index of the first position where a and b differ (min size when one is a prefix of the other).
inline size_t first_difference(const std::vector<int>& a, const std::vector<int>& b) {
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  return i;
}

}  // namespace ptq::test
