// GPTQ as a registered algorithm: reads the Hessian of the layer's input from the statistics.
#include <cmath>

#include "algorithms/gptq/gptq.hpp"
#include "algorithms/registry.hpp"

namespace ptq::algo {

namespace {

class GptqAlgorithm : public Algorithm {
 public:
  explicit GptqAlgorithm(const nlohmann::json& options) {
    OptionReader r(options, "gptq");
    opt_.block_size = r.get_int("block_size", opt_.block_size, 1, 1 << 20);
    opt_.damp_percent = r.get_double("damp_percent", opt_.damp_percent, 0.0, 10.0);
    opt_.act_order = r.get_bool("act_order", opt_.act_order);
    opt_.static_groups = r.get_bool("static_groups", opt_.static_groups);
    r.finish();
  }
  std::string name() const override { return "gptq"; }
  bool needs_calibration() const override { return true; }
  nlohmann::json options() const override {
    return {{"block_size", opt_.block_size}, {"damp_percent", opt_.damp_percent},
            {"act_order", opt_.act_order}, {"static_groups", opt_.static_groups}};
  }
  LayerResult quantize(const torch::Tensor& weight, const calib::InputStats* stats, const IntGrid& grid,
                       const std::string& where) const override {
    if (!stats || stats->empty()) fail(where, "GPTQ needs calibration statistics (pass --calib)");
    auto r = gptq_quantize(weight, stats->hessian(), grid, opt_, where);
    LayerResult out;
    out.q = std::move(r.q);
    out.report = {{"damp", r.damp}, {"damp_retries", r.damp_retries}, {"fell_back_to_rtn", r.fell_back_to_rtn}};
    if (r.fell_back_to_rtn) out.warning = r.note;
    else if (r.damp_retries > 0) out.warning = where + ": Hessian needed damping x" + std::to_string(int(std::pow(10, r.damp_retries))) + " to factor";
    return out;
  }

 private:
  GptqOptions opt_;
};

}  // namespace

std::unique_ptr<Algorithm> make_gptq(const nlohmann::json& options) { return std::make_unique<GptqAlgorithm>(options); }

}  // namespace ptq::algo
