#include "eval/report/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace ptq::report {

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string palette(size_t i) {
  static const char* c[] = {"#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1",
                            "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac"};
  return c[i % 10];
}

std::vector<double> linear_ticks(double lo, double hi, int target) {
  if (!(hi > lo)) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  std::vector<double> t;
  for (double v = std::ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::abs(v) < step * 1e-9 ? 0 : v);
  return t;
}

std::vector<double> log_ticks(double lo, double hi) {
  std::vector<double> t;
  if (!(lo > 0) || !(hi > lo)) return {lo};
  for (const auto& mults : {std::vector<double>{1}, std::vector<double>{1, 2, 5}, std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
    t.clear();
    for (int e = static_cast<int>(std::floor(std::log10(lo))); e <= static_cast<int>(std::ceil(std::log10(hi))); ++e) {
      for (double m : mults) {
        const double v = m * std::pow(10.0, e);
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) t.push_back(v);
      }
    }
    if (t.size() >= 4) break;
  }
  if (t.size() < 3) return linear_ticks(lo, hi, 5);  // less than a decade: plain steps on the log axis
  return t;
}

bool wants_log_scale(const std::vector<double>& values, double ratio) {
  double lo = INFINITY, hi = 0;
  for (double v : values) {
    if (!(v > 0) || !std::isfinite(v)) continue;
    lo = std::min(lo, v), hi = std::max(hi, v);
  }
  return hi > 0 && hi / lo > ratio;
}

