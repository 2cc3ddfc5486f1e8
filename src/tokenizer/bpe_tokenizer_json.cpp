// load_tokenizer_json: a Hugging Face tokenizer.json with a byte-level BPE model.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/json_parse.hpp"
#include "tokenizer/bpe_tokenizer_impl.hpp"

namespace ptq::tok {

namespace {

using nlohmann::json;

json read_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return parse_json(ss.str(), path);
  } catch (const json::exception& e) {
    fail(path, std::string("not valid JSON: ") + e.what());
  }
}

std::string type_of(const json& j) {
  if (!j.is_object()) return "";
  auto it = j.find("type");
  return (it != j.end() && it->is_string()) ? it->get<std::string>() : "";
}

bool flag(const json& j, const char* key, bool dflt) {
  auto it = j.find(key);
  return (it != j.end() && it->is_boolean()) ? it->get<bool>() : dflt;
}

// What the pre_tokenizer (and decoder) say about splitting and byte-level encoding.
struct PreTokenizerInfo {
  std::optional<PreTokenizer> pattern;
  bool byte_level = false;
  bool add_prefix_space = false;
};

void read_pre_tokenizer(const std::string& path, const json& p, PreTokenizerInfo& info) {
  const std::string type = type_of(p);
  if (p.is_null()) return;
  if (type == "Sequence") {
    auto it = p.find("pretokenizers");
    if (it == p.end() || !it->is_array()) fail(path, "pre_tokenizer Sequence has no 'pretokenizers' array");
    for (const json& sub : *it) read_pre_tokenizer(path, sub, info);
  } else if (type == "ByteLevel") {
    info.byte_level = true;
    info.add_prefix_space = flag(p, "add_prefix_space", false);
    if (flag(p, "use_regex", true)) {
      if (info.pattern) fail(path, "pre_tokenizer splits twice (a Split and a ByteLevel with use_regex); not supported");
      info.pattern = PreTokenizer::Gpt2;
    }
  } else if (type == "Split") {
    const json* regex = nullptr;
    if (auto pat = p.find("pattern"); pat != p.end() && pat->is_object()) {
      if (auto r = pat->find("Regex"); r != pat->end() && r->is_string()) regex = &*r;
    }
    if (!regex) fail(path, "pre_tokenizer Split has no pattern.Regex string; only regex splits are supported");
    const std::string text = regex->get<std::string>();
    auto known = pre_tokenizer_from_regex(text);
    if (!known) {
      fail(path, "pre_tokenizer Split regex is not one of the known patterns (GPT-2, Llama-3, Qwen2): " + text);
    }
    const std::string behavior = p.value("behavior", std::string("Isolated"));
    if (behavior != "Isolated" || flag(p, "invert", false)) {
      fail(path, "pre_tokenizer Split with behavior '" + behavior + "'" + (flag(p, "invert", false) ? " and invert" : "") + " is not supported (only Isolated)");
    }
    if (info.pattern) fail(path, "pre_tokenizer has more than one splitting step; not supported");
    info.pattern = known;
  } else {
    fail(path, "pre_tokenizer type '" + type + "' is not supported by the byte-level BPE tokenizer");
  }
}

bool read_normalizer(const std::string& path, const json& n) {
  if (n.is_null()) return false;
  const std::string type = type_of(n);
  if (type == "NFC") return true;
  if (type == "Sequence") {
    bool nfc = false;
    auto it = n.find("normalizers");
    if (it == n.end() || !it->is_array()) fail(path, "normalizer Sequence has no 'normalizers' array");
    for (const json& sub : *it) nfc = read_normalizer(path, sub) || nfc;
    return nfc;
  }
  fail(path, "normalizer type '" + type + "' is not supported (only NFC or none)");
}

std::pair<std::string, std::string> read_merge(const std::string& path, const json& m, size_t index) {
  const std::string where = "model.merges[" + std::to_string(index) + "]";
  if (m.is_string()) {
    const std::string s = m.get<std::string>();
    const size_t space = s.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == s.size() || s.find(' ', space + 1) != std::string::npos) {
      fail(path, where + " is not two tokens separated by one space: '" + s + "'");
    }
    return {s.substr(0, space), s.substr(space + 1)};
  }
  if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
    return {m[0].get<std::string>(), m[1].get<std::string>()};
  }
  fail(path, where + " is neither \"a b\" nor [\"a\", \"b\"]");
}

// A token named by tokenizer_config.json: a string, or an AddedToken object with "content".
std::optional<std::string> config_token(const json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return std::nullopt;
}

