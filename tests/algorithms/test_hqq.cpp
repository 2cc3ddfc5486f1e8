// HQQ (algorithms/hqq): its error falls at every kept update and ends below RTN's on stories260K's
// real layers; a plain double-precision reference written here agrees with the fast version;
// bad options and grids are refused by name; results are deterministic; through ptq quantize at W3
// g32 it beats RTN's perplexity on stories260K without calibration data.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include "algorithms/hqq/hqq.hpp"
#include "algorithms/registry.hpp"
#include "algorithms/rtn/rtn.hpp"
#include "config/experiment.hpp"
#include "core/error.hpp"
#include "data/text_source.hpp"
#include "eval/perplexity.hpp"
#include "io/quantized_checkpoint.hpp"
#include "model/architecture.hpp"
#include "model/model_files.hpp"
#include "pipeline/quantize_model.hpp"
#include "tokenizer/tokenizer.hpp"
#include "support/shared_data.hpp"

using namespace ptq;

namespace {

algo::IntGrid grid_of(int bits, int group_size) {
  algo::IntGrid g;
  g.bits = bits;
  g.group_size = group_size;
  return g;
}

// All 35 linear layers of stories260K (dims 64 and 172: groups of 32 and 64 leave partial groups).
std::vector<std::pair<std::string, torch::Tensor>> stories_layers(const std::string& path) {
  auto src = model::open_weights(path);
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (int L = 0; L < src->config().num_layers; ++L) {
    for (const auto& spec : model::block_linears()) {
      const std::string name = model::layer_prefix(L) + spec.name + ".weight";
      out.emplace_back(name, src->load(name));
    }
  }
  return out;
}

// A heavy-tailed matrix (Student-t with 3 degrees of freedom), seeded.
torch::Tensor heavy_tailed(int64_t rows, int64_t cols, uint64_t seed) {
  torch::manual_seed(seed);
  auto z = torch::randn({rows, cols});
  auto chi2 = torch::randn({rows, cols, 3}).pow(2).sum(2);
  return 0.02 * z / (chi2 / 3).sqrt();
}

double mean_abs_pow(const torch::Tensor& e, double p) { return e.abs().to(torch::kFloat64).pow(p).mean().item<double>(); }

// HQQ written plainly: loops over rows and groups in double precision, the same steps and stopping
// rule as algorithms/hqq (min-max start with a real zero point; whole-layer early stop on mean |e|).
struct Reference {
  std::vector<double> scale, zero;  // [rows * groups]
  std::vector<int> codes;           // [rows * cols]
  std::vector<double> l1_trace;
  int kept = 0;
};

Reference reference_hqq(const torch::Tensor& weight, int bits, int group_size, const algo::HqqOptions& o) {
  auto wt = weight.to(torch::kFloat64).contiguous();
  const double* W = wt.data_ptr<double>();
  const int64_t rows = wt.size(0), cols = wt.size(1);
  const int64_t gs = group_size > 0 ? std::min<int64_t>(group_size, cols) : cols;
  const int64_t G = (cols + gs - 1) / gs;
  const double maxq = (1 << bits) - 1;
  Reference r;
  r.scale.assign(rows * G, 0);
  r.zero.assign(rows * G, 0);
  r.codes.assign(rows * cols, 0);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t g = 0; g < G; ++g) {
      double lo = INFINITY, hi = -INFINITY;
      for (int64_t j = g * gs; j < std::min(cols, (g + 1) * gs); ++j) lo = std::min(lo, W[i * cols + j]), hi = std::max(hi, W[i * cols + j]);
      const double s = hi > lo ? (hi - lo) / maxq : 1.0;
      r.scale[i * G + g] = s;
      r.zero[i * G + g] = -lo / s;
    }
  }
  std::vector<double> err(rows * cols);
  auto evaluate = [&] {
    double total = 0;
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        const double s = r.scale[i * G + j / gs], z = r.zero[i * G + j / gs];
        const double q = std::min(maxq, std::max(0.0, std::nearbyint(W[i * cols + j] / s + z)));
        r.codes[i * cols + j] = int(q);
        err[i * cols + j] = W[i * cols + j] - s * (q - z);
        total += std::abs(err[i * cols + j]);
      }
    }
    return total / double(rows * cols);
  };
  std::vector<double> best_s, best_z;
  double best = INFINITY, beta = o.beta;
  for (int it = 0;; ++it) {
    const double l1 = evaluate();
    r.l1_trace.push_back(l1);
    if (o.early_stop && !(l1 < best)) break;
    best = l1, r.kept = it, best_s = r.scale, best_z = r.zero;
    if (it == o.iters) break;
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t g = 0; g < G; ++g) {
        const int64_t j0 = g * gs, j1 = std::min(cols, (g + 1) * gs);
        const double n = double(j1 - j0);
        double qm = 0, tm = 0;
        std::vector<double> t(j1 - j0);
        for (int64_t j = j0; j < j1; ++j) {
          const double e = err[i * cols + j], a = std::abs(e);
          const double shrunk = a > 0 ? std::copysign(std::max(0.0, a - std::pow(a, o.lp_norm - 1) / beta), e) : 0.0;
          t[j - j0] = W[i * cols + j] - shrunk;
          qm += r.codes[i * cols + j] / n, tm += t[j - j0] / n;
        }
        double& s = r.scale[i * G + g];
        if (o.optimize_scale) {
          double var = 0, cov = 0;
          for (int64_t j = j0; j < j1; ++j) {
            var += (r.codes[i * cols + j] - qm) * (r.codes[i * cols + j] - qm);
            cov += (r.codes[i * cols + j] - qm) * (t[j - j0] - tm);
          }
          if (var > 0 && cov / var > 0) s = cov / var;
        }
        r.zero[i * G + g] = qm - tm / s;
      }
    }
    beta *= o.kappa;
  }
  r.scale = best_s, r.zero = best_z;
  evaluate();
  return r;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("HQQ's error falls at every kept update and ends below RTN's on stories260K's layers", "[algorithms][hqq][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  const auto layers = stories_layers(model);
  REQUIRE(layers.size() == 35u);
  const algo::HqqOptions opt;
  for (const auto& [bits, gs] : std::vector<std::pair<int, int>>{{4, 64}, {3, 32}, {2, 0}}) {
    double sum_l1_hqq = 0, sum_l1_rtn = 0, sum_lp_hqq = 0, sum_lp_rtn = 0;
    int updates = 0, lp_rises = 0;
    for (const auto& [name, w] : layers) {
      INFO(name << " W" << bits << " g" << gs);
      const auto r = algo::hqq_quantize(w, grid_of(bits, gs), opt, name);
      const auto rtn = algo::rtn_quantize(w, grid_of(bits, gs));
      // Each kept update lowered the layer's mean |e|; the stored layer is the best of the trace.
      REQUIRE(r.updates_kept + 1 <= int(r.l1_trace.size()));
      for (int i = 1; i <= r.updates_kept; ++i) CHECK(r.l1_trace[i] < r.l1_trace[i - 1]);
      for (int i = 1; i <= r.updates_kept; ++i) lp_rises += r.lp_trace[i] > r.lp_trace[i - 1];
      const double l1 = mean_abs_pow(r.q.dequantize() - w, 1.0);
      CHECK(l1 == Approx(r.l1_trace[r.updates_kept]).epsilon(1e-5));
      CHECK(*std::min_element(r.l1_trace.begin(), r.l1_trace.end()) == r.l1_trace[r.updates_kept]);
      updates += r.updates_kept;
      sum_l1_hqq += l1;
      sum_l1_rtn += mean_abs_pow(rtn.dequantize() - w, 1.0);
      sum_lp_hqq += mean_abs_pow(r.q.dequantize() - w, opt.lp_norm);
      sum_lp_rtn += mean_abs_pow(rtn.dequantize() - w, opt.lp_norm);
    }
    WARN("W" << bits << " g" << gs << ": mean |e| HQQ/RTN " << sum_l1_hqq / sum_l1_rtn << ", |e|^0.7 HQQ/RTN "
              << sum_lp_hqq / sum_lp_rtn << ", updates kept per layer " << double(updates) / layers.size() << ", lp rises " << lp_rises);
    CHECK(sum_l1_hqq < 0.97 * sum_l1_rtn);
    CHECK(sum_lp_hqq < 0.97 * sum_lp_rtn);
    CHECK(updates > 2 * int(layers.size()));  // the optimisation ran, not only the start
  }
}

