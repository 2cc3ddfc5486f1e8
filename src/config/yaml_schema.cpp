#include "config/yaml_schema.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/unknown_name.hpp"

namespace ptq::config {

std::string where(const YamlContext& ctx, const YAML::Node& node, const std::string& path) {
  const auto m = node.Mark();
  std::string loc = ctx.file;
  if (!m.is_null()) loc += ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  return loc + ": " + path;
}

void check_keys(const YamlContext& ctx, const YAML::Node& map, const std::string& path,
                const std::vector<std::string>& allowed) {
  if (!map.IsMap()) fail(where(ctx, map, path.empty() ? "(top level)" : path), "expected a mapping of keys");
  for (const auto& kv : map) {
    const std::string key = kv.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    fail(where(ctx, kv.first, path.empty() ? key : path + "." + key), unknown_name_message("key", key, allowed));
  }
}

std::string get_string(const YamlContext& ctx, const YAML::Node& map, const std::string& path,
                       const std::string& key, const std::string& fallback) {
  const auto n = map[key];
  if (!n) return fallback;
  if (!n.IsScalar()) fail(where(ctx, n, path + key), "expected a string");
  return n.as<std::string>();
}

int get_int(const YamlContext& ctx, const YAML::Node& map, const std::string& path, const std::string& key,
            int fallback, int lo, int hi) {
  const auto n = map[key];
  if (!n) return fallback;
  int v = 0;
  if (!n.IsScalar() || !YAML::convert<int>::decode(n, v)) {
    fail(where(ctx, n, path + key), "expected an integer, got '" + (n.IsScalar() ? n.Scalar() : std::string("a collection")) + "'");
  }
  if (v < lo || v > hi) {
    fail(where(ctx, n, path + key), std::to_string(v) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return v;
}

std::vector<std::string> get_string_list(const YamlContext& ctx, const YAML::Node& map,
                                         const std::string& path, const std::string& key) {
  const auto n = map[key];
  if (!n) return {};
  if (n.IsScalar()) return {n.as<std::string>()};
  if (!n.IsSequence()) fail(where(ctx, n, path + key), "expected a string or a list of strings");
  std::vector<std::string> out;
  for (const auto& e : n) {
    if (!e.IsScalar()) fail(where(ctx, e, path + key), "expected a string");
    out.push_back(e.as<std::string>());
  }
  return out;
}

}  // namespace ptq::config
