// The recipe of a model ptq trains itself (configs/zoo/*.yaml): where the text is, how the
// SentencePiece tokenizer is trained, the LLaMA shape, the optimiser schedule and the output. Every
// key is checked (unknown keys, wrong types and out-of-range values name the file, line and key).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ptq::train {

struct ModelShape {
  int hidden_size = 256;
  int intermediate_size = 768;
  int num_layers = 4;
  int num_heads = 8;
  int num_kv_heads = 2;
  bool tie_word_embeddings = true;
  int max_position_embeddings = 256;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-5;
  double init_std = 0.02;  // N(0, init_std); o_proj and down_proj get init_std / sqrt(2 * layers)
};

struct OptimSettings {
  int seqlen = 256;
  int batch_size = 16;       // sequences per step
  int steps = 1000;
  int warmup_steps = 100;    // linear warmup from 0, then cosine decay to min_lr at `steps`
  double lr = 3e-3;
  double min_lr = 3e-4;
  double weight_decay = 0.1; // matrices and embeddings only; norms are not decayed
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double grad_clip = 1.0;    // global L2 norm; 0 = off
  int log_every = 25;        // steps per training-log line
  int eval_every = 0;        // steps between held-out loss checks (0 = only at the end)
  int eval_windows = 32;     // windows of the eval text per check (0 = all)
};

struct TrainConfig {
  std::string file;          // the recipe's path (for messages)
  std::string name;
  uint64_t seed = 0;
  int threads = 1;           // fixed so a rerun gives the same bits
  std::string train_text;    // paths relative to the working directory
  std::string eval_text;     // optional
  std::string tokenizer;     // an existing tokenizer.model, or empty with spm_train set
  std::vector<std::string> spm_train;  // spm_train flags (without --input/--model_prefix)
  ModelShape model;
  OptimSettings optim;
  std::string out_dir;
  std::string dtype = "float16";  // float16 | float32 | bfloat16
};

// Throws ptq::Error naming the file, line and key on any problem.
TrainConfig load_train_config(const std::string& path);
TrainConfig parse_train_config(const std::string& yaml_text, const std::string& where);

}  // namespace ptq::train
