// GGUF reader on real files written by llama.cpp (../shared/data), checked against independent
// sources: GPT-2's Hugging Face vocab.json and merges.txt, stories260K's published dimensions, and
// llama.cpp's own F32 file as the reference for its quantized files.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/gguf.hpp"
#include "support/shared_data.hpp"

using ptq::io::GgufReader;
using ptq::io::GgufValueType;

namespace {

// The two vocabulary fixtures in ../shared/data/tokenizers were, as shipped, passed through a
// UTF-8 text decoder: every byte that is not valid UTF-8 became EF BF BD, so their numbers (string
// lengths, counts, floats) are destroyed. The reader must refuse them with that diagnosis; if
// intact copies replace them, the same test checks their content instead.
bool open_or_diagnose(const std::string& path, std::unique_ptr<GgufReader>* out) {
  try {
    *out = std::make_unique<GgufReader>(path);
    return true;
  } catch (const ptq::Error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find("U+FFFD replacement sequences") != std::string::npos);
    WARN("shared file " << path << " is damaged (UTF-8 mangled); its content checks were skipped");
    return false;
  }
}

}  // namespace

TEST_CASE("gguf: llama SentencePiece vocabulary file", "[gguf][shared]") {
  SHARED_FILE(path, "tokenizers/ggml-vocab-llama-spm.gguf");
  std::unique_ptr<GgufReader> rp;
  if (!open_or_diagnose(path, &rp)) return;
  const GgufReader& r = *rp;
  CHECK(r.version() == 3);
  CHECK(r.tensors().empty());
  CHECK(r.get_string("general.architecture") == "llama");
  CHECK(r.get_string("tokenizer.ggml.model") == "llama");
  const auto tokens = r.get_string_array("tokenizer.ggml.tokens");
  REQUIRE(tokens.size() == 32000);
  CHECK(tokens[0] == "<unk>");
  CHECK(tokens[1] == "<s>");
  CHECK(tokens[2] == "</s>");
  CHECK(tokens[3 + 0x0A] == "<0x0A>");  // byte tokens follow the three specials
  CHECK(tokens[29871] == "\xE2\x96\x81");  // "▁", the lone word-boundary piece
  CHECK(tokens[450] == "\xE2\x96\x81The");
  CHECK(r.get_float_array("tokenizer.ggml.scores").size() == 32000);
  const auto types = r.get_int_array("tokenizer.ggml.token_type");
  REQUIRE(types.size() == 32000);
  CHECK(types[0] == 2);  // unknown
  CHECK(types[1] == 3);  // control
  CHECK(types[3] == 6);  // byte
  CHECK(types[450] == 1);  // normal
}

TEST_CASE("gguf: GPT-2 vocabulary file agrees with Hugging Face's vocab.json and merges.txt",
          "[gguf][shared]") {
  SHARED_FILE(path, "tokenizers/ggml-vocab-gpt-2.gguf");
  SHARED_FILE(vocab_path, "tokenizers/gpt2_vocab.json");
  SHARED_FILE(merges_path, "tokenizers/gpt2_merges.txt");
  std::unique_ptr<GgufReader> rp;
  if (!open_or_diagnose(path, &rp)) return;
  const GgufReader& r = *rp;
  CHECK(r.get_string("tokenizer.ggml.model") == "gpt2");
  const auto tokens = r.get_string_array("tokenizer.ggml.tokens");
  REQUIRE(tokens.size() == 50257);
  CHECK(tokens[464] == "The");
  CHECK(tokens[262] == "\xC4\xA0the");  // "Ġthe"
  CHECK(tokens[50256] == "<|endoftext|>");

  const auto vocab = nlohmann::json::parse(ptq::io::read_text_file(vocab_path));
  REQUIRE(vocab.size() == 50257);
  size_t mismatches = 0;
  for (const auto& [piece, id] : vocab.items()) {
    if (tokens.at(id.get<size_t>()) != piece) ++mismatches;
  }
  CHECK(mismatches == 0);

  const auto merges = r.get_string_array("tokenizer.ggml.merges");
  REQUIRE(merges.size() == 50000);
  std::ifstream in(merges_path);
  std::string line;
  std::vector<std::string> hf_merges;
  while (std::getline(in, line)) {
    if (line.rfind("#version", 0) == 0 || line.empty()) continue;
    hf_merges.push_back(line);
  }
  REQUIRE(hf_merges.size() == 50000);
  CHECK(merges == hf_merges);
}

