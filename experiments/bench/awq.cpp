// AWQ's search (scales for the four mappings, then clipping) on one synthetic Llama-2-7B-shaped
// decoder layer (hidden 4096, intermediate 11008, 32 heads, multi-head attention), w4 g128, n_grid
// 20: the scaled search (Gram-form linear losses and clipping, attention and MLP searched on a
// window sample) against the reference's token-form search, both next to one FP forward of the
// layer over the same calibration tokens and to the sgemm peak, all measured in this run.
// The reference path is measured at --old-n-grid alphas (default 2: 0 and 0.5); its n_grid-20 time
// is printed as an extrapolation (each alpha costs one more forward of the inspected modules, like
// the FP reference forward), labelled as such.
// Usage: bench_awq [--threads N] [--samples 16] [--seqlen 512] [--hidden 4096] [--inter 11008]
//                  [--heads 32] [--n-grid 20] [--search-tokens 1024] [--old-n-grid 2 (0: skip)]
#include <torch/torch.h>

#include <cstdio>
#include <cstring>

#include "algorithms/awq/awq.hpp"
#include "algorithms/registry.hpp"
#include "bench_common.hpp"
#include "core/threads.hpp"
#include "model/architecture.hpp"
#include "model/decoder.hpp"

using namespace ptq;

