// Which ggml type each weight matrix of a GGUF export gets: a uniform type (every matrix the same),
// or one of llama.cpp's mixes (llama-quantize's Q4_K_M etc.: llama_tensor_get_type's rules, e.g.
// attn_v and ffn_down of some layers and the output matrix get more bits), then per-tensor
// overrides by regular expression, then llama.cpp's fallback when a row length is not a whole
// number of the type's blocks (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, Q2_K/Q3_K -> Q4_0,
// IQ4_XS -> IQ4_NL, and F16 when even that does not fit).
#pragma once
#include <cstdint>
#include <map>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "io/gguf_types.hpp"

namespace ptq::exporter {

struct GgufTypeScheme {
  std::string name;          // as given to --type, lower case
  io::GgmlType base;         // the type of a matrix no rule changes
  uint32_t file_type = 0;    // llama_ftype for general.file_type
  bool llama_mix = false;    // apply llama_tensor_get_type's per-tensor rules
};

// The scheme of a --type name: f32, f16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k,
// iq4_nl, iq4_xs (uniform) or q2_k_s, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m (llama.cpp's mixes).
// Throws ptq::Error listing the choices.
GgufTypeScheme gguf_type_scheme(const std::string& name);
// Every --type name above, uniform types first.
std::vector<std::string> gguf_type_names();
// The ggml type of a block-type name (as above, uniform names only, or "f16"/"f32").
io::GgmlType gguf_block_type(const std::string& name);

struct ModelShapeInfo {
  int num_layers = 0;
  int num_heads = 0, num_kv_heads = 0;
  bool has_output = true;  // false: tied embeddings, token_embd also serves as the output matrix
};

struct TypeOverride {
  std::string pattern;  // as given: REGEX=TYPE
  std::regex regex;
  io::GgmlType type;
};
// Parses "REGEX=TYPE" (TYPE a uniform block-type name); throws ptq::Error on a bad pattern or type.
TypeOverride parse_type_override(const std::string& spec);

struct TensorTypeChoice {
  io::GgmlType type;        // what is written
  io::GgmlType wanted;      // before the fallback
  bool fell_back = false;
};

// The type of matrix `name` (llama.cpp's GGUF name) whose rows hold `row_length` weights.
// fallback: used when the row does not fit the wanted type and llama.cpp's table has no entry for it
// (the 32-weight types) or its entry does not fit either; "" -> F16 for the k-quants (as llama.cpp),
// an error naming the tensor for the others.
TensorTypeChoice choose_tensor_type(const GgufTypeScheme& scheme, const std::string& name, int64_t row_length,
                                    const ModelShapeInfo& model, const std::vector<TypeOverride>& overrides,
                                    const std::string& fallback);

// The type each linear layer of decoder layer `layer` gets in a GGUF export of `type_name` (a
// uniform type or a mix) with fallback f16, as export_gguf chooses it: block_linears() names
// ("self_attn.v_proj") -> lower-case type names ("q6_k", "f16"). For searches that target the file
// (AWQ with a ggml_type).
std::map<std::string, std::string> layer_gguf_types(const std::string& type_name, int layer, int num_layers, int num_heads,
                                                    int num_kv_heads, int64_t hidden_size, int64_t intermediate_size);

}  // namespace ptq::exporter
