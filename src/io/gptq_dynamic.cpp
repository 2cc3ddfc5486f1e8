#include "io/gptq_dynamic.hpp"

#include <regex>

#include "core/error.hpp"
#include "core/regex_text.hpp"

namespace ptq::io {

namespace {

int config_group(int group_size, bool gptq_groups) { return gptq_groups && group_size == 0 ? -1 : group_size; }

}  // namespace

nlohmann::json dynamic_rules(const std::map<std::string, algo::IntGrid>& module_grids, const algo::IntGrid& base,
                             bool gptq_groups) {
  nlohmann::json rules = nlohmann::json::object();
  for (const auto& [module, g] : module_grids) {
    if (g.sym != base.sym) throw Error(module + ": sym differs from the checkpoint's; one symmetry per checkpoint");
    if (g.bits == base.bits && g.group_size == base.group_size) continue;
    rules["+:^" + regex_escape(module) + "$"] = {{"bits", g.bits}, {"group_size", config_group(g.group_size, gptq_groups)}};
  }
  return rules;
}

std::optional<algo::IntGrid> dynamic_grid(const nlohmann::json& dynamic, const algo::IntGrid& base,
                                          const std::string& module, bool gptq_groups, const std::string& where) {
  if (dynamic.is_null()) return base;
  if (!dynamic.is_object()) fail(where, "\"dynamic\" must be an object of regex rules");
  std::optional<algo::IntGrid> result = base;
  std::string matched;
  for (const auto& [key, rule] : dynamic.items()) {
    const bool negative = key.rfind("-:", 0) == 0;
    const std::string pattern = negative || key.rfind("+:", 0) == 0 ? key.substr(2) : key;
    bool hit = false;
    try {
      hit = std::regex_search(module, std::regex(pattern), std::regex_constants::match_continuous);
    } catch (const std::regex_error& e) {
      fail(where, "dynamic rule '" + key + "': not a regular expression (" + e.what() + ")");
    }
    if (!hit) continue;
    std::optional<algo::IntGrid> g;
    if (!negative) {
      if (!rule.is_object()) fail(where, "dynamic rule '" + key + "' must map to an object");
      g = base;
      try {
        if (rule.contains("bits")) g->bits = rule.at("bits").get<int>();
        if (rule.contains("group_size")) g->group_size = rule.at("group_size").get<int>();
        if (rule.contains("sym")) g->sym = rule.at("sym").get<bool>();
      } catch (const nlohmann::json::exception& e) {
        fail(where, "dynamic rule '" + key + "': " + e.what());
      }
      if (gptq_groups && g->group_size == -1) g->group_size = 0;
      g->validate(where + ": dynamic rule '" + key + "'");
    }
    const auto same = [](const std::optional<algo::IntGrid>& a, const std::optional<algo::IntGrid>& b) {
      return a.has_value() == b.has_value() &&
             (!a || (a->bits == b->bits && a->group_size == b->group_size && a->sym == b->sym));
    };
    if (!matched.empty() && !same(g, result)) {
      fail(where, "module " + module + " matches dynamic rules '" + matched + "' and '" + key +
                      "' with different grids; their order would decide, which ptq does not read");
    }
    matched = key;
    result = g;
  }
  return result;
}

}  // namespace ptq::io
