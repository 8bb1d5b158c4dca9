/* Inputs at the edges of the fp32 range for the "finite in, finite out"
 * rules of docs/NUMERICS.md (Decisions), shared by the CPU suite
 * (test_finite.c) and the CUDA-vs-CPU comparisons. */
#ifndef MXB_TESTS_FINITE_CASES_H
#define MXB_TESTS_FINITE_CASES_H
#include <float.h>

#include "testutil.h"

/* The formats: every format that holds quantized data (mxbt_stored_formats). */

/* Values a whole tensor is filled with: zeros, the smallest subnormal, the
 * smallest normal, the ends of the NVFP4 tensor-scale range (1e-37 and 1e-38
 * lie below the amax where 2688 / A overflows, 1e36 above the one where
 * s_b * A does) and the largest finite values. */
static const float k_finite_values[] = {0.0f, -0.0f, 0x1p-149f, -0x1p-149f, FLT_MIN, 1e-38f, -1e-37f, 1e36f,
                                        -3e38f, 3.3961e38f, FLT_MAX, -FLT_MAX};
#define FINITE_NVALUES (sizeof(k_finite_values) / sizeof(k_finite_values[0]))

/* Tensor amaxes at both ends of the fp32 range. */
static const float k_finite_amaxes[] = {0x1p-149f, 1e-38f, 3e38f, FLT_MAX};
#define FINITE_NAMAXES (sizeof(k_finite_amaxes) / sizeof(k_finite_amaxes[0]))

/* Multiples of the amax A along a row, period 16: every 16-, 32- and
 * 128-element block (and every partition) holds +-A, so A is each block's
 * largest magnitude. */
static const float k_finite_pattern[16] = {1.0f, -0.75f, 0.5f, -0.3f, 0.1f, -0.01f, 0.0f, -0.0f,
                                           0.9f, -1.0f, 0.6f, 0.2f, -0.05f, 0.001f, 0.33f, -0.66f};

static inline void finite_fill_pattern(float *x, int64_t n, float A) {
  for (int64_t i = 0; i < n; i++) x[i] = A * k_finite_pattern[i % 16];
}

/* Under NONFINITE_SATURATE: +-Inf among ordinary values (and zeros). */
static inline void finite_fill_inf(float *x, int64_t n) {
  static const float v[8] = {INFINITY, 1.0f, 0.0f, -2.0f, -INFINITY, 0.5f, -0.0f, 3.0f};
  for (int64_t i = 0; i < n; i++) x[i] = v[i % 8];
}
#endif
