#include "eval/report/report.hpp"

#include <cctype>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.hpp"
#include "eval/report/pareto.hpp"
#include "eval/report/svg_plot.hpp"
#include "io/atomic_file.hpp"

namespace ptq::report {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

std::string group_label(const json& row) {
  if (!row.contains("group_size") || row["group_size"].is_null()) return "-";
  const int g = row["group_size"];
  return g > 0 ? "g" + std::to_string(g) : g == 0 ? "per-channel" : "per-tensor";
}

double num_or_nan(const json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : NAN;
}

std::string cell(double v, const char* f) { return std::isfinite(v) ? fmt(f, v) : "-"; }

}  // namespace

json build_table(const std::vector<json>& metrics) {
  std::vector<json> ms = metrics;
  std::stable_sort(ms.begin(), ms.end(), [](const json& a, const json& b) {
    const std::string ea = a.value("experiment", ""), eb = b.value("experiment", "");
    if (ea != eb) return ea < eb;
    return a.value("index", 0) < b.value("index", 0);
  });
  std::vector<std::string> texts, tasks;
  auto add_unique = [](std::vector<std::string>& v, const std::string& s) {
    if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
  };
  std::map<std::string, std::map<std::string, double>> fp_ppl;  // experiment -> text -> ppl
  for (const auto& m : ms) {
    for (const auto& p : m.value("perplexity", json::array())) {
      const std::string text = p["text"];
      add_unique(texts, text);
      if (m.value("method", "") == "fp") fp_ppl[m.value("experiment", "")][text] = p["ppl"].get<double>();
    }
    const json task_results = m.value("tasks", json::object());
    for (const auto& [k, v] : task_results.items()) add_unique(tasks, k);
  }
  json rows = json::array();
  for (const auto& m : ms) {
    json r = {{"run", m.value("point", "")}, {"experiment", m.value("experiment", "")}, {"method", m.value("method", "")}};
    r["bits"] = m.contains("bits") ? m["bits"] : json(nullptr);
    r["group_size"] = m.contains("group_size") ? m["group_size"] : json(nullptr);
    r["sym"] = m.contains("sym") ? m["sym"] : json(nullptr);
    r["calibration"] = m.contains("calibration") ? m["calibration"].value("mode", "") : std::string("-");
    r["bits_per_weight"] = m.value("bits_per_weight", 0.0);
    r["model_mb"] = m.value("model_bytes", 0.0) / 1e6;
    r["quantize_seconds"] = m.contains("quantize_seconds") ? m["quantize_seconds"] : json(nullptr);
    r["stats_reused"] = m.contains("stats_reused") ? m["stats_reused"] : json(nullptr);
    r["peak_rss_mb"] = m.value("peak_rss_bytes", 0.0) / 1e6;
    json ppl = json::object(), kl = json::object(), tk = json::object();
    for (const auto& p : m.value("perplexity", json::array())) {
      json e = {{"ppl", p["ppl"]}, {"stderr", p["ppl_stderr"]}};
      const auto& fps = fp_ppl[m.value("experiment", "")];
      auto it = fps.find(p["text"].get<std::string>());
      e["delta"] = it != fps.end() ? json(p["ppl"].get<double>() - it->second) : json(nullptr);
      ppl[p["text"].get<std::string>()] = e;
    }
    for (const auto& k : m.value("kl_divergence", json::array())) {
      kl[k["text"].get<std::string>()] = {{"mean", k["mean_kl"]}, {"stderr", k["kl_stderr"]}, {"top1", k["top1_agreement"]}};
    }
    const json task_results = m.value("tasks", json::object());
    for (const auto& [name, t] : task_results.items()) tk[name] = t;
    r["perplexity"] = ppl;
    r["kl_divergence"] = kl;
    r["tasks"] = tk;
    rows.push_back(r);
  }
  // The Pareto front per experiment and text (bits per weight vs perplexity) of the quantized runs.
  for (const auto& t : texts) {
    std::map<std::string, std::vector<size_t>> by_exp;
    for (size_t i = 0; i < rows.size(); ++i) {
      rows[i]["pareto"][t] = false;
      if (rows[i]["method"] != "fp") by_exp[rows[i]["experiment"].get<std::string>()].push_back(i);  // FP is the reference
    }
    for (const auto& [e, idx] : by_exp) {
      std::vector<double> c, l;
      for (size_t i : idx) {
        c.push_back(rows[i]["bits_per_weight"]);
        l.push_back(rows[i]["perplexity"].contains(t) ? rows[i]["perplexity"][t]["ppl"].get<double>() : NAN);
      }
      std::set<size_t> front;
      for (size_t f : pareto_front(c, l)) front.insert(idx[f]);
      for (size_t i : front) rows[i]["pareto"][t] = true;
    }
  }
  return {{"texts", texts}, {"tasks", tasks}, {"rows", rows}};
}

