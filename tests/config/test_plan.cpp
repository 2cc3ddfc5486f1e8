// Experiment plans: extends, -o overrides, sweeps and pipeline steps, and every class of config
// mistake reported with file, line, column, key path and what is allowed.
#include <catch2/catch.hpp>

#include <fstream>

#include "config/experiment.hpp"
#include "core/error.hpp"
#include "support/shared_data.hpp"

using namespace ptq;

namespace {

std::string put(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string p = dir + "/" + name;
  std::ofstream(p) << text;
  return p;
}

std::string error_of(const std::string& path, const std::vector<std::string>& overrides = {}) {
  try {
    config::load_plan(path, overrides);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// A directory with the files experiments name.
std::string fixture(const std::string& name) {
  const std::string dir = test::scratch_dir(name);
  std::ofstream(dir + "/model.bin") << "x";
  std::ofstream(dir + "/calib.txt") << "text";
  std::ofstream(dir + "/eval.txt") << "text";
  return dir;
}

const char* kBase =
    "model: model.bin\n"
    "calibration:\n"
    "  text: calib.txt\n"
    "  n_samples: 32\n"
    "  seqlen: 64\n"
    "pipeline:\n"
    "  - algorithm: gptq\n"
    "    bits: 4\n"
    "    group_size: 32\n"
    "eval:\n"
    "  perplexity:\n"
    "    texts: [eval.txt]\n";

}  // namespace

TEST_CASE("a pipeline step takes its algorithm's parameters, defaults filled in", "[config][plan]") {
  const std::string dir = fixture("plan-step");
  const auto x = config::load_experiment(put(dir, "a.yaml", kBase));
  REQUIRE(x.pipeline.size() == 1);
  CHECK(x.quantizer().algorithm == "gptq");
  CHECK(x.quantizer().grid == nlohmann::json{{"bits", 4}, {"group_size", 32}, {"sym", false}, {"mse", false}, {"dtype", "int"}});
  CHECK(x.quantizer().options ==
        nlohmann::json{{"block_size", 128}, {"damp_percent", 0.01}, {"act_order", false}, {"static_groups", false}});
  CHECK(x.calibration.text == dir + "/calib.txt");
  CHECK(x.calibration.n_samples == 32);
  CHECK(x.calibration.mode == "sequential");
}

TEST_CASE("extends merges mappings key by key and resolves paths against the file naming them", "[config][plan]") {
  const std::string dir = fixture("plan-extends");
  std::filesystem::create_directories(dir + "/sub");
  put(dir, "base.yaml", kBase);
  const auto child = put(dir + "/sub", "child.yaml",
                         "extends: ../base.yaml\nname: child\ncalibration:\n  n_samples: 8\npipeline:\n  - algorithm: rtn\n    bits: 3\n");
  const auto x = config::load_experiment(child);
  CHECK(x.name == "child");
  CHECK(x.model == dir + "/model.bin");           // from the base, relative to the base
  CHECK(x.calibration.n_samples == 8);            // merged: the child's value
  CHECK(x.calibration.seqlen == 64);              // merged: the base's value kept
  CHECK(x.calibration.text == dir + "/calib.txt");
  REQUIRE(x.pipeline.size() == 1);               // a list is replaced whole
  CHECK(x.quantizer().algorithm == "rtn");
  CHECK(x.quantizer().grid["bits"] == 3);
  CHECK(x.quantizer().grid["group_size"] == 0);
  CHECK(x.output == dir + "/sub/runs");

  SECTION("a mistake in the base names the base file and line") {
    put(dir, "base.yaml", std::string(kBase) + "threads: many\n");
    CHECK_THAT(error_of(child), Catch::Contains(dir + "/base.yaml:13:10: threads") && Catch::Contains("expected an integer"));
  }
  SECTION("a missing base") {
    const auto bad = put(dir, "bad.yaml", "extends: nowhere.yaml\n");
    CHECK_THAT(error_of(bad), Catch::Contains("bad.yaml:1:10: extends") && Catch::Contains("file not found"));
  }
  SECTION("a cycle") {
    put(dir, "c1.yaml", "extends: c2.yaml\n");
    const auto c2 = put(dir, "c2.yaml", "extends: c1.yaml\n");
    CHECK_THAT(error_of(c2), Catch::Contains("(a cycle)"));
  }
}

TEST_CASE("-o overrides set any key path, typed like the file", "[config][plan]") {
  const std::string dir = fixture("plan-override");
  const auto f = put(dir, "a.yaml", kBase);
  const auto x = config::load_experiment(f, {"calibration.n_samples=64", "pipeline.0.bits=3", "pipeline.0.act_order=true",
                                             "eval.perplexity.protocol=gptq"});
  CHECK(x.calibration.n_samples == 64);
  CHECK(x.quantizer().grid["bits"] == 3);
  CHECK(x.quantizer().options["act_order"] == true);
  CHECK(x.perplexity.protocol == "gptq");

  CHECK_THAT(error_of(f, {"pipeline.0.bits=9"}),
             Catch::StartsWith("-o pipeline.0.bits=9: pipeline.0.bits: 9 is out of range [2, 8]"));
  CHECK_THAT(error_of(f, {"calibration.n_sample=64"}),
             Catch::Contains("-o calibration.n_sample=64: calibration.n_sample: unknown key (did you mean 'n_samples'?)"));
  CHECK_THAT(error_of(f, {"pipeline.3.bits=3"}), Catch::Contains("pipeline has 1 element(s)"));
  CHECK_THAT(error_of(f, {"calibration.n_samples"}), Catch::Contains("expected key.path=value"));
  // A relative path from the command line is relative to the working directory.
  CHECK_THAT(error_of(f, {"model=no-such-model.bin"}),
             Catch::Contains("-o model=no-such-model.bin: model: file not found: " +
                             (std::filesystem::current_path() / "no-such-model.bin").string()));
}

TEST_CASE("a sweep makes one point per combination, the first key outermost", "[config][plan]") {
  const std::string dir = fixture("plan-sweep");
  const auto f = put(dir, "s.yaml", std::string(kBase) +
                                        "sweep:\n"
                                        "  pipeline.0.algorithm: [rtn, gptq]\n"
                                        "  pipeline.0.bits: [4, 3]\n"
                                        "  pipeline.0.group_size: [32, 0]\n");
  const auto plan = config::load_plan(f);
  REQUIRE(plan.points.size() == 8);
  CHECK(plan.sweep_keys == std::vector<std::string>{"pipeline.0.algorithm", "pipeline.0.bits", "pipeline.0.group_size"});
  std::vector<std::string> ids;
  for (const auto& p : plan.points) ids.push_back(p.id);
  CHECK(ids == std::vector<std::string>{"rtn_bits=4_group_size=32", "rtn_bits=4_group_size=0", "rtn_bits=3_group_size=32",
                                        "rtn_bits=3_group_size=0", "gptq_bits=4_group_size=32", "gptq_bits=4_group_size=0",
                                        "gptq_bits=3_group_size=32", "gptq_bits=3_group_size=0"});
  const auto& p = plan.points[6];
  CHECK(p.values == nlohmann::json{{"pipeline.0.algorithm", "gptq"}, {"pipeline.0.bits", 3}, {"pipeline.0.group_size", 32}});
  CHECK(p.x.quantizer().algorithm == "gptq");
  CHECK(p.x.quantizer().grid["bits"] == 3);
  CHECK(p.x.quantizer().options.contains("damp_percent"));
  CHECK(plan.points[0].x.quantizer().options.empty());  // rtn takes no options
  CHECK(plan.name == "s");

  SECTION("a sweep value out of range points at the value in the sweep") {
    const auto bad = put(dir, "bad.yaml", std::string(kBase) + "sweep:\n  pipeline.0.bits: [4, 12]\n");
    CHECK_THAT(error_of(bad), Catch::Contains("bad.yaml:14:24: pipeline.0.bits: 12 is out of range [2, 8]"));
  }
  SECTION("a misspelt sweep key points at the key") {
    const auto bad = put(dir, "bad.yaml", std::string(kBase) + "sweep:\n  pipeline.0.bitz: [4, 3]\n");
    CHECK_THAT(error_of(bad), Catch::Contains("bad.yaml:14:3: pipeline.0.bitz: unknown key (did you mean 'bits'?)"));
  }
  SECTION("a sweep over a scalar, or over the output directory") {
    auto bad = put(dir, "bad.yaml", std::string(kBase) + "sweep:\n  pipeline.0.bits: 4\n");
    CHECK_THAT(error_of(bad), Catch::Contains("bad.yaml:14:20: sweep.pipeline.0.bits: expected a non-empty list of values"));
    bad = put(dir, "bad.yaml", std::string(kBase) + "sweep:\n  output: [a, b]\n");
    CHECK_THAT(error_of(bad), Catch::Contains("'output' cannot be swept"));
  }
}

TEST_CASE("sweep points set several keys together, beside the other axes", "[config][plan]") {
  const std::string dir = fixture("plan-points");
  // kBase's calibration is sequential by default; the quickstart's case: one-shot for most runs,
  // sequential for GPTAQ, which needs the FP model alongside.
  const auto f = put(dir, "s.yaml", std::string(kBase) +
                                        "sweep:\n"
                                        "  points:\n"
                                        "    - {calibration.mode: one-shot, pipeline: [{algorithm: gptq, bits: 4}]}\n"
                                        "    - {calibration.mode: sequential, pipeline: [{algorithm: gptaq, bits: 4}]}\n"
                                        "  calibration.seed: [0, 1]\n");
  const auto plan = config::load_plan(f);
  REQUIRE(plan.points.size() == 4);
  CHECK(plan.sweep_keys == std::vector<std::string>{"calibration.mode", "pipeline", "calibration.seed"});
  std::vector<std::string> ids;
  for (const auto& p : plan.points) ids.push_back(p.id);
  CHECK(ids == std::vector<std::string>{"mode=one-shot_gptq-bits4_seed=0", "mode=one-shot_gptq-bits4_seed=1",
                                        "mode=sequential_gptaq-bits4_seed=0", "mode=sequential_gptaq-bits4_seed=1"});
  CHECK(plan.points[1].x.calibration.mode == "one-shot");
  CHECK(plan.points[1].x.calibration.seed == 1);
  CHECK(plan.points[1].x.quantizer().algorithm == "gptq");
  CHECK(plan.points[2].x.calibration.mode == "sequential");
  CHECK(plan.points[2].x.quantizer().algorithm == "gptaq");
  CHECK(plan.points[3].values == nlohmann::json{{"calibration.mode", "sequential"}, {"calibration.seed", 1},
                                                {"pipeline", {{{"algorithm", "gptaq"}, {"bits", 4}}}}});

  SECTION("each point is validated where it is written") {
    const auto bad = put(dir, "bad.yaml", std::string(kBase) +
                                              "sweep:\n"
                                              "  points:\n"
                                              "    - {pipeline: [{algorithm: gptq, bits: 4}]}\n"
                                              "    - {calibration.mode: one-shot, pipeline: [{algorithm: gptaq, bits: 4}]}\n");
    CHECK_THAT(error_of(bad), Catch::Contains("'gptaq' needs calibration.mode: sequential"));
  }
  SECTION("points must be mappings; a key on two axes is ambiguous") {
    auto bad = put(dir, "bad.yaml", std::string(kBase) + "sweep:\n  points: [4, 3]\n");
    CHECK_THAT(error_of(bad), Catch::Contains("bad.yaml:14:12: sweep.points.0: expected a non-empty mapping"));
    bad = put(dir, "bad.yaml", std::string(kBase) + "sweep:\n  points:\n    - {pipeline.0.bits: 4}\n  pipeline.0.bits: [3]\n");
    CHECK_THAT(error_of(bad), Catch::Contains("the sweep sets 'pipeline.0.bits' on two axes"));
    bad = put(dir, "bad.yaml", std::string(kBase) + "sweep:\n  points:\n    - {output: elsewhere}\n");
    CHECK_THAT(error_of(bad), Catch::Contains("'output' cannot be swept"));
  }
}

TEST_CASE("a per-algorithm section carries options through a sweep over algorithms", "[config][plan]") {
  const std::string dir = fixture("plan-sections");
  const auto f = put(dir, "s.yaml",
                     "model: model.bin\ncalibration: {text: calib.txt}\n"
                     "pipeline:\n  - algorithm: rtn\n    bits: 3\n    gptq: {act_order: true, bits: 4}\n"
                     "sweep:\n  pipeline.0.algorithm: [rtn, gptq]\n");
  const auto plan = config::load_plan(f);
  REQUIRE(plan.points.size() == 2);
  CHECK(plan.points[0].x.quantizer().grid["bits"] == 3);
  CHECK(plan.points[0].x.quantizer().options.empty());
  CHECK(plan.points[1].x.quantizer().grid["bits"] == 4);  // the section wins over the step's own value
  CHECK(plan.points[1].x.quantizer().options["act_order"] == true);
  // A section is validated even when its algorithm is not selected.
  const auto bad = put(dir, "bad.yaml", "model: model.bin\npipeline:\n  - algorithm: rtn\n    gptq: {act_ordr: true}\n");
  CHECK_THAT(error_of(bad), Catch::Contains("bad.yaml:4:12: pipeline.0.gptq.act_ordr: unknown key (did you mean 'act_order'?)"));
}

TEST_CASE("pipeline mistakes are caught before any work", "[config][plan]") {
  const std::string dir = fixture("plan-mistakes");
  auto with_step = [&](const std::string& step) {
    return put(dir, "p.yaml", "model: model.bin\ncalibration:\n  text: calib.txt\npipeline:\n" + step);
  };
  SECTION("an unknown algorithm, with a did-you-mean") {
    CHECK_THAT(error_of(with_step("  - algorithm: gtpq\n")),
               Catch::Contains("p.yaml:5:16: pipeline.0.algorithm: 'gtpq': unknown value (did you mean 'gptq'?); allowed: rtn, gptq, gptaq, hqq, awq, smoothquant, mixed_precision, rotate"));
  }
  SECTION("a parameter the algorithm does not take") {
    CHECK_THAT(error_of(with_step("  - algorithm: rtn\n    act_order: true\n")),
               Catch::Contains("p.yaml:6:5: pipeline.0.act_order: unknown key; allowed: algorithm, bits, group_size, sym, mse, dtype, act_bits, act_scheme, act_percentile, rtn, gptq, gptaq, hqq, awq, smoothquant, mixed_precision, rotate"));
  }
  SECTION("a near-miss parameter") {
    CHECK_THAT(error_of(with_step("  - algorithm: gptq\n    damp_precent: 0.1\n")),
               Catch::Contains("pipeline.0.damp_precent: unknown key (did you mean 'damp_percent'?)"));
  }
  SECTION("wrong types") {
    CHECK_THAT(error_of(with_step("  - algorithm: gptq\n    act_order: maybe\n")),
               Catch::Contains("p.yaml:6:16: pipeline.0.act_order: expected true or false, got 'maybe'"));
    CHECK_THAT(error_of(with_step("  - algorithm: gptq\n    damp_percent: lots\n")),
               Catch::Contains("pipeline.0.damp_percent: expected a finite number, got 'lots'"));
    CHECK_THAT(error_of(with_step("  algorithm: gptq\n")), Catch::Contains("p.yaml:5:3: pipeline: expected a list of steps"));
  }
  SECTION("values out of range") {
    CHECK_THAT(error_of(with_step("  - algorithm: gptq\n    damp_percent: 11\n")),
               Catch::Contains("pipeline.0.damp_percent: 11 is out of range [0, 10]"));
    CHECK_THAT(error_of(with_step("  - algorithm: rtn\n    group_size: -2\n")),
               Catch::Contains("pipeline.0.group_size: -2 is out of range [-1, 1048576]"));
  }
  SECTION("a step without an algorithm") {
    CHECK_THAT(error_of(with_step("  - bits: 4\n")), Catch::Contains("pipeline.0: missing 'algorithm' (one of: rtn, gptq, gptaq, hqq, awq, smoothquant, mixed_precision, rotate)"));
  }
  SECTION("a quantizer before the last step") {
    CHECK_THAT(error_of(with_step("  - algorithm: rtn\n  - algorithm: gptq\n")),
               Catch::Contains("p.yaml:5:5: pipeline.0: 'rtn' quantizes the weights and must be the last step"));
  }
  SECTION("transforms: options checked against the algorithm, placed before the quantizer") {
    CHECK_THAT(error_of(with_step("  - {algorithm: smoothquant, alpha: 1.5}\n  - {algorithm: rtn, bits: 8}\n")),
               Catch::Contains("p.yaml:5:37: pipeline.0.alpha: 1.5 is out of range [0, 1]"));
    CHECK_THAT(error_of(with_step("  - {algorithm: awq, n_gird: 3}\n  - {algorithm: rtn}\n")),
               Catch::Contains("pipeline.0.n_gird: unknown key (did you mean 'n_grid'?)"));
    CHECK_THAT(error_of(with_step("  - {algorithm: rtn}\n  - {algorithm: awq}\n")),
               Catch::Contains("p.yaml:5:5: pipeline.0: 'rtn' quantizes the weights and must be the last step"));
    CHECK_THAT(error_of(with_step("  - {algorithm: awq}\n")),
               Catch::Contains("pipeline.0: 'awq' is a transform; the pipeline must end with a quantizer"));
    CHECK_THAT(error_of(with_step("  - {algorithm: smoothquant, search: true, alpha_min: 0.9, alpha_max: 0.5}\n  - {algorithm: rtn}\n")),
               Catch::Contains("p.yaml:5:5: pipeline.0: smoothquant.alpha_min: is above alpha_max"));
    const auto f = put(dir, "nocal-awq.yaml", "model: model.bin\npipeline:\n  - {algorithm: awq}\n  - {algorithm: rtn}\n");
    CHECK_THAT(error_of(f), Catch::Contains("nocal-awq.yaml:3:5: pipeline.0: 'awq' needs calibration data: set calibration.text"));
  }
  SECTION("data types and activation quantization") {
    CHECK_THAT(error_of(with_step("  - {algorithm: rtn, dtype: nf4, group_size: 48}\n")),
               Catch::Contains("p.yaml:5:5: pipeline.0: group size 48 is not a bitsandbytes block size for nf4"));
    CHECK_THAT(error_of(with_step("  - {algorithm: rtn, dtype: fp8}\n")),
               Catch::Contains("pipeline.0.dtype: 'fp8': unknown value (did you mean 'fp4'?)"));
    CHECK_THAT(error_of(with_step("  - {algorithm: rtn, dtype: fp8_e4m3, bits: 4}\n")),
               Catch::Contains("dtype fp8_e4m3 has 8-bit codes, bits = 4"));
    CHECK_THAT(error_of(with_step("  - {algorithm: rtn, bits: 8, act_bits: 1}\n")), Catch::Contains("pipeline.0: "));
    CHECK_THAT(error_of(with_step("  - {algorithm: rtn, bits: 8, act_bits: 8, act_scheme: per_token}\n")),
               Catch::Contains("pipeline.0.act_scheme: 'per_token': unknown value (did you mean 'per-token'?)"));
    // A floating-point dtype sets the code width when bits is not given.
    const auto x = config::load_experiment(with_step("  - {algorithm: rtn, dtype: fp8_e5m2, act_bits: 8, act_scheme: static}\n"));
    CHECK(x.quantizer().grid["bits"] == 8);
    CHECK(x.quantizer().act == nlohmann::json{{"act_bits", 8}, {"act_scheme", "static"}, {"act_percentile", 100.0}});
    const auto nocal = put(dir, "nocal-act.yaml", "model: model.bin\npipeline:\n  - {algorithm: rtn, bits: 8, act_bits: 8, act_scheme: static}\n");
    CHECK_THAT(error_of(nocal), Catch::Contains("nocal-act.yaml:3:5: pipeline.0: static activation scales are calibrated: set calibration.text"));
  }
  SECTION("KV cache and tasks in eval") {
    auto f = put(dir, "kv.yaml", "model: model.bin\neval:\n  kv_cache: {bits: 1}\n");
    CHECK_THAT(error_of(f), Catch::Contains("kv.yaml:3:20: eval.kv_cache.bits: 1 is not a KV-cache width"));
    f = put(dir, "kv.yaml", "model: model.bin\neval:\n  kv_cache: {bits: 4, group_sz: 32}\n");
    CHECK_THAT(error_of(f), Catch::Contains("eval.kv_cache.group_sz: unknown key (did you mean 'group_size'?)"));
    f = put(dir, "tk.yaml", "model: model.bin\neval:\n  tasks: {names: [piqa], limt: 5}\n");
    CHECK_THAT(error_of(f), Catch::Contains("eval.tasks.limt: unknown key (did you mean 'limit'?)"));
    f = put(dir, "tk.yaml", "model: model.bin\neval:\n  tasks: {names: [], limit: 5}\n");
    CHECK_THAT(error_of(f), Catch::Contains("eval.tasks: list the tasks in 'names'"));
    f = put(dir, "tk.yaml", "model: model.bin\neval:\n  tasks: {names: [piqa], limit: 5}\n  kv_cache: {bits: 4, group_size: 16}\n");
    const auto x = config::load_experiment(f);
    CHECK(x.tasks.names == std::vector<std::string>{"piqa"});
    CHECK(x.tasks.limit == 5);
    CHECK(x.kv_cache.bits == 4);
    CHECK(x.kv_cache.group_size == 16);
  }
  SECTION("GPTQ without calibration data") {
    const auto f = put(dir, "nocal.yaml", "model: model.bin\npipeline:\n  - algorithm: gptq\n");
    CHECK_THAT(error_of(f), Catch::Contains("nocal.yaml:3:5: pipeline.0: 'gptq' needs calibration data: set calibration.text"));
  }
  SECTION("calibration mistakes") {
    auto f = put(dir, "cal.yaml", "model: model.bin\ncalibration:\n  text: nope.txt\n");
    CHECK_THAT(error_of(f), Catch::Contains("cal.yaml:3:9: calibration.text: file not found"));
    f = put(dir, "cal.yaml", "model: model.bin\ncalibration:\n  text: calib.txt\n  mode: oneshot\n");
    CHECK_THAT(error_of(f), Catch::Contains("calibration.mode: 'oneshot': unknown value (did you mean 'one-shot'?)"));
    f = put(dir, "cal.yaml", "model: model.bin\ncalibration:\n  text: calib.txt\n  n_samples: 0\n");
    CHECK_THAT(error_of(f), Catch::Contains("cal.yaml:4:14: calibration.n_samples: 0 is out of range [1, "));
  }
  SECTION("KL divergence without texts, and an unknown export type") {
    auto f = put(dir, "kl.yaml", "model: model.bin\neval:\n  kl_divergence: true\n");
    CHECK_THAT(error_of(f), Catch::Contains("eval.kl_divergence: KL divergence is measured on eval.perplexity.texts"));
    f = put(dir, "ex.yaml", "model: model.bin\nexport:\n  - format: gguf\n    type: q4_k_mm\n");
    CHECK_THAT(error_of(f), Catch::Contains("ex.yaml:4:11: export.0.type: 'q4_k_mm': unknown value (did you mean 'q4_k_m'?)"));
    f = put(dir, "ov.yaml", "model: model.bin\nexport:\n  - {type: q4_k_m, override: ['ffn_down=q9_k']}\n");
    CHECK_THAT(error_of(f), Catch::Contains("ov.yaml:3:") && Catch::Contains("export.0.override") && Catch::Contains("q9_k"));
    f = put(dir, "ok.yaml", "model: model.bin\nexport:\n  - {type: q4_k_m, override: ['ffn_down=q6_k', 'attn_v=q8_0']}\n");
    CHECK(config::load_plan(f).points.front().x.exports.front().overrides.size() == 2);
  }
  SECTION("Hugging Face export targets: keys, and grids the packed formats cannot hold") {
    const std::string w4 = "model: model.bin\npipeline:\n  - {algorithm: rtn, bits: 4, group_size: 32}\n";
    auto f = put(dir, "hf1.yaml", w4 + "export:\n  - {format: gptq, type: q4_0}\n");
    CHECK_THAT(error_of(f), Catch::Contains("export.0") && Catch::Contains("type"));
    f = put(dir, "hf2.yaml", w4 + "export:\n  - {format: awq, checkpoint_format: gptq_v2}\n");
    CHECK_THAT(error_of(f), Catch::Contains("export.0.checkpoint_format: applies to format gptq only"));
    f = put(dir, "hf3.yaml", w4 + "export:\n  - {format: gptq, checkpoint_format: gptq_v3}\n");
    CHECK_THAT(error_of(f), Catch::Contains("export.0.checkpoint_format: 'gptq_v3': unknown value (did you mean 'gptq_v2'?)"));
    f = put(dir, "hf4.yaml", "model: model.bin\nexport:\n  - {format: gptq}\n");
    CHECK_THAT(error_of(f), Catch::Contains("hf4.yaml:3:") && Catch::Contains("export.0.format: gptq stores quantized weights"));
    f = put(dir, "hf5.yaml", "model: model.bin\npipeline:\n  - {algorithm: rtn, bits: 3}\nexport:\n  - {format: awq}\n");
    CHECK_THAT(error_of(f), Catch::Contains("export.0.format: awq holds 4 bits with a group size"));
    f = put(dir, "hf6.yaml", "model: model.bin\npipeline:\n  - {algorithm: rtn, bits: 6}\nexport:\n  - {format: gptq}\n");
    CHECK_THAT(error_of(f), Catch::Contains("gptq holds 2, 3, 4 or 8 bits"));
    f = put(dir, "hf7.yaml", "model: model.bin\npipeline:\n  - {algorithm: rtn, dtype: nf4, group_size: 64}\nexport:\n  - {format: gptq}\n");
    CHECK_THAT(error_of(f), Catch::Contains("integer grids only"));
    f = put(dir, "hf8.yaml", "model: model.bin\nexport:\n  - {format: hf-fp16}\n");
    CHECK(config::load_plan(f).points.front().x.exports.front().format == "hf-fp16");
    f = put(dir, "hf9.yaml", w4 + "export:\n  - {format: gptq, checkpoint_format: gptq_v2, unaligned: fp16}\n  - {format: awq}\n");
    const auto ex = config::load_plan(f).points.front().x.exports;
    REQUIRE(ex.size() == 2);
    CHECK(ex[0].checkpoint_format == "gptq_v2");
    CHECK(ex[0].unaligned == "fp16");
    CHECK(ex[1].format == "awq");
    CHECK(ex[1].unaligned == "fail");
  }
}

TEST_CASE("a resolved experiment is a standalone file that loads to the same experiment", "[config][plan]") {
  const std::string dir = fixture("plan-roundtrip");
  const auto f = put(dir, "a.yaml",
                     "model: model.bin\ncalibration: {text: calib.txt, n_samples: 4, seqlen: 16}\n"
                     "pipeline:\n  - {algorithm: gptq, bits: 3, group_size: 32}\n"
                     "eval:\n  kl_divergence: true\n  perplexity:\n    texts: [eval.txt]\n"
                     "export:\n  - {format: gguf, type: q8_0, override: ['ffn_down=q6_k']}\n"
                     "  - {format: gptq, checkpoint_format: gptq_v2}\n");
  const auto x = config::load_experiment(f, {"pipeline.0.damp_percent=0.05"});
  const auto r = put(dir, "resolved.yaml", config::to_yaml(x));
  const auto y = config::load_experiment(r);
  CHECK(config::to_json(y) == config::to_json(x));
  CHECK(y.quantizer().options["damp_percent"] == 0.05);
  CHECK(y.kl_divergence);
  REQUIRE(y.exports.size() == 2);
  CHECK(y.exports[0].type == "q8_0");
  CHECK(y.exports[0].overrides == std::vector<std::string>{"ffn_down=q6_k"});
  CHECK(y.exports[1].format == "gptq");
  CHECK(y.exports[1].checkpoint_format == "gptq_v2");
}

TEST_CASE("an experiment name is one directory: no climbing out of the output directory", "[config][plan][bad]") {
  // Issue 17: `name: ../..` (or -o name=/abs) put the experiment's directory, which a re-run
  // clears, outside `output`.
  const std::string dir = fixture("plan-name");
  const auto f = put(dir, "a.yaml", kBase);
  for (const std::string bad : {"../..", "..", ".", "/tmp/elsewhere", "a/b"}) {
    INFO(bad);
    CHECK_THAT(error_of(f, {"name=" + bad}), Catch::Contains("name") && Catch::Contains("is not a plain directory name"));
  }
  const auto g = put(dir, "b.yaml", std::string("name: ../../victim\n") + kBase);
  CHECK_THAT(error_of(g), Catch::Contains(g + ":1:7: name") && Catch::Contains("'../../victim' is not a plain directory name"));
  CHECK(config::load_experiment(f, {"name=run-1.b"}).name == "run-1.b");
}

TEST_CASE("a sweep grid too large to be meant is refused before any work", "[config][plan][bad]") {
  const std::string dir = fixture("plan-huge-sweep");
  std::string values = "[";
  for (int i = 0; i < 400; ++i) values += (i ? "," : "") + std::to_string(i + 1);
  values += "]";
  // 400^2 = 160,000 points; with more axes the product used to wrap around size_t silently.
  const auto f = put(dir, "a.yaml", std::string(kBase) + "sweep:\n  calibration.seed: " + values +
                                        "\n  calibration.n_samples: " + values + "\n");
  CHECK_THAT(error_of(f), Catch::Contains("the sweep has more than 100000 points (axis 'calibration.n_samples' has 400 values)"));
}
