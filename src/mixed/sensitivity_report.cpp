#include "mixed/sensitivity_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "eval/report/svg_plot.hpp"
#include "io/atomic_file.hpp"
#include "mixed/rank_correlation.hpp"

namespace ptq::mixed {

namespace {

std::string num(double v, const char* fmt = "%.6g") {
  if (!std::isfinite(v)) return "";
  char b[48];
  std::snprintf(b, sizeof b, fmt, v);
  return b;
}

// Row labels in table order (tensors first, then layers) and the types in candidate order.
std::vector<std::string> row_names(const SensitivityTable& t) {
  std::vector<std::string> names;
  for (const SensitivityRow& r : t.rows) {
    if (std::find(names.begin(), names.end(), r.tensor) == names.end()) names.push_back(r.tensor);
  }
  return names;
}

// The candidate types some row uses (stories260K's 64-wide rows take no k-quant: no empty columns).
std::vector<std::string> used_types(const SensitivityTable& t) {
  std::vector<std::string> out;
  for (const std::string& ty : t.types) {
    for (const SensitivityRow& r : t.rows) {
      if (r.type == ty) {
        out.push_back(ty);
        break;
      }
    }
  }
  return out;
}

const SensitivityRow* cell(const SensitivityTable& t, const std::string& name, const std::string& type) {
  for (const SensitivityRow& r : t.rows) {
    if (r.tensor == name && r.type == type) return &r;
  }
  return nullptr;
}

// Colour for x in [0, 1]: light yellow (cheap) to dark red (expensive).
std::string heat(double x) {
  x = std::clamp(x, 0.0, 1.0);
  const int r = static_cast<int>(255 - 90 * x), g = static_cast<int>(245 - 225 * x), b = static_cast<int>(200 - 180 * x);
  char s[16];
  std::snprintf(s, sizeof s, "#%02x%02x%02x", r, g, b);
  return s;
}

}  // namespace

double proxy_rank_correlation(const SensitivityTable& t) {
  std::vector<double> x, y;
  for (const SensitivityRow& r : t.rows) {
    if (r.scope == "tensor" && std::isfinite(r.proxy) && std::isfinite(r.kl)) {
      x.push_back(r.proxy);
      y.push_back(r.kl);
    }
  }
  return spearman(x, y);
}

std::string sensitivity_markdown(const SensitivityTable& t) {
  std::ostringstream o;
  o << "# Sensitivity of " << t.model << "\n\n";
  o << "Method " << t.method << (t.stats.empty() ? "" : ", statistics " + t.stats);
  if (t.windows > 0) {
    o << "; measured KL: " << t.windows << " windows of " << t.seqlen << " (" << t.protocol << ", "
      << t.tokens_scored << " scored tokens) of " << t.text << ", FP PPL " << num(t.ppl_reference, "%.4f");
  }
  o << ".\n\n";
  if (!t.fixed.empty()) {
    o << "No candidate type fits (kept in the fallback type):";
    for (const auto& f : t.fixed) o << " " << f;
    o << "\n\n";
  }
  const double rho = proxy_rank_correlation(t);
  if (std::isfinite(rho)) o << "Spearman rank correlation of proxy and measured KL (single tensors): " << num(rho, "%.3f") << "\n\n";
  for (const char* what : {"kl", "proxy"}) {
    const bool kl = std::string(what) == "kl";
    bool any = false;
    for (const SensitivityRow& r : t.rows) any |= std::isfinite(kl ? r.kl : r.proxy);
    if (!any) continue;
    const std::vector<std::string> types = used_types(t);
    o << "## " << (kl ? "Measured mean KL divergence to FP (only this tensor or layer quantized)" : "Proxy tr(dW H dW^T)")
      << "\n\n| tensor |";
    for (const auto& ty : types) o << " " << ty << " |";
    o << "\n|---|";
    for (size_t i = 0; i < types.size(); ++i) o << "---:|";
    o << "\n";
    for (const std::string& name : row_names(t)) {
      o << "| " << name << " |";
      for (const auto& ty : types) {
        const SensitivityRow* r = cell(t, name, ty);
        o << " " << (r ? num(kl ? r->kl : r->proxy, "%.3e") : std::string("-")) << " |";
      }
      o << "\n";
    }
    o << "\n";
  }
  return o.str();
}

std::string sensitivity_csv(const SensitivityTable& t) {
  std::ostringstream o;
  o << "scope,tensor,layer,type,weights,bytes,proxy,kl,kl_stderr,ppl,top1_agreement\n";
  for (const SensitivityRow& r : t.rows) {
    o << r.scope << "," << r.tensor << "," << r.layer << "," << r.type << "," << r.weights << "," << r.bytes << ","
      << num(r.proxy, "%.9g") << "," << num(r.kl, "%.9g") << "," << num(r.kl_stderr, "%.9g") << ","
      << num(r.ppl, "%.9g") << "," << num(r.top1, "%.9g") << "\n";
  }
  return o.str();
}

std::string sensitivity_heatmap_svg(const SensitivityTable& t) {
  const bool use_kl = t.measured();
  const std::vector<std::string> names = row_names(t), types = used_types(t);
  double lo = INFINITY, hi = -INFINITY;
  for (const SensitivityRow& r : t.rows) {
    const double v = use_kl ? r.kl : r.proxy;
    if (std::isfinite(v) && v > 0) lo = std::min(lo, std::log10(v)), hi = std::max(hi, std::log10(v));
  }
  if (!(hi > lo)) hi = lo + 1;
  const int cw = 64, ch = 16, left = 190, top = 60;
  const int width = left + cw * static_cast<int>(types.size()) + 120, height = top + ch * static_cast<int>(names.size()) + 40;
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
    << "\" font-family=\"sans-serif\" font-size=\"10\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << left << "\" y=\"18\" font-size=\"13\">"
    << report::xml_escape((use_kl ? "Measured KL to FP, one tensor quantized (" : "Proxy tr(dW H dW^T) (") + t.method + ")")
    << "</text>\n";
  for (size_t j = 0; j < types.size(); ++j) {
    o << "<text x=\"" << left + cw * j + cw / 2 << "\" y=\"" << top - 6 << "\" text-anchor=\"middle\">"
      << report::xml_escape(types[j]) << "</text>\n";
  }
  for (size_t i = 0; i < names.size(); ++i) {
    const int y = top + ch * static_cast<int>(i);
    o << "<text x=\"" << left - 6 << "\" y=\"" << y + ch - 4 << "\" text-anchor=\"end\">" << report::xml_escape(names[i])
      << "</text>\n";
    for (size_t j = 0; j < types.size(); ++j) {
      const SensitivityRow* r = cell(t, names[i], types[j]);
      const double v = r ? (use_kl ? r->kl : r->proxy) : NAN;
      const int x = left + cw * static_cast<int>(j);
      if (!std::isfinite(v)) {
        o << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << cw << "\" height=\"" << ch
          << "\" fill=\"#eeeeee\" stroke=\"white\"/>\n";
        continue;
      }
      const double f = v > 0 ? (std::log10(v) - lo) / (hi - lo) : 0.0;
      o << "<rect x=\"" << x << "\" y=\"" << y << "\" width=\"" << cw << "\" height=\"" << ch << "\" fill=\"" << heat(f)
        << "\" stroke=\"white\"><title>" << report::xml_escape(names[i] + " " + types[j] + ": " + num(v, "%.4g"))
        << "</title></rect>\n";
      o << "<text x=\"" << x + cw / 2 << "\" y=\"" << y + ch - 4 << "\" text-anchor=\"middle\" font-size=\"8\" fill=\""
        << (f > 0.6 ? "white" : "black") << "\">" << num(v, "%.1e") << "</text>\n";
    }
  }
  const int lx = left + cw * static_cast<int>(types.size()) + 20;
  for (int k = 0; k <= 10; ++k) {
    o << "<rect x=\"" << lx << "\" y=\"" << top + 12 * (10 - k) << "\" width=\"14\" height=\"12\" fill=\"" << heat(k / 10.0)
      << "\"/>\n";
  }
  o << "<text x=\"" << lx + 18 << "\" y=\"" << top + 10 << "\">" << num(std::pow(10.0, hi), "%.1e") << "</text>\n";
  o << "<text x=\"" << lx + 18 << "\" y=\"" << top + 130 << "\">" << num(std::pow(10.0, lo), "%.1e") << "</text>\n";
  o << "</svg>\n";
  return o.str();
}

std::string proxy_scatter_svg(const SensitivityTable& t) {
  report::PlotSpec spec;
  const double rho = proxy_rank_correlation(t);
  spec.title = "Proxy vs measured KL per tensor and type (Spearman rho = " + num(rho, "%.3f") + ")";
  spec.x_label = "proxy tr(dW H dW^T)";
  spec.y_label = "measured mean KL to FP";
  spec.log_x = spec.log_y = true;
  for (size_t j = 0; j < t.types.size(); ++j) {
    report::Series s;
    s.name = t.types[j];
    s.color = report::palette(j);
    for (const SensitivityRow& r : t.rows) {
      if (r.scope == "tensor" && r.type == t.types[j] && r.proxy > 0 && r.kl > 0) {
        s.x.push_back(r.proxy);
        s.y.push_back(r.kl);
      }
    }
    if (!s.x.empty()) spec.series.push_back(s);
  }
  return report::render_svg(spec);
}

void write_sensitivity_report(const SensitivityTable& t, const std::string& dir) {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  auto put = [&](const std::string& name, const std::string& text) { io::write_file_atomically((fs::path(dir) / name).string(), text); };
  put("sensitivity.json", to_json(t).dump(1) + "\n");
  put("sensitivity.csv", sensitivity_csv(t));
  put("sensitivity.md", sensitivity_markdown(t));
  put("sensitivity_heatmap.svg", sensitivity_heatmap_svg(t));
  if (std::isfinite(proxy_rank_correlation(t))) put("proxy_vs_kl.svg", proxy_scatter_svg(t));
}

}  // namespace ptq::mixed
