// ptq run under mpirun -np 2: the sweep's points go round the ranks (one point per rank at a time),
// rank 0 writes the report with every point, and a second run resumes (nothing is redone).
#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/mpirun.hpp"
#include "support/shared_data.hpp"

namespace fs = std::filesystem;


TEST_CASE("ptq run on 2 MPI ranks: every sweep point once, one report, resume", "[dist][mpi][sweep]") {
  REQUIRE_MPIRUN();
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(text, "text/tinystories_valid_eval.txt");
  const std::string dir = ptq::test::scratch_dir("dist-sweep");
  std::ofstream(dir + "/sweep.yaml") << "name: s\noutput: " << dir << "/out\nmodel: " << model
                                     << "\npipeline:\n  - {algorithm: rtn, bits: 4, group_size: 32}\n"
                                     << "eval: {perplexity: {texts: [" << text << "], protocol: llamacpp, seqlen: 128, max_windows: 4}}\n"
                                     << "sweep: {pipeline.0.bits: [4, 3, 2]}\n";
  const std::string cmd = ptq::test::mpirun2() + "run " + dir + "/sweep.yaml";
  auto r = ptq::test::run_shell(cmd);
  INFO(r.output);
  REQUIRE(r.status == 0);
  for (const char* p : {"fp", "bits=4", "bits=3", "bits=2"}) CHECK(fs::exists(fs::path(dir) / "out/s/runs" / p / "metrics.json"));
  // Rank 0's report has all four rows (two of them run on rank 1).
  std::ifstream md(dir + "/out/s/report/report.md");
  const std::string report((std::istreambuf_iterator<char>(md)), {});
  for (const char* row : {"| fp |", "| bits=4 |", "| bits=3 |", "| bits=2 |"}) CHECK_THAT(report, Catch::Contains(row));
  const auto again = ptq::test::run_shell(cmd);
  INFO(again.output);
  REQUIRE(again.status == 0);
  CHECK_THAT(again.output, Catch::Contains("run fp: finished earlier") && !Catch::Contains(" ...\n"));
}
