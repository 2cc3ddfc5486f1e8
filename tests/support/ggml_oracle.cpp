// llama.cpp's own block quantizers, run in a process of their own: node-llama-cpp ships llama.cpp's
// libggml-base.so (the code llama-quantize runs), and dlopen()ing it into a test executable aborts in
// its static initialisation, so the export tests call this small program instead. No LibTorch here.
//   ggml_oracle LIB quantize TYPE ROWS N_PER_ROW IN.f32 IMPORTANCE.f32|- OUT.bin
//   ggml_oracle LIB dequantize TYPE COUNT IN.bin OUT.f32
// TYPE is ggml's name (q4_0, q4_K, ...). Exit 0 on success; errors go to stderr.
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using QuantizeFn = size_t (*)(const float*, void*, int64_t, int64_t, const float*);
using DequantizeFn = void (*)(const void*, float*, int64_t);

int fail(const std::string& what) {
  std::fprintf(stderr, "ggml_oracle: %s\n", what.c_str());
  return 1;
}

bool read_file(const std::string& path, std::vector<char>& out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  std::fseek(f, 0, SEEK_END);
  out.resize(static_cast<size_t>(std::ftell(f)));
  std::fseek(f, 0, SEEK_SET);
  const bool ok = std::fread(out.data(), 1, out.size(), f) == out.size();
  std::fclose(f);
  return ok;
}

bool write_file(const std::string& path, const void* data, size_t n) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(data, 1, n, f) == n;
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return fail("usage: ggml_oracle LIB quantize|dequantize TYPE ...");
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!lib) return fail(std::string("dlopen: ") + dlerror());
  const std::string mode = argv[2], type = argv[3];
  if (mode == "quantize" && argc == 9) {
    const auto quantize = reinterpret_cast<QuantizeFn>(dlsym(lib, ("quantize_" + type).c_str()));
    if (!quantize) return fail("no quantize_" + type + " in " + argv[1]);
    const int64_t rows = std::atoll(argv[4]), n = std::atoll(argv[5]);
    std::vector<char> x, imp;
    if (!read_file(argv[6], x) || x.size() != size_t(rows * n) * sizeof(float)) return fail(std::string("bad input ") + argv[6]);
    const bool weighted = std::string(argv[7]) != "-";
    if (weighted && (!read_file(argv[7], imp) || imp.size() != size_t(n) * sizeof(float))) {
      return fail(std::string("bad importance ") + argv[7]);
    }
    std::vector<char> out(x.size() * 2 + 1024);  // any block type is smaller than 2x f32
    const size_t bytes = quantize(reinterpret_cast<const float*>(x.data()), out.data(), rows, n,
                                  weighted ? reinterpret_cast<const float*>(imp.data()) : nullptr);
    return write_file(argv[8], out.data(), bytes) ? 0 : fail(std::string("cannot write ") + argv[8]);
  }
  if (mode == "dequantize" && argc == 7) {
    const auto dequantize = reinterpret_cast<DequantizeFn>(dlsym(lib, ("dequantize_row_" + type).c_str()));
    if (!dequantize) return fail("no dequantize_row_" + type + " in " + argv[1]);
    const int64_t count = std::atoll(argv[4]);
    std::vector<char> in;
    if (!read_file(argv[5], in)) return fail(std::string("cannot read ") + argv[5]);
    std::vector<float> out(static_cast<size_t>(count));
    dequantize(in.data(), out.data(), count);
    return write_file(argv[6], out.data(), out.size() * sizeof(float)) ? 0 : fail(std::string("cannot write ") + argv[6]);
  }
  return fail("bad arguments for " + mode);
}
