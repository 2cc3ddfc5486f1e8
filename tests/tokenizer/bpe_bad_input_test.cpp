// Malformed tokenizer.json files give a ptq::Error that names the file and the problem.
#include <catch2/catch.hpp>

#include <fstream>

#include "support/shared_data.hpp"
#include "tokenizer/bpe_tokenizer.hpp"
#include "core/error.hpp"

namespace {

std::string write(const std::string& dir, const std::string& name, const std::string& body) {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << body;
  return path;
}

// A tiny but valid byte-level BPE vocabulary: the 256 byte tokens, then "Ġt" and "he".
std::string tiny_json(const std::string& merges, const std::string& pre_tokenizer = R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":true})",
                      const std::string& extra_vocab = "") {
  std::string vocab;
  // GPT-2's alphabet in byte order, as UTF-8 JSON strings.
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const unsigned cp = printable ? b : next++;
    std::string ch;
    if (cp < 0x80) {
      if (cp == '"' || cp == '\\') ch += '\\';
      ch += static_cast<char>(cp);
    } else {
      ch += static_cast<char>(0xC0 | (cp >> 6));
      ch += static_cast<char>(0x80 | (cp & 0x3F));
    }
    vocab += "\"" + ch + "\":" + std::to_string(b) + ",";
  }
  vocab += "\"\xC4\xA0t\":256,\"he\":257" + extra_vocab;
  return R"({"added_tokens":[],"normalizer":null,"pre_tokenizer":)" + pre_tokenizer +
         R"(,"decoder":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{)" + vocab + R"(},"merges":)" + merges + "}}";
}

std::string replace_once(std::string s, const std::string& from, const std::string& to) {
  return s.replace(s.find(from), from.size(), to);
}

void require_error(const std::string& path, const std::string& fragment) {
  try {
    ptq::tok::load_tokenizer_json(path);
    FAIL("no error for " << path);
  } catch (const ptq::Error& e) {
    const std::string what = e.what();
    INFO(what);
    CHECK(what.find(path) != std::string::npos);
    CHECK(what.find(fragment) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("a tiny hand-made byte-level BPE file loads and merges", "[tokenizer][bpe]") {
  const std::string dir = ptq::test::scratch_dir("bpe_tiny");
  const auto tok = ptq::tok::load_tokenizer_json(write(dir, "tokenizer.json", tiny_json(R"(["Ġ t", ["h","e"]])")));
  CHECK(tok->vocab_size() == 258);
  CHECK(tok->encode(" the", false) == std::vector<int>{256, 257});
  CHECK(tok->encode("\xFF\xFE", false) == std::vector<int>{0xFF, 0xFE});  // ill-formed UTF-8 bytes survive
  CHECK(tok->decode(tok->encode("\xFF\xFE the", false)) == "\xFF\xFE the");
  CHECK(tok->bos() == -1);
}

TEST_CASE("malformed tokenizer.json files are clear errors", "[tokenizer][bpe]") {
  const std::string dir = ptq::test::scratch_dir("bpe_bad_input");
  require_error(dir + "/absent.json", "cannot open");
  require_error(write(dir, "bad_json.json", R"({"model": {"type": "BPE", "vocab": {"a": 0},)"), "not valid JSON");
  require_error(write(dir, "not_object.json", "[1, 2]"), "not a JSON object");
  require_error(write(dir, "deep.json", "{\"model\":" + std::string(1000000, '[') + std::string(1000000, ']') + "}"),
                "JSON nests deeper than 64 levels");
  require_error(write(dir, "no_model.json", R"({"added_tokens": []})"), "no 'model' object");
  require_error(write(dir, "no_vocab.json", R"({"model": {"type": "BPE", "merges": []}})"), "no 'model.vocab' object");
  require_error(write(dir, "no_merges.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}}})"), "no 'model.merges' array");
  require_error(write(dir, "unigram.json", R"({"model": {"type": "Unigram", "vocab": []}})"), "not 'BPE'");
  require_error(write(dir, "unknown_merge.json", tiny_json(R"(["Ġ t", "h zz"])")), "names a token not in the vocabulary: 'zz'");
  require_error(write(dir, "merge_result.json", tiny_json(R"(["t h"])")), "makes a token not in the vocabulary: 'th'");
  require_error(write(dir, "bad_merge.json", tiny_json(R"(["Ġt"])")), "model.merges[0] is not two tokens");
  require_error(write(dir, "bad_id.json", tiny_json("[]", R"({"type":"ByteLevel"})", R"(,"x":-5)")), "not a small non-negative integer");
  require_error(write(dir, "huge_id.json", tiny_json("[]", R"({"type":"ByteLevel"})", R"(,"x":2000000000)")), "not a small non-negative integer");
  require_error(write(dir, "regex.json", tiny_json("[]", R"({"type":"Split","pattern":{"Regex":"\\w+"},"behavior":"Isolated"})")),
                "not one of the known patterns (GPT-2, Llama-3, Qwen2): \\w+");
  require_error(write(dir, "metaspace.json",
                      R"({"pre_tokenizer":{"type":"Metaspace"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}})"),
                "pre_tokenizer type 'Metaspace' is not supported");
  require_error(write(dir, "fallback.json", R"({"model":{"type":"BPE","byte_fallback":true,"vocab":{"a":0},"merges":[]}})"),
                "byte_fallback");
  require_error(write(dir, "no_bytes.json",
                      R"({"pre_tokenizer":{"type":"ByteLevel"},"model":{"type":"BPE","vocab":{"a":0},"merges":[]}})"),
                "no token for byte 0x00");
  require_error(write(dir, "normalizer.json", replace_once(tiny_json("[]"), R"("normalizer":null)", R"("normalizer":{"type":"NFKC"})")),
                "normalizer type 'NFKC'");
}

TEST_CASE("a broken tokenizer_config.json beside tokenizer.json is named in the error", "[tokenizer][bpe]") {
  const std::string dir = ptq::test::scratch_dir("bpe_bad_config");
  const std::string path = write(dir, "tokenizer.json", tiny_json("[]"));
  const std::string cfg = write(dir, "tokenizer_config.json", R"({"bos_token": "<s>")");
  try {
    ptq::tok::load_tokenizer_json(path);
    FAIL("no error");
  } catch (const ptq::Error& e) {
    CHECK(std::string(e.what()).find(cfg) != std::string::npos);
  }
  write(dir, "tokenizer_config.json", R"({"bos_token": "<s>"})");
  try {
    ptq::tok::load_tokenizer_json(path);
    FAIL("no error");
  } catch (const ptq::Error& e) {
    CHECK(std::string(e.what()).find("bos_token '<s>' is not in the vocabulary") != std::string::npos);
  }
}
