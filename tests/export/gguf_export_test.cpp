// ptq's GGUF export of stories260K read back by ptq's own GGUF reader and compared with the
// source, with ptq's reference block quantizers, and with llama.cpp's own conversions of the same
// model (../shared/data/peers: stories260K-F32.gguf and stories260K-Q8_0.gguf).
#include <catch2/catch.hpp>

#include <filesystem>

#include "core/error.hpp"
#include "export/export_test_util.hpp"
#include "export/gguf_export.hpp"
#include "ggml/ggml_blocks.hpp"
#include "ggml/ggml_rows.hpp"
#include "io/atomic_file.hpp"
#include "io/byte_builder.hpp"
#include "io/gguf.hpp"
#include "io/gguf_model.hpp"
#include "io/llama2c.hpp"
#include "io/rotary_layout.hpp"
#include "model/decoder.hpp"
#include "model/hf_export.hpp"
#include "model/weight_source.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/spm_gguf_vocab.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace ptq;
namespace fs = std::filesystem;

namespace {

// A source whose config claims another architecture (for the refusal test).
class Relabelled : public model::WeightSource {
 public:
  Relabelled(std::unique_ptr<model::WeightSource> inner, const std::string& arch, bool bias)
      : inner_(std::move(inner)), cfg_(inner_->config()) {
    cfg_.architecture = arch;
    cfg_.attention_bias = bias;
  }
  const model::ModelConfig& config() const override { return cfg_; }
  std::vector<model::TensorInfo> tensors() const override { return inner_->tensors(); }
  bool has(const std::string& n) const override { return inner_->has(n); }
  torch::Tensor load(const std::string& n) const override { return inner_->load(n); }
  std::string format() const override { return inner_->format(); }
  std::string path() const override { return inner_->path(); }

 private:
  std::unique_ptr<model::WeightSource> inner_;
  model::ModelConfig cfg_;
};

// The source tensor as the GGUF stores it: rows of q/k back in the interleaved rotary layout.
torch::Tensor as_gguf_layout(const model::WeightSource& src, const std::string& gguf_name) {
  const std::string hf = io::gguf_to_hf_name(gguf_name);
  torch::Tensor t = src.load(hf);
  if (gguf_name.find(".attn_q.") != std::string::npos) t = io::rotate_half_to_interleaved(t, src.config().num_heads);
  if (gguf_name.find(".attn_k.") != std::string::npos) t = io::rotate_half_to_interleaved(t, src.config().num_kv_heads);
  return t.contiguous();
}

std::vector<uint8_t> raw(const io::GgufReader& r, const std::string& name) {
  const uint8_t* p = r.tensor_data(name);
  return std::vector<uint8_t>(p, p + r.tensor(name).nbytes);
}

}  // namespace

