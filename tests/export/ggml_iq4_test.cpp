// IQ4_NL and IQ4_XS, llama.cpp's 4-bit non-linear block types. Against llama.cpp's own code
// (node-llama-cpp's libggml-base.so, run out of process by build/ggml_oracle): ptq's blocks equal
// quantize_iq4_nl / quantize_iq4_xs byte for byte, with and without importance, on random rows and
// on stories260K's weights, and ptq's dequantizers equal
// dequantize_row_iq4_*. Without llama.cpp: the level search against a brute-force nearest level,
// the export's type plan and fallbacks, GPTQ on the level grid against round-to-nearest on the same
// grid. And llama.cpp's perplexity of exported IQ4 files equals ptq's evaluation of the same files.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "algorithms/ggml/ggml_gptq.hpp"
#include "core/error.hpp"
#include "eval/perplexity.hpp"
#include "export/gguf_export.hpp"
#include "export/gguf_importance.hpp"
#include "export/gguf_type_plan.hpp"
#include "export/node_client.hpp"
#include "ggml/ggml_blocks.hpp"
#include "ggml/ggml_iq4.hpp"
#include "ggml/ggml_rows.hpp"
#include "io/atomic_file.hpp"
#include "io/gguf.hpp"
#include "io/gguf_model.hpp"
#include "io/gguf_types.hpp"
#include "io/llama2c.hpp"
#include "model/decoder.hpp"
#include "model/weight_source.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace ptq;
using io::GgmlType;
namespace fs = std::filesystem;

