// The tensors that carry QuaRot's online rotations in a checkpoint (ptq's quantized directory or a
// Hugging Face directory written by ptq). Their presence turns the rotation on in model::Model:
//   rotation.online.down_proj_input [F, F]   the MLP activation is multiplied by it before down_proj
//                                            (down_proj's weight holds W H already)
//   rotation.online.head            [hd, hd] every query and key head is multiplied by it after the
//                                            rotary embedding (cancels in q k^T)
// llama.cpp and the Hugging Face runtimes have no such op: exporters refuse a model holding them.
#pragma once
#include <string>
#include <vector>

#include "core/error.hpp"
#include "model/weight_source.hpp"

namespace ptq::model {

inline const char* const kOnlineDownProjRotation = "rotation.online.down_proj_input";
inline const char* const kOnlineHeadRotation = "rotation.online.head";

inline std::vector<std::string> online_rotation_tensor_names() {
  return {kOnlineDownProjRotation, kOnlineHeadRotation};
}

// Throws ptq::Error naming the model, the rotation and `format` when the model needs an online
// rotation that format cannot express (only the residual rotation, a pure reparametrisation, exports).
inline void refuse_online_rotations(const WeightSource& src, const std::string& format) {
  for (const auto& n : online_rotation_tensor_names()) {
    if (src.has(n)) {
      fail(src.path(), "holds the online rotation " + n + " (ptq quantize --transform rotate), which " + format +
                           " cannot apply (no such op in its runtime); quantize with --rotate-online none "
                           "(YAML: {algorithm: rotate, online: []}) to export a rotated model");
    }
  }
}

}  // namespace ptq::model
