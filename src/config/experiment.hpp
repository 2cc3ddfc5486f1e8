// A YAML experiment. This first schema covers the model, perplexity evaluation and a generation
// sample; calibration, algorithm pipelines, sweeps and exports join it with their issues. Paths are
// relative to the YAML file's directory. Every key is validated before any work starts.
#pragma once
#include <string>
#include <vector>

namespace ptq::config {

struct PerplexitySpec {
  std::vector<std::string> texts;
  std::string protocol = "llamacpp";
  int seqlen = 256;
  int batch = 8;
  int max_windows = 0;
};

struct GenerateSpec {
  bool enabled = false;
  std::string prompt;
  int max_tokens = 48;
};

struct Experiment {
  std::string file;
  std::string name;
  std::string model, tokenizer;
  std::string output = "runs";
  int threads = 0;
  PerplexitySpec perplexity;
  GenerateSpec generate;
};

Experiment load_experiment(const std::string& path);

}  // namespace ptq::config