namespace {

constexpr auto kNL = static_cast<uint32_t>(GgmlType::IQ4_NL);
constexpr auto kXS = static_cast<uint32_t>(GgmlType::IQ4_XS);

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

int run_oracle(const std::string& args) {
  const char* build = std::getenv("PTQ_BUILD_DIR");
  const std::string bin = std::string(build ? build : PTQ_SOURCE_DIR "/build") + "/ggml_oracle";
  REQUIRE(fs::exists(bin));
  const int rc = std::system((bin + " " + test::ggml_base_library().string() + " " + args).c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Gaussian rows with outliers, an all-zero row, a constant row, a row of tiny values and a half row
// of positive values: the search's special cases (zero blocks, the sign of the largest weight).
std::vector<float> random_rows(int64_t rows, int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 0.02f);
  std::vector<float> x(rows * n);
  for (float& v : x) v = g(rng);
  for (int64_t i = 0; i < rows * n; i += 97) x[i] *= 8.0f;
  std::fill(x.begin() + 1 * n, x.begin() + 2 * n, 0.0f);
  std::fill(x.begin() + 2 * n, x.begin() + 3 * n, -0.013f);
  for (int64_t j = 0; j < n; ++j) x[3 * n + j] = 1e-6f * static_cast<float>(j % 5);
  for (int64_t j = 0; j < n / 2; ++j) x[4 * n + j] = std::fabs(x[4 * n + j]) + 0.01f;
  return x;
}

// Skewed importances, some zero, and one whole 32-column block of zeros.
std::vector<float> random_importance(int64_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> w(n);
  for (float& v : w) v = u(rng) * u(rng) * 3.0f;
  w[7] = 0.0f;
  std::fill(w.begin() + 64, w.begin() + 96, 0.0f);
  return w;
}

// Quantizes x [rows, n] with ptq and with llama.cpp, checks equal bytes per block, then that
// llama.cpp's dequantizer, ptq's and ptq's GGUF reader give the same floats.
void check_against_llamacpp(uint32_t type, const std::vector<float>& x, int64_t rows, int64_t n,
                            const std::vector<float>* importance, const std::string& dir, const std::string& tag) {
  const io::GgmlTypeTraits tr = io::ggml_type_traits(type);
  const std::string name = type == kNL ? "iq4_nl" : "iq4_xs";
  const std::string in = dir + "/" + tag + ".f32", imp = dir + "/" + tag + "-imp.f32", out = dir + "/" + tag + "-" + name + ".bin";
  write_binary(in, x);
  if (importance) write_binary(imp, *importance);
  const std::vector<uint8_t> ours = ggml::encode_rows(type, x.data(), rows, n, importance ? importance->data() : nullptr);
  REQUIRE(run_oracle("quantize " + name + " " + std::to_string(rows) + " " + std::to_string(n) + " " + in + " " +
                     (importance ? imp : std::string("-")) + " " + out) == 0);
  const std::vector<uint8_t> theirs = read_binary<uint8_t>(out);
  REQUIRE(theirs.size() == ours.size());
  REQUIRE(ours.size() == static_cast<size_t>(rows * n / tr.block_size * tr.type_size));
  int64_t differ = 0, blocks = 0;
  for (size_t off = 0; off < ours.size(); off += tr.type_size, ++blocks) {
    differ += std::memcmp(ours.data() + off, theirs.data() + off, tr.type_size) != 0;
  }
  INFO(name << " " << tag << (importance ? " with importance" : "") << ": " << differ << " of " << blocks << " blocks differ");
  CHECK(differ == 0);
  REQUIRE(run_oracle("dequantize " + name + " " + std::to_string(rows * n) + " " + out + " " + out + ".f32") == 0);
  const std::vector<float> a = read_binary<float>(out + ".f32");
  std::vector<float> b(rows * n);
  ggml::dequantize_row(type, ours.data(), b.data(), rows * n);
  CHECK(a == b);
}

torch::Tensor decode(uint32_t type, const std::vector<uint8_t>& bytes, int64_t rows, int64_t n) {
  torch::Tensor y = torch::empty({rows, n});
  io::ggml_dequantize_row(type, bytes.data(), y.data_ptr<float>(), rows * n);
  return y;
}

double proxy_loss(const torch::Tensor& W, const torch::Tensor& Q, const torch::Tensor& H) {
  const torch::Tensor D = (W - Q).to(torch::kDouble);
  return (D.matmul(H.to(torch::kDouble)) * D).sum().item<double>();
}

}  // namespace

TEST_CASE("IQ4 blocks have ggml's sizes and the level search finds the nearest level", "[export][ggml][iq4]") {
  CHECK(io::ggml_type_traits(kNL).type_size == sizeof(ggml::BlockIQ4_NL));
  CHECK(io::ggml_type_traits(kXS).type_size == sizeof(ggml::BlockIQ4_XS));
  CHECK(io::ggml_type_traits(kNL).type_size * 8.0 / io::ggml_type_traits(kNL).block_size == 4.5);
  CHECK(io::ggml_type_traits(kXS).type_size * 8.0 / io::ggml_type_traits(kXS).block_size == 4.25);
  // Brute force: the level of least |x - level|, the upper one on a tie (ggml's best_index_int8).
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-140.0f, 130.0f);
  std::vector<float> xs = {-1000.0f, -127.0f, -115.5f, -115.4999f, 0.0f, 7.0f, 6.9999995f, 101.0f, 113.0f, 500.0f};
  for (int i = 0; i < 20000; ++i) xs.push_back(u(rng));
  for (const float x : xs) {
    int best = 0;
    for (int k = 1; k < 16; ++k) {
      const double e = std::fabs(double(x) - ggml::kValuesIQ4NL[k]), eb = std::fabs(double(x) - ggml::kValuesIQ4NL[best]);
      if (e <= eb) best = k;
    }
    INFO("x = " << x);
    CHECK(ggml::iq4_nearest_level(x) == best);
  }
}

TEST_CASE("IQ4 blocks hold weights on their level grid exactly and refuse partial blocks", "[export][ggml][iq4]") {
  // Weights that are the 16 levels times 0.01 (twice over) are stored exactly: the scale 0.01 makes
  // every weight a level, and the decoded values are d * level.
  std::vector<float> x(256);
  for (int j = 0; j < 256; ++j) x[j] = 0.01f * ggml::kValuesIQ4NL[(j * 7) % 16] * (j < 128 ? 1.0f : 0.5f);
  for (const uint32_t t : {kNL, kXS}) {
    const std::vector<uint8_t> bytes = ggml::encode_rows(t, x.data(), 1, 256);
    std::vector<float> y(256);
    ggml::dequantize_row(t, bytes.data(), y.data(), 256);
    for (int j = 0; j < 256; ++j) {
      INFO(io::ggml_type_name(t) << " weight " << j);
      CHECK(std::fabs(y[j] - x[j]) <= 1e-3f * std::fabs(x[j]) + 1e-6f);  // fp16 scales
    }
  }
  // An IQ4_XS super-block of zeros: scale -0 (ggml writes -max_scale / 32) and index 8 (level 1).
  const std::vector<float> zeros(256, 0.0f);
  const std::vector<uint8_t> z = ggml::encode_rows(kXS, zeros.data(), 1, 256);
  const auto* zb = reinterpret_cast<const ggml::BlockIQ4_XS*>(z.data());
  CHECK(zb->d == 0x8000);
  CHECK(zb->qs[0] == 0x88);
  CHECK_THROWS_WITH(ggml::encode_rows(kNL, x.data(), 1, 48), Catch::Contains("IQ4_NL") && Catch::Contains("48"));
  CHECK_THROWS_WITH(ggml::encode_rows(kXS, x.data(), 1, 224), Catch::Contains("IQ4_XS") && Catch::Contains("256"));
  CHECK(ggml::block_type_by_name("iq4_nl") == kNL);
  CHECK(ggml::block_type_by_name("iq4_xs") == kXS);
}

