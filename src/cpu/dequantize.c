/* CPU reference dequantizer: decoded value times block scale times tensor
 * scale, rounded to fp32 (then to the output type). Rows are independent:
 * chunks of rows run on the thread pool. */
#include <stdlib.h>

#include "common/block.h"
#include "core/error.h"
#include "core/tensor.h"
#include "cpu/cpu_ops.h"
#include "cpu/decode.h"
#include "cpu/pool.h"

typedef struct dslot {
  double *v;
  float *y;
  uint8_t *codes;
} dslot;

typedef struct dctx {
  const mxb_tensor_t *src;
  const mxb_format_desc *d;
  mxb_tensor_sizes_t sz;
  mxb_dtype_t dst_type;
  void *dst;
  int tscale;
  float ts;
  float lut[256]; /* element values (codes of up to 8 bits) */
  int64_t chunk;  /* rows per task */
  dslot *slots;
} dctx;

static void dequantize_rows(void *arg, int64_t task, int slot) {
  const dctx *q = arg;
  const mxb_tensor_t *src = q->src;
  const int64_t cols = src->cols, bc = q->d->block_cols;
  const dslot *s = &q->slots[slot];
  int64_t r1 = (task + 1) * q->chunk < src->rows ? (task + 1) * q->chunk : src->rows;
  for (int64_t row = task * q->chunk; row < r1; row++) {
    if (q->tscale == MXB_TSCALE_AMAX) {
      /* NVFP4: y = e2m1 * ((s_b * A) * (1/2688)), left to right in fp32, A the amax used
       * (1/1536 with the bound 256) */
      mxb_cpu_unpack((const uint8_t *)src->data + (size_t)row * q->sz.row_bytes, cols, q->d->elem_bits, s->codes);
      for (int64_t j = 0; j < q->sz.scale_cols; j++) {
        uint8_t sc = ((const uint8_t *)src->scales)[mxb_cpu_scale_index(src, row, j, q->sz.scale_cols)];
        float m = mxb_nvfp4_dequant_scale(sc, mxb_nvfp4_amax_at(src->amax, src->flags, row), src->flags);
        for (int64_t c = j * bc; c < cols && c < (j + 1) * bc; c++) s->y[c] = q->lut[s->codes[c]] * m;
      }
    } else {
      /* exact in binary64, so one rounding to fp32 equals the fp32 product */
      mxb_cpu_decode_row_f64(src, row, s->v);
      for (int64_t c = 0; c < cols; c++) s->y[c] = (float)s->v[c] * q->ts;
    }
    /* NaN results leave as the positive quiet NaN on every backend */
    for (int64_t c = 0; c < cols; c++) s->y[c] = mxb_canon_nan(s->y[c]);
    mxb_cpu_store(q->dst_type, s->y, cols, q->dst, row * cols);
  }
}

mxb_status_t mxb_cpu_dequantize(const mxb_tensor_t *src, mxb_dtype_t dst_type, void *dst) {
  dctx q;
  q.src = src;
  q.d = mxb_format_desc_get(src->format);
  q.dst_type = dst_type;
  q.dst = dst;
  int64_t cols = src->cols;
  mxb_compute_sizes(src->format, src->rows, cols, src->scale_layout, &q.sz);
  q.tscale = mxb_fmt_tensor_scale(src->format);
  q.ts = q.tscale == MXB_TSCALE_PLANE ? ((const float *)src->scales)[0] : 1.0f;
  mxb_fp p = mxb_elem_fp(q.d->elem);
  for (int k = 0; q.d->elem_bits <= 8 && k < (1 << q.d->elem_bits); k++) q.lut[k] = mxb_fp_decode(&p, (uint32_t)k);
  q.chunk = cols < 16384 ? 16384 / cols : 1;
  int64_t ntasks = (src->rows + q.chunk - 1) / q.chunk;
  int nt = mxb_cpu_plan(ntasks, (double)src->rows * (double)cols);
  int ok = (q.slots = calloc((size_t)nt, sizeof(dslot))) != NULL;
  for (int i = 0; ok && i < nt; i++) {
    dslot *s = &q.slots[i];
    s->v = malloc((size_t)cols * sizeof(double));
    s->y = malloc((size_t)cols * sizeof(float));
    s->codes = malloc((size_t)cols);
    ok = s->v && s->y && s->codes;
  }
  if (ok) mxb_cpu_run(nt, ntasks, dequantize_rows, &q);
  for (int i = 0; q.slots && i < nt; i++) {
    free(q.slots[i].v);
    free(q.slots[i].y);
    free(q.slots[i].codes);
  }
  free(q.slots);
  if (!ok)
    return mxb_fail(MXB_ERR_ALLOC, "cannot allocate the row buffers of the CPU dequantizer (%d threads, %lld columns)",
                    nt, (long long)cols);
  return MXB_SUCCESS;
}
