// Peak memory of calibrating and quantizing (ptq quantize --algo gptq, sequential) two synthetic
// models of the same width, with 4 and with 16 decoder layers. Streaming layer by layer, the peak
// must not grow with depth: the ratio 16-layer / 4-layer must stay at or below 1.15.
// Usage: bench_calib_memory [--hidden 1024] [--intermediate 2816] [--samples 16] [--seqlen 256]
// Needs ../shared/data (the 512-token tokenizer and the calibration text).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "model/synthetic_model.hpp"

namespace fs = std::filesystem;

namespace {

// Runs argv as a child process; returns its peak resident set in MiB (-1 on failure).
double run_peak_rss_mib(const std::vector<std::string>& args, double* seconds) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const auto t = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    if (!std::freopen("/dev/null", "w", stdout)) _exit(127);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  return ru.ru_maxrss / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  int hidden = 1024, intermediate = 2816, samples = 16, seqlen = 256;
  bool keep = false;  // leave the models and outputs for inspection
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--keep")) keep = true;
    if (i + 1 >= argc) break;
    if (!std::strcmp(argv[i], "--hidden")) hidden = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--intermediate")) intermediate = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--samples")) samples = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--seqlen")) seqlen = std::atoi(argv[++i]);
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string shared = std::getenv("PTQ_SHARED_DIR") ? std::getenv("PTQ_SHARED_DIR") : PTQ_SOURCE_DIR "/../shared/data";
  const std::string tok = shared + "/models/tok512.bin", calib = shared + "/text/tinystories_valid_calib.txt";
  if (!fs::exists(tok) || !fs::exists(calib)) {
    std::fprintf(stderr, "bench_calib_memory: needs %s and %s\n", tok.c_str(), calib.c_str());
    return 1;
  }
  const fs::path work = fs::temp_directory_path() / ("ptq-bench-memory-" + std::to_string(getpid()));
  std::printf("synthetic models: hidden %d, intermediate %d, vocab 512; calibration %d x %d tokens, GPTQ w4 g128\n",
              hidden, intermediate, samples, seqlen);
  double rss[2] = {0, 0};
  const int depths[2] = {4, 16};
  for (int k = 0; k < 2; ++k) {
    const auto cfg = ptq::model::synthetic_config(hidden, intermediate, depths[k], hidden / 64, hidden / 64, 512);
    const fs::path model = work / ("model" + std::to_string(depths[k]));
    ptq::model::write_synthetic_model(cfg, model.string(), 1);
    double secs = 0;
    rss[k] = run_peak_rss_mib({PTQ_BINARY_DIR "/ptq", "--threads", "2", "quantize", "-m", model.string(), "--tokenizer", tok,
                               "--algo", "gptq", "--bits", "4", "--group-size", "128", "--calib", calib,
                               "--n-samples", std::to_string(samples), "--seqlen", std::to_string(seqlen),
                               "--stats", (work / ("stats" + std::to_string(k) + ".h5")).string(),
                               "--out", (work / ("out" + std::to_string(k))).string()},
                              &secs);
    if (rss[k] < 0) {
      std::fprintf(stderr, "bench_calib_memory: ptq quantize failed on the %d-layer model\n", depths[k]);
      fs::remove_all(work);
      return 1;
    }
    char shard[64];
    std::snprintf(shard, sizeof(shard), "model-00001-of-%05d.safetensors", depths[k] + 1);
    const double model_mib = double(fs::file_size(model / shard)) / (1 << 20);
    std::printf("%2d layers: peak RSS %.0f MiB (one layer's weights %.0f MiB, the whole model %.0f MiB), %.1f s\n",
                depths[k], rss[k], model_mib, model_mib * depths[k], secs);
  }
  std::printf("peak RSS ratio 16 / 4 layers: %.3f (goal <= 1.15)\n", rss[1] / rss[0]);
  if (keep) std::printf("kept %s\n", work.c_str());
  else fs::remove_all(work);
  return 0;
}
