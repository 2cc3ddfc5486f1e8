// What every quantization algorithm presents to the pipeline. An algorithm gets one linear layer's
// weight, the statistics of its input (absent for data-free algorithms) and a grid, and returns the
// quantized layer with what it wants reported; it never sees files or the architecture's names.
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "algorithms/common/quantized_linear.hpp"
#include "calibration/input_stats.hpp"

namespace ptq::algo {

struct LayerResult {
  QuantizedLinear q;
  nlohmann::json report = nlohmann::json::object();  // algorithm-specific figures (damping, ...)
  std::string warning;  // said loudly by the pipeline and kept in the report (an RTN fallback, ...)
};

class Algorithm {
 public:
  virtual ~Algorithm() = default;
  virtual std::string name() const = 0;
  virtual bool needs_calibration() const = 0;
  // True for algorithms matching the full-precision model's outputs (GPTAQ): sequential calibration
  // then carries the FP model's hidden states alongside and sets InputStats::fp_cross().
  virtual bool needs_fp_inputs() const { return false; }
  // The options in force, defaults included: part of the run's provenance.
  virtual nlohmann::json options() const = 0;
  // `stats` is null only when needs_calibration() is false and no calibration ran. `where` names the
  // layer in errors.
  virtual LayerResult quantize(const torch::Tensor& weight, const calib::InputStats* stats, const IntGrid& grid,
                               const std::string& where) const = 0;
};

// Reads an algorithm's options from a JSON object, rejecting unknown keys and wrong types with the
// algorithm's name, the key and a did-you-mean.
class OptionReader {
 public:
  OptionReader(const nlohmann::json& options, std::string where);
  bool get_bool(const std::string& key, bool fallback);
  int get_int(const std::string& key, int fallback, int lo, int hi);
  double get_double(const std::string& key, double fallback, double lo, double hi);
  std::string get_string(const std::string& key, const std::string& fallback);
  void finish() const;  // throws for any key no getter asked for

 private:
  const nlohmann::json& at(const std::string& key);
  nlohmann::json options_;
  std::string where_;
  std::vector<std::string> known_;
};

}  // namespace ptq::algo
