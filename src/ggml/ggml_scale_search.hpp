// The scale searches behind llama.cpp's block quantizers (ggml-quants.c): given the weights of one
// (sub-)block and per-weight importances, choose integer codes and a scale (and, for the affine
// types, a min) that minimise the importance-weighted squared (or absolute) error. The k-quants run
// them twice: once per sub-block for the weights, once per super-block for the sub-block scales.
// Each must do the same float operations in the same order as ggml's, since the files are compared
// with llama.cpp's byte for byte (this directory is compiled without FMA contraction).
#pragma once
#include <cstdint>

namespace ptq::ggml {

// Round to nearest, ties to even, for |x| < 2^22 (ggml's nearest_int: the 1.5 * 2^23 trick).
int nearest_int(float x);

// Symmetric codes L[i] in [0, 2 * nmax) (signed value L[i] - nmax) for n weights x, returning the
// scale. rmse_type 0: plain round to nearest from the largest-magnitude weight. Otherwise the
// weighted least-squares scale, tried over 19 candidate grid stretches; weights `w` (nullptr: x^2).
// All-zero input (max |x| < 1e-15): codes nmax... are 0 and the scale is 0.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, int rmse_type, const float* w);

// Q3_K's reference search: codes in [0, 2 * nmax), weights x^2, coordinate descent when do_rmse.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L, bool do_rmse);

// Affine codes L[i] in [0, nmax] with w ~ scale * L - the_min (the_min >= 0): start from the
// min/max grid, then try nstep + 1 stretched grids (rmin + rdelta * step) with a least-squares
// scale and min each, keeping the best weighted error (absolute when use_mad). Laux: n scratch bytes.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad);
// The importance-weighted variant (weights may be nullptr: x^2), as used with an imatrix.
float make_qkx3_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad);

// Non-negative values (sub-block scales or mins) to codes in [0, nmax] with weights: the k-quants'
// second-level quantization when an importance matrix is given.
float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* weights);

}  // namespace ptq::ggml
