#include "mixed/reference_kl.hpp"

#include <algorithm>
#include <chrono>

#include "core/error.hpp"
#include "data/text_source.hpp"
#include "model/model_files.hpp"
#include "tokenizer/tokenizer.hpp"

namespace ptq::mixed {

ReferenceKl::ReferenceKl(model::Model& reference, const std::vector<int>& tokens, const eval::KlOptions& opt)
    : opt_(opt) {
  torch::NoGradGuard no_grad;
  const int bos = reference.config().bos_token_id;
  // The whole text's plan says how many windows it holds; the measurement uses its last ones (the
  // front of a calibration text is where samples are most often drawn from).
  const eval::WindowPlan all = eval::plan_windows(opt.protocol, opt.seqlen, 0, tokens.size(), bos, "sensitivity windows");
  const int64_t want = opt.max_windows > 0 ? std::min<int64_t>(opt.max_windows, all.windows) : all.windows;
  const int64_t skip = (all.windows - want) * opt.seqlen;
  tokens_.assign(tokens.begin() + skip, tokens.end());
  plan_ = eval::plan_windows(opt.protocol, opt.seqlen, static_cast<int>(want), tokens_.size(), bos, "sensitivity windows");
  for (int64_t w0 = 0; w0 < plan_.windows; w0 += opt_.batch) {
    const int64_t b = std::min<int64_t>(opt_.batch, plan_.windows - w0);
    const auto ids = plan_.inputs(tokens_, w0, b);
    lp_ref_.push_back(
        torch::log_softmax(reference.forward(ids).narrow(1, plan_.first, plan_.scored).to(torch::kFloat64), -1));
  }
}

eval::KlResult ReferenceKl::measure(model::Model& model) const {
  torch::NoGradGuard no_grad;
  const auto t0 = std::chrono::steady_clock::now();
  eval::KlAccumulator acc;
  size_t batch = 0;
  for (int64_t w0 = 0; w0 < plan_.windows; w0 += opt_.batch, ++batch) {
    const int64_t b = std::min<int64_t>(opt_.batch, plan_.windows - w0);
    const auto ids = plan_.inputs(tokens_, w0, b);
    const auto targets = plan_.targets(tokens_, w0, b).unsqueeze(-1);
    const torch::Tensor& lp_ref = lp_ref_[batch];
    auto lp_q = torch::log_softmax(model.forward(ids).narrow(1, plan_.first, plan_.scored).to(torch::kFloat64), -1);
    if (!torch::isfinite(lp_q).all().item<bool>()) fail("sensitivity", "non-finite log-probabilities");
    const auto kl = (lp_ref.exp() * (lp_ref - lp_q)).sum(-1).clamp_min(0.0).reshape({-1});
    const auto same = (lp_ref.argmax(-1) == lp_q.argmax(-1)).to(torch::kFloat64).reshape({-1});
    acc.add(kl, same, lp_ref.gather(-1, targets).reshape({-1}), lp_q.gather(-1, targets).reshape({-1}));
  }
  return acc.finish(opt_, plan_.windows, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

std::unique_ptr<ReferenceKl> reference_on_text(const std::string& model, const std::string& tokenizer,
                                               const std::string& text, const eval::KlOptions& opt) {
  model::Model fp(model::open_weights(model));
  fp.make_resident();
  const std::string tok_path = tokenizer.empty() ? model::find_tokenizer(model, fp.config().vocab_size) : tokenizer;
  const auto tok = tok::open_tokenizer(tok_path);
  data::TextSourceSpec spec;
  spec.path = text;
  const auto ids = data::tokenize_cached(*tok, data::tokenizer_fingerprint(tok_path), data::read_text(spec), true);
  return std::make_unique<ReferenceKl>(fp, ids, opt);
}

}  // namespace ptq::mixed
