// Mixed precision over integer grids (ptq quantize --target-bpw): candidate names and byte
// accounting by hand, budget errors, the whole path on a synthetic model (sensitivity over grids,
// allocation, re-measured mix, per-layer grids in the written directory), and on stories260K the
// claim: at the size of a uniform GPTQ setting, the allocation has lower KL to FP on held-out text.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "data/text_source.hpp"
#include "eval/kl_divergence.hpp"
#include "io/quantized_checkpoint.hpp"
#include "mixed/grid_allocation.hpp"
#include "mixed/grid_candidates.hpp"
#include "mixed/grid_target_quantize.hpp"
#include "mixed/one_shot_stats.hpp"
#include "mixed/sensitivity.hpp"
#include "mixed/sensitivity_report.hpp"
#include "model/decoder.hpp"
#include "support/shared_data.hpp"
#include "support/synthetic_experiment.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace ptq;
namespace fs = std::filesystem;

namespace {

// A sensitivity table over `types` (GPTQ on one-shot statistics, KL on the calibration text's last
// `windows` windows), written to dir/sens/sensitivity.json.
std::string grid_table(const std::string& model, const std::string& tok, const std::string& calib, const std::string& stats,
                       const std::vector<std::string>& types, int seqlen, int windows, const std::string& dir) {
  std::shared_ptr<const model::WeightSource> src = model::open_weights(model);
  eval::KlOptions ko;
  ko.seqlen = seqlen;
  ko.max_windows = windows;
  const auto ref = mixed::reference_on_text(model, tok, calib, ko);
  mixed::SensitivityOptions so;
  so.types = types;
  so.stats = stats;
  so.method = mixed::QuantMethod::Gptq;
  so.per_layer = false;
  std::ostringstream log;
  mixed::SensitivityTable t = mixed::measure_sensitivity(src, ref.get(), so, log);
  t.text = calib;
  mixed::write_sensitivity_report(t, dir + "/sens");
  return dir + "/sens/sensitivity.json";
}

std::string stats_for(const std::string& model, const std::string& tok, const std::string& calib, int n, int seqlen,
                      const std::string& dir) {
  data::TextSourceSpec c;
  c.path = calib;
  calib::SamplingSpec s;
  s.n_samples = n;
  s.seqlen = seqlen;
  std::ostringstream log;
  return mixed::one_shot_stats(model, tok, c, s, dir + "/stats.h5", dir + "/calib-scratch", log);
}

pipeline::QuantizeSpec gptq_spec(const std::string& model, const std::string& tok, const std::string& calib,
                                 const std::string& stats, int n, int seqlen, const std::string& out) {
  pipeline::QuantizeSpec q;
  q.model = model;
  q.tokenizer = tok;
  q.calib.path = calib;
  q.sampling.n_samples = n;
  q.sampling.seqlen = seqlen;
  q.calibration.mode = "one-shot";
  q.stats = stats;
  q.algorithm = "gptq";
  q.grid.bits = 4;
  q.grid.group_size = 32;
  q.out = out;
  return q;
}

}  // namespace

