// ptq's quantized model: a Hugging Face directory whose config.json carries
//   "quantization_config": {"quant_method": "ptq", "format": "ptq-codes/1", "bits", "group_size",
//                           "sym", "algorithm", ... provenance; "dtype": nf4 | fp4 | fp8_e4m3 |
//                           fp8_e5m2 for a floating-point grid (absent: integers)}
// and whose safetensors shards hold, for each quantized linear layer <name> (without ".weight"):
//   <name>.codes  U8  [out, in]       integer codes in [0, 2^bits - 1], one per byte (unpacked);
//                                     for a floating-point dtype its code bytes (NF4/FP4 table
//                                     index, FP8 bit pattern), zeros all 0
//   <name>.scales F32 [out, groups]
//   <name>.zeros  F32 [out, groups]   integers
//   <name>.g_idx  I32 [in]            the group whose parameters quantize input column j
// and every other tensor (embeddings, norms, head) in fp32 under its usual name. One shard per
// decoder layer plus one for the rest, so a writer streams layer by layer. Packed runtime formats
// (GPTQ/AWQ safetensors, GGUF) are exports of this one representation.
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>

#include "algorithms/common/quantized_linear.hpp"
#include "io/staged_directory.hpp"
#include "io/hf_checkpoint.hpp"

namespace ptq::io {

bool is_quantized_checkpoint(const std::string& dir);

// A quantized layer's name without ".weight" ("model.layers.0.mlp.down_proj"), the prefix of its parts.
std::string layer_base_name(const std::string& weight_name);

// Writes into a staging directory beside out_dir; commit() swaps it into place (an existing
// out_dir is replaced only then, and only when ptq wrote it), so a failed run leaves any earlier
// output intact. See io/staged_directory.hpp; `inputs` are the paths the run reads, which the
// output may not overlap.
class QuantizedCheckpointWriter {
 public:
  QuantizedCheckpointWriter(const std::string& out_dir, const model::ModelConfig& config,
                            const nlohmann::json& quantization_config, int num_shards,
                            const std::vector<std::string>& inputs = {});
  ~QuantizedCheckpointWriter();
  // Shards are written in order, 1..num_shards.
  void write_shard(const std::map<std::string, torch::Tensor>& fp_tensors,
                   const std::map<std::string, algo::QuantizedLinear>& quantized);
  // Any other file of the output (report, tokenizer), written into the temporary directory.
  void write_text(const std::string& name, const std::string& content);
  const std::string& staging_dir() const { return staged_->dir(); }
  // Writes the index and config.json: the staging directory is then a readable model.
  void finalize();
  void commit();  // finalize() if not done, then swaps the directory into place

 private:
  std::unique_ptr<StagedDirectory> staged_;
  std::string out_;
  model::ModelConfig config_;
  nlohmann::json qconfig_;
  int num_shards_, written_ = 0;
  nlohmann::json weight_map_ = nlohmann::json::object();
  bool finalized_ = false;
};

// Reads ptq's quantized directory as a WeightSource: load("<name>.weight") of a quantized layer
// returns the dequantized fp32 weights; quantized() returns the codes themselves for exporters.
class QuantizedCheckpoint : public model::WeightSource {
 public:
  explicit QuantizedCheckpoint(const std::string& dir);
  const model::ModelConfig& config() const override { return hf_.config(); }
  std::vector<model::TensorInfo> tensors() const override;
  bool has(const std::string& name) const override;
  torch::Tensor load(const std::string& name) const override;
  std::string format() const override { return "ptq-quantized"; }
  std::string path() const override { return hf_.path(); }

  const nlohmann::json& quantization_config() const { return qconfig_; }
  bool is_quantized(const std::string& weight_name) const;
  algo::QuantizedLinear quantized(const std::string& weight_name) const;
  // A layer's grid: the config's, under its "dynamic" per-module rules (io/gptq_dynamic.hpp).
  algo::IntGrid layer_grid(const std::string& module) const;

 private:
  HfCheckpoint hf_;
  nlohmann::json qconfig_;
  algo::IntGrid grid_;
};

}  // namespace ptq::io
