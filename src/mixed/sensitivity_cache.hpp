// A sensitivity table computed once per model, statistics, text and candidate set and kept in the
// cache (<cache>/sensitivity/<hash>/sensitivity.json), so a sweep over budgets measures it once.
// The hash covers the model's and the text's contents, the statistics file's provenance and every
// setting of the measurement.
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "algorithms/common/int_grid.hpp"

namespace ptq::mixed {

struct SensitivityRequest {
  std::string model, tokenizer;
  std::string stats;       // one-shot statistics (.h5)
  std::string method;      // gptq | rtn | imatrix
  std::vector<std::string> types;
  bool sym = false;        // integer grids
  bool measure = true;     // false: proxy only
  std::string kl_text;     // its last `windows` windows
  std::string protocol = "llamacpp";
  int seqlen = 256, windows = 8;
};

// The table's path, measured now (progress to `log`) or found in the cache.
std::string cached_sensitivity(const SensitivityRequest& r, std::ostream& log);

}  // namespace ptq::mixed
