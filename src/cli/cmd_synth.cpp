// ptq synth: a random LLaMA-shaped Hugging Face directory of a published shape (or any shape), with
// heavy-tailed weights and activation outlier channels, for measuring time and memory at scale.
#include <chrono>
#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "io/staged_directory.hpp"
#include "model/hf_export.hpp"
#include "model/resource_estimate.hpp"
#include "model/synthetic_model.hpp"

namespace ptq::cli {

namespace fs = std::filesystem;

void add_synth(CLI::App& app) {
  struct Args {
    std::string shape, dtype = "f16", out, tokenizer = std::string(PTQ_SOURCE_DIR) + "/models/brown-5m/tokenizer.model";
    uint64_t seed = 0;
    int hidden = 0, intermediate = 0, layers = 0, heads = 0, kv_heads = 0, vocab = 0;
    model::SynthOptions opt;
  };
  auto args = std::make_shared<Args>();
  args->opt.student_t_dof = 6;
  args->opt.outlier_channels = 6;
  std::string shapes;
  for (const auto& n : model::named_shapes()) shapes += (shapes.empty() ? "" : ", ") + n;
  auto* cmd = app.add_subcommand("synth", "Write a random LLaMA-shaped model (for time and memory at scale)");
  cmd->add_option("--shape", args->shape, "A published shape: " + shapes + " (the options below override it)");
  cmd->add_option("--hidden", args->hidden, "Hidden size")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--intermediate", args->intermediate, "MLP intermediate size")->check(CLI::Range(1, 1 << 22));
  cmd->add_option("--layers", args->layers, "Decoder layers")->check(CLI::Range(1, 1 << 12));
  cmd->add_option("--heads", args->heads, "Attention heads")->check(CLI::Range(1, 1 << 12));
  cmd->add_option("--kv-heads", args->kv_heads, "Key/value heads (grouped-query attention)")->check(CLI::Range(1, 1 << 12));
  cmd->add_option("--vocab", args->vocab, "Vocabulary size")->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--dtype", args->dtype, "Storage type: f32, f16, bf16")->capture_default_str()->check(CLI::IsMember({"f32", "f16", "bf16"}));
  cmd->add_option("--seed", args->seed, "Seed (the same seed and options write the same bytes)")->capture_default_str();
  cmd->add_option("--student-t-dof", args->opt.student_t_dof, "Weights Student-t with this many degrees of freedom (even, >= 6; 0: normal)")
      ->capture_default_str()->check(CLI::Range(0, 1000));
  cmd->add_option("--outlier-channels", args->opt.outlier_channels, "Residual channels with large norm weights in every layer (0: none)")
      ->capture_default_str()->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--outlier-factor", args->opt.outlier_factor, "Norm weight of the outlier channels (the others are 1)")
      ->capture_default_str()->check(CLI::Range(1e-6, 1e6));
  cmd->add_option("--tokenizer,-t", args->tokenizer, "Tokenizer copied into the directory (its ids must be below the vocabulary size)")
      ->capture_default_str();
  cmd->add_option("--out,-o", args->out, "Output directory")->required();
  cmd->callback([args] {
    model::ModelConfig cfg;
    if (!args->shape.empty()) {
      cfg = model::named_shape(args->shape);
    } else if (!args->hidden || !args->intermediate || !args->layers || !args->heads || !args->vocab) {
      fail("ptq synth", "give --shape, or all of --hidden --intermediate --layers --heads --vocab");
    }
    auto set = [](int v, int& field) { if (v) field = v; };
    set(args->hidden, cfg.hidden_size);
    set(args->intermediate, cfg.intermediate_size);
    set(args->layers, cfg.num_layers);
    set(args->heads, cfg.num_heads);
    set(args->vocab, cfg.vocab_size);
    cfg.num_kv_heads = args->kv_heads ? args->kv_heads : (cfg.num_kv_heads ? cfg.num_kv_heads : cfg.num_heads);
    if (cfg.num_heads > 0) cfg.head_dim = cfg.hidden_size / cfg.num_heads;
    cfg.validate("ptq synth");
    args->opt.dtype = args->dtype == "f16" ? torch::kFloat16 : args->dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
    if (!fs::is_regular_file(args->tokenizer)) fail(args->tokenizer, "tokenizer file not found (--tokenizer)");
    // Know before writing: the directory's size against the free space of its file system.
    const double bits = args->dtype == "f32" ? 32.0 : 16.0;
    model::Estimate need = model::estimate_export(cfg, bits, bits);
    need.what = "synth";
    model::print_estimate(std::cerr, need, 0.0);
    model::check_resources(need, args->out);
    const auto t0 = std::chrono::steady_clock::now();
    io::StagedDirectory stage(args->out, "synth", {args->tokenizer});
    model::write_synthetic_model(cfg, stage.dir(), args->seed, args->opt);
    model::copy_tokenizer_files(args->tokenizer, stage.dir());
    stage.commit();
    uint64_t bytes = 0;
    for (const auto& e : fs::directory_iterator(args->out)) {
      if (e.is_regular_file()) bytes += e.file_size();
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("wrote %s: hidden %d, intermediate %d, %d layers, %d/%d heads, vocab %d, %s, %.2f GB in %.1f s\n",
                args->out.c_str(), cfg.hidden_size, cfg.intermediate_size, cfg.num_layers, cfg.num_heads,
                cfg.num_kv_heads, cfg.vocab_size, args->dtype.c_str(), bytes / 1e9, secs);
  });
}

}  // namespace ptq::cli
