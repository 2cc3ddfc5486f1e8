// `ptq run` end to end on a synthetic model (no shared data): a sweep {rtn, gptq} x {4, 3} bits x
// {g32, per-channel} computes its one-shot calibration once, reports all runs, and after a kill
// midway a re-run finishes only the missing runs and reports the same numbers as an uninterrupted run.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "io/atomic_file.hpp"
#include "support/shared_data.hpp"
#include "support/synthetic_experiment.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string ptq_binary() {
  const char* build = std::getenv("PTQ_BUILD_DIR");
  return std::string(build ? build : PTQ_SOURCE_DIR "/build") + "/ptq";
}

// Runs ptq with PTQ_CACHE_DIR set (so "computed once" is about this test's cache); status and output.
std::pair<int, std::string> ptq_run(const std::string& cache, const std::string& args) {
  const std::string cmd = "PTQ_CACHE_DIR='" + cache + "' PTQ_PROGRESS=plain " + ptq_binary() + " --threads 2 " + args + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int rc = pclose(p);
  return {WEXITSTATUS(rc), out};
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

size_t finished_runs(const fs::path& runs) {
  size_t n = 0;
  if (!fs::exists(runs)) return 0;
  for (const auto& e : fs::directory_iterator(runs)) n += fs::exists(e.path() / "metrics.json");
  return n;
}

// The report's numbers without what legitimately differs between two runs (time, memory, cache hits).
json deterministic(json table) {
  for (auto& r : table["rows"]) {
    r.erase("quantize_seconds");
    r.erase("peak_rss_mb");
    r.erase("stats_reused");
  }
  return table;
}

const char* kSweep =
    "name: sweep\n"
    "model: model\n"
    "tokenizer: tokenizer.bin\n"
    "calibration: {text: calib.txt, n_samples: 8, seqlen: 64, mode: one-shot}\n"
    "pipeline:\n"
    "  - {algorithm: rtn}\n"
    "eval:\n"
    "  kl_divergence: true\n"
    "  perplexity: {texts: [eval.txt], protocol: gptq, seqlen: 64}\n"
    "export: [{format: gguf, type: q8_0}, {format: gptq}]\n"
    "sweep:\n"
    "  pipeline.0.algorithm: [rtn, gptq]\n"
    "  pipeline.0.bits: [4, 3]\n"
    "  pipeline.0.group_size: [32, 0]\n";

}  // namespace

