/* CPU reference dequantizer: decoded value times block scale times tensor
 * scale, rounded to fp32 (then to the output type). */
#include <stdlib.h>

#include "common/block.h"
#include "core/error.h"
#include "core/tensor.h"
#include "cpu/cpu_ops.h"
#include "cpu/decode.h"

mxb_status_t mxb_cpu_dequantize(const mxb_tensor_t *src, mxb_dtype_t dst_type, void *dst) {
  const mxb_format_desc *d = mxb_format_desc_get(src->format);
  int64_t cols = src->cols;
  double *v = malloc((size_t)cols * sizeof(double));
  float *y = malloc((size_t)cols * sizeof(float));
  uint8_t *codes = malloc((size_t)cols);
  if (!v || !y || !codes) {
    free(v);
    free(y);
    free(codes);
    return mxb_fail(MXB_ERR_ALLOC, "cannot allocate the %zu-byte row buffers of the CPU dequantizer",
                    (size_t)cols * 13);
  }
  mxb_tensor_sizes_t sz;
  mxb_compute_sizes(src->format, src->rows, cols, src->scale_layout, &sz);
  const int tscale = mxb_fmt_tensor_scale(src->format);
  float ts = tscale == MXB_TSCALE_PLANE ? ((const float *)src->scales)[0] : 1.0f;
  mxb_fp p = mxb_elem_fp(d->elem);
  float lut[256]; /* element values (codes of up to 8 bits) */
  for (int k = 0; d->elem_bits <= 8 && k < (1 << d->elem_bits); k++) lut[k] = mxb_fp_decode(&p, (uint32_t)k);
  int64_t bc = d->block_cols;
  for (int64_t row = 0; row < src->rows; row++) {
    if (tscale == MXB_TSCALE_AMAX) {
      /* NVFP4: y = e2m1 * ((s_b * A) * (1/2688)), left to right in fp32, A the amax used */
      mxb_cpu_unpack((const uint8_t *)src->data + (size_t)row * sz.row_bytes, cols, d->elem_bits, codes);
      for (int64_t j = 0; j < sz.scale_cols; j++) {
        uint8_t s = ((const uint8_t *)src->scales)[mxb_cpu_scale_index(src, row, j, sz.scale_cols)];
        float m = mxb_nvfp4_dequant_scale(s, *src->amax);
        for (int64_t c = j * bc; c < cols && c < (j + 1) * bc; c++) y[c] = lut[codes[c]] * m;
      }
    } else {
      /* exact in binary64, so one rounding to fp32 equals the fp32 product */
      mxb_cpu_decode_row_f64(src, row, v);
      for (int64_t c = 0; c < cols; c++) y[c] = (float)v[c] * ts;
    }
    /* NaN results leave as the positive quiet NaN on every backend */
    for (int64_t c = 0; c < cols; c++) y[c] = mxb_canon_nan(y[c]);
    mxb_cpu_store(dst_type, y, cols, dst, row * cols);
  }
  free(v);
  free(y);
  free(codes);
  return MXB_SUCCESS;
}
