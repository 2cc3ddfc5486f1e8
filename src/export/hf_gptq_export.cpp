#include "export/hf_gptq_export.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/regex_text.hpp"
#include "model/online_rotation.hpp"
#include "export/gptq_packing.hpp"
#include "io/atomic_file.hpp"
#include "io/staged_directory.hpp"
#include "io/gptq_dynamic.hpp"
#include "io/hf_packed_checkpoint.hpp"
#include "io/quantized_checkpoint.hpp"
#include "io/safetensors.hpp"
#include "model/architecture.hpp"
#include "model/hf_config.hpp"
#include "model/hf_export.hpp"
#include "model/model_files.hpp"

namespace ptq::exporter {

namespace fs = std::filesystem;

namespace {


// Bytes of the regular files in a directory (the export's size as reported).
uint64_t directory_bytes(const std::string& dir) {
  uint64_t n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) n += e.file_size();
  }
  return n;
}

torch::Tensor to_fp16(const torch::Tensor& t, const std::string& name) {
  auto h = t.to(torch::kFloat16);
  if (t.is_floating_point() && !torch::isfinite(h).all().item<bool>() && torch::isfinite(t).all().item<bool>()) {
    fail(name, "holds values beyond fp16's range (max 65504); it cannot be stored in fp16");
  }
  return h;
}

// Integer zero points [out, groups] as int32, checked to lie on the grid.
torch::Tensor integer_zeros(const algo::QuantizedLinear& q, const std::string& name) {
  auto z = q.zeros.to(torch::kFloat32);
  auto zr = torch::round(z);
  if (!torch::equal(z, zr)) fail(name, "zero points are not integers");
  if (zr.numel() > 0 && (zr.min().item<float>() < 0 || zr.max().item<float>() > q.grid.maxq())) {
    fail(name, "zero points outside 0.." + std::to_string(q.grid.maxq()));
  }
  return zr.to(torch::kInt32);
}

torch::Tensor fp16_scales(const algo::QuantizedLinear& q, const std::string& name) {
  auto s = q.scales.to(torch::kFloat32);
  auto h = s.to(torch::kFloat16);
  auto hf = h.to(torch::kFloat32);
  if (!torch::isfinite(hf).all().item<bool>() || ((hf == 0) & (s != 0)).any().item<bool>()) {
    fail(name, "a scale is outside fp16's range (GPTQ and AWQ store scales in fp16)");
  }
  return h.t().contiguous();  // [groups, out]
}

void check_common(const algo::QuantizedLinear& q, const std::string& name, const std::string& format) {
  if (!q.grid.is_int()) {
    fail(name, "dtype " + q.grid.dtype + " has no " + format +
                   " representation (integer grids only); export it with --format hf-fp16 or --format gguf");
  }
  if (q.codes.dim() != 2 || q.g_idx.dim() != 1 || q.g_idx.size(0) != q.in_features() || q.scales.dim() != 2 ||
      q.scales.sizes() != q.zeros.sizes() || q.scales.size(0) != q.out_features()) {
    fail(name, "codes, scales, zeros and g_idx shapes disagree");
  }
  const int64_t want = algo::num_groups(q.in_features(), q.grid);
  if (q.scales.size(1) != want) fail(name, "expected " + std::to_string(want) + " groups of scales");
}

int config_group_size(const algo::IntGrid& g) { return g.group_size > 0 ? g.group_size : -1; }

bool contiguous_groups(const algo::QuantizedLinear& q) {
  return torch::equal(q.g_idx.to(torch::kInt32), algo::contiguous_g_idx(q.in_features(), q.grid));
}

// The relative module name in a block ("mlp.down_proj") of a full weight name, or "".
std::string block_module(const std::string& weight_name) {
  const std::string b = io::layer_base_name(weight_name), p = "model.layers.";
  if (b.rfind(p, 0) != 0) return "";
  const auto dot = b.find('.', p.size());
  return dot == std::string::npos ? "" : b.substr(dot + 1);
}

