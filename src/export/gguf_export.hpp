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
  // Storage of the 2-D weight matrices: "f32", "f16", "q8_0" or "q4_0". 1-D tensors (the norms) are
  // always F32, as llama.cpp keeps them.
  std::string type = "f32";
  // For a matrix whose row length is not a multiple of the block size of `type`: "" fails naming the
  // tensor; "f16" or "f32" stores that tensor in that type instead (what llama.cpp's converter does
  // with f16 for stories260K's 172-wide ffn_down).
  std::string fallback;
  // Tokenizer file (SentencePiece .model, llama2.c tokenizer.bin or a "llama"-vocabulary .gguf);
  // empty: found beside the model (model::find_tokenizer).
  std::string tokenizer;
  std::string name;  // general.name; empty: the model file's stem
};

struct GgufExportResult {
  std::string tokenizer;                 // the vocabulary's source file
  std::vector<std::string> tensors;      // llama.cpp names, in file order
  std::vector<std::string> fallbacks;    // tensors stored in the fallback type
  uint64_t bytes = 0;                    // file size
};

// ggml type of a --type name; throws ptq::Error listing the choices.
io::GgmlType gguf_export_type(const std::string& name);

// Throws ptq::Error (nothing is left at `out`) for a non-llama architecture, attention biases, a
// vocabulary that is not SentencePiece-style or does not match the model's size, an unknown type,
// or a matrix whose rows do not split into whole blocks (naming it) when there is no fallback.
GgufExportResult export_gguf(const model::WeightSource& src, const std::string& out,
                             const GgufExportOptions& opt);

}  // namespace ptq::exporter
