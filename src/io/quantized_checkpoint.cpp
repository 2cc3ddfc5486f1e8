#include "io/quantized_checkpoint.hpp"

#include <cstdio>
#include <filesystem>
#include <unistd.h>

#include "core/error.hpp"
#include "core/json_parse.hpp"
#include "io/atomic_file.hpp"
#include "io/gptq_dynamic.hpp"
#include "io/safetensors.hpp"
#include "model/hf_config.hpp"

namespace ptq::io {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "ptq-codes/1";


// The grid a quantization_config describes; throws naming `where` when it is incomplete or invalid.
algo::IntGrid grid_of(const nlohmann::json& qconfig, const std::string& where) {
  algo::IntGrid g;
  try {
    g.bits = qconfig.at("bits").get<int>();
    g.group_size = qconfig.at("group_size").get<int>();
    g.sym = qconfig.at("sym").get<bool>();
    g.dtype = qconfig.value("dtype", std::string("int"));  // written only for floating-point dtypes
  } catch (const nlohmann::json::exception& e) {
    fail(where, std::string("bits, group_size and sym must be given: ") + e.what());
  }
  g.validate(where);
  return g;
}

nlohmann::json read_json(const std::string& path) {
  try {
    return parse_json(read_text_file(path), path);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("not valid JSON: ") + e.what());
  }
}

}  // namespace

