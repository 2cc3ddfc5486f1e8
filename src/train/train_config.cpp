#include "train/train_config.hpp"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "config/yaml_schema.hpp"
#include "core/error.hpp"

namespace ptq::train {

namespace {

using config::YamlContext;
using config::get_bool;
using config::get_double;

YAML::Node section(const YamlContext& ctx, const YAML::Node& root, const std::string& key,
                   const std::vector<std::string>& allowed, bool required) {
  const auto n = root[key];
  if (!n) {
    if (required) fail(ctx.file, "missing section '" + key + "'");
    return YAML::Node(YAML::NodeType::Map);
  }
  config::check_keys(ctx, n, key, allowed);
  return n;
}

}  // namespace

TrainConfig parse_train_config(const std::string& yaml_text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    fail(file, std::string("YAML syntax error: ") + e.what());
  }
  YamlContext ctx{file};
  config::check_keys(ctx, root, "", {"name", "seed", "threads", "data", "tokenizer", "model", "train", "output"});
  TrainConfig c;
  c.file = file;
  c.name = config::get_string(ctx, root, "", "name", "");
  if (c.name.empty()) fail(file, "missing key 'name'");
  c.seed = static_cast<uint64_t>(config::get_int(ctx, root, "", "seed", 0, 0, 2147483647));
  c.threads = config::get_int(ctx, root, "", "threads", 1, 1, 256);

  const auto data = section(ctx, root, "data", {"train", "eval"}, true);
  c.train_text = config::get_string(ctx, data, "data.", "train", "");
  if (c.train_text.empty()) fail(config::where(ctx, data, "data"), "missing key 'train'");
  c.eval_text = config::get_string(ctx, data, "data.", "eval", "");

  const auto tok = section(ctx, root, "tokenizer", {"path", "spm_train"}, true);
  c.tokenizer = config::get_string(ctx, tok, "tokenizer.", "path", "");
  c.spm_train = config::get_string_list(ctx, tok, "tokenizer.", "spm_train");
  if (c.tokenizer.empty() == c.spm_train.empty()) {
    fail(config::where(ctx, tok, "tokenizer"), "give exactly one of 'path' (an existing tokenizer.model) and "
                                               "'spm_train' (flags to train one)");
  }
  for (const auto& flag : c.spm_train) {
    if (flag.rfind("--", 0) != 0 || flag.find('=') == std::string::npos) {
      fail(config::where(ctx, tok["spm_train"], "tokenizer.spm_train"), "'" + flag + "' is not of the form --name=value");
    }
    if (flag.rfind("--input=", 0) == 0 || flag.rfind("--model_prefix=", 0) == 0) {
      fail(config::where(ctx, tok["spm_train"], "tokenizer.spm_train"),
           "'" + flag + "' is set by ptq train (the input is data.train, the prefix 'tokenizer')");
    }
    if (flag.find_first_of("'\"\\$`;&|<> ") != std::string::npos) {
      fail(config::where(ctx, tok["spm_train"], "tokenizer.spm_train"), "'" + flag + "' contains shell characters");
    }
  }

  const auto m = section(ctx, root, "model",
                         {"hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads",
                          "tie_word_embeddings", "max_position_embeddings", "rope_theta", "rms_norm_eps", "init_std"},
                         true);
  auto& s = c.model;
  s.hidden_size = config::get_int(ctx, m, "model.", "hidden_size", s.hidden_size, 8, 65536);
  s.intermediate_size = config::get_int(ctx, m, "model.", "intermediate_size", s.intermediate_size, 8, 262144);
  s.num_layers = config::get_int(ctx, m, "model.", "num_layers", s.num_layers, 1, 256);
  s.num_heads = config::get_int(ctx, m, "model.", "num_heads", s.num_heads, 1, 1024);
  s.num_kv_heads = config::get_int(ctx, m, "model.", "num_kv_heads", s.num_kv_heads, 1, 1024);
  s.tie_word_embeddings = get_bool(ctx, m, "model.", "tie_word_embeddings", s.tie_word_embeddings);
  s.max_position_embeddings = config::get_int(ctx, m, "model.", "max_position_embeddings", s.max_position_embeddings, 2, 1 << 20);
  s.rope_theta = get_double(ctx, m, "model.", "rope_theta", s.rope_theta, 1.0, 1e9);
  s.rms_norm_eps = get_double(ctx, m, "model.", "rms_norm_eps", s.rms_norm_eps, 1e-12, 1.0);
  s.init_std = get_double(ctx, m, "model.", "init_std", s.init_std, 1e-6, 10.0);
  if (s.hidden_size % s.num_heads != 0 || (s.hidden_size / s.num_heads) % 2 != 0) {
    fail(config::where(ctx, m, "model.num_heads"), "hidden_size must split into an even head_dim per head");
  }
  if (s.num_heads % s.num_kv_heads != 0) {
    fail(config::where(ctx, m, "model.num_kv_heads"), "num_heads must be a multiple of num_kv_heads");
  }

