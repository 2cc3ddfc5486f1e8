#include "model/hf_export.hpp"

#include <filesystem>
#include <iostream>

#include "core/error.hpp"
#include "io/atomic_file.hpp"
#include "io/safetensors.hpp"
#include "io/staged_directory.hpp"
#include "model/hf_config.hpp"

namespace ptq::model {

namespace fs = std::filesystem;

void copy_tokenizer_files(const std::string& tok_path, const std::string& out_dir) {
  const fs::path out(out_dir);
  auto copy = [&](const fs::path& from, const std::string& name) {
    fs::copy_file(from, out / name, fs::copy_options::overwrite_existing);
  };
  if (tok_path.empty()) return;
  if (fs::is_directory(tok_path)) {
    for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "tokenizer.bin"}) {
      if (fs::exists(fs::path(tok_path) / name)) copy(fs::path(tok_path) / name, name);
    }
    return;
  }
  const auto ext = fs::path(tok_path).extension().string();
  if (ext == ".model") {
    copy(tok_path, "tokenizer.model");
  } else if (ext == ".bin") {
    copy(tok_path, "tokenizer.bin");  // llama2.c's format; ptq reads it from the directory
  } else if (ext == ".json") {
    copy(tok_path, "tokenizer.json");
  } else {
    std::cerr << "ptq: warning: tokenizer " << tok_path << " not copied (GGUF vocabularies stay in the GGUF)\n";
  }
  if (!fs::exists(out / "tokenizer_config.json")) {
    nlohmann::json tc = {{"add_bos_token", true}, {"add_eos_token", false}};
    io::write_file_atomically((out / "tokenizer_config.json").string(), tc.dump(2) + "\n");
  }
}

void write_hf_directory(const WeightSource& src, const std::string& tokenizer_path,
                        const std::string& out_dir, torch::ScalarType dtype) {
  ModelConfig cfg = src.config();
  cfg.torch_dtype = dtype == torch::kFloat16 ? "float16" : dtype == torch::kBFloat16 ? "bfloat16" : "float32";
  io::StagedDirectory stage(out_dir, "converted model", {src.path(), tokenizer_path});
  io::SafetensorsWriter w;
  w.set_metadata("format", "pt");
  for (const auto& info : src.tensors()) w.add(info.name, src.load(info.name).to(dtype));
  w.write(stage.file("model.safetensors"));
  io::write_file_atomically(stage.file("config.json"), write_hf_config(cfg));
  copy_tokenizer_files(tokenizer_path, stage.dir());
  stage.commit();
}

}  // namespace ptq::model
