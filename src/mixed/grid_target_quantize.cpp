#include "mixed/grid_target_quantize.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <ostream>

#include "calibration/stats_store.hpp"
#include "core/error.hpp"
#include "core/unknown_name.hpp"
#include "io/atomic_file.hpp"
#include "mixed/grid_candidates.hpp"
#include "mixed/override_source.hpp"
#include "mixed/reference_kl.hpp"
#include "mixed/table_items.hpp"
#include "mixed/tensor_quantizer.hpp"
#include "model/decoder.hpp"

namespace ptq::mixed {

namespace fs = std::filesystem;

namespace {

// Mixes of per-linear grids quantized in memory (each (tensor, grid) once) and their KL to FP on the
// sensitivity table's windows.
class MixMeter {
 public:
  MixMeter(const pipeline::QuantizeSpec& spec, const SensitivityTable& table, QuantMethod method)
      : spec_(spec), method_(method), src_(model::open_weights(spec.model)) {
    if (!table.stats.empty()) stats_ = std::make_unique<calib::StatsReader>(table.stats);
    eval::KlOptions ko;
    ko.protocol = table.protocol;
    ko.seqlen = table.seqlen;
    ko.max_windows = table.windows;
    ref_ = reference_on_text(spec.model, spec.tokenizer, table.text, ko);
  }

  // KL of the model with tensors[i] on chosen[i], except those of decoder layer `fp_layer`.
  double measure(const GridByteModel& m, const std::vector<std::string>& chosen, int fp_layer = -1) {
    std::map<std::string, torch::Tensor> replaced;
    for (size_t i = 0; i < m.tensors.size(); ++i) {
      if (m.tensors[i].layer == fp_layer) continue;
      replaced[m.tensors[i].hf] = quantized(m.tensors[i], chosen[i]);
    }
    model::Model q(std::make_shared<OverrideSource>(src_, std::move(replaced)));
    q.make_resident();
    return ref_->measure(q).mean_kl;
  }

  double measure_model(const std::string& path) {
    model::Model q(model::open_weights(path));
    q.make_resident();
    return ref_->measure(q).mean_kl;
  }

 private:
  const torch::Tensor& quantized(const MatrixTensor& t, const std::string& grid) {
    const auto key = std::make_pair(t.hf, grid);
    auto it = cache_.find(key);
    if (it != cache_.end()) return it->second;
    const calib::InputStats* s = nullptr;
    if (stats_ && stats_->has(t.linear)) {
      auto st = stats_of_.find(t.linear);
      if (st == stats_of_.end()) st = stats_of_.emplace(t.linear, stats_->read(t.linear)).first;
      s = &st->second;
    }
    const torch::Tensor W = src_->load(t.hf).to(torch::kFloat32);
    const double damp = spec_.algorithm_options.value("damp_percent", 0.01);
    return cache_.emplace(key, quantize_dequantize_grid(candidate_grid(grid, spec_.grid), W, method_, s, damp, t.linear))
        .first->second;
  }

