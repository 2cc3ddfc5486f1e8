#include "calibration/layerwise.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>

#include "core/error.hpp"
#include "dist/world.hpp"
#include "model/architecture.hpp"

namespace ptq::calib {

namespace {

// Thrown by the hook to end a pass through a layer once the stage's inputs have been seen.
struct StagePassDone {};

const model::LinearSpec& spec_of(const std::string& linear) {
  for (const auto& s : model::block_linears()) {
    if (linear == s.name) return s;
  }
  fail(linear, "not a linear layer of a decoder block");
}

int64_t input_channels(const model::LayerWeights& w, const std::string& input) {
  return w.weight(linears_reading(input).front()).size(1);
}

int auto_batch(const model::ModelConfig& cfg, int64_t seqlen, int64_t n_samples, int64_t budget) {
  // Per sample: attention scores for every head, plus the MLP's three intermediate activations and a
  // few hidden-sized temporaries.
  const int64_t per_sample = 4 * (int64_t(cfg.num_heads) * seqlen * seqlen +
                                  3 * seqlen * cfg.intermediate_size + 8 * seqlen * cfg.hidden_size);
  return static_cast<int>(std::clamp<int64_t>(budget / std::max<int64_t>(per_sample, 1), 1, n_samples));
}

// The embeddings of every sample [n, T, D], computed `batch` samples at a time.
torch::Tensor embed_samples(const model::Model& model, const torch::Tensor& samples, int batch) {
  const int64_t n = samples.size(0);
  torch::Tensor hidden = torch::empty({n, samples.size(1), int64_t(model.config().hidden_size)});
  for (int64_t b = 0; b < n; b += batch) {
    const int64_t m = std::min<int64_t>(batch, n - b);
    hidden.narrow(0, b, m).copy_(model.embed(samples.narrow(0, b, m)));
  }
  return hidden;
}

}  // namespace

void CalibrationOptions::validate(const std::string& where) const {
  if (mode != "sequential" && mode != "one-shot") {
    fail(where, "calibration mode must be 'sequential' or 'one-shot', got '" + mode + "'");
  }
  if (batch < 0) fail(where, "batch must be 0 (automatic) or positive");
  if (fp_inputs && mode != "sequential") {
    fail(where, "the full-precision stream (GPTAQ) needs sequential calibration: in one-shot mode the FP inputs are the "
                "quantized model's inputs, and GPTAQ is GPTQ");
  }
}

std::string input_of(const std::string& linear) { return spec_of(linear).input; }

std::vector<std::string> linears_reading(const std::string& input) {
  std::vector<std::string> out;
  for (const auto& s : model::block_linears()) {
    if (input == s.input) out.push_back(s.name);
  }
  if (out.empty()) fail(input, "no linear layer reads this input");
  return out;
}

const InputStats& StageStats::of(const std::string& linear) const {
  auto it = inputs.find(input_of(linear));
  if (it == inputs.end()) fail(model::layer_prefix(layer) + linear, "no calibration statistics for its input");
  return it->second;
}

int calibration_batch(const model::ModelConfig& cfg, const torch::Tensor& samples, const CalibrationOptions& opt) {
  const int64_t n = samples.size(0), seqlen = samples.size(1);
  if (n == 0) return std::max(opt.batch, 1);  // an empty shard (more ranks than batches)
  return opt.batch > 0 ? static_cast<int>(std::min<int64_t>(opt.batch, n)) : auto_batch(cfg, seqlen, n, opt.batch_budget_bytes);
}

void calibrate_blockwise(model::Model& model, const torch::Tensor& samples, const CalibrationOptions& opt,
                         const BlockVisit& visit, const LayerDone& done) {
  torch::NoGradGuard no_grad;
  opt.validate("calibration");
  if (samples.dim() != 2 || samples.size(0) < 1) fail("calibration", "samples must be [n_samples, seqlen]");
  const auto& cfg = model.config();
  const int64_t n = samples.size(0), seqlen = samples.size(1);
  const int batch = calibration_batch(cfg, samples, opt);
  torch::Tensor hidden = embed_samples(model, samples, batch);
  for (int L = 0; L < cfg.num_layers; ++L) {
    const auto t0 = std::chrono::steady_clock::now();
    model::LayerWeights w = model.load_layer(L);
    const std::string prefix = model::layer_prefix(L);
    std::map<std::string, torch::Tensor> inputs;
    int64_t b = 0, m = 0;
    model::LinearInputHook hook = [&](const std::string& full, torch::Tensor& x) {
      const std::string name = full.substr(prefix.size());
      const auto& spec = spec_of(name);
      if (linears_reading(spec.input).front() != name) return;
      if (!torch::isfinite(x).all().item<bool>()) fail(full, "input activations hold NaN or Inf");
      auto it = inputs.find(spec.input);
      if (it == inputs.end()) it = inputs.emplace(spec.input, torch::empty({n, seqlen, x.size(-1)})).first;
      it->second.narrow(0, b, m).copy_(x);
    };
    model::LayerRun run;
    run.hook = &hook;
    for (b = 0; b < n; b += batch) {
      m = std::min<int64_t>(batch, n - b);
      auto x = hidden.narrow(0, b, m);
      x.copy_(model.run_layer_weights(w, x, run));  // the FP outputs feed the next layer
    }
    if (!torch::isfinite(hidden).all().item<bool>()) fail(prefix.substr(0, prefix.size() - 1), "output hidden states hold NaN or Inf");
    visit(w, inputs);
    if (done) done(L, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
}

void calibrate_layerwise(model::Model& model, const torch::Tensor& samples, const CalibrationOptions& opt,
                         const QuantizeStep& quantize, const LayerDone& done) {
  torch::NoGradGuard no_grad;
  opt.validate("calibration");
  // No samples is a rank's empty shard: it still takes part in every step.
  if (samples.dim() != 2) fail("calibration", "samples must be [n_samples, seqlen]");
  const auto& cfg = model.config();
  const int64_t n = samples.size(0);
  const int batch = calibration_batch(cfg, samples, opt);

  // Hidden states of every sample, overwritten layer by layer; with fp_inputs, also the FP model's.
  torch::Tensor hidden = embed_samples(model, samples, batch);
  const bool carry_fp = opt.fp_inputs;
  torch::Tensor hidden_fp = carry_fp ? hidden.clone() : torch::Tensor();

  // The quantization steps of a layer: each true-sequential stage alone, or the whole layer at once.
  std::vector<std::set<int>> steps;
  if (opt.mode == "sequential" && opt.true_sequential) {
    std::set<int> stages;
    for (const auto& s : model::block_linears()) stages.insert(s.stage);
    for (int s : stages) steps.push_back({s});
  } else {
    std::set<int> all;
    for (const auto& s : model::block_linears()) all.insert(s.stage);
    steps.push_back(all);
  }
  const bool one_shot = opt.mode == "one-shot";

  for (int L = 0; L < cfg.num_layers; ++L) {
    const auto t0 = std::chrono::steady_clock::now();
    model::LayerWeights w = model.load_layer(L);
    model::LayerWeights w_fp = carry_fp ? model.load_layer(L) : model::LayerWeights();  // never quantized
    const std::string prefix = model::layer_prefix(L);
    for (size_t k = 0; k < steps.size(); ++k) {
      const std::set<int>& step = steps[k];
      dist::set_step("calibrate layer " + std::to_string(L) + " stage " + std::to_string(k));
      const int last_stage = *step.rbegin();
      StageStats stage;
      stage.layer = L;
      std::map<std::string, std::shared_ptr<CrossStats>> cross;  // input -> cross term (fp_inputs only)
      for (const auto& s : model::block_linears()) {
        if (!step.count(s.stage)) continue;
        stage.linears.push_back(s.name);
        if (!stage.inputs.count(s.input)) stage.inputs.emplace(s.input, InputStats(input_channels(w, s.input), opt.fp64_hessian));
        if (carry_fp && !cross.count(s.input)) cross.emplace(s.input, std::make_shared<CrossStats>(input_channels(w, s.input), opt.fp64_hessian));
      }
      // The FP model's inputs of this stage on the current batch (fp_inputs only).
      std::map<std::string, torch::Tensor> fp_batch;
      model::LinearInputHook fp_hook = [&](const std::string& full, torch::Tensor& x) {
        const std::string name = full.substr(prefix.size());
        const auto& spec = spec_of(name);
        if (spec.stage > last_stage) throw StagePassDone{};
        if (!step.count(spec.stage) || linears_reading(spec.input).front() != name) return;
        fp_batch[spec.input] = x.clone();
      };
      model::LayerRun fp_run;
      fp_run.hook = &fp_hook;
      model::LinearInputHook hook = [&](const std::string& full, torch::Tensor& x) {
        const std::string name = full.substr(prefix.size());
        const auto& spec = spec_of(name);
        if (spec.stage > last_stage) throw StagePassDone{};
        if (!step.count(spec.stage) || linears_reading(spec.input).front() != name) return;
        stage.inputs.at(spec.input).add(x, full);
        if (carry_fp) cross.at(spec.input)->add(fp_batch.at(spec.input), x, full);
      };
      model::LayerRun run;
      run.hook = &hook;
      for (int64_t b = 0; b < n; b += batch) {
        const int64_t m = std::min<int64_t>(batch, n - b);
        auto x = hidden.narrow(0, b, m);
        if (carry_fp) {
          fp_batch.clear();
          try {
            model.run_layer_weights(w_fp, hidden_fp.narrow(0, b, m), fp_run);
          } catch (const StagePassDone&) {
          }
        }
        try {
          auto out = model.run_layer_weights(w, x, run);
          // One-shot: this single pass also gives the layer's full-precision outputs.
          if (one_shot) x.copy_(out);
        } catch (const StagePassDone&) {
        }
      }
      for (auto& [input, c] : cross) stage.inputs.at(input).set_fp_cross(c);
      if (quantize) quantize(w, stage);
    }
    if (!one_shot) {
      dist::set_step("propagate layer " + std::to_string(L));
      // The next layer's inputs come from this layer as quantized.
      for (int64_t b = 0; b < n; b += batch) {
        const int64_t m = std::min<int64_t>(batch, n - b);
        auto x = hidden.narrow(0, b, m);
        x.copy_(model.run_layer_weights(w, x, {}));
        if (carry_fp) {
          auto x_fp = hidden_fp.narrow(0, b, m);
          x_fp.copy_(model.run_layer_weights(w_fp, x_fp, {}));
        }
      }
    }
    if (!torch::isfinite(hidden).all().item<bool>()) fail(prefix.substr(0, prefix.size() - 1), "output hidden states hold NaN or Inf");
    if (carry_fp && !torch::isfinite(hidden_fp).all().item<bool>()) {
      fail(prefix.substr(0, prefix.size() - 1), "full-precision output hidden states hold NaN or Inf");
    }
    if (done) done(L, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
}

}  // namespace ptq::calib
