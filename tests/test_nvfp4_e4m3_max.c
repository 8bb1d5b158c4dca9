/* NVFP4 with the E4M3 bound 256 (cfg.nvfp4_e4m3_max, NUMERICS 4.1): the
 * tensor amax maps to the block scale 256, so Four Over Six's scale-to-4
 * candidate (1.5 x 256 = 384) never saturates; the tensor carries
 * MXB_TENSOR_E4M3_MAX_256, and dequantize, statistics and the GEMM take its
 * tensor scale as amax / 1536. Hand-worked values and the refusals. */
#include <stdio.h>

#include "common/block.h"
#include "testutil.h"

typedef struct q16 {
  uint8_t data[8], scales[1];
  float amax;
  mxb_tensor_t t;
} q16;

static char g_detail[512];

/* One block of 16 fp32 values on the CPU backend with this bound and metric. */
static mxb_status_t quantize16(const float *x, int bound, mxb_four_over_six_t fos, q16 *q) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  memset(q, 0, sizeof(*q));
  cr_assert_eq(mxb_tensor_init(&q->t, MXB_FORMAT_NVFP4, 1, 16, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  q->t.data = q->data;
  q->t.scales = q->scales;
  q->t.amax = &q->amax;
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.nvfp4_e4m3_max = bound;
  cfg.four_over_six = fos;
  mxb_status_t s = mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &q->t, NULL, 0, NULL);
  snprintf(g_detail, sizeof g_detail, "%s", mxb_last_error_detail()); /* before the destroy clears it */
  mxb_context_destroy(ctx);
  return s;
}

static uint8_t code(const q16 *q, int j) { return (uint8_t)(j & 1 ? q->data[j / 2] >> 4 : q->data[j / 2] & 0xF); }

/* x = {6, 5, 5, 5, 0 ...}, tensor amax 6. Bound 448: S_enc = 448, the block
 * scale 448 (0x7E); its 4 candidate 672 saturates to 448, so Four Over Six
 * keeps 6: codes {6, 4, 4, 4} (5 ties and rounds to 4). Bound 256: S_enc =
 * 256, the scale 256 (0x78), codes {6, 4, 4, 4}; with Four Over Six the 4
 * candidate 384 (0x7C) fits and wins (6 -> 4, 5 -> 3.33 -> 3, dequantized 4.5). */
