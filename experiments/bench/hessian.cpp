// Hessian accumulation: X^T X of 4096 channels over 128 x 2048 calibration tokens, fed one sample
// (2048 tokens) at a time through InputStats::add as calibration does (the per-channel sums
// included). Prints GFLOP/s next to the sgemm peak measured in the same run; goal >= 60 % of peak.
// Usage: bench_hessian [--threads N] [--channels 4096] [--samples 128] [--seqlen 2048]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "bench_common.hpp"
#include "calibration/input_stats.hpp"
#include "core/threads.hpp"

using ptq::bench::Clock;

int main(int argc, char** argv) {
  int threads = 0;
  int64_t channels = 4096, samples = 128, seqlen = 2048;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--channels")) channels = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--samples")) samples = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--seqlen")) seqlen = std::atoll(argv[++i]);
  }
  threads = ptq::set_threads(threads);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  const double peak = ptq::bench::sgemm_peak_gflops();
  // A few distinct activation batches, reused: generating 1 G random numbers would dominate.
  std::vector<torch::Tensor> batches;
  for (int i = 0; i < 4; ++i) batches.push_back(torch::randn({seqlen, channels}) * torch::rand({channels}) * 3);

  ptq::calib::InputStats stats(channels, false);
  auto t = Clock::now();
  for (int64_t s = 0; s < samples; ++s) stats.add(batches[s % batches.size()], "bench");
  const double total = ptq::bench::seconds_since(t);
  // Upper triangle of x^T x as syrk computes it: N * C * (C + 1) flops.
  const double flops = double(samples) * seqlen * channels * (channels + 1);
  std::printf("threads %d, sgemm peak %.1f GFLOP/s\n", threads, peak);
  std::printf("Hessian accumulation, %lld channels over %lld x %lld tokens: %.2f s, %.1f GFLOP/s = %.0f%% of peak "
              "(statistics included; goal 60%%)\n",
              (long long)channels, (long long)samples, (long long)seqlen, total, flops / total / 1e9,
              100 * flops / total / 1e9 / peak);
  auto H = stats.hessian();
  std::printf("check: H symmetric %s, trace %.4g\n", torch::equal(H, H.t()) ? "yes" : "NO", H.trace().item<double>());
  return 0;
}
