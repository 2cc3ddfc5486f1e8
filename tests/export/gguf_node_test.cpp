// Real clients read ptq's GGUF. @huggingface/gguf (npm, pinned by tests/export/node/
// package-lock.json) parses the exported stories260K files in node: its metadata types and tensor
// list (names, ggml types, shapes, offsets) must be what ptq meant to write. llama.cpp itself
// (node-llama-cpp's prebuilt CPU build, pinned by tests/export/node/llama/package-lock.json) loads
// them and greedy-generates; the text must equal ptq's greedy generation from the same file. The
// packages are installed under the build tree from their lock files when absent.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "export/export_test_util.hpp"
#include "export/node_client.hpp"
#include "io/atomic_file.hpp"
#include "io/gguf.hpp"
#include "io/gguf_writer.hpp"
#include "io/gguf_model.hpp"
#include "io/llama2c.hpp"
#include "model/decoder.hpp"
#include "model/generate.hpp"
#include "eval/perplexity.hpp"
#include "tokenizer/tokenizer.hpp"
#include "support/shared_data.hpp"

using namespace ptq;
namespace fs = std::filesystem;
using test::kLlamaCpp;
using test::kParser;
using test::node_read;
using test::run_node;

namespace {

// The client's view of every tensor equals ptq's reader's.
void check_tensors_agree(const nlohmann::json& j, const io::GgufReader& r) {
  CHECK(j.at("version") == 3);
  CHECK(j.at("tensor_data_offset").get<uint64_t>() == r.data_offset());
  const auto& ts = j.at("tensors");
  REQUIRE(ts.size() == r.tensors().size());
  for (size_t i = 0; i < ts.size(); ++i) {
    const io::GgufTensorInfo& t = r.tensors()[i];
    INFO(t.name);
    CHECK(ts[i].at("name") == t.name);
    CHECK(ts[i].at("type") == t.type_name);
    CHECK(ts[i].at("shape").get<std::vector<int64_t>>() == t.dims);
    CHECK(ts[i].at("offset").get<uint64_t>() == t.offset - r.data_offset());
  }
}

const nlohmann::json& tensor(const nlohmann::json& j, const std::string& name) {
  for (const auto& t : j.at("tensors")) {
    if (t.at("name") == name) return t;
  }
  FAIL("the client lists no tensor " << name);
  throw;
}

}  // namespace

