#include "export/gptq_packing.hpp"

#include <numeric>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace ptq::exporter {

namespace {

void check_bits(int bits) {
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8) {
    fail("GPTQ packing", "bits = " + std::to_string(bits) + " (GPTQ checkpoints hold 2, 3, 4 or 8 bits)");
  }
}

// The codes as a contiguous [rows, cols] uint8 matrix, checked to fit in `bits`.
torch::Tensor as_codes(const torch::Tensor& codes, int bits, const char* where) {
  if (codes.dim() != 2) fail(where, "codes must be a matrix");
  auto c = codes.to(torch::kInt64);
  if (c.numel() > 0 && (c.min().item<int64_t>() < 0 || c.max().item<int64_t>() > (1 << bits) - 1)) {
    fail(where, "a value does not fit in " + std::to_string(bits) + " bits");
  }
  return c.to(torch::kUInt8).contiguous();
}

// Packs each column of `m` [n, cols] (one stream per column) into [n * bits / 32, cols] words.
torch::Tensor pack_columns(const torch::Tensor& m, int bits) {
  const int64_t n = m.size(0), cols = m.size(1), words = n * bits / 32;
  auto out = torch::zeros({words, cols}, torch::kInt32);
  const uint8_t* src = m.data_ptr<uint8_t>();
  auto* dst = reinterpret_cast<uint32_t*>(out.data_ptr<int32_t>());
  for (int64_t k = 0; k < n; ++k) {
    const int64_t bit = k * bits, w = bit / 32;
    const int off = static_cast<int>(bit % 32);
    const uint8_t* row = src + k * cols;
    uint32_t* lo = dst + w * cols;
    for (int64_t c = 0; c < cols; ++c) lo[c] |= static_cast<uint32_t>(row[c]) << off;
    if (off + bits > 32) {  // straddles into the next word (3 bits only)
      uint32_t* hi = dst + (w + 1) * cols;
      for (int64_t c = 0; c < cols; ++c) hi[c] |= static_cast<uint32_t>(row[c]) >> (32 - off);
    }
  }
  return out;
}

torch::Tensor unpack_columns(const torch::Tensor& p, int bits) {
  const int64_t words = p.size(0), cols = p.size(1), n = words * 32 / bits;
  auto out = torch::empty({n, cols}, torch::kUInt8);
  auto pc = p.contiguous();
  const auto* src = reinterpret_cast<const uint32_t*>(pc.data_ptr<int32_t>());
  uint8_t* dst = out.data_ptr<uint8_t>();
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t bit = k * bits, w = bit / 32;
    const int off = static_cast<int>(bit % 32);
    const uint32_t* lo = src + w * cols;
    uint8_t* row = dst + k * cols;
    for (int64_t c = 0; c < cols; ++c) {
      uint32_t v = lo[c] >> off;
      if (off + bits > 32) v |= src[(w + 1) * cols + c] << (32 - off);
      row[c] = static_cast<uint8_t>(v & mask);
    }
  }
  return out;
}

}  // namespace

int64_t gptq_pack_multiple(int bits) {
  check_bits(bits);
  return 32 / std::gcd(32, bits);
}

torch::Tensor pack_gptq(const torch::Tensor& codes, int bits, int dim) {
  check_bits(bits);
  if (dim != 0 && dim != 1) fail("GPTQ packing", "dim must be 0 or 1");
  auto c = as_codes(codes, bits, "GPTQ packing");
  const int64_t len = c.size(dim), mult = gptq_pack_multiple(bits);
  if (len % mult != 0) {
    fail("GPTQ packing", std::to_string(bits) + "-bit codes pack in multiples of " + std::to_string(mult) +
                             " along the packed dimension, got " + std::to_string(len));
  }
  if (dim == 0) return pack_columns(c, bits);
  return pack_columns(c.t().contiguous(), bits).t().contiguous();
}

torch::Tensor unpack_gptq(const torch::Tensor& packed, int bits, int dim) {
  check_bits(bits);
  if (dim != 0 && dim != 1) fail("GPTQ unpacking", "dim must be 0 or 1");
  if (packed.dim() != 2 || packed.scalar_type() != torch::kInt32) fail("GPTQ unpacking", "expected an int32 matrix");
  if (bits == 3 && packed.size(dim) % 3 != 0) {
    fail("GPTQ unpacking", "3-bit words come in threes, got " + std::to_string(packed.size(dim)));
  }
  if (dim == 0) return unpack_columns(packed, bits);
  return unpack_columns(packed.t().contiguous(), bits).t().contiguous();
}

torch::Tensor pack_awq(const torch::Tensor& codes) {
  auto c = as_codes(codes, 4, "AWQ packing");
  const int64_t rows = c.size(0), cols = c.size(1);
  if (cols % 8 != 0) fail("AWQ packing", "columns must be a multiple of 8, got " + std::to_string(cols));
  auto out = torch::zeros({rows, cols / 8}, torch::kInt32);
  const uint8_t* src = c.data_ptr<uint8_t>();
  auto* dst = reinterpret_cast<uint32_t*>(out.data_ptr<int32_t>());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t w = 0; w < cols / 8; ++w) {
      uint32_t v = 0;
      for (int i = 0; i < 8; ++i) v |= static_cast<uint32_t>(src[r * cols + w * 8 + kAwqOrder[i]]) << (4 * i);
      dst[r * (cols / 8) + w] = v;
    }
  }
  return out;
}

torch::Tensor unpack_awq(const torch::Tensor& packed) {
  if (packed.dim() != 2 || packed.scalar_type() != torch::kInt32) fail("AWQ unpacking", "expected an int32 matrix");
  auto p = packed.contiguous();
  const int64_t rows = p.size(0), words = p.size(1);
  auto out = torch::empty({rows, words * 8}, torch::kUInt8);
  const auto* src = reinterpret_cast<const uint32_t*>(p.data_ptr<int32_t>());
  uint8_t* dst = out.data_ptr<uint8_t>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t w = 0; w < words; ++w) {
      const uint32_t v = src[r * words + w];
      for (int i = 0; i < 8; ++i) dst[r * words * 8 + w * 8 + kAwqOrder[i]] = static_cast<uint8_t>((v >> (4 * i)) & 0xF);
    }
  }
  return out;
}

}  // namespace ptq::exporter
