#include "algorithms/common/algorithm.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/unknown_name.hpp"

namespace ptq::algo {

OptionReader::OptionReader(const nlohmann::json& options, std::string where)
    : options_(options.is_null() ? nlohmann::json::object() : options), where_(std::move(where)) {
  if (!options_.is_object()) fail(where_, "options must be a mapping of names to values");
}

const nlohmann::json& OptionReader::at(const std::string& key) {
  known_.push_back(key);
  static const nlohmann::json null;
  return options_.contains(key) ? options_[key] : null;
}

bool OptionReader::get_bool(const std::string& key, bool fallback) {
  const auto& v = at(key);
  if (v.is_null()) return fallback;
  if (!v.is_boolean()) fail(where_ + "." + key, "expected true or false, got " + v.dump());
  return v.get<bool>();
}

int OptionReader::get_int(const std::string& key, int fallback, int lo, int hi) {
  const auto& v = at(key);
  if (v.is_null()) return fallback;
  if (!v.is_number_integer()) fail(where_ + "." + key, "expected an integer, got " + v.dump());
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) fail(where_ + "." + key, std::to_string(x) + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(x);
}

double OptionReader::get_double(const std::string& key, double fallback, double lo, double hi) {
  const auto& v = at(key);
  if (v.is_null()) return fallback;
  if (!v.is_number()) fail(where_ + "." + key, "expected a number, got " + v.dump());
  const double x = v.get<double>();
  if (!(x >= lo && x <= hi)) fail(where_ + "." + key, v.dump() + " is outside [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

std::string OptionReader::get_string(const std::string& key, const std::string& fallback) {
  const auto& v = at(key);
  if (v.is_null()) return fallback;
  if (!v.is_string()) fail(where_ + "." + key, "expected a string, got " + v.dump());
  return v.get<std::string>();
}

void OptionReader::finish() const {
  for (const auto& [key, value] : options_.items()) {
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
      fail(where_ + "." + key, unknown_name_message("option", key, known_));
    }
  }
}

}  // namespace ptq::algo
