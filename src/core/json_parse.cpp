#include "core/json_parse.hpp"

#include "core/error.hpp"

namespace ptq {

nlohmann::json parse_json(const std::string& text, const std::string& where, int max_depth) {
  const auto limit = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > max_depth) fail(where, "JSON nests deeper than " + std::to_string(max_depth) + " levels");
    return true;
  };
  return nlohmann::json::parse(text, limit);
}

}  // namespace ptq
