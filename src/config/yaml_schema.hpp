// Checks a YAML mapping against the keys a section allows, so a typo is reported with the file,
// line, column and key path, the allowed keys and a did-you-mean, before any work starts.
#pragma once
#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "core/unknown_name.hpp"

namespace ptq::config {

struct YamlContext {
  std::string file;
};

// "<file>:<line>:<col>: <path>" for messages.
std::string where(const YamlContext& ctx, const YAML::Node& node, const std::string& path);
// Throws on a key outside `allowed`, naming the nearest allowed key when one is close.
void check_keys(const YamlContext& ctx, const YAML::Node& map, const std::string& path,
                const std::vector<std::string>& allowed);
// Typed reads that name the file, line, key and expected type on a mismatch.
std::string get_string(const YamlContext& ctx, const YAML::Node& map, const std::string& path,
                       const std::string& key, const std::string& fallback);
int get_int(const YamlContext& ctx, const YAML::Node& map, const std::string& path, const std::string& key,
            int fallback, int lo, int hi);
std::vector<std::string> get_string_list(const YamlContext& ctx, const YAML::Node& map,
                                         const std::string& path, const std::string& key);
using ptq::edit_distance;

}  // namespace ptq::config
