// llama.cpp's mixes and importance-weighted quantization in ptq's GGUF export, against llama.cpp's
// own files of the same model (../shared/data/peers, made by llama-quantize from stories260K):
// Q4_K_M (every matrix falls back, since 64 and 172 are not multiples of 256: Q4_K -> Q5_0,
// attn_v's Q6_K -> Q8_0, ffn_down -> F16), and the same with llama-imatrix's importance matrix
// (stories260K-imatrix-calib.dat), and Q4_0 with it. Same types and the same bytes in every tensor.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"
#include "export/export_test_util.hpp"
#include "export/gguf_export.hpp"
#include "export/gguf_importance.hpp"
#include "export/gguf_type_plan.hpp"
#include "ggml/ggml_blocks.hpp"
#include "ggml/ggml_rows.hpp"
#include "io/gguf.hpp"
#include "io/llama2c.hpp"
#include "support/shared_data.hpp"

using namespace ptq;
namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> raw(const io::GgufReader& r, const std::string& name) {
  const uint8_t* p = r.tensor_data(name);
  return std::vector<uint8_t>(p, p + r.tensor(name).nbytes);
}

// Our export of stories260K is tied (no output.weight): llama.cpp then gives token_embd the output
// matrix's rule. The peers (llama2.c converter) store the same weights twice, as token_embd and
// output. So our token_embd is compared with whichever of the two has its type.
std::string peer_name(const io::GgufReader& peer, const io::GgufTensorInfo& ours) {
  if (ours.name != "token_embd.weight" || peer.tensor(ours.name).type_name == ours.type_name) return ours.name;
  return "output.weight";
}

// Every tensor: the peer's type and bytes. Returns the number of tensors compared.
int compare_with_peer(const std::string& ours_path, const std::string& peer_path) {
  io::GgufReader ours(ours_path), peer(peer_path);
  CHECK(ours.get_int("general.file_type") == peer.get_int("general.file_type"));
  int compared = 0;
  for (const auto& t : ours.tensors()) {
    const std::string pn = peer_name(peer, t);
    INFO(t.name << " vs the peer's " << pn);
    REQUIRE(peer.has_tensor(pn));
    CHECK(t.type_name == peer.tensor(pn).type_name);
    CHECK(t.dims == peer.tensor(pn).dims);
    if (t.type_name != peer.tensor(pn).type_name) continue;
    const std::vector<uint8_t> a = raw(ours, t.name), b = raw(peer, pn);
    const io::GgmlTypeTraits tr = io::ggml_type_traits(t.type);
    int64_t differ = 0;
    for (size_t off = 0; off < a.size(); off += tr.type_size) {
      differ += !std::equal(a.begin() + off, a.begin() + off + tr.type_size, b.begin() + off);
    }
    INFO(differ << " of " << a.size() / tr.type_size << " blocks differ");
    CHECK(differ == 0);
    ++compared;
  }
  return compared;
}

}  // namespace

TEST_CASE("llama.cpp's Q4_K_M rules on stories260K: the peer's types and bytes", "[export][gguf][mix]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  SHARED_FILE(peer, "peers/stories260K-Q4_K_M.gguf");
  const std::string out = test::scratch_dir("gguf-mix") + "/q4_k_m.gguf";
  auto src = io::open_llama2c_model(bin);
  exporter::GgufExportOptions opt;
  opt.type = "q4_k_m";
  const auto res = exporter::export_gguf(*src, out, opt);
  // Every layer matrix; token_embd (the output matrix here) is Q8_0 by the output rule itself.
  CHECK(res.fallbacks.size() == 5 * 7);
  CHECK(res.weighted.empty());
  CHECK(res.types[0] == "Q8_0");
  REQUIRE(res.fallback_notes.size() >= 3);
  const std::vector<std::string> notes(res.fallback_notes.begin(), res.fallback_notes.begin() + 3);
  CHECK(notes == std::vector<std::string>{"blk.0.attn_q.weight: Q4_K -> Q5_0 (rows of 64)",
                                          "blk.0.attn_k.weight: Q4_K -> Q5_0 (rows of 64)",
                                          "blk.0.attn_v.weight: Q4_K -> Q5_0 (rows of 64)"});
  CHECK(std::find(res.fallback_notes.begin(), res.fallback_notes.end(),
                  "blk.2.attn_v.weight: Q6_K -> Q8_0 (rows of 64)") != res.fallback_notes.end());
  CHECK(std::find(res.fallback_notes.begin(), res.fallback_notes.end(),
                  "blk.2.ffn_down.weight: Q6_K -> F16 (rows of 172)") != res.fallback_notes.end());
  CHECK(std::find(res.fallback_notes.begin(), res.fallback_notes.end(),
                  "blk.1.ffn_down.weight: Q4_K -> F16 (rows of 172)") != res.fallback_notes.end());
  CHECK(compare_with_peer(out, peer) == 2 + 5 * 9);  // every tensor (token_embd, 5 x 9 layer tensors, output_norm)
  io::GgufReader r(out);
  CHECK(r.get_int("general.quantization_version") == 2);
}

