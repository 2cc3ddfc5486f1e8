// Hugging Face GPTQ / AWQ / fp16 exports: the bit packing against a bit-by-bit reference and
// hand-computed words, round trips through ptq's reader (codes, fp16 scales, zeros, g_idx, weights),
// perplexity of real exports equal to ptq's own quantized directory, and bad input.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "data/text_source.hpp"
#include "eval/perplexity.hpp"
#include "export/gptq_packing.hpp"
#include "export/hf_gptq_export.hpp"
#include "io/atomic_file.hpp"
#include "io/staged_directory.hpp"
#include "io/hf_checkpoint.hpp"
#include "io/hf_packed_checkpoint.hpp"
#include "io/quantized_checkpoint.hpp"
#include "model/architecture.hpp"
#include "model/decoder.hpp"
#include "model/synthetic_model.hpp"
#include "pipeline/quantize_model.hpp"
#include "tokenizer/tokenizer.hpp"
#include "../support/shared_data.hpp"

using namespace ptq;
namespace fs = std::filesystem;

namespace {

uint32_t word(const torch::Tensor& packed, int64_t r, int64_t c) {
  return static_cast<uint32_t>(packed[r][c].item<int32_t>());
}

// The reference: one line of values as a bit vector (value k's bit j at k * bits + j), cut into
// 32-bit words, bit i of the stream at bit i % 32 of word i / 32.
std::vector<uint32_t> stream_words(const std::vector<int>& values, int bits) {
  std::vector<bool> stream(values.size() * bits, false);
  for (size_t k = 0; k < values.size(); ++k) {
    for (int j = 0; j < bits; ++j) stream[k * bits + j] = (values[k] >> j) & 1;
  }
  std::vector<uint32_t> words(stream.size() / 32, 0);
  for (size_t i = 0; i < stream.size(); ++i) {
    if (stream[i]) words[i / 32] |= uint32_t(1) << (i % 32);
  }
  return words;
}

torch::Tensor random_codes(int64_t rows, int64_t cols, int bits, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randint(0, 1 << bits, {rows, cols}, torch::kInt64).to(torch::kUInt8);
}

// A quantized layer: random codes, scales (not fp16-exact), zeros (sym: 2^(bits-1); asym: 1..maxq,
// or 0..maxq with allow_zero0) and g_idx (act_order: a permutation of the contiguous groups).
algo::QuantizedLinear make_layer(int64_t out, int64_t in, const algo::IntGrid& grid, bool act_order, uint64_t seed,
                                 bool allow_zero0 = false) {
  torch::manual_seed(seed);
  algo::QuantizedLinear q;
  q.grid = grid;
  const int64_t groups = algo::num_groups(in, grid);
  q.codes = torch::randint(0, grid.maxq() + 1, {out, in}, torch::kInt64).to(torch::kUInt8);
  q.scales = torch::rand({out, groups}) * 0.05 + 0.001;
  if (grid.sym) {
    q.zeros = torch::full({out, groups}, double(1 << (grid.bits - 1)));
  } else {
    q.zeros = torch::randint(allow_zero0 ? 0 : 1, grid.maxq() + 1, {out, groups}).to(torch::kFloat32);
  }
  q.g_idx = algo::contiguous_g_idx(in, grid);
  if (act_order) q.g_idx = q.g_idx.index_select(0, torch::randperm(in)).to(torch::kInt32).contiguous();
  return q;
}

// ptq's quantized directory of a synthetic model whose every block linear is make_layer()'d.
// `tweak(name, q)` may alter a layer before it is written.
void write_quantized_model(const std::string& dir, const model::ModelConfig& cfg, const algo::IntGrid& grid, bool act_order,
                           const std::function<void(const std::string&, algo::QuantizedLinear&)>& tweak = {}) {
  nlohmann::json qc = {{"bits", grid.bits}, {"group_size", grid.group_size}, {"sym", grid.sym}, {"algorithm", "gptq"},
                       {"algorithm_options", {{"damp_percent", 0.01}, {"act_order", act_order}}}};
  if (!grid.is_int()) qc["dtype"] = grid.dtype;
  io::QuantizedCheckpointWriter w(dir, cfg, qc, cfg.num_layers + 1);
  const int kv = cfg.num_kv_heads * cfg.head_dim;
  const std::map<std::string, std::pair<int, int>> shapes = {
      {"self_attn.q_proj", {cfg.hidden_size, cfg.hidden_size}}, {"self_attn.k_proj", {kv, cfg.hidden_size}},
      {"self_attn.v_proj", {kv, cfg.hidden_size}},              {"self_attn.o_proj", {cfg.hidden_size, cfg.hidden_size}},
      {"mlp.gate_proj", {cfg.intermediate_size, cfg.hidden_size}}, {"mlp.up_proj", {cfg.intermediate_size, cfg.hidden_size}},
      {"mlp.down_proj", {cfg.hidden_size, cfg.intermediate_size}}};
  uint64_t seed = 100;
  for (int L = 0; L < cfg.num_layers; ++L) {
    const std::string p = model::layer_prefix(L);
    std::map<std::string, torch::Tensor> fp = {{p + "input_layernorm.weight", torch::rand({cfg.hidden_size}) + 0.5},
                                               {p + "post_attention_layernorm.weight", torch::rand({cfg.hidden_size}) + 0.5}};
    std::map<std::string, algo::QuantizedLinear> ql;
    for (const auto& [m, s] : shapes) {
      auto q = make_layer(s.first, s.second, grid, act_order, ++seed);
      if (tweak) tweak(p + m, q);
      ql[p + m + ".weight"] = q;
    }
    w.write_shard(fp, ql);
  }
  torch::manual_seed(7);
  w.write_shard({{"model.embed_tokens.weight", torch::randn({cfg.vocab_size, cfg.hidden_size})},
                 {"model.norm.weight", torch::rand({cfg.hidden_size}) + 0.5},
                 {"lm_head.weight", torch::randn({cfg.vocab_size, cfg.hidden_size}) * 0.1}},
                {});
  w.commit();
}

std::map<std::string, std::string> dir_bytes(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    out[e.path().filename().string()] = ss.str();
  }
  return out;
}

