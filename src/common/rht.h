/* Random Hadamard transform of one chunk of d values (NUMERICS 5), shared
 * verbatim by the CPU reference and CUDA kernels. */
#ifndef MXB_COMMON_RHT_H
#define MXB_COMMON_RHT_H
#include "common/codec.h"
#include "common/philox.h"

/* 1/sqrt(d) rounded to the nearest fp32 (exact for d = 16, 64, 256). */
MXB_HD float mxb_rht_norm(int d) {
  switch (d) {
    case 16: return 0.25f;
    case 32: return 0x1.6a09e6p-3f;
    case 64: return 0.125f;
    case 128: return 0x1.6a09e6p-4f;
    default: return 0.0625f; /* 256 */
  }
}

/* Sign bits from a seed: bit i is bit i % 32 of word (i / 32) % 4 of
 * Philox(counter = (i / 128, 0, 0, 0), key = seed). For d <= 32 this is
 * "group 0, offset 0, bit i of word 0". Bits at and above d are cleared. */
MXB_HD void mxb_rht_signs_from_seed(uint64_t seed, int d, uint32_t words[8]) {
  for (int k = 0; k < 8; k++) {
    words[k] = 0;
    if (32 * k >= d) continue;
    mxb_u32x4 r = mxb_philox4x32_10((uint32_t)(k / 4), 0, 0, 0, (uint32_t)seed, (uint32_t)(seed >> 32));
    words[k] = r.v[k % 4];
    if (d - 32 * k < 32) words[k] &= (1u << (d - 32 * k)) - 1u;
  }
}

MXB_HD void mxb_rht_apply_signs(float *v, int d, const uint32_t signs[8]) {
  for (int i = 0; i < d; i++)
    if ((signs[i >> 5] >> (i & 31)) & 1u) v[i] = -v[i];
}
/* Sylvester Hadamard in natural order: radix-2 butterflies, h = 1, 2, 4, ...
 * (_from: the stages from h = h0 on, for kernels that compute the first
 * stages their own way). */
MXB_HD void mxb_rht_butterflies_from(float *v, int d, int h0) {
  for (int h = h0; h < d; h <<= 1)
    for (int j = 0; j < d; j++)
      if (!(j & h)) {
        float a = v[j], b = v[j + h];
        v[j] = a + b;
        v[j + h] = a - b;
      }
}
MXB_HD void mxb_rht_butterflies(float *v, int d) { mxb_rht_butterflies_from(v, d, 1); }
/* Forward: signs, butterflies, x 1/sqrt(d). Inverse: butterflies,
 * x 1/sqrt(d), signs. In place on d fp32 values. Every NaN result is the
 * positive quiet NaN 0x7FC00000: the butterflies' NaN bits would otherwise
 * depend on the processor (x86 propagates an operand's sign and payload,
 * the GPU returns its own canonical NaN). */
MXB_HD void mxb_rht_chunk(float *v, int d, const uint32_t signs[8], int inverse) {
  float s = mxb_rht_norm(d);
  if (!inverse) mxb_rht_apply_signs(v, d, signs);
  mxb_rht_butterflies(v, d);
  for (int i = 0; i < d; i++) v[i] *= s;
  if (inverse) mxb_rht_apply_signs(v, d, signs);
  for (int i = 0; i < d; i++) v[i] = mxb_canon_nan(v[i]);
}

#endif
