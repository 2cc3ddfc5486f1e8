// The ggml type table, row by row: every type's geometry against ggml's published sizes, names and
// ids that parse back to their row, and for every type ptq writes: a quantize -> dequantize round trip
// within an error its bits per weight allow, the importance-weighted quantizer with uniform importance
// no worse than the reference one, and the GPTQ code range that set_codes and to_float agree on. A
// row added to the table is checked here without editing this file.
#include <catch2/catch.hpp>

#include <cctype>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.hpp"
#include "ggml/ggml_rows.hpp"
#include "ggml/ggml_types.hpp"
#include "support/gaussian.hpp"

using namespace ptq;
using ggml::GgmlTypeTraits;
using test::gaussian;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

double relative_rmse(const std::vector<float>& x, const std::vector<float>& y) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
    den += double(x[i]) * x[i];
  }
  return std::sqrt(num / den);
}

std::vector<float> round_trip(const GgmlTypeTraits& t, const std::vector<float>& x, const float* importance) {
  const std::vector<uint8_t> q = ggml::encode_rows(static_cast<uint32_t>(t.type), x.data(), 1,
                                                   static_cast<int64_t>(x.size()), importance);
  std::vector<float> y(x.size());
  t.to_float(q.data(), y.data(), static_cast<int64_t>(x.size()));
  return y;
}

// A row of weights that is whole blocks of every type (256 and 32).
constexpr int64_t kRow = 4096;

}  // namespace

TEST_CASE("ggml type table: geometry as ggml-common.h defines it, bits per weight derived", "[ggml][types]") {
  // (block size, bytes per block) of ggml's block structs, and the bits per weight ggml's comments give.
  const std::map<std::string, std::tuple<uint32_t, uint32_t, double>> ggml_sizes = {
      {"F32", {1, 4, 32}},         {"F16", {1, 2, 16}},         {"BF16", {1, 2, 16}},      {"Q4_0", {32, 18, 4.5}},
      {"Q4_1", {32, 20, 5}},       {"Q5_0", {32, 22, 5.5}},     {"Q5_1", {32, 24, 6}},     {"Q8_0", {32, 34, 8.5}},
      {"Q2_K", {256, 84, 2.625}},  {"Q3_K", {256, 110, 3.4375}}, {"Q4_K", {256, 144, 4.5}}, {"Q5_K", {256, 176, 5.5}},
      {"Q6_K", {256, 210, 6.5625}}, {"IQ4_NL", {32, 18, 4.5}},  {"IQ4_XS", {256, 136, 4.25}}};
  std::set<std::string> checked;
  for (const GgmlTypeTraits& t : ggml::all_types()) {
    INFO(t.name);
    REQUIRE(t.name != nullptr);
    REQUIRE(t.block_size > 0);
    REQUIRE(t.type_size > 0);
    CHECK(ggml::bits_per_weight(t) == Approx(8.0 * t.type_size / t.block_size));
    const auto it = ggml_sizes.find(t.name);
    if (it != ggml_sizes.end()) {
      CHECK(t.block_size == std::get<0>(it->second));
      CHECK(t.type_size == std::get<1>(it->second));
      CHECK(ggml::bits_per_weight(t) == std::get<2>(it->second));
      checked.insert(t.name);
    }
    // Every type ptq writes is one ggml-common.h defines a size for above.
    if (t.quantize) CHECK(it != ggml_sizes.end());
  }
  CHECK(checked.size() == ggml_sizes.size());
}

TEST_CASE("ggml type table: names and ids are unique and parse back to their row", "[ggml][types]") {
  std::set<std::string> names;
  std::set<uint32_t> ids;
  uint32_t previous = 0;
  bool first = true;
  for (const GgmlTypeTraits& t : ggml::all_types()) {
    const auto id = static_cast<uint32_t>(t.type);
    INFO(t.name << " (id " << id << ")");
    CHECK(names.insert(lower(t.name)).second);
    CHECK(ids.insert(id).second);
    CHECK((first || id > previous));  // id order
    first = false;
    previous = id;
    CHECK(&ggml::type_traits(id) == &t);
    CHECK(ggml::type_name(id) == t.name);
    CHECK(ggml::find_type(t.name) == &t);
    CHECK(ggml::find_type(lower(t.name)) == &t);
    if (t.quantize && t.block_size > 1) CHECK(ggml::block_type_by_name(lower(t.name)) == id);
  }
  CHECK(ggml::type_traits(4).name == nullptr);  // ids ggml retired (Q4_2, Q4_3)
  CHECK(ggml::type_traits(1000).name == nullptr);
  CHECK(ggml::type_name(77) == "type#77");
  CHECK(ggml::find_type("q4_k_m") == nullptr);
  CHECK_THROWS_WITH(ggml::block_type_by_name("f16"), Catch::Contains("unknown llama.cpp block type") && Catch::Contains("q4_k"));
}