void copy_tokenizer(const model::WeightSource& src, const HfExportOptions& opt, const std::string& dir, HfExportResult& res) {
  std::string tok = opt.tokenizer;
  if (tok.empty()) {
    if (fs::is_directory(src.path())) {
      tok = src.path();
    } else {
      try {
        tok = model::find_tokenizer(src.path(), src.config().vocab_size);
      } catch (const Error& e) {
        res.notes.push_back(std::string("no tokenizer copied: ") + e.what());
        return;
      }
    }
  }
  if (!fs::exists(tok)) fail(tok, "tokenizer not found");
  model::copy_tokenizer_files(tok, dir);
  if (fs::is_directory(tok)) {
    for (const char* name : {"special_tokens_map.json", "generation_config.json"}) {
      if (fs::exists(fs::path(tok) / name)) fs::copy_file(fs::path(tok) / name, fs::path(dir) / name, fs::copy_options::overwrite_existing);
    }
  }
  res.tokenizer = tok;
}

}  // namespace

std::string packed_shape_misfit(const std::string& format, int bits, int group_size, int64_t in, int64_t out) {
  const std::string in_s = std::to_string(in), out_s = std::to_string(out);
  if (group_size > 0 && in % group_size != 0) {
    return "in_features = " + in_s + " is not a multiple of the group size " + std::to_string(group_size) +
           " (a partial last group, which vLLM's " + format + " layers refuse)";
  }
  if (format == "awq") {
    if (out % 8 != 0) return "out_features = " + out_s + " is not a multiple of 8 (AWQ packs 8 output columns per word)";
    return "";
  }
  const int64_t m = gptq_pack_multiple(bits);
  const std::string how = bits == 3 ? " (3-bit GPTQ packs 32 rows into 3 words)"
                                    : " (" + std::to_string(bits) + "-bit GPTQ packs " + std::to_string(m) + " per word)";
  if (in % m != 0) return "in_features = " + in_s + " is not a multiple of " + std::to_string(m) + how;
  if (out % m != 0) return "out_features = " + out_s + " is not a multiple of " + std::to_string(m) + " for qzeros" + how;
  return "";
}

PackedLayer pack_gptq_layer(const algo::QuantizedLinear& q, const std::string& name, bool v2) {
  check_common(q, name, "GPTQ");
  const int bits = q.grid.bits;
  if (bits != 2 && bits != 3 && bits != 4 && bits != 8) {
    fail(name, std::to_string(bits) + "-bit codes: GPTQ checkpoints hold 2, 3, 4 or 8 bits");
  }
  const std::string misfit = packed_shape_misfit("gptq", bits, q.grid.group_size, q.in_features(), q.out_features());
  if (!misfit.empty()) fail(name, misfit);
  auto z = integer_zeros(q, name);  // [out, groups]
  if (!v2) {
    if (z.numel() > 0 && z.min().item<int>() == 0) {
      const auto at = torch::nonzero(z == 0)[0];
      fail(name, "zero point 0 (output row " + std::to_string(at[0].item<int64_t>()) + ", group " +
                     std::to_string(at[1].item<int64_t>()) +
                     ") cannot be stored in GPTQ v1, whose qzeros hold zero - 1 (it would wrap); quantize with a "
                     "symmetric grid (--sym) or export with --checkpoint-format gptq_v2");
    }
    z = z - 1;
  }
  PackedLayer p;
  p.qweight = pack_gptq(q.codes.t(), bits, 0);  // [in * bits / 32, out]
  p.qzeros = pack_gptq(z.t(), bits, 1);         // [groups, out * bits / 32]
  p.scales = fp16_scales(q, name);              // [groups, out]
  p.g_idx = q.g_idx.to(torch::kInt32).contiguous();
  return p;
}

