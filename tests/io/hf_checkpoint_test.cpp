// Hugging Face config.json parsing (on the published configs of real models) and checkpoint
// directories: single file, sharded with an index, and the ways either can be broken.
#include <catch2/catch.hpp>

#include <filesystem>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/byte_builder.hpp"
#include "io/hf_checkpoint.hpp"
#include "io/safetensors.hpp"
#include "model/hf_config.hpp"
#include "support/shared_data.hpp"

using ptq::model::ModelConfig;
using ptq::model::parse_hf_config_text;

namespace {

// Published config.json files (abridged to the keys that matter, values as released).
const char* kLlama2_7b = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008,
  "max_position_embeddings": 4096, "model_type": "llama", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": null, "tie_word_embeddings": false, "torch_dtype": "float16",
  "transformers_version": "4.31.0.dev0", "use_cache": true, "vocab_size": 32000})";
const char* kQwen2_05b = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864, "max_position_embeddings": 131072, "max_window_layers": 24,
  "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 131072,
  "tie_word_embeddings": true, "torch_dtype": "bfloat16", "use_cache": true,
  "use_sliding_window": false, "vocab_size": 151936})";
const char* kMistral_7b = R"({
  "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
  "sliding_window": 4096, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "use_cache": true, "vocab_size": 32000})";

bool same(const ModelConfig& a, const ModelConfig& b) {
  return a.architecture == b.architecture && a.hidden_size == b.hidden_size &&
         a.intermediate_size == b.intermediate_size && a.num_layers == b.num_layers &&
         a.num_heads == b.num_heads && a.num_kv_heads == b.num_kv_heads && a.head_dim == b.head_dim &&
         a.vocab_size == b.vocab_size && a.max_position_embeddings == b.max_position_embeddings &&
         a.rope_theta == b.rope_theta && a.rms_norm_eps == b.rms_norm_eps &&
         a.tie_word_embeddings == b.tie_word_embeddings && a.attention_bias == b.attention_bias &&
         a.bos_token_id == b.bos_token_id && a.eos_token_id == b.eos_token_id &&
         a.torch_dtype == b.torch_dtype;
}

// A tiny valid config: hidden 8 (2 heads of 4, 1 KV head), ffn 12, 2 layers, vocab 10.
std::string tiny_config(bool tie) {
  return std::string(R"({"architectures":["LlamaForCausalLM"],"hidden_size":8,"intermediate_size":12,)"
                     R"("num_hidden_layers":2,"num_attention_heads":2,"num_key_value_heads":1,)"
                     R"("vocab_size":10,"rms_norm_eps":1e-5,"torch_dtype":"bfloat16","tie_word_embeddings":)") +
         (tie ? "true" : "false") + "}";
}

std::map<std::string, torch::Tensor> tiny_weights(bool with_lm_head) {
  torch::manual_seed(7);
  std::map<std::string, torch::Tensor> w;
  w["model.embed_tokens.weight"] = torch::randn({10, 8}).to(torch::kBFloat16);
  w["model.norm.weight"] = torch::randn({8}).to(torch::kBFloat16);
  if (with_lm_head) w["lm_head.weight"] = torch::randn({10, 8}).to(torch::kBFloat16);
  for (int l = 0; l < 2; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    w[p + "self_attn.q_proj.weight"] = torch::randn({8, 8}).to(torch::kBFloat16);
    w[p + "self_attn.k_proj.weight"] = torch::randn({4, 8}).to(torch::kFloat16);
    w[p + "self_attn.v_proj.weight"] = torch::randn({4, 8}).to(torch::kFloat16);
    w[p + "self_attn.o_proj.weight"] = torch::randn({8, 8});
    w[p + "mlp.gate_proj.weight"] = torch::randn({12, 8}).to(torch::kBFloat16);
    w[p + "mlp.up_proj.weight"] = torch::randn({12, 8}).to(torch::kBFloat16);
    w[p + "mlp.down_proj.weight"] = torch::randn({8, 12}).to(torch::kBFloat16);
    w[p + "input_layernorm.weight"] = torch::randn({8}).to(torch::kBFloat16);
    w[p + "post_attention_layernorm.weight"] = torch::randn({8}).to(torch::kBFloat16);
  }
  return w;
}

}  // namespace