TEST_CASE("GGUF f32 export of stories260K: exact weights, llama.cpp's layout, same logits", "[export][gguf]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  SHARED_FILE(peer_path, "peers/stories260K-F32.gguf");
  const std::string out = test::scratch_dir("gguf-export-f32") + "/stories260K-f32.gguf";
  auto src = io::open_llama2c_model(bin);
  const exporter::GgufExportResult res = exporter::export_gguf(*src, out, {});
  CHECK(res.fallbacks.empty());
  CHECK(fs::path(res.tokenizer).filename() == "tok512.bin");
  REQUIRE(res.tensors.size() == 1 + 5 * 9 + 1);  // tied embeddings: no output.weight
  CHECK(res.bytes == fs::file_size(out));
  WARN("stories260K f32 GGUF: " << res.bytes << " bytes");

  io::GgufReader r(out);
  CHECK(r.version() == 3);
  CHECK(r.get_string("general.architecture") == "llama");
  CHECK(r.get_int("general.file_type") == 0);
  CHECK(r.get_int("llama.context_length") == 512);
  CHECK(r.get_int("llama.embedding_length") == 64);
  CHECK(r.get_int("llama.block_count") == 5);
  CHECK(r.get_int("llama.feed_forward_length") == 172);
  CHECK(r.get_int("llama.attention.head_count") == 8);
  CHECK(r.get_int("llama.attention.head_count_kv") == 4);
  CHECK(r.get_int("llama.rope.dimension_count") == 8);
  CHECK(r.get_float("llama.rope.freq_base") == 10000.0);
  CHECK(r.get_float("llama.attention.layer_norm_rms_epsilon") == Approx(1e-5).epsilon(1e-6));
  CHECK(r.tensor("token_embd.weight").dims == std::vector<int64_t>{64, 512});
  CHECK(r.tensor("blk.4.ffn_down.weight").dims == std::vector<int64_t>{172, 64});
  CHECK(r.tensor("blk.0.attn_k.weight").dims == std::vector<int64_t>{64, 32});
  for (const auto& t : r.tensors()) CHECK(t.type_name == "F32");

  // Every tensor read back through the GGUF model equals the source exactly.
  auto back = io::open_gguf_model(out);
  CHECK(back->tensors().size() == src->tensors().size());
  for (const auto& t : src->tensors()) {
    INFO(t.name);
    CHECK(torch::equal(back->load(t.name), src->load(t.name)));
  }

  // The vocabulary and the raw tensors equal llama.cpp's own F32 conversion of the same model
  // (which proves the interleaved q/k layout and the names, not just a self-consistent round trip).
  io::GgufReader peer(peer_path);
  CHECK(r.get_string_array("tokenizer.ggml.tokens") == peer.get_string_array("tokenizer.ggml.tokens"));
  CHECK(r.get_float_array("tokenizer.ggml.scores") == peer.get_float_array("tokenizer.ggml.scores"));
  CHECK(r.get_int_array("tokenizer.ggml.token_type") == peer.get_int_array("tokenizer.ggml.token_type"));
  for (const char* k : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
                        "llama.context_length", "llama.rope.dimension_count"}) {
    INFO(k);
    CHECK(r.get_int(k) == peer.get_int(k));
  }
  int compared = 0;
  for (const auto& t : r.tensors()) {
    INFO(t.name);
    REQUIRE(peer.has_tensor(t.name));
    if (peer.tensor(t.name).type_name != "F32") continue;
    CHECK(peer.tensor(t.name).dims == t.dims);
    CHECK(raw(r, t.name) == raw(peer, t.name));
    ++compared;
  }
  CHECK(compared == static_cast<int>(r.tensors().size()));

  // Logits of the exported model through ptq's Model equal the llama2.c model's.
  model::Model a(io::open_llama2c_model(bin));
  model::Model b(io::open_gguf_model(out));
  torch::manual_seed(3);
  const auto tokens = torch::randint(0, 512, {2, 48}, torch::kInt64);
  const float diff = (a.forward(tokens) - b.forward(tokens)).abs().max().item<float>();
  CHECK(diff <= 1e-4f);

  // Its vocabulary encodes as llama2.c's tokenizer.bin does.
  auto t_bin = tok::open_tokenizer(res.tokenizer);
  auto t_gguf = tok::open_tokenizer(out);
  const std::string text = "Once upon a time, there was a little girl named Lily.\nShe said \"hi\"!";
  CHECK(t_gguf->encode(text, true) == t_bin->encode(text, true));
  CHECK(t_gguf->bos() == 1);
  CHECK(t_gguf->eos() == 2);
}