TEST_CASE("IQ4 export types: names, file types and llama.cpp's fallbacks", "[export][ggml][iq4]") {
  const exporter::GgufTypeScheme nl = exporter::gguf_type_scheme("IQ4_NL"), xs = exporter::gguf_type_scheme("iq4_xs");
  CHECK(nl.base == GgmlType::IQ4_NL);
  CHECK(nl.file_type == 25u);  // LLAMA_FTYPE_MOSTLY_IQ4_NL
  CHECK(xs.base == GgmlType::IQ4_XS);
  CHECK(xs.file_type == 30u);  // LLAMA_FTYPE_MOSTLY_IQ4_XS
  const exporter::ModelShapeInfo m{5, 8, 4, true};
  // IQ4_XS rows that are not whole super-blocks become IQ4_NL (llama-quant.cpp), and F16 when not even that.
  auto x64 = exporter::choose_tensor_type(xs, "blk.0.attn_q.weight", 64, m, {}, "");
  CHECK(x64.fell_back);
  CHECK(x64.type == GgmlType::IQ4_NL);
  CHECK(exporter::choose_tensor_type(xs, "blk.0.ffn_down.weight", 172, m, {}, "").type == GgmlType::F16);
  CHECK(exporter::choose_tensor_type(xs, "blk.0.ffn_down.weight", 768, m, {}, "").type == GgmlType::IQ4_XS);
  // IQ4_NL is a 32-weight type: as Q4_0, no table entry; a fallback must be given.
  CHECK_THROWS_WITH(exporter::choose_tensor_type(nl, "blk.0.ffn_down.weight", 172, m, {}, ""),
                    Catch::Contains("blk.0.ffn_down.weight") && Catch::Contains("IQ4_NL"));
  CHECK(exporter::choose_tensor_type(nl, "blk.0.ffn_down.weight", 172, m, {}, "f16").type == GgmlType::F16);
  CHECK(exporter::parse_type_override("ffn_down=iq4_xs").type == GgmlType::IQ4_XS);
}

TEST_CASE("GPTQ on the IQ4 level grids beats round-to-nearest on the same grid", "[export][ggml][iq4][gptq]") {
  torch::manual_seed(4);
  const int64_t rows = 32, n = 512, tokens = 2048;
  const torch::Tensor mix = torch::randn({n, n}) / std::sqrt(static_cast<double>(n)) + torch::eye(n);
  const torch::Tensor X = torch::randn({tokens, n}).matmul(mix) * (torch::rand({n}) * 2 + 0.1);
  const torch::Tensor H = X.t().matmul(X) * (2.0 / tokens);
  const torch::Tensor W = (torch::randn({rows, n}) * 0.05).contiguous();
  const torch::Tensor diag = H.diagonal().contiguous();
  for (const uint32_t t : {kNL, kXS}) {
    INFO(io::ggml_type_name(t));
    // Both with the Hessian's diagonal as importance: the same scale choice, so the codes differ.
    const std::vector<uint8_t> g = ggml::gptq_encode_rows(t, W, H, 0.01, diag.data_ptr<float>());
    const std::vector<uint8_t> r = ggml::encode_rows(t, W.data_ptr<float>(), rows, n, diag.data_ptr<float>());
    REQUIRE(g.size() == r.size());
    const double lg = proxy_loss(W, decode(t, g, rows, n), H), lr = proxy_loss(W, decode(t, r, rows, n), H);
    WARN(io::ggml_type_name(t) << ": output error GPTQ " << lg << " vs RTN " << lr << " (ratio " << lg / lr << ")");
    CHECK(lg < 0.8 * lr);
    // Each row's first block is scaled from the untouched weights: exactly the quantizer's scale.
    for (int64_t row = 0; row < rows; ++row) {
      const size_t off = static_cast<size_t>(row * (n / io::ggml_type_traits(t).block_size) * io::ggml_type_traits(t).type_size);
      CHECK(std::memcmp(g.data() + off, r.data() + off, t == kNL ? 2 : 8) == 0);
    }
  }
  // Without correlations GPTQ is round-to-nearest on the stored grid: never a larger error than the
  // quantizer (which rounds against the scale before fp16), and almost always the same weights.
  const torch::Tensor I = torch::eye(n);
  for (const uint32_t t : {kNL, kXS}) {
    const std::vector<uint8_t> g = ggml::gptq_encode_rows(t, W, I);
    const std::vector<uint8_t> r = ggml::encode_rows(t, W.data_ptr<float>(), rows, n);
    const torch::Tensor dg = decode(t, g, rows, n), dr = decode(t, r, rows, n);
    const double same = (dg == dr).to(torch::kDouble).mean().item<double>();
    const double worse = ((W - dg).abs() > (W - dr).abs() + 1e-7f).to(torch::kDouble).sum().item<double>();
    INFO(io::ggml_type_name(t) << ": " << same << " identical, " << worse << " with a larger error");
    CHECK(same >= 0.99);
    CHECK(worse == 0);
  }
}

