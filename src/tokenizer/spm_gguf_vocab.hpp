// A SentencePiece vocabulary from GGUF metadata (tokenizer.ggml.model == "llama"):
// tokenizer.ggml.tokens, .scores, .token_type, .bos_token_id, .eos_token_id, .unknown_token_id,
// .add_space_prefix, .add_bos_token. Absent optional keys take llama.cpp's defaults for "llama"
// vocabularies: scores 0, type normal, BOS 1, EOS 2, UNK 0, add_space_prefix true, add_bos true.
#pragma once
#include <memory>

#include "io/gguf.hpp"
#include "tokenizer/spm_tokenizer.hpp"
#include "tokenizer/spm_vocab.hpp"

namespace ptq::tok {

// Throws ptq::Error naming the file (and key) when the model is not "llama", arrays disagree in
// length, a type or special id is out of range.
SpmVocab load_gguf_spm_vocab(const io::GgufReader& gguf);

std::unique_ptr<SpmVocabTokenizer> make_gguf_spm_tokenizer(const io::GgufReader& gguf);

}  // namespace ptq::tok
