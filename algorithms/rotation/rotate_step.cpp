#include "algorithms/rotation/rotate_step.hpp"

#include "core/error.hpp"
#include "core/unknown_name.hpp"

namespace ptq::algo {

std::vector<std::string> rotate_online_choices() { return {"down_proj", "kv"}; }

model::RotationSpec rotation_spec_from_options(const nlohmann::json& options, const std::string& where) {
  model::RotationSpec s;
  s.online_down_proj = s.online_kv = true;
  if (options.is_null()) return s;
  if (!options.is_object()) fail(where, "rotate's options must be a mapping (seed, online)");
  for (const auto& [key, value] : options.items()) {
    if (key != "seed" && key != "online") fail(where + "." + key, unknown_name_message("rotate option", key, {"seed", "online"}));
  }
  if (options.contains("seed")) {
    const auto& v = options["seed"];
    if (!v.is_number_integer() || v.get<int64_t>() < 0) fail(where + ".seed", "must be a non-negative integer, got " + v.dump());
    s.seed = v.get<uint64_t>();
  }
  if (options.contains("online")) {
    const auto& v = options["online"];
    if (!v.is_array()) fail(where + ".online", "must be a list of online rotations (down_proj, kv), got " + v.dump());
    s.online_down_proj = s.online_kv = false;
    for (const auto& e : v) {
      const std::string name = e.is_string() ? e.get<std::string>() : e.dump();
      if (name == "down_proj") {
        s.online_down_proj = true;
      } else if (name == "kv") {
        s.online_kv = true;
      } else {
        fail(where + ".online", unknown_name_message("online rotation", name, rotate_online_choices()));
      }
    }
  }
  return s;
}

}  // namespace ptq::algo