// tokenizer_config.json beside the file: "<prefix>tokenizer_config.json" for "<prefix>tokenizer.json",
// else tokenizer_config.json in the same directory.
std::optional<std::string> find_config(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path p(path);
  const std::string name = p.filename().string();
  const std::string suffix = "tokenizer.json";
  std::vector<fs::path> candidates;
  if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    candidates.push_back(p.parent_path() / (name.substr(0, name.size() - suffix.size()) + "tokenizer_config.json"));
  }
  candidates.push_back(p.parent_path() / "tokenizer_config.json");
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(c, ec)) return c.string();
  }
  return std::nullopt;
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& path) {
  const json root = read_json(path);
  if (!root.is_object()) fail(path, "the top level is not a JSON object");
  auto model_it = root.find("model");
  if (model_it == root.end() || !model_it->is_object()) fail(path, "no 'model' object");
  const json& model = *model_it;
  const std::string model_type = type_of(model);
  if (!model_type.empty() && model_type != "BPE") fail(path, "model.type is '" + model_type + "', not 'BPE'");
  auto vocab_it = model.find("vocab");
  if (vocab_it == model.end() || !vocab_it->is_object()) fail(path, "no 'model.vocab' object");
  auto merges_it = model.find("merges");
  if (merges_it == model.end() || !merges_it->is_array()) fail(path, "no 'model.merges' array");
  if (flag(model, "byte_fallback", false)) fail(path, "model.byte_fallback is set: a SentencePiece-style BPE, not byte-level");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    if (it != model.end() && it->is_string() && !it->get<std::string>().empty()) {
      fail(path, std::string("model.") + key + " is set; not supported by the byte-level BPE tokenizer");
    }
  }

  const json empty_array = json::array();
  auto added_it = root.find("added_tokens");
  const json& added_json = (added_it != root.end() && added_it->is_array()) ? *added_it : empty_array;

  // Ids are dense in real vocabularies; refuse absurd ones before allocating tables for them.
  const size_t max_id = 4 * (vocab_it->size() + added_json.size()) + 1024;
  auto checked_id = [&](const json& v, const std::string& what) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || static_cast<size_t>(v.get<int64_t>()) > max_id) {
      fail(path, what + " has an id that is not a small non-negative integer: " + v.dump());
    }
    return static_cast<int>(v.get<int64_t>());
  };

  BpeVocab vocab;
  std::unordered_map<std::string, int> id_of;
  for (auto it = vocab_it->begin(); it != vocab_it->end(); ++it) {
    const int id = checked_id(it.value(), "model.vocab entry '" + it.key() + "'");
    vocab.set(id, it.key(), BpeVocab::kByteLevel);
    id_of.emplace(it.key(), id);
  }
  BpeTokenizerOptions options;
  options.source = path;
  for (const json& a : added_json) {
    if (!a.is_object() || !a.contains("id") || !a.contains("content") || !a["content"].is_string()) {
      fail(path, "added_tokens entry is not an object with 'id' and 'content': " + a.dump());
    }
    AddedToken t;
    t.id = checked_id(a["id"], "added token " + a["content"].dump());
    t.content = a["content"].get<std::string>();
    t.lstrip = flag(a, "lstrip", false);
    t.rstrip = flag(a, "rstrip", false);
    t.single_word = flag(a, "single_word", false);
    vocab.set(t.id, t.content, BpeVocab::kLiteral);
    id_of[t.content] = t.id;
    options.added.push_back(std::move(t));
  }

  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(merges_it->size());
  for (size_t i = 0; i < merges_it->size(); ++i) merges.push_back(read_merge(path, (*merges_it)[i], i));

  PreTokenizerInfo pre;
  if (auto it = root.find("pre_tokenizer"); it != root.end()) read_pre_tokenizer(path, *it, pre);
  if (auto it = root.find("decoder"); it != root.end() && type_of(*it) == "ByteLevel") pre.byte_level = true;
  if (!pre.byte_level) fail(path, "neither pre_tokenizer nor decoder is ByteLevel: not a byte-level BPE tokenizer");
  if (!pre.pattern) fail(path, "the pre_tokenizer does not split the text (no regex); not supported");
  options.pre_tokenizer = *pre.pattern;
  options.add_prefix_space = pre.add_prefix_space;
  if (auto it = root.find("normalizer"); it != root.end()) options.nfc = read_normalizer(path, *it);

  // BOS: a TemplateProcessing post-processor that begins with a special token adds it.
  std::function<void(const json&)> read_post = [&](const json& p) {
    const std::string type = type_of(p);
    if (type == "Sequence" && p.contains("processors") && p["processors"].is_array()) {
      for (const json& sub : p["processors"]) read_post(sub);
    } else if (type == "TemplateProcessing" && p.contains("single") && p["single"].is_array() && !p["single"].empty()) {
      const json& first = p["single"][0];
      if (first.is_object() && first.contains("SpecialToken")) {
        const std::string name = first["SpecialToken"].value("id", std::string());
        auto it = id_of.find(name);
        if (it == id_of.end()) fail(path, "post_processor names special token '" + name + "', which is not in the vocabulary");
        options.bos = it->second;
        options.add_bos_default = true;
      }
    }
  };
  if (auto it = root.find("post_processor"); it != root.end()) read_post(*it);

  if (auto cfg_path = find_config(path)) {
    const json cfg = read_json(*cfg_path);
    if (!cfg.is_object()) fail(*cfg_path, "the top level is not a JSON object");
    auto resolve = [&](const char* key, int& slot) {
      if (auto name = config_token(cfg, key)) {
        auto it = id_of.find(*name);
        if (it == id_of.end()) fail(*cfg_path, std::string(key) + " '" + *name + "' is not in the vocabulary of " + path);
        slot = it->second;
      }
    };
    resolve("bos_token", options.bos);
    resolve("eos_token", options.eos);
    if (auto it = cfg.find("add_bos_token"); it != cfg.end() && it->is_boolean()) options.add_bos_default = it->get<bool>();
  }

  auto bpe = std::make_unique<BpeModel>(path, std::move(vocab), merges, flag(model, "ignore_merges", false));
  return std::make_unique<BpeTokenizer>(std::move(bpe), std::move(options));
}

}  // namespace ptq::tok
