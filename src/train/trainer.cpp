#include "train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <malloc.h>
#include <random>
#include <sstream>

#include "core/error.hpp"
#include "core/threads.hpp"
#include "data/text_source.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "model/hf_config.hpp"
#include "model/hf_export.hpp"
#include "tokenizer/tokenizer.hpp"
#include "train/trainable_llama.hpp"

namespace ptq::train {

namespace fs = std::filesystem;

namespace {

std::vector<int> tokenize_file(const tok::Tokenizer& tokenizer, const std::string& tokenizer_path,
                               const std::string& path) {
  data::TextSourceSpec spec;
  spec.path = path;
  return data::tokenize_cached(tokenizer, data::tokenizer_fingerprint(tokenizer_path), data::read_text(spec), true);
}

model::ModelConfig model_config(const TrainConfig& cfg, const tok::Tokenizer& tokenizer) {
  model::ModelConfig c;
  c.architecture = "LlamaForCausalLM";
  c.hidden_size = cfg.model.hidden_size;
  c.intermediate_size = cfg.model.intermediate_size;
  c.num_layers = cfg.model.num_layers;
  c.num_heads = cfg.model.num_heads;
  c.num_kv_heads = cfg.model.num_kv_heads;
  c.head_dim = c.hidden_size / c.num_heads;
  c.vocab_size = tokenizer.vocab_size();
  c.max_position_embeddings = cfg.model.max_position_embeddings;
  c.rope_theta = cfg.model.rope_theta;
  c.rms_norm_eps = cfg.model.rms_norm_eps;
  c.tie_word_embeddings = cfg.model.tie_word_embeddings;
  c.bos_token_id = tokenizer.bos();
  c.eos_token_id = tokenizer.eos();
  c.torch_dtype = cfg.dtype;
  return c;
}

// Non-overlapping windows of seqlen + 1 tokens (inputs and next-token targets) over a token stream.
struct Windows {
  torch::Tensor stream;  // int64
  int64_t seqlen = 0, count = 0;
  Windows(const std::vector<int>& ids, int64_t T) : seqlen(T), count((int64_t(ids.size()) - 1) / T) {
    stream = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kInt64);
  }
  torch::Tensor batch(const std::vector<int64_t>& which) const {
    std::vector<torch::Tensor> rows;
    for (auto w : which) rows.push_back(stream.narrow(0, w * seqlen, seqlen + 1));
    return torch::stack(rows);
  }
};

// The window order of one epoch: a Fisher-Yates shuffle driven by mt19937_64 (whose output the C++
// standard fixes), with the index drawn by modulo so no library-defined distribution is involved.
std::vector<int64_t> epoch_order(int64_t count, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) order[i] = i;
  std::mt19937_64 rng(seed * 1000003ULL + static_cast<uint64_t>(epoch));
  for (int64_t i = count - 1; i > 0; --i) std::swap(order[i], order[rng() % static_cast<uint64_t>(i + 1)]);
  return order;
}

double mean_eval_loss(TrainableLlama& m, const Windows& eval, int max_windows, int batch) {
  torch::NoGradGuard no_grad;
  const int64_t n = max_windows > 0 ? std::min<int64_t>(max_windows, eval.count) : eval.count;
  double sum = 0;
  for (int64_t w0 = 0; w0 < n; w0 += batch) {
    std::vector<int64_t> which;
    for (int64_t w = w0; w < std::min<int64_t>(n, w0 + batch); ++w) which.push_back(w);
    sum += m.loss(eval.batch(which)).item<double>() * double(which.size());
  }
  return n > 0 ? sum / double(n) : -1;
}

void write_checkpoint(const TrainableLlama& m, const TrainConfig& cfg, const std::string& tokenizer_path) {
  fs::create_directories(cfg.out_dir);
  const auto dtype = cfg.dtype == "float16" ? torch::kFloat16 : cfg.dtype == "bfloat16" ? torch::kBFloat16 : torch::kFloat32;
  io::SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (const auto& [name, t] : m.named_parameters()) w.add(name, t.detach().to(dtype));
  w.write((fs::path(cfg.out_dir) / "model.safetensors").string());
  io::write_file_atomically((fs::path(cfg.out_dir) / "config.json").string(), model::write_hf_config(m.config()));
  model::copy_tokenizer_files(tokenizer_path, cfg.out_dir);
}