TEST_CASE("Grid candidates: names, did-you-mean, GPTQ bytes by hand", "[mixed][grids]") {
  CHECK(mixed::parse_grid_candidates("int4g128,INT3G64,int4g128,int8pc") ==
        std::vector<std::string>{"int4g128", "int3g64", "int8pc"});
  CHECK_THROWS_WITH(mixed::parse_grid_candidates("int5g128"), Catch::Contains("did you mean"));
  CHECK_THROWS_WITH(mixed::parse_grid_candidates("int4g100"), Catch::Contains("unknown grid"));
  CHECK_THROWS_WITH(mixed::parse_grid_candidates(","), Catch::Contains("no candidate grids"));
  const auto g = mixed::candidate_grid("int3g64");
  CHECK(g.bits == 3);
  CHECK(g.group_size == 64);
  CHECK(mixed::candidate_grid("int8pc").group_size == 0);
  // [256 out, 1024 in] at 4 bits, groups of 128: qweight 131072 + qzeros 8*256/2 + scales 8*256*2 + g_idx 4096.
  CHECK(mixed::gptq_layer_bytes(4, 128, 256, 1024) == 131072 + 1024 + 4096 + 4096);
  // Per channel, 3 bits, [64, 96]: qweight 96*64*3/8, one group: zeros 64*3/8, scales 128, g_idx 384.
  CHECK(mixed::gptq_layer_bytes(3, 0, 64, 96) == 2304 + 24 + 128 + 384);
  // Fits as the GPTQ packing does: 3 bits need 32 | in and 32 | out; groups must divide in.
  CHECK(mixed::grid_fits("int3g32", 64, 64));
  CHECK_FALSE(mixed::grid_fits("int3pc", 64, 172));
  CHECK_FALSE(mixed::grid_fits("int4pc", 64, 172));
  CHECK(mixed::grid_fits("int8pc", 64, 172));
  CHECK_FALSE(mixed::grid_fits("int8g32", 64, 172));
  CHECK_THROWS_WITH(mixed::grid_candidates({"int4g128", "q4_k"}), Catch::Contains("one kind"));
}

TEST_CASE("Synthetic model: grid sensitivity, allocation to a budget, the re-measured mix, per-layer grids written", "[mixed][grids]") {
  const std::string dir = test::scratch_dir("mixed_grid_synth");
  fs::create_directories(dir + "/x");
  const auto x = test::make_synthetic_experiment(dir + "/x");
  const std::string stats = stats_for(x.model, x.tokenizer, x.calib, 16, 64, dir);
  const std::vector<std::string> types = {"int2g32", "int4g32", "int8pc"};
  const std::string table = grid_table(x.model, x.tokenizer, x.calib, stats, types, 64, 4, dir);
  const auto t = mixed::read_sensitivity(table);
  REQUIRE(t.rows.size() == 14 * 3);
  CHECK(t.measured());

  auto src = model::open_weights(x.model);
  const auto m = mixed::grid_byte_model(*src, types);
  REQUIRE(m.tensors.size() == 14);
  CHECK(m.linear_weights == 2 * (64 * 64 * 2 + 32 * 64 * 2 + 128 * 64 * 3));  // q, o; k, v; gate, up, down
  const uint64_t lo = m.min_linear_bytes(), hi = m.max_linear_bytes();
  CHECK_THROWS_WITH(mixed::grid_budget_bytes(m, 1.0, 0), Catch::Contains("outside the reachable range") &&
                                                             Catch::Contains(std::to_string(lo + m.other_bytes)));
  CHECK_THROWS_WITH(mixed::grid_budget_bytes(m, 0, hi + m.other_bytes + 1), Catch::Contains("reachable range"));
  CHECK_THROWS_WITH(mixed::grid_budget_bytes(m, 3.0, 5), Catch::Contains("exactly one"));

  mixed::GridTarget target;
  target.sensitivity = table;
  target.bpw = m.bits_per_weight((lo + hi) / 2);
  target.refine = 2;
  auto spec = gptq_spec(x.model, x.tokenizer, x.calib, stats, 16, 64, dir + "/q");
  std::ostringstream log;
  const auto res = mixed::quantize_to_budget(spec, target, log);
  INFO(log.str());
  const uint64_t budget = mixed::grid_budget_bytes(m, target.bpw, 0);
  CHECK(res.allocation.linear_bytes <= budget);
  CHECK(res.allocation.exact);
  REQUIRE(res.record["rounds"].size() >= 1);
  CHECK(res.record["rounds"][0]["measured"].get<double>() > 0);
  CHECK(res.record["rounds"][0]["predicted"].get<double>() > 0);
  // The written directory holds each layer's chosen grid, and its KL equals the in-memory mix's
  // (one-shot GPTQ on the same statistics: the same weights).
  const io::QuantizedCheckpoint q(dir + "/q");
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const auto want = mixed::candidate_grid(res.allocation.chosen[i]);
    const auto g = q.quantized(m.tensors[i].hf).grid;
    CHECK(g.bits == want.bits);
    CHECK(g.group_size == want.group_size);
  }
  CHECK(res.record["measured_written"].get<double>() == Approx(res.record["measured_in_memory"].get<double>()).epsilon(1e-9));
  CHECK(fs::exists(dir + "/q/allocation.json"));

  // Bad input: a table measured with another method, candidates outside the table.
  auto rtn = spec;
  rtn.algorithm = "rtn";
  rtn.out = dir + "/rtn";
  CHECK_THROWS_WITH(mixed::quantize_to_budget(rtn, target, log), Catch::Contains("measured with method gptq"));
  auto other = target;
  other.candidates = {"int3g32"};
  CHECK_THROWS_WITH(mixed::quantize_to_budget(spec, other, log), Catch::Contains("not in the sensitivity table"));
}

