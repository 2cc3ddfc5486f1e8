// Per-module grids (mixed precision) in ptq's quantized directory and in GPTQ exports, written as
// GPTQModel's "dynamic" rules: the rules' matching against GPTQModel's / vLLM's semantics (Python
// re.match: anchored at the start only, "-:" excludes, first match decides), and a round trip of a
// mixed model through ptq's directory and the GPTQ export: every layer's grid, codes, zeros, g_idx and
// fp16 scales read back equal, the weights equal an independent RTN of each layer on its own grid,
// and each layer's stored bytes equal the allocation's byte model.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "algorithms/registry.hpp"
#include "core/error.hpp"
#include "export/hf_gptq_export.hpp"
#include "io/gptq_dynamic.hpp"
#include "io/hf_packed_checkpoint.hpp"
#include "io/quantized_checkpoint.hpp"
#include "mixed/grid_candidates.hpp"
#include "pipeline/quantize_model.hpp"
#include "support/shared_data.hpp"
#include "support/synthetic_experiment.hpp"

using namespace ptq;
namespace fs = std::filesystem;

namespace {

algo::IntGrid grid(int bits, int group, bool sym = true) {
  algo::IntGrid g;
  g.bits = bits;
  g.group_size = group;
  g.sym = sym;
  return g;
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  nlohmann::json j;
  in >> j;
  return j;
}

torch::Tensor fp16_rounded(const torch::Tensor& t) { return t.to(torch::kFloat16).to(torch::kFloat32); }

}  // namespace

TEST_CASE("dynamic rules match as GPTQModel's re.match does", "[hf][dynamic]") {
  const algo::IntGrid base = grid(4, 128);
  // re.match anchors at the start only: ".*down_proj" matches, "mlp" does not, "model" does.
  const nlohmann::json rules = {{"+:.*down_proj", {{"bits", 8}, {"group_size", -1}}},
                                {"+:mlp", {{"bits", 2}}},
                                {"-:.*layers\\.1\\.self_attn\\.q_proj$", nlohmann::json::object()}};
  auto g = io::dynamic_grid(rules, base, "model.layers.0.mlp.down_proj", true, "t");
  REQUIRE(g);
  CHECK(g->bits == 8);
  CHECK(g->group_size == 0);  // GPTQ's -1: per channel
  g = io::dynamic_grid(rules, base, "model.layers.0.mlp.up_proj", true, "t");
  REQUIRE(g);
  CHECK(g->bits == 4);
  CHECK(g->group_size == 128);
  CHECK_FALSE(io::dynamic_grid(rules, base, "model.layers.1.self_attn.q_proj", true, "t"));
  CHECK(io::dynamic_grid(rules, base, "model.layers.11.self_attn.q_proj", true, "t"));
  // ptq's own directories keep ptq's group sizes: -1 is per tensor there.
  CHECK(io::dynamic_grid(rules, base, "model.layers.0.mlp.down_proj", false, "t")->group_size == -1);
  // What only the rules' order would decide is refused, naming the module and both rules.
  const nlohmann::json clash = {{"+:.*proj", {{"bits", 3}}}, {"+:model\\.layers\\.0", {{"bits", 2}}}};
  CHECK_THROWS_WITH(io::dynamic_grid(clash, base, "model.layers.0.mlp.up_proj", true, "cfg"),
                    Catch::Contains("model.layers.0.mlp.up_proj") && Catch::Contains("different grids"));
  CHECK_THROWS_WITH(io::dynamic_grid({{"+:(", {{"bits", 3}}}}, base, "x", true, "cfg"), Catch::Contains("not a regular expression"));
  CHECK_THROWS_WITH(io::dynamic_grid({{"+:x", {{"bits", 9}}}}, base, "x", true, "cfg"), Catch::Contains("bits"));
  // Writing: one anchored rule per module off the base grid, GPTQ's -1 for per channel.
  const auto w = io::dynamic_rules({{"model.layers.0.mlp.down_proj", grid(8, 0)}, {"model.layers.0.mlp.up_proj", grid(4, 128)}},
                                   base, true);
  CHECK(w == nlohmann::json{{"+:^model\\.layers\\.0\\.mlp\\.down_proj$", {{"bits", 8}, {"group_size", -1}}}});
}

