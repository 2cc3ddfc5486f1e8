// QuaRot's rotations as a reparametrisation of a model's weights (Ashkboos et al. 2024), served as a
// WeightSource so that everything downstream (calibration, quantization, the written checkpoint)
// sees the rotated model:
//  * every RMSNorm weight is folded into the linear layers reading it (the norm becomes 1; the final
//    norm into lm_head, which is untied from the embeddings);
//  * the residual stream is rotated by an orthogonal Q (x -> x Q): embeddings E Q, residual readers
//    (q/k/v/gate/up, lm_head) W diag(g) Q, residual writers (o_proj, down_proj) Q^T W. RMSNorm is
//    invariant (||x Q|| = ||x||), so the function is unchanged;
//  * optionally online rotations the model applies as it runs (model/online_rotation.hpp): H_F on the
//    MLP activation (down_proj holds W H_F), and per attention head H_d on queries and keys after the
//    rotary embedding; the values' H_d is folded into v_proj's rows and o_proj's columns per head.
// The transformed tensors are computed in float64 when loaded, one at a time.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "model/hadamard.hpp"
#include "model/weight_source.hpp"

namespace ptq::model {

struct RotationSpec {
  uint64_t seed = 0;              // the residual rotation's random signs (and any fallback matrix)
  bool online_down_proj = false;  // Hadamard on down_proj's input, applied online
  bool online_kv = false;         // per-head Hadamard on keys (online, with queries) and values (folded)

  bool has_online() const { return online_down_proj || online_kv; }
  nlohmann::json to_json() const;
};

class RotatedWeights : public WeightSource {
 public:
  // Throws ptq::Error naming the model when it already holds online rotations.
  RotatedWeights(std::shared_ptr<WeightSource> base, const RotationSpec& spec);

  const ModelConfig& config() const override { return cfg_; }
  std::vector<TensorInfo> tensors() const override;
  bool has(const std::string& name) const override;
  torch::Tensor load(const std::string& name) const override;
  std::string format() const override { return "rotated " + base_->format(); }
  std::string path() const override { return base_->path(); }

  // The spec and each matrix's construction (Hadamard or the random orthogonal fallback).
  nlohmann::json description() const;

 private:
  torch::Tensor rotate_layer_tensor(int layer, const std::string& part) const;

  std::shared_ptr<WeightSource> base_;
  RotationSpec spec_;
  ModelConfig cfg_;
  Orthogonal residual_, down_, head_;  // down_ / head_ empty when not online
};

}  // namespace ptq::model
