#include "data/text_source.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/json_parse.hpp"
#include "core/version.hpp"
#include "core/sha256.hpp"
#include "io/atomic_file.hpp"

namespace ptq::data {

namespace fs = std::filesystem;

namespace {

bool is_jsonl(const TextSourceSpec& spec) {
  if (spec.format == "jsonl") return true;
  if (spec.format == "text") return false;
  if (spec.format != "auto") fail(spec.path, "unknown text format '" + spec.format + "' (text, jsonl, auto)");
  auto ext = fs::path(spec.path).extension().string();
  return ext == ".jsonl" || ext == ".json";
}

std::vector<std::string> jsonl_documents(const TextSourceSpec& spec) {
  std::ifstream in(spec.path, std::ios::binary);
  if (!in) fail(spec.path, "cannot open");
  std::vector<std::string> docs;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = parse_json(line, spec.path + ":" + std::to_string(lineno));
    } catch (const std::exception& e) {
      fail(spec.path + ":" + std::to_string(lineno), std::string("bad JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains(spec.field) || !j[spec.field].is_string()) {
      fail(spec.path + ":" + std::to_string(lineno), "no string field '" + spec.field + "'");
    }
    docs.push_back(j[spec.field].get<std::string>());
  }
  return docs;
}

}  // namespace

std::string read_text(const TextSourceSpec& spec) {
  if (!fs::exists(spec.path)) fail(spec.path, "text file not found");
  if (!is_jsonl(spec)) return io::read_text_file(spec.path);
  auto docs = jsonl_documents(spec);
  std::string out;
  for (size_t i = 0; i < docs.size(); ++i) out += (i ? "\n\n" : "") + docs[i];
  return out;
}

std::vector<std::string> read_documents(const TextSourceSpec& spec) {
  if (!fs::exists(spec.path)) fail(spec.path, "text file not found");
  if (is_jsonl(spec)) return jsonl_documents(spec);
  std::istringstream in(io::read_text_file(spec.path));
  std::vector<std::string> docs;
  std::string line, cur;
  auto flush = [&] {
    if (!cur.empty()) docs.push_back(cur);
    cur.clear();
  };
  while (std::getline(in, line)) {
    std::string bare = line;
    if (!bare.empty() && bare.back() == '\r') bare.pop_back();
    const bool boundary = spec.separator.empty()
                              ? bare.find_first_not_of(" \t") == std::string::npos
                              : bare == spec.separator;
    if (boundary) {
      flush();
    } else {
      cur += (cur.empty() ? "" : "\n") + line;
    }
  }
  flush();
  return docs;
}

std::string default_cache_dir() {
  if (const char* d = std::getenv("PTQ_CACHE_DIR")) return d;
  if (const char* h = std::getenv("HOME")) return std::string(h) + "/.cache/ptq";
  return ".ptq-cache";
}

std::string tokenizer_fingerprint(const std::string& path) {
  if (!fs::is_directory(path)) return sha256_file(path);
  std::string all;
  for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer.bin", "tokenizer_config.json"}) {
    const fs::path p = fs::path(path) / name;
    if (fs::exists(p)) all += std::string(name) + "=" + sha256_file(p.string()) + ";";
  }
  return sha256_hex(all);
}

std::vector<int> tokenize_cached(const tok::Tokenizer& tokenizer, const std::string& tokenizer_id,
                                 const std::string& text, bool add_bos,
                                 const std::string& cache_dir) {
  const std::string dir = (cache_dir.empty() ? default_cache_dir() : cache_dir) + "/tokens";
  const std::string key =
      sha256_hex(sha256_hex(text) + "|" + tokenizer_id + "|" + tokenizer.kind() + "|" + (add_bos ? "bos" : "nobos") +
                 "|ptq " + PTQ_VERSION + "@" + git_commit());  // another ptq may tokenize differently
  const std::string path = dir + "/" + key + ".i32";
  std::error_code ec;
  if (fs::exists(path, ec)) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() % 4 == 0) {
      std::vector<int> ids(bytes.size() / 4);
      std::memcpy(ids.data(), bytes.data(), bytes.size());
      bool ok = true;
      for (int id : ids) ok = ok && id >= 0 && id < tokenizer.vocab_size();
      if (ok) return ids;
    }
  }
  std::vector<int> ids = tokenizer.encode(text, add_bos);
  fs::create_directories(dir, ec);
  if (!ec) {
    try {
      io::write_file_atomically(path, std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * 4));
    } catch (const Error&) {
      // A read-only cache directory only costs speed.
    }
  }
  return ids;
}

}  // namespace ptq::data