PackedLayer pack_awq_layer(const algo::QuantizedLinear& q, const std::string& name) {
  check_common(q, name, "AWQ");
  if (q.grid.bits != 4) fail(name, std::to_string(q.grid.bits) + "-bit codes: AWQ's gemm format holds 4 bits only (use --format gptq)");
  if (q.grid.group_size <= 0) {
    fail(name, "per-channel / per-tensor grid: AWQ checkpoints need a group size (quantize with --group-size, e.g. 128, or use --format gptq)");
  }
  if (!contiguous_groups(q)) {
    fail(name, "act-order (non-contiguous g_idx): AWQ checkpoints have no g_idx; quantize without --act-order or use --format gptq");
  }
  const std::string misfit = packed_shape_misfit("awq", 4, q.grid.group_size, q.in_features(), q.out_features());
  if (!misfit.empty()) fail(name, misfit);
  auto z = integer_zeros(q, name);
  PackedLayer p;
  p.qweight = pack_awq(q.codes.t());  // [in, out / 8]
  p.qzeros = pack_awq(z.t());         // [groups, out / 8]
  p.scales = fp16_scales(q, name);
  return p;
}

HfExportResult export_hf(const model::WeightSource& src, const std::string& out_dir, const HfExportOptions& opt) {
  torch::NoGradGuard no_grad;
  model::refuse_online_rotations(src, "Hugging Face export (" + opt.format + ")");
  const std::string& format = opt.format;
  if (format != "gptq" && format != "awq" && format != "hf-fp16") {
    fail("--format", "'" + format + "' is not one of gptq, awq, hf-fp16");
  }
  if (opt.checkpoint_format != "gptq" && opt.checkpoint_format != "gptq_v2") {
    fail("--checkpoint-format", "'" + opt.checkpoint_format + "' is not one of gptq, gptq_v2");
  }
  if (opt.checkpoint_format != "gptq" && format != "gptq") fail("--checkpoint-format", "applies to --format gptq only");
  if (opt.unaligned != "fail" && opt.unaligned != "fp16") fail("--unaligned", "'" + opt.unaligned + "' is not one of fail, fp16");
  if (out_dir.empty()) fail("export", "no output directory given (--out)");
  {
    std::error_code ec;
    if (fs::exists(out_dir) && fs::equivalent(out_dir, src.path(), ec)) fail(out_dir, "the output would replace the source model");
  }
  const bool packed = format != "hf-fp16";
  const bool v2 = opt.checkpoint_format == "gptq_v2";
  const auto infos = src.tensors();

  // Tensors by shard: one per decoder layer, then the rest.
  const auto& cfg_in = src.config();
  std::vector<std::vector<std::string>> shards(cfg_in.num_layers + 1);
  int n_quantized = 0;
  for (const auto& t : infos) {
    int layer = cfg_in.num_layers;
    const std::string p = "model.layers.";
    if (t.name.rfind(p, 0) == 0) {
      const int L = std::atoi(t.name.c_str() + p.size());
      if (L >= 0 && L < cfg_in.num_layers) layer = L;
    }
    shards[layer].push_back(t.name);
    if (io::has_quantized_layer(src, t.name)) ++n_quantized;
  }
  shards.erase(std::remove_if(shards.begin(), shards.end(), [](const auto& s) { return s.empty(); }), shards.end());
  if (packed && n_quantized == 0) {
    fail(src.path(), "has no quantized layers: quantize it first (ptq quantize ... --out DIR; then ptq export -m DIR), "
                     "or export full precision with --format hf-fp16");
  }

  HfExportResult res;
  const nlohmann::json* src_q = io::source_quantization_config(src);
  if (src_q && src_q->contains("activation")) {
    res.notes.push_back("activation quantization (" + (*src_q)["activation"].dump() +
                        ") is not part of the export: the weights only");
  }
  fs::create_directories(fs::absolute(out_dir).parent_path());
  io::StagedDirectory stage(out_dir, "export (" + format + ")", {src.path()});

  // Properties gathered over the layers for the config.
  bool have_grid = false, desc_act = false, centered = true;
  algo::IntGrid grid;
  std::string grid_layer;
  std::map<std::string, int> kept_by_module, packed_by_module;
  std::map<std::string, algo::IntGrid> module_grids;  // packed layers' grids, by module name

  nlohmann::json weight_map = nlohmann::json::object();
  char shard_name[64];
  for (size_t s = 0; s < shards.size(); ++s) {
    std::snprintf(shard_name, sizeof(shard_name), "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
    io::SafetensorsWriter w;
    w.set_metadata("format", "pt");
    for (const std::string& name : shards[s]) {
      if (!packed || !io::has_quantized_layer(src, name)) {
        w.add(name, to_fp16(src.load(name), src.path() + ": " + name));
        weight_map[name] = shard_name;
        continue;
      }
      const std::string b = io::layer_base_name(name);
      const auto q = io::quantized_layer(src, name);
      // GPTQ holds per-module bits and group sizes (GPTQModel's "dynamic" rules); AWQ one grid.
      const bool grid_differs = q.grid.bits != grid.bits || config_group_size(q.grid) != config_group_size(grid);
      if (q.grid.is_int() && have_grid && (q.grid.sym != grid.sym || (format == "awq" && grid_differs))) {
        fail(b, "its grid (" + std::to_string(q.grid.bits) + " bits, group " + std::to_string(config_group_size(q.grid)) +
                    (q.grid.sym ? ", sym" : ", asym") + ") differs from " + grid_layer + "'s: " +
                    (format == "awq" ? "an AWQ checkpoint has one grid (use --format gptq for mixed precision)"
                                     : "one checkpoint has one symmetry"));
      }
      if (q.grid.is_int() && !have_grid) have_grid = true, grid = q.grid, grid_layer = b;
      // Grid-level refusals (dtype, bits, AWQ's act-order and per-channel) whatever --unaligned says:
      // the packers throw them, naming the layer.
      const int bits = q.grid.bits;
      const bool grid_ok = q.grid.is_int() && (format == "awq" ? bits == 4 && q.grid.group_size > 0 && contiguous_groups(q)
                                                               : bits == 2 || bits == 3 || bits == 4 || bits == 8);
      if (!grid_ok && format == "awq") pack_awq_layer(q, b);
      if (!grid_ok && format == "gptq") pack_gptq_layer(q, b, v2);
      const std::string misfit = packed_shape_misfit(format, bits, q.grid.group_size, q.in_features(), q.out_features());
      if (!misfit.empty() && opt.unaligned == "fp16") {
        w.add(name, to_fp16(q.dequantize(), b));
        weight_map[name] = shard_name;
        res.kept_fp16.push_back(b);
        ++kept_by_module[block_module(name)];
        continue;
      }
      if (!misfit.empty()) fail(b, misfit + "; --unaligned fp16 keeps such layers in fp16 (dequantized)");
      const PackedLayer p = format == "awq" ? pack_awq_layer(q, b) : pack_gptq_layer(q, b, v2);
      w.add(b + ".qweight", p.qweight);
      w.add(b + ".qzeros", p.qzeros);
      w.add(b + ".scales", p.scales);
      weight_map[b + ".qweight"] = weight_map[b + ".qzeros"] = weight_map[b + ".scales"] = shard_name;
      if (p.g_idx.defined()) {
        w.add(b + ".g_idx", p.g_idx);
        weight_map[b + ".g_idx"] = shard_name;
        if (!contiguous_groups(q)) desc_act = true;
      }
      if (q.grid.sym) {
        auto z = q.zeros.to(torch::kFloat32);
        centered = centered && torch::all(z == double(1 << (q.grid.bits - 1))).item<bool>();
      }
      ++packed_by_module[block_module(name)];
      module_grids[b] = q.grid;
      ++res.quantized_layers;
    }
    w.write(stage.file(shard_name));
  }

  if (packed && res.quantized_layers == 0) {
    fail(src.path(), "no layer fits the " + format + " format (all would stay in fp16): " + res.kept_fp16.front());
  }
  // Layers kept in fp16 must be the same modules in every block (the configs name them per block).
  std::vector<std::string> kept_modules;
  for (const auto& [m, n] : kept_by_module) {
    if (m.empty() || packed_by_module.count(m)) {
      fail(res.kept_fp16.front(), "kept in fp16 but other layers of the same module are packed: the config cannot name it");
    }
    kept_modules.push_back(m);
  }

  nlohmann::json qc = nullptr;
  if (packed) {
    // The config's grid: the one most packed layers have; the others get "dynamic" rules.
    std::map<std::pair<int, int>, int> grid_count;
    for (const auto& [m, g] : module_grids) {
      if (++grid_count[{g.bits, g.group_size}] > grid_count[{grid.bits, grid.group_size}]) grid = g;
    }
    const nlohmann::json mixed_rules = io::dynamic_rules(module_grids, grid, true);
    const int gs = config_group_size(grid);
    if (format == "gptq") {
      const bool sym = grid.sym && centered;
      qc = {{"quant_method", "gptq"}, {"bits", grid.bits}, {"group_size", gs}, {"desc_act", desc_act},
            {"sym", sym}, {"checkpoint_format", opt.checkpoint_format}, {"static_groups", false},
            {"true_sequential", false}, {"lm_head", false}, {"meta", {{"quantizer", {std::string("ptq:") + PTQ_VERSION}}}}};
      if (src_q) {
        if (src_q->value("quant_method", "") == "gptq") {  // a GPTQ checkpoint re-exported: keep its provenance
          for (const char* k : {"damp_percent", "true_sequential", "static_groups"}) {
            if (src_q->contains(k)) qc[k] = (*src_q)[k];
          }
        } else if (src_q->value("algorithm", "") == "gptq") {
          const auto opts = src_q->value("algorithm_options", nlohmann::json::object());
          if (opts.contains("damp_percent")) qc["damp_percent"] = opts["damp_percent"];
          if (opts.contains("static_groups")) qc["static_groups"] = opts["static_groups"];
          const auto cal = src_q->value("calibration", nlohmann::json::object());
          if (cal.contains("true_sequential")) qc["true_sequential"] = cal["true_sequential"];
        }
      }
      if (!kept_modules.empty()) {
        // transformers (optimum): the modules of a block to quantize, by true-sequential stage;
        // GPTQModel and vLLM: "dynamic" rules, "-:" = not quantized.
        std::map<int, nlohmann::json> stages;
        for (const auto& spec : model::block_linears()) {
          if (!kept_by_module.count(spec.name)) {
            stages[spec.stage].push_back(spec.name);
          }
        }
        nlohmann::json mods = nlohmann::json::array(), dynamic = nlohmann::json::object();
        for (const auto& [stage_i, names] : stages) mods.push_back(names);
        for (const auto& m : kept_modules) dynamic["-:.*\\." + regex_escape(m) + "$"] = nlohmann::json::object();
        qc["modules_in_block_to_quantize"] = mods;
        qc["dynamic"] = dynamic;
      }
      if (!mixed_rules.empty()) {
        if (!qc.contains("dynamic")) qc["dynamic"] = nlohmann::json::object();
        qc["dynamic"].update(mixed_rules);
      }
      io::write_file_atomically(stage.file("quantize_config.json"), qc.dump(2) + "\n");
    } else {
      qc = {{"quant_method", "awq"}, {"bits", 4}, {"group_size", gs}, {"zero_point", true}, {"version", "gemm"},
            {"modules_to_not_convert", kept_modules.empty() ? nlohmann::json(nullptr) : nlohmann::json(kept_modules)}};
    }
  }
  res.quantization_config = qc;

  nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", weight_map}};
  io::write_file_atomically(stage.file("model.safetensors.index.json"), index.dump(2) + "\n");
  model::ModelConfig cfg = cfg_in;
  cfg.torch_dtype = "float16";
  auto cj = nlohmann::json::parse(model::write_hf_config(cfg));
  if (packed) cj["quantization_config"] = qc;
  io::write_file_atomically(stage.file("config.json"), cj.dump(2) + "\n");
  copy_tokenizer(src, opt, stage.dir(), res);
  res.bytes = directory_bytes(stage.dir());
  stage.commit();
  return res;
}

}  // namespace ptq::exporter
