// Writes any model ptq reads as a Hugging Face directory: config.json, model.safetensors (Hugging
// Face names and rotate-half layout, as the WeightSource presents them), tokenizer files and
// tokenizer_config.json. Files are written atomically.
#pragma once
#include <torch/torch.h>

#include <string>

#include "model/weight_source.hpp"

namespace ptq::model {

void write_hf_directory(const WeightSource& src, const std::string& tokenizer_path,
                        const std::string& out_dir, torch::ScalarType dtype = torch::kFloat32);

// Copies a tokenizer (file or directory) into out_dir under the names ptq and transformers look for,
// and writes a default tokenizer_config.json when none came with it.
void copy_tokenizer_files(const std::string& tokenizer_path, const std::string& out_dir);

}  // namespace ptq::model