TEST_CASE("ggml type table: every written type round-trips Gaussian weights within its bits' error", "[ggml][types]") {
  const std::vector<float> x = gaussian(kRow, 1);
  int written = 0;
  for (const GgmlTypeTraits& t : ggml::all_types()) {
    if (!t.quantize) continue;
    ++written;
    INFO(t.name);
    REQUIRE(t.to_float != nullptr);  // a type ptq writes, it reads back
    const double err = relative_rmse(x, round_trip(t, x, nullptr));
    // Rounding to a grid of step s leaves s / sqrt(12) of error. A block's range, about 4 sigma of
    // Gaussian weights, over 2^b codes: ~1.2 sigma * 2^-b; the block's scales cost up to one of its
    // bits per weight, so below 3 * 2^-bpw (measured: 1.5 to 2.5). Unblocked types: within F16's 11
    // significand bits.
    const double bound = t.block_size == 1 ? std::pow(2.0, -11) : 3.0 * std::pow(2.0, -ggml::bits_per_weight(t));
    INFO("relative RMSE " << err << " (bound " << bound << ")");
    CHECK(err < bound);
    // Zeros stay zeros.
    const std::vector<float> zeros(kRow, 0.0f);
    for (const float v : round_trip(t, zeros, nullptr)) REQUIRE(v == 0.0f);
  }
  CHECK(written >= 14);
}

TEST_CASE("ggml type table: uniform importance is no worse than the reference quantizer", "[ggml][types]") {
  const std::vector<float> ones(kRow, 1.0f);
  int weighted = 0;
  for (const GgmlTypeTraits& t : ggml::all_types()) {
    if (!t.quantize_importance) continue;
    ++weighted;
    INFO(t.name);
    REQUIRE(t.quantize != nullptr);
    double ref = 0, imp = 0;
    for (unsigned seed = 2; seed < 6; ++seed) {
      const std::vector<float> x = gaussian(kRow, seed);
      ref += relative_rmse(x, round_trip(t, x, nullptr));
      imp += relative_rmse(x, round_trip(t, x, ones.data()));
    }
    INFO("relative RMSE: reference " << ref / 4 << ", uniform importance " << imp / 4);
    // The weighted quantizers search the scale against the weighted error itself; the reference
    // ones mostly round from the block's range (measured: 1 % to 11 % more error).
    CHECK(imp <= ref);
  }
  CHECK(weighted >= 11);
}

TEST_CASE("ggml type table: GPTQ's code range is what set_codes stores and to_float reads", "[ggml][types][gptq]") {
  const std::vector<float> x = gaussian(kRow, 7);
  int with_codes = 0;
  for (const GgmlTypeTraits& t : ggml::all_types()) {
    if (!t.set_codes) continue;
    ++with_codes;
    INFO(t.name);
    REQUIRE(t.code_lo < t.code_hi);
    REQUIRE(t.code_hi <= 255);
    const int qk = static_cast<int>(t.block_size);
    std::vector<uint8_t> block = ggml::encode_rows(static_cast<uint32_t>(t.type), x.data(), 1, qk);
    REQUIRE(block.size() == t.type_size);
    // The value of every code, weight by weight, with the block's scales kept.
    auto values = [&](int code) {
      const std::vector<uint8_t> codes(static_cast<size_t>(qk), static_cast<uint8_t>(code));
      t.set_codes(block.data(), codes.data());
      std::vector<float> y(static_cast<size_t>(qk));
      t.to_float(block.data(), y.data(), qk);
      return y;
    };
    const std::vector<float> lo = values(t.code_lo), next = values(t.code_lo + 1), hi = values(t.code_hi);
    for (int j = 0; j < qk; ++j) {
      const double step = double(next[j]) - lo[j];
      if (t.levels) {
        // value(c) = s * levels[c - code_lo], with s the weight's scale.
        const int n_levels = t.code_hi - t.code_lo + 1;
        const double s = step / (t.levels[1] - t.levels[0]);
        CHECK(hi[j] == Approx(s * t.levels[n_levels - 1]).margin(1e-6));
        CHECK(lo[j] == Approx(s * t.levels[0]).margin(1e-6));
      } else {
        // value(c) = a * c + b: the whole range is code_hi - code_lo steps of one code.
        CHECK(double(hi[j]) - lo[j] == Approx(step * (t.code_hi - t.code_lo)).epsilon(1e-5).margin(1e-6));
      }
    }
  }
  CHECK(with_codes >= 12);
}

TEST_CASE("ggml rows: unknown, unreadable and unwritable types fail by name", "[ggml][types]") {
  std::vector<float> x(256, 1.0f), y(256);
  const std::vector<uint8_t> bytes(66, 0);
  CHECK_FALSE(ggml::can_encode(static_cast<uint32_t>(ggml::GgmlType::IQ2_XXS)));
  CHECK_FALSE(ggml::can_dequantize(static_cast<uint32_t>(ggml::GgmlType::IQ2_XXS)));
  CHECK(ggml::can_dequantize(static_cast<uint32_t>(ggml::GgmlType::BF16)));
  CHECK_FALSE(ggml::can_encode(static_cast<uint32_t>(ggml::GgmlType::BF16)));
  CHECK_THROWS_WITH(ggml::encode_rows(static_cast<uint32_t>(ggml::GgmlType::IQ2_XXS), x.data(), 1, 256),
                    Catch::Contains("IQ2_XXS") && Catch::Contains("Q4_K"));
  CHECK_THROWS_WITH(ggml::dequantize_row(static_cast<uint32_t>(ggml::GgmlType::IQ2_XXS), bytes.data(), y.data(), 256),
                    Catch::Contains("IQ2_XXS"));
  CHECK_THROWS_WITH(ggml::dequantize_row(99, bytes.data(), y.data(), 256), Catch::Contains("type#99"));
  CHECK(ggml::readable_type_names().find("BF16") != std::string::npos);
  CHECK(ggml::writable_type_names().find("BF16") == std::string::npos);
}
