// llama2.c checkpoints (Karpathy's "legacy" export: a 7 x int32 header, then fp32 weights in a fixed
// order) as a WeightSource with Hugging Face names and layout.
#pragma once
#include <memory>
#include <string>

#include "model/weight_source.hpp"

namespace ptq::io {

std::unique_ptr<model::WeightSource> open_llama2c_model(const std::string& path);



}  // namespace ptq::io