TEST_CASE("HQQ's dequantized weights are closer to FP than RTN's at W3 and W2 (Frobenius)", "[algorithms][hqq][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  const auto layers = stories_layers(model);
  // Sum over the 35 layers of ||W - Q(W)||_F^2, HQQ / RTN, measured: W3 g64 0.886, W2 g64 0.894,
  // W3 g32 0.834; the bounds keep a margin above them.
  for (const auto& [bits, gs, bound] : std::vector<std::tuple<int, int, double>>{{3, 64, 0.92}, {2, 64, 0.92}, {3, 32, 0.87}}) {
    double hqq = 0, rtn = 0;
    for (const auto& [name, w] : layers) {
      hqq += (algo::hqq_quantize(w, grid_of(bits, gs), {}, name).q.dequantize() - w).pow(2).sum().item<double>();
      rtn += (algo::rtn_quantize(w, grid_of(bits, gs)).dequantize() - w).pow(2).sum().item<double>();
    }
    WARN("W" << bits << " g" << gs << ": ||W - Q(W)||_F^2 HQQ " << hqq << ", RTN " << rtn << ", ratio " << hqq / rtn);
    CHECK(hqq < bound * rtn);
  }
}

TEST_CASE("HQQ agrees with a plain double-precision reference", "[algorithms][hqq]") {
  // 70 columns: groups of 32 leave a partial group of 6.
  const auto w = heavy_tailed(48, 70, 7);
  for (bool optimize_scale : {false, true}) {
    for (const auto& [bits, gs] : std::vector<std::pair<int, int>>{{3, 32}, {2, 0}, {4, 16}}) {
      INFO("W" << bits << " g" << gs << " optimize_scale " << optimize_scale);
      algo::HqqOptions o;
      o.optimize_scale = optimize_scale;
      const auto fast = algo::hqq_quantize(w, grid_of(bits, gs), o, "synthetic");
      const auto ref = reference_hqq(w, bits, gs, o);
      REQUIRE(fast.updates_kept == ref.kept);
      REQUIRE(fast.l1_trace.size() == ref.l1_trace.size());
      for (size_t i = 0; i < ref.l1_trace.size(); ++i) CHECK(fast.l1_trace[i] == Approx(ref.l1_trace[i]).epsilon(1e-4));
      CHECK(fast.updates_kept > 0);
      const int64_t G = fast.q.scales.size(1);
      auto scales = fast.q.scales.to(torch::kFloat64).contiguous(), zeros = fast.q.zeros.to(torch::kFloat64).contiguous();
      for (int64_t k = 0; k < 48 * G; ++k) {
        CHECK(scales.data_ptr<double>()[k] == Approx(ref.scale[k]).epsilon(1e-4));
        CHECK(zeros.data_ptr<double>()[k] == Approx(ref.zero[k]).margin(1e-3));
      }
      auto codes = fast.q.codes.to(torch::kInt32).contiguous();
      int64_t same = 0;
      for (int64_t k = 0; k < codes.numel(); ++k) same += codes.data_ptr<int>()[k] == ref.codes[k];
      CHECK(same >= codes.numel() - 2);  // fp32 vs double: at most a tie or two round the other way
    }
  }
}

