// open_tokenizer: picks the tokenizer implementation from a path.
#include <cctype>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "io/gguf.hpp"
#include "tokenizer/bpe_tokenizer.hpp"
#include "tokenizer/llama2c_tokenizer.hpp"
#include "tokenizer/sentencepiece_tokenizer.hpp"
#include "tokenizer/spm_gguf_vocab.hpp"
#include "tokenizer/tokenizer.hpp"

namespace ptq::tok {
namespace {

namespace fs = std::filesystem;

std::string lower_extension(const fs::path& p) {
  std::string e = p.extension().string();
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

bool has_gguf_magic(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char m[4] = {};
  return f.read(m, 4) && m[0] == 'G' && m[1] == 'G' && m[2] == 'U' && m[3] == 'F';
}

std::unique_ptr<Tokenizer> open_gguf(const std::string& path) {
  io::GgufReader gguf(path);
  if (!gguf.has("tokenizer.ggml.model")) fail(path, "GGUF file has no tokenizer.ggml.model (no vocabulary)");
  const std::string model = gguf.get_string("tokenizer.ggml.model");
  if (model == "llama") return make_gguf_spm_tokenizer(gguf);
  if (model == "gpt2") return make_gguf_bpe_tokenizer(gguf);
  fail(path, "tokenizer.ggml.model \"" + model +
                 "\" is not supported (supported: \"llama\" SentencePiece, \"gpt2\" byte-level BPE)");
}

}  // namespace

std::unique_ptr<Tokenizer> open_tokenizer(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) {
    for (const char* name : {"tokenizer.json", "tokenizer.model", "tokenizer.bin"}) {
      if (fs::is_regular_file(p / name, ec)) return open_tokenizer((p / name).string());
    }
    fail(path, "directory holds no tokenizer.json, tokenizer.model or tokenizer.bin");
  }
  if (!fs::exists(p, ec)) fail(path, "tokenizer file does not exist");
  const std::string ext = lower_extension(p);
  if (ext == ".model") return std::make_unique<SentencePieceTokenizer>(path);
  if (ext == ".json") return load_tokenizer_json(path);
  if (ext == ".gguf" || has_gguf_magic(path)) return open_gguf(path);
  // llama2.c's tokenizer.bin: the vocabulary size is whatever the file holds.
  if (ext == ".bin") return open_llama2c_tokenizer(path);
  fail(path, "unrecognised tokenizer file (expected *.model, *.bin, *.gguf, tokenizer.json or a "
             "model directory)");
}

}  // namespace ptq::tok
