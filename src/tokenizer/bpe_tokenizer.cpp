// Placeholder definitions so the library links while the byte-level BPE tokenizer is written.
#include "tokenizer/bpe_tokenizer.hpp"

#include "core/error.hpp"

namespace ptq::tok {

std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& path) {
  fail(path, "byte-level BPE tokenizer.json loading is not implemented yet");
}

std::unique_ptr<Tokenizer> make_gguf_bpe_tokenizer(const ptq::io::GgufReader&) {
  fail("gguf", "byte-level BPE GGUF vocabularies are not implemented yet");
}

bool bpe_adds_bos_by_default(const Tokenizer&) { return false; }

}  // namespace ptq::tok
