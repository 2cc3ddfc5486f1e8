#include "mixed/sensitivity.hpp"

#include <cmath>
#include <fstream>
#include <map>
#include <ostream>

#include "calibration/stats_store.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "mixed/override_source.hpp"
#include "model/decoder.hpp"

namespace ptq::mixed {

namespace {

uint64_t pad32(uint64_t n) { return (n + 31) / 32 * 32; }

double json_number(const nlohmann::json& j) {
  return j.is_number() ? j.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

// A candidate's fit and bytes for one matrix: GGUF block types for every matrix the export writes,
// integer grids for the decoder's linear layers (what ptq quantize quantizes) as GPTQ stores them.
bool candidate_fits(const std::string& type, const MatrixTensor& t, bool grids) {
  if (grids) return t.layer >= 0 && grid_fits(type, t.rows, t.row_length);
  return !fitting_types({type}, t.row_length).empty();
}

uint64_t candidate_bytes(const std::string& type, const MatrixTensor& t, bool grids) {
  return grids ? grid_candidate_bytes(type, t.rows, t.row_length) : pad32(matrix_bytes(type, t.rows, t.row_length));
}

}  // namespace

bool grid_candidates(const std::vector<std::string>& types) {
  size_t n = 0;
  for (const std::string& t : types) n += is_grid_candidate(t) ? 1 : 0;
  if (n != 0 && n != types.size()) throw Error("candidates mix integer grids and GGUF types: use one kind per table");
  return n != 0 && n == types.size();
}

bool SensitivityTable::measured() const {
  for (const SensitivityRow& r : rows) {
    if (!std::isfinite(r.kl)) return false;
  }
  return !rows.empty();
}

const SensitivityRow* SensitivityTable::find(const std::string& tensor, const std::string& type) const {
  for (const SensitivityRow& r : rows) {
    if (r.scope == "tensor" && r.tensor == tensor && r.type == type) return &r;
  }
  return nullptr;
}

SensitivityTable measure_sensitivity(const std::shared_ptr<const model::WeightSource>& src, const ReferenceKl* ref,
                                     const SensitivityOptions& opt, std::ostream& log) {
  torch::NoGradGuard no_grad;
  SensitivityTable table;
  table.model = src->path();
  table.method = to_string(opt.method);
  table.stats = opt.stats;
  table.types = opt.types;
  const bool grids = grid_candidates(opt.types);
  table.grid_sym = grids && opt.grid_base.sym;
  if (opt.method != QuantMethod::Rtn && opt.stats.empty()) {
    throw Error("sensitivity: method " + table.method + " needs calibration statistics (--stats)");
  }
  std::unique_ptr<calib::StatsReader> stats;
  if (!opt.stats.empty()) stats = std::make_unique<calib::StatsReader>(opt.stats);
  std::map<std::string, calib::InputStats> stats_of;  // by linear name, read once
  auto stats_for = [&](const MatrixTensor& t) -> const calib::InputStats* {
    if (!stats || !stats->has(t.linear)) return nullptr;
    auto it = stats_of.find(t.linear);
    if (it == stats_of.end()) it = stats_of.emplace(t.linear, stats->read(t.linear)).first;
    return &it->second;
  };

  const std::vector<MatrixTensor> matrices = matrix_tensors(*src);
  struct Job {
    std::string scope, name;
    int layer;
    std::string type;
    std::vector<const MatrixTensor*> parts;
  };
  std::vector<Job> jobs;
  for (const MatrixTensor& t : matrices) {
    if (grids && t.layer < 0) continue;  // embeddings and head stay in full precision
    size_t fit = 0;
    for (const std::string& type : opt.types) {
      if (!candidate_fits(type, t, grids)) continue;
      jobs.push_back({"tensor", t.gguf, t.layer, type, {&t}});
      ++fit;
    }
    if (fit == 0) table.fixed.push_back(t.gguf);
  }
  if (opt.per_layer) {
    for (int l = 0; l < src->config().num_layers; ++l) {
      for (const std::string& type : opt.types) {
        Job j{"layer", "blk." + std::to_string(l), l, type, {}};
        for (const MatrixTensor& t : matrices) {
          if (t.layer == l && candidate_fits(type, t, grids)) j.parts.push_back(&t);
        }
        if (!j.parts.empty()) jobs.push_back(j);
      }
    }
  }
  if (ref) {
    const auto& o = ref->options();
    table.protocol = o.protocol;
    table.seqlen = o.seqlen;
    table.windows = ref->windows();
  }

  std::map<std::pair<std::string, std::string>, torch::Tensor> quantized;  // (tensor, type) -> dequantized weights
  std::map<std::pair<std::string, std::string>, double> proxies;
  Progress progress("sensitivity (" + table.method + ")", static_cast<int64_t>(jobs.size()), log);
  for (const Job& job : jobs) {
    SensitivityRow row;
    row.scope = job.scope;
    row.tensor = job.name;
    row.layer = job.layer;
    row.type = job.type;
    std::map<std::string, torch::Tensor> replaced;
    double proxy = 0;
    bool proxy_known = true;
    for (const MatrixTensor* t : job.parts) {
      const auto key = std::make_pair(t->gguf, job.type);
      auto it = quantized.find(key);
      if (it == quantized.end()) {
        const torch::Tensor W = src->load(t->hf).to(torch::kFloat32);
        const calib::InputStats* s = stats_for(*t);
        torch::Tensor Wq = grids ? quantize_dequantize_grid(candidate_grid(job.type, opt.grid_base), W, opt.method, s,
                                                            opt.gptq_damp, t->hf)
                                 : quantize_dequantize(job.type, W, opt.method, s, opt.gptq_damp);
        proxies[key] = s ? hessian_weighted_error(W, Wq, *s) : std::numeric_limits<double>::quiet_NaN();
        it = quantized.emplace(key, Wq).first;
      }
      replaced[t->hf] = it->second;
      row.weights += t->rows * t->row_length;
      row.bytes += candidate_bytes(job.type, *t, grids);
      const double p = proxies[key];
      if (std::isfinite(p)) proxy += p; else proxy_known = false;
    }
    if (proxy_known) row.proxy = proxy;
    if (ref) {
      model::Model m(std::make_shared<OverrideSource>(src, std::move(replaced)));
      m.make_resident();
      const eval::KlResult k = ref->measure(m);
      row.kl = k.mean_kl;
      row.kl_stderr = k.kl_stderr;
      row.ppl = k.ppl;
      row.top1 = k.top1_agreement;
      table.tokens_scored = k.tokens_scored;
      table.ppl_reference = k.ppl_reference;
    }
    table.rows.push_back(row);
    progress.tick();
  }
  return table;
}

nlohmann::json to_json(const SensitivityTable& t) {
  nlohmann::json rows = nlohmann::json::array();
  for (const SensitivityRow& r : t.rows) {
    rows.push_back({{"scope", r.scope}, {"tensor", r.tensor}, {"layer", r.layer}, {"type", r.type},
                    {"weights", r.weights}, {"bytes", r.bytes}, {"proxy", number_or_null(r.proxy)},
                    {"kl", number_or_null(r.kl)}, {"kl_stderr", number_or_null(r.kl_stderr)},
                    {"ppl", number_or_null(r.ppl)}, {"top1_agreement", number_or_null(r.top1)}});
  }
  return {{"model", t.model}, {"method", t.method}, {"stats", t.stats}, {"text", t.text}, {"types", t.types},
          {"grid_sym", t.grid_sym}, {"protocol", t.protocol}, {"seqlen", t.seqlen}, {"windows", t.windows}, {"tokens_scored", t.tokens_scored},
          {"ppl_reference", t.ppl_reference}, {"fixed", t.fixed}, {"rows", rows}};
}

SensitivityTable sensitivity_from_json(const nlohmann::json& j, const std::string& where) {
  SensitivityTable t;
  try {
    t.model = j.at("model").get<std::string>();
    t.method = j.at("method").get<std::string>();
    t.stats = j.at("stats").get<std::string>();
    t.text = j.at("text").get<std::string>();
    t.types = j.at("types").get<std::vector<std::string>>();
    t.grid_sym = j.value("grid_sym", false);
    t.protocol = j.at("protocol").get<std::string>();
    t.seqlen = j.at("seqlen").get<int>();
    t.windows = j.at("windows").get<int64_t>();
    t.tokens_scored = j.at("tokens_scored").get<int64_t>();
    t.ppl_reference = j.at("ppl_reference").get<double>();
    t.fixed = j.at("fixed").get<std::vector<std::string>>();
    for (const auto& r : j.at("rows")) {
      SensitivityRow row;
      row.scope = r.at("scope").get<std::string>();
      row.tensor = r.at("tensor").get<std::string>();
      row.layer = r.at("layer").get<int>();
      row.type = r.at("type").get<std::string>();
      row.weights = r.at("weights").get<int64_t>();
      row.bytes = r.at("bytes").get<uint64_t>();
      row.proxy = json_number(r.at("proxy"));
      row.kl = json_number(r.at("kl"));
      row.kl_stderr = json_number(r.at("kl_stderr"));
      row.ppl = json_number(r.at("ppl"));
      row.top1 = json_number(r.at("top1_agreement"));
      t.rows.push_back(row);
    }
  } catch (const nlohmann::json::exception& e) {
    fail(where, std::string("not a ptq sensitivity table: ") + e.what());
  }
  return t;
}

SensitivityTable read_sensitivity(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, "cannot open the sensitivity table");
  nlohmann::json j;
  try {
    in >> j;
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("not JSON: ") + e.what());
  }
  return sensitivity_from_json(j, path);
}

}  // namespace ptq::mixed
