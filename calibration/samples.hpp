// Calibration samples: windows of `seqlen` tokens cut from a tokenized text. "random" draws each
// window's start uniformly with a seeded generator (the GPTQ convention: n_samples windows from
// random positions); "consecutive" takes the first n_samples non-overlapping windows.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace ptq::calib {

struct SamplingSpec {
  int n_samples = 128;
  int seqlen = 2048;
  std::string method = "random";  // random | consecutive
  uint64_t seed = 0;

  void validate(const std::string& where) const;
};

// [n_samples, seqlen] int64 token ids. Throws naming `where` (the text) when the text is too short,
// saying how many tokens it has and how many the request needs.
torch::Tensor draw_samples(const std::vector<int>& tokens, const SamplingSpec& spec, const std::string& where);

}  // namespace ptq::calib
