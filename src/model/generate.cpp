#include "model/generate.hpp"

#include <algorithm>
#include <numeric>
#include <random>

#include "core/error.hpp"

namespace ptq::model {

namespace {

int sample(const torch::Tensor& logits, const GenerateOptions& opt, std::mt19937_64& rng) {
  if (opt.temperature <= 0) return static_cast<int>(logits.argmax().item<int64_t>());
  auto probs = torch::softmax(logits.to(torch::kFloat64) / opt.temperature, -1).contiguous();
  const double* p = probs.data_ptr<double>();
  const int64_t V = probs.numel();
  std::vector<int64_t> order(V);
  std::iota(order.begin(), order.end(), 0);
  // Highest probability first; ties by id so the order is deterministic.
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return p[a] > p[b]; });
  double mass = 0;
  size_t keep = 0;
  while (keep < order.size() && (keep == 0 || mass < opt.top_p)) mass += p[order[keep++]];
  std::uniform_real_distribution<double> u(0.0, mass);
  double r = u(rng), acc = 0;
  for (size_t i = 0; i < keep; ++i) {
    acc += p[order[i]];
    if (r < acc) return static_cast<int>(order[i]);
  }
  return static_cast<int>(order[keep - 1]);
}

}  // namespace

std::vector<int> generate(Model& model, const std::vector<int>& prompt, const GenerateOptions& opt,
                          const std::function<void(int)>& on_token) {
  torch::NoGradGuard no_grad;
  if (prompt.empty()) fail("generate", "empty prompt (no BOS and no text)");
  std::mt19937_64 rng(opt.seed);
  KVCache cache;
  std::vector<int64_t> ids(prompt.begin(), prompt.end());
  auto logits = model.forward(torch::tensor(ids, torch::kInt64).unsqueeze(0), &cache);
  std::vector<int> out;
  for (int step = 0; step < opt.max_tokens; ++step) {
    const int next = sample(logits[0][logits.size(1) - 1], opt, rng);
    out.push_back(next);
    if (on_token) on_token(next);
    if (next == opt.stop_token) break;
    if (cache.length() + 1 > model.config().max_position_embeddings) break;
    logits = model.forward(torch::tensor({int64_t(next)}, torch::kInt64).unsqueeze(0), &cache);
  }
  return out;
}

}  // namespace ptq::model