TEST_CASE("@huggingface/gguf (node) parses ptq's GGUF export", "[export][gguf][node]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  REQUIRE_NODE_PACKAGE(kParser);
  const std::string scratch = test::scratch_dir("gguf-node");
  auto src = io::open_llama2c_model(bin);

  SECTION("q8_0 with F16 fallback") {
    const std::string out = scratch + "/stories260K-q8_0.gguf";
    test::export_gguf_as(*src, out, "q8_0");
    const nlohmann::json j = node_read(out);
    io::GgufReader r(out);
    check_tensors_agree(j, r);
    CHECK(j.at("tensors").size() == 47);
    CHECK(tensor(j, "token_embd.weight").at("type") == "Q8_0");
    CHECK(tensor(j, "token_embd.weight").at("shape") == nlohmann::json::array({64, 512}));
    CHECK(tensor(j, "blk.0.attn_k.weight").at("shape") == nlohmann::json::array({64, 32}));
    CHECK(tensor(j, "blk.4.ffn_down.weight").at("type") == "F16");
    CHECK(tensor(j, "blk.4.ffn_down.weight").at("shape") == nlohmann::json::array({172, 64}));
    CHECK(tensor(j, "blk.2.ffn_norm.weight").at("type") == "F32");
    CHECK(tensor(j, "output_norm.weight").at("shape") == nlohmann::json::array({64}));

    const auto& m = j.at("metadata");
    CHECK(m.at("general.architecture").at("type") == "STRING");
    CHECK(m.at("general.architecture").at("value") == "llama");
    CHECK(m.at("general.file_type").at("value") == 7);
    CHECK(m.at("llama.block_count").at("type") == "UINT32");
    CHECK(m.at("llama.block_count").at("value") == 5);
    CHECK(m.at("llama.attention.head_count_kv").at("value") == 4);
    CHECK(m.at("llama.rope.freq_base").at("type") == "FLOAT32");
    CHECK(m.at("llama.rope.freq_base").at("value") == 10000.0);
    CHECK(m.at("tokenizer.ggml.model").at("value") == "llama");
    CHECK(m.at("tokenizer.ggml.tokens").at("subtype") == "STRING");
    CHECK(m.at("tokenizer.ggml.tokens").at("length") == 512);
    CHECK(m.at("tokenizer.ggml.tokens").at("head")[0] == "<unk>");
    CHECK(m.at("tokenizer.ggml.tokens").at("head")[3] == "<0x00>");
    CHECK(m.at("tokenizer.ggml.token_type").at("subtype") == "INT32");
    CHECK(m.at("tokenizer.ggml.token_type").at("head") == nlohmann::json::array({2, 3, 3, 6, 6, 6, 6, 6}));
    CHECK(m.at("tokenizer.ggml.scores").at("subtype") == "FLOAT32");
    CHECK(m.at("tokenizer.ggml.add_bos_token").at("type") == "BOOL");
    CHECK(m.at("tokenizer.ggml.bos_token_id").at("value") == 1);
    CHECK(m.at("kv_count").at("value") == r.keys().size());
  }

  SECTION("f32") {
    const std::string out = scratch + "/stories260K-f32.gguf";
    exporter::export_gguf(*src, out, {});
    const nlohmann::json j = node_read(out);
    check_tensors_agree(j, io::GgufReader(out));
    for (const auto& t : j.at("tensors")) CHECK(t.at("type") == "F32");
  }

  SECTION("every metadata value type of the writer") {
    const std::string out = scratch + "/types.gguf";
    io::GgufWriter w(64);
    w.add_u8("u8", 1);
    w.add_i8("i8", -1);
    w.add_u16("u16", 2);
    w.add_i16("i16", -2);
    w.add_u32("u32", 3);
    w.add_i32("i32", -3);
    w.add_u64("u64", 4);
    w.add_i64("i64", -4);
    w.add_f32("f32", 0.5f);
    w.add_f64("f64", 0.25);
    w.add_bool("bool", false);
    w.add_string("str", "s");
    w.add_i32_array("i32s", {5, 6});
    w.add_tensor("t", {32, 3}, io::GgmlType::Q4_0);
    w.write(out, [](size_t, const io::GgufWriter::Tensor& t) { return std::vector<uint8_t>(t.nbytes, 0x11); });
    const nlohmann::json j = node_read(out);
    const auto& m = j.at("metadata");
    const std::vector<std::pair<const char*, const char*>> types = {
        {"u8", "UINT8"},   {"i8", "INT8"},   {"u16", "UINT16"},   {"i16", "INT16"}, {"u32", "UINT32"},
        {"i32", "INT32"},  {"u64", "UINT64"}, {"i64", "INT64"},   {"f32", "FLOAT32"}, {"f64", "FLOAT64"},
        {"bool", "BOOL"}, {"str", "STRING"}, {"i32s", "ARRAY"}, {"general.alignment", "UINT32"}};
    for (const auto& [k, t] : types) {
      INFO(k);
      CHECK(m.at(k).at("type") == t);
    }
    CHECK(m.at("i8").at("value") == -1);
    CHECK(m.at("i64").at("value") == -4);
    CHECK(m.at("f64").at("value") == 0.25);
    CHECK(m.at("i32s").at("head") == nlohmann::json::array({5, 6}));
    check_tensors_agree(j, io::GgufReader(out));
    CHECK(tensor(j, "t").at("type") == "Q4_0");
  }
}

TEST_CASE("llama.cpp (node-llama-cpp) loads ptq's GGUF and greedy-generates what ptq generates", "[export][gguf][node][llamacpp]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  REQUIRE_NODE_PACKAGE(kLlamaCpp);
  const std::string scratch = test::scratch_dir("gguf-llamacpp");
  auto src = io::open_llama2c_model(bin);
  const std::string prompt = "Once upon a time";
  for (const std::string type : {"f32", "f16", "q8_0", "q4_0"}) {
    DYNAMIC_SECTION(type) {
      const std::string out = scratch + "/stories260K-" + type + ".gguf";
      test::export_gguf_as(*src, out, type);
      const nlohmann::json j = run_node(kLlamaCpp, {out, prompt, "40"});

      model::Model m(io::open_gguf_model(out));
      m.make_resident();
      auto tok = tok::open_tokenizer(out);
      CHECK(j.at("prompt_tokens").get<std::vector<int>>() == tok->encode(prompt, false));
      model::GenerateOptions opt;
      opt.max_tokens = 40;
      opt.stop_token = tok->eos();
      std::string ours;
      for (int id : model::generate(m, tok->encode(prompt, true), opt)) ours += tok->piece(id);
      const std::string theirs = j.at("text").get<std::string>();
      WARN(type << ": llama.cpp: '" << theirs << "'\nptq:       '" << ours << "'");
      CHECK(theirs == ours);
    }
  }
}

