// ptq train: trains a small LLaMA from a recipe (configs/zoo/*.yaml) into a Hugging Face directory.
#include <algorithm>
#include <iostream>

#include "cli/commands.hpp"
#include "train/trainer.hpp"

namespace ptq::cli {

void add_train(CLI::App& app) {
  struct Args {
    std::string recipe, out_dir;
    int steps = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("train", "Train a small LLaMA from a recipe (bit-for-bit reproducible)");
  cmd->add_option("recipe", args->recipe, "Training recipe (YAML), e.g. configs/zoo/brown-5m.yaml")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", args->out_dir, "Output directory (default: the recipe's output.dir)");
  cmd->add_option("--steps", args->steps, "Override train.steps (measuring speed; the schedule follows)")
      ->check(CLI::Range(1, 1 << 30));
  cmd->callback([args] {
    auto cfg = train::load_train_config(args->recipe);
    if (!args->out_dir.empty()) cfg.out_dir = args->out_dir;
    if (args->steps > 0) {
      cfg.optim.steps = args->steps;
      cfg.optim.warmup_steps = std::min(cfg.optim.warmup_steps, args->steps);
    }
    train::train_model(cfg, std::cout);
  });
}

}  // namespace ptq::cli
