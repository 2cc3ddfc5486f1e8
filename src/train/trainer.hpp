// `ptq train`: trains a small LLaMA from a recipe (train_config.hpp) and writes it as a Hugging Face
// directory ptq loads unchanged: config.json, model.safetensors, tokenizer.model,
// tokenizer_config.json and train_log.txt. Bit-for-bit reproducible: the tokenizer comes from
// spm_train with fixed flags, initialisation from a seeded generator, the batch order from a seeded
// shuffle, and the arithmetic from a fixed thread count.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>

#include "train/train_config.hpp"

namespace ptq::train {

struct TrainResult {
  int64_t parameters = 0;
  int64_t train_tokens = 0;     // tokens in the training text
  int64_t tokens_seen = 0;      // steps x batch x seqlen
  double final_loss = 0;        // mean training loss over the last log interval
  double eval_loss = -1;        // mean NLL on the eval text's windows at the end (-1 without one)
  double seconds = 0;
  double tokens_per_second = 0;
};

// Runs the recipe; lines of the training log go to `console` as well as to out_dir/train_log.txt.
TrainResult train_model(const TrainConfig& cfg, std::ostream& console);

// Trains the recipe's SentencePiece model with Debian's spm_train in the training text's directory
// (input "<file name>", prefix "tokenizer", so the paths recorded in the model's trainer spec are the
// same on every machine) and returns the path of <that directory>/tokenizer.model.
std::string train_tokenizer(const TrainConfig& cfg);

// Cosine schedule with linear warmup: lr * step / warmup during warmup, then from lr down to
// min_lr at `steps` along half a cosine. `step` counts from 0.
double learning_rate(const OptimSettings& o, int step);

}  // namespace ptq::train
