// Algorithms by name. Adding one touches its own folder (the algorithm and a make_<name> factory)
// and the table in registry.cpp.
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "algorithms/common/algorithm.hpp"
#include "algorithms/common/block_context.hpp"
#include "core/error.hpp"

namespace ptq::algo {

// Throws naming the algorithm for an unknown name (with a did-you-mean) or a bad option.
std::unique_ptr<Algorithm> make_algorithm(const std::string& name, const nlohmann::json& options = {});
std::vector<std::string> algorithm_names();

// Block transforms that run before the quantizer (AWQ, SmoothQuant), by name.
std::unique_ptr<Transform> make_transform(const std::string& name, const nlohmann::json& options = {});
std::vector<std::string> transform_names();

// The factories, one per algorithm folder.
std::unique_ptr<Algorithm> make_rtn(const nlohmann::json& options);
std::unique_ptr<Algorithm> make_gptq(const nlohmann::json& options);
std::unique_ptr<Algorithm> make_gptaq(const nlohmann::json& options);
std::unique_ptr<Algorithm> make_hqq(const nlohmann::json& options);
std::unique_ptr<Transform> make_awq(const nlohmann::json& options);
std::unique_ptr<Transform> make_smoothquant(const nlohmann::json& options);

}  // namespace ptq::algo
