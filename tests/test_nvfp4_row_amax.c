/* NVFP4 with a tensor amax per row (cfg.nvfp4_row_amax, NUMERICS 4.1): each
 * row is the tensor [1, cols] of its own (RNE bytes equal quantizing the row
 * alone), the tensor carries MXB_TENSOR_ROW_AMAX, and dequantize and the
 * GEMM take row r's tensor scale from amax[r]. Refusals. */
#include <stdio.h>

#include "testutil.h"

enum { R = 7, C = 80 };

typedef struct qrow {
  _Alignas(16) uint8_t data[R * C / 2];
  _Alignas(16) uint8_t scales[R * C / 16];
  float amax[R];
  mxb_tensor_t t;
} qrow;

static void input(float *x) {
  for (int r = 0; r < R; r++)
    for (int c = 0; c < C; c++) /* rows of very different magnitudes */
      x[r * C + c] = ldexpf((float)((r * 131 + c * 37) % 29) - 14.0f, 3 * r - 9) * (c % 7 == 3 ? 3.3f : 1.0f);
}

static mxb_status_t quant(mxb_context_t *ctx, const mxb_quant_config_t *cfg, const float *x, int64_t rows, qrow *q) {
  mxb_tensor_init(&q->t, MXB_FORMAT_NVFP4, rows, C, MXB_SCALE_LAYOUT_LINEAR);
  q->t.data = q->data, q->t.scales = q->scales, q->t.amax = q->amax;
  return mxb_quantize(ctx, cfg, MXB_DTYPE_FP32, x, &q->t, NULL, 0, NULL);
}

/* Per row: the bytes of the row quantized alone (computed amax, or the
 * row's supplied one), the amax stored, and the dequantized values. */
