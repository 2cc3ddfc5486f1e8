// io::GgufWriter read back by io::GgufReader: every metadata value type, arrays, tensor infos and
// data, alignment, determinism, and that a failure leaves no file.
#include <catch2/catch.hpp>

#include <filesystem>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/gguf.hpp"
#include "io/gguf_writer.hpp"
#include "support/shared_data.hpp"

using namespace ptq;
using io::GgmlType;
using io::GgufValueType;
namespace fs = std::filesystem;

namespace {

io::GgufWriter sample_writer(uint32_t alignment = 32) {
  io::GgufWriter w(alignment);
  w.add_u8("t.u8", 250);
  w.add_i8("t.i8", -100);
  w.add_u16("t.u16", 65000);
  w.add_i16("t.i16", -32000);
  w.add_u32("t.u32", 4000000000u);
  w.add_i32("t.i32", -2000000000);
  w.add_u64("t.u64", 1ull << 40);
  w.add_i64("t.i64", -(1ll << 40));
  w.add_f32("t.f32", 0.25f);
  w.add_f64("t.f64", 1e-300);
  w.add_bool("t.bool", true);
  w.add_string("t.str", "h\xC3\xA9llo \xE2\x96\x81world");
  w.add_string_array("t.strs", {"<unk>", "", "\xE2\x96\x81the"});
  w.add_f32_array("t.f32s", {1.5f, -2.0f});
  w.add_i32_array("t.i32s", {7, -8, 9});
  const uint16_t u16s[] = {1, 2, 65535};
  w.add_array("t.u16s", GgufValueType::UINT16, u16s, 3);
  w.add_tensor("a", {3}, GgmlType::F32);          // 12 bytes, then padding to 32
  w.add_tensor("b", {32, 2}, GgmlType::Q8_0);     // 2 blocks = 68 bytes
  w.add_tensor("c", {5, 2}, GgmlType::F16);       // 20 bytes
  return w;
}

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + 3 * i);
  return v;
}

}  // namespace

TEST_CASE("GgufWriter: every value type and tensor reads back", "[export][gguf_writer]") {
  const std::string dir = test::scratch_dir("gguf-writer");
  const std::string path = dir + "/t.gguf";
  const io::GgufWriter w = sample_writer();
  const uint64_t size = w.write(path, [](size_t i, const io::GgufWriter::Tensor& t) { return pattern(t.nbytes, uint8_t(i)); });
  CHECK(size == fs::file_size(path));

  io::GgufReader r(path);
  CHECK(r.version() == 3);
  CHECK(r.alignment() == 32);
  CHECK(r.data_offset() % 32 == 0);
  CHECK_FALSE(r.has("general.alignment"));
  CHECK(r.keys().front() == "t.u8");
  CHECK(r.type("t.u8") == GgufValueType::UINT8);
  CHECK(r.get_int("t.u8") == 250);
  CHECK(r.type("t.i8") == GgufValueType::INT8);
  CHECK(r.get_int("t.i8") == -100);
  CHECK(r.get_int("t.u16") == 65000);
  CHECK(r.type("t.i16") == GgufValueType::INT16);
  CHECK(r.get_int("t.i16") == -32000);
  CHECK(r.get_int("t.u32") == 4000000000ll);
  CHECK(r.get_int("t.i32") == -2000000000);
  CHECK(r.type("t.u64") == GgufValueType::UINT64);
  CHECK(r.get_int("t.u64") == (1ll << 40));
  CHECK(r.get_int("t.i64") == -(1ll << 40));
  CHECK(r.type("t.f32") == GgufValueType::FLOAT32);
  CHECK(r.get_float("t.f32") == 0.25);
  CHECK(r.type("t.f64") == GgufValueType::FLOAT64);
  CHECK(r.get_float("t.f64") == 1e-300);
  CHECK(r.get_bool("t.bool"));
  CHECK(r.get_string("t.str") == "h\xC3\xA9llo \xE2\x96\x81world");
  CHECK(r.array_type("t.strs") == GgufValueType::STRING);
  CHECK(r.get_string_array("t.strs") == std::vector<std::string>{"<unk>", "", "\xE2\x96\x81the"});
  CHECK(r.get_float_array("t.f32s") == std::vector<double>{1.5, -2.0});
  CHECK(r.array_type("t.i32s") == GgufValueType::INT32);
  CHECK(r.get_int_array("t.i32s") == std::vector<int64_t>{7, -8, 9});
  CHECK(r.array_type("t.u16s") == GgufValueType::UINT16);
  CHECK(r.get_int_array("t.u16s") == std::vector<int64_t>{1, 2, 65535});

  REQUIRE(r.tensors().size() == 3);
  const auto& a = r.tensor("a");
  const auto& b = r.tensor("b");
  const auto& c = r.tensor("c");
  CHECK(a.dims == std::vector<int64_t>{3});
  CHECK(a.type_name == "F32");
  CHECK(b.dims == std::vector<int64_t>{32, 2});
  CHECK(b.type_name == "Q8_0");
  CHECK(b.nbytes == 68);
  CHECK(c.type_name == "F16");
  CHECK(c.shape() == std::vector<int64_t>{2, 5});
  CHECK(a.offset == r.data_offset());
  CHECK(b.offset == r.data_offset() + 32);   // 12 bytes padded to 32
  CHECK(c.offset == r.data_offset() + 128);  // 32 + 68 padded to 96 -> 128
  for (size_t i = 0; i < 3; ++i) {
    const auto& t = r.tensors()[i];
    const std::vector<uint8_t> expect = pattern(t.nbytes, uint8_t(i));
    CHECK(std::equal(expect.begin(), expect.end(), r.tensor_data(t.name)));
  }
  CHECK(fs::file_size(path) == r.data_offset() + 128 + 32);  // the last tensor is padded too

  SECTION("the same calls give the same bytes") {
    const std::string again = dir + "/again.gguf";
    sample_writer().write(again, [](size_t i, const io::GgufWriter::Tensor& t) { return pattern(t.nbytes, uint8_t(i)); });
    CHECK(io::read_text_file(again) == io::read_text_file(path));
  }
}