TEST_CASE("a sweep runs on one calibration, resumes after a kill and reports the same", "[cli][sweep]") {
  REQUIRE(fs::exists(ptq_binary()));
  const std::string dir = ptq::test::scratch_dir("run-sweep");
  const auto s = ptq::test::make_synthetic_experiment(dir);
  std::ofstream(dir + "/sweep.yaml") << kSweep;

  // Uninterrupted.
  auto [rc, out] = ptq_run(dir + "/cache-a", "run " + dir + "/sweep.yaml -o output=" + dir + "/a");
  INFO(out);
  REQUIRE(rc == 0);
  const fs::path a = fs::path(dir) / "a" / "sweep";
  CHECK(finished_runs(a / "runs") == 9);  // the FP baseline and 8 points
  const std::string log_a = ptq::io::read_text_file((a / "experiment.log").string());
  CHECK(count(log_a, "calibration: one-shot statistics (FP activations) are shared: computed once, used by 8 run(s)") == 1);
  CHECK(count(log_a, "calibration: computing statistics") == 1);
  CHECK(count(log_a, "calibration: reusing statistics") == 7);
  const json table_a = json::parse(ptq::io::read_text_file((a / "report" / "report.json").string()));
  REQUIRE(table_a["rows"].size() == 9);
  for (const char* f : {"report.md", "report.csv", "report.html", "ppl_vs_bpw.svg", "layer_error.svg"}) {
    CHECK(fs::exists(a / "report" / f));
  }
  for (const auto& r : table_a["rows"]) {
    INFO(r.dump());
    const double ppl = r["perplexity"]["eval.txt"]["ppl"];
    CHECK(ppl > 1);
    if (r["method"] == "fp") continue;
    CHECK(r["kl_divergence"]["eval.txt"]["mean"].get<double>() > 0);
    CHECK(r["perplexity"]["eval.txt"]["delta"].get<double>() == Approx(ppl - table_a["rows"][0]["perplexity"]["eval.txt"]["ppl"].get<double>()));
  }
  // Every run directory is complete: resolved config, provenance, log, quantized model.
  const fs::path g = a / "runs" / "gptq_bits=3_group_size=32";
  for (const char* f : {"config.yaml", "point.json", "provenance.json", "metrics.json", "run.log", "quantized/quant_report.json",
                        "export/model-q8_0.gguf", "export/model-gptq/config.json", "export/model-gptq/quantize_config.json"}) {
    CHECK(fs::exists(g / f));
  }
  const json m = json::parse(ptq::io::read_text_file((g / "metrics.json").string()));
  CHECK(m["bits"] == 3);
  CHECK(m["bits_per_weight"].get<double>() == Approx(3 + 19.0 / 32));  // fp16 scale + 3-bit zero per 32 weights
  CHECK(m["peak_rss_bytes"].get<double>() > 1e7);
  REQUIRE(m["exports"].size() == 2);
  CHECK(fs::file_size(m["exports"][0]["path"].get<std::string>()) == m["exports"][0]["bytes"].get<uint64_t>());
  CHECK(m["exports"][1]["format"] == "gptq");
  CHECK(m["exports"][1]["packed_layers"] == 14);  // 7 linear layers in each of 2 blocks
  const json gq = json::parse(ptq::io::read_text_file((g / "export/model-gptq/quantize_config.json").string()));
  CHECK(gq["bits"] == 3);
  CHECK(gq["group_size"] == 32);
  CHECK(gq["quant_method"] == "gptq");

  // ptq report rebuilds the same table from the run directories.
  std::tie(rc, out) = ptq_run(dir + "/cache-a", "report " + a.string() + " --out " + dir + "/report-again");
  REQUIRE(rc == 0);
  CHECK(json::parse(ptq::io::read_text_file(dir + "/report-again/report.json")) == table_a);

  // Re-running the identical experiment does nothing but the report.
  std::tie(rc, out) = ptq_run(dir + "/cache-a", "run " + dir + "/sweep.yaml -o output=" + dir + "/a");
  REQUIRE(rc == 0);
  CHECK(count(out, "finished earlier (same config)") == 9);

  // Interrupted: kill the whole process group once three runs are finished, then run again.
  const std::string b_out = dir + "/b";
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    setpgid(0, 0);
    setenv("PTQ_CACHE_DIR", (dir + "/cache-b").c_str(), 1);
    const std::string log = dir + "/b.log";
    freopen(log.c_str(), "w", stdout);
    freopen(log.c_str(), "a", stderr);
    const std::string bin = ptq_binary(), file = dir + "/sweep.yaml", o = "output=" + b_out;
    execl(bin.c_str(), "ptq", "--threads", "2", "run", file.c_str(), "-o", o.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  const fs::path b = fs::path(b_out) / "sweep";
  const auto t0 = std::chrono::steady_clock::now();
  while (finished_runs(b / "runs") < 3 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  const size_t done_before = finished_runs(b / "runs");
  INFO("finished before the kill: " << done_before);
  REQUIRE(done_before >= 3);
  REQUIRE(done_before < 9);

  std::tie(rc, out) = ptq_run(dir + "/cache-b", "run " + dir + "/sweep.yaml -o output=" + b_out);
  INFO(out);
  REQUIRE(rc == 0);
  CHECK(count(out, "finished earlier (same config)") == done_before);
  CHECK(count(out, " ...\n") == 9 - done_before);
  CHECK(finished_runs(b / "runs") == 9);
  const json table_b = json::parse(ptq::io::read_text_file((b / "report" / "report.json").string()));
  CHECK(deterministic(table_b) == deterministic(table_a));
}

TEST_CASE("ptq run --check validates every point and a mistake exits 1 with its location", "[cli][sweep]") {
  REQUIRE(fs::exists(ptq_binary()));
  const std::string dir = ptq::test::scratch_dir("run-check");
  ptq::test::make_synthetic_experiment(dir);
  std::ofstream(dir + "/sweep.yaml") << kSweep;
  auto [rc, out] = ptq_run(dir + "/cache", "run --check " + dir + "/sweep.yaml");
  CHECK(rc == 0);
  CHECK_THAT(out, Catch::Contains("valid; 8 run(s)") && Catch::Contains("gptq_bits=3_group_size=0"));
  std::tie(rc, out) = ptq_run(dir + "/cache", "run -o calibration.n_samples=abc --check " + dir + "/sweep.yaml");
  CHECK(rc == 1);
  CHECK_THAT(out, Catch::Contains("ptq: error: -o calibration.n_samples=abc: calibration.n_samples: expected an integer, got 'abc'"));
}

TEST_CASE("a finished run is reused only while its input files are the same bytes", "[cli][sweep][resume]") {
  // Issue 17: the resume hash covered the config and the model, not the texts the config names.
  REQUIRE(fs::exists(ptq_binary()));
  const std::string dir = ptq::test::scratch_dir("run-stale");
  ptq::test::make_synthetic_experiment(dir);
  std::ofstream(dir + "/one.yaml") << "name: one\nmodel: model\ntokenizer: tokenizer.bin\n"
                                      "pipeline: [{algorithm: rtn, bits: 4, group_size: 32}]\n"
                                      "eval: {perplexity: {texts: [eval.txt], protocol: gptq, seqlen: 64}}\n";
  const std::string run = "run " + dir + "/one.yaml -o output=" + dir + "/out";
  auto [rc, out] = ptq_run(dir + "/cache", run);
  REQUIRE(rc == 0);
  std::tie(rc, out) = ptq_run(dir + "/cache", run);
  REQUIRE(rc == 0);
  CHECK(count(out, "finished earlier (same config)") == 2);  // the FP baseline and the point
  // Same path, other words: both runs are redone.
  const std::string text = ptq::io::read_text_file(dir + "/eval.txt");
  std::ofstream(dir + "/eval.txt") << text.substr(text.size() / 2) << text.substr(0, text.size() / 2);
  std::tie(rc, out) = ptq_run(dir + "/cache", run);
  INFO(out);
  REQUIRE(rc == 0);
  CHECK(count(out, "finished earlier (same config)") == 0);
  CHECK(count(out, "its config, inputs or ptq changed since the last run") == 2);
}

TEST_CASE("a second ptq run of one experiment is refused, naming who holds it", "[cli][sweep][lock]") {
  REQUIRE(fs::exists(ptq_binary()));
  const std::string dir = ptq::test::scratch_dir("run-lock");
  ptq::test::make_synthetic_experiment(dir);
  std::ofstream(dir + "/one.yaml") << "name: one\nmodel: model\ntokenizer: tokenizer.bin\n"
                                      "pipeline: [{algorithm: rtn, bits: 4}]\n";
  fs::create_directories(dir + "/out/one");
  // This test process plays the first `ptq run`: it holds the experiment's lock.
  const int fd = ::open((dir + "/out/one/.ptq-run.lock").c_str(), O_RDWR | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  REQUIRE(::write(fd, "4242", 4) == 4);
  auto [rc, out] = ptq_run(dir + "/cache", "run " + dir + "/one.yaml -o output=" + dir + "/out");
  CHECK(rc == 1);
  CHECK_THAT(out, Catch::Contains(dir + "/out/one: ptq run: another ptq process (pid 4242) is writing this output"));
  CHECK_FALSE(fs::exists(dir + "/out/one/runs/fp"));
  ::close(fd);
  std::tie(rc, out) = ptq_run(dir + "/cache", "run " + dir + "/one.yaml -o output=" + dir + "/out");
  CHECK(rc == 0);
}
