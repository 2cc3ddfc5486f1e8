// RTN as a registered algorithm: data-free, no options.
#include "algorithms/registry.hpp"
#include "algorithms/rtn/rtn.hpp"

namespace ptq::algo {

namespace {

class RtnAlgorithm : public Algorithm {
 public:
  explicit RtnAlgorithm(const nlohmann::json& options) { OptionReader(options, "rtn").finish(); }
  std::string name() const override { return "rtn"; }
  bool needs_calibration() const override { return false; }
  nlohmann::json options() const override { return nlohmann::json::object(); }
  LayerResult quantize(const torch::Tensor& weight, const calib::InputStats*, const IntGrid& grid,
                       const std::string& where) const override {
    grid.validate(where);
    return {rtn_quantize(weight, grid), nlohmann::json::object(), ""};
  }
};

}  // namespace

std::unique_ptr<Algorithm> make_rtn(const nlohmann::json& options) { return std::make_unique<RtnAlgorithm>(options); }

}  // namespace ptq::algo
