/* Exact transpose of 2D-scaled NVFP4 (NUMERICS 4.1) and MX (4.2; CPU
 * backend): byte-identical to quantizing x^T with 2D scaling, for tails and
 * both scale layouts. */
#include "transforms_util.h"

static void fill(float *x, int64_t n, uint64_t seed) {
  uint64_t s = seed;
  for (int64_t i = 0; i < n; i++) x[i] = mxbt_wide(&s, -12, 6);
}

static void check_identity_fmt(mxb_format_t f, int64_t rows, int64_t cols, mxb_scale_layout_t lin,
                               mxb_scale_layout_t lout, const float *x) {
  mxb_context_t *ctx = mxbt_cpu();
  float *xt = malloc((size_t)(rows * cols) * 4);
  mxbt_transpose_f32(x, rows, cols, xt);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.block_2d = 1;
  mxbt_qt w = mxbt_qt_alloc(f, rows, cols, lin);
  mxbt_qt wt = mxbt_qt_alloc(f, cols, rows, lout);
  mxbt_qt ref = mxbt_qt_alloc(f, cols, rows, lout);
  mxbt_quantize(ctx, &cfg, x, &w);
  cr_assert(w.t.flags & MXB_TENSOR_SCALED_2D);
  mxbt_quantize(ctx, &cfg, xt, &ref);
  cr_assert_eq(mxb_transpose_quantized(ctx, &w.t, &wt.t, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_str_eq(mxb_context_last_impl(ctx), "cpu-reference");
  cr_assert_eq(wt.t.flags, ref.t.flags);
  cr_assert_eq(memcmp(wt.t.data, ref.t.data, ref.s.data_bytes), 0, "%s [%lld, %lld] codes differ",
               mxbt_format_name(f), (long long)rows, (long long)cols);
  cr_assert_eq(memcmp(wt.t.scales, ref.t.scales, ref.s.scale_bytes), 0, "%s [%lld, %lld] layouts %d/%d: scales differ",
               mxbt_format_name(f), (long long)rows, (long long)cols, lin, lout);
  if (ref.s.amax_bytes) cr_assert_eq(mxbt_f2u(*wt.t.amax), mxbt_f2u(*ref.t.amax));
  /* and the decoded values are the transpose of the decoded input */
  float *y = malloc((size_t)(rows * cols) * 4), *yt = malloc((size_t)(rows * cols) * 4);
  cr_assert_eq(mxb_dequantize(ctx, &w.t, MXB_DTYPE_FP32, y, NULL), MXB_SUCCESS);
  cr_assert_eq(mxb_dequantize(ctx, &wt.t, MXB_DTYPE_FP32, yt, NULL), MXB_SUCCESS);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) {
      float a = y[r * cols + c], b = yt[c * rows + r];
      cr_assert(mxbt_f2u(a) == mxbt_f2u(b) || (isnan(a) && isnan(b)));
    }
  free(y);
  free(yt);
  mxbt_qt_free(&w);
  mxbt_qt_free(&wt);
  mxbt_qt_free(&ref);
  free(xt);
  mxb_context_destroy(ctx);
}

static void check_identity(int64_t rows, int64_t cols, mxb_scale_layout_t lin, mxb_scale_layout_t lout,
                           const float *x) {
  check_identity_fmt(MXB_FORMAT_NVFP4, rows, cols, lin, lout, x);
}

Test(transpose, identity_with_tails_and_layouts) {
  static const int64_t shapes[][2] = {{16, 16}, {32, 48}, {33, 50}, {7, 5}, {1, 31}, {130, 17}, {17, 260}};
  for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
    int64_t rows = shapes[s][0], cols = shapes[s][1];
    float *x = malloc((size_t)(rows * cols) * 4);
    fill(x, rows * cols, 100 + s);
    for (int lin = 0; lin < 2; lin++)
      for (int lout = 0; lout < 2; lout++)
        check_identity(rows, cols, (mxb_scale_layout_t)lin, (mxb_scale_layout_t)lout, x);
    free(x);
  }
}

Test(transpose, identity_with_special_tiles) {
  int64_t rows = 40, cols = 36;
  float x[40 * 36];
  fill(x, rows * cols, 7);
  for (int64_t r = 0; r < 16; r++)
    for (int64_t c = 16; c < 32; c++) x[r * cols + c] = 0.0f; /* an all-zero tile */
  x[20 * cols + 3] = NAN;                                      /* a NaN tile */
  x[35 * cols + 35] = -INFINITY;                                /* a tail tile with Inf */
  x[3 * cols + 3] = -0.0f;
  x[5 * cols + 7] = 1e-30f; /* far below its tile: underflows */
  check_identity(rows, cols, MXB_SCALE_LAYOUT_LINEAR, MXB_SCALE_LAYOUT_SWIZZLED, x);
}

/* MX formats with 32x32 tiles: 8-, 6- and 4-bit codes (6-bit ones straddle
 * bytes), MXINT8, tails in both directions, both layouts, special tiles. */
