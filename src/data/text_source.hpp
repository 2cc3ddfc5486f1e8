// Text sources: plain text (documents split on blank lines or a given separator) and JSONL (one
// named field per line), plus token ids cached on disk by content hash so a text is tokenized once.
#pragma once
#include <string>
#include <vector>

#include "tokenizer/tokenizer.hpp"

namespace ptq::data {

struct TextSourceSpec {
  std::string path;
  std::string format = "auto";  // "text", "jsonl" or "auto" (by extension .jsonl/.json)
  std::string separator;        // plain text: split documents on this line; empty = blank lines
  std::string field = "text";   // jsonl: the field holding the text
};

// The whole text of a source as one string (documents joined by "\n\n" for JSONL).
std::string read_text(const TextSourceSpec& spec);
// The documents of a source, in file order.
std::vector<std::string> read_documents(const TextSourceSpec& spec);

// Token ids of `text`, cached under cache_dir (default $PTQ_CACHE_DIR or ~/.cache/ptq) keyed by
// the SHA-256 of the text, the tokenizer's identity and add_bos. The cache is a plain int32 file
// written atomically; a corrupt entry is recomputed.
std::vector<int> tokenize_cached(const tok::Tokenizer& tokenizer, const std::string& tokenizer_id,
                                 const std::string& text, bool add_bos,
                                 const std::string& cache_dir = "");

std::string default_cache_dir();

// Identity of a tokenizer by content: the SHA-256 of its file, or of a directory's tokenizer files.
std::string tokenizer_fingerprint(const std::string& path);

}  // namespace ptq::data