torch::Tensor fp16_rounded(const torch::Tensor& t) { return t.to(torch::kFloat16).to(torch::kFloat32); }

nlohmann::json read_json(const std::string& p) { return nlohmann::json::parse(io::read_text_file(p)); }

// Every quantized layer of `src_dir` read back from the export at `out`: exact codes, zeros, g_idx,
// fp16-rounded scales; weights equal to the source's with fp16 scales (and within their rounding of
// the source's own); other tensors fp16-rounded.
// `kept`: layers the export stored dequantized in fp16 (--unaligned fp16).
void check_round_trip(const std::string& src_dir, const std::string& out, const std::string& method,
                      const std::vector<std::string>& kept = {}) {
  io::QuantizedCheckpoint src(src_dir);
  auto opened = model::open_weights(out);
  REQUIRE(opened->format() == method);
  auto* back = dynamic_cast<io::HfPackedCheckpoint*>(opened.get());
  REQUIRE(back);
  int layers = 0;
  for (const auto& t : src.tensors()) {
    INFO(t.name);
    REQUIRE(back->has(t.name));
    if (!src.is_quantized(t.name)) {
      CHECK(torch::equal(back->load(t.name), fp16_rounded(src.load(t.name))));
      continue;
    }
    const bool is_kept = std::find(kept.begin(), kept.end(), t.name.substr(0, t.name.size() - 7)) != kept.end();
    CHECK(back->is_quantized(t.name) == !is_kept);
    if (is_kept) {
      CHECK(torch::equal(back->load(t.name), fp16_rounded(src.load(t.name))));
      continue;
    }
    ++layers;
    const auto q = src.quantized(t.name);
    const auto r = back->quantized(t.name);
    CHECK(torch::equal(r.codes, q.codes));
    CHECK(torch::equal(r.zeros, q.zeros));
    CHECK(torch::equal(r.g_idx, q.g_idx));
    CHECK(torch::equal(r.scales, fp16_rounded(q.scales)));
    auto q16 = q;
    q16.scales = fp16_rounded(q.scales);
    const auto w = back->load(t.name);
    CHECK(torch::equal(w, q16.dequantize()));
    // Within the scales' fp16 rounding (relative 2^-11) of the source's dequantized weights.
    const auto w_src = q.dequantize();
    CHECK(((w - w_src).abs() <= w_src.abs() * (1.0 / 2048) + 1e-12).all().item<bool>());
  }
  CHECK(layers > 0);
}

}  // namespace

