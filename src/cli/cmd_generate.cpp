// ptq generate: the first thing a user runs on a (quantized) model to see that it still talks.
#include <iostream>

#include "cli/commands.hpp"
#include "model/generate.hpp"

namespace ptq::cli {

void add_generate(CLI::App& app) {
  struct Args {
    std::string model, tokenizer, prompt;
    model::GenerateOptions gen;
    bool no_bos = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt (greedy by default)");
  cmd->add_option("--model,-m", args->model, "Model: HF directory, llama2.c .bin or .gguf")->required();
  cmd->add_option("--tokenizer,-t", args->tokenizer, "Tokenizer file (default: found beside the model)");
  cmd->add_option("--prompt,-p", args->prompt, "Prompt text (default: empty, i.e. BOS only)");
  cmd->add_option("--max-tokens,-n", args->gen.max_tokens, "Tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", args->gen.temperature, "0 = greedy")->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-p", args->gen.top_p, "Nucleus sampling mass")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", args->gen.seed, "Sampling seed")->capture_default_str();
  cmd->add_flag("--no-bos", args->no_bos, "Do not prepend BOS");
  cmd->callback([args] {
    auto lm = load_model(args->model, args->tokenizer);
    auto prompt = lm.tokenizer->encode(args->prompt, !args->no_bos);
    args->gen.stop_token = lm.tokenizer->eos();
    // Print the growing decoded text's new suffix, so multi-byte characters split across byte
    // tokens and SentencePiece's leading-space handling come out right.
    std::cout << args->prompt << std::flush;
    std::vector<int> ids;
    std::string shown;
    model::generate(*lm.model, prompt, args->gen, [&](int id) {
      if (id == args->gen.stop_token) return;
      ids.push_back(id);
      std::string text = lm.tokenizer->decode(ids);
      if (text.size() > shown.size() && text.compare(0, shown.size(), shown) == 0) {
        std::cout << text.substr(shown.size()) << std::flush;
        shown = text;
      }
    });
    std::cout << std::endl;
  });
}

}  // namespace ptq::cli
