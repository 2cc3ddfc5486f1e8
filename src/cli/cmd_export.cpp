// ptq export: a model ptq reads to a GGUF file llama.cpp loads, or to a Hugging Face GPTQ / AWQ /
// fp16 checkpoint directory (export/hf_gptq_export.hpp).
#include <iostream>

#include "cli/commands.hpp"
#include "cli/preflight.hpp"
#include "core/error.hpp"
#include "export/gguf_export.hpp"
#include "export/gguf_type_plan.hpp"
#include "export/hf_gptq_export.hpp"
#include "mixed/gguf_target_export.hpp"
#include "model/weight_source.hpp"

namespace ptq::cli {

namespace {

// "uniform f32, f16, ..., or llama.cpp's mixes q2_k_s, ...", from the exporter's table.
std::string gguf_type_choices() {
  std::string uniform, mixes;
  for (const std::string& n : exporter::gguf_type_names()) {
    std::string& list = exporter::gguf_type_scheme(n).llama_mix ? mixes : uniform;
    list += (list.empty() ? "" : ", ") + n;
  }
  return "uniform " + uniform + ", or llama.cpp's mixes " + mixes;
}

}  // namespace

void add_export(CLI::App& app) {
  struct Args {
    std::string model, out, format = "gguf";
    exporter::GgufExportOptions opt;
    exporter::HfExportOptions hf;
    mixed::GgufTarget target;
    std::string target_types;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("export", "Export a model to GGUF (llama.cpp) or a Hugging Face GPTQ / AWQ / fp16 checkpoint");
  cmd->add_option("--model,-m", args->model, "Source model (llama2.c .bin, Hugging Face directory, GGUF)")->required();
  cmd->add_option("--format", args->format,
                  "Output format: gguf (a .gguf file); gptq, awq (Hugging Face checkpoint directories of a model "
                  "quantized by ptq quantize, for transformers / vLLM / GPTQModel / AutoAWQ); hf-fp16 (the weights "
                  "dequantized, a plain fp16 Hugging Face directory)")
      ->capture_default_str();
  cmd->add_option("--checkpoint-format", args->hf.checkpoint_format,
                  "gptq only: gptq (v1, qzeros hold zero - 1; what vLLM and transformers read) or gptq_v2 (zero as is)")
      ->capture_default_str();
  cmd->add_option("--unaligned", args->hf.unaligned,
                  "gptq / awq: a layer whose shape the packing cannot hold (e.g. 3 bits and in_features not a multiple "
                  "of 32): fail, or fp16 (kept dequantized in fp16 and listed as not quantized in the config)")
      ->capture_default_str();
  cmd->add_option("--type", args->opt.type,
                  "Storage of the weight matrices (norms stay f32): " + gguf_type_choices())
      ->capture_default_str();
  cmd->add_option("--fallback", args->opt.fallback,
                  "Type (f16 or f32) for matrices whose rows are not whole blocks of their type, after llama.cpp's "
                  "k-quant fallbacks (default: fail for 32-weight types, f16 for k-quants)");
  cmd->add_option("--override", args->opt.overrides,
                  "Per-tensor type REGEX=TYPE on GGUF names, e.g. 'ffn_down=q6_k' (repeatable; the last match wins)");
  cmd->add_option("--imatrix", args->opt.importance,
                  "Importance for the weighted quantizers: llama.cpp imatrix .dat or ptq calibration statistics .h5");
  cmd->add_option("--gptq-stats", args->opt.gptq_stats,
                  "GPTQ on the block grid for Q4_0/Q5_0/Q8_0 matrices, with the Hessians of this ptq statistics .h5");
  cmd->add_option("--gptq-damp", args->opt.gptq_damp, "GPTQ damping (fraction of the mean Hessian diagonal)")
      ->capture_default_str();
  cmd->add_option("--target-bpw", args->target.bpw,
                  "Mixed precision: per-tensor types chosen to minimise the predicted KL with the file at most X bits "
                  "per model weight (file bytes x 8 / weights); needs --sensitivity");
  cmd->add_option("--target-size", args->target.size, "Mixed precision: as --target-bpw, with the file at most BYTES");
  cmd->add_option("--sensitivity", args->target.sensitivity,
                  "sensitivity.json of ptq sensitivity, measured with this export's method (--gptq-stats: gptq, "
                  "--imatrix: imatrix, neither: rtn)");
  cmd->add_option("--candidate-types", args->target_types,
                  "Mixed precision: the types to choose from, comma-separated (default: the sensitivity table's)");
  cmd->add_option("--tokenizer,-t", args->opt.tokenizer, "Tokenizer (default: found beside the model)");
  cmd->add_option("--name", args->opt.name, "general.name (default: the model file's stem)");
  cmd->add_option("--out,-o", args->out, "Output .gguf file (gguf) or directory (gptq, awq, hf-fp16)")->required();
  cmd->callback([args, cmd] {
    if (args->format == "gptq" || args->format == "awq" || args->format == "hf-fp16") {
      for (const char* gguf_only : {"--type", "--fallback", "--override", "--imatrix", "--gptq-stats", "--gptq-damp", "--name",
                                    "--target-bpw", "--target-size", "--sensitivity", "--candidate-types"}) {
        if (cmd->get_option(gguf_only)->count() > 0) {
          throw Error(std::string(gguf_only) + " applies to --format gguf only (the grid of a " + args->format +
                      " export is the quantized model's own)");
        }
      }
      auto src = model::open_weights(args->model);
      args->hf.format = args->format;
      args->hf.tokenizer = args->opt.tokenizer;
      preflight_export(args->model, args->format == "hf-fp16" ? 16.0 : 4.25, args->out, std::cerr);  // gptq/awq: as W4 g128
      const auto res = exporter::export_hf(*src, args->out, args->hf);
      std::cout << "wrote " << args->out << " (" << args->format;
      if (args->format == "gptq") std::cout << ", " << args->hf.checkpoint_format;
      if (args->format != "hf-fp16") std::cout << ", " << res.quantized_layers << " packed layers";
      if (!res.kept_fp16.empty()) std::cout << ", " << res.kept_fp16.size() << " kept in fp16";
      std::cout << "), " << res.bytes << " bytes"
                << (res.tokenizer.empty() ? std::string(", no tokenizer") : ", tokenizer from " + res.tokenizer) << "\n";
      for (const std::string& name : res.kept_fp16) std::cout << "  fp16 " << name << "\n";
      for (const std::string& note : res.notes) std::cout << "  note: " << note << "\n";
      return;
    }
    if (args->format != "gguf") {
      throw Error("unknown export format '" + args->format + "' (gguf, gptq, awq, hf-fp16)");
    }
    if (cmd->get_option("--checkpoint-format")->count() || cmd->get_option("--unaligned")->count()) {
      throw Error("--checkpoint-format and --unaligned apply to --format gptq / awq only");
    }
    auto src = model::open_weights(args->model);
    const bool targeted = cmd->get_option("--target-bpw")->count() || cmd->get_option("--target-size")->count();
    if (targeted) {
      if (cmd->get_option("--type")->count()) throw Error("--type cannot be combined with --target-bpw / --target-size");
      if (!args->target_types.empty()) args->target.types = {args->target_types};
      const auto r = mixed::export_gguf_to_budget(*src, args->out, args->opt, args->target);
      std::cout << "wrote " << args->out << ": " << r.exported.bytes << " bytes (budget " << r.budget << ", "
                << r.record["bits_per_weight"].get<double>() << " bits per weight), predicted " << r.allocation.cost
                << " " << r.allocation.predicted << (r.allocation.exact ? " (exact knapsack)" : " (Lagrangian)")
                << "; types:";
      for (const auto& [t, n] : r.record["type_counts"].items()) std::cout << " " << t << " x" << n.get<int>();
      std::cout << "; allocation in " << args->out << ".allocation.json\n";
      return;
    }
    if (cmd->get_option("--sensitivity")->count() || cmd->get_option("--candidate-types")->count()) {
      throw Error("--sensitivity and --candidate-types apply with --target-bpw or --target-size only");
    }
    preflight_export(args->model, gguf_bits_per_weight(args->opt.type), args->out, std::cerr);
    const auto res = exporter::export_gguf(*src, args->out, args->opt);
    std::cout << "wrote " << args->out << ": " << res.tensors.size() << " tensors (" << args->opt.type;
    if (!res.fallbacks.empty()) std::cout << ", " << res.fallbacks.size() << " fell back";
    if (!res.weighted.empty()) std::cout << ", " << res.weighted.size() << " importance-weighted";
    if (!res.gptq.empty()) std::cout << ", " << res.gptq.size() << " by GPTQ";
    std::cout << "), " << res.bytes << " bytes, vocabulary from " << res.tokenizer << "\n";
    for (const std::string& note : res.fallback_notes) std::cout << "  fallback " << note << "\n";
  });
}

}  // namespace ptq::cli
