// Combining the statistics that several ranks took on their shards of the calibration windows.
// Rank 0 receives every rank's exact sums in rank order and merges them (ExactSum: the totals equal
// one process's bit for bit), then sends the totals, as the store keeps them (xtx rounded to its
// dtype, the per-channel sums to fp64), to the ranks that quantize a linear layer reading each input.
// Bytes per input of C channels: 16 C^2 from each rank to rank 0, 4 C^2 (8 with fp64) to each
// rank that wants it.
#pragma once
#include <map>
#include <set>
#include <string>

#include "calibration/input_stats.hpp"

namespace ptq::calib {

// After the call, `inputs` holds on rank 0 every input's total and on another rank the totals of the
// inputs whose `wanted_by` set names it (the others are removed). `where` names the layer or stage
// in errors. In a world of one: nothing changes.
void combine_stats_across_ranks(std::map<std::string, InputStats>& inputs,
                                const std::map<std::string, std::set<int>>& wanted_by, const std::string& where);

}  // namespace ptq::calib