TEST_CASE("GPTQ packing equals a bit-by-bit stream reference for 2, 3, 4 and 8 bits", "[hf][packing]") {
  for (int bits : {2, 3, 4, 8}) {
    INFO("bits " << bits);
    const auto codes = random_codes(96, 5, bits, 10 + bits);  // 96: a multiple of 32 for 3 bits
    // qweight: along the rows, one stream per column.
    const auto qweight = exporter::pack_gptq(codes, bits, 0);
    REQUIRE(qweight.scalar_type() == torch::kInt32);
    REQUIRE(qweight.sizes() == torch::IntArrayRef({96 * bits / 32, 5}));
    for (int64_t c = 0; c < 5; ++c) {
      std::vector<int> col;
      for (int64_t r = 0; r < 96; ++r) col.push_back(codes[r][c].item<int>());
      const auto ref = stream_words(col, bits);
      for (size_t wi = 0; wi < ref.size(); ++wi) CHECK(word(qweight, wi, c) == ref[wi]);
    }
    CHECK(torch::equal(exporter::unpack_gptq(qweight, bits, 0), codes));
    // qzeros: along the columns, one stream per row.
    const auto zeros = random_codes(3, 64, bits, 20 + bits);
    const auto qzeros = exporter::pack_gptq(zeros, bits, 1);
    REQUIRE(qzeros.sizes() == torch::IntArrayRef({3, 64 * bits / 32}));
    for (int64_t r = 0; r < 3; ++r) {
      std::vector<int> row;
      for (int64_t c = 0; c < 64; ++c) row.push_back(zeros[r][c].item<int>());
      const auto ref = stream_words(row, bits);
      for (size_t wi = 0; wi < ref.size(); ++wi) CHECK(word(qzeros, r, wi) == ref[wi]);
    }
    CHECK(torch::equal(exporter::unpack_gptq(qzeros, bits, 1), zeros));
  }
  CHECK(exporter::gptq_pack_multiple(3) == 32);
  CHECK(exporter::gptq_pack_multiple(4) == 8);
  CHECK_THROWS_WITH(exporter::pack_gptq(random_codes(48, 2, 3, 1), 3, 0), Catch::Contains("multiples of 32"));
  CHECK_THROWS_WITH(exporter::pack_gptq(torch::full({8, 1}, 16, torch::kInt64), 4, 0), Catch::Contains("does not fit"));
  CHECK_THROWS_WITH(exporter::pack_gptq(random_codes(32, 2, 5, 1), 5, 0), Catch::Contains("2, 3, 4 or 8"));
}

TEST_CASE("GPTQ and AWQ packing give the hand-computed words", "[hf][packing]") {
  // 4 bits: rows 0..7 = 0..7 -> nibble k holds row k.
  auto c4 = torch::arange(8, torch::kInt64).view({8, 1});
  CHECK(word(exporter::pack_gptq(c4, 4, 0), 0, 0) == 0x76543210u);
  CHECK(word(exporter::pack_gptq(c4.view({1, 8}), 4, 1), 0, 0) == 0x76543210u);
  // 2 bits: rows k = k % 4 -> 0b11'10'01'00 per byte.
  CHECK(word(exporter::pack_gptq(torch::arange(16, torch::kInt64).remainder(4).view({16, 1}), 2, 0), 0, 0) == 0xE4E4E4E4u);
  // 8 bits: bytes.
  CHECK(word(exporter::pack_gptq(torch::tensor({1, 2, 3, 4}, torch::kInt64).view({4, 1}), 8, 0), 0, 0) == 0x04030201u);
  // 3 bits: row 0 = 1, row 10 = 5 (bits 30..32: straddles words 0 and 1), row 21 = 7 (bits 63..65:
  // words 1 and 2), row 31 = 4 (bits 93..95).
  auto c3 = torch::zeros({32, 1}, torch::kInt64);
  c3[0][0] = 1;
  c3[10][0] = 5;
  c3[21][0] = 7;
  c3[31][0] = 4;
  const auto p3 = exporter::pack_gptq(c3, 3, 0);
  REQUIRE(p3.size(0) == 3);
  CHECK(word(p3, 0, 0) == 0x40000001u);  // 1 | (5 & 3) << 30
  CHECK(word(p3, 1, 0) == 0x80000001u);  // 5 >> 2 | (7 & 1) << 31
  CHECK(word(p3, 2, 0) == 0x80000003u);  // 7 >> 1 | 4 << 29
  CHECK(torch::equal(exporter::unpack_gptq(p3, 3, 0), c3.to(torch::kUInt8)));
  // AWQ: columns 0..7 = 0..7 -> nibbles 0,2,4,6,1,3,5,7 from the low end.
  const auto a = exporter::pack_awq(torch::arange(8, torch::kInt64).view({1, 8}));
  CHECK(word(a, 0, 0) == 0x75316420u);
  CHECK(torch::equal(exporter::unpack_awq(a), torch::arange(8, torch::kInt64).view({1, 8}).to(torch::kUInt8)));
}