std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string strf(const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  return buf;
}

}  // namespace

std::string train_tokenizer(const TrainConfig& cfg) {
  const fs::path text = fs::absolute(cfg.train_text);
  if (!fs::exists(text)) fail(cfg.train_text, "training text not found (scripts/zoo/fetch_brown.sh prepares Brown's)");
  if (text.string().find('\'') != std::string::npos) fail(text.string(), "a path with a quote cannot be passed to spm_train");
  std::string cmd = "cd '" + text.parent_path().string() + "' && spm_train --input='" + text.filename().string() +
                    "' --model_prefix=tokenizer";
  for (const auto& flag : cfg.spm_train) cmd += " " + flag;  // checked free of shell characters
  cmd += " > tokenizer.spm_train.log 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    fail(cfg.file, "spm_train failed (is Debian's sentencepiece package installed? scripts/install-deps.sh); see " +
                       (text.parent_path() / "tokenizer.spm_train.log").string());
  }
  return (text.parent_path() / "tokenizer.model").string();
}

double learning_rate(const OptimSettings& o, int step) {
  if (step < o.warmup_steps) return o.lr * double(step + 1) / double(o.warmup_steps);
  const double progress = double(step - o.warmup_steps) / double(std::max(1, o.steps - o.warmup_steps));
  return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
}

