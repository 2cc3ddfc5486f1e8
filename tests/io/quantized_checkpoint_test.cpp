#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <filesystem>

#include "algorithms/rtn/rtn.hpp"
#include "io/quantized_checkpoint.hpp"
#include "model/synthetic_model.hpp"
#include "../support/shared_data.hpp"

using namespace ptq;

namespace {
model::ModelConfig tiny() { return model::synthetic_config(16, 24, 1, 2, 2, 32); }

// Writes a one-layer quantized checkpoint whose q_proj has the given (possibly broken) parts.
void write_ckpt(const std::string& dir, const algo::QuantizedLinear& q) {
  io::QuantizedCheckpointWriter w(dir, tiny(), {{"bits", q.grid.bits}, {"group_size", q.grid.group_size}, {"sym", q.grid.sym}}, 2);
  w.write_shard({{"model.layers.0.input_layernorm.weight", torch::ones({16})}},
                {{"model.layers.0.self_attn.q_proj.weight", q}});
  w.write_shard({{"model.embed_tokens.weight", torch::zeros({32, 16})}}, {});
  w.commit();
}
}  // namespace

TEST_CASE("Quantized checkpoints round-trip codes and refuse inconsistent ones", "[io][quantized]") {
  const std::string dir = test::scratch_dir("qckpt");
  torch::manual_seed(0);
  algo::IntGrid grid;
  grid.bits = 3;
  grid.group_size = 6;  // 16 columns: groups of 6, 6 and a partial 4
  const auto q = algo::rtn_quantize(torch::randn({16, 16}), grid);
  write_ckpt(dir + "/ok", q);
  io::QuantizedCheckpoint c(dir + "/ok");
  CHECK(c.is_quantized("model.layers.0.self_attn.q_proj.weight"));
  CHECK(c.has("model.layers.0.self_attn.q_proj.weight"));
  CHECK_FALSE(c.has("model.layers.0.self_attn.k_proj.weight"));
  const auto back = c.quantized("model.layers.0.self_attn.q_proj.weight");
  CHECK(torch::equal(back.codes, q.codes));
  CHECK(torch::equal(back.g_idx, q.g_idx));
  CHECK(torch::equal(c.load("model.layers.0.self_attn.q_proj.weight"), q.dequantize()));
  bool listed = false;
  for (const auto& t : c.tensors()) {
    CHECK(t.name.find(".codes") == std::string::npos);
    if (t.name == "model.layers.0.self_attn.q_proj.weight") listed = t.dtype == "Q3_ASYM";
  }
  CHECK(listed);

  auto bad = q;
  bad.g_idx = bad.g_idx.clone();
  bad.g_idx[3] = 7;
  write_ckpt(dir + "/bad_gidx", bad);
  CHECK_THROWS_WITH(io::QuantizedCheckpoint(dir + "/bad_gidx").load("model.layers.0.self_attn.q_proj.weight"),
                    Catch::Contains("q_proj") && Catch::Contains("g_idx names a group that does not exist"));
  bad = q;
  bad.codes = bad.codes.clone();
  bad.codes[0][0] = 9;
  write_ckpt(dir + "/bad_codes", bad);
  CHECK_THROWS_WITH(io::QuantizedCheckpoint(dir + "/bad_codes").load("model.layers.0.self_attn.q_proj.weight"),
                    Catch::Contains("codes exceed the grid's range"));
  bad = q;
  bad.grid.bits = 9;
  CHECK_THROWS_WITH(write_ckpt(dir + "/bad_bits", bad), Catch::Contains("bits"));
  CHECK_FALSE(std::filesystem::exists(dir + "/bad_bits"));
}
