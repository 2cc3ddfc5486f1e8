#include "eval/layer_major.hpp"

#include <memory>

#include "core/error.hpp"
#include "core/progress.hpp"

namespace ptq::eval {

int64_t layer_major_chunk_windows(int64_t models, int64_t seqlen, int64_t hidden, const LayerMajorOptions& opt) {
  const int64_t batch = std::max(1, opt.batch);
  if (opt.max_hidden_bytes <= 0) return std::numeric_limits<int64_t>::max() / 2;
  const int64_t per_window = models * seqlen * hidden * int64_t(sizeof(float));
  const int64_t fit = opt.max_hidden_bytes / per_window;
  return std::max<int64_t>(batch, fit / batch * batch);
}

void layer_major_logits(const std::vector<model::Model*>& models, const std::vector<const model::LinearInputHook*>& hooks,
                        const WindowPlan& plan, const std::vector<int>& tokens, int64_t w_begin, int64_t w_end,
                        const LayerMajorOptions& opt, const LogitsConsumer& consume) {
  torch::NoGradGuard no_grad;
  if (models.empty()) fail("layer-major evaluation", "no model");
  if (w_begin < 0 || w_end > plan.windows || w_begin > w_end) {
    fail(opt.label, "windows " + std::to_string(w_begin) + ".." + std::to_string(w_end) +
                                       " outside the plan's 0.." + std::to_string(plan.windows));
  }
  const auto& cfg0 = models[0]->config();
  for (auto* m : models) {
    if (m->config().hidden_size != cfg0.hidden_size || m->config().num_layers != cfg0.num_layers) {
      fail(m->source().path(), "layer-major evaluation needs models of one shape (hidden size and layers)");
    }
  }
  const int64_t batch = std::max(1, opt.batch), T = plan.seqlen, D = cfg0.hidden_size, L = cfg0.num_layers;
  const int64_t chunk = layer_major_chunk_windows(int64_t(models.size()), T, D, opt);
  std::vector<model::LinearInputHook> storage(models.size());
  std::vector<model::LayerRun> runs;
  for (size_t m = 0; m < models.size(); ++m) {
    runs.push_back(models[m]->simulation_run(m < hooks.size() ? hooks[m] : nullptr, storage[m]));
  }
  std::unique_ptr<Progress> progress;
  const int64_t chunks = (w_end - w_begin + chunk - 1) / std::max<int64_t>(chunk, 1);
  if (opt.progress) progress = std::make_unique<Progress>(opt.label, chunks * (L + 1), *opt.progress);
  for (int64_t c0 = w_begin; c0 < w_end; c0 += chunk) {
    const int64_t n = std::min(chunk, w_end - c0);
    std::vector<torch::Tensor> hidden;
    for (auto* m : models) {
      auto x = torch::empty({n, T, D});
      for (int64_t r = 0; r < n; r += batch) {
        const int64_t b = std::min(batch, n - r);
        x.narrow(0, r, b).copy_(m->embed(plan.inputs(tokens, c0 + r, b)));
      }
      hidden.push_back(std::move(x));
    }
    for (int64_t i = 0; i < L; ++i) {
      for (size_t m = 0; m < models.size(); ++m) {
        const model::LayerWeights w = models[m]->layer(static_cast<int>(i));  // read once per chunk
        for (int64_t r = 0; r < n; r += batch) {
          const int64_t b = std::min(batch, n - r);
          auto rows = hidden[m].narrow(0, r, b);
          rows.copy_(models[m]->run_layer_weights(w, rows, runs[m]));
        }
      }
      if (progress) progress->tick();
    }
    for (int64_t r = 0; r < n; r += batch) {
      const int64_t b = std::min(batch, n - r);
      std::vector<torch::Tensor> logits;
      for (size_t m = 0; m < models.size(); ++m) logits.push_back(models[m]->head(hidden[m].narrow(0, r, b)));
      consume(c0 + r, b, logits);
    }
    if (progress) progress->tick();
  }
}

bool use_layer_major(const std::vector<model::Model*>& models, Traversal traversal) {
  if (traversal != Traversal::automatic) return traversal == Traversal::layer_major;
  for (auto* m : models) if (!m->resident()) return true;
  return false;
}

void evaluate_windows(const std::vector<model::Model*>& models, const std::vector<const model::LinearInputHook*>& hooks,
                      const WindowPlan& plan, const std::vector<int>& tokens, int64_t w_begin, int64_t w_end,
                      Traversal traversal, const LayerMajorOptions& opt, const LogitsConsumer& consume) {
  if (use_layer_major(models, traversal)) {
    layer_major_logits(models, hooks, plan, tokens, w_begin, w_end, opt, consume);
    return;
  }
  torch::NoGradGuard no_grad;
  if (w_begin < 0 || w_end > plan.windows || w_begin > w_end) {
    fail(opt.label, "windows " + std::to_string(w_begin) + ".." + std::to_string(w_end) + " outside the plan's 0.." +
                        std::to_string(plan.windows));
  }
  const int64_t batch = std::max(1, opt.batch);
  std::unique_ptr<Progress> progress;
  if (opt.progress) progress = std::make_unique<Progress>(opt.label, w_end - w_begin, *opt.progress);
  for (int64_t w0 = w_begin; w0 < w_end; w0 += batch) {
    const int64_t b = std::min(batch, w_end - w0);
    const auto ids = plan.inputs(tokens, w0, b);
    std::vector<torch::Tensor> logits;
    for (size_t m = 0; m < models.size(); ++m) logits.push_back(models[m]->forward(ids, nullptr, m < hooks.size() ? hooks[m] : nullptr));
    consume(w0, b, logits);
    if (progress) progress->tick(b);
  }
}

}  // namespace ptq::eval
