// KL divergence and perplexity against model size: every run of the report at its stored size
// (metrics' model_bytes), mixed-precision runs (a budget sweep) joined as a line per method, and
// reference points measured elsewhere (llama.cpp's mixes: ptq export --type q4_k_m ..., then
// ptq eval --reference) drawn as labelled triangles, so a budget sweep reads as a front against them.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace ptq::report {

struct ReferencePoint {
  std::string label;  // "q4_k_m+imatrix"
  double bytes = 0;   // stored size
  double kl = 0;      // mean KL to FP (0: not measured)
  double ppl = 0;     // perplexity (0: not measured)
};

// CSV with a header naming at least label and bytes, and kl and/or ppl (other columns ignored).
// Throws ptq::Error naming the file and line for a missing column or a value that is not a number.
std::vector<ReferencePoint> read_reference_points(const std::string& path);

// metric "kl" or "ppl" on `text` (the table's text names). Empty when no run and no reference point
// has the metric.
std::string size_plot_svg(const nlohmann::json& table, const std::string& text, const std::string& metric,
                          const std::vector<ReferencePoint>& refs);

}  // namespace ptq::report
