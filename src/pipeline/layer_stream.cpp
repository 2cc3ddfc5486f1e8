#include "pipeline/layer_stream.hpp"

#include <chrono>
#include <map>
#include <set>

#include "calibration/stats_reduce.hpp"
#include "dist/shard.hpp"
#include "dist/world.hpp"
#include "export/gguf_type_plan.hpp"

namespace ptq::pipeline {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> all_linears() {
  std::vector<std::string> names;
  for (const auto& s : model::block_linears()) names.push_back(s.name);
  return names;
}

class StoredStatsStream : public LayerStream {
 public:
  StoredStatsStream(model::Model& model, const calib::StatsReader* reader, bool quantize, OwnersFn owners)
      : model_(model), reader_(reader), quantize_(quantize), owners_(std::move(owners)) {}

  void run(const StageFn& stage, const LayerDoneFn& done) override {
    for (int L = 0; L < model_.config().num_layers; ++L) {
      model::LayerWeights w = model_.load_layer(L);
      if (!quantize_) {
        done(L, &w);
        continue;
      }
      // Layers sharing an input share one stored group: read it once per layer, not once per
      // linear (and only by the ranks that quantize a layer reading it).
      std::map<std::string, calib::InputStats> by_input;
      LayerStage s{w, all_linears(), {}, {}, false};
      s.owner = owners_(w, s.linears);
      if (reader_) {
        s.stats_of = [&](const std::string& linear) -> const calib::InputStats* {
          const std::string input = calib::input_of(linear);
          auto it = by_input.find(input);
          if (it == by_input.end()) it = by_input.emplace(input, reader_->read(model::layer_prefix(L) + linear)).first;
          return &it->second;
        };
      } else {
        s.stats_of = [](const std::string&) -> const calib::InputStats* { return nullptr; };
      }
      stage(s);
      done(L, nullptr);
    }
  }

 private:
  model::Model& model_;
  const calib::StatsReader* reader_;
  bool quantize_;
  OwnersFn owners_;
};

class CalibratingStream : public LayerStream {
 public:
  CalibratingStream(model::Model& model, const torch::Tensor& samples, const calib::CalibrationOptions& opt,
                    calib::StatsWriter* writer, OwnersFn owners)
      : model_(model), samples_(samples), opt_(opt), writer_(writer), owners_(std::move(owners)) {}

  void run(const StageFn& stage, const LayerDoneFn& done) override {
    // Data-parallel: each rank streams its run of whole calibration batches (the batches one
    // process would form); a stage's statistics are combined exactly before its linear layers are
    // spread over the ranks.
    calib::CalibrationOptions opt = opt_;
    opt.batch = calib::calibration_batch(model_.config(), samples_, opt);
    const auto [first, end] = dist::batch_shard(samples_.size(0), opt.batch, dist::rank(), dist::size());
    const bool sequential = opt.mode == "sequential";
    calib::calibrate_layerwise(
        model_, samples_.narrow(0, first, end - first), opt,
        [&](model::LayerWeights& w, const calib::StageStats& shard_stats) {
          calib::StageStats combined = shard_stats;
          const std::string prefix = model::layer_prefix(w.index);
          LayerStage s{w, combined.linears, owners_(w, combined.linears), {}, sequential};
          // Each input's sums go to the ranks quantizing a linear layer that reads it.
          std::map<std::string, std::set<int>> wanted_by;
          for (size_t i = 0; i < s.linears.size(); ++i) wanted_by[calib::input_of(s.linears[i])].insert(s.owner[i]);
          calib::combine_stats_across_ranks(combined.inputs, wanted_by, prefix.substr(0, prefix.size() - 1));
          if (writer_) {
            for (const auto& [input, stats] : combined.inputs) {
              std::vector<std::string> names;
              for (const auto& l : calib::linears_reading(input)) names.push_back(prefix + l);
              writer_->add(names, input, stats);
            }
          }
          s.stats_of = [&](const std::string& l) { return &combined.of(l); };
          stage(s);
        },
        [&](int L, double) { done(L, nullptr); });
    if (writer_) writer_->commit();
  }

