// What each candidate type costs each weight matrix (and each whole decoder layer): the matrix
// quantized as the GGUF export would store it (mixed/tensor_quantizer.hpp), the rest of the model in
// full precision, scored two ways:
//   proxy     tr(dW H dW^T), H the layer's input Hessian from the calibration statistics (no forward
//             pass; none for the embedding and output matrices, which have no statistics)
//   measured  the end-to-end KL divergence to the FP model on a few windows of held-out text
//             (mixed/reference_kl.hpp), with every statistic eval::KlResult holds
#pragma once
#include <nlohmann/json.hpp>

#include <iosfwd>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "mixed/matrix_catalog.hpp"
#include "mixed/reference_kl.hpp"
#include "mixed/grid_candidates.hpp"
#include "mixed/tensor_quantizer.hpp"
#include "model/weight_source.hpp"

namespace ptq::mixed {

struct SensitivityOptions {
  std::vector<std::string> types = default_candidate_types();
  QuantMethod method = QuantMethod::Gptq;
  std::string stats;       // ptq calibration statistics (.h5); "" -> no proxy, reference quantizers
  double gptq_damp = 0.01;
  bool per_layer = true;   // also whole layers (every matrix of the layer that fits the type)
  // Integer-grid candidates (mixed/grid_candidates.hpp, all or none of `types`): the grid's sym /
  // mse settings, as `ptq quantize` will apply them; only the decoder's linear layers take them.
  algo::IntGrid grid_base;
};

// Whether `types` are integer-grid candidates (true), GGUF block types (false); throws for a mix.
bool grid_candidates(const std::vector<std::string>& types);

struct SensitivityRow {
  std::string scope;   // "tensor" or "layer"
  std::string tensor;  // GGUF name, or "blk.N" for a layer
  int layer = -1;
  std::string type;
  int64_t weights = 0;
  uint64_t bytes = 0;  // data bytes as the file stores them (GGUF: padded to 32 per tensor; grids: GPTQ tensors)
  double proxy = std::numeric_limits<double>::quiet_NaN();
  double kl = std::numeric_limits<double>::quiet_NaN(), kl_stderr = std::numeric_limits<double>::quiet_NaN();
  double ppl = std::numeric_limits<double>::quiet_NaN();
  double top1 = std::numeric_limits<double>::quiet_NaN();
};

struct SensitivityTable {
  std::string model, method, stats, text;
  std::vector<std::string> types;
  bool grid_sym = false;  // integer-grid candidates: symmetric grids
  std::string protocol;
  int seqlen = 0;
  int64_t windows = 0, tokens_scored = 0;
  double ppl_reference = 0;
  std::vector<std::string> fixed;  // matrices no candidate type fits (kept in the fallback type)
  std::vector<SensitivityRow> rows;

  bool measured() const;  // every row has a measured KL
  // The row of a tensor (scope "tensor") and type, or nullptr.
  const SensitivityRow* find(const std::string& tensor, const std::string& type) const;
};

// ref: null -> proxy only. Progress goes to `log`.
SensitivityTable measure_sensitivity(const std::shared_ptr<const model::WeightSource>& src, const ReferenceKl* ref,
                                     const SensitivityOptions& opt, std::ostream& log);

nlohmann::json to_json(const SensitivityTable& t);
// Throws ptq::Error naming `where` on a missing or mistyped field.
SensitivityTable sensitivity_from_json(const nlohmann::json& j, const std::string& where);
SensitivityTable read_sensitivity(const std::string& path);

}  // namespace ptq::mixed
