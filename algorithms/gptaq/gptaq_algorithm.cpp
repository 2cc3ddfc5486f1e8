// GPTAQ as a registered algorithm: the Hessian and the cross term (X_fp - X) X^T of the layer's input,
// which sequential calibration computes when needs_fp_inputs() asks it to carry the FP model along.
#include <cmath>

#include "algorithms/gptaq/gptaq.hpp"
#include "algorithms/registry.hpp"
#include "calibration/cross_stats.hpp"

namespace ptq::algo {

namespace {

class GptaqAlgorithm : public Algorithm {
 public:
  explicit GptaqAlgorithm(const nlohmann::json& options) {
    OptionReader r(options, "gptaq");
    opt_.gptq.block_size = r.get_int("block_size", opt_.gptq.block_size, 1, 1 << 20);
    opt_.gptq.damp_percent = r.get_double("damp_percent", opt_.gptq.damp_percent, 0.0, 10.0);
    opt_.gptq.act_order = r.get_bool("act_order", opt_.gptq.act_order);
    opt_.gptq.static_groups = r.get_bool("static_groups", opt_.gptq.static_groups);
    opt_.alpha = r.get_double("alpha", opt_.alpha, 0.0, 100.0);
    r.finish();
  }
  std::string name() const override { return "gptaq"; }
  bool needs_calibration() const override { return true; }
  bool needs_fp_inputs() const override { return true; }
  nlohmann::json options() const override {
    return {{"block_size", opt_.gptq.block_size}, {"damp_percent", opt_.gptq.damp_percent}, {"act_order", opt_.gptq.act_order},
            {"static_groups", opt_.gptq.static_groups}, {"alpha", opt_.alpha}};
  }
  LayerResult quantize(const torch::Tensor& weight, const calib::InputStats* stats, const IntGrid& grid,
                       const std::string& where) const override {
    if (!stats || stats->empty()) fail(where, "GPTAQ needs calibration statistics (pass --calib)");
    if (!stats->fp_cross()) {
      fail(where, "GPTAQ needs the cross term (X_fp - X) X^T, which only sequential calibration carrying the "
                  "full-precision model computes (not one-shot, not stored statistics)");
    }
    auto r = gptaq_quantize(weight, stats->hessian(), stats->fp_cross()->normalized(), grid, opt_, where);
    LayerResult out;
    out.q = std::move(r.q);
    out.report = {{"damp", r.damp}, {"damp_retries", r.damp_retries}, {"fell_back_to_rtn", r.fell_back_to_rtn}};
    if (r.fell_back_to_rtn) out.warning = r.note;
    else if (r.damp_retries > 0) out.warning = where + ": Hessian needed damping x" + std::to_string(int(std::pow(10, r.damp_retries))) + " to factor";
    return out;
  }

 private:
  GptaqOptions opt_;
};

}  // namespace

std::unique_ptr<Algorithm> make_gptaq(const nlohmann::json& options) { return std::make_unique<GptaqAlgorithm>(options); }

}  // namespace ptq::algo
