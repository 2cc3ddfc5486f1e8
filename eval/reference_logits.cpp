#include "eval/reference_logits.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/sha256.hpp"
#include "eval/windows.hpp"
#include "io/atomic_file.hpp"
#include "model/weight_source.hpp"

namespace ptq::eval {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'P', 'T', 'Q', 'R', 'E', 'F', 'L', '1'};

WindowPlan plan_for(const std::vector<int>& tokens, const KlOptions& opt, int bos) {
  return plan_windows(opt.protocol, opt.seqlen, opt.max_windows, tokens.size(), bos, "kl-divergence");
}

template <typename T>
void put(io::AtomicFile& f, const T& v) {
  f.write(&v, sizeof(T));
}

void put_string(io::AtomicFile& f, const std::string& s) {
  put<uint64_t>(f, s.size());
  f.write(s);
}

template <typename T>
bool get(std::ifstream& in, T* v) {
  return static_cast<bool>(in.read(reinterpret_cast<char*>(v), sizeof(T)));
}

bool get_string(std::ifstream& in, std::string* s) {
  uint64_t n = 0;
  if (!get(in, &n) || n > (1u << 20)) return false;
  s->resize(n);
  return static_cast<bool>(in.read(s->data(), static_cast<std::streamsize>(n)));
}

template <typename T>
bool get_array(std::ifstream& in, std::vector<T>* v, uint64_t n) {
  v->resize(n);
  return static_cast<bool>(in.read(reinterpret_cast<char*>(v->data()), static_cast<std::streamsize>(n * sizeof(T))));
}

// Identity of a model's files without reading them: every regular file's name, size and mtime.
std::string files_identity(const std::string& path) {
  std::string id = fs::weakly_canonical(path).string();
  std::vector<fs::path> files;
  if (fs::is_directory(path)) {
    for (const auto& e : fs::directory_iterator(path)) if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  for (const auto& f : files) {
    id += "|" + f.filename().string() + ":" + std::to_string(fs::file_size(f)) + ":" +
          std::to_string(fs::last_write_time(f).time_since_epoch().count());
  }
  return id;
}

}  // namespace

