// The report: storage accounting, the Pareto front against brute force, the table on hand-made
// metrics, and SVG/HTML that a real XML parser (Python's) accepts.
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "eval/report/bits_per_weight.hpp"
#include "eval/report/pareto.hpp"
#include "eval/report/report.hpp"
#include "eval/report/svg_plot.hpp"
#include "io/atomic_file.hpp"
#include "support/shared_data.hpp"

using namespace ptq;
using nlohmann::json;

namespace {

// Python's ElementTree as the independent XML parser; "" when the file parses.
std::string xml_parse_error(const std::string& path) {
  if (std::system("python3 -c 'import xml.etree.ElementTree' 2>/dev/null") != 0) return "";  // no oracle here
  const std::string cmd = "python3 -c \"import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])\" '" + path + "' 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  return pclose(p) == 0 ? "" : (out.empty() ? "parse failed" : out);
}

json run_metrics(const std::string& point, int index, const std::string& method, json bits, json group, double bpw,
                 double ppl, double se, double kl) {
  json m = {{"experiment", "e"}, {"point", point}, {"index", index}, {"method", method}, {"bits_per_weight", bpw},
            {"model_bytes", bpw * 1e6 / 8}, {"peak_rss_bytes", 200e6}, {"quantize_seconds", 1.5}};
  if (!bits.is_null()) m["bits"] = bits, m["group_size"] = group, m["calibration"] = {{"mode", "one-shot"}};
  m["perplexity"] = json::array({{{"text", "eval.txt"}, {"ppl", ppl}, {"ppl_stderr", se}}});
  if (kl >= 0) m["kl_divergence"] = json::array({{{"text", "eval.txt"}, {"mean_kl", kl}, {"kl_stderr", kl / 10}, {"top1_agreement", 0.9}}});
  m["layers"] = json::array();
  for (int i = 0; i < 14; ++i) {
    m["layers"].push_back({{"name", "model.layers." + std::to_string(i / 7) + "." +
                                        std::vector<std::string>{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                                                 "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj",
                                                                 "mlp.down_proj"}[i % 7]},
                           {"rel_output_error", (kl > 0 ? kl : 1e-4) * (1 + i % 7)}});
  }
  return m;
}

}  // namespace

TEST_CASE("bits per weight count fp16 scales, bits-wide zeros and act-order group indices", "[report]") {
  const report::LinearShape s{256, 1024};
  // 4-bit, groups of 128, asymmetric: 4 + (16 + 4) / 128.
  CHECK(report::linear_bits_per_weight(s, 4, 128, false, false) == Approx(4.15625));
  // Symmetric: no zero points stored.
  CHECK(report::linear_bits_per_weight(s, 4, 128, true, false) == Approx(4.125));
  // Per channel: one scale and zero per row of 1024.
  CHECK(report::linear_bits_per_weight(s, 3, 0, false, false) == Approx(3 + 19.0 / 1024));
  // Per tensor: one pair for the whole matrix.
  CHECK(report::linear_bits_per_weight(s, 8, -1, false, false) == Approx(8 + 24.0 / (256 * 1024)));
  // Act-order: an int32 group index per input column, shared by the 256 rows.
  CHECK(report::linear_bits_per_weight(s, 4, 128, false, true) == Approx(4.15625 + 32.0 / 256));
  // A partial last group still stores a full set: 100 columns in groups of 64 -> 2 groups per row.
  CHECK(report::linear_bits_per_weight({10, 100}, 2, 64, false, false) == Approx(2 + 2 * 18.0 / 100));
}

TEST_CASE("the Pareto front matches brute force", "[report]") {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    const size_t n = 1 + rng() % 12;
    std::vector<double> c(n), l(n);
    for (size_t i = 0; i < n; ++i) c[i] = 2 + rng() % 6, l[i] = 5 + rng() % 8;  // ties on purpose
    const auto front = report::pareto_front(c, l);
    // Brute force: i is on the front iff no j is <= in both and < in one, and no earlier j is equal.
    std::vector<size_t> want;
    for (size_t i = 0; i < n; ++i) {
      bool dominated = false;
      for (size_t j = 0; j < n && !dominated; ++j) {
        if (j == i) continue;
        const bool weakly = c[j] <= c[i] && l[j] <= l[i];
        const bool strictly = c[j] < c[i] || l[j] < l[i];
        dominated = weakly && (strictly || j < i);
      }
      if (!dominated) want.push_back(i);
    }
    std::sort(want.begin(), want.end(), [&](size_t a, size_t b) { return c[a] < c[b]; });
    INFO("trial " << trial);
    CHECK(front == want);
  }
  CHECK(report::pareto_front({4, 3, 2}, {1, NAN, 5}) == std::vector<size_t>{2, 0});
}

