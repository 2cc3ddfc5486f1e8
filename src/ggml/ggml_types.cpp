#include "ggml/ggml_types.hpp"

#include <array>
#include <cctype>
#include <iterator>

#include "core/error.hpp"
#include "ggml/ggml_blocks.hpp"
#include "ggml/ggml_blocks_q4q5.hpp"
#include "ggml/ggml_iq4.hpp"
#include "ggml/ggml_kquants.hpp"
#include "ggml/ggml_plain_types.hpp"

namespace ptq::ggml {

namespace {

using T = GgmlType;

// The kernels take their own block struct; the table holds them as functions of bytes.
template <class Block, void (*F)(const Block*, float*, int64_t)>
void to_float_of(const void* x, float* y, int64_t n) {
  F(static_cast<const Block*>(x), y, n);
}
template <class Block, void (*F)(const float*, Block*, int64_t)>
void quantize_of(const float* x, void* y, int64_t n) {
  F(x, static_cast<Block*>(y), n);
}
template <class Block, void (*F)(const float*, Block*, int64_t, const float*)>
void quantize_importance_of(const float* x, void* y, int64_t n, const float* importance) {
  F(x, static_cast<Block*>(y), n, importance);
}
template <class Block, void (*F)(Block&, const uint8_t*)>
void set_codes_of(void* block, const uint8_t* codes) {
  F(*static_cast<Block*>(block), codes);
}

// A type ptq only knows the geometry of (to size and skip its tensors in a GGUF file).
GgmlTypeTraits sized(T type, const char* name, uint32_t block_size, uint32_t type_size) {
  GgmlTypeTraits t;
  t.type = type;
  t.name = name;
  t.block_size = block_size;
  t.type_size = type_size;
  return t;
}

// An unblocked type (block size 1) read, and for F32 / F16 written, by the plain kernels.
GgmlTypeTraits plain(T type, const char* name, uint32_t type_size, ToFloatFn to_float, QuantizeFn quantize = nullptr) {
  GgmlTypeTraits t = sized(type, name, 1, type_size);
  t.to_float = to_float;
  t.quantize = quantize;
  return t;
}

// A block type with the full set of kernels; the block struct gives the size. Imp may be nullptr
// (the type ignores importance). codes: the range GPTQ picks codes from; levels: the non-linear
// types' value of each code.
template <class Block, void (*Deq)(const Block*, float*, int64_t), void (*Ref)(const float*, Block*, int64_t),
          void (*Imp)(const float*, Block*, int64_t, const float*), void (*Set)(Block&, const uint8_t*)>
GgmlTypeTraits block(T type, const char* name, uint32_t block_size, int code_lo, int code_hi,
                     const int8_t* levels = nullptr) {
  GgmlTypeTraits t = sized(type, name, block_size, sizeof(Block));
  t.to_float = to_float_of<Block, Deq>;
  t.quantize = quantize_of<Block, Ref>;
  if constexpr (Imp != nullptr) t.quantize_importance = quantize_importance_of<Block, Imp>;
  t.code_lo = code_lo;
  t.code_hi = code_hi;
  t.set_codes = set_codes_of<Block, Set>;
  t.levels = levels;
  return t;
}

// One row per type ggml defines, in id order; bits per weight = type_size * 8 / block_size.
std::vector<GgmlTypeTraits> make_table() {
  return {
      plain(T::F32, "F32", 4, f32_to_float, float_to_f32),  // 32 bpw
      plain(T::F16, "F16", 2, f16_to_float, float_to_f16),  // 16 bpw
      // w = d * (q - 8): 4.5 bpw
      block<BlockQ4_0, dequantize_row_q4_0, quantize_row_q4_0, quantize_row_q4_0_weighted, set_codes_q4_0>(
          T::Q4_0, "Q4_0", kQK4_0, 0, 15),
      // w = d * q + m: 5 bpw
      block<BlockQ4_1, dequantize_row_q4_1, quantize_row_q4_1, quantize_row_q4_1_weighted, set_codes_q4_1>(
          T::Q4_1, "Q4_1", kQK4_1, 0, 15),
      // w = d * (q - 16): 5.5 bpw
      block<BlockQ5_0, dequantize_row_q5_0, quantize_row_q5_0, quantize_row_q5_0_weighted, set_codes_q5_0>(
          T::Q5_0, "Q5_0", kQK5_0, 0, 31),
      // w = d * q + m: 6 bpw
      block<BlockQ5_1, dequantize_row_q5_1, quantize_row_q5_1, quantize_row_q5_1_weighted, set_codes_q5_1>(
          T::Q5_1, "Q5_1", kQK5_1, 0, 31),
      // w = d * q, q in [-127, 127] (GPTQ's codes 1..255, stored less 128): 8.5 bpw; no importance
      block<BlockQ8_0, dequantize_row_q8_0, quantize_row_q8_0, nullptr, set_codes_q8_0>(T::Q8_0, "Q8_0", kQK8_0, 1, 255),
      sized(T::Q8_1, "Q8_1", 32, 36),  // d, s, 32 int8: 9 bpw
      // super-blocks of 256: w = d * sc * q - dmin * m, 16 sub-blocks: 2.625 bpw
      block<BlockQ2_K, dequantize_row_q2_K, quantize_row_q2_K, quantize_row_q2_K_weighted, set_codes_q2_K>(
          T::Q2_K, "Q2_K", kQK_K, 0, 3),
      // w = d * (sc - 32) * (q - 4), 16 sub-blocks: 3.4375 bpw
      block<BlockQ3_K, dequantize_row_q3_K, quantize_row_q3_K, quantize_row_q3_K_weighted, set_codes_q3_K>(
          T::Q3_K, "Q3_K", kQK_K, 0, 7),
      // w = d * sc * q - dmin * m, 8 sub-blocks: 4.5 bpw
      block<BlockQ4_K, dequantize_row_q4_K, quantize_row_q4_K, quantize_row_q4_K_weighted, set_codes_q4_K>(
          T::Q4_K, "Q4_K", kQK_K, 0, 15),
      // as Q4_K with a fifth bit: 5.5 bpw
      block<BlockQ5_K, dequantize_row_q5_K, quantize_row_q5_K, quantize_row_q5_K_weighted, set_codes_q5_K>(
          T::Q5_K, "Q5_K", kQK_K, 0, 31),
      // w = d * sc * (q - 32), 16 sub-blocks with int8 scales: 6.5625 bpw
      block<BlockQ6_K, dequantize_row_q6_K, quantize_row_q6_K, quantize_row_q6_K_weighted, set_codes_q6_K>(
          T::Q6_K, "Q6_K", kQK_K, 0, 63),
      sized(T::Q8_K, "Q8_K", 256, 292),  // float d, 256 int8, 16 int16 sums: 9.125 bpw
      sized(T::IQ2_XXS, "IQ2_XXS", 256, 66),
      sized(T::IQ2_XS, "IQ2_XS", 256, 74),
      sized(T::IQ3_XXS, "IQ3_XXS", 256, 98),
      sized(T::IQ1_S, "IQ1_S", 256, 50),
      // w = d * kValuesIQ4NL[q]: 4.5 bpw
      block<BlockIQ4_NL, dequantize_row_iq4_nl, quantize_row_iq4_nl_ref, quantize_row_iq4_nl, set_codes_iq4_nl>(
          T::IQ4_NL, "IQ4_NL", kQK4_NL, 0, 15, kValuesIQ4NL),
      sized(T::IQ3_S, "IQ3_S", 256, 110),
      sized(T::IQ2_S, "IQ2_S", 256, 82),
      // w = d * ls * kValuesIQ4NL[q], 8 sub-blocks with 6-bit scales ls: 4.25 bpw
      block<BlockIQ4_XS, dequantize_row_iq4_xs, quantize_row_iq4_xs_ref, quantize_row_iq4_xs, set_codes_iq4_xs>(
          T::IQ4_XS, "IQ4_XS", kQK_IQ4_XS, 0, 15, kValuesIQ4NL),
      plain(T::I8, "I8", 1, i8_to_float),
      plain(T::I16, "I16", 2, i16_to_float),
      plain(T::I32, "I32", 4, i32_to_float),
      sized(T::I64, "I64", 1, 8),
      plain(T::F64, "F64", 8, f64_to_float),
      sized(T::IQ1_M, "IQ1_M", 256, 56),
      plain(T::BF16, "BF16", 2, bf16_to_float),  // 16 bpw; read only
      sized(T::TQ1_0, "TQ1_0", 256, 54),
      sized(T::TQ2_0, "TQ2_0", 256, 66),
      sized(T::MXFP4, "MXFP4", 32, 17),  // e8m0 scale, 16 bytes of fp4 nibbles: 4.25 bpw
  };
}

constexpr uint32_t kMaxId = 64;

struct Table {
  std::vector<GgmlTypeTraits> rows = make_table();
  std::array<const GgmlTypeTraits*, kMaxId> by_id{};
  GgmlTypeTraits unknown;
  Table() {
    for (const GgmlTypeTraits& t : rows) by_id.at(static_cast<uint32_t>(t.type)) = &t;
  }
};

const Table& table() {
  static const Table t;
  return t;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

const GgmlTypeTraits& type_traits(uint32_t type) {
  const Table& t = table();
  const GgmlTypeTraits* row = type < kMaxId ? t.by_id[type] : nullptr;
  return row ? *row : t.unknown;
}

const std::vector<GgmlTypeTraits>& all_types() { return table().rows; }

std::string type_name(uint32_t type) {
  const GgmlTypeTraits& t = type_traits(type);
  return t.name ? std::string(t.name) : "type#" + std::to_string(type);
}

const GgmlTypeTraits* find_type(const std::string& name) {
  const std::string wanted = lower(name);
  for (const GgmlTypeTraits& t : all_types()) {
    if (lower(t.name) == wanted) return &t;
  }
  return nullptr;
}

uint32_t block_type_by_name(const std::string& name) {
  std::string known;
  for (const GgmlTypeTraits& t : all_types()) {
    if (!t.quantize || t.block_size == 1) continue;
    const std::string n = lower(t.name);
    if (n == name) return static_cast<uint32_t>(t.type);
    known += (known.empty() ? "" : ", ") + n;
  }
  throw Error("unknown llama.cpp block type '" + name + "' (choose " + known + ")");
}

void check_block_row(int64_t n, int qk, const char* type) {
  if (n < 0 || n % qk != 0) {
    throw Error(std::string(type) + ": a row of " + std::to_string(n) + " weights is not a whole number of " +
                std::to_string(qk) + "-weight blocks");
  }
}

}  // namespace ptq::ggml
