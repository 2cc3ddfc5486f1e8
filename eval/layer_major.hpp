// Layer-major evaluation: all windows go through decoder layer i before any goes through layer i+1,
// so a model that is not resident reads each layer's weights once per chunk of windows instead of
// once per batch of windows (window-major forward() reloads every layer for every batch). It holds
// the hidden states [windows, T, hidden] of every model instead of the models' weights.
//
// Every batch of windows meets exactly the operations forward() applies to it (same batch size,
// same order: embedding, layers, head), so the logits equal window-major forward()'s.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "eval/windows.hpp"
#include "model/decoder.hpp"

namespace ptq::eval {

// How the windows go through the models: window-major (each batch through every layer, forward())
// or layer-major (every window through layer i before layer i+1; each layer read once per chunk).
// Both give the same numbers; automatic picks layer-major when a model is not resident (its layers
// would otherwise be read from disk once per batch).
enum class Traversal { automatic, window_major, layer_major };

struct LayerMajorOptions {
  int batch = 4;  // windows per product, as window-major's batch
  // Hidden states held at once, over all models (fp32 [windows, T, hidden] each). The windows are
  // cut into chunks that fit (a whole number of batches, at least one); each chunk reads the layers
  // once. 0: one chunk.
  int64_t max_hidden_bytes = int64_t(4) << 30;
  std::ostream* progress = nullptr;  // a progress bar over layers x chunks
  const char* label = "layer-major";
};

// Called per batch of windows, in window order, with each model's logits [b, seqlen, vocab].
using LogitsConsumer = std::function<void(int64_t w0, int64_t b, const std::vector<torch::Tensor>& logits)>;

// Windows [w_begin, w_end) of `plan` through every model in lockstep (layer i of every model, then
// layer i+1), each with its own linear-input hook (hooks[m], may be null or absent) and its
// model-level simulation settings. All models must share the hidden size.
void layer_major_logits(const std::vector<model::Model*>& models, const std::vector<const model::LinearInputHook*>& hooks,
                        const WindowPlan& plan, const std::vector<int>& tokens, int64_t w_begin, int64_t w_end,
                        const LayerMajorOptions& opt, const LogitsConsumer& consume);

// layer_major_logits, or window-major forward() per batch (the same consumer calls, the same
// logits) as `traversal` says.
void evaluate_windows(const std::vector<model::Model*>& models, const std::vector<const model::LinearInputHook*>& hooks,
                      const WindowPlan& plan, const std::vector<int>& tokens, int64_t w_begin, int64_t w_end,
                      Traversal traversal, const LayerMajorOptions& opt, const LogitsConsumer& consume);

// True when evaluate_windows runs these models layer-major.
bool use_layer_major(const std::vector<model::Model*>& models, Traversal traversal);

// The windows per chunk layer_major_logits uses for these models and options.
int64_t layer_major_chunk_windows(int64_t models, int64_t seqlen, int64_t hidden, const LayerMajorOptions& opt);

}  // namespace ptq::eval