TEST_CASE("GGUF q8_0/q4_0 export: our reference blocks, Q8_0 error bound, llama.cpp's Q8_0 blocks", "[export][gguf]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  SHARED_FILE(peer_path, "peers/stories260K-Q8_0.gguf");
  const std::string dir = test::scratch_dir("gguf-export-q");
  auto src = io::open_llama2c_model(bin);

  for (const std::string type : {"q8_0", "q4_0"}) {
    DYNAMIC_SECTION(type) {
      const std::string out = dir + "/stories260K-" + type + ".gguf";
      const auto res = test::export_gguf_as(*src, out, type);  // ffn_down (172 wide) falls back to F16
      CHECK(res.fallbacks == std::vector<std::string>{"blk.0.ffn_down.weight", "blk.1.ffn_down.weight",
                                                      "blk.2.ffn_down.weight", "blk.3.ffn_down.weight",
                                                      "blk.4.ffn_down.weight"});
      WARN("stories260K " << type << " GGUF (ffn_down in F16): " << res.bytes << " bytes");
      const uint32_t qt = static_cast<uint32_t>(exporter::gguf_export_type(type));
      io::GgufReader r(out);
      CHECK(r.get_int("general.file_type") == (type == "q8_0" ? 7 : 2));
      CHECK(r.get_int("general.quantization_version") == 2);
      auto back = io::open_gguf_model(out);
      for (const auto& t : r.tensors()) {
        INFO(t.name);
        const torch::Tensor w = as_gguf_layout(*src, t.name);
        if (t.dims.size() == 1) {
          CHECK(t.type_name == "F32");
          CHECK(torch::equal(r.load_f32(t.name), w));
        } else if (t.name.find("ffn_down") != std::string::npos) {
          CHECK(t.type_name == "F16");
          CHECK(torch::equal(r.load_f32(t.name), w.to(torch::kHalf).to(torch::kFloat)));
        } else {
          CHECK(t.type_name == (type == "q8_0" ? "Q8_0" : "Q4_0"));
          // Bytes equal our reference quantizer's; values equal its dequantization.
          CHECK(raw(r, t.name) == ggml::encode_rows(qt, w.data_ptr<float>(), w.size(0), w.size(1)));
          if (type == "q8_0") {
            // Round to nearest with a per-block scale d = amax/127: half a step, plus the fp16
            // rounding of d (relative 2^-11) times the largest code 127.
            const torch::Tensor blocks = w.reshape({-1, 32});
            const torch::Tensor amax = blocks.abs().amax(1, true);
            const torch::Tensor err = (r.load_f32(t.name).reshape({-1, 32}) - blocks).abs();
            CHECK((err <= amax / 127.0f * (0.5f + 127.0f / 2048.0f) + 1e-7f).all().item<bool>());
            CHECK((err <= amax / 127.0f * 0.5f + 1e-7f).to(torch::kFloat).mean().item<float>() > 0.99f);
          }
        }
      }
      // The Hugging Face view undoes the rotary layout: q/k dequantized equal rotate-half of the blocks.
      const torch::Tensor q_hf = back->load("model.layers.2.self_attn.q_proj.weight");
      CHECK(torch::equal(io::rotate_half_to_interleaved(q_hf, 8), r.load_f32("blk.2.attn_q.weight")));
    }
  }

  SECTION("Q8_0 blocks agree with llama.cpp's own Q8_0 of the same weights") {
    const std::string out = dir + "/stories260K-q8_0-peer.gguf";
    test::export_gguf_as(*src, out, "q8_0");
    io::GgufReader r(out), peer(peer_path);
    int64_t blocks = 0, differ = 0, tensors = 0;
    for (const auto& t : peer.tensors()) {
      if (t.type_name != "Q8_0" || !r.has_tensor(t.name)) continue;
      INFO(t.name);
      REQUIRE(r.tensor(t.name).type_name == "Q8_0");
      REQUIRE(r.tensor(t.name).dims == t.dims);
      const std::vector<uint8_t> a = raw(r, t.name), b = raw(peer, t.name);
      for (size_t off = 0; off < a.size(); off += 34) {
        ++blocks;
        differ += !std::equal(a.begin() + off, a.begin() + off + 34, b.begin() + off);
      }
      ++tensors;
    }
    const auto mine = raw(r, "blk.0.ffn_up.weight"), theirs = raw(peer, "blk.0.ffn_up.weight");
    CHECK(mine == theirs);
    WARN("Q8_0 vs llama.cpp: " << differ << " of " << blocks << " blocks differ over " << tensors << " tensors");
    CHECK(tensors == 1 + 5 * 6);  // token_embd and 6 matrices per layer (our output is tied to token_embd)
    CHECK(differ == 0);
    // ffn_down: llama.cpp's converter also falls back to F16; the bytes match ours.
    CHECK(peer.tensor("blk.3.ffn_down.weight").type_name == "F16");
    CHECK(raw(r, "blk.3.ffn_down.weight") == raw(peer, "blk.3.ffn_down.weight"));
  }
}

TEST_CASE("GGUF export refuses bad input with clear messages and leaves no file", "[export][gguf]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  const std::string dir = test::scratch_dir("gguf-export-bad");
  const std::string out = dir + "/x.gguf";
  auto src = io::open_llama2c_model(bin);

  exporter::GgufExportOptions opt;
  opt.type = "q8_0";  // no fallback: ffn_down (172 per row) cannot be Q8_0
  CHECK_THROWS_WITH(exporter::export_gguf(*src, out, opt),
                    Catch::Contains("blk.0.ffn_down.weight") && Catch::Contains("172") &&
                        Catch::Contains("Q8_0") && Catch::Contains("--fallback"));
  opt.type = "q7_k";
  CHECK_THROWS_WITH(exporter::export_gguf(*src, out, opt), Catch::Contains("q7_k") && Catch::Contains("q4_k_m"));
  opt.type = "q4_k_m";
  opt.overrides = {"attn_(q=q5_0"};
  CHECK_THROWS_WITH(exporter::export_gguf(*src, out, opt), Catch::Contains("attn_(q") && Catch::Contains("regular"));
  opt.overrides = {"attn_q=q9_0"};
  CHECK_THROWS_WITH(exporter::export_gguf(*src, out, opt), Catch::Contains("q9_0"));
  opt.overrides = {};
  opt.importance = dir + "/missing.dat";
  CHECK_THROWS_AS(exporter::export_gguf(*src, out, opt), Error);
  opt.importance = "";
  opt.type = "q4_0";
  opt.fallback = "q8_0";
  CHECK_THROWS_WITH(exporter::export_gguf(*src, out, opt), Catch::Contains("fallback"));
  // Issue 17: an importance matrix of another model (rows of another width) was silently ignored.
  {
    const std::string name = "blk.0.attn_q.weight";
    test::Bytes dat;
    dat.i32(1).i32(static_cast<int32_t>(name.size())).raw(name).i32(1).i32(128);
    for (int i = 0; i < 128; ++i) dat.f32(1.0f);
    test::write_bytes(dir + "/other.dat", dat.b);
    opt.type = "q4_0";
    opt.fallback = "f16";
    opt.importance = dir + "/other.dat";
    CHECK_THROWS_WITH(exporter::export_gguf(*src, out, opt),
                      Catch::Contains(dir + "/other.dat") && Catch::Contains("holds 128 importance values for blk.0.attn_q.weight") &&
                          Catch::Contains("rows have 64 weights: statistics of another model?"));
    fs::remove(dir + "/other.dat");
  }
  opt = {};
  opt.tokenizer = dir + "/missing.model";
  CHECK_THROWS_AS(exporter::export_gguf(*src, out, opt), Error);

  Relabelled qwen(io::open_llama2c_model(bin), "Qwen2ForCausalLM", false);
  CHECK_THROWS_WITH(exporter::export_gguf(qwen, out, {}), Catch::Contains("Qwen2ForCausalLM") && Catch::Contains("llama"));
  Relabelled biased(io::open_llama2c_model(bin), "LlamaForCausalLM", true);
  CHECK_THROWS_WITH(exporter::export_gguf(biased, out, {}), Catch::Contains("bias"));
  CHECK(fs::is_empty(dir));
}

