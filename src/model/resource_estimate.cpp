#include "model/resource_estimate.hpp"

#include <sys/statvfs.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include "core/error.hpp"

namespace ptq::model {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kFloat = sizeof(float);

std::string gb(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GB", bytes / 1e9);
  return buf;
}

uint64_t env_bytes(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

// Products of one decoder layer over `tokens` tokens in windows of `seqlen`: the linear layers
// (2 flop per weight per token) and attention (q k^T and p v, 4 T D per token, the full square).
double layer_flop(const ModelConfig& cfg, int64_t tokens, int64_t seqlen) {
  const double linear = 2.0 * double(layer_params(cfg) - 2 * cfg.hidden_size) * double(tokens);
  const double attention = 4.0 * double(seqlen) * double(cfg.num_heads) * cfg.head_dim * double(tokens);
  return linear + attention;
}

}  // namespace

uint64_t Estimate::memory() const {
  uint64_t s = 0;
  for (const auto& [name, bytes] : memory_parts) s += bytes;
  return s;
}

int64_t layer_params(const ModelConfig& cfg) {
  const int64_t D = cfg.hidden_size, F = cfg.intermediate_size, hd = cfg.head_dim ? cfg.head_dim : D / cfg.num_heads;
  const int64_t q = int64_t(cfg.num_heads) * hd, kv = int64_t(cfg.num_kv_heads) * hd;
  return q * D + 2 * kv * D + D * q + 3 * D * F + 2 * D;
}

int64_t embedding_params(const ModelConfig& cfg) { return int64_t(cfg.vocab_size) * cfg.hidden_size; }

int64_t head_params(const ModelConfig& cfg) { return cfg.tie_word_embeddings ? 0 : embedding_params(cfg); }

Estimate estimate_quantize(const ModelConfig& cfg, const QuantizeShape& q) {
  const uint64_t D = cfg.hidden_size, F = cfg.intermediate_size, L = cfg.num_layers;
  const uint64_t tokens = uint64_t(q.samples) * uint64_t(q.seqlen);
  const uint64_t stat = q.fp64_hessian ? 8 : 4, M = std::max(D, F);
  Estimate e;
  e.what = "quantize";
  e.memory_parts = {
      {"embedding and head (fp32)", uint64_t(embedding_params(cfg) + head_params(cfg)) * kFloat},
      {"one layer, FP and quantized (fp32)", 2 * uint64_t(layer_params(cfg)) * kFloat},
      {"hidden states in and out (fp32)", (q.sequential ? 3 : 2) * tokens * D * kFloat},
      // q/k/v share one input, gate/up another; o_proj reads the attention output, down_proj the MLP's.
      // Each input's x^T x is a double-double sum (two fp64, calibration/exact_sum.hpp); true-sequential
      // calibration holds one stage's input at a time, the others all four; plus one batch's product.
      {"input statistics (double-double sums, one batch's product)",
       q.samples > 0 ? (q.sequential && q.true_sequential ? M * M : 3 * D * D + F * F) * 16 + M * M * stat : 0},
      // GPTQ: the Hessian, its inverse and a working copy; every algorithm: the fp32 Hessian the
      // report's output error reads (and its scaled copy) when there are statistics.
      {"algorithm working copies",
       (q.gptq ? 3 * M * M * kFloat : 2 * D * F * kFloat) + (q.samples > 0 && !q.gptq ? 2 * M * M * kFloat : 0)},
      {"activations of one batch", uint64_t(q.activation_budget)},
  };
  e.disk = uint64_t(double(L * layer_params(cfg)) * q.bits_per_weight / 8) +
           uint64_t(embedding_params(cfg) + head_params(cfg)) * 2;  // embedding and head kept in fp16
  const double forward = double(L) * layer_flop(cfg, int64_t(tokens), q.seqlen) * (q.sequential ? 2 : 1);
  const double hessian = 2.0 * double(tokens) * double(3 * D * D + F * F) * double(L);
  // GPTQ: Cholesky/inverse of each distinct Hessian and the column updates (2 out in^2 per linear).
  const double gptq = q.gptq ? double(L) * (2.0 * double(layer_params(cfg)) * double(std::max(D, F)) +
                                            double(3 * D * D * D + F * F * F))
                             : 0.0;
  e.flop = forward + hessian + gptq;
  return e;
}

Estimate estimate_eval(const ModelConfig& cfg, int64_t windows, int64_t seqlen, int batch, bool with_reference,
                       int64_t max_hidden_bytes, bool resident) {
  const uint64_t D = cfg.hidden_size, V = cfg.vocab_size, models = with_reference ? 2 : 1;
  uint64_t hidden = uint64_t(windows) * uint64_t(seqlen) * D * kFloat * models;
  if (max_hidden_bytes > 0) hidden = std::min<uint64_t>(hidden, std::max<uint64_t>(max_hidden_bytes, uint64_t(batch) * seqlen * D * kFloat * models));
  Estimate e;
  e.what = "eval";
  e.memory_parts = {
      {"embedding and head (fp32)", models * uint64_t(embedding_params(cfg) + head_params(cfg)) * kFloat},
      {resident ? "every layer (fp32, resident)" : "one layer per model (fp32)",
       models * uint64_t(layer_params(cfg)) * kFloat * (resident ? cfg.num_layers : 1)},
      {resident ? "hidden states of one batch" : "hidden states of all windows (layer-major)",
       resident ? uint64_t(batch) * seqlen * D * kFloat * models : hidden},
      // The MLP's intermediate and the logits (fp32, and fp64 log-probabilities of the scored half).
      {"activations and logits of one batch",
       models * uint64_t(batch) * seqlen * (3 * uint64_t(cfg.intermediate_size) * kFloat + V * (kFloat + 8))},
  };
  e.flop = double(models) * (double(cfg.num_layers) * layer_flop(cfg, windows * seqlen, seqlen) +
                             2.0 * double(V * D) * double(windows * seqlen));
  return e;
}

Estimate estimate_export(const ModelConfig& cfg, double bits_per_weight, double embed_bpw) {
  Estimate e;
  e.what = "export";
  e.memory_parts = {
      {"embedding and head (fp32)", uint64_t(embedding_params(cfg) + head_params(cfg)) * kFloat},
      {"one layer and its packed copy", 2 * uint64_t(layer_params(cfg)) * kFloat},
  };
  e.disk = uint64_t(double(cfg.num_layers * layer_params(cfg)) * bits_per_weight / 8 +
                    double(embedding_params(cfg) + head_params(cfg)) * embed_bpw / 8);
  return e;
}

uint64_t memory_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemAvailable:") return env_bytes("PTQ_MEM_AVAILABLE", kb * 1024);
  }
  return env_bytes("PTQ_MEM_AVAILABLE", 0);
}

