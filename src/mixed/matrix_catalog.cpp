#include "mixed/matrix_catalog.hpp"

#include <algorithm>
#include <cctype>

#include "core/error.hpp"
#include "core/unknown_name.hpp"
#include "export/gguf_type_plan.hpp"
#include "ggml/ggml_rows.hpp"
#include "ggml/ggml_types.hpp"
#include "io/gguf_model.hpp"

namespace ptq::mixed {

namespace {

constexpr const char* kLayerMatrices[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

uint32_t type_id(const std::string& name) { return static_cast<uint32_t>(exporter::gguf_block_type(name)); }

}  // namespace

std::vector<MatrixTensor> matrix_tensors(const model::WeightSource& src) {
  const model::ModelConfig& c = src.config();
  std::vector<std::string> names = {"token_embd.weight"};
  for (int l = 0; l < c.num_layers; ++l) {
    for (const char* part : kLayerMatrices) names.push_back("blk." + std::to_string(l) + "." + part + ".weight");
  }
  if (src.has("lm_head.weight")) names.push_back("output.weight");
  std::vector<MatrixTensor> out;
  for (const std::string& g : names) {
    MatrixTensor t;
    t.gguf = g;
    t.hf = io::gguf_to_hf_name(g);
    t.linear = t.hf.substr(0, t.hf.size() - std::string(".weight").size());
    t.layer = g.rfind("blk.", 0) == 0 ? std::stoi(g.substr(4, g.find('.', 4) - 4)) : -1;
    if (!src.has(t.hf)) fail(src.path(), "tensor '" + t.hf + "' (GGUF '" + g + "') is missing");
    const model::TensorInfo info = [&] {
      for (const model::TensorInfo& i : src.tensors()) {
        if (i.name == t.hf) return i;
      }
      fail(src.path(), "tensor '" + t.hf + "' is not listed");
    }();
    if (info.shape.size() != 2) fail(src.path(), "tensor '" + t.hf + "' is not a matrix");
    t.rows = info.shape[0];
    t.row_length = info.shape[1];
    out.push_back(t);
  }
  return out;
}

std::vector<std::string> known_candidate_types() {
  std::vector<std::string> out;
  for (const std::string& n : exporter::gguf_type_names()) {
    if (n == "f32" || n == "f16" || exporter::gguf_type_scheme(n).llama_mix) continue;
    if (!ggml::can_encode(type_id(n))) continue;
    out.push_back(n);
  }
  return out;
}

std::vector<std::string> default_candidate_types() {
  return {"q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0"};
}

std::vector<std::string> parse_candidate_types(const std::string& csv) {
  const std::vector<std::string> known = known_candidate_types();
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= csv.size()) {
    const size_t comma = std::min(csv.find(',', start), csv.size());
    const std::string name = lower(csv.substr(start, comma - start));
    start = comma + 1;
    if (name.empty()) continue;
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      throw Error("candidate type '" + name + "': " + unknown_name_message("type", name, known));
    }
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  }
  if (out.empty()) throw Error("no candidate types given (choose from " + [&] {
                                 std::string s;
                                 for (const auto& k : known) s += (s.empty() ? "" : ", ") + k;
                                 return s;
                               }() + ")");
  return out;
}

std::vector<std::string> fitting_types(const std::vector<std::string>& candidates, int64_t row_length) {
  std::vector<std::string> out;
  for (const std::string& t : candidates) {
    const auto tr = ggml::type_traits(type_id(t));
    if (row_length % tr.block_size == 0) out.push_back(t);
  }
  return out;
}

uint64_t matrix_bytes(const std::string& type, int64_t rows, int64_t row_length) {
  const auto tr = ggml::type_traits(type_id(type));
  if (row_length % tr.block_size != 0) {
    throw Error("rows of " + std::to_string(row_length) + " weights are not whole " + type + " blocks");
  }
  return static_cast<uint64_t>(rows) * static_cast<uint64_t>(row_length / tr.block_size) * tr.type_size;
}

}  // namespace ptq::mixed
