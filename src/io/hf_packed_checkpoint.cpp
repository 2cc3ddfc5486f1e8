#include "io/hf_packed_checkpoint.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.hpp"
#include "core/json_parse.hpp"
#include "export/gptq_packing.hpp"
#include "io/atomic_file.hpp"
#include "io/gptq_dynamic.hpp"
#include "io/quantized_checkpoint.hpp"

namespace ptq::io {

namespace fs = std::filesystem;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}


nlohmann::json read_json(const fs::path& p) {
  try {
    return parse_json(read_text_file(p.string()), p.string());
  } catch (const nlohmann::json::exception& e) {
    fail(p.string(), std::string("not valid JSON: ") + e.what());
  }
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The quantization config: config.json's quantization_config, or quantize_config.json (AutoGPTQ).
nlohmann::json packed_qconfig(const std::string& dir) {
  const fs::path cfg = fs::path(dir) / "config.json";
  if (!fs::is_directory(dir) || !fs::exists(cfg)) return nullptr;
  const auto j = read_json(cfg);
  if (j.is_object() && j.contains("quantization_config") && j["quantization_config"].is_object()) {
    return j["quantization_config"];
  }
  const fs::path qc = fs::path(dir) / "quantize_config.json";
  if (fs::exists(qc)) {
    auto q = read_json(qc);
    if (q.is_object() && !q.contains("quant_method")) q["quant_method"] = "gptq";
    return q;
  }
  return nullptr;
}

const char* kParts[] = {".qweight", ".qzeros", ".scales", ".g_idx"};

}  // namespace

std::string hf_packed_method(const std::string& dir) {
  const auto q = packed_qconfig(dir);
  if (!q.is_object()) return "";
  const std::string m = lower(q.value("quant_method", std::string()));
  return m == "gptq" || m == "awq" ? m : "";
}

HfPackedCheckpoint::HfPackedCheckpoint(const std::string& dir) : hf_(dir) {
  qconfig_ = packed_qconfig(dir);
  const std::string where = (fs::path(dir) / "config.json").string() + ": quantization_config";
  if (!qconfig_.is_object()) fail(where, "missing (expected a GPTQ or AWQ checkpoint)");
  method_ = lower(qconfig_.value("quant_method", std::string()));
  try {
    grid_.bits = qconfig_.at("bits").get<int>();
    grid_.group_size = qconfig_.at("group_size").get<int>();
  } catch (const nlohmann::json::exception& e) {
    fail(where, std::string("bits and group_size must be given: ") + e.what());
  }
  if (grid_.group_size == -1) {
    grid_.group_size = 0;  // per channel
  } else if (grid_.group_size <= 0) {
    fail(where, "group_size = " + std::to_string(grid_.group_size) + " (positive, or -1 per channel)");
  }
  if (method_ == "gptq") {
    if (grid_.bits != 2 && grid_.bits != 3 && grid_.bits != 4 && grid_.bits != 8) {
      fail(where, "bits = " + std::to_string(grid_.bits) + " (GPTQ checkpoints hold 2, 3, 4 or 8 bits)");
    }
    grid_.sym = qconfig_.value("sym", true);
    ckpt_format_ = lower(qconfig_.value("checkpoint_format", std::string("gptq")));
    if (ckpt_format_ != "gptq" && ckpt_format_ != "gptq_v2") {
      fail(where, "checkpoint_format '" + ckpt_format_ + "' (ptq reads gptq and gptq_v2)");
    }
  } else if (method_ == "awq") {
    const std::string version = lower(qconfig_.value("version", std::string("gemm")));
    if (version != "gemm") fail(where, "version '" + version + "' (ptq reads AWQ's gemm layout only)");
    if (grid_.bits != 4) fail(where, "bits = " + std::to_string(grid_.bits) + " (AWQ gemm checkpoints hold 4 bits)");
    if (!qconfig_.value("zero_point", true)) fail(where, "zero_point false is not supported (AWQ gemm stores zero points)");
    grid_.sym = false;
    ckpt_format_ = "awq_gemm";
  } else {
    fail(where, "quant_method '" + method_ + "' (ptq reads gptq and awq here)");
  }
  grid_.validate(where);
}

algo::IntGrid HfPackedCheckpoint::layer_grid(const std::string& module) const {
  if (method_ != "gptq") return grid_;
  const std::string where = hf_.path() + ": quantization_config";
  const auto g = dynamic_grid(qconfig_.value("dynamic", nlohmann::json()), grid_, module, true, where);
  if (!g) fail(hf_.path() + ": " + module, "holds a qweight but a dynamic \"-:\" rule says it is not quantized");
  return *g;
}

bool HfPackedCheckpoint::is_quantized(const std::string& weight_name) const {
  return ends_with(weight_name, ".weight") && hf_.has(layer_base_name(weight_name) + ".qweight");
}

bool HfPackedCheckpoint::has(const std::string& name) const { return hf_.has(name) || is_quantized(name); }

