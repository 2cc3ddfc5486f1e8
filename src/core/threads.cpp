#include "core/threads.hpp"

#include <torch/torch.h>

#include <thread>

extern "C" void openblas_set_num_threads(int);

namespace ptq {

int hardware_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

int set_threads(int n) {
  if (n <= 0) n = hardware_threads();
  torch::set_num_threads(n);
  openblas_set_num_threads(n);
  return n;
}

}  // namespace ptq