  const auto t = section(ctx, root, "train",
                         {"seqlen", "batch_size", "steps", "warmup_steps", "lr", "min_lr", "weight_decay", "beta1",
                          "beta2", "eps", "grad_clip", "log_every", "eval_every", "eval_windows"},
                         true);
  auto& o = c.optim;
  o.seqlen = config::get_int(ctx, t, "train.", "seqlen", o.seqlen, 2, 1 << 16);
  o.batch_size = config::get_int(ctx, t, "train.", "batch_size", o.batch_size, 1, 1 << 16);
  o.steps = config::get_int(ctx, t, "train.", "steps", o.steps, 1, 1 << 30);
  o.warmup_steps = config::get_int(ctx, t, "train.", "warmup_steps", o.warmup_steps, 0, 1 << 30);
  o.lr = get_double(ctx, t, "train.", "lr", o.lr, 0.0, 10.0);
  o.min_lr = get_double(ctx, t, "train.", "min_lr", o.min_lr, 0.0, 10.0);
  o.weight_decay = get_double(ctx, t, "train.", "weight_decay", o.weight_decay, 0.0, 10.0);
  o.beta1 = get_double(ctx, t, "train.", "beta1", o.beta1, 0.0, 0.999999);
  o.beta2 = get_double(ctx, t, "train.", "beta2", o.beta2, 0.0, 0.999999);
  o.eps = get_double(ctx, t, "train.", "eps", o.eps, 1e-20, 1.0);
  o.grad_clip = get_double(ctx, t, "train.", "grad_clip", o.grad_clip, 0.0, 1e9);
  o.log_every = config::get_int(ctx, t, "train.", "log_every", o.log_every, 1, 1 << 30);
  o.eval_every = config::get_int(ctx, t, "train.", "eval_every", o.eval_every, 0, 1 << 30);
  o.eval_windows = config::get_int(ctx, t, "train.", "eval_windows", o.eval_windows, 0, 1 << 30);
  if (o.warmup_steps > o.steps) fail(config::where(ctx, t, "train.warmup_steps"), "exceeds train.steps");
  if (o.min_lr > o.lr) fail(config::where(ctx, t, "train.min_lr"), "exceeds train.lr");
  if (o.seqlen > s.max_position_embeddings) {
    fail(config::where(ctx, t, "train.seqlen"), "exceeds model.max_position_embeddings");
  }

  const auto out = section(ctx, root, "output", {"dir", "dtype"}, true);
  c.out_dir = config::get_string(ctx, out, "output.", "dir", "");
  if (c.out_dir.empty()) fail(config::where(ctx, out, "output"), "missing key 'dir'");
  c.dtype = config::get_string(ctx, out, "output.", "dtype", c.dtype);
  if (c.dtype != "float16" && c.dtype != "float32" && c.dtype != "bfloat16") {
    fail(config::where(ctx, out["dtype"], "output.dtype"), "'" + c.dtype + "' is not float16, float32 or bfloat16");
  }
  return c;
}

TrainConfig load_train_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, "cannot open the training recipe");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_train_config(ss.str(), path);
}

}  // namespace ptq::train
