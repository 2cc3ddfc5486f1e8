#include "algorithms/ggml/ggml_gptq.hpp"

#include <algorithm>
#include <cstring>

#include "algorithms/gptq/gptq.hpp"
#include "core/error.hpp"
#include "core/threads.hpp"
#include "ggml/ggml_rows.hpp"
#include "ggml/ggml_types.hpp"

namespace ptq::ggml {

namespace {

std::string gptq_types() {
  std::string s;
  for (const GgmlTypeTraits& t : all_types()) {
    if (t.set_codes) s += (s.empty() ? "" : ", ") + std::string(t.name);
  }
  return s;
}

// The index of the level 1 of a non-linear type: a block with every code there dequantizes to its
// scales themselves.
int level_one(const GgmlTypeTraits& tr) {
  for (int c = tr.code_lo; c <= tr.code_hi; ++c) {
    if (tr.levels[c - tr.code_lo] == 1) return c;
  }
  throw Error(std::string("GPTQ on ") + tr.name + ": no level 1 among its levels");
}

// The grid one encoded block defines for each of its qk weights: value(q) = a[j] * q + b[j], read
// off the type's own dequantizer with every code 0 and every code 1 (so no type's scale layout is
// decoded twice in ptq). For the level-table types: a[j] from every code at the level 1, b = 0.
void block_grid(const GgmlTypeTraits& tr, const uint8_t* block, float* a, float* b) {
  const int qk = static_cast<int>(tr.block_size);
  std::vector<uint8_t> probe(block, block + tr.type_size);
  if (tr.levels) {
    const std::vector<uint8_t> codes(static_cast<size_t>(qk), static_cast<uint8_t>(level_one(tr)));
    tr.set_codes(probe.data(), codes.data());
    tr.to_float(probe.data(), a, qk);
    std::fill(b, b + qk, 0.0f);
    return;
  }
  std::vector<uint8_t> codes(static_cast<size_t>(qk), 0);
  std::vector<float> one(static_cast<size_t>(qk));
  tr.set_codes(probe.data(), codes.data());
  tr.to_float(probe.data(), b, qk);
  std::fill(codes.begin(), codes.end(), uint8_t{1});
  tr.set_codes(probe.data(), codes.data());
  tr.to_float(probe.data(), one.data(), qk);
  for (int j = 0; j < qk; ++j) a[j] = one[j] - b[j];
}

}  // namespace

bool gptq_supports(uint32_t type) { return type_traits(type).set_codes != nullptr; }

std::vector<uint8_t> gptq_encode_rows(uint32_t type, const torch::Tensor& W, const torch::Tensor& H, double damp,
                                      const float* importance, int64_t block_columns, std::string* warning) {
  const GgmlTypeTraits& tr = type_traits(type);
  if (!tr.set_codes) throw Error("GPTQ on the ggml grid supports " + gptq_types() + ", not " + type_name(type));
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
  grid.lo = tr.code_lo;
  grid.hi = tr.code_hi;
  if (tr.levels) grid.levels.assign(tr.levels, tr.levels + (tr.code_hi - tr.code_lo + 1));
  grid.fit = [&](int64_t col, const float* cur, float* a, float* b) {
    parallel_ranges(rows, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        uint8_t* block = out.data() + r * row_bytes + col / qk * tr.type_size;
        const std::vector<uint8_t> bytes = encode_rows(type, cur + r * qk, 1, qk, importance ? importance + col : nullptr);
        std::memcpy(block, bytes.data(), tr.type_size);
        block_grid(tr, block, a + r * qk, b + r * qk);
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
        tr.set_codes(out.data() + r * row_bytes + blk * tr.type_size, c + r * n + blk * qk);
      }
    }
  });
  return out;
}

}  // namespace ptq::ggml
