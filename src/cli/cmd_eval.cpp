// ptq eval: perplexity of a model on a text under the GPTQ or llama.cpp protocol, KL divergence
// against a reference model, and task accuracy (--tasks) with lm-evaluation-harness semantics.
#include <cstdio>
#include <iostream>
#include <sstream>

#include "cli/commands.hpp"
#include "cli/preflight.hpp"
#include "core/error.hpp"
#include "data/text_source.hpp"
#include "dist/perplexity_ranks.hpp"
#include "dist/world.hpp"
#include "eval/kl_divergence.hpp"
#include "eval/perplexity.hpp"
#include "eval/reference_logits.hpp"
#include "eval/tasks/run_tasks.hpp"
#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/quantized_checkpoint.hpp"
#include "pipeline/activation_quant.hpp"

namespace ptq::cli {

void add_eval(CLI::App& app) {
  struct Args {
    std::string model, tokenizer, json, reference, reference_cache;
    int reference_topk = eval::kDefaultReferenceTopK;
    std::vector<std::string> texts;
    eval::PerplexityOptions ppl;
    eval::tasks::TaskSpec tasks;
    bool no_task_bos = false;
    int act_bits = 0, kv_bits = 0, kv_group_size = 0;
    std::string act_scheme = "per-token", compute_dtype = "f32";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval", "Perplexity, KL divergence and task accuracy of a model");
  cmd->add_option("--model,-m", args->model, "Model: HF directory, llama2.c .bin, .gguf or ptq output")->required();
  cmd->add_option("--tokenizer,-t", args->tokenizer, "Tokenizer file (default: found beside the model)");
  cmd->add_option("--text", args->texts, "Text file(s) (.txt, .raw, .jsonl with a 'text' field)")->check(CLI::ExistingFile);
  cmd->add_option("--compute-dtype", args->compute_dtype, "Linear products in f32 or bf16 (fast only with AVX512_BF16/AMX; see ptq --version)")
      ->capture_default_str()->check(CLI::IsMember({"f32", "bf16"}));
  cmd->add_option("--seqlen,--n-ctx", args->ppl.seqlen, "Window length")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  cmd->add_option("--protocol", args->ppl.protocol, "gptq | llamacpp")->capture_default_str()->check(CLI::IsMember({"gptq", "llamacpp"}));
  cmd->add_option("--batch", args->ppl.batch, "Windows per forward pass")->capture_default_str()->check(CLI::Range(1, 4096));
  cmd->add_option("--max-windows", args->ppl.max_windows, "Evaluate at most this many windows (0 = all)");
  cmd->add_option("--json", args->json, "Write the results as JSON to this file");
  cmd->add_option("--reference", args->reference,
                  "Also report KL divergence, top-1 agreement and delta-p against this (FP) model");
  cmd->add_option("--reference-cache", args->reference_cache,
                  "Store the reference's top-k log-probabilities here once per text and model, and reuse them "
                  "(no second model in memory); default: run both models side by side (exact)");
  cmd->add_option("--reference-topk", args->reference_topk, "Top-k of the stored reference (with --reference-cache)")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  auto& ts = args->tasks;
  ts.task_dir = eval::tasks::default_task_dir();
  cmd->add_option("--tasks", ts.tasks, "Tasks: " + eval::tasks::task_list() + " (name=path.jsonl picks a file)")
      ->delimiter(',');
  cmd->add_option("--task-dir", ts.task_dir, "Directory of the task JSONL files")->capture_default_str();
  cmd->add_option("--limit", ts.limit, "Evaluate the first N documents of each task (0 = all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--num-fewshot", ts.num_fewshot, "Solved examples before each question")->capture_default_str()->check(CLI::Range(0, 64));
  cmd->add_option("--fewshot-seed", ts.fewshot_seed, "Seed of the few-shot draw")->capture_default_str();
  cmd->add_flag("--skip-bad-rows", ts.skip_bad_rows, "Skip (and count) malformed task rows instead of failing");
  cmd->add_flag("--no-task-bos", args->no_task_bos, "Do not prepend BOS to task contexts (lm-eval's HF default)");
  cmd->add_option("--task-batch-tokens", ts.scorer.batch_tokens, "Tokens per forward pass in task scoring")
      ->capture_default_str()->check(CLI::Range(1, 1 << 24));
  auto* act_bits = cmd->add_option("--act-bits", args->act_bits, "Fake-quantize every linear input to this many bits, 2..16 (0: FP; default: what the quantized model records)")->check(CLI::Range(0, 16));
  auto* act_scheme = cmd->add_option("--act-scheme", args->act_scheme, "per-token | per-tensor | static (static ranges come from ptq quantize --act-scheme static)")->check(CLI::IsMember(algo::act_quant_schemes()));
  cmd->add_option("--kv-bits", args->kv_bits, "Fake-quantize keys and values entering the KV cache to this many bits, 2..16 (0: FP)")->capture_default_str()->check(CLI::Range(0, 16));
  cmd->add_option("--kv-group-size", args->kv_group_size, "KV quantization: channels per group within a head (0: whole head)")->capture_default_str()->check(CLI::Range(0, 1 << 16));
  cmd->callback([args, act_bits, act_scheme] {
    if (args->texts.empty() && args->tasks.tasks.empty()) fail("ptq eval", "give --text and/or --tasks");
    // Simulated activation / KV quantization: what the model records, overridden by the flags,
    // validated before the model is loaded.
    auto act = pipeline::read_act_quant(args->model);
    if (act_bits->count()) act.spec.bits = args->act_bits;
    if (act_scheme->count()) act.spec.scheme = args->act_scheme;
    act.spec.validate("--act-bits/--act-scheme");
    if (act.spec.enabled() && act.spec.scheme == "static" && act.ranges.empty()) {
      if (!io::is_quantized_checkpoint(args->model)) {
        fail("--act-scheme static", args->model + " is not a ptq quantized directory: static ranges come from `ptq quantize --act-bits N --act-scheme static --calib FILE`");
      }
      act.ranges = pipeline::read_activation_ranges(args->model);
    }
    model::KvQuantSpec kv{args->kv_bits, args->kv_group_size};
    auto lm = load_model(args->model, args->tokenizer);
    lm.model->set_kv_quant(kv);
    lm.model->set_compute_dtype(args->compute_dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32);
    pipeline::apply_act_quant(*lm.model, act);
    if (act.spec.enabled()) std::printf("activations: %d-bit %s\n", act.spec.bits, act.spec.scheme.c_str());
    if (kv.enabled()) std::printf("KV cache: %d-bit, group size %d\n", kv.bits, kv.group_size);
    const std::string tok_id = data::tokenizer_fingerprint(lm.tokenizer_path);
    std::shared_ptr<model::Model> reference;
    if (!args->reference_cache.empty() && args->reference.empty()) fail("--reference-cache", "needs --reference");
    if (!args->reference.empty() && args->reference_cache.empty()) {
      reference = load_model(args->reference, lm.tokenizer_path).model;
    }
    nlohmann::json out = {{"model", args->model}, {"protocol", args->ppl.protocol}, {"seqlen", args->ppl.seqlen}};
    if (act.spec.enabled()) out["activation_quant"] = pipeline::to_json(act.spec);
    if (kv.enabled()) out["kv_quant"] = {{"bits", kv.bits}, {"group_size", kv.group_size}};
    if (!args->texts.empty()) std::printf("%-40s %-9s %6s %8s %10s %10s %9s %9s\n", "text", "protocol", "n_ctx", "windows",
                "tokens", "PPL", "+/-", "tok/s");
    for (const auto& path : args->texts) {
      data::TextSourceSpec spec;
      spec.path = path;
      const auto ids = data::tokenize_cached(*lm.tokenizer, tok_id, data::read_text(spec), true);
      const int64_t n_windows = int64_t(ids.size()) / std::max(1, args->ppl.seqlen);
      preflight_eval(args->model, args->ppl.max_windows > 0 ? std::min<int64_t>(n_windows, args->ppl.max_windows) : n_windows,
                     args->ppl.seqlen, args->ppl.batch, !args->reference.empty(), std::cerr);
      const auto r = dist::perplexity_on_ranks(*lm.model, ids, args->ppl);  // windows spread over MPI ranks
      std::printf("%-40s %-9s %6d %8lld %10lld %10.4f %9.4f %9.0f\n",
                  std::filesystem::path(path).filename().string().c_str(), r.protocol.c_str(),
                  r.seqlen, static_cast<long long>(r.windows), static_cast<long long>(r.tokens_scored),
                  r.ppl, r.ppl_stderr, r.tokens_per_second);
      auto entry = eval::to_json(r);
      entry["path"] = path;
      if (!args->reference.empty() && dist::is_root()) {  // KL divergence: rank 0 alone (not spread yet)
        eval::KlOptions ko;
        ko.protocol = args->ppl.protocol;
        ko.seqlen = args->ppl.seqlen;
        ko.batch = args->ppl.batch;
        ko.max_windows = args->ppl.max_windows;
        const auto k = args->reference_cache.empty()
                           ? eval::kl_divergence(*reference, *lm.model, ids, ko)
                           : eval::kl_divergence_cached(args->reference, ids, ko,
                                                        args->reference_topk, args->reference_cache, *lm.model);
        std::printf("\n");
        std::ostringstream stats;
        eval::print_llamacpp_kl(stats, k);  // llama-perplexity --kl-divergence's closing report
        std::fputs(stats.str().c_str(), stdout);
        std::printf("\n  vs reference: KL mean %.6f +/- %.6f, median %.6f, p90 %.6f, p99 %.6f, max %.4f; "
                    "top-1 agreement %.2f%% +/- %.2f%%; delta-p %+.4f%% +/- %.4f%%; PPL ref %.4f\n",
                    k.mean_kl, k.kl_stderr, k.kl_median, k.kl_p90, k.kl_p99, k.kl_max, 100 * k.top1_agreement,
                    100 * k.top1_stderr, 100 * k.mean_delta_p, 100 * k.delta_p_stderr, k.ppl_reference);
        entry["kl_divergence"] = eval::to_json(k);
      }
      out["texts"].push_back(entry);
    }
    if (!args->tasks.tasks.empty() && dist::is_root()) {  // tasks: rank 0 alone (not spread yet)
      args->tasks.add_bos = !args->no_task_bos;
      const auto results = eval::tasks::run_tasks(*lm.model, *lm.tokenizer, args->tasks);
      std::printf("\n%-14s %6s %8s %9s %9s %9s %9s %7s %9s\n", "task", "docs", "chance", "acc", "+/-", "acc_norm",
                  "+/-", "ppl", "tok/s");
      for (const auto& r : results) {
        const bool mc = r.kind == eval::tasks::TaskKind::MultipleChoice, cloze = r.kind == eval::tasks::TaskKind::Cloze;
        std::printf("%-14s %6lld %8s %9.4f %9.4f %9s %9s %7s %9.0f\n", r.task.c_str(), static_cast<long long>(r.docs),
                    cloze ? "-" : std::to_string(r.chance).substr(0, 6).c_str(), r.acc, r.acc_stderr,
                    mc ? std::to_string(r.acc_norm).substr(0, 6).c_str() : "-",
                    mc ? std::to_string(r.acc_norm_stderr).substr(0, 6).c_str() : "-",
                    cloze ? std::to_string(r.ppl).substr(0, 7).c_str() : "-",
                    r.stats.seconds > 0 ? r.stats.request_tokens / r.stats.seconds : 0.0);
        if (r.rows_skipped > 0) {
          std::printf("  %s: skipped %lld bad rows (first: %s)\n", r.task.c_str(),
                      static_cast<long long>(r.rows_skipped), r.skip_reasons.front().c_str());
        }
        if (r.stats.truncated > 0) {
          std::printf("  %s: %lld requests cut from the left to fit the model's context\n", r.task.c_str(),
                      static_cast<long long>(r.stats.truncated));
        }
      }
      out["tasks"] = eval::tasks::to_json(results);
      out["task_settings"] = {{"num_fewshot", args->tasks.num_fewshot}, {"fewshot_seed", args->tasks.fewshot_seed},
                              {"limit", args->tasks.limit}, {"add_bos", args->tasks.add_bos}};
    }
    if (!args->json.empty() && dist::is_root()) io::write_file_atomically(args->json, out.dump(2) + "\n");
  });
}

}  // namespace ptq::cli