std::string layer_base_name(const std::string& weight_name) {
  const std::string suffix = ".weight";
  if (weight_name.size() > suffix.size() && weight_name.compare(weight_name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return weight_name.substr(0, weight_name.size() - suffix.size());
  }
  return weight_name;
}

bool is_quantized_checkpoint(const std::string& dir) {
  const fs::path cfg = fs::path(dir) / "config.json";
  if (!fs::is_directory(dir) || !fs::exists(cfg)) return false;
  const auto j = read_json(cfg.string());
  return j.is_object() && j.contains("quantization_config") && j["quantization_config"].is_object() &&
         j["quantization_config"].value("quant_method", "") == "ptq";
}

QuantizedCheckpointWriter::QuantizedCheckpointWriter(const std::string& out_dir, const model::ModelConfig& config,
                                                     const nlohmann::json& quantization_config, int num_shards,
                                                     const std::vector<std::string>& inputs)
    : config_(config), qconfig_(quantization_config), num_shards_(num_shards) {
  grid_of(qconfig_, out_dir + ": quantization_config");
  staged_ = std::make_unique<StagedDirectory>(out_dir, "quantized model", inputs);
  out_ = staged_->out();
  qconfig_["quant_method"] = "ptq";
  qconfig_["format"] = kFormat;
}

QuantizedCheckpointWriter::~QuantizedCheckpointWriter() = default;

void QuantizedCheckpointWriter::write_shard(const std::map<std::string, torch::Tensor>& fp_tensors,
                                            const std::map<std::string, algo::QuantizedLinear>& quantized) {
  if (written_ >= num_shards_) fail(out_, "more shards than announced");
  char name[64];
  std::snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors", written_ + 1, num_shards_);
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (const auto& [n, t] : fp_tensors) w.add(n, t.to(torch::kFloat32));
  for (const auto& [weight_name, q] : quantized) {
    const std::string b = layer_base_name(weight_name);
    w.add(b + ".codes", q.codes.to(torch::kUInt8));
    w.add(b + ".scales", q.scales.to(torch::kFloat32));
    w.add(b + ".zeros", q.zeros.to(torch::kFloat32));
    w.add(b + ".g_idx", q.g_idx.to(torch::kInt32));
  }
  w.write(staged_->file(name));
  for (const auto& [n, t] : fp_tensors) weight_map_[n] = name;
  for (const auto& [weight_name, q] : quantized) {
    for (const char* part : {".codes", ".scales", ".zeros", ".g_idx"}) weight_map_[layer_base_name(weight_name) + part] = name;
  }
  ++written_;
}

void QuantizedCheckpointWriter::write_text(const std::string& name, const std::string& content) {
  write_file_atomically(staged_->file(name), content);
}

void QuantizedCheckpointWriter::finalize() {
  if (finalized_) return;
  if (written_ != num_shards_) fail(out_, "only " + std::to_string(written_) + " of " + std::to_string(num_shards_) + " shards written");
  nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", weight_map_}};
  write_text("model.safetensors.index.json", index.dump(2) + "\n");
  auto cfg = nlohmann::json::parse(model::write_hf_config(config_));
  cfg["quantization_config"] = qconfig_;
  write_text("config.json", cfg.dump(2) + "\n");
  finalized_ = true;
}

void QuantizedCheckpointWriter::commit() {
  finalize();
  staged_->commit();
}

QuantizedCheckpoint::QuantizedCheckpoint(const std::string& dir) : hf_(dir) {
  const auto cfg = read_json((fs::path(dir) / "config.json").string());
  const std::string where = (fs::path(dir) / "config.json").string() + ": quantization_config";
  if (!cfg.contains("quantization_config") || !cfg["quantization_config"].is_object()) fail(where, "missing");
  qconfig_ = cfg["quantization_config"];
  if (qconfig_.value("format", "") != kFormat) {
    fail(where, "format is " + qconfig_.value("format", std::string("(none)")) + ", this ptq reads " + kFormat);
  }
  grid_ = grid_of(qconfig_, where);
}

algo::IntGrid QuantizedCheckpoint::layer_grid(const std::string& module) const {
  const auto g = dynamic_grid(qconfig_.value("dynamic", nlohmann::json()), grid_, module, false,
                              hf_.path() + ": quantization_config");
  if (!g) fail(hf_.path() + ": " + module, "a dynamic \"-:\" rule excludes a layer ptq's directory holds");
  return *g;
}

bool QuantizedCheckpoint::is_quantized(const std::string& weight_name) const {
  return hf_.has(layer_base_name(weight_name) + ".codes");
}

bool QuantizedCheckpoint::has(const std::string& name) const { return hf_.has(name) || is_quantized(name); }

std::vector<model::TensorInfo> QuantizedCheckpoint::tensors() const {
  std::vector<model::TensorInfo> out;
  for (const auto& t : hf_.tensors()) {
    const std::string& n = t.name;
    const std::string codes = ".codes";
    if (n.size() > codes.size() && n.compare(n.size() - codes.size(), codes.size(), codes) == 0) {
      const std::string b = n.substr(0, n.size() - codes.size());
      const algo::IntGrid g = layer_grid(b);
      const std::string type = g.is_int() ? "Q" + std::to_string(g.bits) + (g.sym ? "_SYM" : "_ASYM") : g.dtype;
      out.push_back({b + ".weight", type, t.shape, t.nbytes});
    } else if (n.find(".scales") == std::string::npos && n.find(".zeros") == std::string::npos &&
               n.find(".g_idx") == std::string::npos) {
      out.push_back(t);
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

algo::QuantizedLinear QuantizedCheckpoint::quantized(const std::string& weight_name) const {
  const std::string b = layer_base_name(weight_name);
  const std::string where = hf_.path() + ": " + b;
  if (!is_quantized(weight_name)) fail(where, "not a quantized layer");
  algo::QuantizedLinear q;
  q.grid = layer_grid(b);
  q.codes = hf_.view(b + ".codes").clone();
  q.scales = hf_.load(b + ".scales");
  q.zeros = hf_.load(b + ".zeros");
  q.g_idx = hf_.view(b + ".g_idx").clone();
  if (q.codes.scalar_type() != torch::kUInt8 || q.g_idx.scalar_type() != torch::kInt32) fail(where, "codes must be U8 and g_idx I32");
  if (q.codes.dim() != 2 || q.g_idx.dim() != 1 || q.g_idx.size(0) != q.codes.size(1)) fail(where, "codes and g_idx shapes disagree");
  const int64_t groups = algo::num_groups(q.codes.size(1), q.grid);
  const std::vector<int64_t> pshape = {q.codes.size(0), groups};
  if (q.scales.sizes().vec() != pshape || q.zeros.sizes().vec() != pshape) {
    fail(where, "scales and zeros must be [" + std::to_string(pshape[0]) + ", " + std::to_string(groups) + "]");
  }
  if (q.codes.numel() > 0 && q.codes.max().item<int>() > q.grid.maxq()) fail(where, "codes exceed the grid's range");
  if (q.g_idx.numel() > 0 && (q.g_idx.min().item<int>() < 0 || q.g_idx.max().item<int>() >= groups)) {
    fail(where, "g_idx names a group that does not exist");
  }
  if (!torch::isfinite(q.scales).all().item<bool>()) fail(where, "scales hold NaN or Inf");
  return q;
}

torch::Tensor QuantizedCheckpoint::load(const std::string& name) const {
  if (hf_.has(name)) return hf_.load(name);
  return quantized(name).dequantize();
}

}  // namespace ptq::io
