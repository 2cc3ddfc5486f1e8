// Mixed-precision GGUF export on stories260K: candidate types, exact byte accounting against the
// written file, budget errors, and the end-to-end claim (an allocation at the size of llama.cpp's
// Q4_K_M mix has lower KL to FP than that mix, both quantized by GPTQ on their block grids).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <random>
#include <sstream>

#include "calibration/stats_store.hpp"
#include "core/error.hpp"
#include "data/text_source.hpp"
#include "eval/kl_divergence.hpp"
#include "export/gguf_export.hpp"
#include "mixed/gguf_budget.hpp"
#include "mixed/gguf_target_export.hpp"
#include "mixed/matrix_catalog.hpp"
#include "mixed/sensitivity.hpp"
#include "mixed/sensitivity_report.hpp"
#include "model/decoder.hpp"
#include "pipeline/quantize_model.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace ptq;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> k32 = {"q4_0", "q4_1", "q5_0", "q5_1", "q8_0"};

exporter::GgufExportOptions base_options(const std::string& tok) {
  exporter::GgufExportOptions o;
  o.tokenizer = tok;
  o.fallback = "f16";
  return o;
}

// One-shot statistics of stories260K (32 windows of 256 tokens), computed once per run.
std::string stories_stats(const std::string& model, const std::string& calib) {
  static std::string path;
  if (!path.empty()) return path;
  const std::string dir = test::scratch_dir("mixed_stats");
  pipeline::QuantizeSpec s;
  s.model = model;
  s.calib.path = calib;
  s.sampling.n_samples = 32;
  s.sampling.seqlen = 256;
  s.calibration.mode = "one-shot";
  s.algorithm = "rtn";
  s.grid.bits = 8;
  s.grid.group_size = 0;
  s.stats = dir + "/stats.h5";
  s.out = dir + "/rtn";
  std::ostringstream log;
  pipeline::quantize_model(s, log);
  path = s.stats;
  return path;
}

std::vector<int> tokens_of(const std::string& tok_path, const std::string& text) {
  const auto tok = tok::open_tokenizer(tok_path);
  data::TextSourceSpec spec;
  spec.path = text;
  return tok->encode(data::read_text(spec), true);
}

}  // namespace

TEST_CASE("Candidate types: did-you-mean for unknown names, only types whose blocks divide the row", "[mixed]") {
  CHECK(mixed::parse_candidate_types("Q4_K,q8_0,q4_k") == std::vector<std::string>{"q4_k", "q8_0"});
  CHECK_THROWS_WITH(mixed::parse_candidate_types("q4_k,q4_kk"), Catch::Contains("did you mean 'q4_k'"));
  CHECK_THROWS_WITH(mixed::parse_candidate_types("q4_k,f32"), Catch::Contains("unknown type"));
  CHECK_THROWS_WITH(mixed::parse_candidate_types(","), Catch::Contains("no candidate types"));
  const auto all = mixed::default_candidate_types();
  CHECK(mixed::fitting_types(all, 64) == k32);
  CHECK(mixed::fitting_types(all, 172).empty());
  CHECK(mixed::fitting_types(all, 768) == all);
  CHECK(mixed::matrix_bytes("q4_k", 2, 512) == 2 * 2 * 144);
  CHECK(mixed::matrix_bytes("q4_0", 3, 64) == 3 * 2 * 18);
}

TEST_CASE("The GGUF byte model predicts the written file's size to the byte", "[mixed][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(tok, "models/tok512.model");
  const std::string dir = test::scratch_dir("mixed_bytes");
  auto src = model::open_weights(model);
  const auto base = base_options(tok);
  const mixed::GgufByteModel m = mixed::gguf_byte_model(*src, base, k32, dir + "/scratch");
  REQUIRE(m.tensors.size() == 1 + 5 * 6);  // token_embd and six 64-wide matrices per layer
  REQUIRE(m.fixed.size() == 5);            // ffn_down: rows of 172, no block type
  CHECK(m.parameters == 260032);  // 32768 embedding + 5 x 45440 per layer + 64 final norm
  std::mt19937 rng(3);
  for (int trial = 0; trial < 3; ++trial) {
    std::vector<std::string> chosen;
    for (size_t i = 0; i < m.tensors.size(); ++i) chosen.push_back(m.types[i][rng() % m.types[i].size()]);
    const std::string out = dir + "/t" + std::to_string(trial) + ".gguf";
    const auto res = exporter::export_gguf(*src, out, mixed::allocation_export_options(m, base, chosen));
    CHECK(res.bytes == m.file_bytes(chosen));
    CHECK(fs::file_size(out) == m.file_bytes(chosen));
    for (size_t i = 0; i < m.tensors.size(); ++i) {
      const size_t at = std::find(res.tensors.begin(), res.tensors.end(), m.tensors[i].gguf) - res.tensors.begin();
      REQUIRE(at < res.tensors.size());
      std::string ty = res.types[at];
      for (char& c : ty) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      CHECK(ty == chosen[i]);
    }
  }
  // The uniform Q8_0 export (ffn_down F16) is the largest the candidates reach.
  const auto q8 = exporter::export_gguf(*src, dir + "/q8.gguf", [&] {
    auto o = base;
    o.type = "q8_0";
    return o;
  }());
  CHECK(q8.bytes == m.max_file_bytes());
}

