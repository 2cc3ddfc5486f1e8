// The LLaMA-family decoder in LibTorch, fp32 compute (bf16 linear products on request): token embedding, RMSNorm, rotary embeddings
// (rotate-half layout), grouped-query causal attention, SwiGLU MLP, final norm, tied or untied head,
// optional q/k/v biases. Each decoder layer can run on its own on given hidden states, so calibration
// and quantization stream through the model one layer at a time.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/config.hpp"
#include "model/kv_quant.hpp"
#include "model/weight_source.hpp"

namespace ptq::model {

// Called with a linear layer's full name (model.layers.3.self_attn.q_proj) and its input [B, T, in]
// just before the product. It may replace the input (activation fake-quantization).
using LinearInputHook = std::function<void(const std::string& name, torch::Tensor& input)>;

struct LayerWeights {
  int index = 0;
  torch::Tensor input_norm, post_norm;
  std::map<std::string, torch::Tensor> linear;  // "self_attn.q_proj" -> weight [out, in]
  std::map<std::string, torch::Tensor> bias;    // present only for layers that have one
  // QuaRot's online rotations (model/online_rotation.hpp), undefined when the model has none:
  // online_down_proj [F, F] multiplies the MLP activation before down_proj (and before its input
  // hook, so activation quantization sees the rotated values); online_head [hd, hd] multiplies every
  // query and key head after the rotary embedding (before KV-cache quantization; it cancels in q k^T).
  torch::Tensor online_down_proj, online_head;

  const torch::Tensor& weight(const std::string& linear_name) const;
  torch::Tensor bias_or_undefined(const std::string& linear_name) const;
};

// Cos/sin tables for rotary embeddings, [max_pos, head_dim/2], computed in double.
struct RotaryTable {
  torch::Tensor cos, sin;
  RotaryTable(int head_dim, int max_positions, double theta);
  void ensure(int positions);  // grows the table when a longer sequence comes
  int head_dim;
  double theta;
};

// Keys and values of the positions seen so far, per layer, for incremental decoding.
struct KVCache {
  std::vector<torch::Tensor> k, v;  // per layer: [B, S, kv_heads, head_dim]
  int64_t length() const { return k.empty() || !k[0].defined() ? 0 : k[0].size(1); }
};

struct LayerRun {
  int64_t pos_offset = 0;             // absolute position of the first input token
  // The dtype of the linear layers' products: kFloat32, or kBFloat16 (input and weight rounded to
  // bf16, accumulated by oneDNN/BLAS, result back in fp32). Hooks see the fp32 input, so statistics
  // gathered by hooks (Hessians) stay fp32; norms, attention and softmax stay fp32.
  torch::ScalarType compute = torch::kFloat32;
  KVCache* cache = nullptr;           // appended to when present
  const LinearInputHook* hook = nullptr;
  const KvQuantSpec* kv_quant = nullptr;  // keys and values fake-quantized as they enter attention
};

torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);
// Rotate-half rotary embedding of x [B, T, heads, hd] with cos/sin [T, hd/2] (differentiable; the
// trainer in src/train uses it too).
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// The attention block on normed hidden states h [B, T, hidden]: projections, rotary embeddings, causal
// attention and o_proj (the residual is the caller's).
torch::Tensor attention_block(const ModelConfig& cfg, const LayerWeights& w, RotaryTable& rope, const torch::Tensor& h,
                              const LayerRun& run);
// The SwiGLU MLP on normed hidden states m [B, T, hidden].
torch::Tensor mlp_block(const LayerWeights& w, const torch::Tensor& m, const LayerRun& run);

// One decoder layer: x [B, T, hidden] -> [B, T, hidden].
torch::Tensor decoder_layer_forward(const ModelConfig& cfg, const LayerWeights& w, RotaryTable& rope,
                                    const torch::Tensor& x, const LayerRun& run);

class Model {
 public:
  explicit Model(std::shared_ptr<WeightSource> source);

  const ModelConfig& config() const { return cfg_; }
  const WeightSource& source() const { return *source_; }

  // Materialises layer i's weights from the source (a fresh copy, not cached).
  LayerWeights load_layer(int i) const;
  // Keeps every layer in memory (for evaluation and generation of models that fit).
  void make_resident();
  bool resident() const { return !resident_.empty(); }
  // The layer's weights: resident ones, else loaded now.
  LayerWeights layer(int i) const;
  // Replaces a resident layer's weights (quantized weights for evaluation).
  void set_layer(int i, LayerWeights w);

  torch::Tensor embed(const torch::Tensor& tokens) const;        // [B, T] int64 -> [B, T, D]
  torch::Tensor head(const torch::Tensor& hidden) const;         // final norm + lm head -> logits
  torch::Tensor run_layer(int i, const torch::Tensor& x, const LayerRun& run);
  // A decoder layer with given weights (a layer being quantized) on hidden states x.
  torch::Tensor run_layer_weights(const LayerWeights& w, const torch::Tensor& x, const LayerRun& run);
  // One module of a block on its own input: "self_attn" (normed hidden states -> o_proj output), "mlp"
  // (normed hidden states -> down_proj output) or a linear layer ("self_attn.o_proj"). AWQ and
  // SmoothQuant measure a module's output error this way.
  torch::Tensor run_module(const LayerWeights& w, const std::string& module, const torch::Tensor& x,
                           const LayerRun& run = {});
  // Whole model: tokens [B, T] -> logits [B, T, vocab].
  torch::Tensor forward(const torch::Tensor& tokens, KVCache* cache = nullptr,
                        const LinearInputHook* hook = nullptr);

  // Model-level simulation settings, applied by forward() (evaluation, KL, generation):
  // a hook run on every linear input before forward()'s own hook (activation quantization), and
  // KV-cache quantization. Empty hook / bits 0: off. Throws for a KV spec the model cannot use.
  void set_linear_input_hook(LinearInputHook hook) { default_hook_ = std::move(hook); }
  void set_kv_quant(const KvQuantSpec& spec);
  // The dtype of every linear product this model runs (LayerRun::compute), whatever run the caller
  // passes: kFloat32 (default) or kBFloat16. Throws for another dtype.
  void set_compute_dtype(torch::ScalarType dtype);
  torch::ScalarType compute_dtype() const { return compute_; }
  // The settings forward() runs every layer with: the model-level hook, then `hook`, combined in
  // `storage` (which must outlive the result), KV-cache quantization and the compute dtype. For
  // callers that run the layers themselves (layer-major evaluation) and must match forward().
  LayerRun simulation_run(const LinearInputHook* hook, LinearInputHook& storage) const;
  const KvQuantSpec& kv_quant() const { return kv_quant_; }
  // The online rotations read from the weights (undefined when absent); every layer carries them.
  const torch::Tensor& online_down_proj() const { return online_down_proj_; }
  const torch::Tensor& online_head() const { return online_head_; }

 private:
  std::shared_ptr<WeightSource> source_;
  ModelConfig cfg_;
  RotaryTable rope_;
  torch::Tensor embed_, final_norm_, lm_head_;
  torch::Tensor online_down_proj_, online_head_;
  std::vector<LayerWeights> resident_;
  LinearInputHook default_hook_;
  KvQuantSpec kv_quant_;
  torch::ScalarType compute_ = torch::kFloat32;
  LayerRun with_compute(const LayerRun& run) const;
};

}  // namespace ptq::model