ReferenceLogits compute_reference(model::Model& reference, const std::vector<int>& tokens, const KlOptions& opt,
                                  int topk) {
  torch::NoGradGuard no_grad;
  const WindowPlan plan = plan_for(tokens, opt, reference.config().bos_token_id);
  ReferenceLogits r;
  r.protocol = opt.protocol;
  r.seqlen = opt.seqlen;
  r.vocab = reference.config().vocab_size;
  r.topk = std::min(topk, r.vocab);
  r.windows = plan.windows;
  r.scored_per_window = plan.scored;
  const size_t n = static_cast<size_t>(plan.windows * plan.scored);
  r.ids.reserve(n * r.topk);
  r.logp.reserve(n * r.topk);
  r.target_logp.reserve(n);
  evaluate_windows({&reference}, {}, plan, tokens, 0, plan.windows, opt.traversal,
                   layer_major_options(opt, "reference logits"),
                   [&](int64_t w0, int64_t b, const std::vector<torch::Tensor>& logits) {
    auto lp = torch::log_softmax(logits[0].narrow(1, plan.first, plan.scored).to(torch::kFloat64), -1).reshape({-1, r.vocab});
    if (!torch::isfinite(lp).all().item<bool>()) fail("kl-divergence", "non-finite reference log-probabilities");
    auto [vals, idx] = lp.topk(r.topk, -1);  // sorted, most probable first
    auto v = vals.to(torch::kFloat32).contiguous();
    auto i = idx.to(torch::kInt32).contiguous();
    auto t = lp.gather(-1, plan.targets(tokens, w0, b).reshape({-1, 1})).to(torch::kFloat32).contiguous();
    r.logp.insert(r.logp.end(), v.data_ptr<float>(), v.data_ptr<float>() + v.numel());
    r.ids.insert(r.ids.end(), i.data_ptr<int32_t>(), i.data_ptr<int32_t>() + i.numel());
    r.target_logp.insert(r.target_logp.end(), t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  });
  return r;
}

KlResult kl_divergence(const ReferenceLogits& ref, model::Model& model, const std::vector<int>& tokens,
                       const KlOptions& opt) {
  torch::NoGradGuard no_grad;
  const WindowPlan plan = plan_for(tokens, opt, model.config().bos_token_id);
  if (ref.vocab != model.config().vocab_size) {
    fail("kl-divergence", "the stored reference has " + std::to_string(ref.vocab) + " tokens, the model " +
                              std::to_string(model.config().vocab_size));
  }
  if (ref.protocol != opt.protocol || ref.seqlen != opt.seqlen || ref.windows != plan.windows ||
      ref.scored_per_window != plan.scored) {
    fail("kl-divergence", "the stored reference was computed for other windows (" + ref.protocol + ", seqlen " +
                              std::to_string(ref.seqlen) + ", " + std::to_string(ref.windows) + " windows)");
  }
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t k = ref.topk;
  KlAccumulator acc;
  evaluate_windows({&model}, {}, plan, tokens, 0, plan.windows, opt.traversal, layer_major_options(opt, "KL divergence"),
                   [&](int64_t w0, int64_t b, const std::vector<torch::Tensor>& logits) {
    const int64_t n = b * plan.scored, off = w0 * plan.scored;
    auto lp_q = torch::log_softmax(logits[0].narrow(1, plan.first, plan.scored).to(torch::kFloat64), -1).reshape({n, ref.vocab});
    if (!torch::isfinite(lp_q).all().item<bool>()) fail("kl-divergence", "non-finite log-probabilities");
    // from_blob views of the stored arrays (read only; copied by the conversions below).
    auto ids = torch::from_blob(const_cast<int32_t*>(ref.ids.data()) + off * k, {n, k}, torch::kInt32).to(torch::kInt64);
    auto lp_ref = torch::from_blob(const_cast<float*>(ref.logp.data()) + off * k, {n, k}, torch::kFloat32).to(torch::kFloat64);
    auto t_ref = torch::from_blob(const_cast<float*>(ref.target_logp.data()) + off, {n}, torch::kFloat32).to(torch::kFloat64);
    auto lq = lp_q.gather(-1, ids);
    auto p = lp_ref.exp();
    auto kept = (p * (lp_ref - lq)).sum(-1);
    auto kl = kept;
    if (k < ref.vocab) {  // with every token stored there is no rest (its float residue is rounding)
      auto p_rest = (1.0 - p.sum(-1)).clamp_min(0.0);
      auto q_rest = (1.0 - lq.exp().sum(-1)).clamp_min(1e-300);
      kl = kl + torch::where(p_rest > 0, p_rest * (p_rest.clamp_min(1e-300).log() - q_rest.log()), torch::zeros_like(p_rest));
    }
    kl = kl.clamp_min(0.0);
    auto same = (ids.select(1, 0) == lp_q.argmax(-1)).to(torch::kFloat64);
    auto targets = plan.targets(tokens, w0, b).reshape({n, 1});
    acc.add(kl, same, t_ref, lp_q.gather(-1, targets).reshape({n}));
  });
  return acc.finish(opt, plan.windows, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

void write_reference(const std::string& path, const std::string& key, const ReferenceLogits& r) {
  fs::create_directories(fs::path(path).parent_path());
  io::AtomicFile f(path);
  f.write(kMagic, sizeof(kMagic));
  put_string(f, key);
  put_string(f, r.protocol);
  put<int32_t>(f, r.seqlen);
  put<int32_t>(f, r.topk);
  put<int32_t>(f, r.vocab);
  put<int64_t>(f, r.windows);
  put<int64_t>(f, r.scored_per_window);
  put<int64_t>(f, r.tokens());
  f.write(r.ids.data(), r.ids.size() * sizeof(int32_t));
  f.write(r.logp.data(), r.logp.size() * sizeof(float));
  f.write(r.target_logp.data(), r.target_logp.size() * sizeof(float));
  f.commit();
}

bool read_reference(const std::string& path, const std::string& key, ReferenceLogits* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  char magic[8];
  std::string stored_key;
  ReferenceLogits r;
  int64_t n = 0;
  if (!in.read(magic, 8) || std::memcmp(magic, kMagic, 8) != 0) return false;
  if (!get_string(in, &stored_key) || stored_key != key) return false;
  if (!get_string(in, &r.protocol) || !get(in, &r.seqlen) || !get(in, &r.topk) || !get(in, &r.vocab) ||
      !get(in, &r.windows) || !get(in, &r.scored_per_window) || !get(in, &n)) {
    return false;
  }
  if (r.topk <= 0 || r.vocab <= 0 || n != r.windows * r.scored_per_window || n < 0) return false;
  const uint64_t nk = static_cast<uint64_t>(n) * static_cast<uint64_t>(r.topk);
  if (!get_array(in, &r.ids, nk) || !get_array(in, &r.logp, nk) || !get_array(in, &r.target_logp, n)) return false;
  if (in.peek() != std::char_traits<char>::eof()) return false;
  for (int32_t id : r.ids) if (id < 0 || id >= r.vocab) return false;
  *out = std::move(r);
  return true;
}

std::string reference_key(const std::string& reference_path, const std::vector<int>& tokens, const KlOptions& opt,
                          int topk) {
  Sha256 h;
  h.update(files_identity(reference_path));
  h.update("|" + opt.protocol + "|" + std::to_string(opt.seqlen) + "|" + std::to_string(opt.max_windows) + "|" +
           std::to_string(topk) + "|");
  h.update(tokens.data(), tokens.size() * sizeof(int));
  return h.hex();
}

KlResult kl_divergence_cached(const std::string& reference_path, const std::vector<int>& tokens,
                              const KlOptions& opt, int topk, const std::string& cache_dir, model::Model& model,
                              bool* cache_hit) {
  const std::string key = reference_key(reference_path, tokens, opt, topk);
  const std::string path = (fs::path(cache_dir) / "reference-logits" / (key + ".bin")).string();
  ReferenceLogits ref;
  const bool hit = read_reference(path, key, &ref);
  if (!hit) {
    model::Model reference(model::open_weights(reference_path));  // not resident: evaluated layer-major
    ref = compute_reference(reference, tokens, opt, topk);
    write_reference(path, key, ref);
  }
  if (cache_hit) *cache_hit = hit;
  return kl_divergence(ref, model, tokens, opt);
}

}  // namespace ptq::eval