TEST_CASE("gguf: stories260K F32 file has the model's published dimensions", "[gguf][shared]") {
  SHARED_FILE(path, "peers/stories260K-F32.gguf");
  GgufReader r(path);
  CHECK(r.version() == 3);
  CHECK(r.get_string("general.architecture") == "llama");
  CHECK(r.get_int("llama.embedding_length") == 64);
  CHECK(r.get_int("llama.feed_forward_length") == 172);
  CHECK(r.get_int("llama.block_count") == 5);
  CHECK(r.get_int("llama.attention.head_count") == 8);
  CHECK(r.get_int("llama.attention.head_count_kv") == 4);
  CHECK(r.get_int("llama.context_length") == 512);
  CHECK(r.get_float("llama.attention.layer_norm_rms_epsilon") == Approx(1e-5));
  CHECK(r.get_string_array("tokenizer.ggml.tokens").size() == 512);
  // uint32 0xFFFFFFFF ("none") reads as an integer without wrapping negative.
  CHECK(r.get_int("tokenizer.ggml.padding_token_id") == 4294967295LL);

  REQUIRE(r.tensors().size() == 3 + 5 * 9);
  CHECK(r.tensor("token_embd.weight").shape() == std::vector<int64_t>{512, 64});
  CHECK(r.tensor("output.weight").shape() == std::vector<int64_t>{512, 64});
  CHECK(r.tensor("output_norm.weight").shape() == std::vector<int64_t>{64});
  for (int l = 0; l < 5; ++l) {
    const std::string b = "blk." + std::to_string(l) + ".";
    CHECK(r.tensor(b + "attn_q.weight").shape() == std::vector<int64_t>{64, 64});
    CHECK(r.tensor(b + "attn_k.weight").shape() == std::vector<int64_t>{32, 64});
    CHECK(r.tensor(b + "attn_v.weight").shape() == std::vector<int64_t>{32, 64});
    CHECK(r.tensor(b + "attn_output.weight").shape() == std::vector<int64_t>{64, 64});
    CHECK(r.tensor(b + "ffn_gate.weight").shape() == std::vector<int64_t>{172, 64});
    CHECK(r.tensor(b + "ffn_up.weight").shape() == std::vector<int64_t>{172, 64});
    CHECK(r.tensor(b + "ffn_down.weight").shape() == std::vector<int64_t>{64, 172});
    CHECK(r.tensor(b + "attn_norm.weight").shape() == std::vector<int64_t>{64});
    CHECK(r.tensor(b + "ffn_norm.weight").shape() == std::vector<int64_t>{64});
  }
  for (const auto& t : r.tensors()) {
    CHECK(t.type_name == "F32");
    CHECK(t.offset % 32 == 0);
    CHECK(t.nbytes == static_cast<uint64_t>(t.numel()) * 4);
  }
  // The last tensor ends exactly at the end of the file.
  const auto& last = r.tensor("blk.4.ffn_norm.weight");
  CHECK(last.offset + last.nbytes == std::filesystem::file_size(path));
}

namespace {

// Worst error of `q` against the reference `f`, per 32-weight block, relative to the block's
// largest magnitude; and the RMS error relative to the RMS weight.
struct QuantError {
  double worst_block_ratio = 0, rel_rmse = 0;
};
QuantError quant_error(const torch::Tensor& q, const torch::Tensor& f) {
  const torch::Tensor fb = f.reshape({-1, 32}), qb = q.reshape({-1, 32});
  const torch::Tensor amax = fb.abs().amax(1).clamp_min(1e-12);
  const torch::Tensor err = (qb - fb).abs().amax(1);
  QuantError e;
  e.worst_block_ratio = (err / amax).max().item<double>();
  e.rel_rmse = ((q - f).pow(2).mean().sqrt() / f.pow(2).mean().sqrt()).item<double>();
  return e;
}

}  // namespace

