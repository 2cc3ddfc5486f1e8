#include "algorithms/awq/awq.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "algorithms/common/algorithm.hpp"
#include "algorithms/common/channel_scaling.hpp"
#include "algorithms/rtn/rtn.hpp"
#include "core/error.hpp"
#include "export/gguf_type_plan.hpp"
#include "ggml/ggml_rows.hpp"
#include "ggml/ggml_types.hpp"

namespace ptq::algo {

namespace {

// The weights as the target grid will store them: ptq's grid, or a llama.cpp block type's own
// quantizer (so the search optimises for the file llama.cpp will run).
torch::Tensor fake_quant(const torch::Tensor& w, const IntGrid& grid, const AwqOptions& opt) {
  if (opt.ggml_type.empty()) return rtn_quantize(w, grid).dequantize();
  if (opt.ggml_type == "f16" || opt.ggml_type == "f32") return w;  // a mix keeps this tensor in float
  const uint32_t t = ggml::block_type_by_name(opt.ggml_type);
  const torch::Tensor x = w.to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t rows = x.size(0), n = x.size(1);
  // Rows that are not whole blocks: the GGUF export falls back to f16 for them (llama.cpp's rule),
  // close enough to full precision for the search.
  if (n % ggml::type_traits(t).block_size != 0) return w;
  const std::vector<uint8_t> bytes = ggml::encode_rows(t, x.data_ptr<float>(), rows, n);
  torch::Tensor y = torch::empty({rows, n});
  ggml::dequantize_row(t, bytes.data(), y.data_ptr<float>(), rows * n);
  return y.to(w.device());
}

bool is_block_type_name(const std::string& name) {
  try {
    ggml::block_type_by_name(name);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// The options for one consumer: a llama.cpp mix (q4_k_m, ...) gives each tensor its own type, which
// the pipeline resolves per layer into ctx.ggml_types (llama.cpp's rules: attn_v and ffn_down of some
// layers get more bits, rows that are not whole blocks fall back).
AwqOptions for_layer(const BlockContext& ctx, const std::string& linear, const AwqOptions& opt) {
  if (opt.ggml_type.empty()) return opt;
  AwqOptions o = opt;
  const auto it = ctx.ggml_types.find(linear);
  if (it != ctx.ggml_types.end()) {
    o.ggml_type = it->second;
  } else if (!is_block_type_name(opt.ggml_type)) {
    fail(ctx.where + linear, "ggml_type '" + opt.ggml_type + "' is a llama.cpp mix: its per-tensor types come from the pipeline, which gave none for this layer");
  }
  return o;
}

// Mean of |w| per column after normalising each group of each row by its largest |w| (AutoAWQ's
// get_weight_scale), over the rows of every consumer.
torch::Tensor group_normalised_weight_mean(const std::vector<torch::Tensor>& weights, const IntGrid& grid) {
  auto w = torch::cat(weights, 0).abs();
  const int64_t C = w.size(1);
  const int64_t gs = grid.group_size > 0 ? grid.group_size : C;
  auto out = torch::empty_like(w);
  for (int64_t c0 = 0; c0 < C; c0 += gs) {
    const int64_t n = std::min(gs, C - c0);
    auto g = w.narrow(1, c0, n);
    out.narrow(1, c0, n).copy_(g / g.amax(1, true).clamp_min(1e-12));
  }
  return out.mean(0);
}

// The block's output on x, a few samples at a time: a whole calibration set's attention scores
// or MLP activations are hundreds of MB, allocated afresh (and page-faulted) at every grid point.
constexpr int64_t kSamplesPerChunk = 8;

std::vector<torch::Tensor> run_chunked(const BlockContext& ctx, const model::LayerWeights& w, const std::string& module,
                                       const torch::Tensor& x) {
  std::vector<torch::Tensor> out;
  for (int64_t b = 0; b < x.size(0); b += kSamplesPerChunk) {
    out.push_back(ctx.run_module(w, module, x.narrow(0, b, std::min(kSamplesPerChunk, x.size(0) - b))));
  }
  return out;
}

// Mean squared error of the block's output against the reference chunks, accumulated in double.
double chunked_mse(const BlockContext& ctx, const model::LayerWeights& w, const std::string& module, const torch::Tensor& x,
                   const std::vector<torch::Tensor>& reference) {
  double sum = 0;
  int64_t count = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    const int64_t b = static_cast<int64_t>(i) * kSamplesPerChunk;
    auto out = ctx.run_module(w, module, x.narrow(0, b, reference[i].size(0)));
    sum += (out - reference[i]).pow_(2).sum(torch::kFloat64).item<double>();
    count += out.numel();
  }
  return sum / double(count);
}

}  // namespace

torch::Tensor awq_search_windows(const torch::Tensor& x, int64_t min_tokens) {
  const int64_t n = x.size(0), T = x.size(1);
  if (min_tokens <= 0 || min_tokens >= n * T) return x;
  const int64_t k = std::min(n, (min_tokens + T - 1) / T);
  std::vector<int64_t> idx(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) idx[static_cast<size_t>(i)] = i * n / k;
  return x.index_select(0, torch::tensor(idx, torch::kLong));
}

ScaleSearch awq_search_scale(const BlockContext& ctx, const model::InputSpec& spec, const IntGrid& grid,
                             const AwqOptions& opt, InputGrams* grams) {
  torch::NoGradGuard no_grad;
  const auto& w = ctx.weights();
  const torch::Tensor& x = ctx.inputs.at(spec.input);
  const int64_t C = x.size(-1);
  const auto consumers = consumers_of(spec.input);
  // Consumers a mix keeps in float have no rounding error to trade: with all of them in float every
  // alpha scores the same up to float noise, so the scale stays 1 rather than following the noise.
  const bool all_float = !opt.ggml_type.empty() && std::all_of(consumers.begin(), consumers.end(), [&](const std::string& c) {
    const std::string t = for_layer(ctx, c, opt).ggml_type;
    return t == "f16" || t == "f32";
  });
  if (all_float) {
    ScaleSearch none;
    none.scale = torch::ones({C});
    return none;
  }
  const torch::Tensor x_mean = x.reshape({-1, C}).abs().sum(0, false, torch::kFloat64).div_(double(x.numel() / C)).to(torch::kFloat32);
  torch::Tensor w_mean;
  if (opt.duo_scaling) {
    std::vector<torch::Tensor> ws;
    for (const auto& c : consumers) ws.push_back(w.weight(c));
    w_mean = group_normalised_weight_mean(ws, grid);
  }
  // The inspected module is the one consumer itself (v_proj -> o_proj, up_proj -> down_proj): its
  // output error over all N tokens is exact through H, (Q - W) H (Q - W)^T at O C^2 per alpha, or,
  // when N < C, cheaper as the products (Q - W) X^T themselves.
  const bool linear = opt.gram_loss && consumers.size() == 1 && consumers[0] == spec.inspect;
  InputGrams own(&ctx.inputs);
  InputGrams& g = grams ? *grams : own;
  const torch::Tensor xs = linear ? torch::Tensor() : awq_search_windows(x, opt.search_tokens);
  const std::vector<torch::Tensor> org_out = linear ? std::vector<torch::Tensor>{} : run_chunked(ctx, w, spec.inspect, xs);
  auto loss_of = [&](const model::LayerWeights& trial) {
    if (!linear) return chunked_mse(ctx, trial, spec.inspect, xs, org_out);
    const torch::Tensor& W = w.weight(spec.inspect);
    const auto dW = trial.weight(spec.inspect) - W;
    const int64_t N = g.tokens(spec.input);
    const auto rows = N >= C ? row_output_error(dW, g.full(spec.input)) : x.reshape({-1, C}).mm(dW.t()).pow_(2);
    return rows.sum(torch::kFloat64).item<double>() / (double(N) * double(W.size(0)));  // per output element, as the token form
  };

  ScaleSearch best;
  best.loss = std::numeric_limits<double>::infinity();
  for (int r = 0; r < opt.n_grid; ++r) {
    const double alpha = double(r) / opt.n_grid;
    torch::Tensor s = opt.duo_scaling ? x_mean.pow(alpha) / (w_mean.pow(1 - alpha) + 1e-4) : x_mean.pow(alpha);
    s = s.clamp_min(1e-4);
    s = s / std::sqrt(s.max().item<double>() * s.min().item<double>());
    model::LayerWeights trial = w;
    for (const auto& c : consumers) trial.linear[c] = fake_quant(w.weight(c) * s, grid, for_layer(ctx, c, opt)) / s;
    const double loss = loss_of(trial);
    if (r == 0) best.loss_unscaled = loss;
    if (!std::isfinite(loss)) fail(ctx.where + spec.input, "AWQ's scale search produced a non-finite loss at alpha " + std::to_string(alpha));
    if (loss < best.loss) best.loss = loss, best.alpha = alpha, best.scale = s;
  }
  return best;
}

int64_t clip_token_step(int64_t n_tokens, int64_t window, int64_t clip_tokens) {
  int64_t step = std::max<int64_t>(1, n_tokens / std::max<int64_t>(1, clip_tokens));
  // A step sharing a factor with the window length revisits the same few positions of every window:
  // 128 windows of 256 tokens at step 64 give positions 0, 64, 128, 192 only, a quarter of the
  // tokens at position 0, where attention sees one token and activations are atypical. A step
  // coprime with the window visits every position equally often (llm-awq's 512-token blocks at its
  // usual odd stride do too).
  if (window > 1) {
    while (step > 1 && std::gcd(step, window) != 1) --step;
  }
  return step;
}

namespace {

// The clip search for any loss: per output row and group, the shrink of max|w| whose clamped,
// quantized group has the smallest error(c0, dq) [O] (dq = quantized - original group, [O, n]).
template <class GroupError>
ClipSearch clip_search(const torch::Tensor& weight, const IntGrid& grid, const AwqOptions& opt, GroupError error) {
  torch::NoGradGuard no_grad;
  const int64_t O = weight.size(0), C = weight.size(1);
  // Clipping groups: the grid's groups, or a block type's blocks.
  const int64_t gs = !opt.ggml_type.empty() ? ggml::type_traits(ggml::block_type_by_name(opt.ggml_type)).block_size
                     : grid.group_size > 0  ? grid.group_size
                                            : C;
  const int64_t G = (C + gs - 1) / gs;
  // One group of a row is quantized as a row of its own: the grid per channel on the [O, n] slice.
  IntGrid row_grid = grid;
  row_grid.group_size = 0;
  ClipSearch out;
  out.max_val = torch::empty({O, G});
  out.clipped = weight.clone();
  const int steps = static_cast<int>(opt.clip_max_shrink * opt.clip_n_grid);
  double shrink_sum = 0;
  for (int64_t g = 0; g < G; ++g) {
    const int64_t c0 = g * gs, n = std::min(gs, C - c0);
    auto wg = weight.narrow(1, c0, n);
    auto org_max = wg.abs().amax(1, true);  // [O, 1]
    auto best_max = org_max.clone();
    auto min_err = torch::full({O, 1}, std::numeric_limits<float>::infinity());
    for (int i = 0; i < steps; ++i) {
      auto max_val = org_max * (1.0 - double(i) / opt.clip_n_grid);
      auto q = fake_quant(torch::clamp(wg, -max_val, max_val), row_grid, opt);
      auto err = error(c0, q - wg).unsqueeze(1);
      auto better = err < min_err;
      min_err = torch::where(better, err, min_err);
      best_max = torch::where(better, max_val, best_max);
    }
    out.max_val.select(1, g).copy_(best_max.squeeze(1));
    out.clipped.narrow(1, c0, n).copy_(torch::clamp(wg, -best_max, best_max));
    shrink_sum += (best_max / org_max.clamp_min(1e-30)).mean().item<double>();
  }
  out.mean_shrink = shrink_sum / G;
  return out;
}

}  // namespace

ClipSearch awq_search_clip(const torch::Tensor& weight, const torch::Tensor& input, const IntGrid& grid,
                           const AwqOptions& opt) {
  const int64_t C = weight.size(1);
  const int64_t window = input.dim() == 3 ? input.size(1) : 0;
  auto x = input.reshape({-1, C});
  x = x.slice(0, 0, x.size(0), clip_token_step(x.size(0), window, opt.clip_tokens)).contiguous();  // [n_tok, C]
  return clip_search(weight, grid, opt, [&](int64_t c0, const torch::Tensor& dq) {
    return torch::matmul(dq, x.narrow(1, c0, dq.size(1)).t()).pow_(2).mean(1);
  });
}

ClipSearch awq_search_clip(const torch::Tensor& weight, InputGrams& grams, const std::string& input, const IntGrid& grid,
                           const AwqOptions& opt) {
  const double tokens = double(grams.tokens(input));
  return clip_search(weight, grid, opt, [&](int64_t c0, const torch::Tensor& dq) {
    return row_output_error(dq, grams.block(input, c0, dq.size(1))).div_(tokens);
  });
}

namespace {

class AwqTransform : public Transform {
 public:
  explicit AwqTransform(const nlohmann::json& options) {
    OptionReader r(options, "awq");
    opt_.n_grid = r.get_int("n_grid", opt_.n_grid, 1, 1000);
    opt_.duo_scaling = r.get_bool("duo_scaling", opt_.duo_scaling);
    opt_.clip = r.get_bool("clip", opt_.clip);
    opt_.clip_max_shrink = r.get_double("clip_max_shrink", opt_.clip_max_shrink, 0.0, 1.0);
    opt_.clip_n_grid = r.get_int("clip_n_grid", opt_.clip_n_grid, 1, 1000);
    opt_.clip_tokens = r.get_int("clip_tokens", opt_.clip_tokens, 1, 1 << 24);
    opt_.gram_loss = r.get_bool("gram_loss", opt_.gram_loss);
    opt_.search_tokens = r.get_int("search_tokens", opt_.search_tokens, 0, 1 << 30);
    opt_.ggml_type = r.get_string("ggml_type", opt_.ggml_type);
    // Refuse an unknown name now: a block type, or one of llama.cpp's mixes (resolved per tensor by
    // the pipeline, export/gguf_type_plan.hpp).
    if (!opt_.ggml_type.empty() && !is_block_type_name(opt_.ggml_type) && !exporter::gguf_type_scheme(opt_.ggml_type).llama_mix) {
      ggml::block_type_by_name(opt_.ggml_type);
    }
    r.finish();
  }
  std::string name() const override { return "awq"; }
  nlohmann::json options() const override {
    return {{"n_grid", opt_.n_grid}, {"duo_scaling", opt_.duo_scaling}, {"clip", opt_.clip},
            {"clip_max_shrink", opt_.clip_max_shrink}, {"clip_n_grid", opt_.clip_n_grid},
            {"clip_tokens", opt_.clip_tokens}, {"gram_loss", opt_.gram_loss}, {"search_tokens", opt_.search_tokens},
            {"ggml_type", opt_.ggml_type}};
  }

