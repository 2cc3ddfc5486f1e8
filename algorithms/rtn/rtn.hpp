// Round to nearest: each group's parameters fitted to its weights, each weight rounded on its own.
// The baseline every other algorithm is measured against.
#pragma once
#include "algorithms/common/quantized_linear.hpp"

namespace ptq::algo {

QuantizedLinear rtn_quantize(const torch::Tensor& weight, const IntGrid& grid);

}  // namespace ptq::algo