TEST_CASE("gguf: llama.cpp's quantized stories260K files dequantize close to its F32 file",
          "[gguf][shared]") {
  SHARED_FILE(f32_path, "peers/stories260K-F32.gguf");
  SHARED_FILE(q8_path, "peers/stories260K-Q8_0.gguf");
  SHARED_FILE(q4_path, "peers/stories260K-Q4_0.gguf");
  SHARED_FILE(q4i_path, "peers/stories260K-Q4_0-imatrix.gguf");
  SHARED_FILE(qk_path, "peers/stories260K-Q4_K_M.gguf");
  GgufReader ref(f32_path);

  // Round-to-nearest bounds per block of 32: Q8_0 steps amax/127 (error <= half a step, fp16
  // scale rounding aside); Q4_0 steps amax/8 and may clamp the largest weight by one step.
  struct Case {
    std::string path;
    std::string expected_type;  // of the attention/ffn_gate/ffn_up weights
    double max_block_ratio;
    double max_rel_rmse;
  };
  const std::vector<Case> cases = {
      // q*fp16(d) - x <= d/2 + 127 * |fp16(d) - d| <= d * (0.5 + 127 * 2^-11)
      {q8_path, "Q8_0", (0.5 + 127.0 / 2048) / 127 * 1.001, 0.01},
      {q4_path, "Q4_0", 1.0 / 8 * 1.01, 0.12},
      {q4i_path, "Q4_0", 0.25, 0.15},
  };
  for (const Case& c : cases) {
    GgufReader q(c.path);
    INFO(c.path);
    REQUIRE(q.tensors().size() == ref.tensors().size());
    CHECK(q.tensor("blk.0.attn_q.weight").type_name == c.expected_type);
    CHECK(q.tensor("blk.0.ffn_up.weight").type_name == c.expected_type);
    CHECK(q.tensor("blk.0.ffn_down.weight").type_name == "F16");  // rows of 172: no 32-blocks
    CHECK(q.tensor("blk.0.attn_norm.weight").type_name == "F32");
    for (const auto& t : q.tensors()) {
      INFO(t.name << " " << t.type_name);
      torch::Tensor qt = q.load_f32(t.name), ft = ref.load_f32(t.name);
      REQUIRE(qt.sizes() == ft.sizes());
      if (t.type_name == "F32") {
        CHECK(torch::equal(qt, ft));
      } else if (t.type_name == "F16") {
        CHECK(torch::equal(qt, ft.to(torch::kFloat16).to(torch::kFloat32)));
      } else {
        QuantError e = quant_error(qt, ft);
        CHECK(e.worst_block_ratio <= c.max_block_ratio);
        CHECK(e.rel_rmse <= c.max_rel_rmse);
        CHECK(e.rel_rmse > 0);
      }
    }
  }

  // Q4_K_M on this model falls back to 32-block types for every tensor.
  GgufReader qk(qk_path);
  std::map<std::string, int> types;
  for (const auto& t : qk.tensors()) {
    ++types[t.type_name];
    INFO(t.name << " " << t.type_name);
    torch::Tensor qt = qk.load_f32(t.name), ft = ref.load_f32(t.name);
    REQUIRE(qt.sizes() == ft.sizes());
    if (t.type_name == "F32") {
      CHECK(torch::equal(qt, ft));
    } else if (t.type_name != "F16") {
      QuantError e = quant_error(qt, ft);
      CHECK(e.rel_rmse <= 0.12);
    }
  }
  std::string summary;
  for (const auto& [k, n] : types) summary += k + ":" + std::to_string(n) + " ";
  INFO("Q4_K_M types: " << summary);
  CHECK(types.count("Q5_0") + types.count("Q8_0") + types.count("Q5_1") + types.count("Q4_1") > 0);
}

TEST_CASE("gguf: opening and dequantizing a model is fast", "[gguf][shared][timing]") {
  SHARED_FILE(path, "peers/stories260K-Q4_0.gguf");
  const auto t0 = std::chrono::steady_clock::now();
  GgufReader r(path);
  const auto tokens = r.get_string_array("tokenizer.ggml.tokens");
  int64_t n = 0;
  for (const auto& t : r.tensors()) n += r.load_f32(t.name).numel();
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  WARN("open + 512 tokens + dequantize " << n << " weights: " << ms << " ms");
  CHECK(tokens.size() == 512);
  CHECK(n == 64 * 512 * 2 + 64 + 5 * (64 * 64 * 2 + 32 * 64 * 2 + 172 * 64 * 3 + 64 * 2));
  CHECK(ms < 1000);
}

TEST_CASE("gguf: dump (debug)", "[gguf][.dump]") {
  const char* p = std::getenv("PTQ_GGUF");
  if (!p) return;
  GgufReader r(p);
  for (const auto& k : r.keys()) std::printf("%s = %s\n", k.c_str(), r.describe(k).c_str());
  for (const auto& t : r.tensors()) {
    std::printf("%s %s [", t.name.c_str(), t.type_name.c_str());
    for (auto d : t.dims) std::printf("%lld ", (long long)d);
    std::printf("] off=%llu n=%llu\n", (unsigned long long)t.offset, (unsigned long long)t.nbytes);
  }
}
