// Thread settings. LibTorch starts with one intra-op thread on this platform and OpenBLAS keeps its
// own pool that ignores LibTorch's setting, so both are set explicitly, once, at start-up.
#pragma once

namespace ptq {

// n <= 0 means every core. Returns the number of threads in force.
int set_threads(int n);
int hardware_threads();

}  // namespace ptq