TEST_CASE("stories260K: at a uniform GPTQ setting's size the grid allocation has lower KL on held-out text", "[mixed][grids][stories260K]") {
  SHARED_FILE(model, "models/stories260K.bin");
  SHARED_FILE(tok, "models/tok512.model");
  SHARED_FILE(calib, "text/tinystories_valid_calib.txt");
  SHARED_FILE(eval_text, "text/tinystories_valid_eval.txt");
  const std::string dir = test::scratch_dir("mixed_grid_stories");
  const std::string stats = stats_for(model, tok, calib, 16, 256, dir);
  // The MLP's matrices (172 wide) pack only per channel at 8 bits; the attention takes all five.
  const std::vector<std::string> types = {"int2g32", "int3g32", "int4g32", "int8pc"};
  const std::string table = grid_table(model, tok, calib, stats, types, 256, 2, dir);

  // The uniform reference: GPTQ W3 g32 where it packs (attention), W8 per channel elsewhere (the MLP:
  // gate/up have 172 outputs, which 2-4 bit qzeros cannot pack; down 172 inputs).
  auto uni = gptq_spec(model, tok, calib, stats, 16, 256, dir + "/uniform");
  uni.grid.bits = 3;
  auto src = model::open_weights(model);
  const auto m = mixed::grid_byte_model(*src, types);
  std::vector<std::string> uniform_grids;
  int attention = 0;
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const bool w3 = std::find(m.types[i].begin(), m.types[i].end(), "int3g32") != m.types[i].end();
    if (!w3) uni.layer_grids[m.tensors[i].linear] = mixed::candidate_grid("int8pc");
    uniform_grids.push_back(w3 ? "int3g32" : "int8pc");
    attention += w3;
  }
  REQUIRE(attention == 20);
  std::ostringstream log;
  pipeline::quantize_model(uni, log);

  mixed::GridTarget target;
  target.sensitivity = table;
  target.size = m.linear_bytes(uniform_grids) + m.other_bytes;
  target.refine = 1;
  auto spec = gptq_spec(model, tok, calib, stats, 16, 256, dir + "/mixed");
  const auto res = mixed::quantize_to_budget(spec, target, log);
  CHECK(res.allocation.total_bytes <= target.size);

  model::Model fp(model::open_weights(model));
  fp.make_resident();
  data::TextSourceSpec text;
  text.path = eval_text;
  const auto ids = tok::open_tokenizer(tok)->encode(data::read_text(text), true);
  eval::KlOptions eo;
  eo.seqlen = 256;
  eo.max_windows = 8;
  auto kl_of = [&](const std::string& path) {
    model::Model q(model::open_weights(path));
    q.make_resident();
    return eval::kl_divergence(fp, q, ids, eo).mean_kl;
  };
  const double k_uni = kl_of(dir + "/uniform"), k_mix = kl_of(dir + "/mixed");
  INFO("uniform W3g32 KL " << k_uni << ", allocation " << k_mix << " (predicted " << res.allocation.predicted << ", "
                           << res.allocation.bits_per_weight << " bpw)");
  CHECK(k_mix < k_uni);
}
