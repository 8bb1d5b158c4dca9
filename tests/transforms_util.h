/* Helpers shared by the transform suites (RHT, transpose, pair, MoR, stats):
 * a CPU context and host tensors whose planes start poisoned. */
#ifndef MXB_TRANSFORMS_UTIL_H
#define MXB_TRANSFORMS_UTIL_H
#include "testutil.h"

static inline mxb_context_t *mxbt_cpu(void) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  return ctx;
}

typedef struct mxbt_qt {
  mxb_tensor_t t;
  mxb_tensor_sizes_t s;
} mxbt_qt;

/* Host tensor with every plane filled with 0xA5. */
static inline mxbt_qt mxbt_qt_alloc(mxb_format_t f, int64_t rows, int64_t cols, mxb_scale_layout_t layout) {
  mxbt_qt q;
  cr_assert_eq(mxb_tensor_init(&q.t, f, rows, cols, layout), MXB_SUCCESS, "%s", mxb_last_error_detail());
  q.s.struct_size = sizeof(q.s);
  cr_assert_eq(mxb_tensor_sizes(f, rows, cols, layout, &q.s), MXB_SUCCESS);
  q.t.data = malloc(q.s.data_bytes);
  memset(q.t.data, 0xA5, q.s.data_bytes);
  if (q.s.scale_bytes) memset(q.t.scales = malloc(q.s.scale_bytes), 0xA5, q.s.scale_bytes);
  if (q.s.aux_bytes) memset(q.t.aux = malloc(q.s.aux_bytes), 0xA5, q.s.aux_bytes);
  if (q.s.amax_bytes) memset(q.t.amax = malloc(4), 0xA5, 4);
  return q;
}
static inline void mxbt_qt_free(mxbt_qt *q) {
  free(q->t.data);
  free(q->t.scales);
  free(q->t.aux);
  free(q->t.amax);
}
/* 1 when every plane of a and b holds the same bytes. */
static inline int mxbt_qt_equal(const mxbt_qt *a, const mxbt_qt *b) {
  if (a->s.data_bytes != b->s.data_bytes || a->s.scale_bytes != b->s.scale_bytes) return 0;
  if (memcmp(a->t.data, b->t.data, a->s.data_bytes)) return 0;
  if (a->s.scale_bytes && memcmp(a->t.scales, b->t.scales, a->s.scale_bytes)) return 0;
  if (a->s.aux_bytes && memcmp(a->t.aux, b->t.aux, a->s.aux_bytes)) return 0;
  if (a->s.amax_bytes && memcmp(a->t.amax, b->t.amax, 4)) return 0;
  return 1;
}
/* Quantize fp32 x into q (workspace allocated here). */
static inline void mxbt_quantize(mxb_context_t *ctx, const mxb_quant_config_t *cfg, const float *x, mxbt_qt *q) {
  size_t ws = 0;
  cr_assert_eq(mxb_quantize_workspace_size(ctx, cfg, MXB_DTYPE_FP32, &q->t, &ws), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  void *w = ws ? malloc(ws) : NULL;
  cr_assert_eq(mxb_quantize(ctx, cfg, MXB_DTYPE_FP32, x, &q->t, w, ws, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  free(w);
}
static inline void mxbt_transpose_f32(const float *x, int64_t rows, int64_t cols, float *xt) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) xt[c * rows + r] = x[r * cols + c];
}
#endif
