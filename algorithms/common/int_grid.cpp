#include "algorithms/common/int_grid.hpp"

#include <algorithm>
#include <limits>

#include "algorithms/common/fp8.hpp"
#include "algorithms/common/nf4_fp4.hpp"
#include "core/error.hpp"
#include "core/unknown_name.hpp"

namespace ptq::algo {

const std::vector<std::string>& grid_dtypes() {
  static const std::vector<std::string> d = {"int", "nf4", "fp4", "fp8_e4m3", "fp8_e5m2"};
  return d;
}

int dtype_bits(const std::string& dtype) {
  if (dtype == "nf4" || dtype == "fp4") return 4;
  if (dtype == "fp8_e4m3" || dtype == "fp8_e5m2") return 8;
  fail("dtype", unknown_name_message("floating-point dtype", dtype, {"nf4", "fp4", "fp8_e4m3", "fp8_e5m2"}));
}

const FloatCodes& float_codes(const std::string& dtype) {
  static const auto table4 = [](const std::array<float, 16>& t, uint8_t (*enc)(float)) {
    FloatCodes c;
    std::copy(t.begin(), t.end(), c.value.begin());
    c.max_value = *std::max_element(t.begin(), t.end());
    c.encode = enc;
    return c;
  };
  static const auto fp8 = [](Fp8Format f, uint8_t (*enc)(float)) {
    FloatCodes c;
    for (int i = 0; i < 256; ++i) c.value[i] = fp8_decode(static_cast<uint8_t>(i), f);
    c.max_value = fp8_max(f);
    c.encode = enc;
    return c;
  };
  static const FloatCodes nf4 = table4(nf4_table(), nf4_encode);
  static const FloatCodes fp4 = table4(fp4_table(), fp4_encode);
  static const FloatCodes e4m3 = fp8(Fp8Format::E4M3, [](float x) { return fp8_encode(x, Fp8Format::E4M3); });
  static const FloatCodes e5m2 = fp8(Fp8Format::E5M2, [](float x) { return fp8_encode(x, Fp8Format::E5M2); });
  if (dtype == "nf4") return nf4;
  if (dtype == "fp4") return fp4;
  if (dtype == "fp8_e4m3") return e4m3;
  if (dtype == "fp8_e5m2") return e5m2;
  fail("dtype", unknown_name_message("floating-point dtype", dtype, {"nf4", "fp4", "fp8_e4m3", "fp8_e5m2"}));
}

void IntGrid::validate(const std::string& where) const {
  const auto& d = grid_dtypes();
  if (std::find(d.begin(), d.end(), dtype) == d.end()) fail(where + ": dtype", unknown_name_message("dtype", dtype, d));
  if (bits < 2 || bits > 8) fail(where, "bits = " + std::to_string(bits) + " is outside 2..8");
  if (!is_int() && bits != dtype_bits(dtype)) {
    fail(where, "dtype " + dtype + " has " + std::to_string(dtype_bits(dtype)) + "-bit codes, bits = " + std::to_string(bits));
  }
  const bool bnb_block = group_size >= 32 && group_size <= 4096 && (group_size & (group_size - 1)) == 0;
  if ((dtype == "nf4" || dtype == "fp4") && group_size > 0 && !bnb_block) {
    fail(where, "group size " + std::to_string(group_size) + " is not a bitsandbytes block size for " + dtype +
                    " (32, 64, 128, ..., 4096; 0 per channel, -1 per tensor)");
  }
  if (group_size < -1) {
    fail(where, "group_size = " + std::to_string(group_size) + " (use -1 per tensor, 0 per channel, or a positive size)");
  }
  if (mse && (mse_norm <= 0 || mse_grid < 1 || mse_max_shrink <= 0 || mse_max_shrink >= 1)) {
    fail(where, "MSE clipping needs norm > 0, grid >= 1 and max_shrink in (0, 1)");
  }
}

namespace {

// Parameters for the range [xmin, xmax] per row (xmin <= 0 <= xmax already).
GridParams params_for_range(torch::Tensor xmin, torch::Tensor xmax, const IntGrid& g) {
  const double maxq = g.maxq();
  if (g.sym) {
    xmax = torch::maximum(xmin.abs(), xmax);
    xmin = torch::where(xmin < 0, -xmax, xmin);
  }
  // An all-zero row: any scale reproduces it; the reference uses [-1, 1]. A row whose range is so
  // small (denormal weights) that its scale would underflow below the smallest normal float is
  // treated the same way: a scale of 0 would make its zero point -xmin / 0 = NaN, and it is stored
  // as the zeros it all but is.
  auto empty = (xmax - xmin) / maxq < std::numeric_limits<float>::min();
  xmin = torch::where(empty, torch::full_like(xmin, -1.0), xmin);
  xmax = torch::where(empty, torch::full_like(xmax, 1.0), xmax);
  GridParams p;
  p.scale = (xmax - xmin) / maxq;
  p.zero = g.sym ? torch::full_like(p.scale, (maxq + 1) / 2) : torch::round(-xmin / p.scale);
  return p;
}

// Absmax scaling for a floating-point dtype, per row: scale = absmax / max_value (an all-zero row
// gets scale 1), zero point 0. With MSE clipping the absmax shrinks by the same factors as the
// integer search.
GridParams fit_float_grid(const torch::Tensor& w, const IntGrid& g) {
  const double vmax = float_codes(g.dtype).max_value;
  auto absmax = std::get<0>(w.abs().max(1));
  auto scale_for = [&](const torch::Tensor& a) { return torch::where(a > 0, a / vmax, torch::ones_like(a)); };
  GridParams best{scale_for(absmax), torch::zeros({w.size(0)})};
  if (!g.mse) return best;
  auto best_err = (fake_quantize(w, best, g) - w).abs_().pow_(g.mse_norm).sum(1);
  const int steps = static_cast<int>(g.mse_max_shrink * g.mse_grid);
  for (int i = 1; i < steps; ++i) {
    GridParams p{scale_for(absmax * (1.0 - double(i) / g.mse_grid)), best.zero};
    auto err = (fake_quantize(w, p, g) - w).abs_().pow_(g.mse_norm).sum(1);
    auto better = err < best_err;
    best_err = torch::where(better, err, best_err);
    best.scale = torch::where(better, p.scale, best.scale);
  }
  return best;
}

}  // namespace

GridParams fit_grid(const torch::Tensor& w_in, const IntGrid& g) {
  torch::NoGradGuard no_grad;
  auto w = w_in.to(torch::kFloat32);
  if (g.group_size == -1) {
    IntGrid row = g;
    row.group_size = 0;
    auto p = fit_grid(w.reshape({1, -1}), row);
    return {p.scale.expand({w.size(0)}).contiguous(), p.zero.expand({w.size(0)}).contiguous()};
  }
  if (!g.is_int()) return fit_float_grid(w, g);
  auto zeros = torch::zeros({w.size(0)});
  auto xmin = torch::minimum(std::get<0>(w.min(1)), zeros);
  auto xmax = torch::maximum(std::get<0>(w.max(1)), zeros);
  GridParams best = params_for_range(xmin, xmax, g);
  if (!g.mse) return best;
  auto best_err = torch::full({w.size(0)}, std::numeric_limits<float>::infinity());
  const int steps = static_cast<int>(g.mse_max_shrink * g.mse_grid);
  for (int i = 0; i < steps; ++i) {
    const double shrink = 1.0 - double(i) / g.mse_grid;
    GridParams p = params_for_range(xmin * shrink, xmax * shrink, g);
    auto err = (fake_quantize(w, p, g.maxq()) - w).abs_().pow_(g.mse_norm).sum(1);
    auto better = err < best_err;
    best_err = torch::where(better, err, best_err);
    best.scale = torch::where(better, p.scale, best.scale);
    best.zero = torch::where(better, p.zero, best.zero);
  }
  return best;
}

torch::Tensor quantize_codes(const torch::Tensor& w, const GridParams& p, int maxq) {
  return torch::clamp(torch::round(w / p.scale.unsqueeze(1)) + p.zero.unsqueeze(1), 0, maxq);
}

torch::Tensor dequantize_codes(const torch::Tensor& codes, const GridParams& p) {
  return p.scale.unsqueeze(1) * (codes - p.zero.unsqueeze(1));
}

torch::Tensor fake_quantize(const torch::Tensor& w, const GridParams& p, int maxq) {
  return dequantize_codes(quantize_codes(w, p, maxq), p);
}

torch::Tensor quantize_codes(const torch::Tensor& w, const GridParams& p, const IntGrid& grid) {
  if (grid.is_int()) return quantize_codes(w, p, grid.maxq());
  const auto& fc = float_codes(grid.dtype);
  auto x = (w.to(torch::kFloat32) / p.scale.unsqueeze(1)).contiguous();
  auto codes = torch::empty(x.sizes(), torch::kUInt8);
  const float* src = x.data_ptr<float>();
  uint8_t* dst = codes.data_ptr<uint8_t>();
  for (int64_t i = 0, n = x.numel(); i < n; ++i) dst[i] = fc.encode(src[i]);
  return codes.to(torch::kFloat32);
}

torch::Tensor dequantize_codes(const torch::Tensor& codes, const GridParams& p, const IntGrid& grid) {
  if (grid.is_int()) return dequantize_codes(codes, p);
  const auto& fc = float_codes(grid.dtype);
  auto table = torch::from_blob(const_cast<float*>(fc.value.data()), {256}, torch::kFloat32);
  auto values = table.index_select(0, codes.to(torch::kInt64).flatten()).view(codes.sizes());
  return p.scale.unsqueeze(1) * values;
}

torch::Tensor fake_quantize(const torch::Tensor& w, const GridParams& p, const IntGrid& grid) {
  return dequantize_codes(quantize_codes(w, p, grid), p, grid);
}

}  // namespace ptq::algo
