// ggml's Q8_0 and Q4_0 blocks: hand-computed blocks, the error bounds of round-to-nearest, and the
// block dequantizers as the GGUF reader reaches them through the type table.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <random>

#include "core/error.hpp"
#include "ggml/ggml_blocks.hpp"
#include "ggml/ggml_fp16.hpp"
#include "ggml/ggml_rows.hpp"
#include "io/gguf_types.hpp"

using namespace ptq;

namespace {

std::vector<float> ramp() {  // -16, -15, ..., 15
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);
  return x;
}

std::vector<float> gaussian(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.02f);
  std::vector<float> x(n);
  for (float& v : x) v = g(rng);
  for (int64_t i = 0; i < n; i += 97) x[i] *= 8.0f;  // outliers
  return x;
}

}  // namespace

TEST_CASE("fp32_to_fp16 rounds to nearest even", "[export][ggml]") {
  CHECK(ggml::fp32_to_fp16(1.0f) == 0x3C00);
  CHECK(ggml::fp32_to_fp16(-2.0f) == 0xC000);
  CHECK(ggml::fp32_to_fp16(65504.0f) == 0x7BFF);
  CHECK(ggml::fp32_to_fp16(1.0f + 1.0f / 2048) == 0x3C00);  // halfway: to even
  CHECK(ggml::fp32_to_fp16(1.0f + 3.0f / 2048) == 0x3C02);  // halfway: to even (up)
  for (uint32_t h = 0; h < 0x7C00; h += 37) CHECK(ggml::fp32_to_fp16(io::fp16_to_f32(static_cast<uint16_t>(h))) == h);
}

TEST_CASE("Q8_0 block of a ramp, by hand", "[export][ggml]") {
  const std::vector<float> x = ramp();
  ggml::BlockQ8_0 b;
  ggml::quantize_row_q8_0(x.data(), &b, 32);
  CHECK(b.d == ggml::fp32_to_fp16(16.0f / 127.0f));
  CHECK(b.qs[0] == -127);                                          // -16
  CHECK(b.qs[31] == static_cast<int8_t>(std::round(15 * 127.0f / 16)));  // 119
  CHECK(b.qs[31] == 119);
  CHECK(b.qs[16] == 0);
  CHECK(b.qs[17] == 8);  // 127/16 = 7.94 -> 8
  float y[32];
  ggml::dequantize_row_q8_0(&b, y, 32);
  CHECK(y[0] == io::fp16_to_f32(b.d) * -127.0f);
}

TEST_CASE("Q4_0 block of a ramp, by hand", "[export][ggml]") {
  const std::vector<float> x = ramp();
  ggml::BlockQ4_0 b;
  ggml::quantize_row_q4_0(x.data(), &b, 32);
  // The largest magnitude is -16, so d = -16 / -8 = 2 and -16 maps to code 0.
  CHECK(io::fp16_to_f32(b.d) == 2.0f);
  CHECK(b.qs[0] == (0 | (8 << 4)));   // x[0] = -16 -> 0, x[16] = 0 -> 8
  CHECK((b.qs[15] >> 4) == 15);       // x[31] = 15: 7.5 + 8.5 = 16, clamped to 15
  CHECK((b.qs[1] & 0x0F) == 1);       // -15 / 2 + 8.5 = 1 (truncated)
  float y[32];
  ggml::dequantize_row_q4_0(&b, y, 32);
  CHECK(y[0] == -16.0f);
  CHECK(y[16] == 0.0f);
  CHECK(y[31] == 14.0f);
}

TEST_CASE("Q8_0/Q4_0: zero blocks, error bounds, and the reader's dequantizer agrees", "[export][ggml]") {
  const int64_t n = 32 * 24;
  std::vector<float> x = gaussian(n, 7);
  std::fill(x.begin(), x.begin() + 32, 0.0f);  // an all-zero block: d = 0, no division by zero

  const std::vector<uint8_t> q8 = ggml::encode_rows(static_cast<uint32_t>(io::GgmlType::Q8_0), x.data(), 1, n);
  const std::vector<uint8_t> q4 = ggml::encode_rows(static_cast<uint32_t>(io::GgmlType::Q4_0), x.data(), 1, n);
  REQUIRE(q8.size() == static_cast<size_t>(n / 32 * 34));
  REQUIRE(q4.size() == static_cast<size_t>(n / 32 * 18));
  const auto* b8 = reinterpret_cast<const ggml::BlockQ8_0*>(q8.data());
  const auto* b4 = reinterpret_cast<const ggml::BlockQ4_0*>(q4.data());
  CHECK(b8[0].d == 0);
  CHECK(io::fp16_to_f32(b4[0].d) == 0.0f);  // ggml stores -0 (0 / -8)
  CHECK(b4[0].qs[0] == 0x88);

  std::vector<float> y8(n), y4(n), r8(n), r4(n);
  ggml::dequantize_row_q8_0(b8, y8.data(), n);
  ggml::dequantize_row_q4_0(b4, y4.data(), n);
  io::ggml_dequantize_row(static_cast<uint32_t>(io::GgmlType::Q8_0), q8.data(), r8.data(), n);
  io::ggml_dequantize_row(static_cast<uint32_t>(io::GgmlType::Q4_0), q4.data(), r4.data(), n);
  CHECK(y8 == r8);
  CHECK(y4 == r4);
  for (int64_t blk = 0; blk < n / 32; ++blk) {
    float amax = 0.0f;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[blk * 32 + j]));
    const float d8 = io::fp16_to_f32(b8[blk].d), d4 = std::fabs(io::fp16_to_f32(b4[blk].d));
    // Round to nearest: half a step, plus the scale's own fp16 rounding times the largest code.
    const float bound8 = 0.5f * d8 + 128.0f * std::fabs(d8 - amax / 127.0f) + 1e-7f;
    // Q4_0's grid is asymmetric (-8..7 steps): the positive end may clip by up to one step.
    const float bound4 = d4 + 9.0f * std::fabs(d4 - amax / 8.0f) + 1e-7f;
    for (int j = 0; j < 32; ++j) {
      const int64_t i = blk * 32 + j;
      INFO("block " << blk << " weight " << j);
      CHECK(std::fabs(y8[i] - x[i]) <= bound8);
      CHECK(std::fabs(y4[i] - x[i]) <= bound4);
    }
  }
}

TEST_CASE("ggml blocks refuse rows that are not whole blocks", "[export][ggml]") {
  std::vector<float> x(40, 1.0f);
  std::vector<ggml::BlockQ8_0> b(2);
  CHECK_THROWS_AS(ggml::quantize_row_q8_0(x.data(), b.data(), 40), Error);
  CHECK_THROWS_WITH(ggml::encode_rows(static_cast<uint32_t>(io::GgmlType::Q4_0), x.data(), 1, 40),
                    Catch::Contains("40") && Catch::Contains("32"));
  CHECK_THROWS_WITH(ggml::encode_rows(static_cast<uint32_t>(io::GgmlType::IQ2_XXS), x.data(), 1, 256),
                    Catch::Contains("IQ2_XXS"));
  CHECK_THROWS_WITH(ggml::encode_rows(static_cast<uint32_t>(io::GgmlType::Q4_K), x.data(), 1, 40),
                    Catch::Contains("40") && Catch::Contains("256"));
  // F32 and F16 have block size 1: any row length.
  CHECK(ggml::encode_rows(static_cast<uint32_t>(io::GgmlType::F16), x.data(), 2, 20).size() == 80);
}
