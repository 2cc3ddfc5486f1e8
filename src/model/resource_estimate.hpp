// Know before you start: what a quantize / eval / export run of a model will need (peak memory,
// disk for its output, time at a measured matrix-product rate), printed before the work, and a
// refusal naming what is short (needed vs available) when memory or the output's disk cannot hold it.
//
// The estimates follow how ptq streams a model (DESIGN.md "Memory is a budget"): the embedding and
// head in fp32, one decoder layer's weights (the FP layer and its quantized copy), the samples'
// hidden states, one layer's input statistics, the algorithm's working copies, and one batch of
// activations. They are estimates: experiments/results/2026-12-03-scale-7b.md puts them beside
// measured peaks.
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "model/config.hpp"

namespace ptq::model {

struct Estimate {
  std::string what;  // "quantize", "eval", "export"
  std::vector<std::pair<std::string, uint64_t>> memory_parts;  // what the peak is made of
  uint64_t disk = 0;  // bytes the output takes on its file system
  double flop = 0;    // floating-point operations of the products
  uint64_t memory() const;
};

// Parameters of one decoder layer (its linear layers and norms), of the embedding and of the head.
int64_t layer_params(const ModelConfig& cfg);
int64_t embedding_params(const ModelConfig& cfg);
int64_t head_params(const ModelConfig& cfg);  // 0 when tied to the embedding

struct QuantizeShape {
  int64_t samples = 128, seqlen = 2048;
  bool sequential = true;         // calibration runs each layer twice (FP inputs, then quantized)
  bool true_sequential = true;    // sequential only: one stage's inputs accumulated at a time
  bool fp64_hessian = false;
  bool gptq = true;               // Hessian-based algorithm (working copies of the largest Hessian)
  double bits_per_weight = 4.25;  // of the output (codes, scales, zeros)
  int64_t activation_budget = int64_t(1) << 30;  // calibration's batch budget
};
Estimate estimate_quantize(const ModelConfig& cfg, const QuantizeShape& q);
// Perplexity (and KL with a reference: two models' hidden states) over `windows` of `seqlen`.
Estimate estimate_eval(const ModelConfig& cfg, int64_t windows, int64_t seqlen, int batch, bool with_reference,
                       int64_t max_hidden_bytes, bool resident);
// An export of the model at `bits_per_weight` for the decoder layers (embedding/head at `embed_bpw`).
Estimate estimate_export(const ModelConfig& cfg, double bits_per_weight, double embed_bpw);

// The machine: MemAvailable from /proc/meminfo, and free space (for an unprivileged writer) on the
// file system that will hold `path` (its nearest existing ancestor). PTQ_MEM_AVAILABLE and
// PTQ_DISK_AVAILABLE (bytes) override them, for tests of the refusal.
uint64_t memory_available();
uint64_t disk_available(const std::string& path);

// Whether keeping every layer in memory (fp32) leaves at least half of the available memory free;
// otherwise the layers stream from the mapped files (evaluation then runs layer-major).
bool fits_resident(const ModelConfig& cfg);

// GFLOP/s of an n x n x n product in `dtype` (kFloat32 or kBFloat16) on the current threads, the
// best of a few after a warm-up (about 0.1 s at n = 1024 on 2 cores).
double measure_gemm_gflops(torch::ScalarType dtype = torch::kFloat32, int64_t n = 1024);

// Prints the estimate: each memory part, the peak, the output's disk, and the time the products
// take at `gflops` (a lower bound: loading, writing and the algorithm's serial parts come on top).
void print_estimate(std::ostream& log, const Estimate& e, double gflops);

// Throws ptq::Error naming what is short, needed vs available, when the peak memory exceeds what is
// available or the output (out_path; empty: none) does not fit on its file system.
void check_resources(const Estimate& e, const std::string& out_path);

}  // namespace ptq::model
