#include <catch2/catch.hpp>

#include "algorithms/registry.hpp"

using namespace ptq::algo;

TEST_CASE("Algorithms are made by name with their options checked", "[algorithms]") {
  CHECK(algorithm_names() == std::vector<std::string>{"gptaq", "gptq", "hqq", "rtn"});
  auto g = make_algorithm("gptq", {{"act_order", true}, {"damp_percent", 0.1}});
  CHECK(g->name() == "gptq");
  CHECK(g->needs_calibration());
  CHECK(g->options()["act_order"] == true);
  CHECK(g->options()["damp_percent"] == 0.1);
  CHECK(g->options()["block_size"] == 128);
  CHECK_FALSE(make_algorithm("rtn")->needs_calibration());
  CHECK_THROWS_WITH(make_algorithm("rnt"), Catch::Contains("did you mean 'rtn'"));
  CHECK_THROWS_WITH(make_algorithm("gptq", {{"act_order", 1}}), Catch::Contains("gptq.act_order") && Catch::Contains("true or false"));
  CHECK_THROWS_WITH(make_algorithm("gptq", {{"damp_percent", -1}}), Catch::Contains("outside"));
  CHECK_THROWS_WITH(make_algorithm("rtn", {{"bits", 4}}), Catch::Contains("rtn.bits") && Catch::Contains("unknown option"));
  // GPTQ without statistics is refused with the layer named.
  CHECK_THROWS_WITH(g->quantize(torch::ones({2, 4}), nullptr, IntGrid{}, "model.layers.0.mlp.up_proj"),
                    Catch::Contains("model.layers.0.mlp.up_proj") && Catch::Contains("--calib"));
}
