// A small SVG plotter for the reports (no plotting library in C++ here): scatter and line series on
// linear or log axes with 1-2-5 ticks, axis labels, a legend, horizontal reference lines and point
// labels. Output is standalone SVG 1.1 text (valid XML; all text escaped).
#pragma once
#include <string>
#include <vector>

namespace ptq::report {

struct Series {
  std::string name;    // legend entry; empty: not in the legend
  std::string color;   // CSS colour
  std::vector<double> x, y;
  std::vector<std::string> labels;  // per point, drawn beside it (optional)
  bool markers = true;
  bool line = false;
  bool dashed = false;
  bool hollow = false;       // ring markers (e.g. the Pareto front over the points)
  double marker_radius = 4.5;
};

struct RefLine {
  double y = 0;
  std::string label, color = "#555";
};

struct Tick {
  double at = 0;
  std::string label;
};

struct PlotSpec {
  std::string title, x_label, y_label;
  bool log_x = false, log_y = false;
  int width = 760, height = 480;
  std::vector<Series> series;
  std::vector<RefLine> ref_lines;
  std::vector<Tick> x_ticks;  // empty: automatic
};

std::string render_svg(const PlotSpec& spec);

// A point's label: in, the point (pixels) and its text; out, where the text's baseline starts.
struct PlacedLabel {
  double x = 0, y = 0;
  std::string text;
};
// Places labels (font size 10, ~6 px per character) beside their points so that no two overlap and
// each stays inside the plot area [x0, x1] x [y0, y1]: the first free spot among right-above,
// right-below, left-above, left-below, then further above and below. A label with no free spot
// keeps right-above. Sweeps put several runs at the same bits per weight, whose labels collided.
std::vector<PlacedLabel> place_labels(const std::vector<PlacedLabel>& points, double x0, double y0, double x1, double y1);

// Tick positions: "nice" 1-2-5 steps covering [lo, hi] (about `target` of them); on a log axis the
// 1-2-5 multiples of powers of ten inside [lo, hi].
std::vector<double> linear_ticks(double lo, double hi, int target = 6);
std::vector<double> log_ticks(double lo, double hi);
// A log scale suits values spanning more than a factor `ratio` (perplexity exploding at 2-3 bits).
bool wants_log_scale(const std::vector<double>& values, double ratio = 4.0);
std::string xml_escape(const std::string& s);
// The report's colour for the i-th category (Tableau 10).
std::string palette(size_t i);

}  // namespace ptq::report
