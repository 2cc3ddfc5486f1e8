// The weight matrices a mixed-precision allocation chooses a type for, under llama.cpp's GGUF names
// and ptq's names, with their shapes and the candidate types each row length admits (a type fits
// when a row is a whole number of its blocks: stories260K's 64-wide rows take the 32-weight types
// but no k-quant, its 172-wide ffn_down no block type at all).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/weight_source.hpp"

namespace ptq::mixed {

struct MatrixTensor {
  std::string gguf;     // "blk.0.attn_q.weight", "token_embd.weight", "output.weight"
  std::string hf;       // "model.layers.0.self_attn.q_proj.weight"
  std::string linear;   // calibration statistics key: hf without ".weight"
  int layer = -1;       // decoder layer, -1 for the embedding and the output matrix
  int64_t rows = 0, row_length = 0;
};

// Every 2-D tensor the GGUF export writes, in its file order.
std::vector<MatrixTensor> matrix_tensors(const model::WeightSource& src);

// The block-type names a mixed-precision allocation may use (lower case: q2_k .. q8_0 and any other
// block type both ggml::encode_rows and the exporter know; float types are not candidates, so every
// allocated file keeps the same header).
std::vector<std::string> known_candidate_types();
// ptq's default candidates: q2_k, q3_k, q4_k, q5_k, q6_k, q4_0, q4_1, q5_0, q5_1, q8_0.
std::vector<std::string> default_candidate_types();
// "q4_k,q5_k,..." -> names, lower-cased; throws ptq::Error with a did-you-mean for an unknown one.
std::vector<std::string> parse_candidate_types(const std::string& csv);

// The candidates whose blocks divide row_length, in the given order.
std::vector<std::string> fitting_types(const std::vector<std::string>& candidates, int64_t row_length);

// Bytes of a [rows, row_length] matrix stored as `type` (no alignment padding).
uint64_t matrix_bytes(const std::string& type, int64_t rows, int64_t row_length);

}  // namespace ptq::mixed
