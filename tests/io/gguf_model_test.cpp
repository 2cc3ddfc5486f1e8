// llama.cpp's stories260K GGUF files as a WeightSource, checked against the original llama2.c
// checkpoint's raw fp32 bytes (the GGUF was converted from it) and, for q/k, against the rotary
// embedding itself: attention scores must not depend on the row layout.
#include <catch2/catch.hpp>

#include <fstream>

#include "core/error.hpp"
#include "io/byte_builder.hpp"
#include "io/gguf_model.hpp"
#include "support/shared_data.hpp"
#if __has_include("io/llama2c.hpp")
#include "io/llama2c.hpp"
#define PTQ_TEST_HAVE_LLAMA2C 1
#endif

using ptq::io::GgufModel;

namespace {

// stories260K.bin: 7 int32 header, then fp32 arrays in llama2.c's order.
struct Llama2cRaw {
  int dim, hidden, layers, heads, kv_heads, vocab, seq_len;
  std::vector<float> data;
  std::map<std::string, std::pair<size_t, std::vector<int64_t>>> arrays;  // offset, shape

  explicit Llama2cRaw(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    int32_t h[7];
    in.read(reinterpret_cast<char*>(h), sizeof h);
    dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv_heads = h[4], vocab = std::abs(h[5]),
    seq_len = h[6];
    const int64_t kv_dim = static_cast<int64_t>(dim) * kv_heads / heads;
    size_t off = 0;
    auto take = [&](const std::string& name, std::vector<int64_t> shape) {
      int64_t n = 1;
      for (int64_t d : shape) n *= d;
      arrays[name] = {off, shape};
      off += static_cast<size_t>(n);
    };
    take("embed", {vocab, dim});
    take("rms_att", {layers, dim});
    take("wq", {layers, dim, dim});
    take("wk", {layers, kv_dim, dim});
    take("wv", {layers, kv_dim, dim});
    take("wo", {layers, dim, dim});
    take("rms_ffn", {layers, dim});
    take("w1", {layers, hidden, dim});
    take("w2", {layers, dim, hidden});
    take("w3", {layers, hidden, dim});
    take("rms_final", {dim});
    data.resize(off);
    in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(off * 4));
    if (!in) throw std::runtime_error("short read of " + path);
  }
  torch::Tensor get(const std::string& name) const {
    const auto& [off, shape] = arrays.at(name);
    return torch::from_blob(const_cast<float*>(data.data() + off), shape, torch::kFloat32).clone();
  }
};

// Rotary embedding at position `pos` on [heads, head_dim] rows, in either layout. Interleaved
// rotates pairs (2i, 2i+1); rotate-half rotates (i, i + head_dim/2); both with angle
// pos * theta^(-2i/head_dim).
torch::Tensor rope(const torch::Tensor& x, int64_t pos, bool interleaved, double theta = 10000.0) {
  const int64_t hd = x.size(1), half = hd / 2;
  torch::Tensor out = x.clone();
  for (int64_t h = 0; h < x.size(0); ++h) {
    for (int64_t i = 0; i < half; ++i) {
      const double a = pos * std::pow(theta, -2.0 * i / hd);
      const int64_t i0 = interleaved ? 2 * i : i, i1 = interleaved ? 2 * i + 1 : i + half;
      const double x0 = x[h][i0].item<double>(), x1 = x[h][i1].item<double>();
      out[h][i0] = x0 * std::cos(a) - x1 * std::sin(a);
      out[h][i1] = x0 * std::sin(a) + x1 * std::cos(a);
    }
  }
  return out;
}

// q.k scores of every query head with its KV head (GQA), query at position 3, key at position 11.
torch::Tensor scores(const torch::Tensor& wq, const torch::Tensor& wk, const torch::Tensor& xq,
                     const torch::Tensor& xk, int heads, int kv_heads, bool interleaved) {
  const int64_t hd = wq.size(0) / heads;
  torch::Tensor q = rope(torch::matmul(wq.to(torch::kFloat64), xq).reshape({heads, hd}), 3, interleaved);
  torch::Tensor k = rope(torch::matmul(wk.to(torch::kFloat64), xk).reshape({kv_heads, hd}), 11, interleaved);
  return (q * k.repeat_interleave(heads / kv_heads, 0)).sum(1);
}

}  // namespace

