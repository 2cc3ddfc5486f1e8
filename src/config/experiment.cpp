#include "config/experiment.hpp"

#include <algorithm>
#include <cctype>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <functional>

#include "algorithms/common/act_quant.hpp"
#include "algorithms/common/int_grid.hpp"
#include "algorithms/registry.hpp"
#include "algorithms/rotation/rotate_step.hpp"
#include "config/yaml_schema.hpp"
#include "export/gguf_type_plan.hpp"
#include "config/yaml_tree.hpp"
#include "core/error.hpp"

namespace ptq::config {

namespace fs = std::filesystem;

namespace {

std::string resolve(const YamlContext& ctx, const YAML::Node& node, const std::string& key_path,
                    const std::string& p, bool must_exist) {
  if (p.empty()) return p;
  fs::path r = fs::path(p).is_absolute() ? fs::path(p) : fs::path(ctx.base_dir_of(key_path)) / p;
  // Absolute: the resolved config is re-read from the run's own directory.
  r = fs::absolute(r).lexically_normal();
  if (must_exist && !fs::exists(r)) fail(where(ctx, node, key_path), "file not found: " + r.string());
  return r.string();
}

const std::vector<std::string> kTopKeys = {"name", "extends", "model", "tokenizer", "output", "threads", "calibration",
                                           "pipeline", "eval", "generate", "export", "sweep"};

CalibrationSpec read_calibration(const YamlContext& ctx, const YAML::Node& c) {
  CalibrationSpec s;
  check_keys(ctx, c, "calibration",
             {"text", "field", "n_samples", "seqlen", "seed", "sampling", "mode", "true_sequential", "fp64_hessian", "batch"});
  const std::string p = "calibration.";
  if (c["text"]) s.text = resolve(ctx, c["text"], p + "text", get_string(ctx, c, p, "text", ""), true);
  s.field = get_string(ctx, c, p, "field", s.field);
  s.n_samples = get_int(ctx, c, p, "n_samples", s.n_samples, 1, 1 << 20);
  s.seqlen = get_int(ctx, c, p, "seqlen", s.seqlen, 2, 1 << 20);
  s.seed = static_cast<uint64_t>(get_int(ctx, c, p, "seed", 0, 0, 2147483647));
  s.sampling = get_choice(ctx, c, p, "sampling", s.sampling, {"random", "consecutive"});
  s.mode = get_choice(ctx, c, p, "mode", s.mode, {"sequential", "one-shot"});
  s.true_sequential = get_bool(ctx, c, p, "true_sequential", s.true_sequential);
  s.fp64_hessian = get_bool(ctx, c, p, "fp64_hessian", s.fp64_hessian);
  s.batch = get_int(ctx, c, p, "batch", s.batch, 0, 1 << 20);
  return s;
}

void read_pipeline(const YamlContext& ctx, const YAML::Node& pl, Experiment& x) {
  if (pl.IsNull()) return;
  if (!pl.IsSequence()) fail(where(ctx, pl, "pipeline"), "expected a list of steps ({algorithm: NAME, ...})");
  for (size_t i = 0; i < pl.size(); ++i) {
    const std::string path = "pipeline." + std::to_string(i);
    StepSpec s = read_step(ctx, pl[i], path);
    const bool last = i + 1 == pl.size();
    if (s.kind == "quantizer" && !last) {
      fail(where(ctx, pl[i], path), "'" + s.algorithm + "' quantizes the weights and must be the last step");
    }
    if (s.kind != "quantizer" && last) {
      fail(where(ctx, pl[i], path), "'" + s.algorithm + "' is a transform; the pipeline must end with a quantizer (rtn, gptq)");
    }
    // The registry has the final word on options (the table mirrors it).
    if (s.kind == "transform" && s.algorithm == algo::kRotateStep) {
      // Model-level and data-free (algorithms/rotation): first, before anything sees the model.
      if (i != 0) fail(where(ctx, pl[i], path), "'rotate' rotates the whole model and must be the first step");
      try {
        algo::rotation_spec_from_options(s.options, path);
      } catch (const Error& e) {
        fail(where(ctx, pl[i], path), e.what());
      }
    } else if (s.kind == "mixed") {
      if (i + 2 != pl.size()) {
        fail(where(ctx, pl[i], path), "'" + s.algorithm + "' chooses the quantizer's grid per layer: it must come right before the quantizer");
      }
      if (x.calibration.text.empty()) fail(where(ctx, pl[i], path), "'" + s.algorithm + "' needs calibration data: set calibration.text");
      if ((s.options["target_bpw"].get<double>() > 0) == (s.options["target_size"].get<double>() > 0)) {
        fail(where(ctx, pl[i], path), "give exactly one of target_bpw and target_size");
      }
      const std::string refs = s.options["reference_points"];
      if (!refs.empty()) s.options["reference_points"] = resolve(ctx, pl[i]["reference_points"], path + ".reference_points", refs, true);
      const std::string q = pl[i + 1]["algorithm"] ? pl[i + 1]["algorithm"].as<std::string>() : "";
      if (q != "gptq" && q != "rtn") {
        fail(where(ctx, pl[i], path), "'" + s.algorithm + "' allocates grids for gptq or rtn (the sensitivity table measures one of them), not '" + q + "'");
      }
    } else if (s.kind == "transform") {
      try {
        algo::make_transform(s.algorithm, s.options);
      } catch (const Error& e) {
        fail(where(ctx, pl[i], path), e.what());
      }
      if (x.calibration.text.empty()) fail(where(ctx, pl[i], path), "'" + s.algorithm + "' needs calibration data: set calibration.text");
    } else {
      // A floating-point dtype fixes the code width: bits follows it unless given.
      const std::string dtype = s.grid["dtype"];
      if (dtype != "int" && !pl[i]["bits"]) s.grid["bits"] = algo::dtype_bits(dtype);
      algo::IntGrid g;
      g.bits = s.grid["bits"];
      g.group_size = s.grid["group_size"];
      g.sym = s.grid["sym"];
      g.mse = s.grid["mse"];
      g.dtype = dtype;
      algo::ActQuantSpec a;
      a.bits = s.act["act_bits"];
      a.scheme = s.act["act_scheme"];
      a.percentile = s.act["act_percentile"];
      try {
        g.validate(path);
        a.validate(path);
      } catch (const Error& e) {
        // The message already starts with the key path; where() adds file:line:col in front of it.
        std::string msg = e.what();
        if (msg.rfind(path + ": ", 0) == 0) msg = msg.substr(path.size() + 2);
        fail(where(ctx, pl[i], path), msg);
      }
      if (a.enabled() && a.scheme == "static" && x.calibration.text.empty()) {
        fail(where(ctx, pl[i], path), "static activation scales are calibrated: set calibration.text");
      }
    }
    auto algorithm = s.kind == "quantizer" ? algo::make_algorithm(s.algorithm, s.options) : nullptr;
    if (algorithm && last && algorithm->needs_calibration() && x.calibration.text.empty()) {
      fail(where(ctx, pl[i], path), "'" + s.algorithm + "' needs calibration data: set calibration.text");
    }
    if (algorithm && algorithm->needs_fp_inputs() && x.calibration.mode != "sequential") {
      fail(where(ctx, pl[i], path), "'" + s.algorithm + "' needs calibration.mode: sequential (one-shot inputs are the FP model's own, and GPTAQ would be GPTQ)");
    }
    x.pipeline.push_back(std::move(s));
  }
}

void read_eval(const YamlContext& ctx, const YAML::Node& ev, Experiment& x) {
  check_keys(ctx, ev, "eval", {"perplexity", "kl_divergence", "baseline", "kv_cache", "tasks"});
  x.kl_divergence = get_bool(ctx, ev, "eval.", "kl_divergence", false);
  x.baseline = get_bool(ctx, ev, "eval.", "baseline", true);
  if (const auto p = ev["perplexity"]) {
    check_keys(ctx, p, "eval.perplexity", {"texts", "protocol", "seqlen", "batch", "max_windows"});
    for (const auto& t : get_string_list(ctx, p, "eval.perplexity.", "texts")) {
      x.perplexity.texts.push_back(resolve(ctx, p["texts"], "eval.perplexity.texts", t, true));
    }
    x.perplexity.protocol = get_choice(ctx, p, "eval.perplexity.", "protocol", "llamacpp", {"llamacpp", "gptq"});
    x.perplexity.seqlen = get_int(ctx, p, "eval.perplexity.", "seqlen", 256, 2, 1 << 20);
    x.perplexity.batch = get_int(ctx, p, "eval.perplexity.", "batch", 8, 1, 4096);
    x.perplexity.max_windows = get_int(ctx, p, "eval.perplexity.", "max_windows", 0, 0, 1 << 30);
  }
  if (const auto kv = ev["kv_cache"]) {
    check_keys(ctx, kv, "eval.kv_cache", {"bits", "group_size"});
    x.kv_cache.bits = get_int(ctx, kv, "eval.kv_cache.", "bits", 0, 0, 16);
    x.kv_cache.group_size = get_int(ctx, kv, "eval.kv_cache.", "group_size", 0, 0, 1 << 16);
    if (x.kv_cache.bits == 1) fail(where(ctx, kv["bits"], "eval.kv_cache.bits"), "1 is not a KV-cache width (0: FP, or 2..16)");
  }
  if (const auto tk = ev["tasks"]) {
    check_keys(ctx, tk, "eval.tasks", {"names", "task_dir", "limit", "num_fewshot", "fewshot_seed", "skip_bad_rows"});
    x.tasks.names = get_string_list(ctx, tk, "eval.tasks.", "names");
    if (x.tasks.names.empty()) fail(where(ctx, tk, "eval.tasks"), "list the tasks in 'names' (e.g. [lambada, piqa, arc_easy])");
    if (tk["task_dir"]) x.tasks.task_dir = resolve(ctx, tk["task_dir"], "eval.tasks.task_dir", get_string(ctx, tk, "eval.tasks.", "task_dir", ""), true);
    x.tasks.limit = get_int(ctx, tk, "eval.tasks.", "limit", 0, 0, 1 << 30);
    x.tasks.num_fewshot = get_int(ctx, tk, "eval.tasks.", "num_fewshot", 0, 0, 64);
    x.tasks.fewshot_seed = static_cast<uint64_t>(get_int(ctx, tk, "eval.tasks.", "fewshot_seed", 1234, 0, 2147483647));
    x.tasks.skip_bad_rows = get_bool(ctx, tk, "eval.tasks.", "skip_bad_rows", false);
  }
  if (x.kl_divergence && x.perplexity.texts.empty()) {
    fail(where(ctx, ev["kl_divergence"], "eval.kl_divergence"), "KL divergence is measured on eval.perplexity.texts: list at least one");
  }
}

void read_exports(const YamlContext& ctx, const YAML::Node& ex, Experiment& x) {
  if (!ex.IsSequence()) fail(where(ctx, ex, "export"), "expected a list of targets ({format: gguf, type: q4_0})");
  for (size_t i = 0; i < ex.size(); ++i) {
    const std::string path = "export." + std::to_string(i);
    ExportSpec e;
    e.format = get_choice(ctx, ex[i], path + ".", "format", "gguf", {"gguf", "gptq", "awq", "hf-fp16"});
    if (e.format != "gguf") {
      // Hugging Face checkpoints: the grid is the quantized model's own (no type, fallback, override).
      check_keys(ctx, ex[i], path, {"format", "checkpoint_format", "unaligned"});
      if (e.format == "gptq") {
        e.checkpoint_format = get_choice(ctx, ex[i], path + ".", "checkpoint_format", "gptq", {"gptq", "gptq_v2"});
      } else if (ex[i]["checkpoint_format"]) {
        fail(where(ctx, ex[i]["checkpoint_format"], path + ".checkpoint_format"), "applies to format gptq only");
      }
      e.unaligned = get_choice(ctx, ex[i], path + ".", "unaligned", "fail", {"fail", "fp16"});
      if (e.format != "hf-fp16") {
        // Packed formats hold the pipeline's integer codes: refuse a grid they cannot hold now,
        // not after calibrating and quantizing.
        const auto at = where(ctx, ex[i]["format"], path + ".format");
        if (!x.quantizes() || x.quantizer().algorithm == "none") {
          fail(at, e.format + " stores quantized weights: the pipeline must end with a quantizer (or use hf-fp16)");
        }
        const auto& g = x.quantizer().grid;
        const int bits = g["bits"], group_size = g["group_size"];
        if (g["dtype"] != "int") fail(at, e.format + " holds integer grids only, not dtype " + g["dtype"].get<std::string>() + " (use gguf or hf-fp16)");
        if (e.format == "gptq" && bits != 2 && bits != 3 && bits != 4 && bits != 8) {
          fail(at, "gptq holds 2, 3, 4 or 8 bits, the pipeline quantizes to " + std::to_string(bits));
        }
        if (e.format == "awq" && (bits != 4 || group_size <= 0)) {
          fail(at, "awq holds 4 bits with a group size, the pipeline quantizes to " + std::to_string(bits) +
                       " bits, group size " + std::to_string(group_size) + " (use gptq)");
        }
      }
      x.exports.push_back(e);
      continue;
    }
    check_keys(ctx, ex[i], path, {"format", "type", "fallback", "override"});
    e.type = get_choice(ctx, ex[i], path + ".", "type", "f16", exporter::gguf_type_names());
    e.fallback = get_choice(ctx, ex[i], path + ".", "fallback", "f16", {"f16", "f32", "none"});
    e.overrides = get_string_list(ctx, ex[i], path + ".", "override");
    for (size_t k = 0; k < e.overrides.size(); ++k) {
      try {
        exporter::parse_type_override(e.overrides[k]);
      } catch (const Error& err) {
        fail(where(ctx, ex[i]["override"], path + ".override"), err.what());
      }
    }
    x.exports.push_back(e);
  }
}

Experiment parse(const YamlTree& t) {
  const auto& ctx = t.ctx;
  const auto& root = t.root;
  check_keys(ctx, root, "", kTopKeys);
  Experiment x;
  x.file = ctx.file;
  x.name = get_string(ctx, root, "", "name", fs::path(ctx.file).stem().string());
  // The name becomes one directory under `output`, which a re-run may clear: a name that climbs
  // out of it ("../..") or is absolute would aim that at someone else's files.
  if (x.name.empty() || x.name == "." || x.name == ".." || x.name.find_first_of("/\\") != std::string::npos ||
      x.name.find('\0') != std::string::npos) {
    fail(root["name"] ? where(ctx, root["name"], "name") : ctx.file,
         "'" + x.name + "' is not a plain directory name (no '/', not '.' or '..'): the experiment's "
         "directory is <output>/<name>");
  }
  if (!root["model"]) fail(ctx.file, "missing required key 'model'");
  x.model = resolve(ctx, root["model"], "model", get_string(ctx, root, "", "model", ""), true);
  if (root["tokenizer"]) x.tokenizer = resolve(ctx, root["tokenizer"], "tokenizer", get_string(ctx, root, "", "tokenizer", ""), true);
  // The default output is beside the file being run (not a base it extends).
  x.output = root["output"] ? resolve(ctx, root["output"], "output", get_string(ctx, root, "", "output", ""), false)
                            : (fs::path(ctx.file).parent_path() / "runs").lexically_normal().string();
  x.threads = get_int(ctx, root, "", "threads", 0, 0, 4096);
  if (const auto c = root["calibration"]) x.calibration = read_calibration(ctx, c);
  if (const auto pl = root["pipeline"]) read_pipeline(ctx, pl, x);
  if (const auto ev = root["eval"]) read_eval(ctx, ev, x);
  if (const auto g = root["generate"]) {
    check_keys(ctx, g, "generate", {"prompt", "max_tokens"});
    x.generate.enabled = true;
    x.generate.prompt = get_string(ctx, g, "generate.", "prompt", "");
    x.generate.max_tokens = get_int(ctx, g, "generate.", "max_tokens", 48, 1, 1 << 20);
  }
  if (const auto ex = root["export"]) read_exports(ctx, ex, x);
  return x;
}

// A directory-safe label for a swept value. A whole pipeline (a list of steps) reads as its steps
// joined by '+', each its algorithm then its parameters: "awq+rtn-bits4-group_size128".
std::string value_label(const YAML::Node& v) {
  std::string s;
  if (v.IsScalar()) {
    s = v.Scalar();
  } else if (v.IsSequence() && v.size() > 0 && v[0].IsMap() && v[0]["algorithm"]) {
    for (const auto& step : v) {
      std::string part = step["algorithm"] ? step["algorithm"].as<std::string>("?") : "?";
      for (const auto& kv : step) {
        const auto k = kv.first.as<std::string>("");
        if (k != "algorithm" && kv.second.IsScalar()) part += "-" + k + kv.second.Scalar();
      }
      s += (s.empty() ? "" : "+") + part;
    }
  } else {
    s = YAML::Dump(v);
  }
  for (char& c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '+')) c = '-';
  }
  return s;
}