TEST_CASE("A size budget outside the reachable range names the range", "[mixed][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(tok, "models/tok512.model");
  const std::string dir = test::scratch_dir("mixed_budget");
  auto src = model::open_weights(model);
  const mixed::GgufByteModel m = mixed::gguf_byte_model(*src, base_options(tok), k32, dir);
  const uint64_t lo = m.min_file_bytes(), hi = m.max_file_bytes();
  const std::string range = std::to_string(lo) + " .. " + std::to_string(hi) + " bytes";
  CHECK_THROWS_WITH(mixed::budget_bytes(m, 0, lo - 1), Catch::Contains("outside the reachable range " + range));
  CHECK_THROWS_WITH(mixed::budget_bytes(m, 0, hi + 1), Catch::Contains("outside the reachable range " + range));
  CHECK_THROWS_WITH(mixed::budget_bytes(m, 2.0, 0), Catch::Contains("--target-bpw 2.000") && Catch::Contains(range));
  CHECK_THROWS_WITH(mixed::budget_bytes(m, 4.0, 1000), Catch::Contains("exactly one"));
  CHECK(mixed::budget_bytes(m, 0, lo) == lo);
  CHECK(mixed::budget_bytes(m, 0, hi) == hi);
}

TEST_CASE("stories260K: at the Q4_K_M mix's size the allocation has lower KL than the mix", "[mixed][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(tok, "models/tok512.model");
  SHARED_FILE(calib, "text/tinystories_valid_calib.txt");
  SHARED_FILE(eval_text, "text/tinystories_valid_eval.txt");
  const std::string dir = test::scratch_dir("mixed_e2e");
  const std::string stats = stories_stats(model, calib);
  std::shared_ptr<const model::WeightSource> src = model::open_weights(model);
  model::Model fp(model::open_weights(model));
  fp.make_resident();

  eval::KlOptions ko;
  ko.seqlen = 256;
  ko.max_windows = 4;
  const mixed::ReferenceKl ref(fp, tokens_of(tok, calib), ko);
  mixed::SensitivityOptions so;
  so.types = k32;
  so.stats = stats;
  so.method = mixed::QuantMethod::Gptq;
  so.per_layer = false;
  std::ostringstream log;
  mixed::SensitivityTable table = mixed::measure_sensitivity(src, &ref, so, log);
  REQUIRE(table.measured());
  REQUIRE(table.rows.size() == 31 * 5);
  // Eight bits cost every tensor less than four.
  int q8_better = 0;
  for (const auto& r : table.rows) {
    if (r.type == "q8_0") q8_better += r.kl < table.find(r.tensor, "q4_0")->kl;
  }
  CHECK(q8_better == 31);
  const double rho = mixed::proxy_rank_correlation(table);
  INFO("Spearman rho proxy vs KL " << rho);
  CHECK(rho > 0.7);
  mixed::write_sensitivity_report(table, dir + "/sens");
  REQUIRE(fs::exists(dir + "/sens/proxy_vs_kl.svg"));

  // llama.cpp's Q4_K_M rules (on stories260K: Q5_0 / Q8_0 fallbacks, ffn_down F16), GPTQ on each grid.
  auto opt = base_options(tok);
  opt.gptq_stats = stats;
  auto mix_opt = opt;
  mix_opt.type = "q4_k_m";
  const auto mix = exporter::export_gguf(*src, dir + "/mix.gguf", mix_opt);
  mixed::GgufTarget target;
  target.size = mix.bytes;
  target.sensitivity = dir + "/sens/sensitivity.json";
  const auto ours = mixed::export_gguf_to_budget(*src, dir + "/ours.gguf", opt, target);
  CHECK(ours.exported.bytes <= mix.bytes);
  CHECK(ours.exported.bytes >= 0.995 * mix.bytes);
  CHECK(ours.allocation.exact);

  // Held-out text (not the sensitivity windows): the whole files, every tensor quantized at once.
  const auto eval_ids = tokens_of(tok, eval_text);
  eval::KlOptions eo;
  eo.seqlen = 256;
  eo.max_windows = 20;
  auto kl_of = [&](const std::string& path) {
    model::Model q(model::open_weights(path));
    q.make_resident();
    return eval::kl_divergence(fp, q, eval_ids, eo);
  };
  const eval::KlResult k_mix = kl_of(dir + "/mix.gguf"), k_ours = kl_of(dir + "/ours.gguf");
  INFO("mix KL " << k_mix.mean_kl << " ours " << k_ours.mean_kl << " (predicted " << ours.allocation.predicted << ")");
  // Measured on this run: mix 0.00855, ours 0.00800 (predicted from single tensors 0.00940). PPL is not
  // compared: both files sit within 0.2 % of FP's on these windows, below its noise.
  CHECK(k_ours.mean_kl < k_mix.mean_kl);
  // The single-tensor KLs add up to the whole file's within a factor 2 (other windows, other text).
  CHECK(ours.allocation.predicted > 0.5 * k_ours.mean_kl);
  CHECK(ours.allocation.predicted < 2.0 * k_ours.mean_kl);

  // The table must have been measured with the export's method.
  auto rtn_opt = base_options(tok);
  CHECK_THROWS_WITH(mixed::export_gguf_to_budget(*src, dir + "/x.gguf", rtn_opt, target),
                    Catch::Contains("measured with method gptq") && Catch::Contains("this export quantizes with rtn"));
  target.size = 1000;
  CHECK_THROWS_WITH(mixed::export_gguf_to_budget(*src, dir + "/x.gguf", opt, target), Catch::Contains("reachable range"));
  CHECK_FALSE(fs::exists(dir + "/x.gguf"));
}
