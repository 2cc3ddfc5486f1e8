// Reader for SentencePiece's *.model files (a serialized sentencepiece.ModelProto), written against
// the protobuf wire format directly.
//
// Why not libsentencepiece: Debian's libsentencepiece0 carries its own copy of protobuf 3.14 and
// exports its symbols, which clash with the system libprotobuf 3.21 that LibTorch loads; a process
// holding both crashes during static initialisation (or aborts on protobuf's version check,
// depending on load order). So ptq reads the model itself and runs SpmVocabTokenizer over it; the
// tests compare against libsentencepiece out of process (the spm_encode tool) and against figures
// measured with libsentencepiece.
#pragma once
#include <string>

#include "tokenizer/spm_vocab.hpp"

namespace ptq::tok {

struct SpmModelProto {
  SpmVocab vocab;  // pieces, scores, types; bos/eos/unk from the trainer spec
  int model_type = 2;                    // TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char
  bool byte_fallback = false;            // TrainerSpec.byte_fallback
  std::string normalizer_name;           // NormalizerSpec.name ("identity", "nmt_nfkc", ...)
  bool has_precompiled_charsmap = false;  // a non-empty NormalizerSpec.precompiled_charsmap
  bool add_dummy_prefix = true;          // NormalizerSpec defaults (proto2 [default = true])
  bool remove_extra_whitespaces = true;
  bool escape_whitespaces = true;
};

// Parses `path`. Throws ptq::Error naming the file for a missing file, malformed protobuf (every
// length is checked against the bytes left), a model without pieces or an out-of-range special id.
SpmModelProto read_spm_model_proto(const std::string& path);

}  // namespace ptq::tok