TEST_CASE("IQ4_NL and IQ4_XS equal llama.cpp's quantize_iq4_nl / quantize_iq4_xs", "[export][ggml][iq4][node][llamacpp]") {
  REQUIRE_NODE_PACKAGE(test::kLlamaCpp);
  REQUIRE(fs::exists(test::ggml_base_library()));
  const std::string dir = test::scratch_dir("ggml-iq4-oracle");
  const int64_t rows = 12, n = 512;
  const std::vector<float> x = random_rows(rows, n, 21);
  const std::vector<float> imp = random_importance(n, 22);
  for (const uint32_t t : {kNL, kXS}) {
    for (const bool weighted : {false, true}) {
      DYNAMIC_SECTION(io::ggml_type_name(t) << (weighted ? " with importance" : " without")) {
        check_against_llamacpp(t, x, rows, n, weighted ? &imp : nullptr, dir, "random");
      }
    }
  }
}

TEST_CASE("IQ4 on stories260K's weights equals llama.cpp's, with its imatrix and without", "[export][ggml][iq4][node][llamacpp]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  SHARED_FILE(imatrix, "peers/stories260K-imatrix-calib.dat");
  REQUIRE_NODE_PACKAGE(test::kLlamaCpp);
  const std::string dir = test::scratch_dir("ggml-iq4-stories");
  auto src = io::open_llama2c_model(bin);
  const exporter::ImportanceMap im = exporter::read_llama_imatrix(imatrix);
  // Rows of 64 (IQ4_NL) as the model has them; IQ4_XS needs rows of 256, so four rows joined (the
  // importance repeated four times, as the columns repeat).
  const struct {
    const char *hf, *gguf;
  } mats[] = {{"model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight"},
              {"model.layers.2.mlp.up_proj.weight", "blk.2.ffn_up.weight"},
              {"model.layers.4.self_attn.v_proj.weight", "blk.4.attn_v.weight"}};
  for (const auto& m : mats) {
    const torch::Tensor w = src->load(m.hf).contiguous();
    const std::vector<float> x(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
    const int64_t cols = w.size(1);
    REQUIRE(cols == 64);
    REQUIRE(im.count(m.gguf) == 1);
    const std::vector<float>& imp64 = im.at(m.gguf);
    REQUIRE(static_cast<int64_t>(imp64.size()) == cols);
    std::vector<float> imp256;
    for (int k = 0; k < 4; ++k) imp256.insert(imp256.end(), imp64.begin(), imp64.end());
    for (const bool weighted : {false, true}) {
      DYNAMIC_SECTION(m.gguf << (weighted ? " with imatrix" : " without")) {
        check_against_llamacpp(kNL, x, w.size(0), cols, weighted ? &imp64 : nullptr, dir, std::string(m.gguf) + "-nl");
        check_against_llamacpp(kXS, x, w.numel() / 256, 256, weighted ? &imp256 : nullptr, dir, std::string(m.gguf) + "-xs");
      }
    }
  }
}

namespace {

// ptq's and llama.cpp's perplexity of one GGUF (llama-perplexity's protocol, n_ctx 128).
std::pair<double, double> both_perplexities(const std::string& gguf, const std::vector<int>& tokens,
                                            const std::string& scratch, int windows) {
  const std::string tokens_path = scratch + "/tokens.json";
  io::write_file_atomically(tokens_path, nlohmann::json(tokens).dump());
  const nlohmann::json j = test::run_node(test::kLlamaCpp, {gguf, tokens_path, "128", std::to_string(windows)}, "perplexity.mjs");
  model::Model m(io::open_gguf_model(gguf));
  m.make_resident();
  eval::PerplexityOptions opt;
  opt.protocol = "llamacpp";
  opt.seqlen = 128;
  opt.max_windows = windows;
  const eval::PerplexityResult ours = eval::perplexity(m, tokens, opt);
  CHECK(j.at("windows") == ours.windows);
  return {ours.ppl, j.at("ppl").get<double>()};
}

}  // namespace

TEST_CASE("llama.cpp's perplexity of IQ4 exports equals ptq's own within 0.5 %", "[export][ggml][iq4][node][llamacpp][ppl]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  SHARED_FILE(tok_model, "models/tok512.model");
  SHARED_FILE(text_path, "text/tinystories_valid_eval.txt");
  REQUIRE_NODE_PACKAGE(test::kLlamaCpp);
  const std::string scratch = test::scratch_dir("ggml-iq4-ppl");
  constexpr double kPplTolerance = 0.005;
  auto check = [&](const model::WeightSource& src, const std::string& name, const std::string& type,
                   const std::string& tokenizer, const std::vector<int>& ids, int windows, const char* expect_type) {
    const std::string out = scratch + "/" + name + "-" + type + ".gguf";
    exporter::GgufExportOptions opt;
    opt.type = type;
    opt.tokenizer = tokenizer;
    opt.fallback = "f16";
    const exporter::GgufExportResult res = exporter::export_gguf(src, out, opt);
    // The file holds the type asked for (the attention matrices' rows fit it).
    const io::GgufReader r(out);
    bool found = false;
    for (const auto& t : r.tensors()) found = found || (t.name == "blk.0.attn_q.weight" && t.type_name == expect_type);
    CHECK(found);
    const auto [ours, theirs] = both_perplexities(out, ids, scratch, windows);
    WARN(name << " " << type << ": ptq ppl " << ours << ", llama.cpp ppl " << theirs << " (" << 100.0 * (theirs / ours - 1.0)
              << " %), " << res.fallbacks.size() << " fallbacks");
    CHECK(std::fabs(theirs / ours - 1.0) <= kPplTolerance);
  };
  auto stories = io::open_llama2c_model(bin);
  const std::vector<int> tokens = tok::open_tokenizer(tok_model)->encode(io::read_text_file(text_path).substr(0, 60000), true);
  // stories260K's rows of 64 are not super-blocks: IQ4_XS falls back to IQ4_NL there, as llama.cpp.
  SECTION("stories260K iq4_nl") { check(*stories, "stories260K", "iq4_nl", tok_model, tokens, 6, "IQ4_NL"); }
  SECTION("stories260K iq4_xs") { check(*stories, "stories260K", "iq4_xs", tok_model, tokens, 6, "IQ4_NL"); }
  const std::string root = PTQ_SOURCE_DIR;
  const std::string brown_text = root + "/data/brown/eval.txt";
  if (!fs::exists(brown_text)) {
    if (test::shared_required()) FAIL("data/brown/eval.txt is missing (make brown) and PTQ_REQUIRE_SHARED=1");
    WARN("SKIPPED: the default model's part: data/brown/eval.txt is missing (make brown)");
    return;
  }
  const std::string brown_tok = root + "/models/brown-5m/tokenizer.model";
  const std::vector<int> brown_ids = tok::open_tokenizer(brown_tok)->encode(io::read_text_file(brown_text).substr(0, 40000), true);
  auto brown = model::open_weights(root + "/models/brown-5m");
  SECTION("brown-5m iq4_nl") { check(*brown, "brown-5m", "iq4_nl", brown_tok, brown_ids, 3, "IQ4_NL"); }
  SECTION("brown-5m iq4_xs") { check(*brown, "brown-5m", "iq4_xs", brown_tok, brown_ids, 3, "IQ4_XS"); }
}
