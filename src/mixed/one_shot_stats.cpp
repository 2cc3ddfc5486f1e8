#include "mixed/one_shot_stats.hpp"

#include <filesystem>

#include "pipeline/quantize_model.hpp"

namespace ptq::mixed {

std::string one_shot_stats(const std::string& model, const std::string& tokenizer, const data::TextSourceSpec& calib,
                           const calib::SamplingSpec& sampling, const std::string& stats, const std::string& scratch,
                           std::ostream& log) {
  pipeline::QuantizeSpec q;
  q.model = model;
  q.tokenizer = tokenizer;
  q.calib = calib;
  q.sampling = sampling;
  q.calibration.mode = "one-shot";
  q.stats = stats;
  // The cheapest quantizer: its output is thrown away, the statistics are what is kept.
  q.algorithm = "rtn";
  q.grid.bits = 8;
  q.grid.group_size = 0;
  q.out = scratch;
  const auto summary = pipeline::quantize_model(q, log);
  std::filesystem::remove_all(scratch);
  return summary.stats_path;
}

}  // namespace ptq::mixed
