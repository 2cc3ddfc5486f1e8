// Catch2 entry point shared by every test executable: sets the thread count like the CLI does.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>

#include "core/threads.hpp"

int main(int argc, char* argv[]) {
  const char* t = std::getenv("PTQ_THREADS");
  ptq::set_threads(t ? std::atoi(t) : 0);
  return Catch::Session().run(argc, argv);
}
