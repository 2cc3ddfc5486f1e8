// bf16 against fp32 forward products, side by side in one run: the CPU's features (cpuid), the sgemm
// peak and the bf16 gemm rate with their ratio, then what bf16 products cost in accuracy: the
// relative error of every linear input's Hessian (X^T X accumulated in fp32 from the inputs a bf16
// forward produces) and PPL / KL to the fp32 forward on stories260K and the default model.
// On a CPU without AVX512_BF16 / AMX-BF16 the bf16 products are emulated and slower; this prints
// what it measures either way.
// Usage: bench_bf16 [--threads N] [--windows W]
#include <torch/torch.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>

#include "bench_common.hpp"
#include "core/cpu_features.hpp"
#include "core/threads.hpp"
#include "data/text_source.hpp"
#include "eval/kl_divergence.hpp"
#include "eval/perplexity.hpp"
#include "model/model_files.hpp"
#include "model/resource_estimate.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace ptq;

namespace {

// X^T X of every linear layer's input over the windows, in fp32, with the model's compute dtype.
std::map<std::string, torch::Tensor> hessians(model::Model& m, const torch::Tensor& ids) {
  std::map<std::string, torch::Tensor> h;
  model::LinearInputHook hook = [&](const std::string& name, torch::Tensor& x) {
    auto x2 = x.reshape({-1, x.size(-1)}).to(torch::kFloat32);
    auto xtx = torch::mm(x2.t(), x2);
    h[name] = h.count(name) ? h[name] + xtx : xtx;
  };
  m.forward(ids, nullptr, &hook);
  return h;
}

void compare(const char* label, const std::string& model_path, const std::string& tokenizer, const std::string& text,
             int seqlen, int windows) {
  if (!std::filesystem::exists(model_path) || !std::filesystem::exists(text)) {
    std::printf("%-12s skipped (%s or %s absent)\n", label, model_path.c_str(), text.c_str());
    return;
  }
  model::Model fp(model::open_weights(model_path)), bf(model::open_weights(model_path));
  fp.make_resident();
  bf.make_resident();
  bf.set_compute_dtype(torch::kBFloat16);
  auto tok = tok::open_tokenizer(tokenizer.empty() ? model::find_tokenizer(model_path, fp.config().vocab_size) : tokenizer);
  const auto ids = tok->encode(data::read_text({text}), true);
  // Hessians over the first windows.
  std::vector<int64_t> first(ids.begin(), ids.begin() + std::min<size_t>(ids.size(), size_t(seqlen) * 8));
  const auto batch = torch::tensor(first).narrow(0, 0, first.size() / seqlen * seqlen).view({-1, seqlen});
  const auto h32 = hessians(fp, batch), h16 = hessians(bf, batch);
  double worst = 0, mean = 0;
  for (const auto& [name, h] : h32) {
    const double e = ((h16.at(name) - h).norm() / h.norm()).item<double>();
    worst = std::max(worst, e);
    mean += e / double(h32.size());
  }
  eval::PerplexityOptions po;
  po.protocol = "llamacpp";
  po.seqlen = seqlen;
  po.max_windows = windows;
  const auto p32 = eval::perplexity(fp, ids, po), p16 = eval::perplexity(bf, ids, po);
  eval::KlOptions ko;
  ko.protocol = po.protocol;
  ko.seqlen = seqlen;
  ko.max_windows = windows;
  const auto kl = eval::kl_divergence(fp, bf, ids, ko);
  std::printf("%-12s Hessian rel. error (%zu inputs, %lld tokens): mean %.2e max %.2e | PPL fp32 %.4f bf16 %.4f "
              "(%+.3f%%) | KL(fp32||bf16) %.2e | %.0f vs %.0f tok/s (bf16/fp32 %.2f)\n",
              label, h32.size(), static_cast<long long>(batch.numel()), mean, worst, p32.ppl, p16.ppl,
              100 * (p16.ppl / p32.ppl - 1), kl.mean_kl, p16.tokens_per_second, p32.tokens_per_second,
              p16.tokens_per_second / p32.tokens_per_second);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, windows = 16;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[++i]);
    if (!std::strcmp(argv[i], "--windows")) windows = std::atoi(argv[++i]);
  }
  set_threads(threads);
  const auto cpu = detect_cpu_features();
  std::printf("cpu: %s (native bf16: %s), %d threads\n", cpu.summary().c_str(), cpu.native_bf16() ? "yes" : "no",
              torch::get_num_threads());
  for (int64_t n : {1024, 2048}) {
    const double f32 = model::measure_gemm_gflops(torch::kFloat32, n);
    const double b16 = model::measure_gemm_gflops(torch::kBFloat16, n);
    std::printf("gemm %lld^3: sgemm %.1f GFLOP/s, bf16 %.1f GFLOP/s, bf16/fp32 %.3f\n", static_cast<long long>(n), f32,
                b16, b16 / f32);
  }
  const std::string root = PTQ_SOURCE_DIR, shared = root + "/../shared/data";
  compare("stories260K", shared + "/models/stories260K.bin", shared + "/models/tok512.bin",
          shared + "/text/tinystories_valid_eval.txt", 256, windows);
  compare("brown-5m", root + "/models/brown-5m", "", root + "/data/brown/eval.txt", 256, windows);
  return 0;
}