Test(transpose, mx_identity_with_tails_and_layouts) {
  static const mxb_format_t fs[] = {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP6_E3M2,
                                    MXB_FORMAT_MXFP6_E2M3, MXB_FORMAT_MXFP4, MXB_FORMAT_MXINT8};
  static const int64_t shapes[][2] = {{32, 32}, {64, 96}, {33, 70}, {7, 5}, {1, 40}, {130, 17}};
  for (size_t f = 0; f < sizeof fs / sizeof fs[0]; f++)
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
      int64_t rows = shapes[s][0], cols = shapes[s][1];
      float *x = malloc((size_t)(rows * cols) * 4);
      fill(x, rows * cols, 200 + s);
      if (rows * cols > 100) {
        x[3] = NAN;               /* a NaN tile */
        x[rows * cols - 1] = -0.0f;
      }
      for (int lin = 0; lin < 2; lin++)
        check_identity_fmt(fs[f], rows, cols, (mxb_scale_layout_t)lin, (mxb_scale_layout_t)(1 - lin), x);
      free(x);
    }
}

Test(transpose, bad_input_leaves_output_untouched) {
  mxb_context_t *ctx = mxbt_cpu();
  float x[32 * 48];
  fill(x, 32 * 48, 3);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  mxbt_qt w1 = mxbt_qt_alloc(MXB_FORMAT_NVFP4, 32, 48, MXB_SCALE_LAYOUT_LINEAR);
  mxbt_quantize(ctx, &cfg, x, &w1); /* 1D scaling */
  cfg.block_2d = 1;
  mxbt_qt w = mxbt_qt_alloc(MXB_FORMAT_NVFP4, 32, 48, MXB_SCALE_LAYOUT_LINEAR);
  mxbt_quantize(ctx, &cfg, x, &w);
  mxbt_qt out = mxbt_qt_alloc(MXB_FORMAT_NVFP4, 48, 32, MXB_SCALE_LAYOUT_LINEAR);
  mxbt_qt poison = mxbt_qt_alloc(MXB_FORMAT_NVFP4, 48, 32, MXB_SCALE_LAYOUT_LINEAR);
#define EXPECT(status, call)                                         \
  do {                                                               \
    cr_assert_eq((call), (status), "%s", mxb_last_error_detail());   \
    cr_assert_neq(strlen(mxb_last_error_detail()), 0);               \
    cr_assert(mxbt_qt_equal(&out, &poison), "out was written");      \
  } while (0)
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_transpose_quantized(NULL, &w.t, &out.t, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_transpose_quantized(ctx, NULL, &out.t, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_transpose_quantized(ctx, &w.t, NULL, NULL));
  EXPECT(MXB_ERR_UNSUPPORTED, mxb_transpose_quantized(ctx, &w1.t, &out.t, NULL));
  cr_assert_not_null(strstr(mxb_last_error_detail(), "MXB_TENSOR_SCALED_2D"));
  out.t.rows = 32;
  out.t.cols = 48;
  EXPECT(MXB_ERR_BAD_SHAPE, mxb_transpose_quantized(ctx, &w.t, &out.t, NULL));
  out.t.rows = 48;
  out.t.cols = 32;
  out.t.format = MXB_FORMAT_MXFP4;
  EXPECT(MXB_ERR_UNSUPPORTED, mxb_transpose_quantized(ctx, &w.t, &out.t, NULL));
  out.t.format = MXB_FORMAT_NVFP4;
  void *keep = out.t.amax;
  out.t.amax = NULL;
  cr_assert_eq(mxb_transpose_quantized(ctx, &w.t, &out.t, NULL), MXB_ERR_INVALID_ARGUMENT);
  out.t.amax = keep;
  cr_assert(mxbt_qt_equal(&out, &poison));
  w.t.flags |= MXB_TENSOR_RHT;
  EXPECT(MXB_ERR_UNSUPPORTED, mxb_transpose_quantized(ctx, &w.t, &out.t, NULL));
  w.t.flags &= ~MXB_TENSOR_RHT;
  w.t.format = MXB_FORMAT_MXFP8_E4M3;
  EXPECT(MXB_ERR_UNSUPPORTED, mxb_transpose_quantized(ctx, &w.t, &out.t, NULL));
  w.t.format = MXB_FORMAT_NVFP4;
#undef EXPECT
  keep = out.t.data;
  out.t.data = w.t.data; /* not in place */
  cr_assert_eq(mxb_transpose_quantized(ctx, &w.t, &out.t, NULL), MXB_ERR_INVALID_ARGUMENT);
  out.t.data = keep;
  cr_assert(mxbt_qt_equal(&out, &poison));
  cr_assert_eq(mxb_transpose_quantized(ctx, &w.t, &out.t, NULL), MXB_SUCCESS);
  mxbt_qt_free(&w1);
  mxbt_qt_free(&w);
  mxbt_qt_free(&out);
  mxbt_qt_free(&poison);
  mxb_context_destroy(ctx);
}
