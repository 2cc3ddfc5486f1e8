// llama.cpp's own tokenizer test vectors for the Llama SentencePiece vocabulary
// (tests/test-tokenizer-0.cpp in llama.cpp): ggml-vocab-llama-spm.gguf with .inp and .out.
//
// Reproduced exactly as test-tokenizer-0 reads them: the whole .inp is split on
// "\n__ggml_vocab_test__\n" (so a case keeps its own inner and trailing newlines except the one
// before the separator; the file ends with a separator, so there is no empty final case); each .out
// line, stripped of surrounding whitespace, is the space-separated expected ids (an empty line is
// the empty case). Tokenization is common_tokenize(ctx, text, add_special=false,
// parse_special=false): no BOS, control tokens not parsed from text.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "io/gguf.hpp"
#include "support/llamacpp_vectors.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/spm_gguf_vocab.hpp"
#include "tokenizer/spm_test_util.hpp"

using namespace ptq;

// The shared ggml-vocab-llama-spm.gguf (853,489 bytes) was decoded and re-encoded as UTF-8 text on
// its way into the data set (65,205 U+FFFD sequences), so its metadata is destroyed; the GGUF reader
// must refuse it. The intact file is llama.cpp's models/ggml-vocab-llama-spm.gguf (723,869 bytes,
// git blob 658295a5, e.g. at llama.cpp c392e509); point PTQ_LLAMA_SPM_GGUF at a copy to run the
// vectors (they were run so on 2026-11-23: all 46 cases pass). The shared .inp/.out are intact.
TEST_CASE("the shared ggml-vocab-llama-spm.gguf is refused as corrupted", "[tokenizer][spm][gguf]") {
  SHARED_FILE(vocab, "tokenizers/ggml-vocab-llama-spm.gguf");
  if (std::filesystem::file_size(vocab) != 853489) return;  // a repaired copy: nothing to check
  CHECK_THROWS_WITH(io::GgufReader(vocab), Catch::Matchers::Contains(vocab));
}

TEST_CASE("llama.cpp's Llama-SPM test vectors tokenize exactly", "[tokenizer][spm][gguf]") {
  SHARED_FILE(inp, "tokenizers/ggml-vocab-llama-spm.gguf.inp");
  SHARED_FILE(outp, "tokenizers/ggml-vocab-llama-spm.gguf.out");
  std::string vocab = test::shared_dir() + "/tokenizers/ggml-vocab-llama-spm.gguf";
  if (const char* v = std::getenv("PTQ_LLAMA_SPM_GGUF")) vocab = v;
  if (!std::filesystem::exists(vocab) || std::filesystem::file_size(vocab) == 853489) {
    WARN("SKIPPED: no intact ggml-vocab-llama-spm.gguf (set PTQ_LLAMA_SPM_GGUF to llama.cpp's "
         "models/ggml-vocab-llama-spm.gguf; the shared copy is corrupted)");
    return;
  }
  const auto cases = test::read_llamacpp_vectors(inp.substr(0, inp.size() - 4));
  REQUIRE(cases.size() == 46);

  io::GgufReader gguf(vocab);
  auto t = tok::make_gguf_spm_tokenizer(gguf);
  REQUIRE(t->vocab_size() == 32000);
  CHECK(t->bos() == 1);
  CHECK(t->eos() == 2);
  CHECK(t->vocab().unk_id == 0);
  CHECK(t->vocab().types[1] == tok::SpmTokenType::Control);
  CHECK(t->vocab().types[13] == tok::SpmTokenType::Byte);

  size_t n_ids = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& [text, want] = cases[i];
    INFO("case " << i << ": '" << text << "'");
    n_ids += want.size();
    CHECK(t->encode(text, false) == want);
  }
  CHECK(n_ids > 300);  // the vectors are not trivially empty

  // With add_bos: the same ids after BOS; the empty text gives BOS alone (sentencepiece's rule).
  CHECK(t->encode("", true) == std::vector<int>{1});
  CHECK(t->encode("Hello world", true) == std::vector<int>{1, 15043, 3186});
  // Control pieces are never produced from text.
  CHECK(t->encode("<s>", false) != std::vector<int>{1});
  CHECK(t->decode({1, 15043, 3186}) == "<s>Hello world");
}