Test(nvfp4_e4m3_max, a_worked_block) {
  const float x[16] = {6.0f, 5.0f, 5.0f, 5.0f};
  static const struct {
    int bound;
    mxb_four_over_six_t fos;
    uint8_t scale, c[4];
    uint32_t flags;
  } cases[] = {
    {0, MXB_FOUR_OVER_SIX_OFF, 0x7E, {7, 6, 6, 6}, 0},
    {448, MXB_FOUR_OVER_SIX_MSE, 0x7E, {7, 6, 6, 6}, 0},
    {256, MXB_FOUR_OVER_SIX_OFF, 0x78, {7, 6, 6, 6}, MXB_TENSOR_E4M3_MAX_256},
    {256, MXB_FOUR_OVER_SIX_MSE, 0x7C, {6, 5, 5, 5}, MXB_TENSOR_E4M3_MAX_256},
    {256, MXB_FOUR_OVER_SIX_MAE, 0x7C, {6, 5, 5, 5}, MXB_TENSOR_E4M3_MAX_256},
  };
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    q16 q;
    cr_assert_eq(quantize16(x, cases[k].bound, cases[k].fos, &q), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert_eq(q.amax, 6.0f);
    cr_assert_eq(q.t.flags, cases[k].flags, "case %zu: flags %#x", k, q.t.flags);
    cr_assert_eq(q.scales[0], cases[k].scale, "case %zu: scale %#x", k, q.scales[0]);
    for (int j = 0; j < 4; j++) cr_assert_eq(code(&q, j), cases[k].c[j], "case %zu, element %d", k, j);
    for (int j = 4; j < 16; j++) cr_assert_eq(code(&q, j), 0, "case %zu, element %d", k, j);
    /* dequantize: e2m1 * ((s_b * A) * (1 / (6 * bound))), left to right in fp32 */
    float y[16];
    cr_assert_eq(mxb_dequantize(ctx, &q.t, MXB_DTYPE_FP32, y, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
    const float sb = q.scales[0] == 0x7E ? 448.0f : q.scales[0] == 0x78 ? 256.0f : 384.0f;
    const float kinv = cases[k].bound == 256 ? 1.0f / 1536.0f : 1.0f / 2688.0f;
    const float e2m1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
    for (int j = 0; j < 16; j++) {
      const float want = e2m1[code(&q, j)] * ((sb * 6.0f) * kinv);
      cr_assert_eq(mxbt_f2u(y[j]), mxbt_f2u(want), "case %zu, y[%d] = %a, want %a", k, j, y[j], want);
    }
    /* the statistic counts the block at 4 only where 4 was taken */
    mxb_error_stats_t st = {.struct_size = sizeof(st)};
    cr_assert_eq(mxb_error_stats(x, &q.t, &st), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert_eq(st.frac_scaled_to_4, cases[k].scale == 0x7C ? 1.0 : 0.0, "case %zu", k);
    const double want_err = cases[k].scale == 0x7C ? 0.5 : 1.0; /* up to the rounding of 1 / (6 * bound) */
    cr_assert(fabs(st.max_abs_err - want_err) < 1e-6, "case %zu: max_abs_err %g", k, st.max_abs_err);
  }
  mxb_context_destroy(ctx);
}

/* The exact GEMM reads each operand's bound: A (bound 256) times B (448),
 * K = 16: C = fl(alpha (tsA tsB)) * acc with tsA = 6 / 1536, tsB = 6 / 2688
 * and acc the exact sum of the decoded products (e2m1 * s_b). */
Test(nvfp4_e4m3_max, the_gemm_reads_the_bound) {
  const float x[16] = {6.0f, 5.0f, 5.0f, 5.0f};
  q16 a, b;
  cr_assert_eq(quantize16(x, 256, MXB_FOUR_OVER_SIX_OFF, &a), MXB_SUCCESS);
  cr_assert_eq(quantize16(x, 448, MXB_FOUR_OVER_SIX_OFF, &b), MXB_SUCCESS);
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  float c[2] = {0};
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &a.t, &b.t, &ws), MXB_SUCCESS);
  void *w = ws ? aligned_alloc(16, (ws + 15) / 16 * 16) : NULL;
  cr_assert_eq(mxb_gemm(ctx, &d, &a.t, &b.t, &c[0], w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  const double acc = (6.0 * 256.0) * (6.0 * 448.0) + 3.0 * (4.0 * 256.0) * (4.0 * 448.0);
  const float want = (1.0f * ((6.0f * (1.0f / 1536.0f)) * (6.0f * (1.0f / 2688.0f)))) * (float)acc;
  cr_assert_eq(mxbt_f2u(c[0]), mxbt_f2u(want), "C = %a, want %a", c[0], want);
  /* the same bytes read with the bound 448: a different tensor scale */
  a.t.flags = 0;
  cr_assert_eq(mxb_gemm(ctx, &d, &a.t, &b.t, &c[1], w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_neq(mxbt_f2u(c[0]), mxbt_f2u(c[1]));
  free(w);
  mxb_context_destroy(ctx);
}

/* quantize_pair and the grouped quantize give their outputs the flag too. */
Test(nvfp4_e4m3_max, pair_and_grouped_set_the_flag) {
  enum { R = 32, C = 32 };
  float x[R * C];
  for (int i = 0; i < R * C; i++) x[i] = (float)((i * 37) % 23) - 11.0f;
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.nvfp4_e4m3_max = 256;
  uint8_t rd[R * C / 2], rs[R * C / 16], cd[R * C / 2], cs[R * C / 16];
  float ra = 0, ca = 0;
  mxb_tensor_t row, col;
  mxb_tensor_init(&row, MXB_FORMAT_NVFP4, R, C, MXB_SCALE_LAYOUT_LINEAR);
  mxb_tensor_init(&col, MXB_FORMAT_NVFP4, C, R, MXB_SCALE_LAYOUT_LINEAR);
  row.data = rd, row.scales = rs, row.amax = &ra;
  col.data = cd, col.scales = cs, col.amax = &ca;
  size_t ws = 0;
  cr_assert_eq(mxb_quantize_pair_workspace_size(ctx, &cfg, &cfg, MXB_DTYPE_FP32, &row, &col, &ws), MXB_SUCCESS,
               "%s", mxb_last_error_detail());
  void *w = ws ? aligned_alloc(16, (ws + 15) / 16 * 16) : NULL;
  cr_assert_eq(mxb_quantize_pair(ctx, &cfg, &cfg, MXB_DTYPE_FP32, x, &row, &col, w, ws, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  cr_assert_eq(row.flags, MXB_TENSOR_E4M3_MAX_256);
  cr_assert_eq(col.flags, MXB_TENSOR_E4M3_MAX_256);
  free(w);
  /* the row-wise copy equals mxb_quantize's bytes */
  uint8_t qd[R * C / 2], qs[R * C / 16];
  float qa = 0;
  mxb_tensor_t q;
  mxb_tensor_init(&q, MXB_FORMAT_NVFP4, R, C, MXB_SCALE_LAYOUT_LINEAR);
  q.data = qd, q.scales = qs, q.amax = &qa;
  cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &q, NULL, 0, NULL), MXB_SUCCESS);
  cr_assert(memcmp(qd, rd, sizeof qd) == 0 && memcmp(qs, rs, sizeof qs) == 0 && qa == ra);
  /* grouped: two groups, each with its own amax */
  int32_t offs[3] = {0, 10, R};
  float gam[2];
  mxb_tensor_t g = q;
  g.amax = gam;
  g.flags = 0;
  mxb_grouped_gemm_desc_t gd;
  mxb_grouped_gemm_desc_init(&gd);
  gd.groups = 2;
  gd.index = offs;
  cr_assert_eq(mxb_grouped_quantize(ctx, &gd, &cfg, MXB_DTYPE_FP32, x, &g, NULL, 0, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  cr_assert_eq(g.flags, MXB_TENSOR_E4M3_MAX_256);
  mxb_context_destroy(ctx);
}

/* Bad bounds and other formats are refused; dst is left as it was. */
Test(nvfp4_e4m3_max, refusals) {
  const float x[32] = {1.0f};
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  static const int bad[] = {1, 255, 257, 447, 449, -256};
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    q16 q;
    memset(q.data, 0xA5, sizeof q.data);
    cr_assert_eq(quantize16(x, bad[k], MXB_FOUR_OVER_SIX_OFF, &q), MXB_ERR_INVALID_ARGUMENT, "bound %d", bad[k]);
    cr_assert(strstr(g_detail, "nvfp4_e4m3_max") != NULL, "bound %d: %s", bad[k], g_detail);
    cr_assert_eq(q.t.flags, 0u);
  }
  uint8_t d[32], s[1];
  mxb_tensor_t t;
  mxb_tensor_init(&t, MXB_FORMAT_MXFP8_E4M3, 1, 32, MXB_SCALE_LAYOUT_LINEAR);
  t.data = d, t.scales = s;
  t.flags = 0x10;
  memset(d, 0xA5, sizeof d);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.nvfp4_e4m3_max = 256;
  cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_UNSUPPORTED);
  cr_assert(strstr(mxb_last_error_detail(), "256") != NULL, "%s", mxb_last_error_detail());
  cr_assert_eq(t.flags, 0x10u);
  for (int i = 0; i < 32; i++) cr_assert_eq(d[i], 0xA5);
  /* 448 is the default, accepted for every format */
  cfg.nvfp4_e4m3_max = 448;
  cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  mxb_context_destroy(ctx);
}
