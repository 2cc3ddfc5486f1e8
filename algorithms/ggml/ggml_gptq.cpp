#include "algorithms/ggml/ggml_gptq.hpp"

#include <cstring>
#include <iterator>

#include "algorithms/ggml/ggml_blocks.hpp"
#include "algorithms/ggml/ggml_blocks_q4q5.hpp"
#include "algorithms/ggml/ggml_iq4.hpp"
#include "algorithms/ggml/ggml_kquants.hpp"
#include "algorithms/gptq/gptq.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"
#include "io/gguf_types.hpp"

namespace ptq::ggml {

using io::GgmlType;

namespace {

// The codes a type stores, as its dequantizer reads them. Q8_0 stores int8 but llama.cpp's quantizer
// never writes -128 (its AVX dot products take |q| in int8), so neither does GPTQ.
struct CodeRange {
  int lo, hi;
};

CodeRange code_range(GgmlType t) {
  switch (t) {
    case GgmlType::Q8_0: return {1, 255};  // stored as code - 128
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q4_K: return {0, 15};
    case GgmlType::IQ4_NL: case GgmlType::IQ4_XS: return {0, 15};  // indices into kValuesIQ4NL
    case GgmlType::Q5_0: case GgmlType::Q5_1: case GgmlType::Q5_K: return {0, 31};
    case GgmlType::Q2_K: return {0, 3};
    case GgmlType::Q3_K: return {0, 7};
    case GgmlType::Q6_K: return {0, 63};
    default: throw Error("GPTQ on the ggml grid supports Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL and IQ4_XS, not " +
                         io::ggml_type_name(static_cast<uint32_t>(t)));
  }
}

// Nibbles of a 32-weight block: weight j in the low nibble of byte j, weight j + 16 in its high one.
void set_nibbles(const uint8_t* c, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>((c[j] & 0xF) | ((c[j + 16] & 0xF) << 4));
}
// The fifth bits of a Q5 block: bit j of qh for weight j.
void set_fifth_bits(const uint8_t* c, uint8_t* qh) {
  uint32_t h = 0;
  for (int j = 0; j < 32; ++j) h |= static_cast<uint32_t>(c[j] >> 4) << j;
  std::memcpy(qh, &h, 4);
}

// Replaces one block's codes, keeping its scales (and mins).
void set_block_codes(GgmlType t, uint8_t* block, const uint8_t* c) {
  switch (t) {
    case GgmlType::Q8_0: {
      auto* b = reinterpret_cast<BlockQ8_0*>(block);
      for (int j = 0; j < 32; ++j) b->qs[j] = static_cast<int8_t>(int(c[j]) - 128);
      return;
    }
    case GgmlType::Q4_0: return set_nibbles(c, reinterpret_cast<BlockQ4_0*>(block)->qs);
    case GgmlType::Q4_1: return set_nibbles(c, reinterpret_cast<BlockQ4_1*>(block)->qs);
    case GgmlType::Q5_0: {
      auto* b = reinterpret_cast<BlockQ5_0*>(block);
      set_nibbles(c, b->qs);
      return set_fifth_bits(c, b->qh);
    }
    case GgmlType::Q5_1: {
      auto* b = reinterpret_cast<BlockQ5_1*>(block);
      set_nibbles(c, b->qs);
      return set_fifth_bits(c, b->qh);
    }
    case GgmlType::Q2_K: return set_codes_q2_K(*reinterpret_cast<BlockQ2_K*>(block), c);
    case GgmlType::Q3_K: return set_codes_q3_K(*reinterpret_cast<BlockQ3_K*>(block), c);
    case GgmlType::Q4_K: return set_codes_q4_K(*reinterpret_cast<BlockQ4_K*>(block), c);
    case GgmlType::Q5_K: return set_codes_q5_K(*reinterpret_cast<BlockQ5_K*>(block), c);
    case GgmlType::Q6_K: return set_codes_q6_K(*reinterpret_cast<BlockQ6_K*>(block), c);
    case GgmlType::IQ4_NL: return set_codes_iq4_nl(*reinterpret_cast<BlockIQ4_NL*>(block), c);
    case GgmlType::IQ4_XS: return set_codes_iq4_xs(*reinterpret_cast<BlockIQ4_XS*>(block), c);
    default: code_range(t);  // throws
  }
}

// The non-uniform types: value(q) = a[j] * kValuesIQ4NL[q], a[j] the weight's (sub-)block scale.
bool level_table_grid(GgmlType t) { return t == GgmlType::IQ4_NL || t == GgmlType::IQ4_XS; }

// The grid one encoded block defines for each of its qk weights: value(q) = a[j] * q + b[j], read
// off the type's own dequantizer with every code 0 and every code 1 (so no type's scale layout is
// decoded twice in ptq). For the level-table types: a[j] from every index 8 (level 1), b = 0.
void block_grid(GgmlType t, const uint8_t* block, size_t type_size, int qk, float* a, float* b) {
  if (level_table_grid(t)) {
    std::vector<uint8_t> probe(block, block + type_size), codes(static_cast<size_t>(qk), 8);
    static_assert(kValuesIQ4NL[8] == 1, "index 8 is the level 1");
    set_block_codes(t, probe.data(), codes.data());
    decode_row(static_cast<uint32_t>(t), probe.data(), a, qk);
    std::fill(b, b + qk, 0.0f);
    return;
  }
  std::vector<uint8_t> probe(block, block + type_size), codes(static_cast<size_t>(qk), 0);
  std::vector<float> one(static_cast<size_t>(qk));
  set_block_codes(t, probe.data(), codes.data());
  decode_row(static_cast<uint32_t>(t), probe.data(), b, qk);
  std::fill(codes.begin(), codes.end(), uint8_t{1});
  set_block_codes(t, probe.data(), codes.data());
  decode_row(static_cast<uint32_t>(t), probe.data(), one.data(), qk);
  for (int j = 0; j < qk; ++j) a[j] = one[j] - b[j];
}

}  // namespace

bool gptq_supports(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::Q4_0: case GgmlType::Q4_1: case GgmlType::Q5_0: case GgmlType::Q5_1: case GgmlType::Q8_0:
    case GgmlType::Q2_K: case GgmlType::Q3_K: case GgmlType::Q4_K: case GgmlType::Q5_K: case GgmlType::Q6_K:
    case GgmlType::IQ4_NL: case GgmlType::IQ4_XS:
      return true;
    default:
      return false;
  }
}

