// GGUF reader on hand-built files: a well-formed one read back exactly, then one corruption at a
// time, each of which must give a single ptq::Error naming the file and the problem.
#include <catch2/catch.hpp>

#include <filesystem>
#include <optional>

#include "core/error.hpp"
#include "io/byte_builder.hpp"
#include "io/gguf.hpp"
#include "support/shared_data.hpp"

using ptq::io::GgufReader;
using ptq::io::GgufValueType;
using ptq::test::Bytes;

namespace {

// What to break in the otherwise valid file built by make_gguf().
struct Tweak {
  std::string magic = "GGUF";
  uint32_t version = 3;
  std::optional<uint64_t> tensor_count, kv_count, key_len, array_count;
  uint32_t a_type = 0;  // F32
  uint64_t a_dim0 = 4, a_dim1 = 2;
  uint64_t b_offset = 32;
  bool duplicate_key = false;
  uint32_t alignment = 32;
};

// Layout: 3 metadata entries (a string, general.alignment, an INT32 array), then tensors
// a: F32 ggml dims [4, 2] (torch shape [2, 4]) at data offset 0 holding 0..7, and
// b: F16 dims [3] at data offset 32 holding 1.0, -2.0, 0.5.
std::string make_gguf(const Tweak& t = {}) {
  Bytes f;
  f.raw(t.magic).u32(t.version).u64(t.tensor_count.value_or(2)).u64(t.kv_count.value_or(3));
  const std::string key = "general.architecture";
  f.u64(t.key_len.value_or(key.size())).raw(key).u32(8).str("llama");
  f.str(t.duplicate_key ? "general.architecture" : "general.alignment").u32(4).u32(t.alignment);
  f.str("test.arr").u32(9).u32(5).u64(t.array_count.value_or(3)).i32(1).i32(-2).i32(3);
  f.str("a").u32(2).u64(t.a_dim0).u64(t.a_dim1).u32(t.a_type).u64(0);
  f.str("b").u32(1).u64(3).u32(1).u64(t.b_offset);
  f.pad_to(t.alignment);
  for (int i = 0; i < 8; ++i) f.f32(static_cast<float>(i));
  f.pad_to(32);
  f.put<uint16_t>(0x3C00).put<uint16_t>(0xC000).put<uint16_t>(0x3800);  // 1, -2, 0.5 in fp16
  return f.b;  // no trailing padding: the file ends with b's last byte, so any cut breaks it
}

std::string write_case(const std::string& name, const std::string& bytes) {
  const std::string path = ptq::test::scratch_dir("gguf_bad") + "/" + name + ".gguf";
  ptq::test::write_bytes(path, bytes);
  return path;
}

}  // namespace

TEST_CASE("gguf: a hand-built file reads back exactly", "[gguf]") {
  const std::string path = write_case("valid", make_gguf());
  GgufReader r(path);
  CHECK(r.version() == 3);
  CHECK(r.alignment() == 32);
  CHECK(r.keys() == std::vector<std::string>{"general.architecture", "general.alignment", "test.arr"});
  CHECK(r.get_string("general.architecture") == "llama");
  CHECK(r.get_int("general.alignment") == 32);
  CHECK(r.get_float("general.alignment") == 32.0);  // integers convert to float on request
  CHECK(r.type("test.arr") == GgufValueType::ARRAY);
  CHECK(r.array_type("test.arr") == GgufValueType::INT32);
  CHECK(r.array_size("test.arr") == 3);
  CHECK(r.get_int_array("test.arr") == std::vector<int64_t>{1, -2, 3});
  CHECK(r.get_float_array("test.arr") == std::vector<double>{1, -2, 3});
  CHECK(r.describe("test.arr") == "[INT32 x 3] 1, -2, 3");
  CHECK(r.describe("general.architecture") == "\"llama\"");

  REQUIRE(r.tensors().size() == 2);
  const auto& a = r.tensor("a");
  CHECK(a.type_name == "F32");
  CHECK(a.dims == std::vector<int64_t>{4, 2});
  CHECK(a.shape() == std::vector<int64_t>{2, 4});
  CHECK(a.nbytes == 32);
  CHECK(a.offset == r.data_offset());
  CHECK(r.data_offset() % 32 == 0);
  torch::Tensor ta = r.load_f32("a");
  CHECK(ta.sizes().vec() == std::vector<int64_t>{2, 4});
  CHECK(torch::equal(ta, torch::arange(8, torch::kFloat32).reshape({2, 4})));
  torch::Tensor tb = r.load_f32("b");
  CHECK(r.tensor("b").nbytes == 6);
  CHECK(tb[0].item<float>() == 1.0f);
  CHECK(tb[1].item<float>() == -2.0f);
  CHECK(tb[2].item<float>() == 0.5f);
}