namespace {

// The table as a header and string cells, shared by the Markdown and CSV writers.
std::pair<std::vector<std::string>, std::vector<std::vector<std::string>>> cells(const json& table, bool markdown) {
  std::vector<std::string> head = {"run", "method", "bits", "group", "calib", "bpw", "size MB"};
  const auto texts = table["texts"].get<std::vector<std::string>>();
  const auto tasks = table["tasks"].get<std::vector<std::string>>();
  bool any_kl = false;
  for (const auto& r : table["rows"]) any_kl = any_kl || !r["kl_divergence"].empty();
  for (const auto& t : texts) {
    if (markdown) {
      head.push_back("PPL " + t);
    } else {
      head.push_back("ppl " + t);
      head.push_back("ppl_stderr " + t);
    }
    head.push_back((markdown ? "ΔPPL " : "delta_ppl ") + t);
    if (any_kl) {
      if (markdown) {
        head.push_back("KL " + t);
      } else {
        head.push_back("kl " + t);
        head.push_back("kl_stderr " + t);
      }
    }
  }
  for (const auto& t : tasks) head.push_back((markdown ? "acc " : "accuracy ") + t);
  head.insert(head.end(), {markdown ? "quant s" : "quantize_seconds", markdown ? "peak MB" : "peak_rss_mb",
                           markdown ? "front" : "pareto_front"});
  std::vector<std::vector<std::string>> body;
  for (const auto& r : table["rows"]) {
    std::vector<std::string> c = {r["run"], r["method"], r["bits"].is_null() ? "-" : std::to_string(r["bits"].get<int>()),
                                  group_label(r), r["calibration"], fmt("%.3f", r["bits_per_weight"]), fmt("%.3f", r["model_mb"])};
    for (const auto& t : texts) {
      const json p = r["perplexity"].value(t, json::object());
      const double ppl = num_or_nan(p, "ppl"), se = num_or_nan(p, "stderr"), d = num_or_nan(p, "delta");
      if (markdown) {
        c.push_back(std::isfinite(ppl) ? fmt("%.3f", ppl) + " ± " + fmt("%.3f", se) : "-");
      } else {
        c.push_back(cell(ppl, "%.6f"));
        c.push_back(cell(se, "%.6f"));
      }
      c.push_back(cell(d, markdown ? "%+.3f" : "%.6f"));
      if (any_kl) {
        const json k = r["kl_divergence"].value(t, json::object());
        const double kl = num_or_nan(k, "mean"), kse = num_or_nan(k, "stderr");
        if (markdown) {
          c.push_back(std::isfinite(kl) ? fmt("%.5f", kl) + " ± " + fmt("%.5f", kse) : "-");
        } else {
          c.push_back(cell(kl, "%.8f"));
          c.push_back(cell(kse, "%.8f"));
        }
      }
    }
    for (const auto& t : tasks) {
      const json a = r["tasks"].value(t, json::object());
      c.push_back(cell(num_or_nan(a, "acc"), "%.4f"));  // eval/tasks/run_tasks to_json's key
    }
    c.push_back(r["quantize_seconds"].is_number() ? fmt("%.2f", r["quantize_seconds"]) : "-");
    c.push_back(fmt("%.0f", r["peak_rss_mb"]));
    const bool front = !texts.empty() && r["pareto"].value(texts.front(), false);
    c.push_back(front ? (markdown ? "*" : "1") : (markdown ? "" : "0"));
    body.push_back(c);
  }
  return {head, body};
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

}  // namespace

std::string table_markdown(const json& table) {
  const auto [head, body] = cells(table, true);
  std::string o = "|";
  for (const auto& h : head) o += " " + h + " |";
  o += "\n|";
  for (size_t i = 0; i < head.size(); ++i) o += i < 5 ? "---|" : "---:|";
  o += "\n";
  for (const auto& row : body) {
    o += "|";
    for (const auto& c : row) o += " " + c + " |";
    o += "\n";
  }
  return o;
}

std::string table_csv(const json& table) {
  const auto [head, body] = cells(table, false);
  std::string o;
  auto line = [&](const std::vector<std::string>& v) {
    for (size_t i = 0; i < v.size(); ++i) o += (i ? "," : "") + csv_field(v[i]);
    o += "\n";
  };
  line(head);
  for (const auto& r : body) line(r);
  return o;
}

std::string ppl_plot_svg(const json& table, const std::string& text) {
  PlotSpec spec;
  spec.title = "Perplexity vs bits per weight (" + text + ")";
  spec.x_label = "bits per weight (scales and zeros included)";
  spec.y_label = "perplexity";
  std::vector<std::string> methods;
  std::vector<double> all_ppl, front_x, front_y;
  std::vector<std::pair<double, double>> front;
  for (const auto& r : table["rows"]) {
    if (!r["perplexity"].contains(text)) continue;
    const double ppl = r["perplexity"][text]["ppl"];
    if (r["method"] == "fp") {
      spec.ref_lines.push_back({ppl, "FP " + fmt("%.3f", ppl)});
      continue;
    }
    all_ppl.push_back(ppl);
    const std::string m = r["method"];
    auto it = std::find(methods.begin(), methods.end(), m);
    if (it == methods.end()) {
      methods.push_back(m);
      spec.series.push_back(Series{m, palette(methods.size() - 1)});
      it = methods.end() - 1;
    }
    auto& s = spec.series[static_cast<size_t>(it - methods.begin())];
    s.x.push_back(r["bits_per_weight"]);
    s.y.push_back(ppl);
    s.labels.push_back(group_label(r) + (r["bits"].is_null() ? "" : " w" + std::to_string(r["bits"].get<int>())));
    if (r["pareto"].value(text, false)) front.emplace_back(r["bits_per_weight"].get<double>(), ppl);
  }
  // Runs at the same bits per weight share a grid (bits, group): label only the highest point there.
  std::map<double, std::pair<double, std::string*>> top;
  for (auto& s : spec.series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      auto it = top.find(s.x[i]);
      if (it == top.end() || s.y[i] > it->second.first) {
        if (it != top.end()) it->second.second->clear();
        top[s.x[i]] = {s.y[i], &s.labels[i]};
      } else {
        s.labels[i].clear();
      }
    }
  }
  for (const auto& r : spec.ref_lines) all_ppl.push_back(r.y);
  spec.log_y = wants_log_scale(all_ppl);
  std::sort(front.begin(), front.end());
  Series f{"Pareto front", "#222"};
  for (const auto& [x, y] : front) f.x.push_back(x), f.y.push_back(y);
  f.line = true;
  f.dashed = true;
  f.hollow = true;
  f.marker_radius = 8;
  if (!front.empty()) spec.series.push_back(f);
  return render_svg(spec);
}

