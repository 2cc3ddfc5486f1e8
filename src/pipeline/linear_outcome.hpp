// One linear layer's quantization result as ranks exchange it (weight-parallel quantization), and
// the cost model that assigns linear layers to ranks.
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "algorithms/common/quantized_linear.hpp"
#include "dist/messages.hpp"

namespace ptq::pipeline {

struct LinearOutcome {
  algo::QuantizedLinear q;
  nlohmann::json row;   // the quant_report.json row
  std::string warning;
};

// Bit for bit: codes, scales, zeros, g_idx and the grid travel as they are.
dist::Bytes pack_outcome(const LinearOutcome& o);
LinearOutcome unpack_outcome(const dist::Bytes& b, const std::string& where);

// Relative cost of quantizing an [out, in] weight: GPTQ-family O(out in^2 + in^3) (the column loop
// with its updates, and the Cholesky inverse of the [in, in] Hessian); grid fitting (RTN, HQQ's
// fixed number of sweeps) O(out in).
double quantize_cost(const std::string& algorithm, int64_t out, int64_t in);

}  // namespace ptq::pipeline
