// Export of a llama-architecture model to a GGUF v3 file llama.cpp loads: llama.* hyperparameters,
// the SentencePiece vocabulary as tokenizer.ggml.*, and the weights under llama.cpp's tensor names
// with q/k rows back in llama.cpp's interleaved rotary layout. Tensors are converted and written one
// at a time (io::GgufWriter), so memory stays at one tensor whatever the model size.
#pragma once
#include <string>
#include <vector>

#include "io/gguf_types.hpp"
#include "model/weight_source.hpp"

namespace ptq::exporter {

struct GgufExportOptions {
  // Storage of the 2-D weight matrices (export/gguf_type_plan.hpp): a uniform type ("f32", "f16",
  // "q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q2_k" ... "q6_k") or one of llama.cpp's mixes
  // ("q4_k_m", "q3_k_s", ...). 1-D tensors (the norms) are always F32, as llama.cpp keeps them.
  std::string type = "f32";
  // For a matrix whose row length is not a multiple of the block size of its type, after llama.cpp's
  // own fallback table (k-quants: Q4_K -> Q5_0, ...): "" fails naming the tensor (32-weight types) or
  // uses F16 (k-quants, as llama.cpp); "f16" or "f32" stores that tensor in that type (what
  // llama.cpp's converter does with f16 for stories260K's 172-wide ffn_down).
  std::string fallback;
  // Per-tensor types "REGEX=TYPE" (searched in the GGUF tensor name; the last match wins), applied
  // after the mix's rules and before the fallback.
  std::vector<std::string> overrides;
  // Per-column importances for the weighted quantizers: llama.cpp's imatrix .dat or ptq's
  // calibration statistics .h5 (export/gguf_importance.hpp); "" -> the reference quantizers.
  std::string importance;
  // GPTQ on the block grid (algorithms/ggml/ggml_gptq.hpp) for the Q4_0/Q5_0/Q8_0 matrices whose
  // linear layer has a Hessian in this ptq calibration statistics file (.h5); "" -> none.
  std::string gptq_stats;
  double gptq_damp = 0.01;
  // Tokenizer file (SentencePiece .model, llama2.c tokenizer.bin or a "llama"-vocabulary .gguf);
  // empty: found beside the model (model::find_tokenizer).
  std::string tokenizer;
  std::string name;  // general.name; empty: the model file's stem
  // Writes zeros in place of every tensor's data (nothing is quantized): the file has the exact size
  // and per-tensor types of the real export, for byte accounting against a size budget.
  bool layout_only = false;
};

struct GgufExportResult {
  std::string tokenizer;                 // the vocabulary's source file
  std::vector<std::string> tensors;      // llama.cpp names, in file order
  std::vector<std::string> fallbacks;    // tensors stored in a fallback type
  std::vector<std::string> fallback_notes;  // "name: Q4_K -> Q5_0 (rows of 64)", one per fallback
  std::vector<std::string> types;        // ggml type name of each tensor, in file order
  std::vector<std::string> weighted;     // tensors quantized with importances
  std::vector<std::string> gptq;         // tensors quantized by GPTQ on the block grid
  uint64_t bytes = 0;                    // file size
};

// ggml type of a uniform --type name; throws ptq::Error listing the choices.
io::GgmlType gguf_export_type(const std::string& name);

// Throws ptq::Error (nothing is left at `out`) for a non-llama architecture, attention biases, a
// vocabulary that is not SentencePiece-style or does not match the model's size, an unknown type,
// or a matrix whose rows do not split into whole blocks (naming it) when there is no fallback.
GgufExportResult export_gguf(const model::WeightSource& src, const std::string& out,
                             const GgufExportOptions& opt);

}  // namespace ptq::exporter
