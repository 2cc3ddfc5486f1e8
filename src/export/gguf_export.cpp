#include "export/gguf_export.hpp"

#include <filesystem>
#include <map>

#include "algorithms/ggml/ggml_gptq.hpp"
#include "calibration/stats_store.hpp"
#include "core/error.hpp"
#include "export/gguf_importance.hpp"
#include "export/gguf_type_plan.hpp"
#include "ggml/ggml_rows.hpp"
#include "ggml/ggml_types.hpp"
#include "io/gguf_model.hpp"
#include "io/gguf_writer.hpp"
#include "io/rotary_layout.hpp"
#include "model/model_files.hpp"
#include "model/online_rotation.hpp"
#include "tokenizer/llama2c_tokenizer.hpp"
#include "tokenizer/sentencepiece_tokenizer.hpp"
#include "tokenizer/spm_gguf_vocab.hpp"

namespace ptq::exporter {

namespace fs = std::filesystem;
using io::GgmlType;

namespace {

// The parts of a decoder layer under llama.cpp's names, in llama.cpp's order; the Hugging Face names
// come from io::gguf_to_hf_name, so the two directions share one table.
constexpr const char* kLayerParts[] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                       "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"};

struct Planned {
  std::string gguf, hf;
  int rotary_heads = 0;  // > 0: q/k rows to move back to the interleaved layout
};

std::vector<Planned> plan_tensors(const model::WeightSource& src) {
  const model::ModelConfig& c = src.config();
  std::vector<Planned> out;
  auto add = [&](const std::string& gguf, int rotary_heads) {
    out.push_back({gguf, io::gguf_to_hf_name(gguf), rotary_heads});
  };
  add("token_embd.weight", 0);
  for (int l = 0; l < c.num_layers; ++l) {
    for (const std::string part : kLayerParts) {
      const int heads = part == "attn_q" ? c.num_heads : part == "attn_k" ? c.num_kv_heads : 0;
      add("blk." + std::to_string(l) + "." + part + ".weight", heads);
    }
  }
  add("output_norm.weight", 0);
  if (src.has("lm_head.weight")) add("output.weight", 0);  // else tied: llama.cpp reuses token_embd
  for (const Planned& t : out) {
    if (!src.has(t.hf)) fail(src.path(), "tensor '" + t.hf + "' (GGUF '" + t.gguf + "') is missing");
  }
  return out;
}

tok::SpmVocab load_vocab(const std::string& path, int vocab_size) {
  fs::path p(path);
  if (fs::is_directory(p)) {  // a Hugging Face directory (ptq convert writes tokenizer.bin into it)
    if (fs::exists(p / "tokenizer.model")) {
      p /= "tokenizer.model";
    } else if (fs::exists(p / "tokenizer.bin")) {
      p /= "tokenizer.bin";
    } else {
      fail(path, "GGUF export needs a SentencePiece vocabulary (tokenizer.model or tokenizer.bin); "
                 "byte-level BPE tokenizer.json vocabularies are not exported yet");
    }
  }
  const std::string ext = p.extension().string();
  if (ext == ".model") return tok::SentencePieceTokenizer(p.string()).vocab();
  if (ext == ".gguf") return tok::load_gguf_spm_vocab(io::GgufReader(p.string()));
  if (ext == ".json") fail(path, "byte-level BPE vocabularies are not exported to GGUF yet");
  return tok::load_llama2c_vocab(p.string(), vocab_size);
}

// "model.layers.0.self_attn.q_proj.weight" -> "model.layers.0.self_attn.q_proj" (statistics' key).
std::string linear_name(const std::string& hf) {
  const std::string suffix = ".weight";
  return hf.size() > suffix.size() && hf.compare(hf.size() - suffix.size(), suffix.size(), suffix) == 0
             ? hf.substr(0, hf.size() - suffix.size())
             : hf;
}

}  // namespace

GgmlType gguf_export_type(const std::string& name) { return gguf_block_type(name); }

