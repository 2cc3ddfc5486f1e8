// HQQ as a registered algorithm: data-free; its options as in algorithms/hqq/hqq.hpp.
#include "algorithms/hqq/hqq.hpp"
#include "algorithms/registry.hpp"

namespace ptq::algo {

namespace {

class HqqAlgorithm : public Algorithm {
 public:
  explicit HqqAlgorithm(const nlohmann::json& options) {
    OptionReader r(options, "hqq");
    opt_.lp_norm = r.get_double("lp_norm", opt_.lp_norm, 1e-3, 1.0);
    opt_.beta = r.get_double("beta", opt_.beta, 1e-6, 1e9);
    opt_.kappa = r.get_double("kappa", opt_.kappa, 1.0, 10.0);
    opt_.iters = r.get_int("iters", opt_.iters, 0, 10000);
    opt_.early_stop = r.get_bool("early_stop", opt_.early_stop);
    opt_.optimize_scale = r.get_bool("optimize_scale", opt_.optimize_scale);
    opt_.integer_zero = r.get_bool("integer_zero", opt_.integer_zero);
    r.finish();
  }
  std::string name() const override { return "hqq"; }
  bool needs_calibration() const override { return false; }
  nlohmann::json options() const override {
    return {{"lp_norm", opt_.lp_norm}, {"beta", opt_.beta}, {"kappa", opt_.kappa}, {"iters", opt_.iters},
            {"early_stop", opt_.early_stop}, {"optimize_scale", opt_.optimize_scale}, {"integer_zero", opt_.integer_zero}};
  }
  LayerResult quantize(const torch::Tensor& weight, const calib::InputStats*, const IntGrid& grid,
                       const std::string& where) const override {
    auto r = hqq_quantize(weight, grid, opt_, where);
    LayerResult out;
    out.q = std::move(r.q);
    out.report = {{"updates", r.updates_kept}, {"l1_start", r.l1_trace.front()}, {"l1_end", r.l1_trace[r.updates_kept]}};
    return out;
  }

 private:
  HqqOptions opt_;
};

}  // namespace

std::unique_ptr<Algorithm> make_hqq(const nlohmann::json& options) { return std::make_unique<HqqAlgorithm>(options); }

}  // namespace ptq::algo
