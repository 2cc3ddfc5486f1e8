// Where a model's weights come from. Every checkpoint format (Hugging Face safetensors directory,
// llama2.c .bin, GGUF, ptq's own quantized output) presents its tensors under Hugging Face names
// (model.layers.3.self_attn.q_proj.weight, ...) in Hugging Face layout (rotate-half rotary), so the
// model and the algorithms never know how a checkpoint was stored. Tensors are materialised one at a
// time from memory-mapped storage.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "model/config.hpp"

namespace ptq::model {

struct TensorInfo {
  std::string name;
  std::string dtype;  // storage type as the file has it: F32, F16, BF16, Q4_0, ...
  std::vector<int64_t> shape;
  uint64_t nbytes = 0;
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual const ModelConfig& config() const = 0;
  virtual std::vector<TensorInfo> tensors() const = 0;
  virtual bool has(const std::string& name) const = 0;
  // The tensor as fp32 on CPU, owned by the caller (a copy or conversion of the mapped bytes).
  // Throws ptq::Error naming the file and tensor when it is missing or malformed.
  virtual torch::Tensor load(const std::string& name) const = 0;
  virtual std::string format() const = 0;  // "safetensors", "llama2c", "gguf", ...
  virtual std::string path() const = 0;
};

// Opens a model by path: a directory with config.json (Hugging Face), a llama2.c .bin, or a .gguf.
std::unique_ptr<WeightSource> open_weights(const std::string& path);

}  // namespace ptq::model