TEST_CASE("gguf model: name mapping and rotary row permutations", "[gguf_model]") {
  using ptq::io::gguf_to_hf_name;
  CHECK(gguf_to_hf_name("token_embd.weight") == "model.embed_tokens.weight");
  CHECK(gguf_to_hf_name("output_norm.weight") == "model.norm.weight");
  CHECK(gguf_to_hf_name("output.weight") == "lm_head.weight");
  CHECK(gguf_to_hf_name("blk.12.attn_q.weight") == "model.layers.12.self_attn.q_proj.weight");
  CHECK(gguf_to_hf_name("blk.0.attn_k.bias") == "model.layers.0.self_attn.k_proj.bias");
  CHECK(gguf_to_hf_name("blk.3.attn_output.weight") == "model.layers.3.self_attn.o_proj.weight");
  CHECK(gguf_to_hf_name("blk.3.ffn_gate.weight") == "model.layers.3.mlp.gate_proj.weight");
  CHECK(gguf_to_hf_name("blk.3.ffn_down.weight") == "model.layers.3.mlp.down_proj.weight");
  CHECK(gguf_to_hf_name("blk.3.attn_norm.weight") == "model.layers.3.input_layernorm.weight");
  CHECK(gguf_to_hf_name("blk.3.ffn_norm.weight") == "model.layers.3.post_attention_layernorm.weight");
  CHECK(gguf_to_hf_name("rope_freqs.weight").empty());
  CHECK(gguf_to_hf_name("blk.x.attn_q.weight").empty());
  CHECK(gguf_to_hf_name("blk.1.attn_q.scale").empty());

  // One head of 4 rows interleaved as (x0, y0, x1, y1) becomes rotate-half (x0, x1, y0, y1).
  torch::Tensor w = torch::arange(8, torch::kFloat32).reshape({8, 1});  // 2 heads of 4 rows
  torch::Tensor h = ptq::io::interleaved_to_rotate_half(w, 2);
  CHECK(torch::equal(h.flatten(), torch::tensor({0.f, 2.f, 1.f, 3.f, 4.f, 6.f, 5.f, 7.f})));
  torch::Tensor big = torch::randn({24, 5});
  CHECK(torch::equal(ptq::io::rotate_half_to_interleaved(ptq::io::interleaved_to_rotate_half(big, 3), 3), big));
  torch::Tensor bias = torch::arange(8, torch::kFloat32);
  CHECK(torch::equal(ptq::io::interleaved_to_rotate_half(bias, 2), h.flatten()));
  REQUIRE_PTQ_ERROR(ptq::io::interleaved_to_rotate_half(torch::zeros({6, 2}), 2), "cannot be split");
}

TEST_CASE("gguf model: stories260K-F32 equals the llama2.c checkpoint it was converted from",
          "[gguf_model][shared]") {
  SHARED_FILE(gguf_path, "peers/stories260K-F32.gguf");
  SHARED_FILE(bin_path, "models/stories260K.bin");
  auto src = ptq::io::open_gguf_model(gguf_path);
  const Llama2cRaw raw(bin_path);
  const auto& c = src->config();
  CHECK(src->format() == "gguf");
  CHECK(c.architecture == "LlamaForCausalLM");
  CHECK(c.hidden_size == raw.dim);
  CHECK(c.hidden_size == 64);
  CHECK(c.intermediate_size == 172);
  CHECK(c.num_layers == 5);
  CHECK(c.num_heads == 8);
  CHECK(c.num_kv_heads == 4);
  CHECK(c.head_dim == 8);
  CHECK(c.vocab_size == 512);
  CHECK(c.max_position_embeddings == 512);
  CHECK(c.rope_theta == 10000.0);
  CHECK(c.rms_norm_eps == Approx(1e-5));
  CHECK_FALSE(c.tie_word_embeddings);  // llama.cpp stored output.weight as its own tensor
  CHECK(c.bos_token_id == 1);
  CHECK(c.eos_token_id == 2);
  CHECK(src->tensors().size() == 48);

  CHECK(torch::equal(src->load("model.embed_tokens.weight"), raw.get("embed")));
  CHECK(torch::equal(src->load("lm_head.weight"), raw.get("embed")));  // the shared classifier
  CHECK(torch::equal(src->load("model.norm.weight"), raw.get("rms_final")));
  torch::manual_seed(3);
  for (int l = 0; l < 5; ++l) {
    INFO("layer " << l);
    const std::string p = "model.layers." + std::to_string(l) + ".";
    CHECK(torch::equal(src->load(p + "input_layernorm.weight"), raw.get("rms_att")[l]));
    CHECK(torch::equal(src->load(p + "post_attention_layernorm.weight"), raw.get("rms_ffn")[l]));
    CHECK(torch::equal(src->load(p + "self_attn.v_proj.weight"), raw.get("wv")[l]));
    CHECK(torch::equal(src->load(p + "self_attn.o_proj.weight"), raw.get("wo")[l]));
    CHECK(torch::equal(src->load(p + "mlp.gate_proj.weight"), raw.get("w1")[l]));
    CHECK(torch::equal(src->load(p + "mlp.down_proj.weight"), raw.get("w2")[l]));
    CHECK(torch::equal(src->load(p + "mlp.up_proj.weight"), raw.get("w3")[l]));

    // q/k: the GGUF stores llama2.c's (interleaved) rows byte for byte ...
    const auto& g = static_cast<const GgufModel&>(*src);
    const auto& qi = g.reader().tensor("blk." + std::to_string(l) + ".attn_q.weight");
    CHECK(std::memcmp(g.reader().tensor_data(qi.name), raw.data.data() + raw.arrays.at("wq").first + l * 64 * 64,
                      qi.nbytes) == 0);
    // ... and ptq hands them out in rotate-half layout: a different row order with the same
    // attention scores under the matching rotary convention.
    torch::Tensor wq = src->load(p + "self_attn.q_proj.weight"), wk = src->load(p + "self_attn.k_proj.weight");
    CHECK(wq.sizes().vec() == std::vector<int64_t>{64, 64});
    CHECK(wk.sizes().vec() == std::vector<int64_t>{32, 64});
    CHECK_FALSE(torch::equal(wq, raw.get("wq")[l]));
    torch::Tensor xq = torch::randn({64}, torch::kFloat64), xk = torch::randn({64}, torch::kFloat64);
    torch::Tensor s_hf = scores(wq, wk, xq, xk, 8, 4, /*interleaved=*/false);
    torch::Tensor s_meta = scores(raw.get("wq")[l], raw.get("wk")[l], xq, xk, 8, 4, /*interleaved=*/true);
    CHECK(torch::allclose(s_hf, s_meta, 1e-9, 1e-9));
    // Using the wrong convention does change the scores (the check above can fail).
    CHECK_FALSE(torch::allclose(scores(wq, wk, xq, xk, 8, 4, true), s_meta, 1e-6, 1e-6));
  }

#ifdef PTQ_TEST_HAVE_LLAMA2C
  // The llama2.c reader must give the very same tensors under the same names.
  auto l2c = ptq::io::open_llama2c_model(bin_path);
  int compared = 0;
  for (const auto& t : src->tensors()) {
    if (!l2c->has(t.name)) continue;  // lm_head when the llama2.c source ties it
    INFO(t.name);
    CHECK(torch::equal(src->load(t.name), l2c->load(t.name)));
    ++compared;
  }
  CHECK(compared >= 47);
#endif
}

