// Export to Hugging Face checkpoints other runtimes load (transformers, vLLM, GPTQModel, AutoAWQ):
//   "gptq"     the GPTQ format (qweight / qzeros / scales / g_idx per linear layer, packed as
//              AutoGPTQ packs them; export/gptq_packing.hpp), config.json quantization_config
//              {"quant_method": "gptq", bits, group_size (-1 per channel), desc_act, sym,
//              checkpoint_format "gptq" (v1: qzeros hold zero - 1) or "gptq_v2" (zero as is),
//              true_sequential, static_groups, damp_percent when known, lm_head false} and the same
//              fields in quantize_config.json. Integer grids of 2, 3, 4 or 8 bits.
//   "awq"      AutoAWQ's GEMM format (qweight [in, out/8] / qzeros / scales, 4 bits, contiguous
//              groups only), quantization_config {"quant_method": "awq", bits 4, group_size,
//              zero_point true, version "gemm"}. A symmetric ptq grid is stored with its constant
//              zero points (2^(bits-1)): zero_point stays true, which is what AWQ's loaders expect.
//   "hf-fp16"  every weight dequantized, as a plain fp16 checkpoint (any source model).
// Non-quantized tensors (embeddings, norms, head, biases) are stored in fp16; torch_dtype float16.
// The source must hold quantized layers for gptq / awq (ptq's quantized directory, or a GPTQ / AWQ
// checkpoint: converting between them works). Output: one safetensors shard per decoder layer plus
// one for the rest, written layer by layer into a temporary directory beside `out_dir` and renamed
// into place at the end, so an interrupted or failed export leaves nothing under the final name
// (an earlier `out_dir` is replaced only on success). Bytes are deterministic.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "algorithms/common/quantized_linear.hpp"
#include "model/weight_source.hpp"

namespace ptq::exporter {

struct HfExportOptions {
  std::string format = "gptq";             // gptq | awq | hf-fp16
  std::string checkpoint_format = "gptq";  // GPTQ only: gptq (v1) | gptq_v2
  // A layer whose shape the packed format cannot hold (3 bits: in % 32; qzeros: out not a whole
  // number of words; a partial last group; AWQ: out % 8): "fail" (the default) throws naming the
  // layer; "fp16" stores it dequantized in fp16 and lists it as not quantized in the config
  // (modules_in_block_to_quantize and GPTQModel's dynamic "-:" rules; AWQ: modules_to_not_convert).
  std::string unaligned = "fail";
  // Tokenizer to copy (file or directory); "" -> the source directory's tokenizer files, or the one
  // found beside a model file.
  std::string tokenizer;
};

struct HfExportResult {
  int quantized_layers = 0;             // packed layers
  std::vector<std::string> kept_fp16;   // quantized layers stored in fp16 (unaligned = fp16)
  std::vector<std::string> notes;       // warnings (activation quantization not exported, ...)
  nlohmann::json quantization_config;   // as written (null for hf-fp16)
  std::string tokenizer;                // what was copied ("" none)
  uint64_t bytes = 0;                   // total size of the output directory
};

HfExportResult export_hf(const model::WeightSource& src, const std::string& out_dir, const HfExportOptions& opt);

// One layer in a packed format; g_idx undefined for AWQ.
struct PackedLayer {
  torch::Tensor qweight, qzeros, scales, g_idx;
};

// Why a layer of this shape does not fit the format ("" when it does): e.g. "in_features = 48 is not
// a multiple of 32 (3-bit GPTQ packs 32 input rows into 3 words)".
std::string packed_shape_misfit(const std::string& format, int bits, int group_size, int64_t in, int64_t out);

// Packs one layer; throws ptq::Error naming `name` for a floating-point dtype, unsupported bits, a
// shape that does not fit, zero points outside the grid, a v1 zero point of 0 (it would wrap: use a
// symmetric grid or gptq_v2), scales beyond fp16, and for AWQ act-order (non-contiguous g_idx) or
// per-channel grids.
PackedLayer pack_gptq_layer(const algo::QuantizedLinear& q, const std::string& name, bool v2);
PackedLayer pack_awq_layer(const algo::QuantizedLinear& q, const std::string& name);

}  // namespace ptq::exporter