nlohmann::json yaml_to_json(const YAML::Node& n) {
  if (n.IsScalar()) {
    int i;
    double d;
    bool b;
    if (YAML::convert<int>::decode(n, i)) return i;
    if (YAML::convert<double>::decode(n, d)) return d;
    if (YAML::convert<bool>::decode(n, b)) return b;
    return n.Scalar();
  }
  if (n.IsSequence()) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : n) a.push_back(yaml_to_json(e));
    return a;
  }
  if (n.IsMap()) {
    nlohmann::json o = nlohmann::json::object();
    for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    return o;
  }
  return nullptr;
}

YAML::Node json_to_yaml(const nlohmann::json& j) {
  if (j.is_object()) {
    YAML::Node n(YAML::NodeType::Map);
    for (const auto& [k, v] : j.items()) n[k] = json_to_yaml(v);
    return n;
  }
  if (j.is_array()) {
    YAML::Node n(YAML::NodeType::Sequence);
    for (const auto& v : j) n.push_back(json_to_yaml(v));
    return n;
  }
  if (j.is_boolean()) return YAML::Node(j.get<bool>());
  if (j.is_number_integer()) return YAML::Node(j.get<int64_t>());
  if (j.is_number()) return YAML::Node(j.get<double>());
  if (j.is_string()) return YAML::Node(j.get<std::string>());
  return YAML::Node(YAML::NodeType::Null);
}

}  // namespace

