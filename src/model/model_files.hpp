// Finding a model's files: the weights by path, and its tokenizer when none is given.
#pragma once
#include <string>

namespace ptq::model {

// The tokenizer that belongs to a model path: a Hugging Face directory is its own tokenizer; a GGUF
// file carries its vocabulary; a llama2.c .bin looks beside itself for tokenizer.bin, tok<V>.bin,
// tokenizer.model or tok<V>.model (V = its vocabulary size). Throws naming what it looked for.
std::string find_tokenizer(const std::string& model_path, int vocab_size);

}  // namespace ptq::model
