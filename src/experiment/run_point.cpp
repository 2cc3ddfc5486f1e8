#include "experiment/run_point.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <ostream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "core/sha256.hpp"
#include "core/version.hpp"
#include "data/text_source.hpp"
#include "eval/kl_divergence.hpp"
#include "eval/perplexity.hpp"
#include "eval/report/bits_per_weight.hpp"
#include "eval/report/size_plots.hpp"
#include "eval/tasks/run_tasks.hpp"
#include "export/gguf_export.hpp"
#include "export/hf_gptq_export.hpp"
#include "io/atomic_file.hpp"
#include "mixed/grid_target_quantize.hpp"
#include "mixed/one_shot_stats.hpp"
#include "mixed/sensitivity_cache.hpp"
#include "model/generate.hpp"
#include "model/kv_quant.hpp"
#include "model/model_files.hpp"
#include "pipeline/activation_quant.hpp"
#include "pipeline/quantize_model.hpp"

namespace ptq::experiment {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int64_t peak_rss_bytes() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // "VmHWM:  1234 kB"
  }
  return 0;
}

std::string method_of(const config::Experiment& x) {
  if (!x.quantizes()) return "fp";
  std::string m;
  for (const auto& s : x.pipeline) m += (m.empty() ? "" : "+") + s.algorithm;
  const auto& q = x.quantizer();
  if (q.grid.value("dtype", "int") != "int") m += "-" + q.grid["dtype"].get<std::string>();
  if (q.act.value("act_bits", 0) > 0) m += "-A" + std::to_string(q.act["act_bits"].get<int>());
  return m;
}

namespace {

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

pipeline::QuantizeSpec quantize_spec(const config::Experiment& x, const std::string& out) {
  pipeline::QuantizeSpec s;
  s.model = x.model;
  s.tokenizer = x.tokenizer;
  s.out = out;
  const auto& c = x.calibration;
  s.calib.path = c.text;
  s.calib.field = c.field;
  s.sampling.n_samples = c.n_samples;
  s.sampling.seqlen = c.seqlen;
  s.sampling.seed = c.seed;
  s.sampling.method = c.sampling;
  s.calibration.mode = c.mode;
  s.calibration.true_sequential = c.true_sequential;
  s.calibration.fp64_hessian = c.fp64_hessian;
  s.calibration.batch = c.batch;
  for (const auto& step : x.pipeline) {
    if (step.kind == "transform") s.transforms.push_back({step.algorithm, step.options});
  }
  const auto& q = x.quantizer();
  s.algorithm = q.algorithm;
  s.algorithm_options = q.options;
  s.grid.bits = q.grid.at("bits");
  s.grid.group_size = q.grid.at("group_size");
  s.grid.sym = q.grid.at("sym");
  s.grid.mse = q.grid.at("mse");
  s.grid.dtype = q.grid.value("dtype", "int");
  s.act.bits = q.act.value("act_bits", 0);
  s.act.scheme = q.act.value("act_scheme", "per-token");
  s.act.percentile = q.act.value("act_percentile", 100.0);
  return s;
}

const config::StepSpec* mixed_step(const config::Experiment& x) {
  for (const auto& s : x.pipeline) {
    if (s.kind == "mixed") return &s;
  }
  return nullptr;
}

// The quantization with a mixed_precision step: one-shot statistics and the sensitivity table of
// the step's candidates (both cached, so a sweep over budgets measures them once), then the
// allocation to the budget and the quantization (mixed/grid_target_quantize.hpp).
pipeline::QuantizeSummary quantize_mixed(const config::Experiment& x, const config::StepSpec& step,
                                         const pipeline::QuantizeSpec& spec, const std::string& dir, nlohmann::json& m,
                                         std::ostream& log) {
  const std::string stats = mixed::one_shot_stats(spec.model, spec.tokenizer, spec.calib, spec.sampling, "",
                                                  (fs::path(dir) / ".calibration-rtn").string(), log);
  mixed::SensitivityRequest r;
  r.model = spec.model;
  r.tokenizer = spec.tokenizer;
  r.stats = stats;
  r.method = spec.algorithm;
  r.types = step.options["candidates"].get<std::vector<std::string>>();
  r.sym = spec.grid.sym;
  r.measure = step.options["cost"] == "kl";
  r.kl_text = x.calibration.text;
  r.seqlen = x.calibration.seqlen;
  r.windows = step.options["windows"];
  mixed::GridTarget t;
  t.sensitivity = mixed::cached_sensitivity(r, log);
  t.bpw = step.options["target_bpw"];
  t.size = static_cast<uint64_t>(step.options["target_size"].get<double>());
  t.refine = step.options["refine"];
  const auto res = mixed::quantize_to_budget(spec, t, log);
  m["mixed_precision"] = res.record;
  const std::string refs = step.options.value("reference_points", "");
  if (!refs.empty()) {
    for (const auto& p : report::read_reference_points(refs)) {
      m["reference_points"].push_back({{"label", p.label}, {"bytes", p.bytes}, {"kl", p.kl}, {"ppl", p.ppl}});
    }
  }
  return res.summary;
}

// Bits per weight and size of the model as a packed format stores it (eval/report/bits_per_weight).
void storage_figures(const config::Experiment& x, const nlohmann::json& layers, nlohmann::json& m) {
  auto src = model::open_weights(x.model);
  double total_params = 0;
  for (const auto& t : src->tensors()) {
    double n = 1;
    for (auto d : t.shape) n *= d;
    total_params += n;
  }
  m["params"] = total_params;
  m["fp16_bytes"] = total_params * report::kUnquantizedBits / 8;
  if (!x.quantizes()) {
    m["bits_per_weight"] = 16.0;
    m["model_bytes"] = m["fp16_bytes"];
    return;
  }
  const auto& q = x.quantizer();
  const bool permuted = q.options.value("act_order", false) && !q.options.value("static_groups", false);
  double qparams = 0, qbits = 0;
  for (const auto& row : layers) {
    const report::LinearShape s{row["shape"][0].get<int64_t>(), row["shape"][1].get<int64_t>()};
    const double n = static_cast<double>(s.out) * s.in;
    qparams += n;
    // Floating-point dtypes store one scale per group and no zero point, as a symmetric grid does.
    const bool sym = q.grid["sym"].get<bool>() || q.grid.value("dtype", "int") != "int";
    // Mixed precision: a layer's own grid, when it has one.
    qbits += n * report::linear_bits_per_weight(s, row.value("bits", q.grid["bits"].get<int>()),
                                                row.value("group_size", q.grid["group_size"].get<int>()), sym, permuted);
  }
  m["quantized_params"] = qparams;
  m["bits_per_weight"] = qparams > 0 ? qbits / qparams : 0.0;
  m["model_bytes"] = (qbits + (total_params - qparams) * report::kUnquantizedBits) / 8;
}

}  // namespace

