// Per-module grids in a quantization_config, as GPTQModel's "dynamic" field holds them (and vLLM /
// SGLang read them): {"+:<regex>": {"bits": 3, "group_size": 64}, "-:<regex>": {}}. A module name
// ("model.layers.0.self_attn.q_proj") takes the first rule whose regex matches at its start (Python's
// re.match): "-:" leaves it unquantized, "+:" (or no prefix) overrides the base config's fields.
// ptq writes one anchored rule per module that differs from the base grid, in GPTQ checkpoints and
// in its own quantized directory alike.
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>

#include "algorithms/common/int_grid.hpp"

namespace ptq::io {

// Rules for every module whose grid differs from `base` (bits or group size; sym must agree).
// gptq_groups: group sizes as GPTQ configs write them (-1 per channel) instead of ptq's (0).
nlohmann::json dynamic_rules(const std::map<std::string, algo::IntGrid>& module_grids, const algo::IntGrid& base,
                             bool gptq_groups);

// The grid of `module` under `dynamic` (null or an object): base with the matching "+:" rule's bits,
// group_size and sym; nullopt when a "-:" rule matches. Throws ptq::Error naming `where` for a
// malformed rule or regex, or when rules with different outcomes match one module (ptq reads JSON
// objects unordered, so it refuses what only the rules' order would decide).
std::optional<algo::IntGrid> dynamic_grid(const nlohmann::json& dynamic, const algo::IntGrid& base,
                                          const std::string& module, bool gptq_groups, const std::string& where);

}  // namespace ptq::io
