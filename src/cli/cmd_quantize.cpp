// ptq quantize: calibrate (or reuse calibration statistics), quantize every linear layer of the
// decoder blocks with one algorithm, write ptq's quantized directory with a per-layer report.
#include <cstdio>
#include <iostream>

#include "algorithms/awq/awq.hpp"
#include "algorithms/hqq/hqq.hpp"
#include "algorithms/registry.hpp"
#include "algorithms/rotation/rotate_step.hpp"
#include "cli/commands.hpp"
#include "cli/preflight.hpp"
#include "mixed/grid_candidates.hpp"
#include "mixed/grid_target_quantize.hpp"
#include "pipeline/quantize_model.hpp"

namespace ptq::cli {

void add_quantize(CLI::App& app) {
  struct Args {
    pipeline::QuantizeSpec spec;
    bool act_order = false, static_groups = false, one_shot = false, no_true_sequential = false;
    double damp = 0.01;
    int block_size = 128;
    double gptaq_alpha = 0.25;
    std::vector<std::string> transforms;
    double alpha = 0.5;
    bool alpha_search = false, duo_scaling = false, no_clip = false, awq_token_loss = false;
    int awq_n_grid = algo::AwqOptions{}.n_grid, awq_search_tokens = algo::AwqOptions{}.search_tokens;
    std::string awq_ggml_type;
    int rotate_seed = 0;
    std::vector<std::string> rotate_online = algo::rotate_online_choices();
    algo::HqqOptions hqq;
    bool hqq_no_early_stop = false;
    mixed::GridTarget target;
    std::string candidates;
  };
  auto a = std::make_shared<Args>();
  auto& s = a->spec;
  auto* cmd = app.add_subcommand("quantize", "Quantize a model's linear layers (RTN, GPTQ, AWQ, SmoothQuant) and save it");
  cmd->add_option("--model,-m", s.model, "Model: HF directory, llama2.c .bin or .gguf")->required();
  cmd->add_option("--tokenizer,-t", s.tokenizer, "Tokenizer file (default: found beside the model)");
  cmd->add_option("--out,-o", s.out, "Output directory (replaced only when the run succeeds)")->required();
  std::vector<std::string> algos = algo::algorithm_names();
  for (const auto& t : algo::transform_names()) algos.push_back(t);
  algos.push_back("none");
  cmd->add_option("--algo", s.algorithm, "Quantizer (rtn, gptq, hqq), a transform followed by RTN (awq, smoothquant), or none: the transforms' output in full precision (e.g. --transform awq --algo none, then ptq export --type q4_0)")->capture_default_str()->check(CLI::IsMember(algos));
  std::vector<std::string> transform_choices = algo::transform_names();
  transform_choices.push_back(algo::kRotateStep);
  cmd->add_option("--transform", a->transforms, "Transforms before the quantizer, in order (rotate first, awq, smoothquant); e.g. --transform awq --algo gptq, --transform rotate --algo gptq --act-bits 4")->check(CLI::IsMember(transform_choices));
  cmd->add_option("--rotate-seed", a->rotate_seed, "rotate: seed of the residual rotation's random signs")->capture_default_str()->check(CLI::Range(0, 2147483647));
  cmd->add_option("--rotate-online", a->rotate_online, "rotate: online rotations, any of down_proj kv, or none (only the residual rotation, which exports)")
      ->default_str("down_proj kv")->check(CLI::IsMember({"down_proj", "kv", "none"}));
  cmd->add_option("--alpha", a->alpha, "SmoothQuant: migration strength alpha in [0, 1]")->capture_default_str();
  cmd->add_flag("--alpha-search", a->alpha_search, "SmoothQuant: choose alpha per layer by a grid search on the block's output error");
  cmd->add_flag("--duo-scaling", a->duo_scaling, "AWQ: scales x^a / w^(1-a) (AutoAWQ) instead of x^a (llm-awq)");
  cmd->add_flag("--no-clip", a->no_clip, "AWQ: skip the clipping search");
  cmd->add_option("--awq-n-grid", a->awq_n_grid, "AWQ: scale exponents alpha = 0, 1/N, ..., (N-1)/N")->capture_default_str()->check(CLI::Range(1, 1000));
  cmd->add_option("--awq-search-tokens", a->awq_search_tokens, "AWQ: tokens (whole windows) for the scale searches through attention and the MLP; 0 all")
      ->capture_default_str()->check(CLI::Range(0, 1 << 30));
  cmd->add_flag("--awq-token-loss", a->awq_token_loss, "AWQ: the reference's token-sampled losses instead of the exact input-Gram form (clip search, v->o, up->down)");
  cmd->add_option("--awq-ggml-type", a->awq_ggml_type,
                  "AWQ: search scales and clipping for this llama.cpp block type (q4_0, q4_k, ...) or mix (q4_k_m: each tensor against the type the export gives it) instead of the grid; "
                  "with --algo none, then ptq export --type of that type");
  cmd->add_option("--bits", s.grid.bits, "Bits per weight")->capture_default_str()->check(CLI::Range(2, 8));
  cmd->add_option("--group-size", s.grid.group_size, "Columns per group: 0 per channel, -1 per tensor")->capture_default_str()->check(CLI::Range(-1, 1 << 20));
  cmd->add_flag("--sym", s.grid.sym, "Symmetric grid (default asymmetric)");
  cmd->add_flag("--mse", s.grid.mse, "MSE-optimal clipping (grid search over shrink factors)");
  auto* bits_opt = cmd->get_option("--bits");
  cmd->add_option("--dtype", s.grid.dtype, "Weight data type: int | nf4 | fp4 | fp8_e4m3 | fp8_e5m2 (floating types: absmax scale per group, --bits implied)")
      ->capture_default_str()->check(CLI::IsMember(algo::grid_dtypes()));
  cmd->add_option("--act-bits", s.act.bits, "Activation bits at evaluation, 2..16 (0: FP), recorded in the output")->capture_default_str()->check(CLI::Range(0, 16));
  cmd->add_option("--act-scheme", s.act.scheme, "per-token | per-tensor | static (static: scales calibrated on --calib)")->capture_default_str()->check(CLI::IsMember(algo::act_quant_schemes()));
  cmd->add_option("--act-percentile", s.act.percentile, "Static scales: this percentile of |x| (100: max)")->capture_default_str()->check(CLI::Range(1e-9, 100.0));
  cmd->add_flag("--act-order", a->act_order, "GPTQ: quantize columns by decreasing Hessian diagonal");
  cmd->add_flag("--static-groups", a->static_groups, "GPTQ: fit all group parameters before quantizing");
  cmd->add_option("--damp", a->damp, "GPTQ: damping as a fraction of the mean Hessian diagonal")->capture_default_str()->check(CLI::Range(0.0, 10.0));
  cmd->add_option("--block-size", a->block_size, "GPTQ: columns per lazy batch update")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--gptaq-alpha", a->gptaq_alpha, "GPTAQ (--algo gptaq; GPTQ's options apply too): weight of the FP-input term (X_fp - X) X^T")->capture_default_str()->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--hqq-lp-norm", a->hqq.lp_norm, "HQQ: p of the error norm |W - Q(W)|_p^p, in (0, 1]")->capture_default_str()->check(CLI::Range(1e-3, 1.0));
  cmd->add_option("--hqq-beta", a->hqq.beta, "HQQ: initial half-quadratic penalty beta")->capture_default_str()->check(CLI::Range(1e-6, 1e9));
  cmd->add_option("--hqq-kappa", a->hqq.kappa, "HQQ: beta's growth per step")->capture_default_str()->check(CLI::Range(1.0, 10.0));
  cmd->add_option("--hqq-iters", a->hqq.iters, "HQQ: zero-point updates at most")->capture_default_str()->check(CLI::Range(0, 10000));
  cmd->add_flag("--hqq-no-early-stop", a->hqq_no_early_stop, "HQQ: run every update (default: stop when the mean |W - Q(W)| stops falling)");
  cmd->add_flag("--hqq-optimize-scale", a->hqq.optimize_scale, "HQQ: refit each group's scale with its zero point");
  cmd->add_flag("--hqq-integer-zero", a->hqq.integer_zero, "HQQ: integer zero points in 0..2^bits-1 (GPTQ/AWQ exports need them)");
  cmd->add_option("--calib", s.calib.path, "Calibration text (.txt, .jsonl)")->check(CLI::ExistingFile);
  cmd->add_option("--n-samples", s.sampling.n_samples, "Calibration windows")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--compute-dtype", s.compute_dtype, "Calibration forwards' linear products in f32 or bf16 (Hessians stay fp32)")
      ->capture_default_str()->check(CLI::IsMember({"f32", "bf16"}));
  cmd->add_option("--seqlen", s.sampling.seqlen, "Tokens per calibration window")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--sampling", s.sampling.method, "random | consecutive")->capture_default_str()->check(CLI::IsMember({"random", "consecutive"}));
  cmd->add_option("--seed", s.sampling.seed, "Seed of the random windows")->capture_default_str();
  cmd->add_flag("--one-shot", a->one_shot, "Calibrate every layer on the FP model's activations (default: sequential)");
  cmd->add_flag("--no-true-sequential", a->no_true_sequential, "Sequential: calibrate a whole block at once");
  cmd->add_flag("--fp64-hessian", s.calibration.fp64_hessian, "Accumulate X^T X in float64");
  cmd->add_option("--calib-batch", s.calibration.batch, "Samples per forward pass (0: by memory)")->capture_default_str();
  cmd->add_option("--stats", s.stats, "Calibration statistics file (HDF5; default in the cache)");
  cmd->add_option("--target-bpw", a->target.bpw,
                  "Mixed precision: per-linear grids (bits x group size) for this many bits per weight of the linear layers "
                  "as a GPTQ checkpoint stores them (codes, zeros, fp16 scales, g_idx); needs --sensitivity")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--target-size", a->target.size, "Mixed precision: bytes of the GPTQ export's tensors (linears packed, the rest fp16)");
  cmd->add_option("--sensitivity", a->target.sensitivity, "ptq sensitivity --types grids's sensitivity.json (the costs)");
  cmd->add_option("--candidates", a->candidates, "Candidate grids, comma-separated (default: the table's), e.g. int2g32,int3g64,int4g128,int8pc");
  cmd->add_option("--refine", a->target.refine, "Rounds of re-weighting after re-measuring the chosen mix's KL")->capture_default_str()->check(CLI::Range(0, 20));
  cmd->callback([a, bits_opt] {
    auto& spec = a->spec;
    if (!spec.grid.is_int()) {
      if (bits_opt->count() == 0) spec.grid.bits = algo::dtype_bits(spec.grid.dtype);
      spec.grid.sym = true;  // absmax scaling, zero point 0
    }
    spec.calibration.mode = a->one_shot ? "one-shot" : "sequential";
    spec.calibration.true_sequential = !a->no_true_sequential;
    // A transform named as the algorithm means "that transform, then RTN".
    std::vector<std::string> transforms = a->transforms;
    for (const auto& t : algo::transform_names()) {
      if (spec.algorithm == t) transforms.push_back(t), spec.algorithm = "rtn";
    }
    for (const auto& t : transforms) {
      pipeline::TransformStep step{t};
      if (t == algo::kRotateStep) {
        nlohmann::json online = nlohmann::json::array();
        for (const auto& o : a->rotate_online) {
          if (o != "none") online.push_back(o);
        }
        step.options = {{"seed", a->rotate_seed}, {"online", online}};
      }
      if (t == "smoothquant") step.options = {{"alpha", a->alpha}, {"search", a->alpha_search}};
      if (t == "awq") {
        step.options = {{"duo_scaling", a->duo_scaling}, {"clip", !a->no_clip}, {"n_grid", a->awq_n_grid},
                        {"search_tokens", a->awq_search_tokens}, {"gram_loss", !a->awq_token_loss}};
        if (!a->awq_ggml_type.empty()) step.options["ggml_type"] = a->awq_ggml_type;
      }
      spec.transforms.push_back(step);
    }
    if (spec.algorithm == "gptq") {
      spec.algorithm_options = {{"act_order", a->act_order}, {"static_groups", a->static_groups},
                                {"damp_percent", a->damp}, {"block_size", a->block_size}};
    }
    if (spec.algorithm == "gptaq") {
      spec.algorithm_options = {{"act_order", a->act_order}, {"static_groups", a->static_groups}, {"damp_percent", a->damp},
                                {"block_size", a->block_size}, {"alpha", a->gptaq_alpha}};
    }
    if (spec.algorithm == "hqq") {
      const auto& h = a->hqq;
      spec.algorithm_options = {{"lp_norm", h.lp_norm}, {"beta", h.beta}, {"kappa", h.kappa}, {"iters", h.iters},
                                {"early_stop", !a->hqq_no_early_stop}, {"optimize_scale", h.optimize_scale},
                                {"integer_zero", h.integer_zero}};
    }
    const bool to_budget = a->target.bpw > 0 || a->target.size > 0 || !a->target.sensitivity.empty();
    if (!a->candidates.empty()) a->target.candidates = mixed::parse_grid_candidates(a->candidates);
    mixed::GridTargetResult mixed_result;
    if (to_budget) mixed_result = mixed::quantize_to_budget(spec, a->target, std::cerr);
    if (!to_budget) preflight_quantize(spec, std::cerr);  // the estimate; refuses what cannot fit
    const auto summary = to_budget ? mixed_result.summary : pipeline::quantize_model(spec, std::cerr);
    std::printf("%-40s %12s %12s %8s\n", "layer", "rel_out_err", "rel_w_err", "s");
    for (const auto& row : summary.report["layers"]) {
      std::printf("%-40s %12s %12.3e %8.3f\n", row["name"].get<std::string>().c_str(),
                  row.contains("rel_output_error") ? std::to_string(row["rel_output_error"].get<double>()).c_str() : "-",
                  row["rel_weight_error"].get<double>(), row["seconds"].get<double>());
    }
    std::printf("wrote %s in %.1f s (statistics %s: %s)\n", spec.out.c_str(), summary.seconds,
                summary.stats_path.empty() ? "none" : summary.stats_path.c_str(),
                summary.stats_path.empty() ? "-" : summary.stats_reused ? "reused" : "computed");
    for (const auto& w : summary.report["warnings"]) std::printf("WARNING: %s\n", w.get<std::string>().c_str());
    if (to_budget) {
      const auto& r = mixed_result.record;
      std::printf("mixed precision: %.4f bits per weight of the linear layers, %llu bytes as GPTQ tensors; predicted KL %.6g",
                  r["bits_per_weight"].get<double>(), static_cast<unsigned long long>(r["total_bytes"].get<uint64_t>()),
                  r["predicted"].get<double>());
      if (r.contains("measured_written")) std::printf(", measured %.6g", r["measured_written"].get<double>());
      std::printf(" (%s/allocation.json)\n", spec.out.c_str());
    }
  });
}

}  // namespace ptq::cli
