#include "pipeline/quantize_model.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <optional>
#include <ostream>

#include "algorithms/common/act_quant.hpp"
#include "algorithms/gptq/gptq.hpp"
#include "algorithms/registry.hpp"
#include "algorithms/rotation/rotate_step.hpp"
#include "calibration/stats_store.hpp"
#include "core/error.hpp"
#include "core/progress.hpp"
#include "core/sha256.hpp"
#include "dist/shard.hpp"
#include "dist/world.hpp"
#include "io/gptq_dynamic.hpp"
#include "io/quantized_checkpoint.hpp"
#include "model/architecture.hpp"
#include "model/decoder.hpp"
#include "model/hf_export.hpp"
#include "model/model_files.hpp"
#include "model/rotation.hpp"
#include "pipeline/activation_quant.hpp"
#include "pipeline/layer_stream.hpp"
#include "pipeline/linear_outcome.hpp"

namespace ptq::pipeline {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

nlohmann::json grid_json(const algo::IntGrid& g) {
  nlohmann::json j = {{"bits", g.bits}, {"group_size", g.group_size}, {"sym", g.sym}, {"mse", g.mse}};
  if (g.mse) j["mse_norm"] = g.mse_norm, j["mse_grid"] = g.mse_grid, j["mse_max_shrink"] = g.mse_max_shrink;
  if (!g.is_int()) j["dtype"] = g.dtype;  // absent for integers: earlier statistics hashes stay valid
  return j;
}

bool is_block_linear_weight(const std::string& name, int layer) {
  const std::string p = model::layer_prefix(layer);
  for (const auto& s : model::block_linears()) {
    if (name == p + s.name + ".weight") return true;
  }
  return false;
}

// Quantizes the linear layers of one decoder layer and collects them until the layer is written.
// Under MPI the linear layers of a step are spread over the ranks by cost: each rank quantizes its
// own, then every result goes to rank 0 (which writes and reports) and, when later stages or
// layers compute with the quantized weights, to every rank.
struct LayerQuantizer {
  const algo::Algorithm& algorithm;
  const algo::IntGrid& grid;
  const std::map<std::string, algo::IntGrid>& layer_grids;  // per-linear overrides (mixed precision)
  std::ostream& log;
  std::map<std::string, algo::QuantizedLinear> done;  // full weight name -> result
  nlohmann::json rows = nlohmann::json::array();
  nlohmann::json warnings = nlohmann::json::array();

  LinearOutcome quantize(const model::LayerWeights& w, const std::string& linear, const calib::InputStats* stats) const {
    const std::string full = model::layer_prefix(w.index) + linear;
    const torch::Tensor& W = w.weight(linear);
    if (!torch::isfinite(W).all().item<bool>()) fail(full + ".weight", "weight holds NaN or Inf");
    const auto t0 = Clock::now();
    const auto own = layer_grids.find(full);
    algo::LayerResult r = algorithm.quantize(W, stats, own == layer_grids.end() ? grid : own->second, full);
    const double secs = seconds_since(t0);
    const torch::Tensor deq = r.q.dequantize();
    nlohmann::json row = {{"name", full}, {"shape", {W.size(0), W.size(1)}}, {"seconds", secs}};
    if (own != layer_grids.end()) row["bits"] = own->second.bits, row["group_size"] = own->second.group_size;
    const double wnorm = W.pow(2).sum().item<double>();
    row["rel_weight_error"] = wnorm > 0 ? (W - deq).pow(2).sum().item<double>() / wnorm : 0.0;
    if (stats && !stats->empty()) {
      const torch::Tensor H = stats->hessian();
      row["rel_output_error"] = algo::relative_output_error(W, deq, H);
    }
    for (const auto& [k, v] : r.report.items()) row[k] = v;
    if (!r.warning.empty()) row["warning"] = r.warning;
    return {std::move(r.q), row, r.warning};
  }

  void install(model::LayerWeights& w, const std::string& linear, LinearOutcome o) {
    if (!o.warning.empty()) {
      warnings.push_back(o.warning);
      log << "ptq: warning: " << o.warning << "\n";
    }
    rows.push_back(o.row);
    w.linear[linear] = o.q.dequantize();  // later stages and layers compute with the quantized weights
    done[model::layer_prefix(w.index) + linear + ".weight"] = std::move(o.q);
  }

