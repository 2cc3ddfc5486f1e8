// A llama-architecture GGUF model (as written by llama.cpp's converters and llama-quantize) as a
// WeightSource: the config from the llama.* metadata, tensors under Hugging Face names, q/k rows
// moved back from llama.cpp's interleaved rotary layout to Hugging Face's rotate-half layout, and
// every supported storage type (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)
// dequantized to fp32.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "io/gguf.hpp"
#include "io/rotary_layout.hpp"
#include "model/weight_source.hpp"

namespace ptq::io {

class GgufModel : public model::WeightSource {
 public:
  // Throws ptq::Error naming the file when general.architecture is not "llama", a required llama.*
  // key is missing, the tensors do not match the config, or a feature (rope scaling, partial
  // rotary) is unsupported. Tensors ptq does not know (e.g. rope_freqs) are left out.
  explicit GgufModel(const std::string& path);

  const model::ModelConfig& config() const override { return config_; }
  std::vector<model::TensorInfo> tensors() const override;  // Hugging Face names, sorted
  bool has(const std::string& name) const override { return hf_to_gguf_.count(name) != 0; }
  torch::Tensor load(const std::string& name) const override;
  std::string format() const override { return "gguf"; }
  std::string path() const override { return reader_.path(); }

  const GgufReader& reader() const { return reader_; }
  // The GGUF name behind a Hugging Face name (throws when absent).
  const std::string& gguf_name(const std::string& hf_name) const;

 private:
  GgufReader reader_;
  model::ModelConfig config_;
  std::map<std::string, std::string> hf_to_gguf_;
};

std::unique_ptr<model::WeightSource> open_gguf_model(const std::string& path);

// llama.cpp's tensor name -> Hugging Face name ("" when ptq has no counterpart).
std::string gguf_to_hf_name(const std::string& gguf_name);

// The rotary layout conversions live in io/rotary_layout.hpp.


}  // namespace ptq::io