TEST_CASE("hf config: published configs of Llama-2-7B, Qwen2-0.5B and Mistral-7B", "[hf]") {
  ModelConfig l = parse_hf_config_text(kLlama2_7b, "llama2/config.json");
  CHECK(l.architecture == "LlamaForCausalLM");
  CHECK(l.hidden_size == 4096);
  CHECK(l.intermediate_size == 11008);
  CHECK(l.num_layers == 32);
  CHECK(l.num_heads == 32);
  CHECK(l.num_kv_heads == 32);
  CHECK(l.head_dim == 128);
  CHECK(l.vocab_size == 32000);
  CHECK(l.max_position_embeddings == 4096);
  CHECK(l.rope_theta == 10000.0);
  CHECK(l.rms_norm_eps == 1e-5);
  CHECK_FALSE(l.tie_word_embeddings);
  CHECK_FALSE(l.attention_bias);
  CHECK(l.bos_token_id == 1);
  CHECK(l.eos_token_id == 2);
  CHECK(l.torch_dtype == "float16");

  ModelConfig q = parse_hf_config_text(kQwen2_05b, "qwen2/config.json");
  CHECK(q.architecture == "Qwen2ForCausalLM");
  CHECK(q.hidden_size == 896);
  CHECK(q.num_heads == 14);
  CHECK(q.num_kv_heads == 2);
  CHECK(q.head_dim == 64);
  CHECK(q.vocab_size == 151936);
  CHECK(q.rope_theta == 1e6);
  CHECK(q.rms_norm_eps == 1e-6);
  CHECK(q.tie_word_embeddings);
  CHECK(q.attention_bias);  // implied by Qwen2
  CHECK(q.bos_token_id == 151643);
  CHECK(q.torch_dtype == "bfloat16");

  ModelConfig m = parse_hf_config_text(kMistral_7b, "mistral/config.json");
  CHECK(m.architecture == "MistralForCausalLM");
  CHECK(m.intermediate_size == 14336);
  CHECK(m.num_kv_heads == 8);
  CHECK(m.head_dim == 128);
  CHECK(m.max_position_embeddings == 32768);
}

TEST_CASE("hf config: defaults, token id lists and null, explicit head_dim", "[hf]") {
  ModelConfig c = parse_hf_config_text(
      R"({"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":128,
          "num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100,
          "bos_token_id":null,"eos_token_id":[7,8,9],"head_dim":32,"dtype":"float32"})",
      "t");
  CHECK(c.num_kv_heads == 4);  // defaults to the head count
  CHECK(c.head_dim == 32);     // explicit, not hidden/heads
  CHECK(c.bos_token_id == -1);
  CHECK(c.eos_token_id == 7);
  CHECK(c.rms_norm_eps == 1e-6);
  CHECK(c.rope_theta == 10000.0);
  CHECK(c.max_position_embeddings == 2048);
  CHECK(c.torch_dtype == "float32");
  // model_type alone is enough for old configs
  CHECK(parse_hf_config_text(R"({"model_type":"mistral","hidden_size":8,"intermediate_size":8,
      "num_hidden_layers":1,"num_attention_heads":2,"vocab_size":4,"bos_token_id":0,"eos_token_id":1})",
                             "t")
            .architecture == "MistralForCausalLM");
}

TEST_CASE("hf config: write then parse gives the same config, deterministically", "[hf]") {
  for (const char* text : {kLlama2_7b, kQwen2_05b, kMistral_7b}) {
    ModelConfig a = parse_hf_config_text(text, "in");
    const std::string out = ptq::model::write_hf_config(a);
    CHECK(out == ptq::model::write_hf_config(a));
    ModelConfig b = parse_hf_config_text(out, "out");
    CHECK(same(a, b));
  }
  ModelConfig c = parse_hf_config_text(kLlama2_7b, "in");
  c.bos_token_id = -1;
  CHECK(ptq::model::write_hf_config(c).find("\"bos_token_id\": null") != std::string::npos);
  CHECK(same(parse_hf_config_text(ptq::model::write_hf_config(c), "out"), c));
}

