/* CPU reference of mxb_amax and the plain-buffer row helpers. */
#include "cpu/cpu_ops.h"
#include "common/codec.h"

void mxb_cpu_load(mxb_dtype_t type, const void *src, int64_t at, int64_t n, float *out) {
  if (type == MXB_DTYPE_FP32) {
    memcpy(out, (const float *)src + at, (size_t)n * sizeof(float));
    return;
  }
  const uint16_t *h = (const uint16_t *)src + at;
  if (type == MXB_DTYPE_BF16)
    for (int64_t i = 0; i < n; i++) out[i] = mxb_bf16_decode(h[i]);
  else
    for (int64_t i = 0; i < n; i++) out[i] = mxb_fp16_decode(h[i]);
}

void mxb_cpu_store(mxb_dtype_t type, const float *in, int64_t n, void *dst, int64_t at) {
  if (type == MXB_DTYPE_FP32) {
    memcpy((float *)dst + at, in, (size_t)n * sizeof(float));
    return;
  }
  uint16_t *h = (uint16_t *)dst + at;
  if (type == MXB_DTYPE_BF16)
    for (int64_t i = 0; i < n; i++) h[i] = mxb_bf16_rne(in[i]);
  else
    for (int64_t i = 0; i < n; i++) h[i] = mxb_fp16_rne(in[i]);
}

float mxb_cpu_amax(mxb_dtype_t type, const void *x, int64_t n) {
  uint32_t m = 0;
  float buf[256];
  for (int64_t i0 = 0; i0 < n; i0 += 256) {
    int64_t k = n - i0 < 256 ? n - i0 : 256;
    mxb_cpu_load(type, x, i0, k, buf);
    for (int64_t i = 0; i < k; i++) {
      uint32_t a = mxb_f2u(buf[i]) & MXB_F32_ABS; /* integer max: NaN > Inf > finite */
      m = a > m ? a : m;
    }
  }
  return mxb_u2f(m > MXB_F32_INF ? MXB_F32_QNAN : m);
}
