#include "io/hf_checkpoint.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>

#include "core/error.hpp"
#include "core/json_parse.hpp"
#include "io/atomic_file.hpp"
#include "model/hf_config.hpp"

namespace ptq::io {

namespace fs = std::filesystem;

HfCheckpoint::HfCheckpoint(const std::string& dir) : dir_(dir) {
  if (!fs::is_directory(dir)) fail(dir, "not a directory (expected a Hugging Face checkpoint)");
  const fs::path base(dir);
  const fs::path config_path = base / "config.json";
  if (!fs::exists(config_path)) fail(dir, "no config.json in the checkpoint directory");
  config_ = model::parse_hf_config(config_path.string());

  const fs::path single = base / "model.safetensors";
  const fs::path index_path = base / "model.safetensors.index.json";
  if (fs::exists(single)) {
    shards_.push_back(std::make_unique<SafetensorsReader>(single.string()));
    for (const std::string& name : shards_[0]->names()) where_[name] = 0;
    return;
  }
  if (!fs::exists(index_path)) {
    fail(dir, "neither model.safetensors nor model.safetensors.index.json is present");
  }

  const std::string ip = index_path.string();
  nlohmann::json index;
  try {
    index = parse_json(read_text_file(ip), ip);
  } catch (const nlohmann::json::exception& e) {
    fail(ip, std::string("not valid JSON: ") + e.what());
  }
  if (!index.is_object() || !index.contains("weight_map") || !index.at("weight_map").is_object()) {
    fail(ip, "missing key 'weight_map' (an object from tensor name to shard file)");
  }
  std::map<std::string, size_t> shard_index;  // shard file name -> index into shards_
  for (const auto& [name, file] : index.at("weight_map").items()) {
    if (!file.is_string()) fail(ip, "weight_map entry for tensor '" + name + "' is not a string");
    const std::string shard = file.get<std::string>();
    // Shards live next to the index: refuse paths that would read elsewhere.
    if (shard.empty() || shard.find('/') != std::string::npos || shard == "." || shard == "..") {
      fail(ip, "weight_map entry for tensor '" + name + "' names '" + shard +
                   "', which is not a plain file name in the checkpoint directory");
    }
    auto it = shard_index.find(shard);
    if (it == shard_index.end()) {
      const fs::path sp = base / shard;
      if (!fs::exists(sp)) {
        fail(ip, "shard '" + shard + "' (listed for tensor '" + name + "') does not exist");
      }
      shards_.push_back(std::make_unique<SafetensorsReader>(sp.string()));
      it = shard_index.emplace(shard, shards_.size() - 1).first;
    }
    if (!shards_[it->second]->has(name)) {
      fail(ip, "tensor '" + name + "' is listed in shard '" + shard + "' but " +
                   shards_[it->second]->path() + " does not contain it");
    }
    where_[name] = it->second;
  }
}

std::vector<model::TensorInfo> HfCheckpoint::tensors() const {
  std::vector<model::TensorInfo> out;
  out.reserve(where_.size());
  for (const auto& [name, shard] : where_) {
    const SafetensorsTensorInfo& ti = shards_[shard]->info(name);
    out.push_back({name, ti.dtype, ti.shape, ti.nbytes});
  }
  return out;
}

const SafetensorsReader& HfCheckpoint::shard_of(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) fail(dir_, "tensor '" + name + "' is not in the checkpoint");
  return *shards_[it->second];
}

torch::Tensor HfCheckpoint::load(const std::string& name) const { return shard_of(name).load_f32(name); }

std::unique_ptr<model::WeightSource> open_hf_checkpoint(const std::string& dir) {
  return std::make_unique<HfCheckpoint>(dir);
}

}  // namespace ptq::io
