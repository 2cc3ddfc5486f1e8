#include "model/synthetic_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "model/architecture.hpp"
#include "model/hf_config.hpp"

namespace ptq::model {

namespace fs = std::filesystem;

namespace {

// Tensors above this many elements are sampled in row chunks (about 64 MB of fp32 temporaries), so
// a 128256 x 4096 embedding never exists in fp32 at once.
constexpr int64_t kChunkElements = int64_t(1) << 24;

// [rows, cols] with entries of standard deviation `stddev`, normal or Student-t, in `dtype`.
torch::Tensor sample(int64_t rows, int64_t cols, double stddev, int dof, torch::ScalarType dtype, at::Generator& gen) {
  auto draw = [&](int64_t n) {
    auto z = at::normal(0.0, 1.0, {n, cols}, gen);
    if (dof == 0) return z.mul_(stddev);
    // chi^2 with an even number of degrees of freedom: -2 ln of a product of dof/2 uniforms.
    auto prod = torch::empty({n, cols}).uniform_(0.0, 1.0, gen);
    for (int i = 1; i < dof / 2; ++i) prod.mul_(torch::empty({n, cols}).uniform_(0.0, 1.0, gen));
    auto chi2 = prod.log_().mul_(-2.0);
    // t = z / sqrt(chi2 / dof) has variance dof / (dof - 2); scaled to variance stddev^2.
    return z.mul_(torch::rsqrt(chi2).mul_(stddev * std::sqrt(double(dof - 2))));
  };
  if (rows * cols <= kChunkElements) return draw(rows).to(dtype);
  auto out = torch::empty({rows, cols}, torch::TensorOptions().dtype(dtype));
  const int64_t step = std::max<int64_t>(1, kChunkElements / cols);
  for (int64_t r = 0; r < rows; r += step) {
    const int64_t n = std::min(step, rows - r);
    out.narrow(0, r, n).copy_(draw(n));
  }
  return out;
}

}  // namespace

ModelConfig synthetic_config(int hidden, int intermediate, int layers, int heads, int kv_heads, int vocab) {
  ModelConfig c;
  c.hidden_size = hidden;
  c.intermediate_size = intermediate;
  c.num_layers = layers;
  c.num_heads = heads;
  c.num_kv_heads = kv_heads;
  c.head_dim = hidden / heads;
  c.vocab_size = vocab;
  return c;
}

std::vector<std::string> named_shapes() { return {"llama2-7b", "llama2-13b", "llama3-8b", "tinyllama-1.1b"}; }

ModelConfig named_shape(const std::string& name) {
  // The published config.json values of each model.
  ModelConfig c;
  if (name == "llama2-7b") {
    c = synthetic_config(4096, 11008, 32, 32, 32, 32000);
    c.max_position_embeddings = 4096;
  } else if (name == "llama2-13b") {
    c = synthetic_config(5120, 13824, 40, 40, 40, 32000);
    c.max_position_embeddings = 4096;
  } else if (name == "llama3-8b") {
    c = synthetic_config(4096, 14336, 32, 32, 8, 128256);
    c.max_position_embeddings = 8192;
    c.rope_theta = 500000.0;
    c.bos_token_id = 128000;
    c.eos_token_id = 128001;
  } else if (name == "tinyllama-1.1b") {
    c = synthetic_config(2048, 5632, 22, 32, 4, 32000);
    c.max_position_embeddings = 2048;
  } else {
    std::string names;
    for (const auto& n : named_shapes()) names += (names.empty() ? "" : ", ") + n;
    fail("--shape", "unknown shape '" + name + "' (known: " + names + ")");
  }
  return c;
}

std::vector<int64_t> synthetic_outlier_channels(const ModelConfig& cfg, uint64_t seed, int count) {
  if (count < 0 || count > cfg.hidden_size) {
    fail("outlier channels", std::to_string(count) + " is outside 0.." + std::to_string(cfg.hidden_size));
  }
  // A generator of its own, so the weights do not depend on how many channels are chosen.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed ^ 0x6f75746c69657273ULL);
  auto perm = torch::randperm(cfg.hidden_size, gen, torch::kInt64).narrow(0, 0, count);
  std::vector<int64_t> ch(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + count);
  std::sort(ch.begin(), ch.end());
  return ch;
}

void write_synthetic_model(const ModelConfig& cfg_in, const std::string& dir, uint64_t seed, const SynthOptions& opt) {
  ModelConfig cfg = cfg_in;
  if (cfg.head_dim == 0) cfg.head_dim = cfg.hidden_size / cfg.num_heads;
  if (opt.dtype != torch::kFloat32 && opt.dtype != torch::kFloat16 && opt.dtype != torch::kBFloat16) {
    fail(dir, "synthetic weights are stored as f32, f16 or bf16");
  }
  if (opt.student_t_dof != 0 && (opt.student_t_dof < 6 || opt.student_t_dof % 2 != 0)) {
    fail(dir, "Student-t degrees of freedom must be 0 (normal) or an even number >= 6, got " +
                  std::to_string(opt.student_t_dof));
  }
  if (!(opt.outlier_factor > 0)) fail(dir, "outlier factor must be positive");
  cfg.torch_dtype = opt.dtype == torch::kFloat16 ? "float16" : opt.dtype == torch::kBFloat16 ? "bfloat16" : "float32";
  cfg.validate(dir);
  fs::create_directories(dir);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const int64_t D = cfg.hidden_size, F = cfg.intermediate_size, hd = cfg.head_dim;
  const int64_t q_out = int64_t(cfg.num_heads) * hd, kv_out = int64_t(cfg.num_kv_heads) * hd;
  auto linear = [&](int64_t out, int64_t in) {
    return sample(out, in, 1.0 / std::sqrt(double(in)), opt.student_t_dof, opt.dtype, gen);
  };
  auto norm = torch::ones({D});
  if (opt.outlier_channels > 0) {
    for (int64_t c : synthetic_outlier_channels(cfg, seed, opt.outlier_channels)) norm[c] = opt.outlier_factor;
  }
  norm = norm.to(opt.dtype);
  nlohmann::json weight_map;
  const int shards = cfg.num_layers + 1;
  auto write = [&](int k, std::map<std::string, torch::Tensor> tensors) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05d-of-%05d.safetensors", k + 1, shards);
    io::SafetensorsWriter w;
    w.set_metadata("format", "pt");
    for (auto& [n, t] : tensors) {
      if (n == opt.poison) t.view(-1)[0] = std::numeric_limits<float>::quiet_NaN();
      w.add(n, t);
      weight_map[n] = name;
    }
    w.write((fs::path(dir) / name).string());
  };
  for (int L = 0; L < cfg.num_layers; ++L) {
    const std::string p = layer_prefix(L);
    std::map<std::string, torch::Tensor> t;
    t[p + "input_layernorm.weight"] = norm.clone();
    t[p + "post_attention_layernorm.weight"] = norm.clone();
    t[p + "self_attn.q_proj.weight"] = linear(q_out, D);
    t[p + "self_attn.k_proj.weight"] = linear(kv_out, D);
    t[p + "self_attn.v_proj.weight"] = linear(kv_out, D);
    t[p + "self_attn.o_proj.weight"] = linear(D, q_out);
    t[p + "mlp.gate_proj.weight"] = linear(F, D);
    t[p + "mlp.up_proj.weight"] = linear(F, D);
    t[p + "mlp.down_proj.weight"] = linear(D, F);
    if (cfg.attention_bias) {
      t[p + "self_attn.q_proj.bias"] = at::normal(0.0, 0.02, {q_out}, gen).to(opt.dtype);
      t[p + "self_attn.k_proj.bias"] = at::normal(0.0, 0.02, {kv_out}, gen).to(opt.dtype);
      t[p + "self_attn.v_proj.bias"] = at::normal(0.0, 0.02, {kv_out}, gen).to(opt.dtype);
    }
    write(L, std::move(t));
  }
  std::map<std::string, torch::Tensor> rest;
  rest["model.embed_tokens.weight"] = sample(cfg.vocab_size, D, 1.0, 0, opt.dtype, gen);
  rest["model.norm.weight"] = torch::ones({D}).to(opt.dtype);
  if (!cfg.tie_word_embeddings) rest["lm_head.weight"] = linear(cfg.vocab_size, D);
  write(cfg.num_layers, std::move(rest));
  nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", weight_map}};
  io::write_file_atomically((fs::path(dir) / "model.safetensors.index.json").string(), index.dump(2) + "\n");
  io::write_file_atomically((fs::path(dir) / "config.json").string(), write_hf_config(cfg));
}

void write_synthetic_model(const ModelConfig& cfg, const std::string& dir, uint64_t seed, const std::string& poison) {
  SynthOptions opt;
  opt.poison = poison;
  write_synthetic_model(cfg, dir, seed, opt);
}

}  // namespace ptq::model