Plan load_plan(const std::string& path, const std::vector<std::string>& overrides) {
  // Each point starts from a fresh parse: yaml-cpp's Clone() drops the line:column marks that
  // messages need. The sweep's values are shared nodes, read only.
  auto fresh = [&] {
    YamlTree t = load_yaml_tree(path);
    for (const auto& o : overrides) apply_override(t, o);
    t.root.remove("sweep");
    return t;
  };
  YamlTree tree = load_yaml_tree(path);
  for (const auto& o : overrides) apply_override(tree, o);

  // The sweep: axes, the first outermost, their product the points. An axis is a key path with a
  // list of values, or `points`: a list of mappings, each setting several key paths together (for
  // runs that differ in more than one key, e.g. GPTAQ with calibration.mode: sequential beside
  // one-shot runs).
  struct Setting {
    std::string key;
    YAML::Node value;
    YAML::Mark mark;
  };
  std::vector<std::vector<std::vector<Setting>>> axes;  // axis -> entry -> the key paths it sets
  auto check_sweep_key = [&](const YAML::Node& key_node, const std::string& key, const std::string& kp) {
    const std::string head = key.substr(0, key.find('.'));
    if (head == "name" || head == "output" || head == "sweep" || head == "extends" || head == "points") {
      fail(where(tree.ctx, key_node, kp), "'" + head + "' cannot be swept (one experiment, one directory)");
    }
  };
  if (const auto sw = tree.root["sweep"]) {
    if (!sw.IsMap()) fail(where(tree.ctx, sw, "sweep"), "expected a mapping of key paths to lists of values");
    for (const auto& kv : sw) {
      const std::string key = kv.first.as<std::string>();
      const std::string kp = "sweep." + key;
      if (!kv.second.IsSequence() || kv.second.size() == 0) {
        fail(where(tree.ctx, kv.second, kp), key == "points" ? "expected a non-empty list of mappings {key.path: value, ...}"
                                                             : "expected a non-empty list of values");
      }
      std::vector<std::vector<Setting>> entries;
      if (key == "points") {
        for (size_t e = 0; e < kv.second.size(); ++e) {
          const YAML::Node m = kv.second[e];
          const std::string ep = kp + "." + std::to_string(e);
          if (!m.IsMap() || m.size() == 0) fail(where(tree.ctx, m, ep), "expected a non-empty mapping {key.path: value, ...}");
          std::vector<Setting> set;
          for (const auto& pv : m) {
            const std::string pk = pv.first.as<std::string>();
            check_sweep_key(pv.first, pk, ep + "." + pk);
            set.push_back({pk, pv.second, pv.first.Mark()});
          }
          entries.push_back(std::move(set));
        }
      } else {
        check_sweep_key(kv.first, key, kp);
        for (const auto& v : kv.second) entries.push_back({{key, v, kv.first.Mark()}});
      }
      axes.push_back(std::move(entries));
    }
  }

  Plan plan;
  plan.file = path;
  // Every key path the sweep sets, in order of appearance; one key on two axes would make a
  // point's value depend on the axes' order.
  std::vector<size_t> key_axis;
  for (size_t a = 0; a < axes.size(); ++a) {
    for (const auto& entry : axes[a]) {
      for (const auto& s : entry) {
        const auto it = std::find(plan.sweep_keys.begin(), plan.sweep_keys.end(), s.key);
        if (it == plan.sweep_keys.end()) {
          plan.sweep_keys.push_back(s.key), key_axis.push_back(a);
        } else if (key_axis[it - plan.sweep_keys.begin()] != a) {
          fail(path, "the sweep sets '" + s.key + "' on two axes (once in 'points' and once on its own): give it one place");
        }
      }
    }
  }
  // Short labels for point ids: the last path component, unless two keys share it.
  auto label_of = [&](const std::string& k) {
    std::string last = k.substr(k.rfind('.') + 1);
    int same = 0;
    for (const auto& o : plan.sweep_keys) same += o.substr(o.rfind('.') + 1) == last;
    return same > 1 ? k : last;
  };

  // Each point is a run with its own process and directory; a grid this large is a typo, and the
  // product of the axes must not wrap around.
  constexpr size_t kMaxPoints = 100000;
  size_t n_points = 1;
  for (size_t a = 0; a < axes.size(); ++a) {
    if (axes[a].size() > kMaxPoints / n_points) {
      fail(path, "the sweep has more than " + std::to_string(kMaxPoints) + " points (axis '" + axes[a][0][0].key + "' has " +
                     std::to_string(axes[a].size()) + " values)");
    }
    n_points *= axes[a].size();
  }
  const Origin* sweep_origin = tree.ctx.origin_of("sweep");
  for (size_t i = 0; i < n_points; ++i) {
    YamlTree t = fresh();
    Point pt;
    size_t rest = i;
    std::vector<size_t> idx(axes.size());
    for (size_t a = axes.size(); a-- > 0;) idx[a] = rest % axes[a].size(), rest /= axes[a].size();
    std::string id;
    for (size_t a = 0; a < axes.size(); ++a) {
      for (const Setting& s : axes[a][idx[a]]) {
        Origin o{sweep_origin ? sweep_origin->file : path, sweep_origin ? sweep_origin->base_dir : ".",
                 sweep_origin ? sweep_origin->node_marks : true, s.mark};
        set_path(t, s.key, s.value, o);
        pt.values[s.key] = yaml_to_json(s.value);
        const std::string lbl = label_of(s.key);
        const bool self_named = lbl == "algorithm" || lbl == "pipeline";
        id += (id.empty() ? "" : "_") + (self_named ? value_label(s.value) : lbl + "=" + value_label(s.value));
      }
    }
    pt.id = id.empty() ? "run" : id;
    if (pt.id == "." || pt.id == "..") pt.id = "run-" + std::to_string(i);
    pt.x = parse(t);
    if (i == 0) plan.name = pt.x.name, plan.output = pt.x.output;
    plan.points.push_back(std::move(pt));
  }
  for (size_t i = 0; i < plan.points.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (plan.points[i].id == plan.points[j].id) fail(path, "two sweep points share the directory name '" + plan.points[i].id + "'");
    }
  }
  return plan;
}

