#include <catch2/catch.hpp>

#include <cmath>

#include "core/error.hpp"
#include "data/text_source.hpp"
#include "eval/perplexity.hpp"
#include "io/llama2c.hpp"
#include "model/llama2c_reference.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace ptq;

namespace {

// Mean NLL of the protocol's scored positions computed from the independent llama2.c forward pass.
double reference_mean_nll(const test::Llama2cReference& ref, const std::vector<int>& tokens, int n,
                          int windows, bool llamacpp) {
  double sum = 0;
  int64_t count = 0;
  for (int w = 0; w < windows; ++w) {
    std::vector<int> win(tokens.begin() + w * n, tokens.begin() + (w + 1) * n);
    if (llamacpp) win[0] = 1;  // BOS replaces each window's first token
    const auto logits = ref.logits(win);
    for (int p = llamacpp ? n / 2 : 0; p < n - 1; ++p) {
      double mx = -1e300, z = 0;
      for (float v : logits[p]) mx = std::max(mx, double(v));
      for (float v : logits[p]) z += std::exp(double(v) - mx);
      sum += -(double(logits[p][tokens[w * n + p + 1]]) - mx - std::log(z));
      ++count;
    }
  }
  return sum / count;
}

}  // namespace

TEST_CASE("both perplexity protocols score exactly the positions they define", "[eval][perplexity]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  SHARED_FILE(tok, "models/tok512.bin");
  SHARED_FILE(text, "text/tinystories_valid_eval.txt");
  test::Llama2cReference ref(bin);
  model::Model m(io::open_llama2c_model(bin));
  auto t = tok::open_tokenizer(tok);
  const auto ids = t->encode(data::read_text({text}).substr(0, 4000), true);
  const int n = 32, windows = 3;
  for (const std::string protocol : {"gptq", "llamacpp"}) {
    eval::PerplexityOptions opt;
    opt.protocol = protocol;
    opt.seqlen = n;
    opt.max_windows = windows;
    opt.batch = 2;  // a partial last batch too
    const auto r = eval::perplexity(m, ids, opt);
    INFO(protocol);
    CHECK(r.windows == windows);
    CHECK(r.tokens_scored == windows * (protocol == "gptq" ? n - 1 : n - 1 - n / 2));
    CHECK(r.mean_nll == Approx(reference_mean_nll(ref, ids, n, windows, protocol == "llamacpp")).epsilon(1e-5));
    CHECK(r.ppl == Approx(std::exp(r.mean_nll)));
    CHECK(r.nll_stderr > 0);
  }
}

TEST_CASE("stories260K FP32 perplexity matches llama.cpp's own figure", "[eval][perplexity][slow]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  SHARED_FILE(tok, "models/tok512.bin");
  SHARED_FILE(text, "text/tinystories_valid_eval.txt");
  model::Model m(io::open_llama2c_model(bin));
  m.make_resident();
  auto t = tok::open_tokenizer(tok);
  const auto ids = t->encode(data::read_text({text}), true);
  eval::PerplexityOptions opt;
  opt.protocol = "llamacpp";
  opt.seqlen = 256;
  opt.batch = 8;
  const auto r = eval::perplexity(m, ids, opt);
  // llama-perplexity on the same file, n_ctx 256: 4.2412 +/- 0.0258 over 757 windows
  // (../shared/data/README.md, peers/).
  CHECK(r.windows == 757);
  CHECK(r.tokens_scored == 757 * 127);
  CHECK(r.ppl == Approx(4.2412).epsilon(0.005));
  CHECK(r.ppl_stderr == Approx(0.0258).epsilon(0.05));
  WARN("stories260K llama.cpp protocol PPL " << r.ppl << " +/- " << r.ppl_stderr << ", "
                                             << r.tokens_per_second << " tokens/s");
}

TEST_CASE("a text shorter than one window is refused with its token count", "[eval][bad-input]") {
  SHARED_FILE(bin, "models/stories260K.bin");
  model::Model m(io::open_llama2c_model(bin));
  eval::PerplexityOptions opt;
  opt.seqlen = 256;
  CHECK_THROWS_WITH(eval::perplexity(m, std::vector<int>(100, 5), opt),
                    Catch::Contains("100 tokens") && Catch::Contains("one window of 256"));
  opt.protocol = "wikitext";
  CHECK_THROWS_WITH(eval::perplexity(m, std::vector<int>(1000, 5), opt), Catch::Contains("unknown protocol"));
}
