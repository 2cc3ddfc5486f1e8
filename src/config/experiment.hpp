// A YAML experiment: the model; calibration (text, n_samples, seqlen, seed, sampling, mode); a
// pipeline of algorithm steps (config/pipeline_steps: `{algorithm: NAME, ...params}`); evaluation
// (perplexity texts and protocol, KL divergence to the FP model); export targets; and a `sweep:`
// grid over any key paths that makes one run (a Point) per combination. `extends:` and `-o`
// overrides are assembled first (config/yaml_tree). Paths are relative to the file that names them.
// Every point is validated before any work starts; a mistake names file:line:col and key path.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "config/pipeline_steps.hpp"

namespace ptq::config {

struct CalibrationSpec {
  std::string text;  // empty: no calibration (data-free steps only)
  std::string field = "text";  // jsonl field
  int n_samples = 128;
  int seqlen = 2048;
  uint64_t seed = 0;
  std::string sampling = "random";    // random | consecutive
  std::string mode = "sequential";    // sequential (GPTQ's reference) | one-shot (FP activations)
  bool true_sequential = true;
  bool fp64_hessian = false;
  int batch = 0;
};

struct PerplexitySpec {
  std::vector<std::string> texts;
  std::string protocol = "llamacpp";
  int seqlen = 256;
  int batch = 8;
  int max_windows = 0;
};

// eval.kv_cache: keys and values fake-quantized as they enter the cache (model/kv_quant).
struct KvCacheSpec {
  int bits = 0;        // 0: floating point
  int group_size = 0;  // channels per group within a head (0: the whole head)
};

// eval.tasks: lm-evaluation-harness style task accuracy (eval/tasks).
struct TasksSpec {
  std::vector<std::string> names;  // "name" or "name=path"
  std::string task_dir;
  int limit = 0, num_fewshot = 0;
  uint64_t fewshot_seed = 1234;
  bool skip_bad_rows = false;
};

struct GenerateSpec {
  bool enabled = false;
  std::string prompt;
  int max_tokens = 48;
};

// An export of the run's model (the quantized one when the pipeline quantizes: its dequantized
// weights re-encoded in `type`, exact for f32/f16, a second rounding for q8_0/q4_0).
struct ExportSpec {
  std::string format = "gguf";  // gguf | gptq | awq | hf-fp16
  std::string type = "f16";
  std::string fallback = "f16";  // rows that are not whole blocks: f16 | f32 | none (an error)
  std::vector<std::string> overrides;  // REGEX=TYPE on GGUF tensor names, the last match wins
  // gptq / awq / hf-fp16 (Hugging Face checkpoint directories, export/hf_gptq_export.hpp):
  std::string checkpoint_format = "gptq";  // gptq (v1) | gptq_v2
  std::string unaligned = "fail";          // fail | fp16
};

struct Experiment {
  std::string file;
  std::string name;
  std::string model, tokenizer;
  std::string output = "runs";
  int threads = 0;
  CalibrationSpec calibration;
  std::vector<StepSpec> pipeline;
  PerplexitySpec perplexity;
  bool kl_divergence = false;  // eval.kl_divergence: KL to the FP model on the perplexity texts
  bool baseline = true;        // eval.baseline: evaluate the FP model as a run of its own
  KvCacheSpec kv_cache;
  TasksSpec tasks;
  GenerateSpec generate;
  std::vector<ExportSpec> exports;

  bool quantizes() const { return !pipeline.empty(); }
  const StepSpec& quantizer() const { return pipeline.back(); }
};

// One run of an experiment: the sweep's values for it and the experiment they make.
struct Point {
  std::string id;  // directory name: "gptq_bits=3_group_size=128", "run" without a sweep
  nlohmann::json values = nlohmann::json::object();  // key path -> value
  Experiment x;
};

struct Plan {
  std::string file, name, output;
  std::vector<std::string> sweep_keys;
  std::vector<Point> points;
};

// Loads `path` (with its extends chain), applies the overrides, expands the sweep and validates
// every point. Throws ptq::Error naming file:line:col and key path.
Plan load_plan(const std::string& path, const std::vector<std::string>& overrides = {});
// A file without a sweep, as one experiment.
Experiment load_experiment(const std::string& path, const std::vector<std::string>& overrides = {});

// The resolved experiment with every default: canonical JSON (hashed for resume) and YAML (a
// standalone experiment file: absolute paths, no extends, no sweep).
nlohmann::json to_json(const Experiment& x);
std::string to_yaml(const Experiment& x);

}  // namespace ptq::config
