#include "io/llama2c.hpp"

#include <cstring>
#include <map>

#include "core/error.hpp"
#include "io/mapped_file.hpp"
#include "io/rotary_layout.hpp"

namespace ptq::io {

namespace {

constexpr int64_t kHeaderBytes = 7 * 4;

struct Slice {
  uint64_t offset;  // bytes from the start of the file
  std::vector<int64_t> shape;
  int rotary_heads = 0;  // > 0: q/k rows to convert to the rotate-half layout
};

class Llama2cModel : public model::WeightSource {
 public:
  explicit Llama2cModel(const std::string& path) : file_(path) {
    if (file_.size() < kHeaderBytes) {
      fail(path, "too small for a llama2.c header (" + std::to_string(file_.size()) + " bytes)");
    }
    int32_t h[7];
    std::memcpy(h, file_.data(), sizeof h);
    if (static_cast<uint32_t>(h[0]) == 0x616b3432u) {
      fail(path, "llama2.c export format version 1/2 (magic 'ak42') is not supported; "
                 "export with the legacy format (version 0)");
    }
    const int32_t dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv_heads = h[4];
    const int32_t seq_len = h[6];
    const bool shared_classifier = h[5] > 0;
    const int64_t vocab = h[5] > 0 ? h[5] : -static_cast<int64_t>(h[5]);
    auto sane = [&](const char* what, int64_t v, int64_t hi) {
      if (v <= 0 || v > hi) {
        fail(path, std::string("header field ") + what + " = " + std::to_string(v) +
                       " is out of range (1.." + std::to_string(hi) +
                       "); not a llama2.c checkpoint?");
      }
    };
    sane("dim", dim, 1 << 16);
    sane("hidden_dim", hidden, 1 << 18);
    sane("n_layers", layers, 1024);
    sane("n_heads", heads, 1024);
    sane("n_kv_heads", kv_heads, 1024);
    sane("vocab_size", vocab, 1 << 22);
    sane("seq_len", seq_len, 1 << 22);
    if (dim % heads != 0 || heads % kv_heads != 0 || (dim / heads) % 2 != 0) {
      fail(path, "inconsistent header: dim " + std::to_string(dim) + ", n_heads " +
                     std::to_string(heads) + ", n_kv_heads " + std::to_string(kv_heads));
    }
    const int64_t hd = dim / heads, kv_dim = kv_heads * hd;

    cfg_.architecture = "LlamaForCausalLM";
    cfg_.hidden_size = dim;
    cfg_.intermediate_size = hidden;
    cfg_.num_layers = layers;
    cfg_.num_heads = heads;
    cfg_.num_kv_heads = kv_heads;
    cfg_.head_dim = static_cast<int>(hd);
    cfg_.vocab_size = static_cast<int>(vocab);
    cfg_.max_position_embeddings = seq_len;
    cfg_.rope_theta = 10000.0;
    cfg_.rms_norm_eps = 1e-5;
    cfg_.tie_word_embeddings = shared_classifier;
    cfg_.bos_token_id = 1;
    cfg_.eos_token_id = 2;
    cfg_.torch_dtype = "float32";

    // The fixed llama2.c order: each kind of tensor for all layers, then the next kind.
    uint64_t off = kHeaderBytes;
    auto take = [&](const std::string& name, std::vector<int64_t> shape, int rot = 0) {
      int64_t n = 1;
      for (auto d : shape) n *= d;
      slices_[name] = Slice{off, std::move(shape), rot};
      order_.push_back(name);
      off += static_cast<uint64_t>(n) * 4;
    };
    auto per_layer = [&](const std::string& suffix, std::vector<int64_t> shape, int rot = 0) {
      for (int l = 0; l < layers; ++l) {
        take("model.layers." + std::to_string(l) + "." + suffix, shape, rot);
      }
    };
    take("model.embed_tokens.weight", {vocab, dim});
    per_layer("input_layernorm.weight", {dim});
    per_layer("self_attn.q_proj.weight", {dim, dim}, heads);
    per_layer("self_attn.k_proj.weight", {kv_dim, dim}, kv_heads);
    per_layer("self_attn.v_proj.weight", {kv_dim, dim});
    per_layer("self_attn.o_proj.weight", {dim, dim});
    per_layer("post_attention_layernorm.weight", {dim});
    per_layer("mlp.gate_proj.weight", {hidden, dim});
    per_layer("mlp.down_proj.weight", {dim, hidden});
    per_layer("mlp.up_proj.weight", {hidden, dim});
    take("model.norm.weight", {dim});
    off += static_cast<uint64_t>(seq_len) * hd * 4;  // freq_cis_real, freq_cis_imag: recomputed
    if (!shared_classifier) take("lm_head.weight", {vocab, dim});
    if (off != file_.size()) {
      fail(path, "size " + std::to_string(file_.size()) + " bytes does not match the header (" +
                     std::to_string(off) + " bytes expected for dim " + std::to_string(dim) +
                     ", hidden_dim " + std::to_string(hidden) + ", " + std::to_string(layers) +
                     " layers, vocab " + std::to_string(vocab) + ")" +
                     (off > file_.size() ? ": truncated" : ": trailing bytes"));
    }
  }

  const model::ModelConfig& config() const override { return cfg_; }

  std::vector<model::TensorInfo> tensors() const override {
    std::vector<model::TensorInfo> out;
    for (const auto& name : order_) {
      const Slice& s = slices_.at(name);
      int64_t n = 1;
      for (auto d : s.shape) n *= d;
      out.push_back({name, "F32", s.shape, static_cast<uint64_t>(n) * 4});
    }
    return out;
  }

  bool has(const std::string& name) const override { return slices_.count(name) > 0; }

  torch::Tensor load(const std::string& name) const override {
    auto it = slices_.find(name);
    if (it == slices_.end()) fail(file_.path(), "no tensor named " + name);
    const Slice& s = it->second;
    int64_t n = 1;
    for (auto d : s.shape) n *= d;
    const uint8_t* p = file_.at(s.offset, static_cast<uint64_t>(n) * 4, name.c_str());
    torch::Tensor t = torch::empty(s.shape, torch::kFloat32);
    std::memcpy(t.data_ptr<float>(), p, static_cast<size_t>(n) * 4);
    if (s.rotary_heads > 0) t = interleaved_to_rotate_half(t, s.rotary_heads);
    return t;
  }

  std::string format() const override { return "llama2c"; }
  std::string path() const override { return file_.path(); }

 private:
  MappedFile file_;
  model::ModelConfig cfg_;
  std::map<std::string, Slice> slices_;
  std::vector<std::string> order_;
};

}  // namespace

std::unique_ptr<model::WeightSource> open_llama2c_model(const std::string& path) {
  return std::make_unique<Llama2cModel>(path);
}

}  // namespace ptq::io
