// Parsing JSON from files ptq did not write (config.json, tokenizer.json, JSONL rows, indexes).
// nlohmann's parser itself is iterative, but what it builds is walked recursively afterwards
// (dump(), copies, the readers' own walkers): a hostile file nesting a million arrays would take
// the stack down there. Real files nest a handful of levels.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

namespace ptq {

inline constexpr int kMaxJsonDepth = 64;

// Throws ptq::Error naming `where` when the text nests deeper than max_depth; syntax errors come
// out as nlohmann::json::exception, as from nlohmann::json::parse.
nlohmann::json parse_json(const std::string& text, const std::string& where, int max_depth = kMaxJsonDepth);

}  // namespace ptq