  void run(model::LayerWeights& w, const std::string& linear, const calib::InputStats* stats) {
    install(w, linear, quantize(w, linear, stats));
  }

  // The rank that quantizes each of `linears`, by the algorithm's cost.
  std::vector<int> owners(const model::LayerWeights& w, const std::vector<std::string>& linears) const {
    std::vector<double> costs;
    for (const auto& l : linears) costs.push_back(quantize_cost(algorithm.name(), w.weight(l).size(0), w.weight(l).size(1)));
    return dist::assign_by_cost(costs, dist::size());
  }

  // Quantizes `linears` spread over the ranks; `everyone` when every rank needs the results (the
  // next stage or layer is calibrated on the quantized weights), else only rank 0 gets them.
  void run_spread(model::LayerWeights& w, const std::vector<std::string>& linears, const std::vector<int>& owner,
                  const std::function<const calib::InputStats*(const std::string&)>& stats_of, bool everyone) {
    const std::string prefix = model::layer_prefix(w.index);
    std::map<std::string, LinearOutcome> mine;
    for (size_t i = 0; i < linears.size(); ++i) {
      if (owner[i] != dist::rank()) continue;
      dist::set_step("quantize " + prefix + linears[i]);
      mine.emplace(linears[i], quantize(w, linears[i], stats_of(linears[i])));
    }
    for (size_t i = 0; i < linears.size(); ++i) {
      const std::string& l = linears[i];
      if (owner[i] == dist::rank()) {
        if (dist::size() > 1) {
          dist::set_step("send " + prefix + l);
          const dist::Bytes msg = pack_outcome(mine.at(l));
          if (everyone) {
            dist::broadcast(msg, owner[i]);
          } else if (!dist::is_root()) {
            dist::send(0, msg);
          }
        }
        install(w, l, std::move(mine.at(l)));
      } else if (everyone || dist::is_root()) {
        dist::set_step("receive " + prefix + l + " from rank " + std::to_string(owner[i]));
        const dist::Bytes msg = everyone ? dist::broadcast({}, owner[i]) : dist::recv(owner[i]);
        install(w, l, unpack_outcome(msg, prefix + l + " from rank " + std::to_string(owner[i])));
      }
    }
  }
};

}  // namespace

std::string model_fingerprint(const std::string& path) {
  if (!fs::is_directory(path)) return sha256_file(path);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(path)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".safetensors" || ext == ".json" || ext == ".bin" || ext == ".gguf")) {
      files.push_back(e.path().filename().string());
    }
  }
  std::sort(files.begin(), files.end());
  std::string all;
  for (const auto& f : files) all += f + "=" + sha256_file((fs::path(path) / f).string()) + ";";
  return sha256_hex(all);
}

