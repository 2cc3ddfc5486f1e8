// ptq convert: any checkpoint ptq reads (llama2.c, GGUF, HF) to a Hugging Face directory.
#include <iostream>

#include "cli/commands.hpp"
#include "model/hf_export.hpp"
#include "model/model_files.hpp"
#include "model/rotation_outliers.hpp"

namespace ptq::cli {

void add_convert(CLI::App& app) {
  struct Args {
    std::string model, tokenizer, out, dtype = "f32";
    int outlier_channels = 0;
    double outlier_factor = 20.0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("convert", "Convert a llama2.c or GGUF model to a Hugging Face directory");
  cmd->add_option("--model,-m", args->model, "Source model")->required();
  cmd->add_option("--tokenizer,-t", args->tokenizer, "Tokenizer (default: found beside the model)");
  cmd->add_option("--out,-o", args->out, "Output directory")->required();
  cmd->add_option("--dtype", args->dtype, "Storage type: f32, f16, bf16")->capture_default_str()->check(CLI::IsMember({"f32", "f16", "bf16"}));
  cmd->add_option("--outlier-channels", args->outlier_channels,
                  "Experiments: write an exact reparametrisation with this many activation outlier channels "
                  "(norm weights x factor, the reading columns / factor; model/rotation_outliers.hpp)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--outlier-factor", args->outlier_factor, "Experiments: the outlier channels' factor")
      ->capture_default_str()->check(CLI::Range(1e-6, 1e6));
  cmd->callback([args] {
    std::shared_ptr<model::WeightSource> src = model::open_weights(args->model);
    if (args->outlier_channels > 0) src = std::make_shared<model::OutlierChannels>(src, args->outlier_channels, args->outlier_factor);
    const std::string tok = args->tokenizer.empty() ? model::find_tokenizer(args->model, src->config().vocab_size) : args->tokenizer;
    const auto dtype = args->dtype == "f16" ? torch::kFloat16 : args->dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
    model::write_hf_directory(*src, tok, args->out, dtype);
    std::cout << "wrote " << args->out << ": " << src->tensors().size() << " tensors (" << args->dtype
              << "), config.json, tokenizer from " << tok << "\n";
  });
}

}  // namespace ptq::cli
