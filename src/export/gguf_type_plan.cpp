#include "export/gguf_type_plan.hpp"

#include <cctype>
#include <map>

#include "core/error.hpp"

namespace ptq::exporter {

using io::GgmlType;

namespace {

// llama_ftype numbers (llama.h) for general.file_type.
enum Ftype : uint32_t {
  kAllF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ8_0 = 7, kQ5_0 = 8, kQ5_1 = 9, kQ2_K = 10, kQ3_K_S = 11,
  kQ3_K_M = 12, kQ3_K_L = 13, kQ4_K_S = 14, kQ4_K_M = 15, kQ5_K_S = 16, kQ5_K_M = 17, kQ6_K = 18, kQ2_K_S = 21,
  kIQ4_NL = 25, kIQ4_XS = 30,
};

const std::vector<GgufTypeScheme>& schemes() {
  static const std::vector<GgufTypeScheme> kSchemes = {
      {"f32", GgmlType::F32, kAllF32, false},   {"f16", GgmlType::F16, kF16, false},
      {"q8_0", GgmlType::Q8_0, kQ8_0, false},   {"q4_0", GgmlType::Q4_0, kQ4_0, false},
      {"q4_1", GgmlType::Q4_1, kQ4_1, false},   {"q5_0", GgmlType::Q5_0, kQ5_0, false},
      {"q5_1", GgmlType::Q5_1, kQ5_1, false},   {"q2_k", GgmlType::Q2_K, kQ2_K, false},
      {"q3_k", GgmlType::Q3_K, kQ3_K_S, false}, {"q4_k", GgmlType::Q4_K, kQ4_K_S, false},
      {"q5_k", GgmlType::Q5_K, kQ5_K_S, false}, {"q6_k", GgmlType::Q6_K, kQ6_K, false},
      {"iq4_nl", GgmlType::IQ4_NL, kIQ4_NL, false}, {"iq4_xs", GgmlType::IQ4_XS, kIQ4_XS, false},
      {"q2_k_s", GgmlType::Q2_K, kQ2_K_S, true}, {"q3_k_s", GgmlType::Q3_K, kQ3_K_S, true},
      {"q3_k_m", GgmlType::Q3_K, kQ3_K_M, true}, {"q3_k_l", GgmlType::Q3_K, kQ3_K_L, true},
      {"q4_k_s", GgmlType::Q4_K, kQ4_K_S, true}, {"q4_k_m", GgmlType::Q4_K, kQ4_K_M, true},
      {"q5_k_s", GgmlType::Q5_K, kQ5_K_S, true}, {"q5_k_m", GgmlType::Q5_K, kQ5_K_M, true},
  };
  return kSchemes;
}

std::string choices(bool mixes) {
  std::string s;
  for (const auto& sc : schemes()) {
    if (sc.llama_mix && !mixes) continue;
    s += (s.empty() ? "" : ", ") + sc.name;
  }
  return s;
}

int layer_of(const std::string& name) {  // "blk.N.xxx" -> N, else -1
  if (name.rfind("blk.", 0) != 0) return -1;
  return std::stoi(name.substr(4, name.find('.', 4) - 4));
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// llama.cpp's "more bits" layers: the first and last eighth, and every third one in between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// llama_tensor_get_type's rules for a llama-architecture model (no experts, not Falcon, not 70B).
GgmlType llama_mix_type(const GgufTypeScheme& s, const std::string& name, int64_t row_length, const ModelShapeInfo& m) {
  const uint32_t ft = s.file_type;
  GgmlType t = s.base;
  const bool is_output = name == "output.weight" || (!m.has_output && name == "token_embd.weight");
  if (is_output) {
    const auto block = io::ggml_type_traits(static_cast<uint32_t>(t)).block_size;
    return row_length % block != 0 ? GgmlType::Q8_0 : GgmlType::Q6_K;
  }
  if (name == "token_embd.weight") return t;
  const int i = layer_of(name), n = m.num_layers;
  const int n_gqa = m.num_kv_heads > 0 ? m.num_heads / m.num_kv_heads : 1;
  if (contains(name, "attn_v.weight")) {
    if (ft == kQ2_K) return n_gqa >= 4 ? GgmlType::Q4_K : GgmlType::Q3_K;
    if (ft == kQ2_K_S && n_gqa >= 4) return GgmlType::Q4_K;
    if (ft == kQ3_K_M) return i < 2 ? GgmlType::Q5_K : GgmlType::Q4_K;
    if (ft == kQ3_K_L) return GgmlType::Q5_K;
    if ((ft == kQ4_K_M || ft == kQ5_K_M) && use_more_bits(i, n)) return GgmlType::Q6_K;
    if (ft == kQ4_K_S && i < 4) return GgmlType::Q5_K;
    return t;
  }
  if (contains(name, "ffn_down")) {
    if (ft == kQ2_K) return GgmlType::Q3_K;
    if (ft == kQ2_K_S) return i < n / 8 ? GgmlType::Q4_K : t;
    if (ft == kQ3_K_M) return i < n / 16 ? GgmlType::Q5_K : GgmlType::Q4_K;
    if (ft == kQ3_K_L) return GgmlType::Q5_K;
    if (ft == kQ4_K_M) return use_more_bits(i, n) ? GgmlType::Q6_K : t;
    if (ft == kQ5_K_M) return use_more_bits(i, n) ? GgmlType::Q6_K : t;
    if (ft == kQ4_K_S) return i < n / 8 ? GgmlType::Q5_K : t;
    return t;
  }
  if (contains(name, "attn_output.weight")) {
    if (ft == kQ2_K) return GgmlType::Q3_K;
    if (ft == kQ3_K_M) return GgmlType::Q4_K;
    if (ft == kQ3_K_L) return GgmlType::Q5_K;
  }
  return t;
}

}  // namespace

static std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

GgufTypeScheme gguf_type_scheme(const std::string& given) {
  const std::string name = lower(given);  // llama-quantize spells them Q4_K_M
  for (const auto& s : schemes()) {
    if (s.name == name) return s;
  }
  throw Error("unknown GGUF type '" + name + "' (choose " + choices(true) + ")");
}

std::vector<std::string> gguf_type_names() {
  std::vector<std::string> names;
  for (const auto& sc : schemes()) names.push_back(sc.name);
  return names;
}

GgmlType gguf_block_type(const std::string& given) {
  const std::string name = lower(given);
  for (const auto& s : schemes()) {
    if (s.name == name && !s.llama_mix) return s.base;
  }
  throw Error("unknown ggml type '" + name + "' (choose " + choices(false) + ")");
}

TypeOverride parse_type_override(const std::string& spec) {
  const size_t eq = spec.rfind('=');
  if (eq == std::string::npos || eq == 0) throw Error("type override '" + spec + "' is not REGEX=TYPE");
  TypeOverride o;
  o.pattern = spec;
  try {
    o.regex = std::regex(spec.substr(0, eq));
  } catch (const std::regex_error& e) {
    throw Error("type override '" + spec + "': bad regular expression (" + e.what() + ")");
  }
  o.type = gguf_block_type(spec.substr(eq + 1));
  return o;
}

TensorTypeChoice choose_tensor_type(const GgufTypeScheme& scheme, const std::string& name, int64_t row_length,
                                    const ModelShapeInfo& model, const std::vector<TypeOverride>& overrides,
                                    const std::string& fallback) {
  GgmlType t = scheme.llama_mix ? llama_mix_type(scheme, name, row_length, model) : scheme.base;
  for (const TypeOverride& o : overrides) {
    if (std::regex_search(name, o.regex)) t = o.type;  // the last matching override wins
  }
  TensorTypeChoice c{t, t, false};
  auto fits = [&](GgmlType x) { return row_length % io::ggml_type_traits(static_cast<uint32_t>(x)).block_size == 0; };
  if (fits(t)) return c;
  c.fell_back = true;
  // llama.cpp's table (llama-quant.cpp) for the 256-weight types; it now sends Q2_K/Q3_K to IQ4_NL,
  // where ptq keeps the older Q4_0. IQ4_XS -> IQ4_NL as llama.cpp; IQ4_NL itself has no entry.
  static const std::map<GgmlType, GgmlType> kTable = {{GgmlType::Q2_K, GgmlType::Q4_0}, {GgmlType::Q3_K, GgmlType::Q4_0},
                                                      {GgmlType::Q4_K, GgmlType::Q5_0}, {GgmlType::Q5_K, GgmlType::Q5_1},
                                                      {GgmlType::Q6_K, GgmlType::Q8_0}, {GgmlType::IQ4_XS, GgmlType::IQ4_NL}};
  const auto it = kTable.find(t);
  if (it != kTable.end() && fits(it->second)) {
    c.type = it->second;
    return c;
  }
  if (!fallback.empty()) {
    const GgmlType f = gguf_block_type(fallback);
    if (f != GgmlType::F16 && f != GgmlType::F32) throw Error("GGUF fallback type '" + fallback + "' must be f16 or f32");
    c.type = f;
    return c;
  }
  if (it != kTable.end()) {  // a k-quant: llama.cpp ends at F16
    c.type = GgmlType::F16;
    return c;
  }
  const io::GgmlTypeTraits tr = io::ggml_type_traits(static_cast<uint32_t>(t));
  throw Error("tensor '" + name + "' has rows of " + std::to_string(row_length) + " weights, not a multiple of " +
              tr.name + "'s block size " + std::to_string(tr.block_size) + "; ggml cannot store it as " + tr.name +
              " (pass a fallback type, e.g. --fallback f16, as llama.cpp's converter does)");
}

}  // namespace ptq::exporter

namespace ptq::exporter {

std::map<std::string, std::string> layer_gguf_types(const std::string& type_name, int layer, int num_layers, int num_heads,
                                                    int num_kv_heads, int64_t hidden_size, int64_t intermediate_size) {
  const GgufTypeScheme scheme = gguf_type_scheme(type_name);
  const ModelShapeInfo info{num_layers, num_heads, num_kv_heads, true};
  // llama.cpp's names of a decoder layer's matrices, ptq's linear names, and their row lengths.
  const struct {
    const char *gguf, *linear;
    int64_t row;
  } parts[] = {{"attn_q", "self_attn.q_proj", hidden_size},      {"attn_k", "self_attn.k_proj", hidden_size},
               {"attn_v", "self_attn.v_proj", hidden_size},      {"attn_output", "self_attn.o_proj", hidden_size},
               {"ffn_gate", "mlp.gate_proj", hidden_size},       {"ffn_up", "mlp.up_proj", hidden_size},
               {"ffn_down", "mlp.down_proj", intermediate_size}};
  std::map<std::string, std::string> out;
  for (const auto& p : parts) {
    const std::string gguf = "blk." + std::to_string(layer) + "." + p.gguf + ".weight";
    const TensorTypeChoice ch = choose_tensor_type(scheme, gguf, p.row, info, {}, "f16");
    out[p.linear] = lower(io::ggml_type_name(static_cast<uint32_t>(ch.type)));
  }
  return out;
}

}  // namespace ptq::exporter
