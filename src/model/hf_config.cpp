#include "model/hf_config.hpp"

#include <nlohmann/json.hpp>

#include <limits>

#include "core/error.hpp"
#include "core/json_parse.hpp"
#include "io/atomic_file.hpp"

namespace ptq::model {

namespace {

using nlohmann::json;

struct Arch {
  const char* architecture;
  const char* model_type;
};
constexpr Arch kArchs[] = {
    {"LlamaForCausalLM", "llama"},
    {"MistralForCausalLM", "mistral"},
    {"Qwen2ForCausalLM", "qwen2"},
};

std::string type_name(const json& v) { return v.is_null() ? "null" : v.type_name(); }

// Typed accessors: each failure names the file and the key, and what was found instead.
class Fields {
 public:
  Fields(const json& j, const std::string& where) : j_(j), where_(where) {}

  bool present(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  int get_int(const char* key) const {
    if (!j_.contains(key)) fail(where_, std::string("missing key '") + key + "'");
    return to_int(j_.at(key), key);
  }
  int get_int(const char* key, int fallback) const { return present(key) ? get_int(key) : fallback; }

  double get_double(const char* key, double fallback) const {
    if (!present(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_number()) {
      fail(where_, std::string("key '") + key + "' must be a number, got " + type_name(v));
    }
    return v.get<double>();
  }

  bool get_bool(const char* key, bool fallback) const {
    if (!present(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_boolean()) {
      fail(where_, std::string("key '") + key + "' must be true or false, got " + type_name(v));
    }
    return v.get<bool>();
  }

  std::string get_string(const char* key, const std::string& fallback) const {
    if (!present(key)) return fallback;
    const json& v = j_.at(key);
    if (!v.is_string()) {
      fail(where_, std::string("key '") + key + "' must be a string, got " + type_name(v));
    }
    return v.get<std::string>();
  }

  // A token id: an integer, a list of integers (the first is used: ptq stops at one EOS), or null.
  int get_token_id(const char* key, int fallback) const {
    if (!j_.contains(key)) return fallback;
    const json& v = j_.at(key);
    if (v.is_null()) return -1;
    if (v.is_array()) {
      if (v.empty()) return -1;
      return to_int(v.at(0), key);
    }
    return to_int(v, key);
  }

 private:
  int to_int(const json& v, const char* key) const {
    if (!v.is_number_integer()) {
      fail(where_, std::string("key '") + key + "' must be an integer, got " + type_name(v) +
                       (v.is_number() ? " " + v.dump() : ""));
    }
    const int64_t x = v.get<int64_t>();
    if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max()) {
      fail(where_, std::string("key '") + key + "' value " + std::to_string(x) + " is out of range");
    }
    return static_cast<int>(x);
  }

  const json& j_;
  std::string where_;
};

std::string architecture_of(const json& j, const std::string& where) {
  if (j.contains("architectures") && !j.at("architectures").is_null()) {
    const json& a = j.at("architectures");
    if (!a.is_array() || a.empty() || !a.at(0).is_string()) {
      fail(where, "key 'architectures' must be a non-empty list of strings");
    }
    const std::string name = a.at(0).get<std::string>();
    for (const Arch& k : kArchs) {
      if (name == k.architecture) return name;
    }
    fail(where, "key 'architectures': unsupported architecture '" + name +
                    "' (supported: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)");
  }
  // Older configs name only the model_type.
  if (j.contains("model_type") && j.at("model_type").is_string()) {
    const std::string mt = j.at("model_type").get<std::string>();
    for (const Arch& k : kArchs) {
      if (mt == k.model_type) return k.architecture;
    }
    fail(where, "key 'model_type': unsupported model type '" + mt + "' (supported: llama, mistral, qwen2)");
  }
  fail(where, "missing key 'architectures' (and no 'model_type' to fall back on)");
}

}  // namespace

ModelConfig parse_hf_config_text(const std::string& text, const std::string& where) {
  json j;
  try {
    j = parse_json(text, where);
  } catch (const json::exception& e) {
    fail(where, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) fail(where, "expected a JSON object");
  Fields f(j, where);

  ModelConfig c;
  c.architecture = architecture_of(j, where);
  const std::string act = f.get_string("hidden_act", "silu");
  if (act != "silu") fail(where, "key 'hidden_act': activation '" + act + "' is not supported (only silu)");
  if (f.present("rope_scaling")) {
    fail(where, "key 'rope_scaling': scaled rotary embeddings (" + j.at("rope_scaling").dump() +
                    ") are not supported");
  }

  c.hidden_size = f.get_int("hidden_size");
  c.intermediate_size = f.get_int("intermediate_size");
  c.num_layers = f.get_int("num_hidden_layers");
  c.num_heads = f.get_int("num_attention_heads");
  c.num_kv_heads = f.get_int("num_key_value_heads", c.num_heads);
  c.vocab_size = f.get_int("vocab_size");
  if (f.present("head_dim")) {
    c.head_dim = f.get_int("head_dim");
  } else {
    if (c.num_heads <= 0 || c.hidden_size % c.num_heads != 0) {
      fail(where, "key 'num_attention_heads' (" + std::to_string(c.num_heads) +
                      ") must divide 'hidden_size' (" + std::to_string(c.hidden_size) +
                      ") when 'head_dim' is absent");
    }
    c.head_dim = c.hidden_size / c.num_heads;
  }
  c.max_position_embeddings = f.get_int("max_position_embeddings", 2048);
  c.rope_theta = f.get_double("rope_theta", 10000.0);
  c.rms_norm_eps = f.get_double("rms_norm_eps", 1e-6);
  c.tie_word_embeddings = f.get_bool("tie_word_embeddings", false);
  // Qwen2's attention always has q/k/v biases; Llama's has them when attention_bias is set.
  c.attention_bias = c.architecture == "Qwen2ForCausalLM" ? true : f.get_bool("attention_bias", false);
  c.bos_token_id = f.get_token_id("bos_token_id", 1);
  c.eos_token_id = f.get_token_id("eos_token_id", 2);
  // transformers >= 4.56 writes "dtype"; earlier versions "torch_dtype".
  c.torch_dtype = f.get_string("torch_dtype", f.get_string("dtype", "float32"));
  c.validate(where);
  return c;
}

ModelConfig parse_hf_config(const std::string& path) {
  return parse_hf_config_text(io::read_text_file(path), path);
}

std::string write_hf_config(const ModelConfig& c) {
  const char* model_type = "llama";
  for (const Arch& k : kArchs) {
    if (c.architecture == k.architecture) model_type = k.model_type;
  }
  auto token = [](int id) { return id < 0 ? json(nullptr) : json(id); };
  json j = {
      {"architectures", json::array({c.architecture})},
      {"model_type", model_type},
      {"hidden_act", "silu"},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_layers},
      {"num_attention_heads", c.num_heads},
      {"num_key_value_heads", c.num_kv_heads},
      {"head_dim", c.head_dim},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.max_position_embeddings},
      {"rope_theta", c.rope_theta},
      {"rms_norm_eps", c.rms_norm_eps},
      {"tie_word_embeddings", c.tie_word_embeddings},
      {"attention_bias", c.attention_bias},
      {"bos_token_id", token(c.bos_token_id)},
      {"eos_token_id", token(c.eos_token_id)},
      {"torch_dtype", c.torch_dtype},
  };
  return j.dump(2) + "\n";
}

void ModelConfig::validate(const std::string& where) const {
  bool known = false;
  for (const Arch& k : kArchs) known = known || architecture == k.architecture;
  if (!known) fail(where, "unsupported architecture '" + architecture + "'");
  auto positive = [&](const char* name, int v) {
    if (v <= 0) fail(where, std::string(name) + " must be positive, got " + std::to_string(v));
  };
  positive("hidden_size", hidden_size);
  positive("intermediate_size", intermediate_size);
  positive("num_layers", num_layers);
  positive("num_heads", num_heads);
  positive("num_kv_heads", num_kv_heads);
  positive("head_dim", head_dim);
  positive("vocab_size", vocab_size);
  positive("max_position_embeddings", max_position_embeddings);
  if (num_heads % num_kv_heads != 0) {
    fail(where, "num_kv_heads (" + std::to_string(num_kv_heads) + ") must divide num_heads (" +
                    std::to_string(num_heads) + ")");
  }
  if (head_dim % 2 != 0) {
    fail(where, "head_dim " + std::to_string(head_dim) + " must be even (rotary pairs)");
  }
  if (!(rope_theta > 0)) fail(where, "rope_theta must be positive, got " + std::to_string(rope_theta));
  if (!(rms_norm_eps > 0) || rms_norm_eps >= 1) {
    fail(where, "rms_norm_eps must be in (0, 1), got " + std::to_string(rms_norm_eps));
  }
  auto token = [&](const char* name, int id) {
    if (id < -1 || id >= vocab_size) {
      fail(where, std::string(name) + " " + std::to_string(id) + " is outside the vocabulary of " +
                      std::to_string(vocab_size));
    }
  };
  token("bos_token_id", bos_token_id);
  token("eos_token_id", eos_token_id);
  if (torch_dtype != "float32" && torch_dtype != "float16" && torch_dtype != "bfloat16") {
    fail(where, "torch_dtype '" + torch_dtype + "' is not one of float32, float16, bfloat16");
  }
}

}  // namespace ptq::model
