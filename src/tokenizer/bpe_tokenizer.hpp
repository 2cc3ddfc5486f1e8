// Byte-level BPE tokenizers (GPT-2, Llama-3, Qwen2/Qwen3 families) from a Hugging Face
// tokenizer.json or from a GGUF "gpt2" vocabulary.
//
// Encoding: added/special tokens are matched whole in the raw text first (longest match wins at the
// leftmost position); every other stretch is normalized (NFC when the file asks for it), split into
// pre-tokens by the model's pre-tokenizer pattern, mapped byte by byte through GPT-2's
// bytes_to_unicode alphabet and merged by rank. Decoding concatenates the raw bytes of the tokens.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.hpp"

namespace ptq::io {
class GgufReader;
}

namespace ptq::tok {

// A byte-level BPE tokenizer; the concrete type behind both factories below.
class BpeTokenizer;

// Loads a Hugging Face tokenizer.json whose model.type is "BPE" with a ByteLevel pre-tokenizer or
// decoder. When tokenizer_config.json sits beside it, its bos_token / eos_token / add_bos_token are
// read. Throws ptq::Error naming `path` for unreadable JSON, a missing model/vocab/merges, a merge
// naming an unknown token, or a pre-tokenizer regex that is not one of the known patterns.
std::unique_ptr<Tokenizer> load_tokenizer_json(const std::string& path);

// Builds the tokenizer of a GGUF vocabulary with tokenizer.ggml.model == "gpt2": tokens, merges,
// token_type, bos/eos ids and tokenizer.ggml.pre ("default", "gpt-2", "llama-bpe", "qwen2", ...).
std::unique_ptr<Tokenizer> make_gguf_bpe_tokenizer(const ptq::io::GgufReader& gguf);

// Whether a model's own configuration asks for BOS at the start of every text (tokenizer_config's
// add_bos_token, a TemplateProcessing post-processor that starts with a special token, or GGUF's
// tokenizer.ggml.add_bos_token). False for tokenizers that are not BpeTokenizer.
bool bpe_adds_bos_by_default(const Tokenizer& tokenizer);

}  // namespace ptq::tok