TEST_CASE("hf config: bad configs name the file and key", "[hf][bad]") {
  const std::string w = "dir/config.json";
  auto with = [](const std::string& extra) {
    return std::string(R"({"architectures":["LlamaForCausalLM"],"hidden_size":64,"intermediate_size":128,)"
                       R"("num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100)") +
           extra + "}";
  };
  CHECK_NOTHROW(parse_hf_config_text(with(""), w));
  REQUIRE_PTQ_ERROR(parse_hf_config_text("{", w), "dir/config.json: not valid JSON");
  REQUIRE_PTQ_ERROR(parse_hf_config_text("[]", w), "dir/config.json: expected a JSON object");
  // Issue 17: a hostile config nesting a million arrays overflowed the stack in the walkers after
  // parsing; now it stops at the parser.
  REQUIRE_PTQ_ERROR(parse_hf_config_text(with(R"(,"x":)" + std::string(1000000, '[') + std::string(1000000, ']')), w),
                    "dir/config.json: JSON nests deeper than 64 levels");
  REQUIRE_PTQ_ERROR(parse_hf_config_text(R"({"architectures":["GPT2LMHeadModel"]})", w),
                    "dir/config.json: key 'architectures': unsupported architecture 'GPT2LMHeadModel'");
  REQUIRE_PTQ_ERROR(parse_hf_config_text(R"({"hidden_size":4})", w), "missing key 'architectures'");
  REQUIRE_PTQ_ERROR(parse_hf_config_text(R"({"architectures":["LlamaForCausalLM"],"hidden_size":64})", w),
                    "dir/config.json: missing key 'intermediate_size'");
  REQUIRE_PTQ_ERROR(parse_hf_config_text(with(R"(,"num_key_value_heads":"4")"), w),
                    "key 'num_key_value_heads' must be an integer, got string");
  REQUIRE_PTQ_ERROR(parse_hf_config_text(with(R"(,"head_dim":16.5)"), w),
                    "key 'head_dim' must be an integer, got number 16.5");
  REQUIRE_PTQ_ERROR(parse_hf_config_text(with(R"(,"rope_theta":"big")"), w), "key 'rope_theta' must be a number");
  REQUIRE_PTQ_ERROR(parse_hf_config_text(with(R"(,"tie_word_embeddings":1)"), w),
                    "key 'tie_word_embeddings' must be true or false");
  REQUIRE_PTQ_ERROR(parse_hf_config_text(with(R"(,"num_key_value_heads":3)"), w),
                    "dir/config.json: num_kv_heads (3) must divide num_heads (4)");
  REQUIRE_PTQ_ERROR(parse_hf_config_text(with(R"(,"vocab_size":0)"), w), "vocab_size must be positive, got 0");
  REQUIRE_PTQ_ERROR(parse_hf_config_text(with(R"(,"num_attention_heads":5)"), w),
                    "'num_attention_heads' (5) must divide 'hidden_size' (64)");
  REQUIRE_PTQ_ERROR(parse_hf_config_text(with(R"(,"hidden_act":"gelu")"), w), "key 'hidden_act'");
  REQUIRE_PTQ_ERROR(parse_hf_config_text(with(R"(,"rope_scaling":{"rope_type":"llama3","factor":8.0})"), w),
                    "key 'rope_scaling'", "not supported");
  REQUIRE_PTQ_ERROR(parse_hf_config_text(with(R"(,"eos_token_id":100)"), w),
                    "eos_token_id 100 is outside the vocabulary of 100");
  REQUIRE_PTQ_ERROR(parse_hf_config_text(with(R"(,"hidden_size":99999999999)"), w),
                    "key 'hidden_size' value 99999999999 is out of range");
  REQUIRE_PTQ_ERROR(ptq::model::parse_hf_config("/nonexistent/config.json"), "/nonexistent/config.json");
}

TEST_CASE("hf checkpoint: single file, fp32 loads, tied embeddings", "[hf]") {
  const std::string dir = ptq::test::scratch_dir("hf_single");
  ptq::io::write_file_atomically(dir + "/config.json", tiny_config(true));
  auto w = tiny_weights(false);
  ptq::io::SafetensorsWriter sw;
  for (const auto& [n, t] : w) sw.add(n, t);
  sw.write(dir + "/model.safetensors");

  auto src = ptq::io::open_hf_checkpoint(dir);
  CHECK(src->format() == "safetensors");
  CHECK(src->path() == dir);
  CHECK(src->config().hidden_size == 8);
  CHECK(src->config().tie_word_embeddings);
  CHECK_FALSE(src->has("lm_head.weight"));
  const auto infos = src->tensors();
  CHECK(infos.size() == w.size());
  for (const auto& ti : infos) {
    INFO(ti.name);
    REQUIRE(w.count(ti.name));
    const torch::Tensor& ref = w.at(ti.name);
    CHECK(ti.shape == ref.sizes().vec());
    CHECK(ti.nbytes == static_cast<uint64_t>(ref.numel() * ref.element_size()));
    torch::Tensor got = src->load(ti.name);
    CHECK(got.scalar_type() == torch::kFloat32);
    CHECK(torch::equal(got, ref.to(torch::kFloat32)));
  }
  CHECK(infos[0].name < infos[1].name);
  REQUIRE_PTQ_ERROR(src->load("lm_head.weight"), dir.c_str(), "tensor 'lm_head.weight' is not in the checkpoint");
}