namespace {

// Perplexity of one GGUF under llama-perplexity's protocol (n_ctx 128, at most `windows` windows),
// by ptq (reading the GGUF) and by llama.cpp (node-llama-cpp, perplexity.mjs), on the same tokens.
std::pair<double, double> both_perplexities(const std::string& gguf, const std::vector<int>& tokens,
                                            const std::string& scratch, int windows) {
  const std::string tokens_path = scratch + "/tokens.json";
  io::write_file_atomically(tokens_path, nlohmann::json(tokens).dump());
  const nlohmann::json j = run_node(kLlamaCpp, {gguf, tokens_path, "128", std::to_string(windows)}, "perplexity.mjs");
  model::Model m(io::open_gguf_model(gguf));
  m.make_resident();
  eval::PerplexityOptions opt;
  opt.protocol = "llamacpp";
  opt.seqlen = 128;
  opt.max_windows = windows;
  const eval::PerplexityResult ours = eval::perplexity(m, tokens, opt);
  CHECK(j.at("windows") == ours.windows);
  CHECK(j.at("tokens_scored") == ours.tokens_scored);
  return {ours.ppl, j.at("ppl").get<double>()};
}

}  // namespace

TEST_CASE("llama.cpp's perplexity of every exported type equals ptq's own within 0.5 %", "[export][gguf][node][llamacpp][ppl]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  SHARED_FILE(tok_model, "models/tok512.model");
  SHARED_FILE(text_path, "text/tinystories_valid_eval.txt");
  REQUIRE_NODE_PACKAGE(kLlamaCpp);
  const std::string scratch = test::scratch_dir("gguf-llamacpp-ppl");
  auto tok = tok::open_tokenizer(tok_model);
  std::vector<int> tokens = tok->encode(io::read_text_file(text_path).substr(0, 60000), true);
  constexpr double kPplTolerance = 0.005;  // the bound: the two runtimes' arithmetic differs

  auto check_type = [&](const model::WeightSource& src, const std::string& name, const std::string& type, int windows,
                        const std::string& tokenizer, const std::vector<int>& ids) {
    const std::string out = scratch + "/" + name + "-" + type + ".gguf";
    exporter::GgufExportOptions opt = test::export_options(type);
    opt.tokenizer = tokenizer;
    if (opt.fallback.empty() && type != "f32" && type != "f16" && type.find("_k") == std::string::npos) opt.fallback = "f16";
    exporter::export_gguf(src, out, opt);
    const auto [ours, theirs] = both_perplexities(out, ids, scratch, windows);
    WARN(name << " " << type << ": ptq ppl " << ours << ", llama.cpp ppl " << theirs << " ("
              << 100.0 * (theirs / ours - 1.0) << " %)");
    CHECK(std::fabs(theirs / ours - 1.0) <= kPplTolerance);
  };

  auto stories = io::open_llama2c_model(bin);
  for (const std::string type : {"f32", "q8_0", "q4_0", "q4_1", "q5_0", "q4_k_m"}) {
    DYNAMIC_SECTION("stories260K " << type) { check_type(*stories, "stories260K", type, 6, tok_model, tokens); }
  }
  // The default model (models/brown-5m, committed): rows of 256 and 768, so the k-quants and
  // llama.cpp's Q4_K_M mix apply without fallbacks; text from Brown's held-out split (make brown).
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
  for (const std::string type : {"f32", "q8_0", "q4_0", "q4_1", "q5_0", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k", "q4_k_m"}) {
    DYNAMIC_SECTION("brown-5m " << type) { check_type(*brown, "brown-5m", type, 3, brown_tok, brown_ids); }
  }
}