TEST_CASE("HQQ is deterministic, and integer zero points stay on the grid", "[algorithms][hqq][determinism]") {
  const auto w = heavy_tailed(64, 96, 3);
  const auto a = algo::hqq_quantize(w, grid_of(3, 32), {}, "w");
  const auto b = algo::hqq_quantize(w.clone(), grid_of(3, 32), {}, "w");
  CHECK(torch::equal(a.q.codes, b.q.codes));
  CHECK(torch::equal(a.q.scales, b.q.scales));
  CHECK(torch::equal(a.q.zeros, b.q.zeros));
  CHECK(a.l1_trace == b.l1_trace);
  // By default HQQ's zero points are real numbers.
  CHECK_FALSE(torch::equal(a.q.zeros, torch::round(a.q.zeros)));

  algo::HqqOptions o;
  o.integer_zero = true;
  const auto iz = algo::hqq_quantize(w, grid_of(3, 32), o, "w");
  CHECK(torch::equal(iz.q.zeros, torch::round(iz.q.zeros)));
  CHECK(iz.q.zeros.min().item<float>() >= 0);
  CHECK(iz.q.zeros.max().item<float>() <= 7);
  // Its start is RTN's parameters exactly; the kept updates only lower the error from there.
  const auto rtn = algo::rtn_quantize(w, grid_of(3, 32));
  CHECK(iz.l1_trace.front() == Approx(mean_abs_pow(rtn.dequantize() - w, 1.0)).epsilon(1e-6));
  CHECK(mean_abs_pow(iz.q.dequantize() - w, 1.0) <= mean_abs_pow(rtn.dequantize() - w, 1.0));

  // iters 0: the min-max start, never updated.
  o = {};
  o.iters = 0;
  const auto start = algo::hqq_quantize(w, grid_of(3, 32), o, "w");
  CHECK(start.updates_kept == 0);
  CHECK(start.l1_trace.size() == 1u);
  CHECK(start.l1_trace[0] == a.l1_trace[0]);
}

