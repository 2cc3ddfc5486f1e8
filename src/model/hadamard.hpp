// Hadamard matrices and the orthogonal matrices QuaRot-style rotations are built from.
// Constructions: Sylvester for n = 2^k, and Sylvester (x) a Paley matrix for n = 2^k * m with m the
// order of a Paley I (m = q + 1, q prime, q = 3 mod 4) or Paley II (m = 2(q + 1), q prime,
// q = 1 mod 4) matrix (12, 20, 24, 28, 36, 44, ...; Llama-2-7B's 11008 = 2 * paley1(5504)). Sizes
// with no such construction (stories260K's MLP width 172 = 4 * 43) get a seeded random orthogonal
// matrix instead, and the description says so. Matrices are dense (an online rotation is a matmul).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace ptq::model {

// The +-1 Hadamard matrix of order n (float64, H H^T = n I), or an undefined tensor when none of the
// constructions above reaches n.
torch::Tensor hadamard_matrix(int64_t n);
// How hadamard_matrix builds order n ("sylvester(64) x paley1(12)"), or "" when it cannot.
std::string hadamard_construction(int64_t n);

// A seeded random orthogonal matrix of order n (float64): QR of a Gaussian matrix, signs fixed so
// the result is unique. Same n and seed, same bits.
torch::Tensor random_orthogonal(int64_t n, uint64_t seed);

struct Orthogonal {
  torch::Tensor q;           // [n, n] float64, q q^T = I
  std::string construction;  // what it is, for logs and reports
  bool hadamard = false;     // false: the random orthogonal fallback
};

// The normalised Hadamard H / sqrt(n), times a seeded random +-1 diagonal on the left when
// random_signs (QuaRot's randomized Hadamard: diag(s) H / sqrt(n)); a random orthogonal matrix from
// `seed` when no Hadamard of order n is constructed.
Orthogonal rotation_matrix(int64_t n, uint64_t seed, bool random_signs);

}  // namespace ptq::model