 private:
  model::Model& model_;
  const torch::Tensor& samples_;
  calib::CalibrationOptions opt_;
  calib::StatsWriter* writer_;
  OwnersFn owners_;
};

class TransformingStream : public LayerStream {
 public:
  TransformingStream(model::Model& model, const torch::Tensor& samples, TransformSettings settings, OwnersFn owners)
      : model_(model), samples_(samples), set_(std::move(settings)), owners_(std::move(owners)) {}

  nlohmann::json transform_rows() const override { return rows_; }

  void run(const StageFn& stage, const LayerDoneFn& done) override {
    const auto& cfg = model_.config();
    const int batch = calib::calibration_batch(cfg, samples_, set_.calibration);
    auto run_module = [&](const model::LayerWeights& w, const std::string& module, const torch::Tensor& x) {
      std::vector<torch::Tensor> outs;
      for (int64_t b = 0; b < x.size(0); b += batch) {
        outs.push_back(model_.run_module(w, module, x.narrow(0, b, std::min<int64_t>(batch, x.size(0) - b))));
      }
      return torch::cat(outs, 0);
    };
    model::LayerWeights last;
    calib::calibrate_blockwise(
        model_, samples_, set_.calibration,
        [&](model::LayerWeights& w, std::map<std::string, torch::Tensor>& inputs) {
          algo::BlockContext ctx;
          ctx.w = &w;
          ctx.inputs = std::move(inputs);
          ctx.run_module = run_module;
          if (set_.act.enabled()) {
            ctx.act_quant = [act = set_.act](const torch::Tensor& x, double calib_absmax) {
              return algo::fake_quantize_activation(x, act, algo::static_act_scale(calib_absmax, act));
            };
          }
          ctx.where = model::layer_prefix(w.index);
          if (!set_.ggml_target.empty()) {
            // Each linear layer's type as the export will choose it (a mix's per-tensor rules,
            // llama.cpp's fallbacks).
            ctx.ggml_types = exporter::layer_gguf_types(set_.ggml_target, w.index, cfg.num_layers, cfg.num_heads,
                                                        cfg.num_kv_heads, cfg.hidden_size, cfg.intermediate_size);
          }
          nlohmann::json row = {{"layer", w.index}};
          for (const auto& t : *set_.transforms) {
            const auto t0 = Clock::now();
            row[t->name()] = t->apply(ctx, set_.grid);
            row[t->name()]["seconds"] = std::chrono::duration<double>(Clock::now() - t0).count();
          }
          rows_.push_back(row);
          last = w;
          if (!set_.quantize) return;
          // The quantizer's statistics: the transformed inputs.
          std::map<std::string, calib::InputStats> stats;
          for (auto& [input, x] : ctx.inputs) {
            auto& st = stats.emplace(input, calib::InputStats(x.size(-1), set_.calibration.fp64_hessian)).first->second;
            st.add(x, model::layer_prefix(w.index) + calib::linears_reading(input).front());
            x = torch::Tensor();  // release the activations before quantizing
          }
          // Every rank ran the transforms on all samples (identical statistics): the linear layers
          // are spread over the ranks.
          LayerStage s{w, all_linears(), {}, {}, false};
          s.owner = owners_(w, s.linears);
          s.stats_of = [&](const std::string& l) { return &stats.at(calib::input_of(l)); };
          stage(s);
          last = w;
        },
        [&](int L, double) { done(L, &last); });
  }

 private:
  model::Model& model_;
  const torch::Tensor& samples_;
  TransformSettings set_;
  OwnersFn owners_;
  nlohmann::json rows_ = nlohmann::json::array();
};

}  // namespace

std::unique_ptr<LayerStream> stored_stats_stream(model::Model& model, const calib::StatsReader* reader, bool quantize,
                                                 OwnersFn owners) {
  return std::make_unique<StoredStatsStream>(model, reader, quantize, std::move(owners));
}

std::unique_ptr<LayerStream> calibrating_stream(model::Model& model, const torch::Tensor& samples,
                                                const calib::CalibrationOptions& opt, calib::StatsWriter* writer,
                                                OwnersFn owners) {
  return std::make_unique<CalibratingStream>(model, samples, opt, writer, std::move(owners));
}

std::unique_ptr<LayerStream> transforming_stream(model::Model& model, const torch::Tensor& samples,
                                                 TransformSettings settings, OwnersFn owners) {
  return std::make_unique<TransformingStream>(model, samples, std::move(settings), std::move(owners));
}

}  // namespace ptq::pipeline
