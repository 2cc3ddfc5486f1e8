// Text generation with a KV cache: greedy by default, or temperature / top-p sampling from a seeded
// generator, so the same seed gives the same text.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "model/decoder.hpp"

namespace ptq::model {

struct GenerateOptions {
  int max_tokens = 64;
  double temperature = 0.0;  // 0 = greedy
  double top_p = 1.0;
  uint64_t seed = 0;
  int stop_token = -1;       // usually EOS; -1 = none
};

// Returns the new tokens (not the prompt). on_token is called as each token is chosen.
std::vector<int> generate(Model& model, const std::vector<int>& prompt, const GenerateOptions& opt,
                          const std::function<void(int)>& on_token = nullptr);

}  // namespace ptq::model