TEST_CASE("HQQ refuses bad options and grids by name", "[algorithms][hqq][bad-input]") {
  const auto w = heavy_tailed(8, 32, 1);
  using J = nlohmann::json;
  CHECK_THAT(error_of([] { algo::make_algorithm("hqq", J{{"lp_norm", 1.5}}); }), Catch::Contains("hqq.lp_norm") && Catch::Contains("outside"));
  CHECK_THAT(error_of([] { algo::make_algorithm("hqq", J{{"iter", 5}}); }), Catch::Contains("hqq.iter") && Catch::Contains("iters"));
  CHECK_THAT(error_of([] { algo::make_algorithm("hqq", J{{"kappa", 0.5}}); }), Catch::Contains("hqq.kappa"));
  CHECK_THAT(error_of([] { algo::make_algorithm("hqq", J{{"beta", "ten"}}); }), Catch::Contains("hqq.beta") && Catch::Contains("expected a number"));
  CHECK_THAT(error_of([] { algo::make_algorithm("hqq", J{{"iters", -1}}); }), Catch::Contains("hqq.iters"));
  CHECK_THAT(error_of([] { algo::make_algorithm("hqq", J{{"early_stop", 1}}); }), Catch::Contains("hqq.early_stop"));
  auto hqq = algo::make_algorithm("hqq");
  CHECK_FALSE(hqq->needs_calibration());
  CHECK(hqq->options()["lp_norm"] == 0.7);
  CHECK(hqq->options()["iters"] == 20);
  auto sym = grid_of(4, 32);
  sym.sym = true;
  CHECK_THAT(error_of([&] { hqq->quantize(w, nullptr, sym, "layers.0.q_proj"); }), Catch::Contains("layers.0.q_proj") && Catch::Contains("asymmetric"));
  auto nf4 = grid_of(4, 32);
  nf4.dtype = "nf4";
  CHECK_THAT(error_of([&] { hqq->quantize(w, nullptr, nf4, "layers.0.k_proj"); }), Catch::Contains("layers.0.k_proj") && Catch::Contains("nf4"));
  CHECK_THAT(error_of([&] { hqq->quantize(w, nullptr, grid_of(4, -1), "layers.0.v_proj"); }), Catch::Contains("per tensor"));
  CHECK_THAT(error_of([&] { hqq->quantize(w, nullptr, grid_of(9, 32), "layers.0.o_proj"); }), Catch::Contains("layers.0.o_proj") && Catch::Contains("bits"));
  auto bad = w.clone();
  bad[2][3] = NAN;
  CHECK_THAT(error_of([&] { hqq->quantize(bad, nullptr, grid_of(4, 32), "layers.1.up_proj"); }), Catch::Contains("layers.1.up_proj") && Catch::Contains("NaN"));
  CHECK_THAT(error_of([&] { hqq->quantize(w.flatten(), nullptr, grid_of(4, 32), "layers.1.down_proj"); }), Catch::Contains("2-D"));
}

