#include <catch2/catch.hpp>

#include <fstream>

#include "config/experiment.hpp"
#include "config/yaml_schema.hpp"
#include "core/error.hpp"
#include "support/shared_data.hpp"

using namespace ptq;

namespace {

std::string write_yaml(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string p = dir + "/" + name;
  std::ofstream(p) << text;
  return p;
}

std::string error_of(const std::string& path) {
  try {
    config::load_experiment(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("experiment files are validated with file, line, column, key and did-you-mean", "[config]") {
  const std::string dir = test::scratch_dir("config");
  std::ofstream(dir + "/model.bin") << "x";
  std::ofstream(dir + "/eval.txt") << "text";

  SECTION("a valid file resolves paths against its own directory") {
    auto p = write_yaml(dir, "ok.yaml",
                        "model: model.bin\neval:\n  perplexity:\n    texts: [eval.txt]\n    protocol: gptq\n    seqlen: 128\n");
    auto x = config::load_experiment(p);
    CHECK(x.model == dir + "/model.bin");
    CHECK(x.perplexity.texts == std::vector<std::string>{dir + "/eval.txt"});
    CHECK(x.perplexity.protocol == "gptq");
    CHECK(x.perplexity.seqlen == 128);
    CHECK(x.name == "ok");
  }
  SECTION("an unknown key near a known one") {
    auto p = write_yaml(dir, "typo.yaml", "model: model.bin\neval:\n  perplexity:\n    seqlne: 128\n");
    CHECK_THAT(error_of(p), Catch::Contains(p + ":4:5: eval.perplexity.seqlne") &&
                                Catch::Contains("did you mean 'seqlen'?") && Catch::Contains("allowed:"));
  }
  SECTION("a wrong type") {
    auto p = write_yaml(dir, "type.yaml", "model: model.bin\neval:\n  perplexity:\n    seqlen: long\n");
    CHECK_THAT(error_of(p), Catch::Contains(":4:13: eval.perplexity.seqlen") && Catch::Contains("expected an integer, got 'long'"));
  }
  SECTION("a value out of range") {
    auto p = write_yaml(dir, "range.yaml", "model: model.bin\neval:\n  perplexity:\n    seqlen: 1\n");
    CHECK_THAT(error_of(p), Catch::Contains("eval.perplexity.seqlen") && Catch::Contains("out of range [2,"));
  }
  SECTION("a value not in the allowed set") {
    auto p = write_yaml(dir, "proto.yaml", "model: model.bin\neval:\n  perplexity:\n    protocol: wiki\n");
    CHECK_THAT(error_of(p), Catch::Contains("eval.perplexity.protocol") && Catch::Contains("allowed: llamacpp, gptq"));
  }
  SECTION("a missing file") {
    auto p = write_yaml(dir, "missing.yaml", "model: nope.bin\n");
    CHECK_THAT(error_of(p), Catch::Contains(":1:8: model") && Catch::Contains("file not found"));
  }
  SECTION("a YAML syntax error") {
    auto p = write_yaml(dir, "syntax.yaml", "model: [a, b\n");
    CHECK_THAT(error_of(p), Catch::Contains(p) && Catch::Contains("YAML syntax error"));
  }
  SECTION("a missing required key") {
    auto p = write_yaml(dir, "nomodel.yaml", "eval: {}\n");
    CHECK_THAT(error_of(p), Catch::Contains("missing required key 'model'"));
  }
}

TEST_CASE("edit distance for did-you-mean", "[config]") {
  CHECK(config::edit_distance("seqlne", "seqlen") == 2);
  CHECK(config::edit_distance("", "abc") == 3);
  CHECK(config::edit_distance("model", "model") == 0);
}

TEST_CASE("the quickstart experiment file is valid: 13 methods on the default model, one calibration set", "[config]") {
  // The quickstart needs the committed default model and the Brown splits (make brown; make test runs it).
  const std::string root = PTQ_SOURCE_DIR;
  if (!std::filesystem::exists(root + "/data/brown/calib.txt")) {
    WARN("SKIPPED: data/brown is missing (scripts/zoo/fetch_brown.sh prepares it)");
    return;
  }
  const auto plan = config::load_plan(root + "/configs/quickstart.yaml");
  REQUIRE(plan.points.size() == 13);
  std::vector<std::string> methods;
  for (const auto& p : plan.points) {
    // GPTAQ calibrates sequentially (the FP model alongside); every run samples the same windows.
    const bool gptaq = p.x.quantizer().algorithm == "gptaq";
    CHECK(p.x.calibration.mode == (gptaq ? "sequential" : "one-shot"));
    CHECK(p.x.calibration.seed == plan.points[0].x.calibration.seed);
    CHECK(p.x.calibration.n_samples == plan.points[0].x.calibration.n_samples);
    CHECK(p.x.kl_divergence);
    CHECK(p.x.model == std::filesystem::weakly_canonical(root + "/models/brown-5m").string());
    std::string m;
    for (const auto& s : p.x.pipeline) m += (m.empty() ? "" : "+") + s.algorithm + std::to_string(p.x.quantizer().grid["bits"].get<int>());
    methods.push_back(m);
  }
  CHECK(methods == std::vector<std::string>{"rtn4", "rtn3", "gptq4", "gptq3", "gptaq4", "gptaq3", "awq4+rtn4", "awq3+rtn3",
                                            "smoothquant8+rtn8", "hqq4", "hqq3", "gptq4", "rotate4+gptq4"});
  CHECK(plan.points[8].x.quantizer().act["act_bits"] == 8);
  CHECK(plan.points.back().x.quantizer().act["act_bits"] == 4);
}
