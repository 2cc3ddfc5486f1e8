// ptq under mpirun -np 2 (oversubscribed on this machine's cores) against one plain process on
// stories260K: quantized outputs byte for byte, perplexity and KL to the last bit, and faults (a
// rank that fails, dies or hangs) ending the job with a message naming the rank and the step and
// leaving no output behind.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "support/mpirun.hpp"
#include "support/shared_data.hpp"

namespace fs = std::filesystem;

namespace {

using ::ptq::test::mpirun2;
using ::ptq::test::ptq_binary;
const auto shell = ::ptq::test::run_shell;

std::string plain() { return "timeout 300 " + ptq_binary() + " --threads 1 "; }

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every safetensors shard of two quantized directories, byte for byte.
void check_same_shards(const std::string& a, const std::string& b) {
  int shards = 0;
  for (const auto& e : fs::directory_iterator(a)) {
    if (e.path().extension() != ".safetensors") continue;
    ++shards;
    INFO(e.path().filename().string());
    REQUIRE(fs::exists(fs::path(b) / e.path().filename()));
    CHECK(read_bytes(e.path()) == read_bytes(fs::path(b) / e.path().filename()));
  }
  CHECK(shards == 6);  // stories260K: 5 layers and the rest
}

void check_nothing_left(const std::string& dir, const std::string& name) {
  CHECK_FALSE(fs::exists(fs::path(dir) / name));
  for (const auto& e : fs::directory_iterator(dir)) CHECK(e.path().filename().string().find(".partial-") == std::string::npos);
}

}  // namespace

TEST_CASE("mpirun -np 2 quantizes as one process does: RTN, GPTQ sequential and one-shot, AWQ", "[dist][mpi]") {
  REQUIRE_MPIRUN();
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(calib, "text/tinystories_valid_calib.txt");
  const std::string dir = ptq::test::scratch_dir("dist-quantize");
  // 18 windows in batches of 4: 5 batches, split 2 / 3 between the ranks.
  const std::string cal = " --calib " + calib + " --n-samples 18 --seqlen 64 --calib-batch 4";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"rtn", "--algo rtn --bits 4 --group-size 32"},
      {"gptq", "--algo gptq --bits 3 --group-size 32 --act-order" + cal},
      {"gptq-oneshot", "--algo gptq --bits 4 --group-size 0 --one-shot" + cal},
      {"awq", "--algo awq --bits 4 --group-size 32" + cal},
  };
  for (const auto& [name, args] : cases) {
    SECTION(name) {
      // Separate statistics files: each run computes its own.
      const auto one = shell(plain() + "quantize -m " + model + " " + args + " --stats " + dir + "/" + name + "-1.h5 --out " + dir + "/" + name + "-1");
      INFO(one.output);
      REQUIRE(one.status == 0);
      const auto two = shell(mpirun2() + "quantize -m " + model + " " + args + " --stats " + dir + "/" + name + "-2.h5 --out " + dir + "/" + name + "-2");
      INFO(two.output);
      REQUIRE(two.status == 0);
      check_same_shards(dir + "/" + name + "-1", dir + "/" + name + "-2");
      // The report lists every linear layer once, in order, whichever rank quantized it.
      const auto r1 = nlohmann::json::parse(read_bytes(dir + "/" + name + "-1/quant_report.json"));
      const auto r2 = nlohmann::json::parse(read_bytes(dir + "/" + name + "-2/quant_report.json"));
      REQUIRE(r1["layers"].size() == 35);
      REQUIRE(r2["layers"].size() == 35);
      for (size_t i = 0; i < 35; ++i) {
        CHECK(r1["layers"][i]["name"] == r2["layers"][i]["name"]);
        if (r1["layers"][i].contains("rel_output_error")) CHECK(r1["layers"][i]["rel_output_error"] == r2["layers"][i]["rel_output_error"]);
      }
    }
  }
}