TEST_CASE("gguf: metadata getters reject missing keys and wrong types, naming file and key", "[gguf]") {
  const std::string path = write_case("getters", make_gguf());
  GgufReader r(path);
  REQUIRE_PTQ_ERROR(r.get_string("nope"), path.c_str(), "metadata key 'nope' is missing");
  REQUIRE_PTQ_ERROR(r.get_string("test.arr"), path.c_str(), "'test.arr' is ARRAY, expected STRING");
  REQUIRE_PTQ_ERROR(r.get_int("general.architecture"), "'general.architecture' is STRING, expected an integer");
  REQUIRE_PTQ_ERROR(r.get_bool("general.alignment"), "'general.alignment' is UINT32, expected BOOL");
  REQUIRE_PTQ_ERROR(r.get_float("test.arr"), "expected a number");
  REQUIRE_PTQ_ERROR(r.get_string_array("test.arr"), "'test.arr' is not an array of STRING");
  REQUIRE_PTQ_ERROR(r.get_int_array("general.alignment"), "not an array of integers");
  REQUIRE_PTQ_ERROR(r.array_size("general.alignment"), "is UINT32, expected an array");
  REQUIRE_PTQ_ERROR(r.tensor("zzz"), path.c_str(), "tensor 'zzz' is not in the file");
}

TEST_CASE("gguf: every truncation of a valid file is one clean error", "[gguf][bad]") {
  const std::string full = make_gguf();
  const std::string path = ptq::test::scratch_dir("gguf_trunc") + "/t.gguf";
  for (size_t n = 0; n < full.size(); ++n) {
    ptq::test::write_bytes(path, full.substr(0, n));
    INFO("truncated to " << n << " of " << full.size() << " bytes");
    try {
      GgufReader r(path);
      FAIL("opened a truncated file");
    } catch (const ptq::Error& e) {
      const std::string msg = e.what();
      CHECK(msg.find(path) != std::string::npos);
      const bool explained = msg.find("truncated") != std::string::npos ||
                             msg.find("not a GGUF file") != std::string::npos ||
                             msg.find("impossible") != std::string::npos ||
                             msg.find("remain") != std::string::npos;
      CHECK(explained);
    }
  }
}