TEST_CASE("gguf model: quantized peers open with the same config", "[gguf_model][shared]") {
  SHARED_FILE(f32_path, "peers/stories260K-F32.gguf");
  SHARED_FILE(q8_path, "peers/stories260K-Q8_0.gguf");
  auto f = ptq::io::open_gguf_model(f32_path);
  auto q = ptq::io::open_gguf_model(q8_path);
  CHECK(q->config().hidden_size == f->config().hidden_size);
  CHECK(q->config().num_layers == f->config().num_layers);
  CHECK(q->config().vocab_size == f->config().vocab_size);
  const std::string n = "model.layers.2.self_attn.q_proj.weight";
  torch::Tensor a = q->load(n), b = f->load(n);
  // Q8_0 blocks run along rows, so a row permutation keeps the error small everywhere.
  CHECK(((a - b).abs().max() / b.abs().max()).item<double>() < 0.01);
  for (const auto& ti : q->tensors()) {
    if (ti.name.find("down_proj") != std::string::npos) CHECK(ti.dtype == "F16");
  }
}

TEST_CASE("gguf model: files that are not llama models are refused by name", "[gguf_model][bad]") {
  const std::string dir = ptq::test::scratch_dir("gguf_model_bad");
  using ptq::test::Bytes;
  {
    Bytes f;  // vocabulary-only: metadata, no tensors
    f.raw("GGUF").u32(3).u64(0).u64(1).str("general.architecture").u32(8).str("llama");
    const std::string p = dir + "/vocab.gguf";
    ptq::test::write_bytes(p, f.b);
    REQUIRE_PTQ_ERROR(ptq::io::open_gguf_model(p), p.c_str(), "has no tensors");
  }
  {
    Bytes f;
    f.raw("GGUF").u32(3).u64(0).u64(1).str("general.architecture").u32(8).str("gpt2");
    const std::string p = dir + "/gpt2.gguf";
    ptq::test::write_bytes(p, f.b);
    REQUIRE_PTQ_ERROR(ptq::io::open_gguf_model(p), p.c_str(), "general.architecture is 'gpt2'");
  }
  {
    Bytes f;  // a llama file without its hyper-parameters
    f.raw("GGUF").u32(3).u64(1).u64(1).str("general.architecture").u32(8).str("llama");
    f.str("token_embd.weight").u32(2).u64(4).u64(2).u32(0).u64(0).pad_to(32).raw(std::string(32, '\0'));
    const std::string p = dir + "/nometa.gguf";
    ptq::test::write_bytes(p, f.b);
    REQUIRE_PTQ_ERROR(ptq::io::open_gguf_model(p), p.c_str(), "metadata key 'llama.embedding_length' is missing");
  }
}
