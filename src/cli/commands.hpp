// The `ptq` subcommands. Each registers itself on the CLI11 app; main() only dispatches.
#pragma once
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "model/decoder.hpp"
#include "tokenizer/tokenizer.hpp"

namespace ptq::cli {

void add_generate(CLI::App& app);
void add_eval(CLI::App& app);
void add_convert(CLI::App& app);
void add_inspect(CLI::App& app);
void add_run(CLI::App& app);
void add_quantize(CLI::App& app);
void add_export(CLI::App& app);
void add_report(CLI::App& app);
void add_train(CLI::App& app);
void add_sensitivity(CLI::App& app);
void add_synth(CLI::App& app);

// A model with its tokenizer, as every command opens them.
struct LoadedModel {
  std::shared_ptr<model::Model> model;
  std::unique_ptr<tok::Tokenizer> tokenizer;
  std::string tokenizer_path;
};
LoadedModel load_model(const std::string& model_path, const std::string& tokenizer_path);

}  // namespace ptq::cli
