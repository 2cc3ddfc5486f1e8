// llama2.c's tokenizer.bin: int32 max_token_len, then per token: float32 score, int32 byte length,
// the piece bytes (little-endian). The file is an export of a SentencePiece model with "▁" written
// as a space, "<s>"/"</s>" written as "\n<s>\n"/"\n</s>\n", and byte pieces kept as "<0xXX>"; it
// carries no token types, so they are inferred: "<unk>" unknown, "<s>"/"</s>" control, "<0xXX>"
// byte, everything else normal.
//
// Encoding follows SentencePiece/llama.cpp semantics (SpmVocabTokenizer), not llama2.c's encode()
// quirks: llama2.c looks up merges on the *text of byte pieces* (so a byte-fallback "\n" takes part
// in merges as the string "<0x0A>") and always adds the dummy prefix; we merge only real text, emit
// <0xXX> byte pieces for characters without a piece (e.g. "\n" -> <0x0A>, id 13 in tok512), and add
// the dummy prefix as SentencePiece does. On tok512 and TinyStories the two agree.
#pragma once
#include <memory>
#include <string>

#include "tokenizer/spm_tokenizer.hpp"
#include "tokenizer/spm_vocab.hpp"

namespace ptq::tok {

// Reads a tokenizer.bin. vocab_size > 0: read exactly that many pieces (the model's vocabulary,
// e.g. 512 for stories260K; trailing bytes are an error); vocab_size <= 0: read pieces to the end
// of the file. Throws ptq::Error naming the file for a truncated file, a negative piece length or
// one above max_token_len, or a vocabulary without pieces.
SpmVocab load_llama2c_vocab(const std::string& path, int vocab_size = 0);

std::unique_ptr<SpmVocabTokenizer> open_llama2c_tokenizer(const std::string& path,
                                                          int vocab_size = 0);

}  // namespace ptq::tok
