// ptq's ggml block quantizers against llama.cpp's own: node-llama-cpp ships llama.cpp's ggml base
// library (libggml-base.so, the code llama-quantize runs), so the same weights go through its
// quantize_<type>(src, dst, rows, n_per_row, imatrix) and through ptq's encode_rows, with and without
// an importance matrix, and the bytes must be identical in every block. Its dequantize_row_<type>
// must also give exactly ptq's dequantized values, and so must ptq's GGUF reader. The library runs in
// a process of its own (build/ggml_oracle, tests/support/ggml_oracle.cpp): dlopen()ed into this test
// executable, ggml's static initialisation aborts.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "export/node_client.hpp"
#include "ggml/ggml_blocks.hpp"
#include "ggml/ggml_blocks_q4q5.hpp"
#include "ggml/ggml_kquants.hpp"
#include "ggml/ggml_rows.hpp"
#include "io/gguf_types.hpp"
#include "support/shared_data.hpp"

using namespace ptq;
using io::GgmlType;

namespace {

template <class T>
void write_binary(const std::string& path, const std::vector<T>& v) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(T)));
}

template <class T>
std::vector<T> read_binary(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));
  return v;
}

// Runs build/ggml_oracle with llama.cpp's library; returns its exit status.
int run_oracle(const std::string& args) {
  const char* build = std::getenv("PTQ_BUILD_DIR");
  const std::string bin = std::string(build ? build : PTQ_SOURCE_DIR "/build") + "/ggml_oracle";
  REQUIRE(std::filesystem::exists(bin));
  const int rc = std::system((bin + " " + test::ggml_base_library().string() + " " + args).c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Rows of Gaussian weights with outliers, a constant row, an all-zero row and a row of tiny values,
// so the searches' special cases (zero groups, min > 0, clipping) all occur.
std::vector<float> test_rows(int64_t rows, int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.02f);
  std::vector<float> x(rows * n);
  for (float& v : x) v = g(rng);
  for (int64_t i = 0; i < rows * n; i += 89) x[i] *= 9.0f;
  std::fill(x.begin() + 1 * n, x.begin() + 2 * n, 0.0f);
  std::fill(x.begin() + 2 * n, x.begin() + 3 * n, 0.013f);
  for (int64_t j = 0; j < n; ++j) x[3 * n + j] = 1e-6f * static_cast<float>(j % 7);
  for (int64_t j = 0; j < n / 2; ++j) x[4 * n + j] = std::fabs(x[4 * n + j]) + 0.01f;  // all positive half row
  return x;
}

std::vector<float> test_importance(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> w(n);
  for (float& v : w) v = u(rng) * u(rng) * 3.0f;  // skewed, some near zero
  w[5] = 0.0f;
  return w;
}

}  // namespace

TEST_CASE("ggml block quantizers equal llama.cpp's own (libggml-base from node-llama-cpp)", "[export][ggml][node][llamacpp]") {
  REQUIRE_NODE_PACKAGE(test::kLlamaCpp);
  REQUIRE(std::filesystem::exists(test::ggml_base_library()));
  const std::string dir = test::scratch_dir("ggml-oracle");

  const int64_t rows = 12, n = 512;
  const std::vector<float> x = test_rows(rows, n, 11);
  const std::vector<float> imp = test_importance(n, 12);
  write_binary(dir + "/x.f32", x);
  write_binary(dir + "/imp.f32", imp);

  const std::vector<std::pair<GgmlType, std::string>> types = {
      {GgmlType::Q4_0, "q4_0"}, {GgmlType::Q4_1, "q4_1"}, {GgmlType::Q5_0, "q5_0"}, {GgmlType::Q5_1, "q5_1"},
      {GgmlType::Q8_0, "q8_0"}, {GgmlType::Q2_K, "q2_K"}, {GgmlType::Q3_K, "q3_K"}, {GgmlType::Q4_K, "q4_K"},
      {GgmlType::Q5_K, "q5_K"}, {GgmlType::Q6_K, "q6_K"}};
  for (const auto& [type, name] : types) {
    for (const bool weighted : {false, true}) {
      DYNAMIC_SECTION(name << (weighted ? " with importance" : " reference")) {
        const auto t = static_cast<uint32_t>(type);
        const io::GgmlTypeTraits tr = io::ggml_type_traits(t);
        const float* w = weighted ? imp.data() : nullptr;
        const std::vector<uint8_t> ours = ggml::encode_rows(t, x.data(), rows, n, w);
        const std::string out = dir + "/" + name + (weighted ? "-imp" : "") + ".bin";
        REQUIRE(run_oracle("quantize " + name + " " + std::to_string(rows) + " " + std::to_string(n) + " " + dir +
                           "/x.f32 " + (weighted ? dir + "/imp.f32 " : std::string("- ")) + out) == 0);
        const std::vector<uint8_t> theirs = read_binary<uint8_t>(out);
        REQUIRE(theirs.size() == ours.size());
        int64_t differ = 0, blocks = 0;
        for (size_t off = 0; off < ours.size(); off += tr.type_size, ++blocks) {
          differ += std::memcmp(ours.data() + off, theirs.data() + off, tr.type_size) != 0;
        }
        INFO(differ << " of " << blocks << " blocks differ");
        CHECK(differ == 0);

        // Dequantized: llama.cpp's and ptq's (the type table's, which the GGUF reader uses) agree exactly.
        REQUIRE(run_oracle("dequantize " + name + " " + std::to_string(rows * n) + " " + out + " " + out + ".f32") == 0);
        const std::vector<float> a = read_binary<float>(out + ".f32");
        std::vector<float> b(rows * n);
        ggml::dequantize_row(t, ours.data(), b.data(), rows * n);
        CHECK(a == b);
      }
    }
  }
}
