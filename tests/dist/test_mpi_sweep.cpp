// ptq run under mpirun -np 2: the sweep's points go round the ranks (one point per rank at a time),
// rank 0 writes the report with every point, and a second run resumes (nothing is redone).
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/shared_data.hpp"

namespace fs = std::filesystem;

namespace {

std::pair<int, std::string> sh(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  std::array<char, 4096> buf{};
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int rc = pclose(p);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc), out};
}

}  // namespace

TEST_CASE("ptq run on 2 MPI ranks: every sweep point once, one report, resume", "[dist][mpi][sweep]") {
  if (sh("command -v mpirun").first != 0) {
    if (ptq::test::shared_required()) FAIL("mpirun is absent (PTQ_REQUIRE_SHARED=1): install openmpi-bin");
    WARN("SKIPPED: mpirun is absent (scripts/install-deps.sh installs openmpi-bin)");
    return;
  }
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(text, "text/tinystories_valid_eval.txt");
  const std::string dir = ptq::test::scratch_dir("dist-sweep");
  std::ofstream(dir + "/sweep.yaml") << "name: s\noutput: " << dir << "/out\nmodel: " << model
                                     << "\npipeline:\n  - {algorithm: rtn, bits: 4, group_size: 32}\n"
                                     << "eval: {perplexity: {texts: [" << text << "], protocol: llamacpp, seqlen: 128, max_windows: 4}}\n"
                                     << "sweep: {pipeline.0.bits: [4, 3, 2]}\n";
  const char* build = std::getenv("PTQ_BUILD_DIR");
  const std::string cmd = "env OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader timeout 300 "
                          "mpirun -np 2 --oversubscribe " + std::string(build ? build : PTQ_SOURCE_DIR "/build") +
                          "/ptq --threads 1 run " + dir + "/sweep.yaml";
  auto r = sh(cmd);
  INFO(r.second);
  REQUIRE(r.first == 0);
  for (const char* p : {"fp", "bits=4", "bits=3", "bits=2"}) CHECK(fs::exists(fs::path(dir) / "out/s/runs" / p / "metrics.json"));
  // Rank 0's report has all four rows (two of them run on rank 1).
  std::ifstream md(dir + "/out/s/report/report.md");
  const std::string report((std::istreambuf_iterator<char>(md)), {});
  for (const char* row : {"| fp |", "| bits=4 |", "| bits=3 |", "| bits=2 |"}) CHECK_THAT(report, Catch::Contains(row));
  const auto again = sh(cmd);
  INFO(again.second);
  REQUIRE(again.first == 0);
  CHECK_THAT(again.second, Catch::Contains("run fp: finished earlier") && !Catch::Contains(" ...\n"));
}