namespace {

struct Timed {
  double total_s = 0, module_s = 0, module_flops = 0;
  nlohmann::json report;
};

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, heads = 32, n_grid = 20, old_n_grid = 2;
  int64_t samples = 16, seqlen = 512, D = 4096, F = 11008, search_tokens = 1024;
  for (int i = 1; i + 1 < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--samples")) samples = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--seqlen")) seqlen = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--hidden")) D = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--inter")) F = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--heads")) heads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--n-grid")) n_grid = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--search-tokens")) search_tokens = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--old-n-grid")) old_n_grid = std::atoi(argv[++i]);
  }
  threads = set_threads(threads);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  const double peak = bench::sgemm_peak_gflops();

  model::ModelConfig cfg;
  cfg.hidden_size = D;
  cfg.intermediate_size = F;
  cfg.num_heads = cfg.num_kv_heads = heads;
  cfg.head_dim = D / heads;
  model::LayerWeights w;
  w.input_norm = torch::ones({D});
  w.post_norm = torch::ones({D});
  auto lin = [](int64_t out, int64_t in) { return torch::randn({out, in}) / std::sqrt(double(in)); };
  w.linear = {{"self_attn.q_proj", lin(D, D)}, {"self_attn.k_proj", lin(D, D)}, {"self_attn.v_proj", lin(D, D)},
              {"self_attn.o_proj", lin(D, D)}, {"mlp.gate_proj", lin(F, D)},   {"mlp.up_proj", lin(F, D)},
              {"mlp.down_proj", lin(D, F)}};
  model::RotaryTable rope(cfg.head_dim, static_cast<int>(seqlen), 10000.0);
  const double tokens = double(samples) * seqlen;
  const double attn_flops_per_token = 2.0 * 4.0 * D * D + 2.0 * 2.0 * heads * double(seqlen) * cfg.head_dim / 2;  // causal scores and values
  const double mlp_flops_per_token = 2.0 * 3.0 * D * F;

  // The layer's FP inputs, captured as the pipeline does (salient channels scaled up, as in real
  // LLMs): this forward is the unit the searches are measured in.
  auto t_cap = bench::Clock::now();
  std::map<std::string, torch::Tensor> inputs;
  auto hidden = torch::randn({samples, seqlen, D});
  hidden.narrow(2, 0, 16).mul_(20);
  model::LinearInputHook hook = [&](const std::string& full, torch::Tensor& x) {
    const std::string name = full.substr(model::layer_prefix(0).size());
    for (const auto& s : model::block_linears()) {
      if (name == s.name && !inputs.count(s.input)) inputs[s.input] = x.clone();
    }
  };
  model::LayerRun run;
  run.hook = &hook;
  model::decoder_layer_forward(cfg, w, rope, hidden, run);
  hidden = torch::Tensor();
  const double forward_s = bench::seconds_since(t_cap);
  const double forward_flops = tokens * (attn_flops_per_token + mlp_flops_per_token);

  algo::IntGrid grid;
  grid.bits = 4;
  grid.group_size = 128;
  auto search = [&](const nlohmann::json& options) {
    Timed t;
    model::LayerWeights lw = w;  // the transform rewrites its weights and inputs
    algo::BlockContext ctx;
    ctx.w = &lw;
    for (const auto& [k, v] : inputs) ctx.inputs[k] = v.clone();
    ctx.where = "bench.";
    ctx.run_module = [&](const model::LayerWeights& mw, const std::string& mod, const torch::Tensor& x) {
      auto t0 = bench::Clock::now();
      torch::Tensor out;
      const double n = double(x.size(0)) * x.size(1);
      if (mod == "self_attn") {
        out = model::attention_block(cfg, mw, rope, x, {});
        t.module_flops += n * attn_flops_per_token;
      } else if (mod == "mlp") {
        out = model::mlp_block(mw, x, {});
        t.module_flops += n * mlp_flops_per_token;
      } else {
        out = torch::nn::functional::linear(x, mw.weight(mod));
        t.module_flops += 2 * n * double(mw.weight(mod).size(0)) * mw.weight(mod).size(1);
      }
      t.module_s += bench::seconds_since(t0);
      return out;
    };
    auto t0 = bench::Clock::now();
    t.report = algo::make_transform("awq", options)->apply(ctx, grid);
    t.total_s = bench::seconds_since(t0);
    return t;
  };

  std::printf("threads %d, sgemm peak %.1f GFLOP/s\n", threads, peak);
  std::printf("layer hidden %lld, intermediate %lld, %d heads; %lld x %lld calibration tokens; w4 g128\n", (long long)D,
              (long long)F, heads, (long long)samples, (long long)seqlen);
  std::printf("one FP forward of the layer (capturing its inputs): %.2f s, %.0f GFLOP at %.1f GFLOP/s (%.0f%% of peak)\n",
              forward_s, forward_flops / 1e9, forward_flops / forward_s / 1e9, 100 * forward_flops / forward_s / 1e9 / peak);

  const Timed fast = search({{"n_grid", n_grid}, {"search_tokens", search_tokens}});
  std::printf("scaled search, n_grid %d, attention/MLP on >= %lld tokens (measured): %.2f s = %.2f x the forward\n", n_grid,
              (long long)search_tokens, fast.total_s, fast.total_s / forward_s);
  std::printf("  attention/MLP forwards: %.2f s, %.0f GFLOP at %.1f GFLOP/s (%.0f%% of peak); Gram matrices, Gram-form losses, fake quantization, clip: %.2f s\n",
              fast.module_s, fast.module_flops / 1e9, fast.module_flops / std::max(fast.module_s, 1e-9) / 1e9,
              100 * fast.module_flops / std::max(fast.module_s, 1e-9) / 1e9 / peak, fast.total_s - fast.module_s);
  std::printf("  report: %s\n", fast.report.dump().c_str());
  if (old_n_grid > 0) {
    // The reference's scale searches (token forms, all tokens) at old_n_grid alphas, then its clip
    // search (~512 strided tokens per linear layer) on its own.
    const Timed old = search({{"n_grid", old_n_grid}, {"gram_loss", false}, {"search_tokens", 0}, {"clip", false}});
    algo::AwqOptions ref;
    ref.gram_loss = false;
    auto t_clip = bench::Clock::now();
    for (const auto& l : model::block_linears()) {
      if (std::string(l.name) != "self_attn.q_proj" && std::string(l.name) != "self_attn.k_proj") algo::awq_search_clip(w.weight(l.name), inputs.at(l.input), grid, ref);
    }
    const double old_clip_s = bench::seconds_since(t_clip);
    std::printf("reference scale searches (token forms, all tokens), n_grid %d (measured): %.2f s; module forwards %.2f s at %.1f GFLOP/s (%.0f%% of peak)\n",
                old_n_grid, old.total_s, old.module_s, old.module_flops / std::max(old.module_s, 1e-9) / 1e9,
                100 * old.module_flops / std::max(old.module_s, 1e-9) / 1e9 / peak);
    std::printf("reference clip search, 512 tokens (measured): %.2f s\n", old_clip_s);
    // Each alpha is one forward of each inspected module plus its fake quantization, like the FP
    // reference forward: n_grid alphas cost (n_grid + 1) / (old_n_grid + 1) times the measured run.
    const double old_full = old.total_s * (n_grid + 1) / (old_n_grid + 1) + old_clip_s;
    std::printf("reference search at n_grid %d (EXTRAPOLATED: scale searches x %d/%d, plus the clip search): %.0f s = %.1f x the forward\n",
                n_grid, n_grid + 1, old_n_grid + 1, old_full, old_full / forward_s);
    std::printf("scaled search vs reference at n_grid %d: %.1f x faster (measured scaled / extrapolated reference)\n", n_grid,
                old_full / fast.total_s);
  }
  return 0;
}
