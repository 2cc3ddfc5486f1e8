// A Hugging Face checkpoint directory: config.json plus model.safetensors, or shards listed in
// model.safetensors.index.json. Tensors keep their Hugging Face names and are converted to fp32 on
// load, one at a time, from the memory-mapped shards.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/safetensors.hpp"
#include "model/weight_source.hpp"

namespace ptq::io {

class HfCheckpoint : public model::WeightSource {
 public:
  // Reads config.json and opens every shard, validating all headers up front. When both
  // model.safetensors and an index exist, the single file wins (as in transformers). Every tensor
  // the index lists must exist in its shard; shard names must be plain file names in `dir`.
  explicit HfCheckpoint(const std::string& dir);

  const model::ModelConfig& config() const override { return config_; }
  std::vector<model::TensorInfo> tensors() const override;  // sorted by name
  // With tie_word_embeddings and no stored lm_head.weight, has("lm_head.weight") is false: the
  // model ties it to model.embed_tokens.weight itself.
  bool has(const std::string& name) const override { return where_.count(name) != 0; }
  torch::Tensor load(const std::string& name) const override;  // fp32, owned
  std::string format() const override { return "safetensors"; }
  std::string path() const override { return dir_; }

  size_t num_shards() const { return shards_.size(); }
  // The shard that holds `name` (throws naming the directory and tensor when absent).
  const SafetensorsReader& shard_of(const std::string& name) const;
  // Zero-copy view in the stored dtype (see SafetensorsReader::view for its lifetime).
  torch::Tensor view(const std::string& name) const { return shard_of(name).view(name); }

 private:
  std::string dir_;
  model::ModelConfig config_;
  std::vector<std::unique_ptr<SafetensorsReader>> shards_;
  std::map<std::string, size_t> where_;  // tensor name -> index into shards_
};

std::unique_ptr<model::WeightSource> open_hf_checkpoint(const std::string& dir);

}  // namespace ptq::io