TEST_CASE("gguf: corrupted headers give one error naming the problem", "[gguf][bad]") {
  auto open = [](const std::string& name, const Tweak& t) {
    const std::string path = write_case(name, make_gguf(t));
    return std::make_pair(path, [path] { GgufReader r(path); });
  };
  {
    Tweak t;
    t.magic = "GGUX";
    auto [p, f] = open("magic", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "not a GGUF file (bad magic");
  }
  {
    Tweak t;
    t.version = 1;
    auto [p, f] = open("v1", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "GGUF version 1 is not supported");
  }
  {
    Tweak t;
    t.version = 7;
    auto [p, f] = open("v7", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "unsupported GGUF version 7");
  }
  {
    Tweak t;
    t.tensor_count = uint64_t(1) << 40;
    auto [p, f] = open("tensor_count", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "tensor count 1099511627776 is impossible");
  }
  {
    Tweak t;
    t.kv_count = uint64_t(1) << 40;
    auto [p, f] = open("kv_count", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "metadata count 1099511627776 is impossible");
  }
  {
    Tweak t;
    t.key_len = uint64_t(1) << 60;
    auto [p, f] = open("key_len", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "metadata entry 0 key has length 1152921504606846976");
  }
  {
    Tweak t;
    t.array_count = uint64_t(1) << 61;
    auto [p, f] = open("array_count", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "'test.arr' claims 2305843009213693952 elements of INT32");
  }
  {
    Tweak t;
    t.duplicate_key = true;
    auto [p, f] = open("dup_key", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "metadata key 'general.architecture' appears twice");
  }
  {
    Tweak t;
    t.b_offset = 1 << 20;
    auto [p, f] = open("offset_range", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "tensor 'b' data [1048576, 1048582)", "lies outside the file");
  }
  {
    Tweak t;
    t.b_offset = 0;
    auto [p, f] = open("overlap", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "tensors 'a' and 'b' overlap");
  }
  {
    Tweak t;
    t.b_offset = 36;
    auto [p, f] = open("unaligned", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "tensor 'b' data offset 36 is not a multiple of the alignment 32");
  }
  {
    Tweak t;
    t.a_dim0 = t.a_dim1 = uint64_t(1) << 40;
    auto [p, f] = open("dims", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "tensor 'a' has an absurd dimension 1099511627776");
  }
  {
    Tweak t;
    t.a_dim0 = 1 << 20;  // 4 MB of F32 in a file of a few hundred bytes
    auto [p, f] = open("dims_vs_file", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "tensor 'a' needs 2097152 blocks of 4 bytes, which cannot fit in the file");
  }
  {
    Tweak t;
    t.a_type = 28;  // F64: 2^31 x 2^30 weights = 2^64 bytes, which would wrap to 0 if multiplied
    t.a_dim0 = uint64_t(1) << 31;
    t.a_dim1 = uint64_t(1) << 30;
    auto [p, f] = open("f64_wrap", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "tensor 'a' needs 2305843009213693952 blocks of 8 bytes");
  }
  {
    Tweak t;
    t.a_type = 77;
    auto [p, f] = open("type", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "tensor 'a' has unknown ggml type id 77");
  }
  {
    Tweak t;
    t.a_type = 2;  // Q4_0 with rows of 4 weights
    auto [p, f] = open("block", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "tensor 'a' has rows of 4 weights, not a multiple of Q4_0's block size 32");
  }
  {
    Tweak t;
    t.alignment = 24;
    auto [p, f] = open("alignment", t);
    REQUIRE_PTQ_ERROR(f(), p.c_str(), "general.alignment 24 is not a power of two");
  }
  {
    // A binary file mangled by a UTF-8 text round trip: the error says so.
    std::string bytes = make_gguf();
    bytes.replace(8, 1, "\xEF\xBF\xBD");  // the low byte of the tensor count, as if it were 0x80+
    const std::string p = write_case("mangled", bytes);
    REQUIRE_PTQ_ERROR(GgufReader(p), p.c_str(), "is impossible", "the file contains 1 U+FFFD replacement sequences");
  }
  {
    const std::string p = write_case("empty", "");
    REQUIRE_PTQ_ERROR(GgufReader(p), p.c_str(), "not a GGUF file");
  }
}

// Quantized blocks with hand-computed values (ggml-common.h block layouts).
TEST_CASE("gguf: counts a sparse file could back are refused before they cost memory", "[gguf][bad]") {
  // Issue 17: counts were bounded only by the file's size, and a sparse file is cheap: 2^27 one-byte
  // elements would become 2^27 int64 (1 GiB), 2^21 tensors 2^21 records. The files below are sparse
  // (a few bytes written, the size set by truncate), so the test itself costs no disk.
  const auto sparse = [](const std::string& name, const std::string& head, uint64_t size) {
    const std::string path = ptq::test::scratch_dir("gguf_sparse") + "/" + name + ".gguf";
    ptq::test::write_bytes(path, head);
    std::filesystem::resize_file(path, size);
    return path;
  };
  {
    Bytes f;
    f.raw("GGUF").u32(3).u64(0).u64(1).str("big.arr").u32(9).u32(0).u64(uint64_t(1) << 27);  // UINT8 elements
    const std::string p = sparse("array", f.b, (uint64_t(1) << 27) + 256);
    REQUIRE_PTQ_ERROR(GgufReader(p), p.c_str(), "'big.arr' claims 134217728 elements, more than ptq reads (67108864");
  }
  {
    Bytes f;
    f.raw("GGUF").u32(3).u64(uint64_t(1) << 21).u64(0);
    const std::string p = sparse("tensors", f.b, uint64_t(1) << 27);
    REQUIRE_PTQ_ERROR(GgufReader(p), p.c_str(), "tensor count 2097152 exceeds ptq's limit of 1048576");
  }
}

