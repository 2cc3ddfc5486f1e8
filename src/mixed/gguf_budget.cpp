#include "mixed/gguf_budget.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "core/error.hpp"
#include "core/regex_text.hpp"

namespace ptq::mixed {

namespace fs = std::filesystem;

namespace {

uint64_t pad32(uint64_t n) { return (n + 31) / 32 * 32; }

std::string bpw_text(uint64_t bytes, uint64_t params) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3f", 8.0 * static_cast<double>(bytes) / static_cast<double>(params));
  return b;
}

}  // namespace

uint64_t GgufByteModel::tensor_bytes(size_t i, const std::string& type) const {
  return pad32(matrix_bytes(type, tensors.at(i).rows, tensors.at(i).row_length));
}

uint64_t GgufByteModel::file_bytes(const std::vector<std::string>& chosen) const {
  if (chosen.size() != tensors.size()) throw Error("GGUF byte model: one type per allocatable tensor expected");
  uint64_t s = fixed_bytes;
  for (size_t i = 0; i < tensors.size(); ++i) s += tensor_bytes(i, chosen[i]);
  return s;
}

uint64_t GgufByteModel::min_file_bytes() const {
  uint64_t s = fixed_bytes;
  for (size_t i = 0; i < tensors.size(); ++i) {
    uint64_t m = UINT64_MAX;
    for (const std::string& t : types[i]) m = std::min(m, tensor_bytes(i, t));
    s += m;
  }
  return s;
}

uint64_t GgufByteModel::max_file_bytes() const {
  uint64_t s = fixed_bytes;
  for (size_t i = 0; i < tensors.size(); ++i) {
    uint64_t m = 0;
    for (const std::string& t : types[i]) m = std::max(m, tensor_bytes(i, t));
    s += m;
  }
  return s;
}

GgufByteModel gguf_byte_model(const model::WeightSource& src, const exporter::GgufExportOptions& base,
                              const std::vector<std::string>& candidates, const std::string& scratch) {
  GgufByteModel m;
  for (const model::TensorInfo& t : src.tensors()) {
    uint64_t n = 1;
    for (int64_t d : t.shape) n *= static_cast<uint64_t>(d);
    m.parameters += n;
  }
  for (const MatrixTensor& t : matrix_tensors(src)) {
    std::vector<std::string> fit = fitting_types(candidates, t.row_length);
    if (fit.empty()) {
      m.fixed.push_back(t);
    } else {
      m.tensors.push_back(t);
      m.types.push_back(fit);
    }
  }
  if (m.tensors.empty()) throw Error("no weight matrix of " + src.path() + " fits any candidate type");
  std::vector<std::string> first;
  for (const auto& f : m.types) first.push_back(f.front());
  exporter::GgufExportOptions opt = allocation_export_options(m, base, first);
  opt.layout_only = true;
  fs::create_directories(scratch);
  const std::string path = (fs::path(scratch) / "layout.gguf").string();
  const exporter::GgufExportResult res = exporter::export_gguf(src, path, opt);
  fs::remove(path);
  uint64_t allocated = 0;
  for (size_t i = 0; i < m.tensors.size(); ++i) allocated += m.tensor_bytes(i, first[i]);
  m.fixed_bytes = res.bytes - allocated;
  return m;
}

uint64_t budget_bytes(const GgufByteModel& m, double target_bpw, uint64_t target_size) {
  const bool by_bpw = target_bpw > 0;
  if (by_bpw == (target_size > 0)) throw Error("give exactly one of --target-bpw and --target-size");
  if (by_bpw && !std::isfinite(target_bpw)) throw Error("--target-bpw must be a positive number");
  const uint64_t lo = m.min_file_bytes(), hi = m.max_file_bytes();
  const uint64_t b = by_bpw ? static_cast<uint64_t>(std::floor(target_bpw * static_cast<double>(m.parameters) / 8.0))
                            : target_size;
  if (b < lo || b > hi) {
    const std::string what = by_bpw ? "--target-bpw " + bpw_text(b, m.parameters) + " (" + std::to_string(b) + " bytes)"
                                    : "--target-size " + std::to_string(b) + " bytes (" + bpw_text(b, m.parameters) +
                                          " bits per weight)";
    throw Error(what + " is outside the reachable range " + std::to_string(lo) + " .. " + std::to_string(hi) +
                " bytes (" + bpw_text(lo, m.parameters) + " .. " + bpw_text(hi, m.parameters) +
                " bits per weight) for these candidate types");
  }
  return b;
}

exporter::GgufExportOptions allocation_export_options(const GgufByteModel& m, const exporter::GgufExportOptions& base,
                                                      const std::vector<std::string>& chosen) {
  if (chosen.size() != m.tensors.size()) throw Error("GGUF allocation: one type per allocatable tensor expected");
  exporter::GgufExportOptions opt = base;
  opt.overrides.clear();
  std::map<std::string, uint64_t> weights;
  for (size_t i = 0; i < chosen.size(); ++i) {
    weights[chosen[i]] += static_cast<uint64_t>(m.tensors[i].rows * m.tensors[i].row_length);
    opt.overrides.push_back("^" + regex_escape(m.tensors[i].gguf) + "$=" + chosen[i]);
  }
  std::string most = chosen.front();
  for (const auto& [t, w] : weights) {
    if (w > weights[most]) most = t;
  }
  opt.type = most;
  if (opt.fallback.empty()) opt.fallback = "f16";  // matrices no block type fits, as llama.cpp's converter
  return opt;
}

}  // namespace ptq::mixed
