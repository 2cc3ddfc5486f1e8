// Reading Hugging Face GPTQ and AWQ checkpoints (what `ptq export --format gptq|awq` writes, and
// what AutoGPTQ / GPTQModel / AutoAWQ write for LLaMA-family models) as a WeightSource.
//
// Detected by config.json's quantization_config.quant_method ("gptq" or "awq"; or, for older
// AutoGPTQ directories, a quantize_config.json beside a config.json without quantization_config).
// For each quantized linear layer <name>:
//   GPTQ  <name>.qweight I32 [in * bits / 32, out]   codes packed along the input features
//         <name>.qzeros  I32 [groups, out * bits / 32] zero points packed along the output features;
//                        checkpoint_format "gptq" (v1, the default) stores zero - 1, "gptq_v2" zero
//         <name>.scales  F16 [groups, out]
//         <name>.g_idx   I32 [in]                    (absent: contiguous groups)
//   AWQ   <name>.qweight I32 [in, out / 8]           4-bit codes packed along the output features,
//         <name>.qzeros  I32 [groups, out / 8]       AutoAWQ's nibble order (export/gptq_packing.hpp)
//         <name>.scales  F16 [groups, out]           version "gemm" only; zero_point true
// load("<name>.weight") returns scales * (codes - zeros) in fp32 (scales as stored, fp16-exact);
// every other tensor is read as stored (fp16 -> fp32). quantized() returns ptq's representation
// (codes [out, in], scales / zeros [out, groups], g_idx), so the layer can be evaluated, compared
// or re-exported. group_size -1 (per channel) reads as ptq's group_size 0. Per-module bits and group
// sizes come from the config's "dynamic" rules (GPTQModel's form; io/gptq_dynamic.hpp).
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "algorithms/common/quantized_linear.hpp"
#include "io/hf_checkpoint.hpp"

namespace ptq::io {

// "gptq", "awq", or "" when `dir` is neither (not a directory, no config.json, another method).
std::string hf_packed_method(const std::string& dir);
inline bool is_hf_packed_checkpoint(const std::string& dir) { return !hf_packed_method(dir).empty(); }

class HfPackedCheckpoint : public model::WeightSource {
 public:
  // Throws ptq::Error naming the file and key for an unsupported configuration (bits, AWQ version,
  // zero_point false, checkpoint_format, ...).
  explicit HfPackedCheckpoint(const std::string& dir);
  const model::ModelConfig& config() const override { return hf_.config(); }
  // Quantized layers are listed once as "<name>.weight" (dtype GPTQ_Q<b> / AWQ_Q4, shape [out, in],
  // nbytes: all of its packed parts), their parts not at all.
  std::vector<model::TensorInfo> tensors() const override;
  bool has(const std::string& name) const override;
  torch::Tensor load(const std::string& name) const override;
  std::string format() const override { return method_; }  // "gptq" | "awq"
  std::string path() const override { return hf_.path(); }

  const std::string& method() const { return method_; }
  // "gptq" (v1), "gptq_v2" or "awq_gemm".
  const std::string& checkpoint_format() const { return ckpt_format_; }
  const nlohmann::json& quantization_config() const { return qconfig_; }
  const algo::IntGrid& grid() const { return grid_; }  // the config's base grid
  // A module's grid ("model.layers.0.mlp.down_proj"): the base grid under GPTQModel's "dynamic"
  // rules (io/gptq_dynamic.hpp).
  algo::IntGrid layer_grid(const std::string& module) const;
  bool is_quantized(const std::string& weight_name) const;
  // Throws naming the directory and layer when the parts are missing or their shapes disagree.
  algo::QuantizedLinear quantized(const std::string& weight_name) const;

 private:
  HfCheckpoint hf_;
  std::string method_, ckpt_format_;
  nlohmann::json qconfig_;
  algo::IntGrid grid_;
};

// The quantized linear layers of any source that has them (ptq's quantized directory, a GPTQ or
// AWQ checkpoint); false / throws for full-precision sources and layers.
bool has_quantized_layer(const model::WeightSource& src, const std::string& weight_name);
algo::QuantizedLinear quantized_layer(const model::WeightSource& src, const std::string& weight_name);
// The source's quantization_config (nullptr for a full-precision source).
const nlohmann::json* source_quantization_config(const model::WeightSource& src);

}  // namespace ptq::io
