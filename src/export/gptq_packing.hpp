// Bit packing of integer codes into the int32 words of the Hugging Face GPTQ and AWQ checkpoint
// formats (pure functions, no I/O).
//
// GPTQ (AutoGPTQ's QuantLinear.pack, what transformers / vLLM / GPTQModel read): codes are packed
// along one dimension as one continuous little-endian bit stream per line: element k of the line
// sits at stream bit k * bits, and word w holds stream bits 32w .. 32w + 31. For 2, 4 and 8 bits
// this is "word r holds elements r * (32 / bits) + k at bit k * bits"; for 3 bits each 32 elements
// fill 3 words and elements 10 and 21 straddle two words (exactly AutoGPTQ's 3-bit pack()).
// qweight packs along the input features (rows of the [in, out] code matrix), qzeros along the
// output features (columns of [n_groups, out]).
//
// AWQ GEMM (AutoAWQ's WQLinear_GEMM): 4-bit codes packed along columns, 8 per word, with nibble i
// (bits 4i .. 4i + 3) of word c holding column c * 8 + kAwqOrder[i].
#pragma once
#include <torch/torch.h>

#include <array>
#include <cstdint>

namespace ptq::exporter {

constexpr std::array<int, 8> kAwqOrder = {0, 2, 4, 6, 1, 3, 5, 7};

// Elements a packed line must be a multiple of: 32 / gcd(32, bits) (3 bits: 32; 2: 16; 4: 8; 8: 4).
int64_t gptq_pack_multiple(int bits);

// codes: an integer tensor [rows, cols] with values in [0, 2^bits - 1]; bits 2, 3, 4 or 8.
// dim 0: packs along rows -> int32 [rows * bits / 32, cols] (qweight of codes [in, out]);
// dim 1: packs along columns -> int32 [rows, cols * bits / 32] (qzeros of zeros [groups, out]).
// Throws ptq::Error when the packed length is not a multiple of gptq_pack_multiple(bits) or a value
// does not fit in `bits`.
torch::Tensor pack_gptq(const torch::Tensor& codes, int bits, int dim);
// The inverse: uint8 [rows, cols] from the int32 words (`dim` as for pack_gptq).
torch::Tensor unpack_gptq(const torch::Tensor& packed, int bits, int dim);

// codes: an integer tensor [rows, cols], cols a multiple of 8, values 0..15 -> int32 [rows, cols / 8].
torch::Tensor pack_awq(const torch::Tensor& codes);
// The inverse: uint8 [rows, cols * 8].
torch::Tensor unpack_awq(const torch::Tensor& packed);

}  // namespace ptq::exporter