namespace {

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

std::string tick_label(double v) {
  char b[32];
  const double a = std::abs(v);
  if (a != 0 && (a >= 1e5 || a < 1e-3)) std::snprintf(b, sizeof b, "%.0e", v);
  else std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

struct Axis {
  double lo, hi;
  bool log;
  double px0, px1;  // pixel positions of lo and hi
  double map(double v) const {
    const double f = log ? (std::log10(v) - std::log10(lo)) / (std::log10(hi) - std::log10(lo)) : (v - lo) / (hi - lo);
    return px0 + f * (px1 - px0);
  }
};

struct Box {
  double x0, y0, x1, y1;
  bool overlaps(const Box& b) const { return x0 < b.x1 && b.x0 < x1 && y0 < b.y1 && b.y0 < y1; }
};

// The box a label of `chars` characters covers with its baseline at (x, y).
Box label_box(double x, double y, size_t chars) { return {x, y - 9, x + 6.0 * static_cast<double>(chars), y + 2}; }

Axis make_axis(std::vector<double> v, bool log, double px0, double px1) {
  v.erase(std::remove_if(v.begin(), v.end(), [&](double a) { return !std::isfinite(a) || (log && !(a > 0)); }), v.end());
  double lo = v.empty() ? (log ? 1 : 0) : *std::min_element(v.begin(), v.end());
  double hi = v.empty() ? (log ? 10 : 1) : *std::max_element(v.begin(), v.end());
  if (log) {
    const double pad = std::max(0.05, (std::log10(hi) - std::log10(lo)) * 0.06);
    lo = std::pow(10.0, std::log10(lo) - pad), hi = std::pow(10.0, std::log10(hi) + pad);
  } else {
    const double pad = hi > lo ? (hi - lo) * 0.06 : std::max(std::abs(hi) * 0.1, 0.5);
    lo -= pad, hi += pad;
  }
  return {lo, hi, log, px0, px1};
}

}  // namespace

std::vector<PlacedLabel> place_labels(const std::vector<PlacedLabel>& points, double x0, double y0, double x1, double y1) {
  std::vector<PlacedLabel> out;
  std::vector<Box> taken;
  for (const auto& p : points) {
    const double w = 6.0 * static_cast<double>(p.text.size());
    const double candidates[][2] = {{p.x + 7, p.y - 6},  {p.x + 7, p.y + 14},  {p.x - 7 - w, p.y - 6},
                                    {p.x - 7 - w, p.y + 14}, {p.x + 7, p.y - 18}, {p.x + 7, p.y + 26},
                                    {p.x + 7, p.y - 30},  {p.x + 7, p.y + 38}};
    PlacedLabel placed{candidates[0][0], candidates[0][1], p.text};
    for (const auto& c : candidates) {
      const Box b = label_box(c[0], c[1], p.text.size());
      if (b.x0 < x0 || b.x1 > x1 || b.y0 < y0 || b.y1 > y1) continue;
      if (std::any_of(taken.begin(), taken.end(), [&](const Box& t) { return t.overlaps(b); })) continue;
      placed.x = c[0], placed.y = c[1];
      break;
    }
    taken.push_back(label_box(placed.x, placed.y, p.text.size()));
    out.push_back(placed);
  }
  return out;
}

std::string render_svg(const PlotSpec& spec) {
  const double W = spec.width, H = spec.height;
  const bool legend = std::any_of(spec.series.begin(), spec.series.end(), [](const Series& s) { return !s.name.empty(); });
  size_t longest = 0;
  for (const auto& s : spec.series) longest = std::max(longest, s.name.size());
  // Legend column sized to its longest entry (about 7 px per character at 12 px).
  const double left = 78, right = legend ? 48 + 7.0 * static_cast<double>(longest) : 24;
  const double top = spec.title.empty() ? 20 : 44, bottom = 62;
  std::vector<double> xs, ys;
  for (const auto& s : spec.series) {
    xs.insert(xs.end(), s.x.begin(), s.x.end());
    ys.insert(ys.end(), s.y.begin(), s.y.end());
  }
  for (const auto& r : spec.ref_lines) ys.push_back(r.y);
  for (const auto& t : spec.x_ticks) xs.push_back(t.at);
  const Axis ax = make_axis(xs, spec.log_x, left, W - right);
  const Axis ay = make_axis(ys, spec.log_y, H - bottom, top);

  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" << W << "\" height=\"" << H
    << "\" viewBox=\"0 0 " << W << " " << H << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
    << "<rect x=\"0\" y=\"0\" width=\"" << W << "\" height=\"" << H << "\" fill=\"white\"/>\n";
  if (!spec.title.empty()) {
    o << "<text x=\"" << num((left + W - right) / 2) << "\" y=\"26\" font-size=\"16\" font-weight=\"bold\" text-anchor=\"middle\">"
      << xml_escape(spec.title) << "</text>\n";
  }
  // Grid and ticks.
  std::vector<Tick> xt = spec.x_ticks;
  if (xt.empty()) {
    for (double v : spec.log_x ? log_ticks(ax.lo, ax.hi) : linear_ticks(ax.lo, ax.hi)) xt.push_back({v, tick_label(v)});
  }
  for (const auto& t : xt) {
    if (t.at < ax.lo || t.at > ax.hi) continue;
    const double x = ax.map(t.at);
    o << "<line x1=\"" << num(x) << "\" y1=\"" << num(top) << "\" x2=\"" << num(x) << "\" y2=\"" << num(H - bottom)
      << "\" stroke=\"#e5e5e5\"/>\n"
      << "<text x=\"" << num(x) << "\" y=\"" << num(H - bottom + 18) << "\" font-size=\"12\" text-anchor=\"middle\">"
      << xml_escape(t.label) << "</text>\n";
  }
  for (double v : spec.log_y ? log_ticks(ay.lo, ay.hi) : linear_ticks(ay.lo, ay.hi)) {
    if (v < ay.lo || v > ay.hi) continue;
    const double y = ay.map(v);
    o << "<line x1=\"" << num(left) << "\" y1=\"" << num(y) << "\" x2=\"" << num(W - right) << "\" y2=\"" << num(y)
      << "\" stroke=\"#e5e5e5\"/>\n"
      << "<text x=\"" << num(left - 6) << "\" y=\"" << num(y + 4) << "\" font-size=\"12\" text-anchor=\"end\">"
      << xml_escape(tick_label(v)) << "</text>\n";
  }
  o << "<rect x=\"" << num(left) << "\" y=\"" << num(top) << "\" width=\"" << num(W - right - left) << "\" height=\""
    << num(H - bottom - top) << "\" fill=\"none\" stroke=\"#333\"/>\n";
  o << "<text x=\"" << num((left + W - right) / 2) << "\" y=\"" << num(H - 16) << "\" font-size=\"14\" text-anchor=\"middle\">"
    << xml_escape(spec.x_label + (spec.log_x ? " (log scale)" : "")) << "</text>\n";
  const double yc = (top + H - bottom) / 2;
  o << "<text x=\"18\" y=\"" << num(yc) << "\" font-size=\"14\" text-anchor=\"middle\" transform=\"rotate(-90 18 " << num(yc)
    << ")\">" << xml_escape(spec.y_label + (spec.log_y ? " (log scale)" : "")) << "</text>\n";

  for (const auto& r : spec.ref_lines) {
    if (r.y < ay.lo || r.y > ay.hi) continue;
    const double y = ay.map(r.y);
    o << "<line x1=\"" << num(left) << "\" y1=\"" << num(y) << "\" x2=\"" << num(W - right) << "\" y2=\"" << num(y)
      << "\" stroke=\"" << r.color << "\" stroke-dasharray=\"6 4\"/>\n"
      << "<text x=\"" << num(left + 6) << "\" y=\"" << num(y - 5) << "\" font-size=\"11\" fill=\""
      << r.color << "\">" << xml_escape(r.label) << "</text>\n";
  }
  auto ok = [&](double x, double y) {
    return std::isfinite(x) && std::isfinite(y) && (!spec.log_x || x > 0) && (!spec.log_y || y > 0);
  };
  std::vector<PlacedLabel> point_labels;
  for (const auto& s : spec.series) {
    if (s.line) {
      o << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"1.8\""
        << (s.dashed ? " stroke-dasharray=\"5 3\"" : "") << " points=\"";
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (ok(s.x[i], s.y[i])) o << num(ax.map(s.x[i])) << "," << num(ay.map(s.y[i])) << " ";
      }
      o << "\"/>\n";
    }
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!ok(s.x[i], s.y[i])) continue;
      const double x = ax.map(s.x[i]), y = ay.map(s.y[i]);
      if (s.markers) {
        o << "<circle cx=\"" << num(x) << "\" cy=\"" << num(y) << "\" r=\"" << s.marker_radius << "\" "
          << (s.hollow ? "fill=\"none\" stroke-width=\"1.8\" stroke=\"" + s.color + "\"" : "fill=\"" + s.color + "\"") << "/>\n";
      }
      if (i < s.labels.size() && !s.labels[i].empty()) point_labels.push_back({x, y, s.labels[i]});
    }
  }
  for (const auto& l : place_labels(point_labels, left, top, W - right, H - bottom)) {
    o << "<text x=\"" << num(l.x) << "\" y=\"" << num(l.y) << "\" font-size=\"10\" fill=\"#333\">" << xml_escape(l.text)
      << "</text>\n";
  }
  if (legend) {
    double y = top + 8;
    for (const auto& s : spec.series) {
      if (s.name.empty()) continue;
      const double x = W - right + 14;
      if (s.line) {
        o << "<line x1=\"" << num(x) << "\" y1=\"" << num(y) << "\" x2=\"" << num(x + 18) << "\" y2=\"" << num(y)
          << "\" stroke=\"" << s.color << "\" stroke-width=\"1.8\"" << (s.dashed ? " stroke-dasharray=\"5 3\"" : "") << "/>\n";
      }
      if (s.markers) {
        o << "<circle cx=\"" << num(x + 9) << "\" cy=\"" << num(y) << "\" r=\"4.5\" "
          << (s.hollow ? "fill=\"none\" stroke-width=\"1.8\" stroke=\"" + s.color + "\"" : "fill=\"" + s.color + "\"") << "/>\n";
      }
      o << "<text x=\"" << num(x + 24) << "\" y=\"" << num(y + 4) << "\" font-size=\"12\">" << xml_escape(s.name) << "</text>\n";
      y += 20;
    }
  }
  o << "</svg>\n";
  return o.str();
}

}  // namespace ptq::report
