// Shared by the benchmark programs: wall-clock timing and this machine's sgemm peak, measured in
// the same run as the figure it is compared with.
#pragma once
#include <torch/torch.h>

#include <algorithm>
#include <chrono>

namespace ptq::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Best of 5 n x n x n products after a warm-up, in GFLOP/s.
inline double sgemm_peak_gflops(int64_t n = 2048) {
  torch::NoGradGuard no_grad;
  auto a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
  torch::mm_out(c, a, b);
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    auto t = Clock::now();
    torch::mm_out(c, a, b);
    best = std::max(best, 2.0 * n * n * n / seconds_since(t) / 1e9);
  }
  return best;
}

}  // namespace ptq::bench