std::vector<model::TensorInfo> HfPackedCheckpoint::tensors() const {
  const auto all = hf_.tensors();
  std::set<std::string> bases;
  for (const auto& t : all) {
    if (ends_with(t.name, ".qweight")) bases.insert(t.name.substr(0, t.name.size() - 8));
  }
  std::vector<model::TensorInfo> out;
  std::map<std::string, uint64_t> bytes;
  for (const auto& t : all) {
    bool part = false;
    for (const char* p : kParts) {
      const std::string suffix = p;
      if (ends_with(t.name, suffix) && bases.count(t.name.substr(0, t.name.size() - suffix.size()))) {
        bytes[t.name.substr(0, t.name.size() - suffix.size())] += t.nbytes;
        part = true;
      }
    }
    if (!part) out.push_back(t);
  }
  for (const auto& b : bases) {
    const algo::IntGrid g = layer_grid(b);
    const std::string type = method_ == "awq" ? "AWQ_Q4" : "GPTQ_Q" + std::to_string(g.bits);
    const auto& qw = hf_.shard_of(b + ".qweight").info(b + ".qweight");
    const auto& sc = hf_.shard_of(b + ".scales").info(b + ".scales");
    std::vector<int64_t> shape;
    if (qw.shape.size() == 2 && sc.shape.size() == 2) {
      const int64_t out_f = sc.shape[1];
      const int64_t in_f = method_ == "awq" ? qw.shape[0] : qw.shape[0] * 32 / g.bits;
      shape = {out_f, in_f};
    }
    out.push_back({b + ".weight", type, shape, bytes[b]});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

algo::QuantizedLinear HfPackedCheckpoint::quantized(const std::string& weight_name) const {
  const std::string b = layer_base_name(weight_name);
  const std::string where = hf_.path() + ": " + b;
  if (!is_quantized(weight_name)) fail(where, "not a quantized layer");
  for (const char* p : {".qzeros", ".scales"}) {
    if (!hf_.has(b + p)) fail(where, std::string("missing ") + b + p);
  }
  auto qweight = hf_.view(b + ".qweight"), qzeros = hf_.view(b + ".qzeros");
  if (qweight.scalar_type() != torch::kInt32 || qzeros.scalar_type() != torch::kInt32) {
    fail(where, "qweight and qzeros must be I32");
  }
  if (qweight.dim() != 2 || qzeros.dim() != 2) fail(where, "qweight and qzeros must be matrices");
  auto scales = hf_.load(b + ".scales");  // [groups, out]
  if (scales.dim() != 2) fail(where, "scales must be a matrix [groups, out]");
  const int64_t groups = scales.size(0), out_f = scales.size(1);
  algo::QuantizedLinear q;
  q.grid = layer_grid(b);
  torch::Tensor codes_in_out, zeros_g_out;  // [in, out], [groups, out]
  try {
    if (method_ == "awq") {
      codes_in_out = exporter::unpack_awq(qweight);
      zeros_g_out = exporter::unpack_awq(qzeros);
    } else {
      codes_in_out = exporter::unpack_gptq(qweight, q.grid.bits, 0);
      zeros_g_out = exporter::unpack_gptq(qzeros, q.grid.bits, 1);
    }
  } catch (const Error& e) {
    fail(where, e.what());
  }
  const int64_t in_f = codes_in_out.size(0);
  if (codes_in_out.size(1) != out_f || zeros_g_out.size(0) != groups || zeros_g_out.size(1) != out_f) {
    fail(where, "qweight, qzeros and scales disagree on the shape (scales [" + std::to_string(groups) + ", " +
                    std::to_string(out_f) + "])");
  }
  if (groups != algo::num_groups(in_f, q.grid)) {
    fail(where, std::to_string(groups) + " groups of scales for " + std::to_string(in_f) + " inputs at group size " +
                    std::to_string(q.grid.group_size == 0 ? -1 : q.grid.group_size));
  }
  q.codes = codes_in_out.t().contiguous();
  auto z = zeros_g_out.t().to(torch::kFloat32).contiguous();
  if (ckpt_format_ == "gptq") z += 1;  // v1 stores zero - 1
  q.zeros = z;
  q.scales = scales.t().contiguous();
  if (method_ == "gptq" && hf_.has(b + ".g_idx")) {
    auto g = hf_.view(b + ".g_idx");
    if (g.dim() != 1 || g.size(0) != in_f) fail(where, "g_idx must be [" + std::to_string(in_f) + "]");
    q.g_idx = g.to(torch::kInt32).clone();
    if (in_f > 0 && (q.g_idx.min().item<int>() < 0 || q.g_idx.max().item<int>() >= groups)) {
      fail(where, "g_idx names a group that does not exist");
    }
  } else {
    q.g_idx = algo::contiguous_g_idx(in_f, q.grid);
  }
  if (!torch::isfinite(q.scales).all().item<bool>()) fail(where, "scales hold NaN or Inf");
  return q;
}

torch::Tensor HfPackedCheckpoint::load(const std::string& name) const {
  if (hf_.has(name)) return hf_.load(name);
  return quantized(name).dequantize();
}

bool has_quantized_layer(const model::WeightSource& src, const std::string& weight_name) {
  if (auto* q = dynamic_cast<const QuantizedCheckpoint*>(&src)) return q->is_quantized(weight_name);
  if (auto* p = dynamic_cast<const HfPackedCheckpoint*>(&src)) return p->is_quantized(weight_name);
  return false;
}

algo::QuantizedLinear quantized_layer(const model::WeightSource& src, const std::string& weight_name) {
  if (auto* q = dynamic_cast<const QuantizedCheckpoint*>(&src)) return q->quantized(weight_name);
  if (auto* p = dynamic_cast<const HfPackedCheckpoint*>(&src)) return p->quantized(weight_name);
  fail(src.path() + ": " + weight_name, "not a quantized layer (the model is in full precision)");
}

const nlohmann::json* source_quantization_config(const model::WeightSource& src) {
  if (auto* q = dynamic_cast<const QuantizedCheckpoint*>(&src)) return &q->quantization_config();
  if (auto* p = dynamic_cast<const HfPackedCheckpoint*>(&src)) return &p->quantization_config();
  return nullptr;
}

}  // namespace ptq::io