TEST_CASE("gguf: 32-block quantized types dequantize to hand-computed values", "[gguf]") {
  auto one_block_file = [](uint32_t type, const Bytes& block) {
    Bytes f;
    f.raw("GGUF").u32(3).u64(1).u64(0);
    f.str("q").u32(1).u64(32).u32(type).u64(0);
    f.pad_to(32).raw(block.b).pad_to(32);
    return write_case("block" + std::to_string(type), f.b);
  };
  const uint16_t d_half = 0x3800;  // 0.5
  const uint16_t m_half = 0xBC00;  // -1.0

  // Q8_0: d, then 32 int8: value = q * d.
  {
    Bytes b;
    b.put(d_half);
    for (int j = 0; j < 32; ++j) b.put<int8_t>(static_cast<int8_t>(j * 8 - 128));
    torch::Tensor t = GgufReader(one_block_file(8, b)).load_f32("q");
    for (int j = 0; j < 32; ++j) CHECK(t[j].item<float>() == 0.5f * (j * 8 - 128));
  }
  // Q4_0: weight j in the low nibble of byte j, weight j+16 in the high nibble, value (q-8)*d.
  // Byte j = (15-j)<<4 | j: weight j = j, weight j+16 = 15-j.
  {
    Bytes b;
    b.put(d_half);
    for (int j = 0; j < 16; ++j) b.u8(static_cast<uint8_t>(((15 - j) << 4) | j));
    torch::Tensor t = GgufReader(one_block_file(2, b)).load_f32("q");
    for (int j = 0; j < 16; ++j) {
      CHECK(t[j].item<float>() == 0.5f * (j - 8));
      CHECK(t[j + 16].item<float>() == 0.5f * (15 - j - 8));
    }
  }
  // Q4_1: value q*d + m.
  {
    Bytes b;
    b.put(d_half).put(m_half);
    for (int j = 0; j < 16; ++j) b.u8(static_cast<uint8_t>(((15 - j) << 4) | j));
    torch::Tensor t = GgufReader(one_block_file(3, b)).load_f32("q");
    for (int j = 0; j < 16; ++j) {
      CHECK(t[j].item<float>() == 0.5f * j - 1.0f);
      CHECK(t[j + 16].item<float>() == 0.5f * (15 - j) - 1.0f);
    }
  }
  // Q5_0: fifth bit of weight j is bit j of qh; value (q-16)*d. qh = 0xAAAAAAAA sets it for odd j.
  {
    Bytes b;
    b.put(d_half).u32(0xAAAAAAAAu);
    for (int j = 0; j < 16; ++j) b.u8(static_cast<uint8_t>(((15 - j) << 4) | j));
    torch::Tensor t = GgufReader(one_block_file(6, b)).load_f32("q");
    for (int j = 0; j < 16; ++j) {
      const int hi = (j % 2) ? 16 : 0;  // j and j+16 have the same parity
      CHECK(t[j].item<float>() == 0.5f * (j + hi - 16));
      CHECK(t[j + 16].item<float>() == 0.5f * (15 - j + hi - 16));
    }
  }
  // Q5_1: value q*d + m with the same bit layout.
  {
    Bytes b;
    b.put(d_half).put(m_half).u32(0x0000FFFFu);  // fifth bit set for weights 0..15 only
    for (int j = 0; j < 16; ++j) b.u8(static_cast<uint8_t>(((15 - j) << 4) | j));
    torch::Tensor t = GgufReader(one_block_file(7, b)).load_f32("q");
    for (int j = 0; j < 16; ++j) {
      CHECK(t[j].item<float>() == 0.5f * (j + 16) - 1.0f);
      CHECK(t[j + 16].item<float>() == 0.5f * (15 - j) - 1.0f);
    }
  }
  // Q2_K is converted since the k-quant blocks landed: an all-zero block (d = 0) reads as zeros.
  {
    Bytes f;
    f.raw("GGUF").u32(3).u64(1).u64(0);
    f.str("k").u32(1).u64(256).u32(10).u64(0);  // Q2_K: 84 bytes per 256
    f.pad_to(32).raw(std::string(84, '\0')).pad_to(32);
    const std::string p = write_case("q2k", f.b);
    GgufReader r(p);
    CHECK(r.tensor("k").nbytes == 84);
    CHECK(r.load_f32("k").abs().sum().item<float>() == 0.0f);
  }
}

namespace {

std::string one_superblock_file(const std::string& name, uint32_t type, const std::string& block) {
  Bytes f;
  f.raw("GGUF").u32(3).u64(1).u64(0);
  f.str("q").u32(1).u64(256).u32(type).u64(0);
  f.pad_to(32).raw(block).pad_to(32);
  return write_case(name, f.b);
}

// Q4_K/Q5_K scale bytes for sub-block scales sc[s] = s + 1 and mins m[s] = s (all below 16, so
// the top-2-bit fields stay zero): bytes 0-3 scales 0-3, 4-7 mins 0-3, 8-11 scale|min<<4 of 4-7.
std::string k4_scales() {
  std::string b(12, '\0');
  for (int s = 0; s < 4; ++s) {
    b[s] = static_cast<char>(s + 1);
    b[4 + s] = static_cast<char>(s);
    b[8 + s] = static_cast<char>((s + 5) | ((s + 4) << 4));
  }
  return b;
}

}  // namespace