TEST_CASE("hf checkpoint: sharded with an index, and broken indexes", "[hf][bad]") {
  const std::string dir = ptq::test::scratch_dir("hf_shards");
  ptq::io::write_file_atomically(dir + "/config.json", tiny_config(false));
  auto w = tiny_weights(true);
  ptq::io::SafetensorsWriter s1, s2;
  nlohmann::json map = nlohmann::json::object();
  for (const auto& [n, t] : w) {
    const bool first = n.find("layers.1.") == std::string::npos;
    (first ? s1 : s2).add(n, t);
    map[n] = first ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
  }
  s1.write(dir + "/model-00001-of-00002.safetensors");
  s2.write(dir + "/model-00002-of-00002.safetensors");
  auto write_index = [&](const nlohmann::json& m) {
    ptq::io::write_file_atomically(dir + "/model.safetensors.index.json",
                                   nlohmann::json{{"metadata", {{"total_size", 1}}}, {"weight_map", m}}.dump());
  };
  write_index(map);
  {
    ptq::io::HfCheckpoint ck(dir);
    CHECK(ck.num_shards() == 2);
    CHECK(ck.has("lm_head.weight"));
    CHECK(ck.tensors().size() == w.size());
    for (const auto& [n, t] : w) CHECK(torch::equal(ck.load(n), t.to(torch::kFloat32)));
    CHECK(ck.shard_of("model.layers.1.mlp.up_proj.weight").path() == dir + "/model-00002-of-00002.safetensors");
    CHECK(ck.view("model.layers.0.self_attn.k_proj.weight").scalar_type() == torch::kFloat16);
  }
  const std::string ip = dir + "/model.safetensors.index.json";
  {
    auto m = map;
    m["model.layers.1.mlp.up_proj.weight"] = "model-00001-of-00002.safetensors";  // wrong shard
    write_index(m);
    REQUIRE_PTQ_ERROR(ptq::io::HfCheckpoint(dir), ip.c_str(), "tensor 'model.layers.1.mlp.up_proj.weight'",
                      "model-00001-of-00002.safetensors does not contain it");
  }
  {
    auto m = map;
    m["extra.weight"] = "model-00003-of-00002.safetensors";
    write_index(m);
    REQUIRE_PTQ_ERROR(ptq::io::HfCheckpoint(dir), ip.c_str(), "shard 'model-00003-of-00002.safetensors'",
                      "does not exist");
  }
  {
    auto m = map;
    m["x"] = "../model-00001-of-00002.safetensors";
    write_index(m);
    REQUIRE_PTQ_ERROR(ptq::io::HfCheckpoint(dir), ip.c_str(), "not a plain file name");
  }
  {
    write_index(nlohmann::json::array());
    REQUIRE_PTQ_ERROR(ptq::io::HfCheckpoint(dir), ip.c_str(), "missing key 'weight_map'");
  }
  {
    ptq::io::write_file_atomically(ip, "{\"weight_map\": ");
    REQUIRE_PTQ_ERROR(ptq::io::HfCheckpoint(dir), ip.c_str(), "not valid JSON");
  }
  {
    // A corrupt shard is reported by the safetensors reader, naming the shard.
    write_index(map);
    const std::string shard = dir + "/model-00002-of-00002.safetensors";
    const std::string bytes = ptq::io::read_text_file(shard);
    ptq::test::write_bytes(shard, bytes.substr(0, bytes.size() - 3));
    REQUIRE_PTQ_ERROR(ptq::io::HfCheckpoint(dir), shard.c_str(), "truncated");
  }
  {
    std::filesystem::remove(ip);
    REQUIRE_PTQ_ERROR(ptq::io::HfCheckpoint(dir), dir.c_str(),
                      "neither model.safetensors nor model.safetensors.index.json");
    std::filesystem::remove(dir + "/config.json");
    REQUIRE_PTQ_ERROR(ptq::io::HfCheckpoint(dir), dir.c_str(), "no config.json");
  }
}
