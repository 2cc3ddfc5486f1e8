// The `rotate` pipeline step (QuaRot): a model-level transform, run on the whole model before any
// calibration statistics are collected (model/rotation.hpp does the rotating). Options:
//   seed:   the residual rotation's random signs (default 0)
//   online: the online rotations, any of [down_proj, kv] (default both; [] keeps only the residual
//           rotation, a pure reparametrisation that llama.cpp and the Hugging Face runtimes can run)
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "model/rotation.hpp"

namespace ptq::algo {

inline constexpr const char* kRotateStep = "rotate";

std::vector<std::string> rotate_online_choices();  // down_proj, kv

// Throws ptq::Error naming `where` and the key for an unknown key, a negative or non-integer seed or
// an unknown online rotation (did-you-mean).
model::RotationSpec rotation_spec_from_options(const nlohmann::json& options, const std::string& where);

}  // namespace ptq::algo