std::vector<uint8_t> gptq_encode_rows(uint32_t type, const torch::Tensor& W, const torch::Tensor& H, double damp,
                                      const float* importance, int64_t block_columns, std::string* warning) {
  const auto t = static_cast<GgmlType>(type);
  const CodeRange range = code_range(t);
  const io::GgmlTypeTraits tr = io::ggml_type_traits(type);
  const int qk = static_cast<int>(tr.block_size);
  if (W.dim() != 2) throw Error("GPTQ: the weight must be a matrix");
  const int64_t rows = W.size(0), n = W.size(1);
  check_block_row(n, qk, tr.name);
  // Damping must be positive: with damp <= 0 a singular Hessian (fewer calibration tokens than
  // columns) reaches the Cholesky factorisation unregularised.
  if (!(damp > 0)) throw Error("GPTQ: damping must be > 0 (got " + std::to_string(damp) + ")");
  const int64_t row_bytes = n / qk * static_cast<int64_t>(tr.type_size);
  std::vector<uint8_t> out(static_cast<size_t>(rows * row_bytes));

  // Each block gets its scales (and mins, and sub-block scales) from the type's own quantizer run
  // on the block's current weights; its grid is read back off the encoded block.
  algo::BlockwiseGrid grid;
  grid.block = qk;
  grid.lo = range.lo;
  grid.hi = range.hi;
  if (level_table_grid(t)) grid.levels.assign(std::begin(kValuesIQ4NL), std::end(kValuesIQ4NL));
  grid.fit = [&](int64_t col, const float* cur, float* a, float* b) {
    parallel_ranges(rows, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        uint8_t* block = out.data() + r * row_bytes + col / qk * tr.type_size;
        const std::vector<uint8_t> bytes = encode_rows(type, cur + r * qk, 1, qk, importance ? importance + col : nullptr);
        std::memcpy(block, bytes.data(), tr.type_size);
        block_grid(t, block, tr.type_size, qk, a + r * qk, b + r * qk);
      }
    });
  };
  algo::GptqOptions opt;
  opt.block_size = static_cast<int>(std::max<int64_t>(qk, block_columns / qk * qk));  // lazy blocks of whole ggml blocks
  opt.damp_percent = damp;
  const algo::GptqResult res = algo::gptq_quantize(W, H, grid, opt, std::string("GPTQ on ") + tr.name);
  if (res.fell_back_to_rtn) {
    // The type's own quantizer instead, said aloud: a caller without a warning sink gets an error.
    if (!warning) throw Error(res.note + " (raise --gptq-damp or calibrate on more tokens)");
    *warning = res.note;
    auto Wc = W.to(torch::kCPU, torch::kFloat32).contiguous();
    return encode_rows(type, Wc.data_ptr<float>(), rows, n, importance);
  }
  const torch::Tensor codes = res.q.codes.to(torch::kCPU).contiguous();
  const uint8_t* c = codes.data_ptr<uint8_t>();
  parallel_ranges(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      for (int64_t blk = 0; blk < n / qk; ++blk) {
        set_block_codes(t, out.data() + r * row_bytes + blk * tr.type_size, c + r * n + blk * qk);
      }
    }
  });
  return out;
}

}  // namespace ptq::ggml
