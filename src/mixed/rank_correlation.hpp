// Spearman's rank correlation (Pearson's correlation of the ranks, ties given their mean rank), for
// how well the cheap proxy orders the measured costs.
#pragma once
#include <vector>

namespace ptq::mixed {

// Mean ranks (1-based) of v.
std::vector<double> ranks(const std::vector<double>& v);
// NaN when fewer than 2 pairs or a side is constant; throws ptq::Error on unequal lengths.
double spearman(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace ptq::mixed