  const pipeline::QuantizeSpec& spec_;
  QuantMethod method_;
  std::shared_ptr<const model::WeightSource> src_;
  std::unique_ptr<calib::StatsReader> stats_;
  std::map<std::string, calib::InputStats> stats_of_;
  std::map<std::pair<std::string, std::string>, torch::Tensor> cache_;
  std::unique_ptr<ReferenceKl> ref_;
};

std::vector<std::string> checked_candidates(const GridTarget& target, const SensitivityTable& table) {
  if (target.candidates.empty()) return table.types;
  for (const auto& c : target.candidates) {
    if (std::find(table.types.begin(), table.types.end(), c) == table.types.end()) {
      throw Error("candidate grid '" + c + "' is not in the sensitivity table " + target.sensitivity + ": " +
                  unknown_name_message("grid", c, table.types));
    }
  }
  return target.candidates;
}

}  // namespace

GridTargetResult quantize_to_budget(pipeline::QuantizeSpec spec, const GridTarget& target, std::ostream& log) {
  torch::NoGradGuard no_grad;
  if (target.sensitivity.empty()) throw Error("--target-bpw / --target-size need a sensitivity table (--sensitivity DIR/sensitivity.json)");
  if (target.refine < 0) throw Error("--refine must be 0 or more");
  const SensitivityTable table = read_sensitivity(target.sensitivity);
  if (!grid_candidates(table.types)) {
    throw Error(target.sensitivity + ": holds GGUF types (" + table.types.front() +
                " ...), not integer grids: measure them with ptq sensitivity --types grids");
  }
  const QuantMethod method = parse_quant_method(table.method);
  const std::string want = spec.algorithm == "gptq" ? "gptq" : spec.algorithm == "rtn" ? "rtn" : "";
  if (want.empty()) throw Error("--target-bpw: the quantizer must be gptq or rtn (the table measures one of them), not " + spec.algorithm);
  if (want != table.method) {
    throw Error(target.sensitivity + ": measured with method " + table.method + ", but this quantization runs " + want +
                " (measure the table with --method " + want + ")");
  }
  if (table.grid_sym != spec.grid.sym) {
    throw Error(target.sensitivity + std::string(": measured with ") + (table.grid_sym ? "symmetric" : "asymmetric") +
                " grids; quantize with" + (table.grid_sym ? " --sym" : "out --sym") + " or measure again");
  }
  if (!spec.grid.is_int()) throw Error("--target-bpw: integer grids only (--dtype int)");

  GridTargetResult res;
  auto src = model::open_weights(spec.model);
  res.bytes = grid_byte_model(*src, checked_candidates(target, table));
  const GridByteModel& m = res.bytes;
  const uint64_t budget = grid_budget_bytes(m, target.bpw, target.size);
  log << "mixed precision: " << m.tensors.size() << " linear layers, budget " << budget << " bytes ("
      << m.bits_per_weight(budget) << " bits per weight), cost " << table_cost(table) << "\n";

  std::vector<double> weights(m.tensors.size(), 1.0);
  GridAllocation a = allocate_grids(m, table, budget, weights);
  nlohmann::json rounds = nlohmann::json::array();
  const bool measurable = table.measured() && !table.text.empty();
  GridAllocation best = a;
  double best_kl = std::numeric_limits<double>::infinity();
  std::unique_ptr<MixMeter> meter;
  if (measurable) {
    meter = std::make_unique<MixMeter>(spec, table, method);
    const int layers = src->config().num_layers;
    for (int round = 0; round <= target.refine; ++round) {
      const double kl = meter->measure(m, a.chosen);
      nlohmann::json r = {{"round", round}, {"predicted", a.predicted}, {"measured", kl},
                          {"bits_per_weight", a.bits_per_weight}, {"grids", a.chosen}};
      log << "mixed precision round " << round << ": predicted KL " << a.predicted << ", measured " << kl << "\n";
      if (kl < best_kl) best_kl = kl, best = a;
      if (round == target.refine) {
        rounds.push_back(r);
        break;
      }
      // Each layer's measured contribution: the mix's KL minus the KL with that layer in FP.
      std::vector<double> factor(layers, 1.0);
      nlohmann::json per_layer = nlohmann::json::array();
      for (int l = 0; l < layers; ++l) {
        double predicted_l = 0;
        for (size_t i = 0; i < m.tensors.size(); ++i) {
          if (m.tensors[i].layer == l) predicted_l += table.find(m.tensors[i].gguf, a.chosen[i])->kl;
        }
        const double measured_l = kl - meter->measure(m, a.chosen, l);
        per_layer.push_back({{"layer", l}, {"predicted", predicted_l}, {"measured", measured_l}});
        if (predicted_l > 0 && measured_l > predicted_l * (1 + target.tolerance)) factor[l] = measured_l / predicted_l;
      }
      r["layers"] = per_layer;
      rounds.push_back(r);
      bool changed = false;
      for (size_t i = 0; i < m.tensors.size(); ++i) {
        if (factor[m.tensors[i].layer] > 1) weights[i] *= factor[m.tensors[i].layer], changed = true;
      }
      if (!changed) break;
      const GridAllocation next = allocate_grids(m, table, budget, weights);
      if (next.chosen == a.chosen) break;
      a = next;
    }
  } else {
    log << "mixed precision: the table has no measured KL; the mix is not re-measured\n";
  }

  res.allocation = best;
  for (size_t i = 0; i < m.tensors.size(); ++i) spec.layer_grids[m.tensors[i].linear] = candidate_grid(best.chosen[i], spec.grid);
  res.summary = pipeline::quantize_model(spec, log);
  res.record = to_json(m, best);
  res.record["budget_linear_bytes"] = budget;
  res.record["target"] = {{"bpw", target.bpw}, {"size", target.size}};
  res.record["sensitivity"] = target.sensitivity;
  res.record["rounds"] = rounds;
  if (measurable) {
    res.record["measured_in_memory"] = best_kl;
    // The written directory, evaluated on the same windows (differs from the in-memory mix when the
    // quantization is sequential: its statistics come from the quantized layers before).
    res.record["measured_written"] = meter->measure_model(spec.out);
    res.record["kl_windows"] = {{"text", table.text}, {"windows", table.windows}, {"seqlen", table.seqlen}, {"protocol", table.protocol}};
    log << "mixed precision: written model's KL " << res.record["measured_written"].get<double>() << " (predicted "
        << best.predicted << ")\n";
  }
  io::write_file_atomically((fs::path(spec.out) / "allocation.json").string(), res.record.dump(2) + "\n");
  return res;
}

}  // namespace ptq::mixed
