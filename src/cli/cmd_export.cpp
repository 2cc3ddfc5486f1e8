// ptq export: a model ptq reads to a GGUF file llama.cpp loads.
#include <iostream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "export/gguf_export.hpp"
#include "model/weight_source.hpp"

namespace ptq::cli {

void add_export(CLI::App& app) {
  struct Args {
    std::string model, out, format = "gguf";
    exporter::GgufExportOptions opt;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("export", "Export a llama-architecture model to GGUF (llama.cpp)");
  cmd->add_option("--model,-m", args->model, "Source model (llama2.c .bin, Hugging Face directory, GGUF)")->required();
  cmd->add_option("--format", args->format, "Output format: gguf")->capture_default_str();
  cmd->add_option("--type", args->opt.type, "Storage of the weight matrices: f32, f16, q8_0, q4_0 (norms stay f32)")
      ->capture_default_str();
  cmd->add_option("--fallback", args->opt.fallback,
                  "Type (f16 or f32) for matrices whose rows are not whole blocks of --type (default: fail)");
  cmd->add_option("--tokenizer,-t", args->opt.tokenizer, "Tokenizer (default: found beside the model)");
  cmd->add_option("--name", args->opt.name, "general.name (default: the model file's stem)");
  cmd->add_option("--out,-o", args->out, "Output .gguf file")->required();
  cmd->callback([args] {
    if (args->format != "gguf") throw Error("unknown export format '" + args->format + "' (only gguf)");
    auto src = model::open_weights(args->model);
    const auto res = exporter::export_gguf(*src, args->out, args->opt);
    std::cout << "wrote " << args->out << ": " << res.tensors.size() << " tensors (" << args->opt.type;
    if (!res.fallbacks.empty()) std::cout << ", " << res.fallbacks.size() << " in " << args->opt.fallback;
    std::cout << "), " << res.bytes << " bytes, vocabulary from " << res.tokenizer << "\n";
  });
}

}  // namespace ptq::cli
