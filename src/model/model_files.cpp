#include "model/model_files.hpp"

#include <filesystem>
#include <memory>

#include "core/error.hpp"
#include "io/gguf_model.hpp"
#include "io/hf_checkpoint.hpp"
#include "io/hf_packed_checkpoint.hpp"
#include "io/llama2c.hpp"
#include "io/quantized_checkpoint.hpp"
#include "model/weight_source.hpp"

namespace ptq::model {

namespace fs = std::filesystem;

std::unique_ptr<WeightSource> open_weights(const std::string& path) {
  if (!fs::exists(path)) fail(path, "model not found");
  if (fs::is_directory(path)) {
    if (io::is_quantized_checkpoint(path)) return std::make_unique<io::QuantizedCheckpoint>(path);
    // Hugging Face GPTQ / AWQ checkpoints (quantization_config.quant_method gptq or awq).
    if (io::is_hf_packed_checkpoint(path)) return std::make_unique<io::HfPackedCheckpoint>(path);
    return io::open_hf_checkpoint(path);
  }
  if (fs::path(path).extension() == ".gguf") return io::open_gguf_model(path);
  return io::open_llama2c_model(path);
}

std::string find_tokenizer(const std::string& model_path, int vocab_size) {
  if (fs::is_directory(model_path) || fs::path(model_path).extension() == ".gguf") return model_path;
  const fs::path dir = fs::path(model_path).parent_path();
  const std::string v = std::to_string(vocab_size);
  std::string tried;
  const std::vector<std::string> names = {"tokenizer.bin", "tok" + v + ".bin", "tokenizer.model", "tok" + v + ".model"};
  for (const std::string& name : names) {
    const fs::path p = dir / name;
    if (fs::exists(p)) return p.string();
    tried += (tried.empty() ? "" : ", ") + name;
  }
  fail(model_path, "no tokenizer given and none found beside it (looked for " + tried +
                       "); pass --tokenizer");
}

}  // namespace ptq::model