TEST_CASE("AWQ packing equals a bit-by-bit reference of AutoAWQ's column order", "[hf][packing]") {
  const auto codes = random_codes(7, 40, 4, 3);
  const auto p = exporter::pack_awq(codes);
  REQUIRE(p.sizes() == torch::IntArrayRef({7, 5}));
  // Where column c's nibble sits in its word: the inverse of AutoAWQ's order {0,2,4,6,1,3,5,7}.
  const int nibble_of_column[8] = {0, 4, 1, 5, 2, 6, 3, 7};
  for (int64_t r = 0; r < 7; ++r) {
    std::vector<uint32_t> ref(5, 0);
    for (int64_t c = 0; c < 40; ++c) {
      const int v = codes[r][c].item<int>();
      for (int j = 0; j < 4; ++j) {
        if ((v >> j) & 1) ref[c / 8] |= uint32_t(1) << (4 * nibble_of_column[c % 8] + j);
      }
    }
    for (int64_t w = 0; w < 5; ++w) CHECK(word(p, r, w) == ref[w]);
  }
  CHECK(torch::equal(exporter::unpack_awq(p), codes));
  CHECK_THROWS_WITH(exporter::pack_awq(random_codes(2, 12, 4, 1)), Catch::Contains("multiple of 8"));
}

