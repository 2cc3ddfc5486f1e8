// Literal text inside a regular expression (module and tensor names in override rules).
#pragma once
#include <string>

namespace ptq {

// `s` with every ECMAScript / Python re metacharacter backslash-escaped.
std::string regex_escape(const std::string& s);

}  // namespace ptq
