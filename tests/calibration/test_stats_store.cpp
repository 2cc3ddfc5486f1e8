#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <limits>

#include "calibration/stats_store.hpp"
#include "io/hdf5_file.hpp"
#include "../support/shared_data.hpp"

using namespace ptq::calib;

namespace {
InputStats random_stats(int64_t c, int seed) {
  torch::manual_seed(seed);
  InputStats s(c, false);
  s.add(torch::randn({40, c}), "l");
  return s;
}
}  // namespace

TEST_CASE("The statistics store round-trips sums exactly and shares one group per input", "[calibration][hdf5]") {
  const std::string dir = ptq::test::scratch_dir("stats_store");
  const std::string path = dir + "/stats.h5";
  nlohmann::json prov = {{"model", "abc"}, {"n_samples", 4}, {"seed", 0}};
  auto attn = random_stats(12, 1), mlp = random_stats(12, 2);
  {
    StatsWriter w(path, prov);
    w.add({"model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj", "model.layers.0.self_attn.v_proj"},
          "attn_in", attn);
    w.add({"model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj"}, "mlp_in", mlp);
    CHECK_FALSE(std::filesystem::exists(path));  // only the temporary file so far
    CHECK(stats_reuse_mismatch(path, prov) == "no statistics file yet");
    w.commit();
  }
  CHECK(stats_reuse_mismatch(path, prov).empty());
  StatsReader r(path);
  CHECK(r.provenance() == prov);
  const auto k = r.read("model.layers.0.self_attn.k_proj");
  CHECK(k.count() == attn.count());
  CHECK(torch::equal(k.xtx(), attn.xtx()));
  CHECK(torch::equal(k.abs_sum(), attn.abs_sum()));
  CHECK(torch::equal(k.sq_sum(), attn.sq_sum()));
  CHECK(torch::equal(k.min(), attn.min()));
  CHECK(torch::equal(r.read("model.layers.0.mlp.up_proj").max(), mlp.max()));
  CHECK_FALSE(r.has("model.layers.0.mlp.down_proj"));
  CHECK_THROWS_WITH(r.read("model.layers.0.mlp.down_proj"), Catch::Contains("no statistics for model.layers.0.mlp.down_proj"));
  // q, k and v are hard links to one group: the file holds one Hessian for them, not three.
  CHECK(std::filesystem::file_size(path) < 3 * 12 * 12 * 4 + 2 * 12 * 12 * 4 + 8000);

  // Any difference in provenance is named, with both values.
  auto other = prov;
  other["seed"] = 1;
  CHECK(stats_reuse_mismatch(path, other) == "seed differs (file: 0, now: 1)");
  other = prov;
  other["seqlen"] = 256;
  CHECK(stats_reuse_mismatch(path, other) == "seqlen is not recorded in the file");
}

TEST_CASE("An interrupted or foreign statistics file is never reused", "[calibration][hdf5][bad-input]") {
  const std::string dir = ptq::test::scratch_dir("stats_store_bad");
  nlohmann::json prov = {{"model", "abc"}};
  {
    StatsWriter w(dir + "/never.h5", prov);
    w.add({"a"}, "attn_in", random_stats(4, 3));
  }  // no commit: the temporary file is removed and nothing appears under the name
  CHECK(std::filesystem::is_empty(dir));
  std::ofstream(dir + "/junk.h5") << "not hdf5 at all";
  CHECK_THAT(stats_reuse_mismatch(dir + "/junk.h5", prov), Catch::StartsWith("unreadable"));
  CHECK_THROWS_WITH(StatsReader(dir + "/junk.h5"), Catch::Contains("junk.h5"));
}

TEST_CASE("statistics that are incomplete or hold NaN are refused when read", "[calibration][hdf5][bad-input]") {
  // Issue 17: readers (ptq export --gptq-stats / --imatrix) trusted any file given to them.
  const std::string dir = ptq::test::scratch_dir("stats_store_refused");
  const std::string half = dir + "/half.h5";
  {
    ptq::io::Hdf5File f(half, "w");  // what a writer killed before its commit leaves
    f.set_attr("/", "provenance", std::string(R"({"model":"abc"})"));
    f.set_attr("/", "complete", int64_t{0});
  }
  CHECK_THROWS_WITH(StatsReader(half), Catch::Contains(half) && Catch::Contains("is an incomplete statistics file"));

  auto s = random_stats(8, 4);
  auto xtx = s.xtx().clone();
  xtx[2][3] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(InputStats::from_sums(s.count(), xtx, s.abs_sum(), s.sq_sum(), s.abs_max(), s.min(), s.max(), "f.h5:layer"),
                    Catch::Contains("f.h5:layer") && Catch::Contains("xtx holds NaN or Inf values"));
  auto mx = s.max().clone();
  mx[0] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(InputStats::from_sums(s.count(), s.xtx(), s.abs_sum(), s.sq_sum(), s.abs_max(), s.min(), mx, "f.h5:layer"),
                    Catch::Contains("max holds NaN or Inf values"));
}