QuantizeSummary quantize_model(const QuantizeSpec& spec, std::ostream& rank_log) {
  torch::NoGradGuard no_grad;
  // Under MPI rank 0 reports progress for all; the others work silently.
  std::ostream null_log(nullptr);
  std::ostream& log = dist::is_root() ? rank_log : null_log;
  const auto t_start = Clock::now();
  spec.grid.validate("grid");
  for (const auto& [module, g] : spec.layer_grids) g.validate("grid of " + module);
  spec.calibration.validate("calibration");
  if (spec.out.empty()) fail("quantize", "no output directory given (--out)");
  // "none": the transforms' output in full precision (folded scales, clipped weights), for an
  // exporter whose own grid quantizes it next (AWQ before llama.cpp's block formats).
  const bool keep_fp = spec.algorithm == "none";
  auto algorithm = algo::make_algorithm(keep_fp ? "rtn" : spec.algorithm, spec.algorithm_options);
  if (keep_fp && spec.transforms.empty()) {
    fail("algorithm 'none'", "keeps the weights in full precision after the transforms: give a transform (--transform awq)");
  }
  // `rotate` is model-level (the whole model is rotated before any statistics are collected); the
  // other transforms run block by block.
  std::optional<model::RotationSpec> rotation;
  std::vector<TransformStep> block_steps;
  for (size_t i = 0; i < spec.transforms.size(); ++i) {
    const auto& t = spec.transforms[i];
    if (t.name != algo::kRotateStep) {
      block_steps.push_back(t);
      continue;
    }
    if (i != 0) fail("transform 'rotate'", "must be the first step: it rotates the model the other transforms see");
    rotation = algo::rotation_spec_from_options(t.options, "transform 'rotate'");
  }
  if (rotation && rotation->online_down_proj && !block_steps.empty()) {
    // The block transforms scale up_proj's rows against down_proj's columns, which the online
    // Hadamard between them does not commute with.
    fail("transform '" + block_steps.front().name + "'",
         "cannot follow rotate with its online down_proj Hadamard (the up_proj -> down_proj scaling would change the "
         "model); rotate with online: [kv] or [] before it");
  }
  std::vector<std::unique_ptr<algo::Transform>> transforms;
  for (const auto& t : block_steps) transforms.push_back(algo::make_transform(t.name, t.options));
  const bool calibrate = !spec.calib.path.empty();
  spec.act.validate("activation");
  if (spec.act.enabled() && spec.act.scheme == "static" && !calibrate) {
    fail("--act-scheme static", "static activation scales need calibration text: pass --calib FILE");
  }
  if (algorithm->needs_calibration() && !calibrate) {
    fail("algorithm '" + spec.algorithm + "'", "needs calibration text: pass --calib FILE");
  }
  // GPTAQ: sequential calibration carries the FP model alongside (calibration/layerwise.hpp).
  const bool fp_stream = !keep_fp && algorithm->needs_fp_inputs();
  if (fp_stream && spec.calibration.mode != "sequential") {
    fail("algorithm '" + spec.algorithm + "'", "needs sequential calibration (one-shot inputs are the FP model's own, and GPTAQ would be GPTQ): drop --one-shot / set calibration.mode: sequential");
  }
  if (fp_stream && dist::size() > 1) {
    // The cross term's sums are not yet exact sums, so shards would not add up to one process's.
    fail("algorithm '" + spec.algorithm + "'", "does not run on several MPI ranks yet: run it as one process");
  }
  if (fp_stream && !block_steps.empty()) {
    fail("algorithm '" + spec.algorithm + "'", "cannot follow a block transform (" + block_steps.front().name + "), which calibrates on full-precision activations only");
  }
  calib::CalibrationOptions calib_opt = spec.calibration;
  calib_opt.fp_inputs = fp_stream;
  if (!transforms.empty() && !calibrate) {
    fail("transform '" + transforms.front()->name() + "'", "needs calibration text: pass --calib FILE");
  }

  std::shared_ptr<model::WeightSource> source = model::open_weights(spec.model);
  nlohmann::json rotation_desc;
  if (rotation) {
    auto rotated = std::make_shared<model::RotatedWeights>(source, *rotation);
    rotation_desc = rotated->description();
    source = rotated;
    log << "rotation: residual " << rotation_desc["residual"]["matrix"].get<std::string>();
    if (rotation->online_down_proj) log << "; down_proj input (online) " << rotation_desc["down_proj_input"]["matrix"].get<std::string>();
    if (rotation->online_kv) log << "; attention heads (online q/k, folded v) " << rotation_desc["head"]["matrix"].get<std::string>();
    log << "\n";
  }
  model::Model model(source);
  model.set_compute_dtype(spec.compute_dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32);
  const auto& cfg = model.config();
  const std::string tok_path = spec.tokenizer.empty() ? model::find_tokenizer(spec.model, cfg.vocab_size) : spec.tokenizer;

  QuantizeSummary summary;
  nlohmann::json qconfig = grid_json(spec.grid);
  qconfig["algorithm"] = keep_fp ? std::string("none") : algorithm->name();
  qconfig["algorithm_options"] = keep_fp ? nlohmann::json::object() : algorithm->options();
  if (!transforms.empty()) {
    qconfig["transforms"] = nlohmann::json::array();
    for (const auto& t : transforms) qconfig["transforms"].push_back({{"name", t->name()}, {"options", t->options()}});
  }
  if (rotation) qconfig["rotation"] = rotation_desc;
  if (!spec.layer_grids.empty()) qconfig["dynamic"] = io::dynamic_rules(spec.layer_grids, spec.grid, false);
  qconfig["ptq_version"] = PTQ_VERSION;

  // Calibration: provenance, then reuse or compute.
  nlohmann::json provenance;
  torch::Tensor samples;
  std::unique_ptr<calib::StatsReader> reader;
  std::unique_ptr<calib::StatsWriter> writer;  // rank 0 only
  bool compute_stats = false;
  if (calibrate) {
    if (!fs::exists(spec.calib.path)) fail(spec.calib.path, "calibration text not found");
    const auto tokenizer = tok::open_tokenizer(tok_path);
    const std::string text = data::read_text(spec.calib);
    const auto ids = data::tokenize_cached(*tokenizer, data::tokenizer_fingerprint(tok_path), text, true);
    samples = calib::draw_samples(ids, spec.sampling, spec.calib.path);
    provenance = {{"model", model_fingerprint(spec.model)},
                  {"data", sha256_hex(text)},
                  {"tokenizer", data::tokenizer_fingerprint(tok_path)},
                  {"n_samples", spec.sampling.n_samples},
                  {"seqlen", spec.sampling.seqlen},
                  {"sampling", spec.sampling.method},
                  {"seed", static_cast<int64_t>(spec.sampling.seed)},
                  {"mode", transforms.empty() ? spec.calibration.mode : std::string("block-wise FP")},
                  {"hessian_dtype", spec.calibration.fp64_hessian ? "float64" : "float32"},
                  {"ptq_version", PTQ_VERSION}};
    if (rotation) provenance["rotation"] = rotation->to_json();  // the model the statistics are taken on
    if (fp_stream) provenance["fp_inputs"] = true;
    if (spec.calibration.mode == "sequential" && transforms.empty()) {
      // Each layer's inputs come from the quantized layers before it: the statistics depend on how.
      provenance["true_sequential"] = spec.calibration.true_sequential;
      provenance["quantization"] = qconfig;
    }
    summary.stats_path = spec.stats.empty()
                             ? data::default_cache_dir() + "/stats/" + sha256_hex(provenance.dump()).substr(0, 24) + ".h5"
                             : spec.stats;
    // Rank 0 decides whether the stored statistics are reused (it alone writes them).
    std::string why = dist::is_root() ? calib::stats_reuse_mismatch(summary.stats_path, provenance) : std::string();
    if (dist::size() > 1) {
      dist::set_step("agree on the statistics file");
      const dist::Bytes msg = dist::broadcast(dist::Bytes(why.begin(), why.end()));
      why.assign(msg.begin(), msg.end());
    }
    if (!transforms.empty()) {
      // Transforms need the activations themselves, which are not stored; their statistics are
      // computed from the transformed inputs of each layer as it goes.
      summary.stats_path.clear();
      log << "calibration: block-wise on full-precision activations (transforms need the activations; statistics are not cached)\n";
    } else if (keep_fp) {
      summary.stats_path.clear();  // nothing is quantized: no statistics
    } else if (fp_stream) {
      // The store keeps no cross term: computed for this run, not cached.
      summary.stats_path.clear();
      log << "calibration: sequential with the full-precision model alongside (GPTAQ's cross term; statistics are not cached)\n";
    } else if (why.empty()) {
      summary.stats_reused = true;
      reader = std::make_unique<calib::StatsReader>(summary.stats_path);
      log << "calibration: reusing statistics " << summary.stats_path << "\n";
    } else {
      log << "calibration: computing statistics into " << summary.stats_path << " (" << why << ")\n";
      compute_stats = true;
      if (dist::is_root()) writer = std::make_unique<calib::StatsWriter>(summary.stats_path, provenance);
    }
    qconfig["calibration"] = provenance;
    qconfig["calibration"]["text"] = fs::path(spec.calib.path).filename().string();
  }

  if (spec.act.enabled()) qconfig["activation"] = to_json(spec.act);  // after the statistics' provenance
  // Rank 0 writes the output; if the launcher stops it (another rank failed) its staging goes too.
  std::unique_ptr<io::QuantizedCheckpointWriter> out;
  int stop_cleanup = -1;
  if (dist::is_root()) {
    out = std::make_unique<io::QuantizedCheckpointWriter>(spec.out, cfg, qconfig, cfg.num_layers + 1,
                                                          std::vector<std::string>{spec.model, tok_path, spec.calib.path});
    if (dist::size() > 1) stop_cleanup = dist::on_stop([dir = out->staging_dir()] { std::error_code ec; fs::remove_all(dir, ec); });
  }
  LayerQuantizer lq{*algorithm, spec.grid, spec.layer_grids, log};
  const auto all_tensors = source->tensors();
  Progress progress(std::string(compute_stats || fp_stream || !transforms.empty() ? "calibrate + quantize" : "quantize") + " layers", cfg.num_layers, log);
  // `w`, when given, holds the layer's norms and biases as a transform left them.
  auto write_layer = [&](int L, const model::LayerWeights* w) {
    if (!out) {
      lq.done.clear();
      progress.tick();
      return;
    }
    dist::set_step("write layer " + std::to_string(L));
    std::map<std::string, torch::Tensor> fp;
    const std::string p = model::layer_prefix(L);
    for (const auto& t : all_tensors) {
      if (t.name.rfind(p, 0) == 0 && !is_block_linear_weight(t.name, L)) fp[t.name] = source->load(t.name);
    }
    if (w) {
      if (keep_fp) {
        for (const auto& s : model::block_linears()) fp[p + s.name + ".weight"] = w->weight(s.name);
      }
      fp[p + "input_layernorm.weight"] = w->input_norm;
      fp[p + "post_attention_layernorm.weight"] = w->post_norm;
      for (const auto& [name, b] : w->bias) fp[p + name + ".bias"] = b;
    }
    out->write_shard(fp, lq.done);
    lq.done.clear();
    progress.tick();
  };

  // One loop over the layers, whichever stream feeds it: stages -> quantizer -> shard writer.
  const OwnersFn owners = [&lq](const model::LayerWeights& w, const std::vector<std::string>& linears) { return lq.owners(w, linears); };
  std::unique_ptr<LayerStream> stream;
  if (!transforms.empty()) {
    TransformSettings ts;
    ts.transforms = &transforms;
    ts.grid = spec.grid;
    ts.act = spec.act;
    ts.quantize = !keep_fp;
    ts.calibration = spec.calibration;
    // A transform searching against a GGUF type (AWQ's ggml_type).
    for (const auto& t : block_steps) {
      if (t.options.contains("ggml_type") && t.options["ggml_type"].is_string()) ts.ggml_target = t.options["ggml_type"].get<std::string>();
    }
    stream = transforming_stream(model, samples, std::move(ts), owners);
  } else if (compute_stats || fp_stream) {
    stream = calibrating_stream(model, samples, calib_opt, writer.get(), owners);
  } else {
    stream = stored_stats_stream(model, reader.get(), !keep_fp, owners);  // keep_fp here: only a rotation
  }
  stream->run([&](LayerStage& s) { lq.run_spread(s.w, s.linears, s.owner, s.stats_of, s.everyone); },
              [&](int L, const model::LayerWeights* w) { write_layer(L, w); });
  summary.transforms = stream->transform_rows();

  summary.seconds = seconds_since(t_start);
  if (!out) {  // ranks other than 0 write nothing and report nothing
    summary.report = {{"layers", nlohmann::json::array()}, {"warnings", nlohmann::json::array()}};
    return summary;
  }
  dist::set_step("write the output");
  // The rest: embeddings, final norm, head.
  std::map<std::string, torch::Tensor> rest;
  for (const auto& t : all_tensors) {
    if (t.name.rfind("model.layers.", 0) != 0) rest[t.name] = source->load(t.name);
  }
  out->write_shard(rest, {});

  summary.seconds = seconds_since(t_start);
  summary.report = {{"model", spec.model},
                    {"quantization", qconfig},
                    {"stats_file", summary.stats_path},
                    {"stats_reused", summary.stats_reused},
                    {"layers", lq.rows},
                    {"transforms", summary.transforms},
                    {"rotation", rotation ? rotation_desc : nlohmann::json()},
                    {"warnings", lq.warnings},
                    {"seconds", summary.seconds}};
  out->write_text("quant_report.json", summary.report.dump(2) + "\n");
  model::copy_tokenizer_files(tok_path, out->staging_dir());
  // Static activation ranges are measured on the quantized model itself, still in the staging
  // directory, so the output appears complete or not at all (a resumed sweep trusts it).
  out->finalize();
  if (spec.act.enabled() && spec.act.scheme == "static") calibrate_static_ranges(out->staging_dir(), samples, spec.act, log);
  out->commit();
  if (stop_cleanup >= 0) dist::cancel_on_stop(stop_cleanup);
  return summary;
}

}  // namespace ptq::pipeline
