/* mxb_quantize_pair: the row-wise copy of x and the column-wise copy of x^T,
 * each byte-identical to its own mxb_quantize, with independent SR offsets. */
#include "transforms_util.h"

static void pair(mxb_context_t *ctx, const mxb_quant_config_t *rc, const mxb_quant_config_t *cc, const float *x,
                 mxbt_qt *row, mxbt_qt *col) {
  size_t ws = 0;
  cr_assert_eq(mxb_quantize_pair_workspace_size(ctx, rc, cc, MXB_DTYPE_FP32, &row->t, &col->t, &ws), MXB_SUCCESS,
               "%s", mxb_last_error_detail());
  void *w = malloc(ws);
  cr_assert_eq(mxb_quantize_pair(ctx, rc, cc, MXB_DTYPE_FP32, x, &row->t, &col->t, w, ws, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  free(w);
}

Test(pair, each_copy_equals_its_own_quantization) {
  mxb_context_t *ctx = mxbt_cpu();
  int64_t rows = 48, cols = 80; /* cols and rows multiples of 16 for the RHT copy */
  float *x = malloc(rows * cols * 4), *xt = malloc(rows * cols * 4);
  mxbt_fill_normal(x, rows * cols, 77, 2.0f);
  mxbt_transpose_f32(x, rows, cols, xt);
  /* The NVFP4 recipe: activations row-wise with RNE; the Wgrad copy
   * column-wise with RHT and SR. Also an MXFP8 pair. */
  mxb_format_t fmts[2] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3};
  for (int f = 0; f < 2; f++) {
    mxb_quant_config_t rc, cc;
    mxb_quant_config_init(&rc);
    mxb_quant_config_init(&cc);
    cc.rounding = MXB_ROUND_SR;
    cc.seed = 1234;
    cc.offset = 1;
    cc.rht.enabled = fmts[f] == MXB_FORMAT_NVFP4;
    mxbt_qt row = mxbt_qt_alloc(fmts[f], rows, cols, MXB_SCALE_LAYOUT_SWIZZLED);
    mxbt_qt col = mxbt_qt_alloc(fmts[f], cols, rows, MXB_SCALE_LAYOUT_LINEAR);
    mxbt_qt row_ref = mxbt_qt_alloc(fmts[f], rows, cols, MXB_SCALE_LAYOUT_SWIZZLED);
    mxbt_qt col_ref = mxbt_qt_alloc(fmts[f], cols, rows, MXB_SCALE_LAYOUT_LINEAR);
    pair(ctx, &rc, &cc, x, &row, &col);
    cr_assert_str_eq(mxb_context_last_impl(ctx), "cpu-reference");
    mxbt_quantize(ctx, &rc, x, &row_ref);
    mxbt_quantize(ctx, &cc, xt, &col_ref);
    cr_assert(mxbt_qt_equal(&row, &row_ref), "format %d: rowwise differs", fmts[f]);
    cr_assert(mxbt_qt_equal(&col, &col_ref), "format %d: colwise differs", fmts[f]);
    cr_assert_eq(col.t.flags, col_ref.t.flags);
    cr_assert_eq(row.t.flags, row_ref.t.flags);
    mxbt_qt_free(&row);
    mxbt_qt_free(&col);
    mxbt_qt_free(&row_ref);
    mxbt_qt_free(&col_ref);
  }
  free(x);
  free(xt);
  mxb_context_destroy(ctx);
}

Test(pair, sr_offsets_are_independent) {
  /* A symmetric x: both copies quantize the same matrix, so with SR they
   * agree exactly when the offsets agree and differ when they differ. */
  mxb_context_t *ctx = mxbt_cpu();
  int64_t n = 64;
  float *x = malloc(n * n * 4);
  mxbt_fill_normal(x, n * n, 5, 1.0f);
  for (int64_t r = 0; r < n; r++)
    for (int64_t c = 0; c < r; c++) x[r * n + c] = x[c * n + r];
  mxb_quant_config_t rc, cc;
  mxb_quant_config_init(&rc);
  rc.rounding = MXB_ROUND_SR;
  rc.seed = 99;
  rc.offset = 10;
  cc = rc;
  mxbt_qt row = mxbt_qt_alloc(MXB_FORMAT_NVFP4, n, n, MXB_SCALE_LAYOUT_LINEAR);
  mxbt_qt col = mxbt_qt_alloc(MXB_FORMAT_NVFP4, n, n, MXB_SCALE_LAYOUT_LINEAR);
  pair(ctx, &rc, &cc, x, &row, &col);
  cr_assert(mxbt_qt_equal(&row, &col), "same offset, same bits");
  cc.offset = 11;
  pair(ctx, &rc, &cc, x, &row, &col);
  cr_assert_eq(memcmp(row.t.scales, col.t.scales, row.s.scale_bytes), 0, "scales do not depend on the bits");
  cr_assert_neq(memcmp(row.t.data, col.t.data, row.s.data_bytes), 0, "other offset, other rounding");
  mxbt_qt_free(&row);
  mxbt_qt_free(&col);
  free(x);
  mxb_context_destroy(ctx);
}

Test(pair, bad_input_leaves_outputs_untouched) {
  mxb_context_t *ctx = mxbt_cpu();
  int64_t rows = 32, cols = 48;
  float x[32 * 48] = {1};
  mxb_quant_config_t rc, cc;
  mxb_quant_config_init(&rc);
  mxb_quant_config_init(&cc);
  mxbt_qt row = mxbt_qt_alloc(MXB_FORMAT_NVFP4, rows, cols, MXB_SCALE_LAYOUT_LINEAR);
  mxbt_qt col = mxbt_qt_alloc(MXB_FORMAT_NVFP4, cols, rows, MXB_SCALE_LAYOUT_LINEAR);
  mxbt_qt prow = mxbt_qt_alloc(MXB_FORMAT_NVFP4, rows, cols, MXB_SCALE_LAYOUT_LINEAR);
  mxbt_qt pcol = mxbt_qt_alloc(MXB_FORMAT_NVFP4, cols, rows, MXB_SCALE_LAYOUT_LINEAR);
  size_t ws = 0;
  cr_assert_eq(mxb_quantize_pair_workspace_size(ctx, &rc, &cc, MXB_DTYPE_FP32, &row.t, &col.t, &ws), MXB_SUCCESS);
  cr_assert_geq(ws, (size_t)(rows * cols * 4));
  char *w = malloc(ws);
#define EXPECT(status, call)                                                                           \
  do {                                                                                                 \
    cr_assert_eq((call), (status), "%s", mxb_last_error_detail());                                     \
    cr_assert_neq(strlen(mxb_last_error_detail()), 0);                                                 \
    cr_assert(mxbt_qt_equal(&row, &prow) && mxbt_qt_equal(&col, &pcol), "an output was written");       \
  } while (0)
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_quantize_pair(NULL, &rc, &cc, MXB_DTYPE_FP32, x, &row.t, &col.t, w, ws, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_quantize_pair(ctx, NULL, &cc, MXB_DTYPE_FP32, x, &row.t, &col.t, w, ws, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_quantize_pair(ctx, &rc, NULL, MXB_DTYPE_FP32, x, &row.t, &col.t, w, ws, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_quantize_pair(ctx, &rc, &cc, MXB_DTYPE_FP32, NULL, &row.t, &col.t, w, ws, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_quantize_pair(ctx, &rc, &cc, MXB_DTYPE_FP32, x, NULL, &col.t, w, ws, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_quantize_pair(ctx, &rc, &cc, MXB_DTYPE_FP32, x, &row.t, NULL, w, ws, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_quantize_pair(ctx, &rc, &cc, (mxb_dtype_t)5, x, &row.t, &col.t, w, ws, NULL));
  EXPECT(MXB_ERR_WORKSPACE_TOO_SMALL, mxb_quantize_pair(ctx, &rc, &cc, MXB_DTYPE_FP32, x, &row.t, &col.t, w, ws - 1, NULL));
  EXPECT(MXB_ERR_WORKSPACE_TOO_SMALL, mxb_quantize_pair(ctx, &rc, &cc, MXB_DTYPE_FP32, x, &row.t, &col.t, NULL, 0, NULL));
  /* colwise must be the transpose's shape */
  col.t.rows = rows;
  col.t.cols = cols;
  EXPECT(MXB_ERR_BAD_SHAPE, mxb_quantize_pair(ctx, &rc, &cc, MXB_DTYPE_FP32, x, &row.t, &col.t, w, ws, NULL));
  col.t.rows = cols;
  col.t.cols = rows;
  /* an option the column copy cannot take: an RHT of 64 along its 32 cols */
  cc.rht.enabled = 1;
  cc.rht.size = 64;
  EXPECT(MXB_ERR_BAD_SHAPE, mxb_quantize_pair(ctx, &rc, &cc, MXB_DTYPE_FP32, x, &row.t, &col.t, w, ws, NULL));
  mxb_quant_config_init(&cc);
  rc.block_2d = 1; /* no 2D tiles for FP8 1x128 (its 2D form is the 128x128 format) */
  row.t.format = prow.t.format = MXB_FORMAT_FP8_E4M3_1x128;
  EXPECT(MXB_ERR_UNSUPPORTED, mxb_quantize_pair(ctx, &rc, &cc, MXB_DTYPE_FP32, x, &row.t, &col.t, w, ws, NULL));
  row.t.format = prow.t.format = MXB_FORMAT_NVFP4;
  rc.block_2d = 0;
  cc.struct_size = 4;
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_quantize_pair(ctx, &rc, &cc, MXB_DTYPE_FP32, x, &row.t, &col.t, w, ws, NULL));
#undef EXPECT
  mxb_quant_config_init(&cc);
  cr_assert_eq(mxb_quantize_pair_workspace_size(ctx, &rc, &cc, MXB_DTYPE_FP32, &row.t, &col.t, NULL),
               MXB_ERR_INVALID_ARGUMENT);
  free(w);
  mxbt_qt_free(&row);
  mxbt_qt_free(&col);
  mxbt_qt_free(&prow);
  mxbt_qt_free(&pcol);
  mxb_context_destroy(ctx);
}