TEST_CASE("importance-weighted quantization with llama.cpp's imatrix reproduces its imatrix peers", "[export][gguf][mix][imatrix]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  SHARED_FILE(dat, "peers/stories260K-imatrix-calib.dat");
  SHARED_FILE(peer_km, "peers/stories260K-Q4_K_M-imatrix.gguf");
  SHARED_FILE(peer_q4, "peers/stories260K-Q4_0-imatrix.gguf");
  const std::string dir = test::scratch_dir("gguf-imatrix");
  auto src = io::open_llama2c_model(bin);

  const exporter::ImportanceMap imatrix = exporter::read_llama_imatrix(dat);
  REQUIRE(imatrix.size() == 35);  // 7 matrices x 5 layers
  CHECK(imatrix.at("blk.4.ffn_down.weight").size() == 172);
  CHECK(imatrix.at("blk.0.attn_q.weight").size() == 64);
  for (const auto& [name, v] : imatrix) {
    for (float x : v) REQUIRE(x >= 0.0f);
  }

  exporter::GgufExportOptions opt;
  opt.type = "q4_k_m";
  opt.importance = dat;
  const auto km = exporter::export_gguf(*src, dir + "/q4_k_m-imatrix.gguf", opt);
  // q, k, output, gate, up in every layer and attn_v in its three Q5_0 layers; not Q8_0 or F16.
  CHECK(km.weighted.size() == 5 * 5 + 3);
  CHECK(compare_with_peer(dir + "/q4_k_m-imatrix.gguf", peer_km) == 2 + 5 * 9);  // every tensor (token_embd, 5 x 9 layer tensors, output_norm)

  opt = test::export_options("q4_0");
  opt.importance = dat;
  exporter::export_gguf(*src, dir + "/q4_0-imatrix.gguf", opt);
  CHECK(compare_with_peer(dir + "/q4_0-imatrix.gguf", peer_q4) == 2 + 5 * 9);  // every tensor (token_embd, 5 x 9 layer tensors, output_norm)

  // Without the importance the bytes differ from the imatrix peer (the importance matters).
  exporter::export_gguf(*src, dir + "/q4_0.gguf", test::export_options("q4_0"));
  io::GgufReader plain(dir + "/q4_0.gguf"), weighted(peer_q4);
  CHECK(raw(plain, "blk.0.attn_q.weight") != raw(weighted, "blk.0.attn_q.weight"));
}