  nlohmann::json apply(BlockContext& ctx, const IntGrid& grid) const override {
    nlohmann::json report = {{"scales", nlohmann::json::object()}, {"clip", nlohmann::json::object()}};
    // All searches on the unscaled block, as the reference; then every scale is folded.
    std::vector<std::pair<const model::InputSpec*, ScaleSearch>> found;
    InputGrams grams(&ctx.inputs);
    for (const auto& spec : model::block_inputs()) {
      if (!can_fold(ctx.weights(), spec)) {
        report["scales"][spec.input] = {{"skipped", "grouped-query attention: v_proj's outputs do not map one to one onto o_proj's inputs"}};
        continue;
      }
      found.emplace_back(&spec, awq_search_scale(ctx, spec, grid, opt_, &grams));
    }
    for (auto& [spec, s] : found) {
      fold_scale(*ctx.w, *spec, s.scale);
      ctx.inputs.at(spec->input).div_(s.scale);
      grams.rescale(spec->input, s.scale);
      report["scales"][spec->input] = {{"alpha", s.alpha}, {"loss", s.loss}, {"loss_unscaled", s.loss_unscaled}};
    }
    if (!opt_.clip) return report;
    for (const auto& l : model::block_linears()) {
      const std::string name = l.name;
      // The reference leaves q and k unclipped: their errors meet in the attention scores, which a
      // per-layer product error does not see.
      if (name == "self_attn.q_proj" || name == "self_attn.k_proj") continue;
      const AwqOptions lo = for_layer(ctx, name, opt_);
      if (lo.ggml_type == "f16" || lo.ggml_type == "f32") continue;  // stored in float: nothing to clip for
      auto c = lo.gram_loss ? awq_search_clip(ctx.w->weight(name), grams, l.input, grid, lo)
                            : awq_search_clip(ctx.w->weight(name), ctx.inputs.at(l.input), grid, lo);
      ctx.w->linear[name] = c.clipped;
      report["clip"][name] = {{"mean_shrink", c.mean_shrink}};
    }
    return report;
  }

 private:
  AwqOptions opt_;
};

}  // namespace

std::unique_ptr<Transform> make_awq(const nlohmann::json& options) { return std::make_unique<AwqTransform>(options); }

}  // namespace ptq::algo