nlohmann::json run_point(const std::string& dir, std::ostream& log) {
  torch::NoGradGuard no_grad;
  const auto t_start = Clock::now();
  const config::Experiment x = config::load_experiment((fs::path(dir) / "config.yaml").string());
  const nlohmann::json point = nlohmann::json::parse(io::read_text_file((fs::path(dir) / "point.json").string()));
  nlohmann::json m = {{"experiment", x.name}, {"point", point.at("id")}, {"index", point.value("index", 0)}, {"sweep", point.at("values")},
                      {"config_hash", point.at("config_hash")}, {"method", method_of(x)}};
  nlohmann::json prov = {{"ptq_version", PTQ_VERSION}, {"ptq_commit", ptq::git_commit()},
                         {"threads", torch::get_num_threads()}, {"model", x.model},
                         {"model_sha256", pipeline::model_fingerprint(x.model)}};
  log << "run " << point["id"].get<std::string>() << " (" << method_of(x) << ") in " << dir << "\n";

  std::string eval_model = x.model, eval_tokenizer = x.tokenizer;
  nlohmann::json layers = nlohmann::json::array();
  if (x.quantizes()) {
    const auto& q = x.quantizer();
    m["bits"] = q.grid["bits"];
    m["group_size"] = q.grid["group_size"];
    m["sym"] = q.grid["sym"];
    if (q.grid.value("dtype", "int") != "int") m["dtype"] = q.grid["dtype"];
    if (q.act.value("act_bits", 0) > 0) m["act_bits"] = q.act["act_bits"], m["act_scheme"] = q.act["act_scheme"];
    m["algorithm_options"] = q.options;
    const std::string qdir = (fs::path(dir) / "quantized").string();
    nlohmann::json qreport;
    if (fs::exists(fs::path(qdir) / "quant_report.json")) {
      log << "quantized model: finished earlier, reusing " << qdir << "\n";
      qreport = nlohmann::json::parse(io::read_text_file((fs::path(qdir) / "quant_report.json").string()));
      const fs::path alloc = fs::path(qdir) / "allocation.json";
      if (fs::exists(alloc)) m["mixed_precision"] = nlohmann::json::parse(io::read_text_file(alloc.string()));
      m["quantize_reused"] = true;
    } else {
      const auto* mp = mixed_step(x);
      const auto summary = mp ? quantize_mixed(x, *mp, quantize_spec(x, qdir), dir, m, log)
                              : pipeline::quantize_model(quantize_spec(x, qdir), log);
      qreport = summary.report;
      m["quantize_reused"] = false;
    }
    m["quantize_seconds"] = qreport["seconds"];
    m["stats_file"] = qreport["stats_file"];
    m["stats_reused"] = qreport["stats_reused"];
    m["warnings"] = qreport["warnings"];
    if (!x.calibration.text.empty()) {
      m["calibration"] = {{"mode", x.calibration.mode}, {"n_samples", x.calibration.n_samples},
                          {"seqlen", x.calibration.seqlen}, {"seed", x.calibration.seed}};
      prov["calibration"] = qreport["quantization"]["calibration"];
    }
    for (const auto& row : qreport["layers"]) {
      nlohmann::json r = {{"name", row["name"]}, {"shape", row["shape"]}, {"rel_weight_error", row["rel_weight_error"]}};
      if (row.contains("rel_output_error")) r["rel_output_error"] = row["rel_output_error"];
      for (const char* k : {"bits", "group_size"}) {
        if (row.contains(k)) r[k] = row[k];
      }
      layers.push_back(r);
    }
    eval_model = qdir;
    eval_tokenizer.clear();  // the quantized directory carries the tokenizer
  }
  m["layers"] = layers;
  storage_figures(x, layers, m);

  const auto t_eval = Clock::now();
  if (!x.perplexity.texts.empty() || x.generate.enabled || !x.tasks.names.empty()) {
    auto lm = cli::load_model(eval_model, eval_tokenizer);
    // Activation quantization as the quantized directory records it, and the KV cache as eval asks.
    if (x.quantizes()) {
      const auto act = pipeline::read_act_quant(eval_model);
      pipeline::apply_act_quant(*lm.model, act);
      if (act.spec.enabled()) log << "activations: " << act.spec.bits << "-bit " << act.spec.scheme << "\n";
    }
    if (x.kv_cache.bits > 0) {
      const model::KvQuantSpec kv{x.kv_cache.bits, x.kv_cache.group_size};
      kv.validate(lm.model->config().head_dim, "eval.kv_cache");
      lm.model->set_kv_quant(kv);
      m["kv_bits"] = kv.bits;
      log << "KV cache: " << kv.bits << "-bit, group size " << kv.group_size << "\n";
    }
    const std::string tok_id = data::tokenizer_fingerprint(lm.tokenizer_path);
    prov["tokenizer_sha256"] = tok_id;
    std::shared_ptr<model::Model> reference;
    if (x.kl_divergence && x.quantizes()) reference = cli::load_model(x.model, lm.tokenizer_path).model;
    for (const auto& t : x.perplexity.texts) {
      data::TextSourceSpec spec;
      spec.path = t;
      const std::string text = data::read_text(spec);
      const std::string name = fs::path(t).filename().string();
      prov["data_sha256"][name] = sha256_hex(text);
      const auto ids = data::tokenize_cached(*lm.tokenizer, tok_id, text, true);
      eval::PerplexityOptions opt;
      opt.protocol = x.perplexity.protocol;
      opt.seqlen = x.perplexity.seqlen;
      opt.batch = x.perplexity.batch;
      opt.max_windows = x.perplexity.max_windows;
      opt.progress = &log;
      const auto r = eval::perplexity(*lm.model, ids, opt);
      log << "perplexity " << name << ": " << r.ppl << " +/- " << r.ppl_stderr << "\n";
      auto e = eval::to_json(r);
      e["text"] = name;
      e["path"] = t;
      m["perplexity"].push_back(e);
      if (reference) {
        eval::KlOptions ko;
        ko.protocol = opt.protocol;
        ko.seqlen = opt.seqlen;
        ko.batch = opt.batch;
        ko.max_windows = opt.max_windows;
        ko.progress = &log;
        const auto k = eval::kl_divergence(*reference, *lm.model, ids, ko);
        log << "KL divergence " << name << ": " << k.mean_kl << " +/- " << k.kl_stderr << "\n";
        auto kj = eval::to_json(k);
        kj["text"] = name;
        m["kl_divergence"].push_back(kj);
      }
    }
    if (!x.tasks.names.empty()) {
      eval::tasks::TaskSpec ts;
      ts.tasks = x.tasks.names;
      ts.task_dir = x.tasks.task_dir.empty() ? eval::tasks::default_task_dir() : x.tasks.task_dir;
      ts.limit = x.tasks.limit;
      ts.num_fewshot = x.tasks.num_fewshot;
      ts.fewshot_seed = x.tasks.fewshot_seed;
      ts.skip_bad_rows = x.tasks.skip_bad_rows;
      const auto results = eval::tasks::run_tasks(*lm.model, *lm.tokenizer, ts);
      for (const auto& r : results) log << "task " << r.task << ": acc " << r.acc << " +/- " << r.acc_stderr << " (chance " << r.chance << ")\n";
      m["tasks"] = eval::tasks::to_json(results);
    }
    if (x.generate.enabled) {
      model::GenerateOptions g;
      g.max_tokens = x.generate.max_tokens;
      g.stop_token = lm.tokenizer->eos();
      auto ids = model::generate(*lm.model, lm.tokenizer->encode(x.generate.prompt, true), g);
      if (!ids.empty() && ids.back() == g.stop_token) ids.pop_back();
      m["sample"] = x.generate.prompt + lm.tokenizer->decode(ids);
      log << "sample: " << m["sample"].get<std::string>() << "\n";
    }
  }
  m["eval_seconds"] = since(t_eval);

  for (const auto& e : x.exports) {
    if (e.format != "gguf") {
      // A Hugging Face checkpoint directory of the weights just evaluated.
      const fs::path out = fs::path(dir) / "export" / ("model-" + e.format);
      fs::create_directories(out.parent_path());
      exporter::HfExportOptions ho;
      ho.format = e.format;
      ho.checkpoint_format = e.checkpoint_format;
      ho.unaligned = e.unaligned;
      ho.tokenizer = eval_tokenizer;
      auto weights = model::open_weights(eval_model);
      const auto r = exporter::export_hf(*weights, out.string(), ho);
      nlohmann::json rec = {{"format", e.format}, {"path", out.string()}, {"bytes", r.bytes},
                            {"packed_layers", r.quantized_layers}, {"kept_fp16", r.kept_fp16}};
      if (e.format == "gptq") rec["checkpoint_format"] = e.checkpoint_format;
      m["exports"].push_back(rec);
      log << "exported " << out.string() << " (" << e.format << ", " << r.bytes << " bytes)\n";
      for (const auto& note : r.notes) log << "  note: " << note << "\n";
      continue;
    }
    const fs::path out = fs::path(dir) / "export" / ("model-" + e.type + ".gguf");
    fs::create_directories(out.parent_path());
    exporter::GgufExportOptions go;
    go.type = e.type;
    go.fallback = e.fallback == "none" ? "" : e.fallback;
    go.overrides = e.overrides;
    auto weights = model::open_weights(eval_model);
    go.tokenizer = eval_tokenizer.empty() ? model::find_tokenizer(eval_model, weights->config().vocab_size) : eval_tokenizer;
    go.name = x.name + "-" + point["id"].get<std::string>();
    const auto r = exporter::export_gguf(*weights, out.string(), go);
    m["exports"].push_back({{"format", e.format}, {"type", e.type}, {"path", out.string()}, {"bytes", r.bytes}});
    log << "exported " << out.string() << " (" << r.bytes << " bytes)\n";
  }

  m["seconds"] = since(t_start);
  m["peak_rss_bytes"] = peak_rss_bytes();
  io::write_file_atomically((fs::path(dir) / "provenance.json").string(), prov.dump(2) + "\n");
  io::write_file_atomically((fs::path(dir) / "metrics.json").string(), m.dump(2) + "\n");
  return m;
}

}  // namespace ptq::experiment