TEST_CASE("mpirun -np 2 evaluates perplexity and KL as one process does", "[dist][mpi]") {
  REQUIRE_MPIRUN();
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(text, "text/tinystories_valid_eval.txt");
  SHARED_FILE(calib, "text/tinystories_valid_calib.txt");
  const std::string dir = ptq::test::scratch_dir("dist-eval");
  REQUIRE(shell(plain() + "quantize -m " + model + " --algo rtn --bits 3 --group-size 32 --out " + dir + "/q").status == 0);
  // 13 windows in batches of 4: the ranks score 8 and 5.
  const std::string args = "eval -m " + dir + "/q --reference " + model + " --text " + text + " --seqlen 128 --max-windows 13 --batch 4 --json ";
  const auto one = shell(plain() + args + dir + "/one.json");
  INFO(one.output);
  REQUIRE(one.status == 0);
  const auto two = shell(mpirun2() + args + dir + "/two.json");
  INFO(two.output);
  REQUIRE(two.status == 0);
  const auto a = nlohmann::json::parse(read_bytes(dir + "/one.json"))["texts"][0];
  const auto b = nlohmann::json::parse(read_bytes(dir + "/two.json"))["texts"][0];
  CHECK(a["windows"] == 13);
  CHECK(a["tokens_scored"] == b["tokens_scored"]);
  // Exactly: the same doubles, not close ones.
  for (const char* k : {"mean_nll", "nll_stderr", "ppl", "ppl_stderr"}) {
    INFO(k);
    CHECK(a[k].get<double>() == b[k].get<double>());
  }
  // KL: every statistic but the time taken.
  auto ka = a["kl_divergence"], kb = b["kl_divergence"];
  REQUIRE(ka.contains("mean_kl"));
  ka.erase("seconds"), kb.erase("seconds");
  CHECK(ka.dump() == kb.dump());
  // Rank 0 alone prints: one table row, one KL report.
  size_t rows = 0;
  for (size_t p = two.output.find("tinystories_valid_eval.txt"); p != std::string::npos; p = two.output.find("tinystories_valid_eval.txt", p + 1)) ++rows;
  CHECK(rows == 1);
}

TEST_CASE("a failed, killed or hung rank ends the job naming the rank and the step, leaving no output", "[dist][mpi][fault]") {
  REQUIRE_MPIRUN();
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(calib, "text/tinystories_valid_calib.txt");
  const std::string dir = ptq::test::scratch_dir("dist-fault");
  const std::string args = "quantize -m " + model + " --algo gptq --bits 4 --calib " + calib +
                           " --n-samples 8 --seqlen 64 --calib-batch 2 --stats " + dir + "/s.h5 --out " + dir + "/q";
  SECTION("a rank that fails") {
    const auto r = shell(mpirun2("PTQ_FAULT='dist:rank1:calibrate layer 1 stage 2'") + args);
    INFO(r.output);
    CHECK(r.status != 0);
    CHECK_THAT(r.output, Catch::Contains("rank 1, step 'calibrate layer 1 stage 2'"));
    check_nothing_left(dir, "q");
  }
  SECTION("a rank that dies") {
    const auto r = shell(mpirun2("PTQ_FAULT='dist:rank1:calibrate layer 1 stage 2:kill'") + args);
    INFO(r.output);
    CHECK(r.status != 0);
    // mpirun names the dead rank; rank 0 names the step it was stopped in.
    CHECK_THAT(r.output, Catch::Contains("rank 1") && Catch::Contains("rank 0 stopped by the MPI launcher during step '"));
    check_nothing_left(dir, "q");
  }
  SECTION("a rank that hangs") {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = shell(mpirun2("PTQ_MPI_TIMEOUT=5 PTQ_FAULT='dist:rank1:calibrate layer 0 stage 1:hang'") + args);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    INFO(r.output);
    CHECK(r.status != 0);
    CHECK(secs < 60);
    CHECK_THAT(r.output, Catch::Contains("no answer from rank 1 within 5 s") &&
                             Catch::Contains("rank 0, step 'combine statistics of model.layers.0"));
    check_nothing_left(dir, "q");
  }
}