TEST_CASE("GGUF export is deterministic and takes the SentencePiece .model vocabulary", "[export][gguf]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  SHARED_FILE(model_tok, "models/tok512.model");
  const std::string dir = test::scratch_dir("gguf-export-det");
  auto src = io::open_llama2c_model(bin);
  test::export_gguf_as(*src, dir + "/a.gguf", "q4_0");
  test::export_gguf_as(*src, dir + "/b.gguf", "q4_0");
  exporter::GgufExportOptions opt = test::export_options("q4_0");
  CHECK(io::read_text_file(dir + "/a.gguf") == io::read_text_file(dir + "/b.gguf"));

  opt.tokenizer = model_tok;
  exporter::export_gguf(*src, dir + "/c.gguf", opt);
  io::GgufReader a(dir + "/a.gguf"), c(dir + "/c.gguf");
  CHECK(c.get_string_array("tokenizer.ggml.tokens") == a.get_string_array("tokenizer.ggml.tokens"));
  CHECK(c.get_float_array("tokenizer.ggml.scores") == a.get_float_array("tokenizer.ggml.scores"));
  CHECK(c.get_int_array("tokenizer.ggml.token_type") == a.get_int_array("tokenizer.ggml.token_type"));
}

TEST_CASE("GGUF f16 export: matrices rounded to half, norms F32", "[export][gguf]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  const std::string out = test::scratch_dir("gguf-export-f16") + "/stories260K-f16.gguf";
  auto src = io::open_llama2c_model(bin);
  const auto res = test::export_gguf_as(*src, out, "f16");
  CHECK(res.fallbacks.empty());  // F16 has no blocks: 172-wide rows are fine
  WARN("stories260K f16 GGUF: " << res.bytes << " bytes");
  io::GgufReader r(out);
  CHECK(r.get_int("general.file_type") == 1);
  CHECK_FALSE(r.has("general.quantization_version"));
  for (const auto& t : r.tensors()) {
    INFO(t.name);
    const torch::Tensor w = as_gguf_layout(*src, t.name);
    CHECK(t.type_name == (t.dims.size() == 1 ? "F32" : "F16"));
    CHECK(torch::equal(r.load_f32(t.name), t.dims.size() == 1 ? w : w.to(torch::kHalf).to(torch::kFloat)));
  }
}

TEST_CASE("GGUF export from a Hugging Face directory and from a GGUF gives the same file", "[export][gguf]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  SHARED_FILE(tok, "models/tok512.bin");
  const std::string dir = test::scratch_dir("gguf-export-sources");
  auto src = io::open_llama2c_model(bin);
  test::export_gguf_as(*src, dir + "/from-bin.gguf", "q8_0");
  model::write_hf_directory(*src, tok, dir + "/hf");
  exporter::GgufExportOptions opt = test::export_options("q8_0");
  opt.name = "stories260K";  // general.name defaults to the source's file name
  exporter::export_gguf(*model::open_weights(dir + "/hf"), dir + "/from-hf.gguf", opt);
  CHECK(io::read_text_file(dir + "/from-hf.gguf") == io::read_text_file(dir + "/from-bin.gguf"));

  // Re-exporting our own f32 GGUF (vocabulary read from the GGUF itself) reproduces it byte for byte.
  test::export_gguf_as(*src, dir + "/f32.gguf", "f32");
  opt = {};
  opt.name = "stories260K";
  exporter::export_gguf(*model::open_weights(dir + "/f32.gguf"), dir + "/f32-again.gguf", opt);
  CHECK(io::read_text_file(dir + "/f32-again.gguf") == io::read_text_file(dir + "/f32.gguf"));
}
