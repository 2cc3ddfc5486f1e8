// ptq sensitivity's output directory: the table as JSON (what --sensitivity reads back), CSV and
// Markdown (tensor x type, measured KL and proxy), a tensor x type heat map of the measured KL (log
// colour scale) and the proxy-vs-measured scatter with Spearman's rank correlation.
#pragma once
#include <string>

#include "mixed/sensitivity.hpp"

namespace ptq::mixed {

// Spearman's rho between proxy and measured KL over the tensor rows that have both (NaN if < 2).
double proxy_rank_correlation(const SensitivityTable& t);

std::string sensitivity_markdown(const SensitivityTable& t);
std::string sensitivity_csv(const SensitivityTable& t);
// Colour = log10 of the measured KL (the proxy when nothing was measured); rows: tensors then layers.
std::string sensitivity_heatmap_svg(const SensitivityTable& t);
std::string proxy_scatter_svg(const SensitivityTable& t);

// Writes sensitivity.{json,csv,md}, sensitivity_heatmap.svg and, with measurements and proxies,
// proxy_vs_kl.svg into dir.
void write_sensitivity_report(const SensitivityTable& t, const std::string& dir);

}  // namespace ptq::mixed
