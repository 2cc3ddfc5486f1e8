// Real clients read ptq's GGUF. @huggingface/gguf (npm, pinned by tests/export/node/
// package-lock.json) parses the exported stories260K files in node: its metadata types and tensor
// list (names, ggml types, shapes, offsets) must be what ptq meant to write. llama.cpp itself
// (node-llama-cpp's prebuilt CPU build, pinned by tests/export/node/llama/package-lock.json) loads
// them and greedy-generates; the text must equal ptq's greedy generation from the same file. The
// packages are installed under the build tree from their lock files when absent.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "export/export_test_util.hpp"
#include "io/atomic_file.hpp"
#include "io/gguf.hpp"
#include "io/gguf_writer.hpp"
#include "io/gguf_model.hpp"
#include "io/llama2c.hpp"
#include "model/decoder.hpp"
#include "model/generate.hpp"
#include "tokenizer/tokenizer.hpp"
#include "support/shared_data.hpp"

using namespace ptq;
namespace fs = std::filesystem;

namespace {

std::string quoted(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// An npm package of tests/export/node (`sub`: "" or "llama") installed under the build tree.
struct NodePackage {
  std::string sub, marker, script, npm_command;  // npm_command: "ci" or "install ..."
  fs::path dir() const {
    fs::path base = fs::temp_directory_path() / "ptq-tests";
    if (const char* b = std::getenv("PTQ_BUILD_DIR")) base = fs::path(b) / "test-scratch";
    return base / ("node-gguf-client" + (sub.empty() ? "" : "-" + sub));
  }
};
const NodePackage kParser{"", "node_modules/@huggingface/gguf/package.json", "read_gguf.mjs", "ci"};
// node-llama-cpp without its optional per-platform builds (the CPU linux-x64 one is a direct
// dependency). `npm ci` refuses this lock where the registry lacks some of those optional packages
// (mac/win/riscv builds), so this one is installed with `npm install --no-save` from the same lock.
const NodePackage kLlamaCpp{"llama", "node_modules/@node-llama-cpp/linux-x64/package.json", "generate.mjs",
                            "install --no-save --omit=optional --ignore-scripts"};

// Copies the pinned package and script; runs npm when node_modules is absent or the lock file
// changed. Returns "" on success, else the reason.
std::string install(const NodePackage& pkg) {
  const fs::path src = fs::path(PTQ_SOURCE_DIR) / "tests" / "export" / "node" / pkg.sub;
  const fs::path dir = pkg.dir();
  fs::create_directories(dir);
  const std::string lock = io::read_text_file((src / "package-lock.json").string());
  const bool current = fs::exists(dir / pkg.marker) && fs::exists(dir / "package-lock.json") &&
                       io::read_text_file((dir / "package-lock.json").string()) == lock;
  for (const std::string& f : {std::string("package.json"), std::string("package-lock.json"), pkg.script}) {
    fs::copy_file(src / f, dir / f, fs::copy_options::overwrite_existing);
  }
  if (current) return "";
  if (std::system("node --version > /dev/null 2>&1") != 0) return "node is not installed";
  const std::string cmd = "cd " + quoted(dir.string()) + " && npm " + pkg.npm_command +
                          " --no-audit --no-fund --loglevel=error > npm-ci.log 2>&1";
  if (std::system(cmd.c_str()) != 0) return "npm " + pkg.npm_command + " failed; see " + (dir / "npm-ci.log").string();
  return "";
}

// Runs `node script args...` in the package's directory and parses its JSON output.
nlohmann::json run_node(const NodePackage& pkg, const std::vector<std::string>& args) {
  std::string cmd = "cd " + quoted(pkg.dir().string()) + " && node " + pkg.script;
  for (const std::string& a : args) cmd += " " + quoted(a);
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  const int rc = pclose(p);
  INFO("node output: " << out.substr(0, 2000));
  REQUIRE(rc == 0);
  return nlohmann::json::parse(out.substr(out.find('{')));
}

nlohmann::json node_read(const std::string& gguf) { return run_node(kParser, {gguf}); }

// SKIPPED (or FAILED under PTQ_REQUIRE_SHARED=1) when the package cannot be installed.
#define REQUIRE_NODE_PACKAGE(pkg)                                                                  \
  if (const std::string err = install(pkg); !err.empty()) {                                        \
    if (test::shared_required()) FAIL("node package unavailable (PTQ_REQUIRE_SHARED=1): " << err); \
    WARN("SKIPPED: node package unavailable: " << err);                                            \
    return;                                                                                        \
  }

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
