// The rotate step in experiment files: `{algorithm: rotate, seed: 0, online: [down_proj, kv]}` first in
// the pipeline, its options typed and named on a mistake.
#include <catch2/catch.hpp>

#include <fstream>

#include "config/experiment.hpp"
#include "core/error.hpp"
#include "support/shared_data.hpp"

using namespace ptq;

namespace {

std::string experiment_file(const std::string& name, const std::string& pipeline) {
  const std::string dir = test::scratch_dir(name);
  std::ofstream(dir + "/model.bin") << "x";
  std::ofstream(dir + "/calib.txt") << "text";
  std::ofstream(dir + "/eval.txt") << "text";
  std::ofstream(dir + "/x.yaml") << "model: model.bin\n"
                                    "calibration: {text: calib.txt, n_samples: 32, seqlen: 64}\n"
                                    "pipeline:\n"
                                 << pipeline
                                 << "eval: {perplexity: {texts: [eval.txt]}, kv_cache: {bits: 4}}\n";
  return dir + "/x.yaml";
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

TEST_CASE("rotate is a pipeline step with a seed and a list of online rotations", "[config][rotation]") {
  const auto x = config::load_experiment(experiment_file(
      "rotate-ok", "  - {algorithm: rotate, seed: 3, online: [kv]}\n  - {algorithm: gptq, bits: 4, act_bits: 4}\n"));
  REQUIRE(x.pipeline.size() == 2);
  CHECK(x.pipeline[0].algorithm == "rotate");
  CHECK(x.pipeline[0].kind == "transform");
  CHECK(x.pipeline[0].options == nlohmann::json{{"seed", 3}, {"online", {"kv"}}});
  const auto d = config::load_experiment(experiment_file("rotate-default", "  - {algorithm: rotate}\n  - {algorithm: rtn}\n"));
  CHECK(d.pipeline[0].options == nlohmann::json{{"seed", 0}, {"online", {"down_proj", "kv"}}});
  const auto none = config::load_experiment(experiment_file("rotate-none", "  - {algorithm: rotate, online: []}\n  - {algorithm: rtn}\n"));
  CHECK(none.pipeline[0].options["online"] == nlohmann::json::array());
}

TEST_CASE("rotate's mistakes are named with the key path", "[config][rotation]") {
  const auto typo = error_of(experiment_file("rotate-typo", "  - {algorithm: rotate, online: [down_prj]}\n  - {algorithm: rtn}\n"));
  CHECK_THAT(typo, Catch::Contains("pipeline.0.online") && Catch::Contains("down_proj"));
  const auto seed = error_of(experiment_file("rotate-seed", "  - {algorithm: rotate, seed: -1}\n  - {algorithm: rtn}\n"));
  CHECK_THAT(seed, Catch::Contains("pipeline.0.seed"));
  const auto order = error_of(experiment_file(
      "rotate-order", "  - {algorithm: smoothquant}\n  - {algorithm: rotate}\n  - {algorithm: rtn}\n"));
  CHECK_THAT(order, Catch::Contains("pipeline.1") && Catch::Contains("must be the first step"));
}