TEST_CASE("GGUF type plan: llama.cpp's mixes on a 32-layer model, overrides, fallbacks", "[export][gguf][mix]") {
  using exporter::choose_tensor_type;
  using io::GgmlType;
  const exporter::ModelShapeInfo m{32, 32, 8, true};
  const auto km = exporter::gguf_type_scheme("q4_k_m");
  auto type = [&](const exporter::GgufTypeScheme& s, const std::string& name, int64_t row = 4096,
                  const std::vector<exporter::TypeOverride>& o = {}) {
    return choose_tensor_type(s, name, row, m, o, "").type;
  };
  // Q4_K_M: attn_v and ffn_down in layers 0-3, 28-31 and every third in between get Q6_K.
  int q6_v = 0, q6_down = 0;
  for (int l = 0; l < 32; ++l) {
    q6_v += type(km, "blk." + std::to_string(l) + ".attn_v.weight") == GgmlType::Q6_K;
    q6_down += type(km, "blk." + std::to_string(l) + ".ffn_down.weight", 14336) == GgmlType::Q6_K;
  }
  CHECK(q6_v == 16);  // 4 + 4 + (4..27: i - 4 = 2 mod 3 -> 6, 9, ..., 27: 8)
  CHECK(q6_down == 16);
  CHECK(type(km, "blk.6.attn_v.weight") == GgmlType::Q6_K);
  CHECK(type(km, "blk.7.attn_v.weight") == GgmlType::Q4_K);
  CHECK(type(km, "blk.7.attn_q.weight") == GgmlType::Q4_K);
  CHECK(type(km, "output.weight") == GgmlType::Q6_K);
  CHECK(type(km, "token_embd.weight") == GgmlType::Q4_K);
  const auto qs = exporter::gguf_type_scheme("q3_k_m");
  CHECK(type(qs, "blk.1.attn_v.weight") == GgmlType::Q5_K);
  CHECK(type(qs, "blk.2.attn_v.weight") == GgmlType::Q4_K);
  CHECK(type(qs, "blk.1.ffn_down.weight") == GgmlType::Q5_K);
  CHECK(type(qs, "blk.2.ffn_down.weight") == GgmlType::Q4_K);
  CHECK(type(qs, "blk.2.attn_output.weight") == GgmlType::Q4_K);
  CHECK(type(qs, "blk.2.ffn_up.weight") == GgmlType::Q3_K);
  // Uniform types stay uniform (the output too).
  CHECK(type(exporter::gguf_type_scheme("q4_k"), "output.weight") == GgmlType::Q4_K);
  // Overrides by regular expression, the last match wins; then the fallback applies.
  const std::vector<exporter::TypeOverride> o = {exporter::parse_type_override("ffn_(down|up)=q8_0"),
                                                 exporter::parse_type_override("blk\\.3\\.ffn_down=q2_k")};
  CHECK(type(km, "blk.2.ffn_down.weight", 4096, o) == GgmlType::Q8_0);
  CHECK(type(km, "blk.3.ffn_down.weight", 4096, o) == GgmlType::Q2_K);
  CHECK(type(km, "blk.2.ffn_gate.weight", 4096, o) == GgmlType::Q4_K);
  const auto fb = choose_tensor_type(km, "blk.3.ffn_down.weight", 4000, m, o, "");
  CHECK(fb.fell_back);
  CHECK(fb.wanted == GgmlType::Q2_K);
  CHECK(fb.type == GgmlType::Q4_0);
  CHECK(choose_tensor_type(km, "blk.3.attn_q.weight", 100, m, {}, "").type == GgmlType::F16);
  CHECK(choose_tensor_type(km, "blk.3.attn_q.weight", 100, m, {}, "f32").type == GgmlType::F32);
  CHECK_THROWS_WITH(choose_tensor_type(exporter::gguf_type_scheme("q4_0"), "blk.3.attn_q.weight", 100, m, {}, ""),
                    Catch::Contains("blk.3.attn_q.weight") && Catch::Contains("100"));
  CHECK_THROWS_WITH(exporter::parse_type_override("no-equals"), Catch::Contains("REGEX=TYPE"));

  // The same choices per decoder layer under ptq's linear names (what AWQ searches against).
  auto l6 = exporter::layer_gguf_types("q4_k_m", 6, 32, 32, 8, 4096, 14336);
  CHECK(l6.size() == 7u);
  CHECK(l6.at("self_attn.v_proj") == "q6_k");
  CHECK(l6.at("mlp.down_proj") == "q6_k");
  CHECK(l6.at("self_attn.q_proj") == "q4_k");
  CHECK(l6.at("mlp.up_proj") == "q4_k");
  CHECK(exporter::layer_gguf_types("q4_k_m", 7, 32, 32, 8, 4096, 14336).at("self_attn.v_proj") == "q4_k");
  // Rows of 64 hold no 256-weight super-block: llama.cpp's fallback (Q4_K -> Q5_0); rows of 100 fit
  // nothing and stay f16.
  auto small = exporter::layer_gguf_types("q4_k", 0, 2, 4, 2, 64, 100);
  CHECK(small.at("self_attn.q_proj") == "q5_0");
  CHECK(small.at("mlp.down_proj") == "f16");
  CHECK_THROWS_WITH(exporter::layer_gguf_types("q4_k_x", 0, 2, 4, 2, 64, 128), Catch::Contains("q4_k_x"));
}
