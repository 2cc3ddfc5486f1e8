// Before a long command does any work: the resource estimate (model/resource_estimate.hpp) printed
// to the log, and a refusal naming what is short when memory or the output's disk cannot suffice.
#pragma once
#include <iosfwd>
#include <string>

#include "pipeline/quantize_model.hpp"

namespace ptq::cli {

void preflight_quantize(const pipeline::QuantizeSpec& spec, std::ostream& log);
void preflight_eval(const std::string& model, int64_t windows, int seqlen, int batch, bool with_reference,
                    std::ostream& log);
// Bits per weight of a GGUF type name from ggmls block table ("q4_0" 4.5); a llama.cpp mix
// (q4_k_m) counts as its base type (q4_k), a lower bound for the mix. 16 for an unknown name.
double gguf_bits_per_weight(const std::string& type);

// bits_per_weight of the decoder layers' output format (e.g. 4.5 for q4_0).
void preflight_export(const std::string& model, double bits_per_weight, const std::string& out, std::ostream& log);

}  // namespace ptq::cli
