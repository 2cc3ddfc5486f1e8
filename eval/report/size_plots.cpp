#include "eval/report/size_plots.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "eval/report/svg_plot.hpp"

namespace ptq::report {

using json = nlohmann::json;

namespace {

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char c : line) {
    if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) out.push_back(cur), cur.clear();
    else if (c != '\r') cur += c;
  }
  out.push_back(cur);
  return out;
}

double number(const std::string& s, const std::string& where) {
  if (s.empty() || s == "-") return 0;
  try {
    size_t used = 0;
    const double v = std::stod(s, &used);
    if (used == s.size() && std::isfinite(v) && v >= 0) return v;
  } catch (const std::exception&) {
  }
  fail(where, "'" + s + "' is not a non-negative number");
}

}  // namespace

std::vector<ReferencePoint> read_reference_points(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, "cannot open the reference points");
  std::string line;
  if (!std::getline(in, line)) fail(path, "empty (expected a header: label,bytes,kl,ppl)");
  const auto head = split_csv_line(line);
  auto col = [&](const std::string& name) {
    const auto it = std::find(head.begin(), head.end(), name);
    return it == head.end() ? -1 : static_cast<int>(it - head.begin());
  };
  const int c_label = col("label"), c_bytes = col("bytes"), c_kl = col("kl"), c_ppl = col("ppl");
  if (c_label < 0 || c_bytes < 0 || (c_kl < 0 && c_ppl < 0)) fail(path + ":1", "the header needs label, bytes and kl and/or ppl");
  std::vector<ReferencePoint> out;
  for (int n = 2; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    const auto f = split_csv_line(line);
    const std::string where = path + ":" + std::to_string(n);
    auto at = [&](int c) { return c >= 0 && c < static_cast<int>(f.size()) ? f[c] : std::string(); };
    ReferencePoint p{at(c_label), number(at(c_bytes), where), number(at(c_kl), where), number(at(c_ppl), where)};
    if (p.label.empty() || p.bytes <= 0) fail(where, "a reference point needs a label and its bytes");
    out.push_back(p);
  }
  return out;
}

std::string size_plot_svg(const json& table, const std::string& text, const std::string& metric,
                          const std::vector<ReferencePoint>& refs) {
  const bool kl = metric == "kl";
  PlotSpec spec;
  spec.title = (kl ? "KL divergence to FP" : "Perplexity") + std::string(" vs model size (") + text + ")";
  spec.x_label = "model size (MB, as stored)";
  spec.y_label = kl ? "mean KL divergence" : "perplexity";
  std::vector<std::string> methods;
  std::vector<double> ys;
  for (const auto& r : table["rows"]) {
    double y = NAN;
    if (kl && r["kl_divergence"].contains(text)) y = r["kl_divergence"][text]["mean"];
    if (!kl && r["perplexity"].contains(text)) y = r["perplexity"][text]["ppl"];
    if (!std::isfinite(y) || y <= 0) continue;
    if (r["method"] == "fp") {
      if (!kl) spec.ref_lines.push_back({y, "FP"});
      continue;
    }
    const std::string m = r["method"];
    auto it = std::find(methods.begin(), methods.end(), m);
    if (it == methods.end()) {
      methods.push_back(m);
      Series s{m, palette(methods.size() - 1)};
      s.line = m.rfind("mixed_precision", 0) == 0;  // a budget sweep: the front
      spec.series.push_back(s);
      it = methods.end() - 1;
    }
    auto& s = spec.series[static_cast<size_t>(it - methods.begin())];
    s.x.push_back(r["model_mb"]);
    s.y.push_back(y);
    ys.push_back(y);
  }
  for (auto& s : spec.series) {  // lines drawn in size order
    std::vector<size_t> idx(s.x.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return s.x[a] < s.x[b]; });
    Series t = s;
    for (size_t i = 0; i < idx.size(); ++i) t.x[i] = s.x[idx[i]], t.y[i] = s.y[idx[i]];
    s = t;
  }
  Series ref{"reference (llama.cpp mixes)", "#d62728"};
  ref.hollow = true;
  for (const auto& p : refs) {
    const double y = kl ? p.kl : p.ppl;
    if (y <= 0) continue;
    ref.x.push_back(p.bytes / 1e6);
    ref.y.push_back(y);
    ref.labels.push_back(p.label);
    ys.push_back(y);
  }
  if (!ref.x.empty()) spec.series.push_back(ref);
  if (ys.empty()) return "";
  for (const auto& l : spec.ref_lines) ys.push_back(l.y);
  spec.log_y = kl || wants_log_scale(ys);
  return render_svg(spec);
}

}  // namespace ptq::report