TEST_CASE("the report table from hand-made metrics", "[report]") {
  std::vector<json> ms = {
      run_metrics("gptq_bits=3", 3, "gptq", 3, 128, 3.16, 14.0, 0.2, 0.08),
      run_metrics("fp", 0, "fp", nullptr, nullptr, 16, 10.0, 0.1, -1),
      run_metrics("rtn_bits=4", 1, "rtn", 4, 128, 4.16, 11.0, 0.1, 0.03),
      run_metrics("rtn_bits=3", 2, "rtn", 3, 0, 3.02, 45.0, 0.5, 0.9),
  };
  const json t = report::build_table(ms);
  REQUIRE(t["rows"].size() == 4);
  std::vector<std::string> order;
  for (const auto& r : t["rows"]) order.push_back(r["run"]);
  CHECK(order == std::vector<std::string>{"fp", "rtn_bits=4", "rtn_bits=3", "gptq_bits=3"});
  const auto& g3 = t["rows"][3];
  CHECK(g3["perplexity"]["eval.txt"]["delta"].get<double>() == Approx(4.0));
  CHECK(g3["kl_divergence"]["eval.txt"]["mean"].get<double>() == Approx(0.08));
  CHECK(t["rows"][0]["perplexity"]["eval.txt"]["delta"].get<double>() == 0.0);
  // Front of the quantized runs (bpw, ppl): (3.02, 45), (3.16, 14), (4.16, 11): all three; FP is the reference.
  CHECK(t["rows"][0]["pareto"]["eval.txt"] == false);
  for (int i = 1; i < 4; ++i) CHECK(t["rows"][i]["pareto"]["eval.txt"] == true);
  ms[2]["perplexity"][0]["ppl"] = 15.0;  // rtn w4 now worse than gptq w3 at more bits: off the front
  const json t2 = report::build_table(ms);
  CHECK(t2["rows"][1]["pareto"]["eval.txt"] == false);

  const std::string md = report::table_markdown(t);
  CHECK_THAT(md, Catch::StartsWith("| run | method | bits | group | calib | bpw | size MB | PPL eval.txt | ΔPPL eval.txt | KL eval.txt | quant s | peak MB | front |"));
  CHECK_THAT(md, Catch::Contains("| gptq_bits=3 | gptq | 3 | g128 | one-shot | 3.160 | 0.395 | 14.000 ± 0.200 | +4.000 | 0.08000 ± 0.00800 | 1.50 | 200 | * |"));
  CHECK_THAT(md, Catch::Contains("| rtn_bits=3 | rtn | 3 | per-channel |"));
  CHECK_THAT(md, Catch::Contains("| fp | fp | - | - | - | 16.000 |"));
  const std::string csv = report::table_csv(t);
  CHECK_THAT(csv, Catch::StartsWith("run,method,bits,group,calib,bpw,size MB,ppl eval.txt,ppl_stderr eval.txt,delta_ppl eval.txt,kl eval.txt,kl_stderr eval.txt,quantize_seconds,peak_rss_mb,pareto_front\n"));
  CHECK_THAT(csv, Catch::Contains("\nrtn_bits=4,rtn,4,g128,one-shot,4.160,0.520,11.000000,0.100000,1.000000,0.03000000,0.00300000,1.50,200,1\n"));

  SECTION("written files: SVG and HTML parse as XML, the plot uses a log scale when PPL explodes") {
    const std::string dir = test::scratch_dir("report");
    const auto r = report::write_report(dir, ms);
    for (const char* f : {"report.md", "report.csv", "report.json", "report.html", "ppl_vs_bpw.svg", "layer_error.svg"}) {
      CHECK(std::filesystem::exists(dir + "/" + f));
    }
    for (const char* f : {"ppl_vs_bpw.svg", "layer_error.svg"}) {
      INFO(f);
      CHECK(xml_parse_error(dir + "/" + f) == "");
    }
    const std::string svg = io::read_text_file(dir + "/ppl_vs_bpw.svg");
    CHECK_THAT(svg, Catch::Contains("perplexity (log scale)") && Catch::Contains("bits per weight") &&
                        Catch::Contains("Pareto front") && Catch::Contains("FP 10.000"));
    const std::string html = io::read_text_file(dir + "/report.html");
    CHECK_THAT(html, Catch::Contains("<table>") && Catch::Contains("<svg") && !Catch::Contains("<?xml"));
    CHECK(json::parse(io::read_text_file(dir + "/report.json")) == report::build_table(ms));
  }
}

TEST_CASE("axis ticks and scale choice", "[report]") {
  CHECK(report::linear_ticks(0, 10, 5) == std::vector<double>{0, 2, 4, 6, 8, 10});
  CHECK(report::linear_ticks(2.9, 4.3, 6) == std::vector<double>{3, 3.5, 4});
  CHECK(report::log_ticks(5, 2000) == std::vector<double>{5, 10, 20, 50, 100, 200, 500, 1000, 2000});
  CHECK(report::wants_log_scale({10, 12, 39}) == false);
  CHECK(report::wants_log_scale({10, 12, 41}) == true);
  CHECK(report::xml_escape("a<b & \"c\"") == "a&lt;b &amp; &quot;c&quot;");
}

TEST_CASE("point labels do not overlap and stay inside the plot", "[report]") {
  // A lone label sits right-above its point.
  auto one = report::place_labels({{100, 100, "rtn w4"}}, 0, 0, 500, 300);
  REQUIRE(one.size() == 1);
  CHECK(one[0].x == 107);
  CHECK(one[0].y == 94);
  // Four runs at the same bits per weight and nearly the same perplexity (a sweep's W4 rows).
  std::vector<report::PlacedLabel> pts = {{200, 150, "rtn w4"}, {200, 151, "gptq w4"}, {200, 152, "awq w4"}, {201, 150, "rtn w4 g128"}};
  auto placed = report::place_labels(pts, 0, 0, 500, 300);
  REQUIRE(placed.size() == 4);
  auto box = [](const report::PlacedLabel& l) {
    return std::array<double, 4>{l.x, l.y - 9, l.x + 6.0 * l.text.size(), l.y + 2};
  };
  for (size_t i = 0; i < placed.size(); ++i) {
    const auto a = box(placed[i]);
    CHECK(a[0] >= 0);
    CHECK(a[2] <= 500);
    for (size_t j = i + 1; j < placed.size(); ++j) {
      const auto b = box(placed[j]);
      INFO(placed[i].text << " vs " << placed[j].text);
      CHECK_FALSE((a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]));
    }
  }
  // At the right edge the label goes to the left of its point.
  auto edge = report::place_labels({{495, 100, "gptq w3"}}, 0, 0, 500, 300);
  CHECK(edge[0].x + 6.0 * 7 <= 495);
}
