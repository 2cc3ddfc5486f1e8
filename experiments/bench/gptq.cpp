// GPTQ on one 4096 x 4096 layer with a given Hessian (w4, group 128, act-order): seconds, and the
// GFLOP/s of its block updates next to the sgemm peak measured in the same run, and where the time
// went (factoring H^-1, the column loops, the block updates).
// Usage: bench_gptq [--threads N] [--n 4096]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "algorithms/gptq/gptq.hpp"
#include "core/threads.hpp"

using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  int threads = 0;
  int64_t n = 4096;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--n") && i + 1 < argc) n = std::atoll(argv[++i]);
  }
  threads = ptq::set_threads(threads);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  auto a = torch::randn({2048, 2048}), b = torch::randn({2048, 2048});
  torch::mm(a, b);
  double peak = 0;
  for (int r = 0; r < 5; ++r) {
    auto t = Clock::now();
    torch::mm(a, b);
    peak = std::max(peak, 2.0 * 2048 * 2048 * 2048 / std::chrono::duration<double>(Clock::now() - t).count() / 1e9);
  }
  auto X = torch::randn({2 * n, n});
  auto H = 2.0 / X.size(0) * X.t().matmul(X);
  auto W = torch::randn({n, n}) * 0.02;
  ptq::algo::IntGrid g;
  g.bits = 4;
  g.group_size = 128;
  ptq::algo::GptqOptions opt;
  opt.act_order = true;
  auto t = Clock::now();
  auto r = ptq::algo::gptq_quantize(W, H, g, opt);
  const double s = std::chrono::duration<double>(Clock::now() - t).count();
  // Lazy block updates: W[:, i2:] -= Err1 (n x 128) @ Hinv[i1:i2, i2:], summed over blocks.
  double flops = 0;
  for (int64_t i1 = 0; i1 < n; i1 += opt.block_size) flops += 2.0 * n * opt.block_size * double(n - i1 - opt.block_size > 0 ? n - i1 - opt.block_size : 0);
  std::printf("threads %d, sgemm peak %.1f GFLOP/s\n", threads, peak);
  std::printf("GPTQ %lldx%lld w4 g128 act-order: %.3f s total; block updates %.1f GFLOP = %.1f GFLOP/s if they took all of it (%.0f%% of peak)\n",
              (long long)n, (long long)n, s, flops / 1e9, flops / s / 1e9, 100 * flops / s / 1e9 / peak);
  const auto& tm = r.timing;
  std::printf("  of which: H^-1 factor %.3f s (%.0f%%), column loops %.3f s (%.0f%%), block updates %.3f s (%.0f%%, %.1f GFLOP/s), rest %.3f s\n",
              tm.factor_s, 100 * tm.factor_s / s, tm.columns_s, 100 * tm.columns_s / s, tm.update_s, 100 * tm.update_s / s,
              tm.update_s > 0 ? flops / tm.update_s / 1e9 : 0.0, s - tm.factor_s - tm.columns_s - tm.update_s);
  std::printf("relative output error %.5f, damping %.4g\n", ptq::algo::relative_output_error(W, r.q.dequantize(), H), r.damp);
  return 0;
}