uint64_t disk_available(const std::string& path) {
  fs::path p = fs::absolute(path);
  std::error_code ec;
  while (!p.empty() && !fs::exists(p, ec) && p != p.root_path()) p = p.parent_path();
  struct statvfs st {};
  if (::statvfs(p.c_str(), &st) != 0) return env_bytes("PTQ_DISK_AVAILABLE", 0);
  return env_bytes("PTQ_DISK_AVAILABLE", uint64_t(st.f_bavail) * uint64_t(st.f_frsize));
}

bool fits_resident(const ModelConfig& cfg) {
  const uint64_t bytes = uint64_t(cfg.num_layers) * uint64_t(layer_params(cfg)) * kFloat;
  const uint64_t mem = memory_available();
  return mem == 0 || bytes <= mem / 2;
}

double measure_gemm_gflops(torch::ScalarType dtype, int64_t n) {
  torch::NoGradGuard no_grad;
  auto opts = torch::TensorOptions().dtype(dtype);
  auto a = torch::randn({n, n}).to(dtype), b = torch::randn({n, n}).to(dtype), c = torch::empty({n, n}, opts);
  torch::mm_out(c, a, b);
  double best = 0;
  for (int r = 0; r < 3; ++r) {
    const auto t = std::chrono::steady_clock::now();
    torch::mm_out(c, a, b);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
    best = std::max(best, 2.0 * double(n) * n * n / s / 1e9);
  }
  return best;
}

void print_estimate(std::ostream& log, const Estimate& e, double gflops) {
  log << "estimate (" << e.what << "):\n";
  for (const auto& [name, bytes] : e.memory_parts) log << "  " << name << ": " << gb(bytes) << "\n";
  log << "  peak memory: " << gb(e.memory()) << " (available " << gb(memory_available()) << ")\n";
  if (e.disk) log << "  output on disk: " << gb(e.disk) << "\n";
  if (e.flop > 0 && gflops > 0) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "  products: %.1f TFLOP, %.0f s at the measured %.1f GFLOP/s (loading and writing come on top)\n",
                  e.flop / 1e12, e.flop / (gflops * 1e9), gflops);
    log << buf;
  }
}

void check_resources(const Estimate& e, const std::string& out_path) {
  const uint64_t mem = memory_available();
  if (mem > 0 && e.memory() > mem) {
    fail(e.what, "needs about " + gb(e.memory()) + " of memory, " + gb(mem) +
                     " available (MemAvailable); free memory or use a smaller batch/fewer samples");
  }
  if (!out_path.empty() && e.disk > 0) {
    const uint64_t disk = disk_available(out_path);
    if (e.disk > disk) {
      fail(out_path, "the output needs about " + gb(e.disk) + " on disk, " + gb(disk) + " free on its file system");
    }
  }
}

}  // namespace ptq::model
