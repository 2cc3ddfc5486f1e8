// Thread settings. LibTorch starts with one intra-op thread on this platform and OpenBLAS keeps its
// own pool that ignores LibTorch's setting, so both are set explicitly, once, at start-up.
#pragma once
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace ptq {

// n <= 0 means every core. Returns the number of threads in force.
int set_threads(int n);
int hardware_threads();

// Runs f(begin, end) on [0, n) cut into contiguous ranges of at least `grain`, one per thread
// (at::get_num_threads() of them, the calling thread included); the first exception is rethrown.
// Not at::parallel_for: with LibTorch's OpenMP backend that template runs in parallel only in code
// compiled with -fopenmp, which this project is not, so there it would run on one thread.
template <typename F>
void parallel_ranges(int64_t n, int64_t grain, const F& f) {
  const int64_t threads = std::min<int64_t>(at::get_num_threads(), n / std::max<int64_t>(grain, 1));
  if (threads <= 1) {
    if (n > 0) f(int64_t{0}, n);
    return;
  }
  std::vector<std::exception_ptr> errors(threads);
  auto run = [&](int64_t t) {
    try {
      f(n * t / threads, n * (t + 1) / threads);
    } catch (...) {
      errors[t] = std::current_exception();
    }
  };
  std::vector<std::thread> workers;
  for (int64_t t = 1; t < threads; ++t) {
    try {
      workers.emplace_back(run, t);
    } catch (const std::system_error&) {
      run(t);  // no thread to be had: do that range here
    }
  }
  run(0);
  for (auto& w : workers) w.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace ptq
