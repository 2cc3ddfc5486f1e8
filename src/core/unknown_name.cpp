#include "core/unknown_name.hpp"

#include <algorithm>

namespace ptq {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string unknown_name_message(const std::string& kind, const std::string& name,
                                 const std::vector<std::string>& allowed) {
  std::string best;
  size_t best_d = 3;  // suggest only near misses
  for (const auto& a : allowed) {
    const size_t d = edit_distance(name, a);
    if (d < best_d) best_d = d, best = a;
  }
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  return "unknown " + kind + (best.empty() ? std::string() : " (did you mean '" + best + "'?)") +
         "; allowed: " + list;
}

}  // namespace ptq
