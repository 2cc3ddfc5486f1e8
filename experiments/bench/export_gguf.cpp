// GGUF export throughput: a random LLaMA (default hidden 1024, ffn 2816, 4 layers, vocab 512 so the
// shared tok512 vocabulary fits) written as a Hugging Face checkpoint, then exported to GGUF at
// several types. Prints seconds and MB/s of fp32 source weights per type; q4_k_m is the figure.
// Usage: bench_export_gguf [--model DIR (instead of a synthetic one)] [--threads 1]
//                          [--hidden 1024] [--ffn 2816] [--layers 4] [--tokenizer ../shared/data/models/tok512.model]
//                          [--types f16,q8_0,q4_0,q4_k_m,q6_k] [--imatrix FILE]
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "bench_common.hpp"
#include "core/threads.hpp"
#include "export/gguf_export.hpp"
#include "model/model_files.hpp"
#include "model/synthetic_model.hpp"
#include "model/weight_source.hpp"

using ptq::bench::Clock;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  int hidden = 1024, ffn = 2816, layers = 4;
  int threads = 1;
  std::string tokenizer = "../shared/data/models/tok512.model", types = "f16,q8_0,q4_0,q4_k_m,q6_k", model;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--hidden")) hidden = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--ffn")) ffn = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--layers")) layers = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--tokenizer")) tokenizer = argv[++i];
    else if (!std::strcmp(argv[i], "--types")) types = argv[++i];
    else if (!std::strcmp(argv[i], "--model")) model = argv[++i];
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[++i]);
  }
  threads = ptq::set_threads(threads);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const fs::path dir = fs::temp_directory_path() / ("ptq-bench-export-" + std::to_string(hidden));
  fs::create_directories(dir);
  if (model.empty()) {  // a synthetic model of the given shape
    const auto cfg = ptq::model::synthetic_config(hidden, ffn, layers, hidden / 64, hidden / 256 > 0 ? hidden / 256 : 1, 512);
    model = (dir / "model").string();
    if (!fs::exists(dir / "model" / "config.json")) ptq::model::write_synthetic_model(cfg, model, 1);
  } else {
    tokenizer = ptq::model::find_tokenizer(model, ptq::model::open_weights(model)->config().vocab_size);
  }
  auto src = ptq::model::open_weights(model);
  double params = 0;
  for (const auto& t : src->tensors()) {
    double p = 1;
    for (int64_t d : t.shape) p *= static_cast<double>(d);
    params += p;
  }
  std::printf("%s: %.1f M parameters (%.1f MB fp32), %d thread(s)\n", model.c_str(), params / 1e6, params * 4 / 1e6, threads);
  std::stringstream ss(types);
  for (std::string type; std::getline(ss, type, ',');) {
    ptq::exporter::GgufExportOptions opt;
    opt.type = type;
    opt.tokenizer = tokenizer;
    opt.fallback = "f16";
    const std::string out = (dir / (type + ".gguf")).string();
    auto t = Clock::now();
    const auto res = ptq::exporter::export_gguf(*src, out, opt);
    const double s = ptq::bench::seconds_since(t);
    std::printf("%-7s %8.3f s  %7.1f MB/s of fp32 weights  file %.2f MB (%.3f bits per weight)\n", type.c_str(), s,
                params * 4 / 1e6 / s, res.bytes / 1e6, res.bytes * 8.0 / params);
    fs::remove(out);
  }
  return 0;
}
