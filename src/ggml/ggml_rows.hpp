// Whole rows and matrices to and from the bytes of a ggml type, through the type table: rows one after
// another as ggml lays them out, each row a whole number of blocks.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ptq::ggml {

// True when the type has a quantizer (encode_rows can write it) / a dequantizer (dequantize_row can
// read it).
bool can_encode(uint32_t type);
bool can_dequantize(uint32_t type);
// Their names, comma-separated in id order, for messages.
std::string writable_type_names();
std::string readable_type_names();

// A row-major [rows, n] fp32 matrix as the bytes of `type`. importance: nullptr (llama-quantize
// without an imatrix: the reference quantizer) or n values, one per column, shared by all rows (with
// an imatrix: the importance-weighted quantizer; types without one ignore it, as llama.cpp does).
// Throws ptq::Error when n is not a multiple of the type's block size or ptq cannot write the type.
std::vector<uint8_t> encode_rows(uint32_t type, const float* x, int64_t rows, int64_t n,
                                 const float* importance = nullptr);

// n weights (whole blocks, possibly several rows) of `type` at src to fp32 in dst. The caller has
// checked that src holds n / block_size * type_size bytes. Throws ptq::Error when ptq cannot read it.
void dequantize_row(uint32_t type, const void* src, float* dst, int64_t n);

}  // namespace ptq::ggml
