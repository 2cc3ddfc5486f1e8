#include "calibration/samples.hpp"

#include <random>

#include "core/error.hpp"

namespace ptq::calib {

void SamplingSpec::validate(const std::string& where) const {
  if (n_samples < 1) fail(where, "n_samples must be at least 1, got " + std::to_string(n_samples));
  if (seqlen < 1) fail(where, "seqlen must be at least 1, got " + std::to_string(seqlen));
  if (method != "random" && method != "consecutive") {
    fail(where, "sampling must be 'random' or 'consecutive', got '" + method + "'");
  }
}

torch::Tensor draw_samples(const std::vector<int>& tokens, const SamplingSpec& spec, const std::string& where) {
  spec.validate(where);
  const int64_t have = static_cast<int64_t>(tokens.size());
  const int64_t need = spec.method == "consecutive" ? int64_t(spec.n_samples) * spec.seqlen : spec.seqlen + 1;
  if (have < need) {
    fail(where, "too short for calibration: it has " + std::to_string(have) + " tokens, " +
                    std::to_string(spec.n_samples) + " " + spec.method + " windows of " +
                    std::to_string(spec.seqlen) + " tokens need at least " + std::to_string(need));
  }
  auto out = torch::empty({spec.n_samples, spec.seqlen}, torch::kInt64);
  auto* o = out.data_ptr<int64_t>();
  // mt19937_64's output sequence is fixed by the C++ standard; the distributions are not, so the
  // start is reduced by hand: the same seed gives the same windows with every compiler.
  std::mt19937_64 rng(spec.seed);
  const uint64_t starts = static_cast<uint64_t>(have - spec.seqlen);  // random: start in [0, have - seqlen)
  for (int s = 0; s < spec.n_samples; ++s) {
    const int64_t begin = spec.method == "consecutive" ? int64_t(s) * spec.seqlen : static_cast<int64_t>(rng() % starts);
    for (int t = 0; t < spec.seqlen; ++t) o[int64_t(s) * spec.seqlen + t] = tokens[begin + t];
  }
  return out;
}

}  // namespace ptq::calib