Experiment load_experiment(const std::string& path, const std::vector<std::string>& overrides) {
  Plan p = load_plan(path, overrides);
  if (p.points.size() != 1) fail(path, "holds a sweep of " + std::to_string(p.points.size()) + " points; run it with `ptq run`");
  return p.points.front().x;
}

nlohmann::json to_json(const Experiment& x) {
  nlohmann::json j;
  j["name"] = x.name;
  j["model"] = x.model;
  if (!x.tokenizer.empty()) j["tokenizer"] = x.tokenizer;
  j["output"] = x.output;
  j["threads"] = x.threads;
  const auto& c = x.calibration;
  if (!c.text.empty()) {
    j["calibration"] = {{"text", c.text}, {"field", c.field}, {"n_samples", c.n_samples}, {"seqlen", c.seqlen},
                        {"seed", c.seed}, {"sampling", c.sampling}, {"mode", c.mode},
                        {"true_sequential", c.true_sequential}, {"fp64_hessian", c.fp64_hessian}, {"batch", c.batch}};
  }
  j["pipeline"] = nlohmann::json::array();
  for (const auto& s : x.pipeline) {
    nlohmann::json step = {{"algorithm", s.algorithm}};
    for (const auto& [k, v] : s.grid.items()) {
      if (k != "dtype" || v != "int") step[k] = v;  // integer grids hash as before dtype existed
    }
    for (const auto& [k, v] : s.options.items()) step[k] = v;
    if (s.kind == "quantizer" && s.act.value("act_bits", 0) > 0) {
      for (const auto& [k, v] : s.act.items()) step[k] = v;
    }
    j["pipeline"].push_back(step);
  }
  nlohmann::json ev = {{"kl_divergence", x.kl_divergence}, {"baseline", x.baseline}};
  if (!x.perplexity.texts.empty()) {
    ev["perplexity"] = {{"texts", x.perplexity.texts}, {"protocol", x.perplexity.protocol}, {"seqlen", x.perplexity.seqlen},
                        {"batch", x.perplexity.batch}, {"max_windows", x.perplexity.max_windows}};
  }
  if (x.kv_cache.bits > 0) ev["kv_cache"] = {{"bits", x.kv_cache.bits}, {"group_size", x.kv_cache.group_size}};
  if (!x.tasks.names.empty()) {
    ev["tasks"] = {{"names", x.tasks.names}, {"limit", x.tasks.limit}, {"num_fewshot", x.tasks.num_fewshot},
                   {"fewshot_seed", x.tasks.fewshot_seed}, {"skip_bad_rows", x.tasks.skip_bad_rows}};
    if (!x.tasks.task_dir.empty()) ev["tasks"]["task_dir"] = x.tasks.task_dir;
  }
  j["eval"] = ev;
  if (x.generate.enabled) j["generate"] = {{"prompt", x.generate.prompt}, {"max_tokens", x.generate.max_tokens}};
  for (const auto& e : x.exports) {
    if (e.format == "gguf") {
      nlohmann::json t = {{"format", e.format}, {"type", e.type}, {"fallback", e.fallback}};
      if (!e.overrides.empty()) t["override"] = e.overrides;
      j["export"].push_back(t);
    } else {
      nlohmann::json t = {{"format", e.format}, {"unaligned", e.unaligned}};
      if (e.format == "gptq") t["checkpoint_format"] = e.checkpoint_format;
      j["export"].push_back(t);
    }
  }
  return j;
}

std::string to_yaml(const Experiment& x) {
  YAML::Emitter out;
  out << json_to_yaml(to_json(x));
  return std::string(out.c_str()) + "\n";
}

}  // namespace ptq::config
