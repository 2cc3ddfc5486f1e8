// The GGUF reader's and writer's names for ggml's types, which the ggml layer defines
// (ggml/ggml_types.hpp: the type table; ggml/ggml_rows.hpp: rows through it).
#pragma once
#include <cstdint>
#include <string>

#include "ggml/ggml_fp16.hpp"
#include "ggml/ggml_rows.hpp"
#include "ggml/ggml_types.hpp"

namespace ptq::io {

using ggml::bf16_to_f32;
using ggml::fp16_to_f32;
using ggml::GgmlType;
using ggml::GgmlTypeTraits;

inline const GgmlTypeTraits& ggml_type_traits(uint32_t type) { return ggml::type_traits(type); }
inline std::string ggml_type_name(uint32_t type) { return ggml::type_name(type); }
inline bool ggml_can_dequantize(uint32_t type) { return ggml::can_dequantize(type); }
inline void ggml_dequantize_row(uint32_t type, const uint8_t* src, float* dst, int64_t n) {
  ggml::dequantize_row(type, src, dst, n);
}

}  // namespace ptq::io
