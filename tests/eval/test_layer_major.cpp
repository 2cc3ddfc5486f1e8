// Layer-major evaluation (every window through layer i before layer i+1) gives window-major's numbers,
// in one chunk or several, and partial sums over window ranges combine into the whole.
#include <catch2/catch.hpp>

#include "data/text_source.hpp"
#include "eval/kl_divergence.hpp"
#include "eval/perplexity.hpp"
#include "eval/reference_logits.hpp"
#include "model/model_files.hpp"
#include "model/synthetic_model.hpp"
#include "support/shared_data.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace ptq;

namespace {

const std::string kDefaultModel = std::string(PTQ_SOURCE_DIR) + "/models/brown-5m";

std::vector<int> readme_tokens() {
  auto tok = tok::open_tokenizer(kDefaultModel);
  return tok->encode(data::read_text({std::string(PTQ_SOURCE_DIR) + "/README.md"}), true);
}

std::vector<int> random_tokens(int64_t n, int vocab, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto t = torch::randint(0, vocab, {n}, gen, torch::kInt64);
  return std::vector<int>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + n);
}

void check_same(const eval::PerplexityResult& a, const eval::PerplexityResult& b) {
  CHECK(a.windows == b.windows);
  CHECK(a.tokens_scored == b.tokens_scored);
  CHECK(a.mean_nll == Approx(b.mean_nll).epsilon(1e-6));
  CHECK(a.nll_stderr == Approx(b.nll_stderr).epsilon(1e-5));
}

}  // namespace

TEST_CASE("layer-major perplexity equals window-major on the default model and a synthetic one", "[eval][layer-major]") {
  const std::string synth = test::scratch_dir("layer-major-synth") + "/m";
  model::SynthOptions so;
  so.student_t_dof = 6;
  so.outlier_channels = 4;
  model::write_synthetic_model(model::synthetic_config(128, 320, 3, 4, 2, 500), synth, 9, so);
  struct Case { std::string path; std::vector<int> tokens; };
  const std::vector<Case> cases = {{kDefaultModel, readme_tokens()}, {synth, random_tokens(64 * 40, 500, 2)}};
  for (const auto& c : cases) {
    INFO(c.path);
    model::Model resident(model::open_weights(c.path));
    resident.make_resident();
    model::Model streamed(model::open_weights(c.path));
    eval::PerplexityOptions opt;
    opt.seqlen = 64;
    opt.max_windows = 10;
    opt.batch = 3;  // a partial last batch
    const auto window_major = eval::perplexity(resident, c.tokens, opt);
    REQUIRE(eval::use_layer_major({&streamed}, opt.traversal));
    REQUIRE_FALSE(eval::use_layer_major({&resident}, opt.traversal));
    check_same(eval::perplexity(streamed, c.tokens, opt), window_major);
    // Several chunks: hidden states of 6 windows at a time (two batches), each chunk reading the layers.
    opt.max_hidden_bytes = 6 * 64 * int64_t(streamed.config().hidden_size) * 4;
    check_same(eval::perplexity(streamed, c.tokens, opt), window_major);
    opt.traversal = eval::Traversal::layer_major;  // forced on a resident model too
    check_same(eval::perplexity(resident, c.tokens, opt), window_major);
    opt.traversal = eval::Traversal::window_major;
    check_same(eval::perplexity(streamed, c.tokens, opt), window_major);

    // Partial sums over window ranges (as MPI ranks would) combine into the whole. Ranges that start
    // on a batch boundary keep window-major's batches, so the sums are the same numbers.
    opt.traversal = eval::Traversal::automatic;
    auto total = eval::perplexity_sums(streamed, c.tokens, opt, 0, 3);
    total.add(eval::perplexity_sums(streamed, c.tokens, opt, 3, 9));
    total.add(eval::perplexity_sums(streamed, c.tokens, opt, 9, 10));
    const auto combined = eval::perplexity_from_sums(total, opt, 1.0);
    check_same(combined, window_major);
    CHECK(combined.ppl == Approx(window_major.ppl).epsilon(1e-9));
    CHECK_THROWS_WITH(eval::perplexity_sums(streamed, c.tokens, opt, 5, 11), Catch::Contains("outside"));
  }
}

TEST_CASE("layer-major KL divergence equals window-major, whole and in merged parts", "[eval][layer-major]") {
  const std::string root = test::scratch_dir("layer-major-kl");
  const auto cfg = model::synthetic_config(96, 256, 2, 4, 4, 300);
  model::SynthOptions so;
  so.student_t_dof = 6;
  model::write_synthetic_model(cfg, root + "/ref", 1, so);
  model::write_synthetic_model(cfg, root + "/q", 2, so);
  const auto tokens = random_tokens(48 * 9, 300, 3);
  model::Model ref_r(model::open_weights(root + "/ref")), q_r(model::open_weights(root + "/q"));
  ref_r.make_resident();
  q_r.make_resident();
  model::Model ref_s(model::open_weights(root + "/ref")), q_s(model::open_weights(root + "/q"));
  eval::KlOptions opt;
  opt.seqlen = 48;
  opt.batch = 2;
  const auto wm = eval::kl_divergence(ref_r, q_r, tokens, opt);
  const auto lm = eval::kl_divergence(ref_s, q_s, tokens, opt);
  REQUIRE(wm.windows == 9);
  CHECK(lm.tokens_scored == wm.tokens_scored);
  CHECK(lm.mean_kl == Approx(wm.mean_kl).epsilon(1e-6));
  CHECK(lm.kl_p99 == Approx(wm.kl_p99).epsilon(1e-5));
  CHECK(lm.ppl == Approx(wm.ppl).epsilon(1e-6));
  CHECK(lm.ppl_reference == Approx(wm.ppl_reference).epsilon(1e-6));
  CHECK(lm.top1_agreement == wm.top1_agreement);
  CHECK(wm.mean_kl > 0.01);  // two different models: the comparison is not of zeros

  eval::KlAccumulator a, b;
  eval::kl_divergence_partial(ref_s, q_s, tokens, opt, 0, 5, a);
  eval::kl_divergence_partial(ref_s, q_s, tokens, opt, 5, 9, b);
  a.merge(b);
  const auto merged = a.finish(opt, 9, 0);
  CHECK(merged.mean_kl == Approx(wm.mean_kl).epsilon(1e-6));
  CHECK(merged.kl_median == Approx(wm.kl_median).epsilon(1e-5));
  CHECK(merged.ln_ppl_correlation == Approx(wm.ln_ppl_correlation).epsilon(1e-6));

  // The stored-reference path computes its top-k layer-major too.
  const auto stored_wm = eval::kl_divergence(eval::compute_reference(ref_r, tokens, opt, 16), q_r, tokens, opt);
  const auto stored_lm = eval::kl_divergence(eval::compute_reference(ref_s, tokens, opt, 16), q_s, tokens, opt);
  CHECK(stored_lm.mean_kl == Approx(stored_wm.mean_kl).epsilon(1e-6));
}
