// ptq convert: any checkpoint ptq reads (llama2.c, GGUF, HF) to a Hugging Face directory:
// config.json, model.safetensors in Hugging Face names and rotary layout, and the tokenizer files.
#include <filesystem>
#include <iostream>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "model/hf_config.hpp"
#include "model/model_files.hpp"
#include "model/weight_source.hpp"

namespace ptq::cli {

namespace fs = std::filesystem;

namespace {

void copy_tokenizer(const std::string& tok_path, const fs::path& out) {
  auto copy = [&](const fs::path& from, const std::string& name) {
    fs::copy_file(from, out / name, fs::copy_options::overwrite_existing);
  };
  if (fs::is_directory(tok_path)) {
    for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "tokenizer.bin"}) {
      if (fs::exists(fs::path(tok_path) / name)) copy(fs::path(tok_path) / name, name);
    }
    return;
  }
  const auto ext = fs::path(tok_path).extension().string();
  if (ext == ".model") {
    copy(tok_path, "tokenizer.model");
    // A llama2.c tokenizer beside the SentencePiece model keeps llama.cpp's whitespace behaviour.
  } else if (ext == ".bin") {
    copy(tok_path, "tokenizer.bin");
  } else if (ext == ".json") {
    copy(tok_path, "tokenizer.json");
  } else {
    std::cerr << "ptq convert: warning: tokenizer " << tok_path << " not copied (unsupported kind)\n";
  }
}

}  // namespace

void add_convert(CLI::App& app) {
  struct Args {
    std::string model, tokenizer, out, dtype = "f32";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("convert", "Convert a llama2.c or GGUF model to a Hugging Face directory");
  cmd->add_option("--model,-m", args->model, "Source model")->required();
  cmd->add_option("--tokenizer,-t", args->tokenizer, "Tokenizer (default: found beside the model)");
  cmd->add_option("--out,-o", args->out, "Output directory")->required();
  cmd->add_option("--dtype", args->dtype, "Storage type: f32, f16, bf16")->capture_default_str()->check(CLI::IsMember({"f32", "f16", "bf16"}));
  cmd->callback([args] {
    auto src = model::open_weights(args->model);
    model::ModelConfig cfg = src->config();
    const auto dtype = args->dtype == "f16" ? torch::kFloat16 : args->dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
    cfg.torch_dtype = args->dtype == "f16" ? "float16" : args->dtype == "bf16" ? "bfloat16" : "float32";
    const std::string tok = args->tokenizer.empty() ? model::find_tokenizer(args->model, cfg.vocab_size) : args->tokenizer;
    fs::create_directories(args->out);
    io::SafetensorsWriter w;
    w.set_metadata("format", "pt");
    for (const auto& info : src->tensors()) w.add(info.name, src->load(info.name).to(dtype));
    w.write((fs::path(args->out) / "model.safetensors").string());
    io::write_file_atomically((fs::path(args->out) / "config.json").string(), model::write_hf_config(cfg));
    copy_tokenizer(tok, args->out);
    nlohmann::json tc = {{"add_bos_token", true}, {"add_eos_token", false}};
    if (!fs::exists(fs::path(args->out) / "tokenizer_config.json")) {
      io::write_file_atomically((fs::path(args->out) / "tokenizer_config.json").string(), tc.dump(2) + "\n");
    }
    std::cout << "wrote " << args->out << ": " << src->tensors().size() << " tensors (" << args->dtype
              << "), config.json, tokenizer from " << tok << "\n";
  });
}

}  // namespace ptq::cli
