// A SentencePiece-style vocabulary as plain data: pieces with scores and token types, plus the
// special ids. Filled by the llama2.c tokenizer.bin loader and the GGUF ("llama" model) loader, and
// consumed by SpmVocabTokenizer.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ptq::tok {

// Token types, numbered as SentencePiece's ModelProto and GGUF's tokenizer.ggml.token_type.
enum class SpmTokenType : int32_t {
  Undefined = 0,    // treated like Normal
  Normal = 1,
  Unknown = 2,      // <unk>: never produced by merges, only as the fallback
  Control = 3,      // <s>, </s>: never produced from text
  UserDefined = 4,  // matched whole in the raw text before merging
  Unused = 5,       // may take part in merges but is re-split before it is emitted
  Byte = 6,         // <0xXX>: byte fallback for characters without a piece
};

struct SpmVocab {
  // Pieces in SentencePiece form: a space is U+2581 "▁"; byte pieces read "<0x0A>"; control pieces
  // read "<s>", "</s>".
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<SpmTokenType> types;
  int bos_id = -1;
  int eos_id = -1;
  int unk_id = -1;
  bool add_space_prefix = true;  // SentencePiece's add_dummy_prefix
  bool add_bos_token = true;     // the vocabulary's own default (GGUF tokenizer.ggml.add_bos_token)
  std::string source;            // file the vocabulary came from, for error messages

  int size() const { return static_cast<int>(pieces.size()); }
  // Throws ptq::Error naming `source` when the vectors disagree in length or an id is out of range.
  void validate() const;
};

}  // namespace ptq::tok