TEST_CASE("GPTQ and AWQ exports round-trip codes, fp16 scales, zeros and g_idx; bytes are deterministic", "[hf][export]") {
  const std::string dir = test::scratch_dir("hf_gptq_awq_roundtrip");
  const auto cfg = model::synthetic_config(64, 96, 2, 2, 2, 48);  // every dimension a multiple of 32
  struct Case {
    int bits, group;
    bool sym, act_order;
    std::string format, ckpt;
  };
  const std::vector<Case> cases = {
      {4, 32, true, false, "gptq", "gptq"},  {4, 32, false, true, "gptq", "gptq"}, {3, 32, false, true, "gptq", "gptq_v2"},
      {2, 16, true, false, "gptq", "gptq"},  {8, 0, false, false, "gptq", "gptq"}, {3, 0, true, true, "gptq", "gptq"},
      {4, 32, false, false, "awq", "gptq"},  {4, 16, true, false, "awq", "gptq"}};
  int i = 0;
  for (const auto& c : cases) {
    const std::string tag = c.format + "-" + c.ckpt + "-w" + std::to_string(c.bits) + "g" + std::to_string(c.group) +
                            (c.sym ? "-sym" : "-asym") + (c.act_order ? "-act" : "");
    INFO(tag);
    algo::IntGrid grid;
    grid.bits = c.bits;
    grid.group_size = c.group;
    grid.sym = c.sym;
    const std::string src = dir + "/src" + std::to_string(i), out = dir + "/" + tag;
    write_quantized_model(src, cfg, grid, c.act_order);
    exporter::HfExportOptions opt;
    opt.format = c.format;
    opt.checkpoint_format = c.ckpt;
    const auto res = exporter::export_hf(io::QuantizedCheckpoint(src), out, opt);
    CHECK(res.quantized_layers == 14);
    CHECK(res.kept_fp16.empty());
    check_round_trip(src, out, c.format);

    const auto qc = read_json(out + "/config.json")["quantization_config"];
    CHECK(read_json(out + "/config.json")["torch_dtype"] == "float16");
    CHECK(qc == res.quantization_config);
    CHECK(qc["quant_method"] == c.format);
    CHECK(qc["bits"] == c.bits);
    CHECK(qc["group_size"] == (c.group > 0 ? c.group : -1));
    io::HfCheckpoint raw(out);
    const std::string b = "model.layers.1.mlp.down_proj";  // [64, 96]
    if (c.format == "gptq") {
      CHECK(qc["sym"] == c.sym);
      CHECK(qc["desc_act"] == (c.act_order && c.group > 0));  // per channel: one group, any order is contiguous
      CHECK(qc["checkpoint_format"] == c.ckpt);
      CHECK(qc["damp_percent"] == 0.01);
      CHECK(qc["static_groups"] == false);
      CHECK(read_json(out + "/quantize_config.json") == qc);
      const int64_t groups = c.group > 0 ? 96 / c.group : 1;
      CHECK(raw.view(b + ".qweight").sizes() == torch::IntArrayRef({96 * c.bits / 32, 64}));
      CHECK(raw.view(b + ".qzeros").sizes() == torch::IntArrayRef({groups, 64 * c.bits / 32}));
      CHECK(raw.view(b + ".scales").sizes() == torch::IntArrayRef({groups, 64}));
      CHECK(raw.view(b + ".g_idx").scalar_type() == torch::kInt32);
      CHECK(raw.view(b + ".g_idx").size(0) == 96);
      // v1 stores zero - 1: a symmetric 4-bit grid's zero 8 is the canonical 0x77777777.
      if (c.sym && c.bits == 4) CHECK(word(raw.view(b + ".qzeros"), 0, 0) == 0x77777777u);
    } else {
      CHECK(qc["zero_point"] == true);
      CHECK(qc["version"] == "gemm");
      CHECK(raw.view(b + ".qweight").sizes() == torch::IntArrayRef({96, 64 / 8}));
      CHECK(raw.view(b + ".qzeros").sizes() == torch::IntArrayRef({96 / c.group, 64 / 8}));
      CHECK_FALSE(raw.has(b + ".g_idx"));
      if (c.sym) CHECK(word(raw.view(b + ".qzeros"), 0, 0) == 0x88888888u);
    }
    CHECK(raw.view(b + ".qweight").scalar_type() == torch::kInt32);
    CHECK(raw.view(b + ".scales").scalar_type() == torch::kFloat16);
    CHECK(raw.view("model.embed_tokens.weight").scalar_type() == torch::kFloat16);

    if (i == 1) {  // determinism: the same export twice gives the same bytes
      exporter::export_hf(io::QuantizedCheckpoint(src), out + "-again", opt);
      CHECK(dir_bytes(out) == dir_bytes(out + "-again"));
    }
    ++i;
  }

  // Conversions between the formats read back the same layers; hf-fp16 holds the dequantized weights.
  {
    const std::string src = dir + "/src6";  // W4 g32 asym, contiguous
    exporter::HfExportOptions opt;
    opt.format = "gptq";
    opt.checkpoint_format = "gptq_v2";
    exporter::export_hf(*model::open_weights(dir + "/awq-gptq-w4g32-asym"), dir + "/awq-to-gptq2", opt);
    check_round_trip(src, dir + "/awq-to-gptq2", "gptq");
    opt.format = "hf-fp16";
    opt.checkpoint_format = "gptq";
    const auto res = exporter::export_hf(io::QuantizedCheckpoint(src), dir + "/fp16", opt);
    CHECK(res.quantization_config.is_null());
    const auto cj = read_json(dir + "/fp16/config.json");
    CHECK_FALSE(cj.contains("quantization_config"));
    CHECK(cj["torch_dtype"] == "float16");
    io::QuantizedCheckpoint q(src);
    auto fp16 = model::open_weights(dir + "/fp16");
    CHECK(fp16->format() == "safetensors");
    for (const auto& t : q.tensors()) {
      INFO(t.name);
      CHECK(torch::equal(fp16->load(t.name), fp16_rounded(q.load(t.name))));
    }
  }
}

