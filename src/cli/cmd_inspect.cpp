// ptq inspect: what a model file or directory holds: architecture, tensors, dtypes, shapes, sizes.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"
#include "io/gguf.hpp"
#include "io/safetensors.hpp"
#include "model/weight_source.hpp"

namespace ptq::cli {

namespace fs = std::filesystem;

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out;
  for (auto d : s) out += (out.empty() ? "" : " x ") + std::to_string(d);
  return out.empty() ? "scalar" : out;
}

std::string human(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) bytes /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
  return buf;
}

void print_tensors(const std::vector<model::TensorInfo>& ts) {
  uint64_t params = 0, bytes = 0;
  std::printf("%-52s %-6s %-16s %12s\n", "tensor", "dtype", "shape", "size");
  for (const auto& t : ts) {
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    params += n;
    bytes += t.nbytes;
    std::printf("%-52s %-6s %-16s %12s\n", t.name.c_str(), t.dtype.c_str(), shape_str(t.shape).c_str(),
                human(double(t.nbytes)).c_str());
  }
  std::printf("%zu tensors, %llu parameters, %s (%.3f bits per weight)\n", ts.size(),
              static_cast<unsigned long long>(params), human(double(bytes)).c_str(),
              params ? 8.0 * double(bytes) / double(params) : 0.0);
}

void inspect_model(const model::WeightSource& src) {
  const auto& c = src.config();
  std::printf("format        %s\npath          %s\narchitecture  %s\n", src.format().c_str(), src.path().c_str(),
              c.architecture.c_str());
  std::printf("hidden %d, intermediate %d, layers %d, heads %d, kv heads %d, head_dim %d, vocab %d\n",
              c.hidden_size, c.intermediate_size, c.num_layers, c.num_heads, c.num_kv_heads, c.head_dim,
              c.vocab_size);
  std::printf("max positions %d, rope theta %g, rms eps %g, tied embeddings %s, qkv bias %s, dtype %s\n\n",
              c.max_position_embeddings, c.rope_theta, c.rms_norm_eps, c.tie_word_embeddings ? "yes" : "no",
              c.attention_bias ? "yes" : "no", c.torch_dtype.c_str());
  print_tensors(src.tensors());
}

}  // namespace

void add_inspect(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("inspect", "Show a model's architecture and tensors");
  cmd->add_option("path", *path, "HF directory, .safetensors, .gguf or llama2.c .bin")->required();
  cmd->callback([path] {
    const auto ext = fs::path(*path).extension().string();
    if (ext == ".safetensors") {
      io::SafetensorsReader r(*path);
      std::vector<model::TensorInfo> ts;
      for (const auto& n : r.names()) {
        const auto& i = r.info(n);
        ts.push_back({n, i.dtype, i.shape, i.nbytes});
      }
      std::printf("format        safetensors\npath          %s\n", path->c_str());
      for (const auto& [k, v] : r.metadata()) std::printf("metadata      %s = %s\n", k.c_str(), v.c_str());
      std::printf("\n");
      print_tensors(ts);
      return;
    }
    if (ext == ".gguf") {
      io::GgufReader g(*path);
      const bool is_model = g.has("general.architecture") && !g.tensors().empty();
      std::printf("GGUF v%u, %zu metadata keys, %zu tensors\n", g.version(), g.keys().size(), g.tensors().size());
      for (const auto& k : g.keys()) std::printf("  %-40s %s\n", k.c_str(), g.describe(k).c_str());
      std::printf("\n");
      if (!is_model) return;
    }
    inspect_model(*model::open_weights(*path));
  });
}

}  // namespace ptq::cli