TrainResult train_model(const TrainConfig& cfg, std::ostream& console) {
  using clock = std::chrono::steady_clock;
  const auto t_start = clock::now();
  set_threads(cfg.threads);
  // Every step frees and reallocates the same large activations (the 32 MB logits among them). glibc
  // serves those by mmap and returns them at free, so each step page-faults ~1 GB of fresh zeroed pages:
  // half the wall time went to the kernel. Keeping them on the heap, untrimmed, doubles tokens/s.
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  std::string log_text;
  const std::string log_path = (fs::path(cfg.out_dir) / "train_log.txt").string();
  fs::create_directories(cfg.out_dir);
  auto log_line = [&](const std::string& line) {
    console << line << std::endl;
    log_text += line + "\n";
    io::write_file_atomically(log_path, log_text);
  };

  const std::string tokenizer_path = cfg.spm_train.empty() ? cfg.tokenizer : train_tokenizer(cfg);
  auto tokenizer = tok::open_tokenizer(tokenizer_path);
  const auto train_ids = tokenize_file(*tokenizer, tokenizer_path, cfg.train_text);
  const Windows train(train_ids, cfg.optim.seqlen);
  if (train.count < cfg.optim.batch_size) {
    fail(cfg.train_text, "has " + std::to_string(train.count) + " windows of " + std::to_string(cfg.optim.seqlen) +
                             " tokens, fewer than one batch of " + std::to_string(cfg.optim.batch_size));
  }
  std::unique_ptr<Windows> eval;
  if (!cfg.eval_text.empty()) eval = std::make_unique<Windows>(tokenize_file(*tokenizer, tokenizer_path, cfg.eval_text), cfg.optim.seqlen);

  torch::manual_seed(cfg.seed);
  TrainableLlama m(model_config(cfg, *tokenizer), cfg.model.init_std);
  const auto& o = cfg.optim;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(m.matrices(), std::make_unique<torch::optim::AdamWOptions>(
                                        torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(o.weight_decay)));
  groups.emplace_back(m.vectors(), std::make_unique<torch::optim::AdamWOptions>(
                                       torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(0.0)));
  torch::optim::AdamW opt(std::move(groups), torch::optim::AdamWOptions(o.lr));
  std::vector<torch::Tensor> all_params = m.matrices();
  for (const auto& v : m.vectors()) all_params.push_back(v);

  TrainResult r;
  r.parameters = m.parameter_count();
  r.train_tokens = static_cast<int64_t>(train_ids.size());
  const auto& c = m.config();
  log_line(strf("ptq train %s: %lld parameters (hidden %d, intermediate %d, %d layers, %d heads, %d kv heads, vocab %d, %s)",
             cfg.name.c_str(), static_cast<long long>(r.parameters), c.hidden_size, c.intermediate_size, c.num_layers,
             c.num_heads, c.num_kv_heads, c.vocab_size, c.tie_word_embeddings ? "tied head" : "untied head"));
  log_line(strf("train text %s: %lld tokens, %lld windows of %d; %d steps x %d windows = %.2f epochs; seed %llu, %d thread(s)",
             cfg.train_text.c_str(), static_cast<long long>(r.train_tokens), static_cast<long long>(train.count),
             o.seqlen, o.steps, o.batch_size, double(o.steps) * o.batch_size / double(train.count),
             static_cast<unsigned long long>(cfg.seed), cfg.threads));
  if (eval) log_line(strf("eval text %s: %lld windows", cfg.eval_text.c_str(), static_cast<long long>(eval->count)));
  log_line(strf("%6s %9s %10s %9s %9s %10s %8s", "step", "loss", "lr", "gnorm", "tok/s", "tokens", "elapsed"));

  int64_t epoch = 0, cursor = 0;
  auto order = epoch_order(train.count, cfg.seed, epoch);
  double interval_loss = 0;
  int interval_steps = 0;
  auto t_interval = clock::now();
  const auto t_train = clock::now();
  for (int step = 0; step < o.steps; ++step) {
    std::vector<int64_t> which;
    while (int64_t(which.size()) < o.batch_size) {
      if (cursor == train.count) order = epoch_order(train.count, cfg.seed, ++epoch), cursor = 0;
      which.push_back(order[cursor++]);
    }
    const double lr = learning_rate(o, step);
    for (auto& g : opt.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    opt.zero_grad();
    auto loss = m.loss(train.batch(which));
    loss.backward();
    const double gnorm = o.grad_clip > 0 ? torch::nn::utils::clip_grad_norm_(all_params, o.grad_clip) : 0.0;
    opt.step();
    const double l = loss.item<double>();
    if (!std::isfinite(l)) fail(cfg.file, "training diverged at step " + std::to_string(step) + " (loss " + std::to_string(l) + ")");
    interval_loss += l;
    ++interval_steps;
    r.tokens_seen += int64_t(o.batch_size) * o.seqlen;
    const bool last = step + 1 == o.steps;
    if ((step + 1) % o.log_every == 0 || last) {
      const double secs = std::chrono::duration<double>(clock::now() - t_interval).count();
      r.final_loss = interval_loss / interval_steps;
      log_line(strf("%6d %9.4f %10.3e %9.4f %9.0f %10lld %7.0fs", step + 1, r.final_loss, lr, gnorm,
                 double(interval_steps) * o.batch_size * o.seqlen / secs, static_cast<long long>(r.tokens_seen),
                 std::chrono::duration<double>(clock::now() - t_start).count()));
      interval_loss = 0;
      interval_steps = 0;
      t_interval = clock::now();
    }
    if (eval && ((o.eval_every > 0 && (step + 1) % o.eval_every == 0) || last)) {
      const double el = mean_eval_loss(m, *eval, last ? 0 : o.eval_windows, o.batch_size);
      if (last) r.eval_loss = el;
      log_line(strf("%6d eval loss %.4f (ppl %.2f) on %s windows", step + 1, el, std::exp(el),
                 last ? "all" : std::to_string(std::min<int64_t>(o.eval_windows, eval->count)).c_str()));
      t_interval = clock::now();  // keep the eval out of the throughput figure
    }
  }
  r.seconds = std::chrono::duration<double>(clock::now() - t_start).count();
  r.tokens_per_second = double(r.tokens_seen) / std::chrono::duration<double>(clock::now() - t_train).count();
  write_checkpoint(m, cfg, tokenizer_path);
  log_line(strf("done: %.0f s, %.0f tokens/s overall; wrote %s (%s)", r.seconds, r.tokens_per_second,
             cfg.out_dir.c_str(), cfg.dtype.c_str()));
  return r;
}

}  // namespace ptq::train
