/* CPU reference of the standalone RHT (NUMERICS 5): gather each aligned chunk
 * of d values along the axis, transform it with the shared chunk code, and
 * round it to the output type. */
#include "cpu/transforms.h"
#include "core/error.h"

#include <math.h>
#include <string.h>

static float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t bits_from_f32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static float load(mxb_dtype_t t, const void *p, int64_t i) {
  switch (t) {
    case MXB_DTYPE_BF16: return f32_from_bits((uint32_t)((const uint16_t *)p)[i] << 16);
    case MXB_DTYPE_FP16: {
      uint32_t h = ((const uint16_t *)p)[i], s = (h & 0x8000u) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF;
      if (e == 0x1F) return f32_from_bits(s | 0x7F800000u | (m << 13));
      if (e == 0) return copysignf(ldexpf((float)m, -24), f32_from_bits(s | 0x3F800000u));
      return f32_from_bits(s | ((e + 112) << 23) | (m << 13));
    }
    default: return ((const float *)p)[i];
  }
}

static uint16_t bf16_rne(float f) {
  uint32_t u = bits_from_f32(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN, sign kept */
  return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1)) >> 16);
}

static void fwht(float *v, int d) {
  for (int h = 1; h < d; h *= 2)
    for (int j = 0; j < d; j++)
      if (!(j & h)) {
        float a = v[j], b = v[j + h];
        v[j] = a + b;
        v[j + h] = a - b;
      }
}

static void chunk(float *v, int d, const float *s, int inverse) {
  float scale = (float)(1.0 / sqrt((double)d)); /* 0.25 for d = 16 */
  if (!inverse)
    for (int j = 0; j < d; j++) v[j] *= s[j];
  fwht(v, d);
  for (int j = 0; j < d; j++) v[j] *= scale;
  if (inverse)
    for (int j = 0; j < d; j++) v[j] *= s[j];
}

mxb_status_t mxb_cpu_rht(const mxb_rht_t *rht, int inverse, mxb_axis_t axis, int64_t rows, int64_t cols,
                         mxb_dtype_t in_type, const void *in, mxb_dtype_t out_type, void *out) {
  int d = rht->size;
  float s[256];
  if (rht->sign_source != MXB_SIGNS_MASK)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "seeded RHT signs are not available yet");
  for (int i = 0; i < d; i++) s[i] = ((rht->sign_mask[i / 32] >> (i % 32)) & 1u) ? -1.0f : 1.0f;
  /* element (k, j) of chunk k: stride along the axis */
  int64_t lines = axis == MXB_AXIS_COLS ? rows : cols;
  int64_t len = axis == MXB_AXIS_COLS ? cols : rows;
  int64_t along = axis == MXB_AXIS_COLS ? 1 : cols, across = axis == MXB_AXIS_COLS ? cols : 1;
  int round_bf16 = rht->bf16_output || out_type == MXB_DTYPE_BF16;
  float v[256];
  for (int64_t l = 0; l < lines; l++)
    for (int64_t c0 = 0; c0 < len; c0 += d) {
      int64_t base = l * across + c0 * along;
      for (int j = 0; j < d; j++) v[j] = load(in_type, in, base + j * along);
      chunk(v, d, s, inverse);
      for (int j = 0; j < d; j++) {
        int64_t i = base + j * along;
        uint16_t b = round_bf16 ? bf16_rne(v[j]) : 0;
        if (out_type == MXB_DTYPE_BF16)
          ((uint16_t *)out)[i] = b;
        else
          ((float *)out)[i] = round_bf16 ? f32_from_bits((uint32_t)b << 16) : v[j];
      }
    }
  return MXB_SUCCESS;
}
