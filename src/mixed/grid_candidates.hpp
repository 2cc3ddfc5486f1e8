// Integer-grid candidates for mixed precision with `ptq quantize` (bits x group size per linear
// layer), named "int<bits>g<group>" (int4g128, int3g32) or "int<bits>pc" (per channel), and what
// each costs in bytes as a GPTQ checkpoint stores the layer: qweight (bits per weight), qzeros
// (bits per output column and group, stored even for symmetric grids), fp16 scales and the int32
// g_idx of every input column. Only grids the GPTQ packing holds are candidates (2, 3, 4, 8 bits;
// a layer fits when its shape packs: export/hf_gptq_export.hpp's packed_shape_misfit).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "algorithms/common/int_grid.hpp"

namespace ptq::mixed {

// True for names of the "int<bits>g<group>" / "int<bits>pc" form (whether or not they are valid).
bool is_grid_candidate(const std::string& name);
// The grid a candidate names, on top of `base` (its sym / mse / dtype kept). Throws ptq::Error with a
// did-you-mean for a malformed or unsupported name.
algo::IntGrid candidate_grid(const std::string& name, const algo::IntGrid& base = {});
// The name of a grid's candidate: int4g128, int8pc.
std::string grid_candidate_name(int bits, int group_size);

// Every name parse_grid_candidates accepts: bits 2, 3, 4, 8 x groups 32, 64, 128, 256, per channel.
std::vector<std::string> known_grid_candidates();
// The default: bits 2, 3, 4, 8 x g32, g64, g128, per channel.
std::vector<std::string> default_grid_candidates();
// "int4g128,int3g32" -> names; throws ptq::Error with a did-you-mean for an unknown one.
std::vector<std::string> parse_grid_candidates(const std::string& csv);

// Whether a [out, in] linear layer packs into the GPTQ format with this candidate's grid.
bool grid_fits(const std::string& candidate, int64_t out, int64_t in);
// Bytes of the layer's qweight + qzeros + scales + g_idx in a GPTQ checkpoint.
uint64_t gptq_layer_bytes(int bits, int group_size, int64_t out, int64_t in);
uint64_t grid_candidate_bytes(const std::string& candidate, int64_t out, int64_t in);

}  // namespace ptq::mixed