Test(nvfp4_row_amax, each_row_is_its_own_tensor) {
  float x[R * C];
  input(x);
  x[3 * C + 5] = NAN; /* a NaN block in row 3: left out of its amax */
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  for (int opt = 0; opt < 8; opt++) {
    mxb_quant_config_t cfg;
    mxb_quant_config_init(&cfg);
    cfg.nvfp4_row_amax = 1;
    if (opt & 1) cfg.four_over_six = MXB_FOUR_OVER_SIX_MAE;
    if (opt & 2) cfg.rht.enabled = 1;
    if (opt & 4) cfg.amax_source = MXB_AMAX_FROM_TENSOR, cfg.nvfp4_e4m3_max = 256;
    qrow q;
    memset(&q, 0, sizeof q);
    for (int r = 0; r < R; r++) q.amax[r] = ldexpf(20.0f, 3 * r - 9); /* supplied (opt & 4) */
    cr_assert_eq(quant(ctx, &cfg, x, R, &q), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert_eq(q.t.flags & MXB_TENSOR_ROW_AMAX, MXB_TENSOR_ROW_AMAX);
    float y[R * C];
    cr_assert_eq(mxb_dequantize(ctx, &q.t, MXB_DTYPE_FP32, y, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
    mxb_quant_config_t one = cfg;
    one.nvfp4_row_amax = 0;
    for (int r = 0; r < R; r++) {
      qrow a;
      memset(&a, 0, sizeof a);
      a.amax[0] = q.amax[r];
      cr_assert_eq(quant(ctx, &one, x + r * C, 1, &a), MXB_SUCCESS, "%s", mxb_last_error_detail());
      cr_assert(memcmp(a.data, q.data + r * (C / 2), C / 2) == 0, "opt %d row %d: codes", opt, r);
      cr_assert(memcmp(a.scales, q.scales + r * (C / 16), C / 16) == 0, "opt %d row %d: scales", opt, r);
      cr_assert_eq(mxbt_f2u(a.amax[0]), mxbt_f2u(q.amax[r]), "opt %d row %d: amax", opt, r);
      float ya[C];
      cr_assert_eq(mxb_dequantize(ctx, &a.t, MXB_DTYPE_FP32, ya, NULL), MXB_SUCCESS);
      cr_assert(memcmp(ya, y + r * C, sizeof ya) == 0, "opt %d row %d: dequantized", opt, r);
    }
    if (!(opt & 4)) /* the computed amax of row 0 is its largest |x| (no RHT) */
      if (!(opt & 2)) {
        float m = 0.0f;
        for (int c = 0; c < C; c++) m = fmaxf(m, fabsf(x[c]));
        cr_assert_eq(q.amax[0], m);
      }
    mxb_error_stats_t st = {.struct_size = sizeof(st)};
    cr_assert_eq(mxb_error_stats(x, &q.t, &st), MXB_SUCCESS, "%s", mxb_last_error_detail());
  }
  mxb_context_destroy(ctx);
}

/* The exact GEMM: with A's amax per row, C's row m equals the product of
 * A's row m alone; with B's, C's column n that of B's row n alone. */
Test(nvfp4_row_amax, the_gemm_takes_each_rows_scale) {
  float x[R * C], w[R * C];
  input(x);
  for (int i = 0; i < R * C; i++) w[i] = x[(i * 11) % (R * C)] * (i % 2 ? -0.5f : 0.25f);
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_quant_config_t row, plain;
  mxb_quant_config_init(&row);
  mxb_quant_config_init(&plain);
  row.nvfp4_row_amax = 1;
  for (int side = 0; side < 2; side++) {
    qrow a, b;
    cr_assert_eq(quant(ctx, side ? &plain : &row, x, R, &a), MXB_SUCCESS);
    cr_assert_eq(quant(ctx, side ? &row : &plain, w, R, &b), MXB_SUCCESS);
    mxb_gemm_desc_t d;
    mxb_gemm_desc_init(&d);
    d.alpha = 0.75f;
    size_t ws = 0;
    cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &a.t, &b.t, &ws), MXB_SUCCESS);
    void *wk = ws ? aligned_alloc(16, (ws + 15) / 16 * 16) : NULL;
    float c[R * R], c1[R];
    cr_assert_eq(mxb_gemm(ctx, &d, &a.t, &b.t, c, wk, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
    for (int i = 0; i < R; i++) {
      qrow one; /* row i of the row-scaled operand as a tensor of its own */
      const qrow *full = side ? &b : &a;
      one.t = full->t;
      one.t.rows = 1;
      one.t.flags = 0;
      one.t.data = (uint8_t *)full->data + i * (C / 2);
      one.t.scales = (uint8_t *)full->scales + i * (C / 16);
      one.t.amax = (float *)full->amax + i;
      mxb_gemm_desc_t d1 = d;
      d1.ldc = side ? 1 : 0;
      cr_assert_eq(mxb_gemm(ctx, &d1, side ? &a.t : &one.t, side ? &one.t : &b.t, c1, wk, ws, NULL), MXB_SUCCESS,
                   "%s", mxb_last_error_detail());
      for (int j = 0; j < R; j++) {
        const float got = side ? c[j * R + i] : c[i * R + j];
        cr_assert_eq(mxbt_f2u(got), mxbt_f2u(c1[j]), "side %d: C element (%d, %d) = %a, alone %a", side, side ? j : i,
                     side ? i : j, got, c1[j]);
      }
    }
    free(wk);
  }
  mxb_context_destroy(ctx);
}

Test(nvfp4_row_amax, refusals) {
  float x[R * C];
  input(x);
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  qrow q;
  memset(&q, 0xA5, sizeof q);
  cfg.nvfp4_row_amax = 2;
  cr_assert_eq(quant(ctx, &cfg, x, R, &q), MXB_ERR_INVALID_ARGUMENT);
  cfg.nvfp4_row_amax = 1;
  cfg.block_2d = 1;
  cr_assert_eq(quant(ctx, &cfg, x, R, &q), MXB_ERR_UNSUPPORTED);
  cr_assert(strstr(mxb_last_error_detail(), "2D") != NULL, "%s", mxb_last_error_detail());
  for (size_t i = 0; i < sizeof q.data; i++) cr_assert_eq(q.data[i], 0xA5, "written on failure");
  cr_assert_eq(mxbt_f2u(q.amax[0]), 0xA5A5A5A5u);
  /* another format */
  cfg.block_2d = 0;
  uint8_t d8[R * C], s8[R * C / 32];
  mxb_tensor_t t;
  mxb_tensor_init(&t, MXB_FORMAT_MXFP8_E4M3, R, C, MXB_SCALE_LAYOUT_LINEAR);
  t.data = d8, t.scales = s8;
  cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_UNSUPPORTED);
  /* the grouped quantize and the grouped GEMM */
  int32_t offs[3] = {0, 3, R};
  mxb_grouped_gemm_desc_t gd;
  mxb_grouped_gemm_desc_init(&gd);
  gd.groups = 2;
  gd.index = offs;
  cr_assert_eq(mxb_grouped_quantize(ctx, &gd, &cfg, MXB_DTYPE_FP32, x, &q.t, NULL, 0, NULL), MXB_ERR_UNSUPPORTED);
  cr_assert(strstr(mxb_last_error_detail(), "per row") != NULL, "%s", mxb_last_error_detail());
  cr_assert_eq(quant(ctx, &cfg, x, R, &q), MXB_SUCCESS);
  mxb_quant_config_t plain;
  mxb_quant_config_init(&plain);
  qrow b;
  cr_assert_eq(quant(ctx, &plain, x, R, &b), MXB_SUCCESS); /* B: one expert of R rows */
  gd.groups = 1;
  int32_t one_group[2] = {0, R};
  gd.index = one_group;
  float cg[R * R];
  cr_assert_eq(mxb_grouped_gemm(ctx, &gd, &q.t, &b.t, cg, NULL, 0, NULL), MXB_ERR_UNSUPPORTED);
  cr_assert(strstr(mxb_last_error_detail(), "MXB_TENSOR_ROW_AMAX") != NULL, "%s", mxb_last_error_detail());
  /* a plan made for one amax refuses a tensor with one a row, and the reverse */
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  mxb_gemm_plan_t *plan = NULL;
  cr_assert_eq(mxb_gemm_plan_create(ctx, &d, &b.t, &b.t, NULL, &plan), MXB_SUCCESS, "%s", mxb_last_error_detail());
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_plan_workspace_size(plan, &ws), MXB_SUCCESS);
  void *wk = ws ? aligned_alloc(16, (ws + 15) / 16 * 16) : NULL;
  cr_assert_eq(mxb_gemm_plan_execute(plan, &q.t, &b.t, cg, wk, ws, NULL), MXB_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(mxb_last_error_detail(), "amax per row") != NULL, "%s", mxb_last_error_detail());
  cr_assert_eq(mxb_gemm_plan_execute(plan, &b.t, &b.t, cg, wk, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxb_gemm_plan_destroy(plan);
  free(wk);
  mxb_context_destroy(ctx);
}