std::string layer_error_svg(const std::vector<json>& metrics) {
  PlotSpec spec;
  spec.title = "Relative output error per linear layer";
  spec.x_label = "linear layer (decoder layer: q k v o gate up down)";
  spec.y_label = "||(W-Q)X||² / ||WX||²";
  spec.log_y = true;
  std::vector<json> ms = metrics;
  std::stable_sort(ms.begin(), ms.end(), [](const json& a, const json& b) { return a.value("index", 0) < b.value("index", 0); });
  // Colour by grid (bits, group size), dash by algorithm: "by layer and algorithm" at a glance.
  std::vector<std::string> grids, methods;
  auto index_of = [](std::vector<std::string>& v, const std::string& s) {
    auto it = std::find(v.begin(), v.end(), s);
    if (it != v.end()) return static_cast<size_t>(it - v.begin());
    v.push_back(s);
    return v.size() - 1;
  };
  size_t n_layers = 0;
  for (const auto& m : ms) {
    const std::string grid = m.contains("bits") ? std::to_string(m["bits"].get<int>()) + "/" + group_label(m) : "-";
    Series s{m.value("point", "")};
    s.line = true;
    s.marker_radius = 2.5;
    size_t i = 0;
    for (const auto& row : m.value("layers", json::array())) {
      if (row.contains("rel_output_error")) {
        s.x.push_back(static_cast<double>(i));
        s.y.push_back(row["rel_output_error"]);
      }
      ++i;
    }
    if (!s.x.empty()) {
      s.color = palette(index_of(grids, grid));
      s.dashed = index_of(methods, m.value("method", "")) % 2 == 1;
      spec.series.push_back(s);
    }
    n_layers = std::max(n_layers, i);
    // Tick at the first linear layer of every decoder layer: "model.layers.<L>.self_attn.q_proj".
    if (spec.x_ticks.empty()) {
      size_t j = 0;
      for (const auto& row : m.value("layers", json::array())) {
        const std::string name = row.value("name", "");
        if (name.find("q_proj") != std::string::npos) {
          const auto a = name.find("layers.") + 7;
          spec.x_ticks.push_back({static_cast<double>(j), "L" + name.substr(a, name.find('.', a) - a)});
        }
        ++j;
      }
      if (spec.x_ticks.size() > 16) {  // keep labels legible on deep models
        std::vector<Tick> thin;
        const size_t step = (spec.x_ticks.size() + 15) / 16;
        for (size_t k = 0; k < spec.x_ticks.size(); k += step) thin.push_back(spec.x_ticks[k]);
        spec.x_ticks = thin;
      }
    }
  }
  if (spec.series.empty()) return "";
  return render_svg(spec);
}