TEST_CASE("Unaligned layers fail by name, or stay in fp16 and are listed as not quantized", "[hf][export]") {
  const std::string dir = test::scratch_dir("hf_gptq_awq_unaligned");
  // stories260K's shape: intermediate 172 is not a whole number of 4-bit words nor of AWQ's 8 columns.
  const auto cfg = model::synthetic_config(64, 172, 2, 2, 2, 48);
  algo::IntGrid grid;
  grid.bits = 4;
  grid.group_size = 0;  // per channel (172 is not a multiple of a group either)
  grid.sym = true;
  write_quantized_model(dir + "/src", cfg, grid, false);
  io::QuantizedCheckpoint src(dir + "/src");
  exporter::HfExportOptions opt;
  CHECK_THROWS_WITH(exporter::export_hf(src, dir + "/fail", opt),
                    Catch::Contains("model.layers.0.mlp.down_proj") && Catch::Contains("in_features = 172") &&
                        Catch::Contains("--unaligned fp16"));
  CHECK_FALSE(fs::exists(dir + "/fail"));
  opt.unaligned = "fp16";
  const auto res = exporter::export_hf(src, dir + "/gptq", opt);
  CHECK(res.quantized_layers == 8);
  CHECK(res.kept_fp16.size() == 6);
  const auto qc = read_json(dir + "/gptq/config.json")["quantization_config"];
  CHECK(qc["modules_in_block_to_quantize"] ==
        nlohmann::json::array({{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"}, {"self_attn.o_proj"}}));
  CHECK(qc["dynamic"].contains("-:.*\\.mlp\\.down_proj$"));
  CHECK(qc["dynamic"].size() == 3);
  auto back = model::open_weights(dir + "/gptq");
  auto* packed = dynamic_cast<io::HfPackedCheckpoint*>(back.get());
  REQUIRE(packed);
  CHECK(packed->is_quantized("model.layers.1.self_attn.o_proj.weight"));
  CHECK_FALSE(packed->is_quantized("model.layers.1.mlp.up_proj.weight"));
  const auto up = src.quantized("model.layers.1.mlp.up_proj.weight").dequantize();
  CHECK(torch::equal(back->load("model.layers.1.mlp.up_proj.weight"), fp16_rounded(up)));

  opt.format = "awq";
  CHECK_THROWS_WITH(exporter::export_hf(src, dir + "/awq", opt), Catch::Contains("per-channel"));
}

TEST_CASE("Bad input fails naming the layer and leaves no output", "[hf][export]") {
  const std::string dir = test::scratch_dir("hf_gptq_awq_bad");
  algo::IntGrid g3;
  g3.bits = 3;
  g3.group_size = 16;
  // 3 bits and in_features 48: not whole 32-row blocks.
  CHECK_THROWS_WITH(exporter::pack_gptq_layer(make_layer(32, 48, g3, false, 1), "model.layers.0.mlp.down_proj", false),
                    Catch::Contains("model.layers.0.mlp.down_proj") && Catch::Contains("in_features = 48") &&
                        Catch::Contains("multiple of 32"));
  CHECK(exporter::packed_shape_misfit("gptq", 3, 16, 64, 32).empty());
  CHECK_FALSE(exporter::packed_shape_misfit("gptq", 3, 16, 64, 48).empty());  // qzeros: out 48

  const auto cfg = model::synthetic_config(64, 96, 2, 2, 2, 48);
  algo::IntGrid g4;
  g4.bits = 4;
  g4.group_size = 32;
  // A zero point of 0 in layer 1's q_proj: v1 refuses (after layer 0 was written), v2 stores it.
  write_quantized_model(dir + "/zero0", cfg, g4, false, [](const std::string& name, algo::QuantizedLinear& q) {
    if (name == "model.layers.1.self_attn.q_proj") q.zeros[3][1] = 0;
  });
  io::QuantizedCheckpoint zero0(dir + "/zero0");
  exporter::HfExportOptions opt;
  fs::create_directories(dir + "/out");
  io::write_file_atomically(dir + "/out/earlier.txt", "an earlier export\n");
  io::write_file_atomically(dir + "/out/" + io::kOutputMarker, "{}\n");  // ptq wrote it
  CHECK_THROWS_WITH(exporter::export_hf(zero0, dir + "/out", opt),
                    Catch::Contains("model.layers.1.self_attn.q_proj") && Catch::Contains("zero point 0") &&
                        Catch::Contains("gptq_v2") && Catch::Contains("--sym"));
  // Interrupted: the earlier output is intact, nothing else was left beside it.
  CHECK(dir_bytes(dir + "/out") == std::map<std::string, std::string>{{".ptq-output", "{}\n"}, {"earlier.txt", "an earlier export\n"}});
  CHECK_THROWS(exporter::export_hf(zero0, dir + "/new", opt));
  CHECK_FALSE(fs::exists(dir + "/new"));
  for (const auto& e : fs::directory_iterator(dir)) CHECK(e.path().filename().string().find("partial") == std::string::npos);
  opt.checkpoint_format = "gptq_v2";
  exporter::export_hf(zero0, dir + "/out", opt);
  CHECK_FALSE(fs::exists(dir + "/out/earlier.txt"));
  auto v2 = model::open_weights(dir + "/out");
  CHECK(dynamic_cast<io::HfPackedCheckpoint&>(*v2).quantized("model.layers.1.self_attn.q_proj.weight").zeros[3][1].item<float>() == 0);

  // AWQ: 4 bits only; no act-order.
  opt = {};
  opt.format = "awq";
  write_quantized_model(dir + "/w3", cfg, g3, false);
  CHECK_THROWS_WITH(exporter::export_hf(io::QuantizedCheckpoint(dir + "/w3"), dir + "/awq3", opt),
                    Catch::Contains("model.layers.0.") && Catch::Contains("3-bit codes") && Catch::Contains("4 bits only"));
  write_quantized_model(dir + "/act", cfg, g4, true);
  CHECK_THROWS_WITH(exporter::export_hf(io::QuantizedCheckpoint(dir + "/act"), dir + "/awq-act", opt),
                    Catch::Contains("model.layers.0.") && Catch::Contains("act-order"));
  CHECK_FALSE(fs::exists(dir + "/awq3"));
  CHECK_FALSE(fs::exists(dir + "/awq-act"));

  // NF4: no integer grid.
  algo::IntGrid nf4;
  nf4.bits = 4;
  nf4.group_size = 32;
  nf4.sym = true;
  nf4.dtype = "nf4";
  write_quantized_model(dir + "/nf4", cfg, nf4, false, [](const std::string&, algo::QuantizedLinear& q) { q.zeros.zero_(); });
  for (const char* format : {"gptq", "awq"}) {
    opt.format = format;
    CHECK_THROWS_WITH(exporter::export_hf(io::QuantizedCheckpoint(dir + "/nf4"), dir + "/nf4-out", opt),
                      Catch::Contains("model.layers.0.") && Catch::Contains("dtype nf4") && Catch::Contains("hf-fp16"));
  }
  CHECK_FALSE(fs::exists(dir + "/nf4-out"));
  opt.format = "hf-fp16";
  exporter::export_hf(io::QuantizedCheckpoint(dir + "/nf4"), dir + "/nf4-out", opt);  // dequantized: fine

  // A full-precision model has nothing to pack.
  model::write_synthetic_model(cfg, dir + "/fp", 3);
  opt.format = "gptq";
  CHECK_THROWS_WITH(exporter::export_hf(*model::open_weights(dir + "/fp"), dir + "/fp-gptq", opt),
                    Catch::Contains("no quantized layers") && Catch::Contains("hf-fp16"));
  opt.checkpoint_format = "gptq_v3";
  CHECK_THROWS_WITH(exporter::export_hf(zero0, dir + "/x", opt), Catch::Contains("gptq_v3"));
}

namespace {

double ppl_of(const std::string& model_path, const std::vector<int>& ids, int windows) {
  model::Model m(model::open_weights(model_path));
  eval::PerplexityOptions opt;
  opt.protocol = "gptq";
  opt.seqlen = 256;
  opt.batch = 8;
  opt.max_windows = windows;
  return eval::perplexity(m, ids, opt).ppl;
}

}  // namespace

TEST_CASE("stories260K: GPTQ and AWQ exports evaluate as ptq's quantized model (W4 g32 sym/asym, W3 act-order)", "[hf][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(tok, "models/tok512.bin");
  SHARED_FILE(calib, "text/tinystories_valid_calib.txt");
  SHARED_FILE(text, "text/tinystories_valid_eval.txt");
  const std::string dir = test::scratch_dir("hf_gptq_awq_stories");
  const auto ids = tok::open_tokenizer(tok)->encode(data::read_text({text}), true);
  std::ostringstream log;
  struct Run {
    std::string name, algorithm;
    int bits;
    bool sym, act_order;
    std::vector<std::pair<std::string, std::string>> exports;  // format, checkpoint format
  };
  const std::vector<Run> runs = {{"w4g32-sym", "rtn", 4, true, false, {{"gptq", "gptq"}, {"awq", ""}}},
                                 {"w4g32-asym", "rtn", 4, false, false, {{"gptq", "gptq_v2"}, {"awq", ""}}},
                                 {"w3g32-act", "gptq", 3, true, true, {{"gptq", "gptq"}}}};
  for (const auto& r : runs) {
    INFO(r.name);
    pipeline::QuantizeSpec s;
    s.model = model;
    s.algorithm = r.algorithm;
    s.grid.bits = r.bits;
    s.grid.group_size = 32;
    s.grid.sym = r.sym;
    if (r.act_order) {
      s.calib.path = calib;
      s.sampling.n_samples = 16;
      s.sampling.seqlen = 128;
      s.algorithm_options = {{"act_order", true}};
    }
    s.out = dir + "/" + r.name;
    pipeline::quantize_model(s, log);
    const double ppl_q = ppl_of(s.out, ids, 16);
    for (const auto& [format, ckpt] : r.exports) {
      exporter::HfExportOptions opt;
      opt.format = format;
      if (!ckpt.empty()) opt.checkpoint_format = ckpt;
      opt.unaligned = "fp16";  // the MLP's 172 columns / rows do not pack
      const std::string out = s.out + "-" + format + ckpt;
      const auto res = exporter::export_hf(io::QuantizedCheckpoint(s.out), out, opt);
      CHECK(res.quantized_layers == 20);  // q, k, v, o of 5 layers
      CHECK(res.kept_fp16.size() == 15);
      CHECK(fs::exists(out + "/tokenizer.bin"));
      check_round_trip(s.out, out, format, res.kept_fp16);
      if (format == "gptq") CHECK(read_json(out + "/config.json")["quantization_config"]["desc_act"] == r.act_order);
      const double ppl_e = ppl_of(out, ids, 16);
      INFO(format << ckpt << ": ppl " << ppl_e << " vs ptq's " << ppl_q);
      CHECK(std::abs(ppl_e / ppl_q - 1) < 0.005);
    }
  }
}

TEST_CASE("Default model: GPTQ act-order and AWQ exports pack every layer and evaluate as ptq's", "[hf][brown]") {
  const std::string root = PTQ_SOURCE_DIR;
  const std::string model = root + "/models/brown-5m", calib = root + "/data/brown/calib.txt", text = root + "/data/brown/eval.txt";
  if (!fs::exists(calib) || !fs::exists(text)) {
    if (test::shared_required()) FAIL("data/brown is missing (make brown) and PTQ_REQUIRE_SHARED=1");
    WARN("SKIPPED: data/brown is missing (scripts/zoo/fetch_brown.sh prepares it)");
    return;
  }
  const std::string dir = test::scratch_dir("hf_gptq_awq_brown");
  const auto ids = tok::open_tokenizer(model)->encode(data::read_text({text}), true);
  std::ostringstream log;
  pipeline::QuantizeSpec s;
  s.model = model;
  s.algorithm = "gptq";
  s.grid.bits = 4;
  s.grid.group_size = 32;
  s.grid.sym = true;
  s.calib.path = calib;
  s.sampling.n_samples = 16;
  s.sampling.seqlen = 128;
  s.algorithm_options = {{"act_order", true}};
  s.out = dir + "/w4g32-act";
  pipeline::quantize_model(s, log);
  exporter::HfExportOptions opt;
  auto res = exporter::export_hf(io::QuantizedCheckpoint(s.out), dir + "/gptq", opt);
  CHECK(res.quantized_layers == 28);
  CHECK(res.kept_fp16.empty());
  CHECK(res.quantization_config["desc_act"] == true);
  CHECK(fs::exists(dir + "/gptq/tokenizer.model"));
  check_round_trip(s.out, dir + "/gptq", "gptq");
  const double q = ppl_of(s.out, ids, 8), e = ppl_of(dir + "/gptq", ids, 8);
  INFO("gptq: " << e << " vs " << q);
  CHECK(std::abs(e / q - 1) < 0.005);

  s.algorithm = "rtn";
  s.calib.path.clear();
  s.algorithm_options = nlohmann::json::object();
  s.grid.sym = false;
  s.grid.group_size = 128;
  s.out = dir + "/w4g128-asym";
  pipeline::quantize_model(s, log);
  opt.format = "awq";
  res = exporter::export_hf(io::QuantizedCheckpoint(s.out), dir + "/awq", opt);
  CHECK(res.quantized_layers == 28);
  check_round_trip(s.out, dir + "/awq", "awq");
  const double qa = ppl_of(s.out, ids, 8), ea = ppl_of(dir + "/awq", ids, 8);
  INFO("awq: " << ea << " vs " << qa);
  CHECK(std::abs(ea / qa - 1) < 0.005);
}
