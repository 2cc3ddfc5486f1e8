// ptq under mpirun in the tests: two ranks on however few cores, root allowed (containers, CI),
// shared-memory transport only. Without mpirun a test skips, or fails under PTQ_REQUIRE_SHARED=1.
#pragma once
#include <string>

#include "support/run_ptq.hpp"
#include "support/shared_data.hpp"

namespace ptq::test {

inline bool have_mpirun() { return run_shell("command -v mpirun").status == 0; }

// The command prefix of ptq on 2 ranks, with `env` assignments in front.
inline std::string mpirun2(const std::string& env = "") {
  return "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader " + env +
         " timeout 300 mpirun -np 2 --oversubscribe " + ptq_binary() + " --threads 1 ";
}

}  // namespace ptq::test

#define REQUIRE_MPIRUN()                                                                                           \
  if (!::ptq::test::have_mpirun()) {                                                                               \
    if (::ptq::test::shared_required()) FAIL("mpirun is absent (PTQ_REQUIRE_SHARED=1): install openmpi-bin");      \
    WARN("SKIPPED: mpirun is absent (scripts/install-deps.sh installs openmpi-bin)");                              \
    return;                                                                                                        \
  }
