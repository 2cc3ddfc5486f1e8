#include "config/pipeline_steps.hpp"

#include <algorithm>

#include "algorithms/common/act_quant.hpp"
#include "algorithms/awq/awq.hpp"
#include "algorithms/common/int_grid.hpp"
#include "algorithms/gptaq/gptaq.hpp"
#include "algorithms/hqq/hqq.hpp"
#include "algorithms/rotation/rotate_step.hpp"
#include "algorithms/smoothquant/smoothquant.hpp"
#include "core/error.hpp"
#include "core/unknown_name.hpp"
#include "mixed/grid_candidates.hpp"

namespace ptq::config {

namespace {

using T = ParamSpec::Type;

// The IntGrid every quantizer takes (algorithms/common/int_grid.hpp; same defaults as ptq quantize).
std::vector<ParamSpec> grid_params() {
  return {{"bits", T::Int, 2, 8, {}, 4, true},
          {"group_size", T::Int, -1, 1 << 20, {}, 0, true},  // 0: per channel, -1: per tensor
          {"sym", T::Bool, 0, 0, {}, false, true},
          {"mse", T::Bool, 0, 0, {}, false, true},
          {"dtype", T::Choice, 0, 0, algo::grid_dtypes(), "int", true}};
}

// Activation quantization recorded with the quantized model and applied at evaluation.
std::vector<ParamSpec> act_params() {
  ParamSpec bits{"act_bits", T::Int, 0, 16, {}, 0}, scheme{"act_scheme", T::Choice, 0, 0, algo::act_quant_schemes(), "per-token"},
      pct{"act_percentile", T::Double, 1e-9, 100.0, {}, 100.0};
  bits.act = scheme.act = pct.act = true;
  return {bits, scheme, pct};
}

std::vector<ParamSpec> with_grid(std::vector<ParamSpec> own) {
  auto all = grid_params();
  const auto act = act_params();
  all.insert(all.end(), act.begin(), act.end());
  all.insert(all.end(), own.begin(), own.end());
  return all;
}

}  // namespace

const std::vector<StepKind>& step_table() {
  // Defaults come from the algorithms' own option structs, so the two cannot drift apart.
  static const algo::AwqOptions kAwq;
  static const algo::SmoothQuantOptions kSq;
  static const algo::HqqOptions kHqq;
  static const algo::GptaqOptions kGptaq;
  static const std::vector<StepKind> t = {
      {"rtn", "quantizer", with_grid({})},
      {"gptq", "quantizer",
       with_grid({{"block_size", T::Int, 1, 1 << 20, {}, 128},
                  {"damp_percent", T::Double, 0.0, 10.0, {}, 0.01},
                  {"act_order", T::Bool, 0, 0, {}, false},
                  {"static_groups", T::Bool, 0, 0, {}, false}})},
      // GPTAQ (algorithms/gptaq): GPTQ's options and the weight of the FP-input term; needs
      // sequential calibration (read_pipeline refuses one-shot).
      {"gptaq", "quantizer",
       with_grid({{"block_size", T::Int, 1, 1 << 20, {}, kGptaq.gptq.block_size},
                  {"damp_percent", T::Double, 0.0, 10.0, {}, kGptaq.gptq.damp_percent},
                  {"act_order", T::Bool, 0, 0, {}, kGptaq.gptq.act_order},
                  {"static_groups", T::Bool, 0, 0, {}, kGptaq.gptq.static_groups},
                  {"alpha", T::Double, 0.0, 100.0, {}, kGptaq.alpha}})},
      // HQQ (algorithms/hqq): data-free; ranges as its constructor checks them.
      {"hqq", "quantizer",
       with_grid({{"lp_norm", T::Double, 1e-3, 1.0, {}, kHqq.lp_norm},
                  {"beta", T::Double, 1e-6, 1e9, {}, kHqq.beta},
                  {"kappa", T::Double, 1.0, 10.0, {}, kHqq.kappa},
                  {"iters", T::Int, 0, 10000, {}, kHqq.iters},
                  {"early_stop", T::Bool, 0, 0, {}, kHqq.early_stop},
                  {"optimize_scale", T::Bool, 0, 0, {}, kHqq.optimize_scale},
                  {"integer_zero", T::Bool, 0, 0, {}, kHqq.integer_zero}})},
      // Transforms (algorithms/awq, algorithms/smoothquant): options as their constructors read them.
      {"awq", "transform",
       {{"n_grid", T::Int, 1, 1000, {}, kAwq.n_grid},
        {"duo_scaling", T::Bool, 0, 0, {}, kAwq.duo_scaling},
        {"clip", T::Bool, 0, 0, {}, kAwq.clip},
        {"clip_max_shrink", T::Double, 0.0, 1.0, {}, kAwq.clip_max_shrink},
        {"clip_n_grid", T::Int, 1, 1000, {}, kAwq.clip_n_grid},
        {"clip_tokens", T::Int, 1, 1 << 24, {}, kAwq.clip_tokens},
        {"gram_loss", T::Bool, 0, 0, {}, kAwq.gram_loss},
        {"search_tokens", T::Int, 0, 1 << 30, {}, kAwq.search_tokens}}},
      {"smoothquant", "transform",
       {{"alpha", T::Double, 0.0, 1.0, {}, kSq.alpha},
        {"search", T::Bool, 0, 0, {}, kSq.search},
        {"alpha_min", T::Double, 0.0, 1.0, {}, kSq.alpha_min},
        {"alpha_max", T::Double, 0.0, 1.0, {}, kSq.alpha_max},
        {"alpha_step", T::Double, 1e-3, 1.0, {}, kSq.alpha_step}}},
      // Mixed precision (mixed/grid_target_quantize.hpp): right before the quantizer (gptq or rtn),
      // it chooses each linear layer's grid among `candidates` under the budget from a sensitivity
      // table (measured once per model and calibration, cached); cost kl: single-layer KL on the
      // calibration text's last `windows` windows, re-measured as a mix `refine` times; proxy: the
      // Hessian-weighted output error only.
      {"mixed_precision", "mixed",
       {{"target_bpw", T::Double, 0.0, 64.0, {}, 0.0},
        {"target_size", T::Double, 0.0, 1e15, {}, 0.0},
        {"candidates", T::ChoiceList, 0, 0, mixed::known_grid_candidates(), mixed::default_grid_candidates()},
        {"cost", T::Choice, 0, 0, {"kl", "proxy"}, "kl"},
        {"windows", T::Int, 1, 1 << 20, {}, 8},
        {"refine", T::Int, 0, 20, {}, 2},
        // Measured points drawn beside the runs in the report's KL / PPL vs size plots (a CSV:
        // label, bytes, kl, ppl; e.g. llama.cpp's mixes by ptq export + ptq eval --reference).
        {"reference_points", T::Path, 0, 0, {}, ""}}},
      // Model-level, first in the pipeline (algorithms/rotation/rotate_step.hpp).
      {"rotate", "transform",
       {{"seed", T::Int, 0, 2147483647, {}, 0},
        {"online", T::ChoiceList, 0, 0, algo::rotate_online_choices(), algo::rotate_online_choices()}}},
  };
  return t;
}

std::vector<std::string> step_algorithms() {
  std::vector<std::string> out;
  for (const auto& k : step_table()) out.push_back(k.algorithm);
  return out;
}

namespace {

const StepKind& kind_of(const std::string& algorithm) {
  for (const auto& k : step_table()) {
    if (k.algorithm == algorithm) return k;
  }
  fail("algorithm '" + algorithm + "'", "not in the pipeline step table");
}

nlohmann::json read_param(const YamlContext& ctx, const YAML::Node& map, const std::string& prefix, const ParamSpec& prm) {
  switch (prm.type) {
    case T::Int:
      return get_int(ctx, map, prefix, prm.name, prm.fallback.get<int>(), static_cast<int>(prm.lo), static_cast<int>(prm.hi));
    case T::Double:
      return get_double(ctx, map, prefix, prm.name, prm.fallback.get<double>(), prm.lo, prm.hi);
    case T::Bool:
      return get_bool(ctx, map, prefix, prm.name, prm.fallback.get<bool>());
    case T::Path:  // resolved against the YAML file's directory by read_pipeline
      return get_string(ctx, map, prefix, prm.name, prm.fallback.get<std::string>());
    case T::Choice:
      break;
    case T::ChoiceList: {
      if (!map[prm.name]) return prm.fallback;
      nlohmann::json out = nlohmann::json::array();
      for (const auto& v : get_string_list(ctx, map, prefix, prm.name)) {
        if (std::find(prm.choices.begin(), prm.choices.end(), v) == prm.choices.end()) {
          fail(where(ctx, map[prm.name], prefix + prm.name), "'" + v + "': " + unknown_name_message("value", v, prm.choices));
        }
        out.push_back(v);
      }
      return out;
    }
  }
  return get_choice(ctx, map, prefix, prm.name, prm.fallback.get<std::string>(), prm.choices);
}

std::vector<std::string> param_names(const StepKind& k) {
  std::vector<std::string> out;
  for (const auto& p : k.params) out.push_back(p.name);
  return out;
}

}  // namespace

StepSpec read_step(const YamlContext& ctx, const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) fail(where(ctx, node, path), "a pipeline step is a mapping: {algorithm: NAME, ...parameters}");
  const auto algorithms = step_algorithms();
  if (!node["algorithm"]) {
    std::string list;
    for (const auto& a : algorithms) list += (list.empty() ? "" : ", ") + a;
    fail(where(ctx, node, path), "missing 'algorithm' (one of: " + list + ")");
  }
  const std::string p = path + ".";
  StepSpec s;
  s.algorithm = get_choice(ctx, node, p, "algorithm", "", algorithms);
  const StepKind& kind = kind_of(s.algorithm);
  s.kind = kind.kind;
  // Allowed: the algorithm's parameters, and a section per algorithm (`gptq: {act_order: true}`)
  // holding parameters that apply only when that algorithm is the one selected, so a sweep over
  // algorithms can carry each one's options. Every section is validated against its own entry.
  std::vector<std::string> allowed = {"algorithm"};
  for (const auto& n : param_names(kind)) allowed.push_back(n);
  allowed.insert(allowed.end(), algorithms.begin(), algorithms.end());
  check_keys(ctx, node, path, allowed);
  for (const auto& other : step_table()) {
    const auto section = node[other.algorithm];
    if (!section) continue;
    const std::string sp = p + other.algorithm;
    check_keys(ctx, section, sp, param_names(other));
    for (const auto& prm : other.params) read_param(ctx, section, sp + ".", prm);
  }
  const auto own = node[s.algorithm];
  for (const auto& prm : kind.params) {
    const bool in_section = own && own[prm.name];
    const nlohmann::json v = read_param(ctx, in_section ? own : node, in_section ? p + s.algorithm + "." : p, prm);
    (prm.grid ? s.grid : prm.act ? s.act : s.options)[prm.name] = v;
  }
  return s;
}

}  // namespace ptq::config