TEST_CASE("gguf: K-quant super-blocks dequantize to hand-computed values", "[gguf]") {
  // qs: chunk c (64 weights) stores weight l in the low nibble and weight 32+l in the high one.
  std::string qs(128, '\0');
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) qs[32 * c + l] = static_cast<char>((l & 15) | (((l + c) & 15) << 4));
  }
  auto q4_value = [](int i) {  // expected Q4_K weight i with d = 1, dmin = 0.5
    const int c = i / 64, l = i % 32, s = i / 32;
    const int q = (i % 64) < 32 ? (l & 15) : ((l + c) & 15);
    return 1.0f * (s + 1) * q - 0.5f * s;
  };
  Bytes q4;
  q4.put<uint16_t>(0x3C00).put<uint16_t>(0x3800).raw(k4_scales()).raw(qs);
  REQUIRE(q4.size() == 144);
  torch::Tensor t4 = GgufReader(one_superblock_file("q4k", 12, q4.b)).load_f32("q");
  for (int i = 0; i < 256; ++i) {
    INFO("weight " << i);
    CHECK(t4[i].item<float>() == q4_value(i));
  }

  // Q5_K: the same plus a fifth bit: bit s of qh[l] for sub-block s.
  std::string qh(32, '\0');
  for (int l = 0; l < 32; ++l) qh[l] = static_cast<char>((l * 37) & 0xff);
  Bytes q5;
  q5.put<uint16_t>(0x3C00).put<uint16_t>(0x3800).raw(k4_scales()).raw(qh).raw(qs);
  REQUIRE(q5.size() == 176);
  torch::Tensor t5 = GgufReader(one_superblock_file("q5k", 13, q5.b)).load_f32("q");
  for (int i = 0; i < 256; ++i) {
    INFO("weight " << i);
    const int s = i / 32, l = i % 32;
    const int bit = (static_cast<uint8_t>(qh[l]) >> s) & 1;
    CHECK(t5[i].item<float>() == q4_value(i) + 1.0f * (s + 1) * 16 * bit);
  }
  // With no fifth bits, Q5_K equals Q4_K.
  Bytes q5z;
  q5z.put<uint16_t>(0x3C00).put<uint16_t>(0x3800).raw(k4_scales()).raw(std::string(32, '\0')).raw(qs);
  CHECK(torch::equal(GgufReader(one_superblock_file("q5kz", 13, q5z.b)).load_f32("q"), t4));

  // Q6_K: ql[128], qh[64], int8 scales[16], d. In each half n of 128 weights, weight 32*k + l
  // (k = 0..3) takes its low 4 bits from ql[64n + l + 32*(k%2)] (low nibble for k < 2, high for
  // k >= 2), its high 2 bits from bits 2k..2k+1 of qh[32n + l], scale sc[8n + l/16 + 2k].
  std::string ql(128, '\0'), qh6(64, '\0'), sc(16, '\0');
  for (int k = 0; k < 128; ++k) ql[k] = static_cast<char>((k * 29 + 3) & 0xff);
  for (int k = 0; k < 64; ++k) qh6[k] = static_cast<char>((k * 53 + 7) & 0xff);
  for (int k = 0; k < 16; ++k) sc[k] = static_cast<char>(k - 8);
  Bytes q6;
  q6.raw(ql).raw(qh6).raw(sc).put<uint16_t>(0x3800);  // d = 0.5
  REQUIRE(q6.size() == 210);
  torch::Tensor t6 = GgufReader(one_superblock_file("q6k", 14, q6.b)).load_f32("q");
  for (int n = 0; n < 2; ++n) {
    for (int k = 0; k < 4; ++k) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t lo_byte = static_cast<uint8_t>(ql[64 * n + l + 32 * (k % 2)]);
        const int lo = k < 2 ? (lo_byte & 15) : (lo_byte >> 4);
        const int hi = (static_cast<uint8_t>(qh6[32 * n + l]) >> (2 * k)) & 3;
        const int scale = static_cast<int8_t>(sc[8 * n + l / 16 + 2 * k]);
        INFO("half " << n << " quarter " << k << " weight " << l);
        CHECK(t6[128 * n + 32 * k + l].item<float>() == 0.5f * scale * ((lo | (hi << 4)) - 32));
      }
    }
  }
}
