// ptq convert: any checkpoint ptq reads (llama2.c, GGUF, HF) to a Hugging Face directory.
#include <iostream>

#include "cli/commands.hpp"
#include "model/hf_export.hpp"
#include "model/model_files.hpp"

namespace ptq::cli {

void add_convert(CLI::App& app) {
  struct Args {
    std::string model, tokenizer, out, dtype = "f32";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("convert", "Convert a llama2.c or GGUF model to a Hugging Face directory");
  cmd->add_option("--model,-m", args->model, "Source model")->required();
  cmd->add_option("--tokenizer,-t", args->tokenizer, "Tokenizer (default: found beside the model)");
  cmd->add_option("--out,-o", args->out, "Output directory")->required();
  cmd->add_option("--dtype", args->dtype, "Storage type: f32, f16, bf16")->capture_default_str()->check(CLI::IsMember({"f32", "f16", "bf16"}));
  cmd->callback([args] {
    auto src = model::open_weights(args->model);
    const std::string tok = args->tokenizer.empty() ? model::find_tokenizer(args->model, src->config().vocab_size) : args->tokenizer;
    const auto dtype = args->dtype == "f16" ? torch::kFloat16 : args->dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
    model::write_hf_directory(*src, tok, args->out, dtype);
    std::cout << "wrote " << args->out << ": " << src->tensors().size() << " tensors (" << args->dtype
              << "), config.json, tokenizer from " << tok << "\n";
  });
}

}  // namespace ptq::cli