TEST_CASE("YAML pipeline steps take HQQ's options, nested or flat, and name bad ones", "[algorithms][hqq][config]") {
  const std::string dir = test::scratch_dir("hqq_config");
  std::ofstream(dir + "/model.bin") << "x";
  auto write = [&](const std::string& name, const std::string& step) {
    std::ofstream(dir + "/" + name) << "model: model.bin\npipeline:\n  - " << step << "\n";
    return dir + "/" + name;
  };
  const auto x = config::load_experiment(write("ok.yaml", "{algorithm: hqq, bits: 3, group_size: 64, hqq: {iters: 5, lp_norm: 0.6}}"));
  REQUIRE(x.pipeline.size() == 1u);
  CHECK(x.pipeline[0].algorithm == "hqq");
  CHECK(x.pipeline[0].options["iters"] == 5);
  CHECK(x.pipeline[0].options["lp_norm"] == 0.6);
  CHECK(x.pipeline[0].options["kappa"] == 1.01);
  CHECK(x.pipeline[0].grid["bits"] == 3);
  auto err = [&](const std::string& name, const std::string& step) {
    return error_of([&] { config::load_experiment(write(name, step)); });
  };
  CHECK_THAT(err("typo.yaml", "{algorithm: hqq, hqq: {iter: 5}}"), Catch::Contains("pipeline.0.hqq.iter") && Catch::Contains("iters"));
  CHECK_THAT(err("range.yaml", "{algorithm: hqq, lp_norm: 2}"), Catch::Contains("pipeline.0.lp_norm"));
}

TEST_CASE("ptq quantize --algo hqq at W3 g32 beats RTN's perplexity on stories260K without calibration", "[algorithms][hqq][pipeline][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(tok, "models/tok512.bin");
  SHARED_FILE(text, "text/tinystories_valid_eval.txt");
  const std::string dir = test::scratch_dir("hqq_pipeline");
  std::ostringstream log;
  auto spec_of = [&](const std::string& algorithm) {
    pipeline::QuantizeSpec s;
    s.model = model;
    s.algorithm = algorithm;
    s.grid = grid_of(3, 32);
    s.out = dir + "/" + algorithm;
    return s;
  };
  pipeline::quantize_model(spec_of("rtn"), log);
  const auto summary = pipeline::quantize_model(spec_of("hqq"), log);
  CHECK(summary.stats_path.empty());  // no calibration ran
  CHECK(summary.report["layers"].size() == 35u);
  CHECK(summary.report["layers"][0]["updates"].get<int>() > 0);

  const auto ids = tok::open_tokenizer(tok)->encode(data::read_text({text}), true);
  auto ppl = [&](const std::string& path) {
    model::Model m(model::open_weights(path));
    m.make_resident();
    eval::PerplexityOptions opt;
    opt.protocol = "gptq";
    opt.seqlen = 256;
    opt.batch = 8;
    opt.max_windows = 96;
    return eval::perplexity(m, ids, opt).ppl;
  };
  const double p_fp = ppl(model), p_rtn = ppl(dir + "/rtn"), p_hqq = ppl(dir + "/hqq");
  WARN("W3 g32, 96 windows: FP " << p_fp << ", RTN " << p_rtn << ", HQQ " << p_hqq);
  // Measured: FP 4.1505, RTN 7.1127, HQQ 6.3238 (27 % of RTN's loss recovered); at least 15 % asked.
  CHECK(p_hqq < p_rtn - 0.15 * (p_rtn - p_fp));
  CHECK(p_fp < p_hqq);
}
