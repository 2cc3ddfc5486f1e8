#include "ggml/ggml_rows.hpp"

#include <algorithm>
#include <string>

#include "core/error.hpp"
#include "core/threads.hpp"
#include "ggml/ggml_types.hpp"

namespace ptq::ggml {

bool can_encode(uint32_t type) { return type_traits(type).quantize != nullptr; }

bool can_dequantize(uint32_t type) { return type_traits(type).to_float != nullptr; }

namespace {

std::string names_where(bool (*has)(const GgmlTypeTraits&)) {
  std::string s;
  for (const GgmlTypeTraits& t : all_types()) {
    if (has(t)) s += (s.empty() ? "" : ", ") + std::string(t.name);
  }
  return s;
}

}  // namespace

std::string writable_type_names() {
  return names_where([](const GgmlTypeTraits& t) { return t.quantize != nullptr; });
}

std::string readable_type_names() {
  return names_where([](const GgmlTypeTraits& t) { return t.to_float != nullptr; });
}

std::vector<uint8_t> encode_rows(uint32_t type, const float* x, int64_t rows, int64_t n, const float* importance) {
  const GgmlTypeTraits& tr = type_traits(type);
  if (!tr.quantize) {
    throw Error("ggml encoding to " + type_name(type) + " is not supported (" + writable_type_names() + " are)");
  }
  check_block_row(n, static_cast<int>(tr.block_size), tr.name);
  const int64_t row_bytes = n / tr.block_size * tr.type_size;
  std::vector<uint8_t> out(static_cast<size_t>(rows * row_bytes));
  // Rows are independent: split them over ptq's threads, as llama-quantize does. Each row's bytes
  // depend on that row alone, so the output is the same for any thread count.
  const bool weighted = importance && tr.quantize_importance;
  parallel_ranges(rows, std::max<int64_t>(1, (int64_t{1} << 16) / std::max<int64_t>(n, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      if (weighted) {
        tr.quantize_importance(x + r * n, out.data() + r * row_bytes, n, importance);
      } else {
        tr.quantize(x + r * n, out.data() + r * row_bytes, n);
      }
    }
  });
  return out;
}

void dequantize_row(uint32_t type, const void* src, float* dst, int64_t n) {
  const GgmlTypeTraits& tr = type_traits(type);
  if (!tr.to_float) fail("ggml dequantize_row", "cannot dequantize type " + type_name(type));
  tr.to_float(src, dst, n);
}

}  // namespace ptq::ggml