namespace {

std::string slug(const std::string& s) {
  std::string o;
  for (char c : s) o += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  return o;
}

std::string html_table(const json& table) {
  const auto [head, body] = cells(table, true);
  std::string o = "<table>\n<thead><tr>";
  for (const auto& h : head) o += "<th>" + xml_escape(h) + "</th>";
  o += "</tr></thead>\n<tbody>\n";
  for (const auto& row : body) {
    o += "<tr>";
    for (size_t i = 0; i < row.size(); ++i) o += std::string(i < 5 ? "<td>" : "<td class=\"n\">") + xml_escape(row[i]) + "</td>";
    o += "</tr>\n";
  }
  return o + "</tbody></table>\n";
}

// An SVG file's text without its XML declaration, to inline in HTML.
std::string inline_svg(const std::string& svg) {
  const auto p = svg.find("<svg");
  return p == std::string::npos ? svg : svg.substr(p);
}

}  // namespace

ReportResult write_report(const std::string& out_dir, const std::vector<json>& metrics,
                          const std::vector<ReferencePoint>& refs_given) {
  fs::create_directories(out_dir);
  ReportResult r;
  r.table = build_table(metrics);
  r.markdown = table_markdown(r.table);
  auto put = [&](const std::string& name, const std::string& content) {
    const std::string p = (fs::path(out_dir) / name).string();
    io::write_file_atomically(p, content);
    r.files.push_back(p);
  };
  put("report.md", "# ptq report\n\n" + r.markdown +
                       "\nbpw: bits per weight of the quantized linear layers with fp16 scales and zero points "
                       "counted; size: those layers at their bpw, all other tensors at fp16. ΔPPL and KL are "
                       "against the FP run. front: on the Pareto front of bpw vs perplexity (first text).\n");
  put("report.csv", table_csv(r.table));
  put("report.json", r.table.dump(2) + "\n");
  std::vector<std::pair<std::string, std::string>> plots;
  const auto texts = r.table["texts"].get<std::vector<std::string>>();
  for (const auto& t : texts) {
    const std::string name = texts.size() == 1 ? "ppl_vs_bpw.svg" : "ppl_vs_bpw_" + slug(t) + ".svg";
    plots.emplace_back(name, ppl_plot_svg(r.table, t));
  }
  // Size plots: for budget sweeps and against reference points (one per label).
  std::vector<ReferencePoint> refs = refs_given;
  bool mixed_runs = false;
  for (const auto& m : metrics) {
    mixed_runs = mixed_runs || m.contains("mixed_precision");
    for (const auto& p : m.value("reference_points", json::array())) {
      const std::string label = p.value("label", "");
      if (std::none_of(refs.begin(), refs.end(), [&](const ReferencePoint& q) { return q.label == label; })) {
        refs.push_back({label, p.value("bytes", 0.0), p.value("kl", 0.0), p.value("ppl", 0.0)});
      }
    }
  }
  if (mixed_runs || !refs.empty()) {
    for (const auto& t : texts) {
      for (const char* metric : {"kl", "ppl"}) {
        const std::string svg = size_plot_svg(r.table, t, metric, refs);
        if (!svg.empty()) plots.emplace_back(std::string(metric) + "_vs_size" + (texts.size() == 1 ? "" : "_" + slug(t)) + ".svg", svg);
      }
    }
  }
  const std::string layers = layer_error_svg(metrics);
  if (!layers.empty()) plots.emplace_back("layer_error.svg", layers);
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>ptq report</title>\n<style>"
      "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px;color:#222}"
      "table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:4px 8px}"
      "th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}"
      "figure{margin:24px 0}</style></head><body>\n<h1>ptq report</h1>\n" +
      html_table(r.table) +
      "<p>bpw: bits per weight of the quantized linear layers, fp16 scales and zero points counted. "
      "ΔPPL and KL: against the FP run. front (*): on the Pareto front of bits per weight vs perplexity.</p>\n";
  for (const auto& [name, svg] : plots) {
    put(name, svg);
    html += "<figure>" + inline_svg(svg) + "<figcaption>" + xml_escape(name) + "</figcaption></figure>\n";
  }
  put("report.html", html + "</body></html>\n");
  return r;
}

std::vector<json> collect_metrics(const std::vector<std::string>& paths) {
  std::vector<json> out;
  auto read = [&](const fs::path& p) {
    auto j = json::parse(io::read_text_file(p.string()), nullptr, false);
    if (j.is_discarded() || !j.is_object()) fail(p.string(), "not a metrics.json (invalid JSON)");
    out.push_back(j);
  };
  for (const auto& s : paths) {
    const fs::path p(s);
    if (fs::is_regular_file(p)) {
      read(p);
    } else if (fs::is_regular_file(p / "metrics.json")) {
      read(p / "metrics.json");
    } else if (fs::is_directory(p / "runs")) {
      std::vector<fs::path> found;
      for (const auto& e : fs::directory_iterator(p / "runs")) {
        if (fs::is_regular_file(e.path() / "metrics.json")) found.push_back(e.path() / "metrics.json");
      }
      if (found.empty()) fail(s, "no finished runs (runs/*/metrics.json)");
      std::sort(found.begin(), found.end());
      for (const auto& f : found) read(f);
    } else {
      fail(s, "neither an experiment directory (runs/), a run directory nor a metrics.json");
    }
  }
  return out;
}

}  // namespace ptq::report
