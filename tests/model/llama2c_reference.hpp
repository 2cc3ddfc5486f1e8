// An independent oracle for the decoder: llama2.c's forward pass written as plain loops over the raw
// checkpoint bytes, with llama2.c's own interleaved rotary layout (no conversion). If ptq's
// rotate-half conversion, GQA grouping or masking were wrong, logits would disagree.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace ptq::test {

class Llama2cReference {
 public:
  explicit Llama2cReference(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    int32_t h[7];
    in.read(reinterpret_cast<char*>(h), sizeof h);
    dim = h[0]; hidden = h[1]; layers = h[2]; heads = h[3]; kv_heads = h[4];
    shared = h[5] > 0; vocab = std::abs(h[5]); seq_len = h[6];
    std::vector<char> rest((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    data.resize(rest.size() / 4);
    std::memcpy(data.data(), rest.data(), data.size() * 4);
    hd = dim / heads;
    const int kv_dim = kv_heads * hd;
    size_t o = 0;
    auto take = [&](size_t n) { size_t at = o; o += n; return at; };
    emb = take(size_t(vocab) * dim);
    rms_att = take(size_t(layers) * dim);
    wq = take(size_t(layers) * dim * dim);
    wk = take(size_t(layers) * dim * kv_dim);
    wv = take(size_t(layers) * dim * kv_dim);
    wo = take(size_t(layers) * dim * dim);
    rms_ffn = take(size_t(layers) * dim);
    w1 = take(size_t(layers) * dim * hidden);
    w2 = take(size_t(layers) * hidden * dim);
    w3 = take(size_t(layers) * dim * hidden);
    rms_final = take(dim);
    take(size_t(seq_len) * hd);  // freq_cis
    wcls = shared ? emb : take(size_t(vocab) * dim);
  }

  // Logits at every position of `tokens`, computed token by token with a KV cache (as run.c does).
  std::vector<std::vector<float>> logits(const std::vector<int>& tokens) const {
    const int kv_dim = kv_heads * hd, kv_mul = heads / kv_heads;
    std::vector<std::vector<float>> kc(layers), vc(layers), out;
    std::vector<float> x(dim), xb(dim), xb2(dim), q(dim), k(kv_dim), v(kv_dim), hb(hidden),
        hb2(hidden), att(tokens.size());
    for (size_t pos = 0; pos < tokens.size(); ++pos) {
      std::memcpy(x.data(), &data[emb + size_t(tokens[pos]) * dim], dim * 4);
      for (int l = 0; l < layers; ++l) {
        rmsnorm(xb, x, &data[rms_att + size_t(l) * dim]);
        matmul(q, xb, &data[wq + size_t(l) * dim * dim], dim, dim);
        matmul(k, xb, &data[wk + size_t(l) * dim * kv_dim], dim, kv_dim);
        matmul(v, xb, &data[wv + size_t(l) * dim * kv_dim], dim, kv_dim);
        for (int i = 0; i < dim; i += 2) {
          const int hi = i % hd;
          const double freq = 1.0 / std::pow(10000.0, hi / double(hd));
          const double val = pos * freq, fcr = std::cos(val), fci = std::sin(val);
          for (int which = 0; which < (i < kv_dim ? 2 : 1); ++which) {
            float* vec = which == 0 ? q.data() : k.data();
            const double v0 = vec[i], v1 = vec[i + 1];
            vec[i] = float(v0 * fcr - v1 * fci);
            vec[i + 1] = float(v0 * fci + v1 * fcr);
          }
        }
        kc[l].insert(kc[l].end(), k.begin(), k.end());
        vc[l].insert(vc[l].end(), v.begin(), v.end());
        for (int h = 0; h < heads; ++h) {
          const float* qh = &q[h * hd];
          const int kvh = h / kv_mul;
          double mx = -1e300;
          for (size_t t = 0; t <= pos; ++t) {
            double s = 0;
            for (int i = 0; i < hd; ++i) s += double(qh[i]) * kc[l][t * kv_dim + kvh * hd + i];
            att[t] = float(s / std::sqrt(double(hd)));
            mx = std::max(mx, double(att[t]));
          }
          double sum = 0;
          for (size_t t = 0; t <= pos; ++t) sum += (att[t] = float(std::exp(att[t] - mx)));
          for (int i = 0; i < hd; ++i) {
            double acc = 0;
            for (size_t t = 0; t <= pos; ++t) acc += att[t] / sum * vc[l][t * kv_dim + kvh * hd + i];
            xb[h * hd + i] = float(acc);
          }
        }
        matmul(xb2, xb, &data[wo + size_t(l) * dim * dim], dim, dim);
        for (int i = 0; i < dim; ++i) x[i] += xb2[i];
        rmsnorm(xb, x, &data[rms_ffn + size_t(l) * dim]);
        matmul(hb, xb, &data[w1 + size_t(l) * dim * hidden], dim, hidden);
        matmul(hb2, xb, &data[w3 + size_t(l) * dim * hidden], dim, hidden);
        for (int i = 0; i < hidden; ++i) hb[i] = float(hb[i] / (1.0 + std::exp(-double(hb[i]))) * hb2[i]);
        matmul(xb, hb, &data[w2 + size_t(l) * dim * hidden], hidden, dim);
        for (int i = 0; i < dim; ++i) x[i] += xb[i];
      }
      rmsnorm(xb, x, &data[rms_final]);
      std::vector<float> lg(vocab);
      matmul(lg, xb, &data[wcls], dim, vocab);
      out.push_back(lg);
    }
    return out;
  }

  int dim, hidden, layers, heads, kv_heads, vocab, seq_len, hd;
  bool shared;

 private:
  static void matmul(std::vector<float>& out, const std::vector<float>& x, const float* w, int n, int d) {
    for (int i = 0; i < d; ++i) {
      double s = 0;
      for (int j = 0; j < n; ++j) s += double(w[size_t(i) * n + j]) * x[j];
      out[i] = float(s);
    }
  }
  void rmsnorm(std::vector<float>& o, const std::vector<float>& x, const float* w) const {
    double ss = 0;
    for (int j = 0; j < dim; ++j) ss += double(x[j]) * x[j];
    const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
    for (int j = 0; j < dim; ++j) o[j] = float(w[j] * (inv * x[j]));
  }
  std::vector<float> data;
  size_t emb, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, wcls;
};

}  // namespace ptq::test
