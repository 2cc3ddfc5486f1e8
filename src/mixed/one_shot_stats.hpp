// One-shot calibration statistics (every linear layer's input Hessian on the FP model's own
// activations), computed the way `ptq quantize --one-shot` stores them, or reused when the file's
// provenance matches: what the sensitivity proxy, GPTQ per candidate and the allocation's mixes use.
#pragma once
#include <iosfwd>
#include <string>

#include "calibration/samples.hpp"
#include "data/text_source.hpp"

namespace ptq::mixed {

// stats "" -> the statistics cache's file for this provenance. scratch: a directory this call may
// create and removes (the calibration's throw-away quantized output). Returns the statistics path.
std::string one_shot_stats(const std::string& model, const std::string& tokenizer, const data::TextSourceSpec& calib,
                           const calib::SamplingSpec& sampling, const std::string& stats, const std::string& scratch,
                           std::ostream& log);

}  // namespace ptq::mixed
