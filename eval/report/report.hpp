// The comparison report of an experiment's runs, from their metrics.json (experiment/run_point):
//   report.md / report.csv / report.json  one row per run: method, bits, group size, bits per weight
//     (scales and zeros counted, eval/report/bits_per_weight), model size, perplexity per text with
//     its standard error, ΔPPL and KL divergence to the FP run, task accuracy when a run has
//     "tasks", quantization time and peak memory; "front" marks the Pareto front (bpw vs PPL).
//   ppl_vs_bpw[_<text>].svg  perplexity against bits per weight, the Pareto front marked, the FP
//     perplexity as a reference line; a log scale when perplexity spans more than a factor 4.
//   kl_vs_size / ppl_vs_size[_<text>].svg  KL and perplexity against model size when a run is a
//     mixed-precision budget sweep or reference points are given (eval/report/size_plots.hpp).
//   layer_error.svg  relative output error ||(W - Q) X||² / ||W X||² of every linear layer, by
//     layer, one line per run (log scale).
//   report.html  one self-contained page holding the table and the plots.
// Rows are ordered by experiment, then the plan's order (the FP baseline first).
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "eval/report/size_plots.hpp"

namespace ptq::report {

// {"texts": [...], "tasks": [...], "rows": [{run, experiment, method, bits, group_size, ...}]}.
nlohmann::json build_table(const std::vector<nlohmann::json>& metrics);
std::string table_markdown(const nlohmann::json& table);
std::string table_csv(const nlohmann::json& table);

std::string ppl_plot_svg(const nlohmann::json& table, const std::string& text);
// Empty when no run has per-layer output errors.
std::string layer_error_svg(const std::vector<nlohmann::json>& metrics);

struct ReportResult {
  std::string markdown;
  nlohmann::json table;
  std::vector<std::string> files;
};
// refs: reference points for the size plots, besides those runs carry ("reference_points" in
// metrics.json, from a mixed_precision step).
ReportResult write_report(const std::string& out_dir, const std::vector<nlohmann::json>& metrics,
                          const std::vector<ReferencePoint>& refs = {});

// metrics.json of every run under the given directories: an experiment directory (runs/*), a run
// directory, or a metrics.json file. Throws naming a directory holding none.
std::vector<nlohmann::json> collect_metrics(const std::vector<std::string>& paths);

}  // namespace ptq::report