TEST_CASE("A mixed-precision model round-trips through ptq's directory and the GPTQ export", "[hf][dynamic]") {
  const std::string dir = test::scratch_dir("gptq_dynamic");
  fs::create_directories(dir + "/x");
  const auto x = test::make_synthetic_experiment(dir + "/x");
  pipeline::QuantizeSpec spec;
  spec.model = x.model;
  spec.tokenizer = x.tokenizer;
  spec.algorithm = "rtn";
  spec.grid = grid(4, 32);
  spec.out = dir + "/q";
  const std::map<std::string, algo::IntGrid> own = {{"model.layers.0.self_attn.q_proj", grid(3, 32)},
                                                    {"model.layers.0.mlp.down_proj", grid(8, 0)},
                                                    {"model.layers.1.mlp.up_proj", grid(2, 64)},
                                                    {"model.layers.1.self_attn.v_proj", grid(4, 32)}};  // = base
  spec.layer_grids = own;
  std::ostringstream log;
  pipeline::quantize_model(spec, log);

  auto fp = model::open_weights(x.model);
  const io::QuantizedCheckpoint ours(dir + "/q");
  exporter::HfExportOptions eo;
  const auto res = exporter::export_hf(ours, dir + "/gptq", eo);
  CHECK(res.quantized_layers == 14);
  const auto qc = read_json(dir + "/gptq/quantize_config.json");
  CHECK(qc["bits"] == 4);
  CHECK(qc["group_size"] == 32);
  CHECK(qc["dynamic"] == nlohmann::json{{"+:^model\\.layers\\.0\\.self_attn\\.q_proj$", {{"bits", 3}, {"group_size", 32}}},
                                         {"+:^model\\.layers\\.0\\.mlp\\.down_proj$", {{"bits", 8}, {"group_size", -1}}},
                                         {"+:^model\\.layers\\.1\\.mlp\\.up_proj$", {{"bits", 2}, {"group_size", 64}}}});
  CHECK(read_json(dir + "/gptq/config.json")["quantization_config"] == qc);
  const io::HfPackedCheckpoint back(dir + "/gptq");

  std::map<std::string, uint64_t> stored;
  for (const auto& t : back.tensors()) stored[t.name] = t.nbytes;
  int checked = 0;
  for (const auto& t : fp->tensors()) {
    if (!ours.is_quantized(t.name)) continue;
    const std::string module = io::layer_base_name(t.name);
    const auto it = own.find(module);
    const algo::IntGrid want = it == own.end() ? spec.grid : it->second;
    INFO(module);
    // ptq's directory: the layer's own grid, weights equal to RTN of the FP layer on that grid.
    const auto q = ours.quantized(t.name);
    CHECK(q.grid.bits == want.bits);
    CHECK(q.grid.group_size == want.group_size);
    const auto rtn = algo::make_algorithm("rtn")->quantize(fp->load(t.name), nullptr, want, module).q;
    CHECK(torch::equal(ours.load(t.name), rtn.dequantize()));
    // The GPTQ export read back: same grid and codes, fp16 scales.
    const auto r = back.quantized(t.name);
    CHECK(r.grid.bits == want.bits);
    CHECK(r.grid.group_size == want.group_size);
    CHECK(torch::equal(r.codes, q.codes));
    CHECK(torch::equal(r.zeros, q.zeros));
    CHECK(torch::equal(r.g_idx, q.g_idx));
    CHECK(torch::equal(r.scales, fp16_rounded(q.scales)));
    auto q16 = q;
    q16.scales = fp16_rounded(q.scales);
    CHECK(torch::equal(back.load(t.name), q16.dequantize()));
    // The bytes the allocation counts for this grid are the bytes the export stored.
    CHECK(stored.at(t.name) == mixed::gptq_layer_bytes(want.bits, want.group_size, t.shape[0], t.shape[1]));
    ++checked;
  }
  CHECK(checked == 14);
  // Re-exported from the GPTQ checkpoint: the same rules.
  const auto again = exporter::export_hf(back, dir + "/gptq2", eo);
  CHECK(again.quantization_config["dynamic"] == qc["dynamic"]);
  // AWQ holds one grid: refused by layer name.
  exporter::HfExportOptions awq;
  awq.format = "awq";
  CHECK_THROWS_WITH(exporter::export_hf(ours, dir + "/awq", awq), Catch::Contains("model.layers.0.mlp.down_proj"));
}