TEST_CASE("GgufWriter: another alignment is recorded as general.alignment", "[export][gguf_writer]") {
  const std::string path = test::scratch_dir("gguf-writer-align") + "/t.gguf";
  sample_writer(64).write(path, [](size_t, const io::GgufWriter::Tensor& t) { return pattern(t.nbytes, 1); });
  io::GgufReader r(path);
  CHECK(r.get_int("general.alignment") == 64);
  CHECK(r.alignment() == 64);
  CHECK(r.data_offset() % 64 == 0);
  CHECK(r.tensor("b").offset == r.data_offset() + 64);
  CHECK_THROWS_AS(io::GgufWriter(48), Error);
}

TEST_CASE("GgufWriter: bad declarations and failed writes leave no file", "[export][gguf_writer]") {
  const std::string dir = test::scratch_dir("gguf-writer-bad");
  io::GgufWriter w;
  w.add_u32("k", 1);
  CHECK_THROWS_WITH(w.add_u32("k", 2), Catch::Contains("'k'") && Catch::Contains("twice"));
  CHECK_THROWS_AS(w.add_array("arr", GgufValueType::STRING, nullptr, 0), Error);
  CHECK_THROWS_WITH(w.add_tensor("blk.0.ffn_down.weight", {172, 64}, GgmlType::Q8_0),
                    Catch::Contains("blk.0.ffn_down.weight") && Catch::Contains("172") && Catch::Contains("32"));
  CHECK_THROWS_AS(w.add_tensor("z", {0}, GgmlType::F32), Error);
  w.add_tensor("t", {64}, GgmlType::F32);
  CHECK_THROWS_AS(w.add_tensor("t", {64}, GgmlType::F32), Error);

  const std::string path = dir + "/bad.gguf";
  CHECK_THROWS_WITH(w.write(path, [](size_t, const io::GgufWriter::Tensor&) { return std::vector<uint8_t>(10); }),
                    Catch::Contains("'t'") && Catch::Contains("256"));
  CHECK_THROWS_WITH(w.write(path, [](size_t, const io::GgufWriter::Tensor&) -> std::vector<uint8_t> { throw Error("boom"); }),
                    Catch::Contains("boom"));
  CHECK_FALSE(fs::exists(path));
  CHECK(fs::is_empty(dir));  // no temporary file either
}
