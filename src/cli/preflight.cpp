#include "cli/preflight.hpp"

#include <cctype>
#include <ostream>

#include "ggml/ggml_types.hpp"
#include "model/resource_estimate.hpp"
#include "model/weight_source.hpp"

namespace ptq::cli {

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() > tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

void report(const model::Estimate& e, const std::string& out, std::ostream& log) {
  model::print_estimate(log, e, e.flop > 0 ? model::measure_gemm_gflops() : 0.0);
  model::check_resources(e, out);
}

}  // namespace

double gguf_bits_per_weight(const std::string& type) {
  std::string base = type;
  for (const char* mix : {"_s", "_m", "_l"}) {
    if (ends_with(base, mix) && base.find("_k") != std::string::npos) base = base.substr(0, base.size() - 2);
  }
  const ggml::GgmlTypeTraits* t = ggml::find_type(base);
  return t ? ggml::bits_per_weight(*t) : 16.0;
}

void preflight_quantize(const pipeline::QuantizeSpec& spec, std::ostream& log) {
  const auto cfg = model::open_weights(spec.model)->config();
  model::QuantizeShape q;
  q.samples = spec.calib.path.empty() ? 0 : spec.sampling.n_samples;
  q.seqlen = spec.sampling.seqlen;
  q.sequential = spec.calibration.mode == "sequential";
  q.true_sequential = spec.calibration.true_sequential;
  q.fp64_hessian = spec.calibration.fp64_hessian;
  q.gptq = spec.algorithm == "gptq" || spec.algorithm == "gptaq";
  const int g = spec.grid.group_size;
  // Codes, plus an fp16 scale and a packed zero per group (per row for per-channel grids).
  q.bits_per_weight = spec.grid.bits + (g > 0 ? (16.0 + spec.grid.bits) / g : 0.0);
  // A fixed batch is bounded by the samples' hidden states above; no calibration runs no forwards.
  q.activation_budget = spec.calibration.batch > 0 || q.samples == 0 ? 0 : spec.calibration.batch_budget_bytes;
  report(model::estimate_quantize(cfg, q), spec.out, log);
}

void preflight_eval(const std::string& path, int64_t windows, int seqlen, int batch, bool with_reference,
                    std::ostream& log) {
  const auto cfg = model::open_weights(path)->config();
  report(model::estimate_eval(cfg, windows, seqlen, batch, with_reference, int64_t(4) << 30, model::fits_resident(cfg)),
         "", log);
}

void preflight_export(const std::string& path, double bits_per_weight, const std::string& out, std::ostream& log) {
  const auto cfg = model::open_weights(path)->config();
  report(model::estimate_export(cfg, bits_per_weight, 16.0), out, log);
}

}  // namespace ptq::cli
