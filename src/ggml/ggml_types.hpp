// ggml's tensor types as GGUF numbers them, and the one table of what each type is (ggml.c's
// type_traits[]): its name, block geometry, and the functions that read and write it. Everything in
// ptq that depends on a type (the GGUF reader and writer, the exporter, GPTQ on the block grids, AWQ's
// ggml search, mixed precision) looks the type up here instead of switching on it. Adding a type
// means writing its block kernels and adding its row to the table in ggml_types.cpp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ptq::ggml {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

// A type's kernels on raw bytes. n is a multiple of the block size; dst / src hold n / block_size
// blocks of type_size bytes.
using ToFloatFn = void (*)(const void* src, float* dst, int64_t n);
using QuantizeFn = void (*)(const float* src, void* dst, int64_t n);
// importance: n values, one per weight of the row (llama.cpp's imatrix entries for its columns).
using QuantizeImportanceFn = void (*)(const float* src, void* dst, int64_t n, const float* importance);
// Replaces the codes of one block (codes[j] for weight j, in [code_lo, code_hi]), keeping its scales.
using SetCodesFn = void (*)(void* block, const uint8_t* codes);

struct GgmlTypeTraits {
  GgmlType type{};
  const char* name = nullptr;  // ggml's name ("Q4_K"); nullptr: an id ggml does not define
  uint32_t block_size = 0;     // weights per block
  uint32_t type_size = 0;      // bytes per block
  // nullptr: ptq cannot read the type (to_float) or write it (quantize).
  ToFloatFn to_float = nullptr;
  // The reference quantizer: what llama-quantize writes without an importance matrix.
  QuantizeFn quantize = nullptr;
  // What llama-quantize writes with one. nullptr: the type ignores importance (as llama.cpp's Q8_0
  // and float types do), quantize is used.
  QuantizeImportanceFn quantize_importance = nullptr;
  // GPTQ on the block grid (algorithms/ggml/ggml_gptq): the codes a block stores, as set_codes takes
  // them; for the non-linear types, levels[c - code_lo] is the value code c stands for, times the
  // block's scale. set_codes == nullptr: GPTQ does not run on this type.
  int code_lo = 0, code_hi = -1;
  SetCodesFn set_codes = nullptr;
  const int8_t* levels = nullptr;
};

// The row of a type id; its name is nullptr for ids ggml does not define (or no longer uses).
const GgmlTypeTraits& type_traits(uint32_t type);
inline const GgmlTypeTraits& type_traits(GgmlType type) { return type_traits(static_cast<uint32_t>(type)); }
// Every defined type, in id order.
const std::vector<GgmlTypeTraits>& all_types();

// "Q4_0", or "type#77" for an unknown id.
std::string type_name(uint32_t type);
// The type of a name in any case ("q4_k", "Q4_K"); nullptr when ggml has no such type.
const GgmlTypeTraits* find_type(const std::string& name);
// The block type (quantized, with a quantizer in ptq) of a lower-case name such as q4_0, q4_k or
// iq4_xs; throws ptq::Error listing them.
uint32_t block_type_by_name(const std::string& name);

// Storage per weight: bytes per block * 8 / weights per block (Q4_K: 144 * 8 / 256 = 4.5).
inline double bits_per_weight(const GgmlTypeTraits& t) {
  return t.block_size ? 8.0 * t.type_size / t.block_size : 0.0;
}

// Throws ptq::Error unless a row of n weights is a whole number of qk-weight blocks of `type`.
void check_block_row(int64_t n, int qk, const char* type);

}  // namespace ptq::ggml
