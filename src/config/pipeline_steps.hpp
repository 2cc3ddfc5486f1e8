// The algorithm steps an experiment's `pipeline:` may hold, as data: each step is
// `{algorithm: NAME, ...params}` and the table below says, per algorithm, which parameters it
// takes, their types, ranges and defaults. A step may also hold a section per algorithm,
// `{algorithm: gptq, bits: 4, gptq: {act_order: true}}`, whose parameters apply only when that
// algorithm is selected (a sweep over algorithms carries each one's options that way). Adding an algorithm to experiments is one entry here
// (plus its registry entry in algorithms/registry.cpp).
//   kind "quantizer": the step that quantizes the linear layers (rtn, gptq; exactly one, last).
//     Its grid parameters (bits, group_size, sym, mse) form the IntGrid, the rest are the
//     algorithm's options (algorithms/registry.cpp make_algorithm).
//   kind "transform": an equivalence transform run before the quantizer (smoothquant, awq); the
//     entries join the table with QuantizeSpec's list of transforms.
//   kind "mixed": mixed_precision, right before the quantizer: per-linear grids under a budget
//     (its options: target_bpw | target_size, candidates, cost, windows, refine).
//   Quantizers also take `dtype` (int | nf4 | fp4 | fp8_e4m3 | fp8_e5m2, part of the grid) and the
//   activation quantization recorded for evaluation (act_bits, act_scheme, act_percentile: W8A8 is
//   `{algorithm: rtn, bits: 8, act_bits: 8}`); SmoothQuant's alpha search measures with the latter.
#pragma once
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "config/yaml_schema.hpp"

namespace ptq::config {

struct ParamSpec {
  enum class Type { Int, Double, Bool, Choice, ChoiceList, Path };  // ChoiceList: a list of `choices`; Path: a file
  std::string name;
  Type type = Type::Int;
  double lo = 0, hi = 0;                 // Int, Double: allowed range (inclusive)
  std::vector<std::string> choices;      // Choice, ChoiceList
  nlohmann::json fallback;               // the default
  bool grid = false;                     // part of the IntGrid, not an algorithm option
  bool act = false;                      // activation quantization (ActQuantSpec), not an option
};

struct StepKind {
  std::string algorithm;
  std::string kind;  // "quantizer" | "transform" | "mixed"
  std::vector<ParamSpec> params;
};

const std::vector<StepKind>& step_table();
std::vector<std::string> step_algorithms();

// One validated pipeline step: every parameter of its table entry, defaults filled in.
struct StepSpec {
  std::string algorithm;
  std::string kind;
  nlohmann::json grid = nlohmann::json::object();     // bits, group_size, sym, mse, dtype
  nlohmann::json options = nlohmann::json::object();  // the algorithm's own options
  nlohmann::json act = nlohmann::json::object();      // act_bits, act_scheme, act_percentile
};

// Reads `pipeline.<i>` (a mapping with `algorithm:`), naming file:line:col and the key path for an
// unknown algorithm or key (did-you-mean), a wrong type or a value out of range.
StepSpec read_step(const YamlContext& ctx, const YAML::Node& node, const std::string& path);

}  // namespace ptq::config
