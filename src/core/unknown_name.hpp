// Messages for a name outside an allowed set (YAML keys, algorithm options, algorithm names):
// the allowed names and, for a near miss, a did-you-mean.
#pragma once
#include <string>
#include <vector>

namespace ptq {

size_t edit_distance(const std::string& a, const std::string& b);
// "unknown <kind> (did you mean 'x'?); allowed: a, b, c"
std::string unknown_name_message(const std::string& kind, const std::string& name,
                                 const std::vector<std::string>& allowed);

}  // namespace ptq