GgufExportResult export_gguf(const model::WeightSource& src, const std::string& out, const GgufExportOptions& opt) {
  const model::ModelConfig& c = src.config();
  model::refuse_online_rotations(src, "GGUF export (llama.cpp)");
  const GgufTypeScheme scheme = gguf_type_scheme(opt.type);
  if (!opt.fallback.empty()) {
    const GgmlType fallback = gguf_block_type(opt.fallback);
    if (fallback != GgmlType::F16 && fallback != GgmlType::F32) {
      throw Error("GGUF fallback type '" + opt.fallback + "' must be f16 or f32");
    }
  }
  std::vector<TypeOverride> overrides;
  for (const std::string& o : opt.overrides) overrides.push_back(parse_type_override(o));
  if (c.architecture != "LlamaForCausalLM" && c.architecture != "MistralForCausalLM") {
    fail(src.path(), "architecture " + c.architecture + " cannot be exported to GGUF (only llama-architecture "
                     "models: LlamaForCausalLM, MistralForCausalLM)");
  }
  if (c.attention_bias) fail(src.path(), "q/k/v biases are not part of GGUF's llama architecture");

  GgufExportResult res;
  res.tokenizer = opt.tokenizer.empty() ? model::find_tokenizer(src.path(), c.vocab_size) : opt.tokenizer;
  const tok::SpmVocab vocab = load_vocab(res.tokenizer, c.vocab_size);
  if (vocab.size() != c.vocab_size) {
    fail(res.tokenizer, "vocabulary has " + std::to_string(vocab.size()) + " tokens but the model has " +
                            std::to_string(c.vocab_size));
  }

  io::GgufWriter w;
  w.add_string("general.architecture", "llama");
  w.add_string("general.name", opt.name.empty() ? fs::path(src.path()).stem().string() : opt.name);
  w.add_u32("general.file_type", scheme.file_type);
  if (scheme.base != GgmlType::F32 && scheme.base != GgmlType::F16) w.add_u32("general.quantization_version", 2);
  std::vector<std::pair<const char*, int>> hparams = {
      {"llama.context_length", c.max_position_embeddings}, {"llama.embedding_length", c.hidden_size},
      {"llama.block_count", c.num_layers},                 {"llama.feed_forward_length", c.intermediate_size},
      {"llama.attention.head_count", c.num_heads},         {"llama.attention.head_count_kv", c.num_kv_heads}};
  if (c.head_dim * c.num_heads != c.hidden_size) {  // llama.cpp assumes hidden / heads otherwise
    hparams.push_back({"llama.attention.key_length", c.head_dim});
    hparams.push_back({"llama.attention.value_length", c.head_dim});
  }
  for (const auto& [key, v] : hparams) w.add_u32(key, static_cast<uint32_t>(v));
  w.add_u32("llama.rope.dimension_count", static_cast<uint32_t>(c.head_dim));
  w.add_f32("llama.rope.freq_base", static_cast<float>(c.rope_theta));
  w.add_f32("llama.attention.layer_norm_rms_epsilon", static_cast<float>(c.rms_norm_eps));
  w.add_u32("llama.vocab_size", static_cast<uint32_t>(c.vocab_size));

  std::vector<int32_t> types(vocab.types.size());
  for (size_t i = 0; i < types.size(); ++i) types[i] = static_cast<int32_t>(vocab.types[i]);
  w.add_string("tokenizer.ggml.model", "llama");
  w.add_string_array("tokenizer.ggml.tokens", vocab.pieces);
  w.add_f32_array("tokenizer.ggml.scores", vocab.scores);
  w.add_i32_array("tokenizer.ggml.token_type", types);
  if (vocab.bos_id >= 0) w.add_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(vocab.bos_id));
  if (vocab.eos_id >= 0) w.add_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(vocab.eos_id));
  if (vocab.unk_id >= 0) w.add_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(vocab.unk_id));
  w.add_bool("tokenizer.ggml.add_bos_token", vocab.add_bos_token);
  w.add_bool("tokenizer.ggml.add_space_prefix", vocab.add_space_prefix);

  std::map<std::string, std::vector<int64_t>> shapes;
  for (const model::TensorInfo& t : src.tensors()) shapes[t.name] = t.shape;
  const std::vector<Planned> plan = plan_tensors(src);
  ModelShapeInfo shape_info{c.num_layers, c.num_heads, c.num_kv_heads, src.has("lm_head.weight")};
  std::vector<std::string> matrices;
  for (const Planned& t : plan) {
    if (shapes.at(t.hf).size() == 2) matrices.push_back(t.gguf);
  }
  const ImportanceMap importance =
      opt.importance.empty() || opt.layout_only ? ImportanceMap{} : load_importance(opt.importance, matrices);
  for (const Planned& t : plan) {
    const std::vector<int64_t>& shape = shapes.at(t.hf);
    const std::vector<int64_t> dims(shape.rbegin(), shape.rend());  // ggml order: row length first
    GgmlType tt = GgmlType::F32;
    if (dims.size() != 1) {
      TensorTypeChoice ch;
      try {
        ch = choose_tensor_type(scheme, t.gguf, dims[0], shape_info, overrides, opt.fallback);
      } catch (const Error& e) {
        fail(src.path(), std::string(e.what()) + " (" + t.hf + ")");
      }
      tt = ch.type;
      if (ch.fell_back) {
        res.fallbacks.push_back(t.gguf);
        res.fallback_notes.push_back(t.gguf + ": " + io::ggml_type_name(static_cast<uint32_t>(ch.wanted)) + " -> " +
                                     io::ggml_type_name(static_cast<uint32_t>(tt)) + " (rows of " +
                                     std::to_string(dims[0]) + ")");
      }
    }
    w.add_tensor(t.gguf, dims, tt);
    res.tensors.push_back(t.gguf);
    res.types.push_back(io::ggml_type_name(static_cast<uint32_t>(tt)));
  }

  std::unique_ptr<calib::StatsReader> gptq_stats;
  if (!opt.gptq_stats.empty() && !opt.layout_only) gptq_stats = std::make_unique<calib::StatsReader>(opt.gptq_stats);
  res.bytes = w.write(out, [&](size_t i, const io::GgufWriter::Tensor& info) {
    if (opt.layout_only) return std::vector<uint8_t>(info.nbytes, 0);
    const Planned& p = plan[i];
    torch::Tensor x = src.load(p.hf).to(torch::kFloat32);
    if (p.rotary_heads > 0) x = io::rotate_half_to_interleaved(x, p.rotary_heads);
    x = x.contiguous();
    const int64_t n = info.dims[0];
    if (x.numel() % n != 0 || x.size(-1) != n) fail(src.path(), "tensor '" + p.hf + "' changed shape while exporting");
    if (gptq_stats && ggml::gptq_supports(static_cast<uint32_t>(info.type))) {
      const std::string linear = linear_name(p.hf);
      if (gptq_stats->has(linear)) {
        res.gptq.push_back(p.gguf);
        // Block scales chosen as llama.cpp's imatrix quantizer would, with the Hessian's diagonal
        // (the same mean squared activation an imatrix holds) as the importance.
        const torch::Tensor H = gptq_stats->read(linear).hessian();
        if (H.size(0) != n) {
          fail(opt.gptq_stats, "holds statistics of " + std::to_string(H.size(0)) + " input channels for " + linear +
                                   ", whose rows have " + std::to_string(n) + " weights: statistics of another model?");
        }
        const torch::Tensor diag = H.diagonal().to(torch::kFloat32).contiguous();
        return ggml::gptq_encode_rows(static_cast<uint32_t>(info.type), x, H, opt.gptq_damp, diag.data_ptr<float>());
      }
    }
    const float* imp = nullptr;
    const auto it = importance.find(p.gguf);
    if (it != importance.end() && static_cast<int64_t>(it->second.size()) != n) {
      // As llama-quantize: an entry of another length belongs to another model.
      fail(opt.importance, "holds " + std::to_string(it->second.size()) + " importance values for " + p.gguf +
                               ", whose rows have " + std::to_string(n) + " weights: statistics of another model?");
    }
    if (it != importance.end() && ggml::type_traits(info.type).quantize_importance) {
      imp = it->second.data();
      res.weighted.push_back(p.gguf);
    }
    return ggml::encode_rows(static_cast<uint32_t>(info.type), x.data_ptr<float>(), x.numel() / n, n, imp);
  });
  return res;
}

}  // namespace ptq::exporter
