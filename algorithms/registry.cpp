#include "algorithms/registry.hpp"

#include <map>

#include "core/unknown_name.hpp"

namespace ptq::algo {

namespace {

using Factory = std::unique_ptr<Algorithm> (*)(const nlohmann::json&);

const std::map<std::string, Factory>& table() {
  static const std::map<std::string, Factory> t = {
      {"rtn", make_rtn},
      {"gptq", make_gptq},
      {"gptaq", make_gptaq},
      {"hqq", make_hqq},
  };
  return t;
}

using TransformFactory = std::unique_ptr<Transform> (*)(const nlohmann::json&);

const std::map<std::string, TransformFactory>& transform_table() {
  static const std::map<std::string, TransformFactory> t = {
      {"awq", make_awq},
      {"smoothquant", make_smoothquant},
  };
  return t;
}

}  // namespace

std::vector<std::string> transform_names() {
  std::vector<std::string> out;
  for (const auto& [name, f] : transform_table()) out.push_back(name);
  return out;
}

std::unique_ptr<Transform> make_transform(const std::string& name, const nlohmann::json& options) {
  auto it = transform_table().find(name);
  if (it == transform_table().end()) fail("transform '" + name + "'", unknown_name_message("transform", name, transform_names()));
  return it->second(options);
}

std::vector<std::string> algorithm_names() {
  std::vector<std::string> out;
  for (const auto& [name, f] : table()) out.push_back(name);
  return out;
}

std::unique_ptr<Algorithm> make_algorithm(const std::string& name, const nlohmann::json& options) {
  auto it = table().find(name);
  if (it == table().end()) fail("algorithm '" + name + "'", unknown_name_message("algorithm", name, algorithm_names()));
  return it->second(options);
}

}  // namespace ptq::algo
