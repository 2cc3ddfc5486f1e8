#include "model/hadamard.hpp"

#include <cmath>
#include <random>
#include <vector>

#include "core/error.hpp"

namespace ptq::model {

namespace {

bool is_prime(int64_t q) {
  if (q < 2) return false;
  for (int64_t d = 2; d * d <= q; ++d) {
    if (q % d == 0) return false;
  }
  return true;
}

// chi[a] for a in 0..q-1: the Legendre symbol of a modulo the odd prime q (0, 1 for a square, -1).
std::vector<int> legendre_table(int64_t q) {
  std::vector<int> chi(q, -1);
  chi[0] = 0;
  for (int64_t x = 1; x < q; ++x) chi[x * x % q] = 1;
  return chi;
}

// The (q+1) x (q+1) matrix [[0, 1^T], [e 1, Jacobsthal]] with e = -1 (Paley I) or +1 (Paley II).
std::vector<std::vector<int>> paley_core(int64_t q, int e) {
  const auto chi = legendre_table(q);
  std::vector<std::vector<int>> c(q + 1, std::vector<int>(q + 1, 0));
  for (int64_t i = 1; i <= q; ++i) {
    c[0][i] = 1;
    c[i][0] = e;
    for (int64_t j = 1; j <= q; ++j) c[i][j] = chi[((j - i) % q + q) % q];
  }
  return c;
}

// Paley I: q prime, q = 3 mod 4, order q + 1: H = I + C (C skew-symmetric).
torch::Tensor paley1(int64_t q) {
  const auto c = paley_core(q, -1);
  auto h = torch::zeros({q + 1, q + 1}, torch::kFloat64);
  auto a = h.accessor<double, 2>();
  for (int64_t i = 0; i <= q; ++i) {
    for (int64_t j = 0; j <= q; ++j) a[i][j] = c[i][j] + (i == j ? 1 : 0);
  }
  return h;
}

// Paley II: q prime, q = 1 mod 4, order 2(q + 1): C symmetric with zero diagonal; each 0 becomes
// [[1, -1], [-1, -1]] and each +-1 becomes +-[[1, 1], [1, -1]].
torch::Tensor paley2(int64_t q) {
  const auto c = paley_core(q, 1);
  const int64_t m = q + 1;
  auto h = torch::zeros({2 * m, 2 * m}, torch::kFloat64);
  auto a = h.accessor<double, 2>();
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      const int v = c[i][j];
      const int b[2][2] = {{v == 0 ? 1 : v, v == 0 ? -1 : v}, {v == 0 ? -1 : v, v == 0 ? -1 : -v}};
      for (int r = 0; r < 2; ++r) {
        for (int s = 0; s < 2; ++s) a[2 * i + r][2 * j + s] = b[r][s];
      }
    }
  }
  return h;
}

// Which Paley matrix has order m (a multiple of 4): 1 (I), 2 (II) or 0 (none).
int paley_kind(int64_t m) {
  if (m % 4 != 0) return 0;
  if (is_prime(m - 1) && (m - 1) % 4 == 3) return 1;
  if (is_prime(m / 2 - 1) && (m / 2 - 1) % 4 == 1) return 2;
  return 0;
}

torch::Tensor sylvester(int64_t n) {
  auto h = torch::ones({1, 1}, torch::kFloat64);
  const auto h2 = torch::tensor({{1.0, 1.0}, {1.0, -1.0}}, torch::kFloat64);
  for (int64_t k = 1; k < n; k *= 2) h = torch::kron(h2, h);
  return h;
}

// n = p * m with p a power of two and m = 1 or a Paley order (the largest p first); p = 0: none.
struct Plan {
  int64_t p = 0, m = 0;
  int kind = 0;  // 0: Sylvester alone (m = 1), 1 / 2: Paley I / II of order m
  std::string name;
};

Plan plan(int64_t n) {
  Plan out;
  if (n < 1) return out;
  int64_t p = 1;
  while (n % (p * 2) == 0) p *= 2;
  for (; p >= 1; p /= 2) {
    const int64_t m = n / p;
    const int kind = m == 1 ? 0 : paley_kind(m);
    if (m != 1 && kind == 0) continue;
    out.p = p;
    out.m = m;
    out.kind = kind;
    const std::string pal = kind == 0 ? "" : (kind == 1 ? "paley1(" : "paley2(") + std::to_string(m) + ")";
    const std::string syl = "sylvester(" + std::to_string(p) + ")";
    out.name = m == 1 ? syl : p == 1 ? pal : syl + " x " + pal;
    return out;
  }
  return out;
}

torch::Tensor build(int64_t n, std::string& name) {
  const Plan pl = plan(n);
  name = pl.name;
  if (pl.p == 0) return {};
  if (pl.m == 1) return sylvester(pl.p);
  auto pm = pl.kind == 1 ? paley1(pl.m - 1) : paley2(pl.m / 2 - 1);
  return pl.p == 1 ? pm : torch::kron(sylvester(pl.p), pm);
}

}  // namespace

torch::Tensor hadamard_matrix(int64_t n) {
  std::string name;
  return build(n, name);
}

std::string hadamard_construction(int64_t n) { return plan(n).name; }

torch::Tensor random_orthogonal(int64_t n, uint64_t seed) {
  if (n < 1) fail("random_orthogonal", "order must be positive, got " + std::to_string(n));
  // Own Box-Muller on mt19937_64 (std::normal_distribution differs between standard libraries).
  std::mt19937_64 rng(seed);
  auto g = torch::empty({n, n}, torch::kFloat64);
  double* d = g.data_ptr<double>();
  const double two_pi = 6.283185307179586476925286766559;
  for (int64_t i = 0; i < n * n; i += 2) {
    const double u1 = (static_cast<double>(rng() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    d[i] = r * std::cos(two_pi * u2);
    if (i + 1 < n * n) d[i + 1] = r * std::sin(two_pi * u2);
  }
  auto [q, r] = torch::linalg_qr(g);
  auto s = torch::sign(torch::diagonal(r));
  s = torch::where(s == 0, torch::ones_like(s), s);
  return q * s.unsqueeze(0);
}

Orthogonal rotation_matrix(int64_t n, uint64_t seed, bool random_signs) {
  Orthogonal o;
  std::string name;
  auto h = build(n, name);
  if (!h.defined()) {
    o.q = random_orthogonal(n, seed);
    o.construction = "random orthogonal (no Hadamard construction for order " + std::to_string(n) + "), seed " +
                     std::to_string(seed);
    return o;
  }
  o.hadamard = true;
  o.q = h / std::sqrt(static_cast<double>(n));
  o.construction = "hadamard " + name;
  if (random_signs) {
    std::mt19937_64 rng(seed);
    auto s = torch::empty({n}, torch::kFloat64);
    auto a = s.accessor<double, 1>();
    for (int64_t i = 0; i < n; ++i) a[i] = (rng() >> 63) ? -1.0 : 1.0;
    o.q = s.unsqueeze(1) * o.q;
    o.construction = "randomized " + o.construction + ", sign seed " + std::to_string(seed);
  }
  return o;
}

}  // namespace ptq::model
