/* Error statistics (NUMERICS 8) against hand-computed values on tiny inputs. */
#include "transforms_util.h"

#define EPS 1e-12

static mxb_error_stats_t stats_of(mxb_format_t f, mxb_scale_rule_t rule, int64_t rows, int64_t cols, const float *x,
                                  mxbt_qt *q) {
  mxb_context_t *ctx = mxbt_cpu();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.scale_rule = rule;
  *q = mxbt_qt_alloc(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR);
  mxbt_quantize(ctx, &cfg, x, q);
  mxb_error_stats_t s;
  memset(&s, 0xA5, sizeof(s));
  s.struct_size = sizeof(s);
  cr_assert_eq(mxb_error_stats(x, &q->t, &s), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(s.struct_size, sizeof(s));
  cr_assert_eq(s.count, rows * cols);
  mxb_context_destroy(ctx);
  return s;
}

static void close_to(double got, double want, const char *what) {
  cr_assert(fabs(got - want) <= EPS * fmax(1.0, fabs(want)), "%s: %.17g, want %.17g", what, got, want);
}

/* Checks every error statistic against x and the decoded values y (given). */
static void check_errors(const mxb_error_stats_t *s, const float *x, const double *y, int n) {
  double see = 0, sxx = 0, syy = 0, sxy = 0, mabs = 0, mrel = 0;
  for (int i = 0; i < n; i++) {
    double e = (double)x[i] - y[i];
    see += e * e;
    sxx += (double)x[i] * x[i];
    syy += y[i] * y[i];
    sxy += (double)x[i] * y[i];
    mabs = fmax(mabs, fabs(e));
    if (x[i] != 0) mrel = fmax(mrel, fabs(e) / fabs(x[i]));
  }
  close_to(s->mse, see / n, "mse");
  close_to(s->rmse, sqrt(see / n), "rmse");
  close_to(s->nmse, see / sxx, "nmse");
  close_to(s->sqnr_db, 10 * log10(sxx / see), "sqnr");
  close_to(s->max_abs_err, mabs, "max_abs");
  close_to(s->max_rel_err, mrel, "max_rel");
  close_to(s->cosine, sxy / sqrt(sxx * syy), "cosine");
}

Test(stats, mxfp4_golden_block_floor_and_rceil) {
  /* NUMERICS 9: E2M1 block [7, 1, 0.26, 0.25]. FLOOR: scale 2^0, values
   * [6, 1, 0.5, 0]: 7 is clipped (7 is the midpoint between 6 and 8, which
   * goes up to 8 without saturation), 0.25 flushes. RCEIL: scale 2^1,
   * [8, 1, 0, 0]: nothing clipped, 0.26 and 0.25 flush. */
  float x[4] = {7.0f, 1.0f, 0.26f, 0.25f};
  mxbt_qt q;
  mxb_error_stats_t s = stats_of(MXB_FORMAT_MXFP4, MXB_SCALE_RULE_FLOOR, 1, 4, x, &q);
  double yf[4] = {6, 1, 0.5, 0};
  check_errors(&s, x, yf, 4);
  cr_assert_eq(s.max_rel_err, 1.0);
  cr_assert_eq(s.frac_saturated, 0.25);
  cr_assert_eq(s.frac_flushed, 0.25);
  cr_assert_eq(s.nonfinite, 0);
  cr_assert_eq(s.blocks, 1);
  cr_assert_eq(s.scale_min, 1.0);
  cr_assert_eq(s.scale_max, 1.0);
  cr_assert_eq(s.scale_p50, 1.0);
  cr_assert_eq(s.scale_code_hist[127], 1);
  uint64_t total = 0;
  for (int i = 0; i < 256; i++) total += s.scale_code_hist[i];
  cr_assert_eq(total, 1);
  mxbt_qt_free(&q);

  s = stats_of(MXB_FORMAT_MXFP4, MXB_SCALE_RULE_RCEIL, 1, 4, x, &q);
  double yr[4] = {8, 1, 0, 0};
  check_errors(&s, x, yr, 4);
  cr_assert_eq(s.frac_saturated, 0.0);
  cr_assert_eq(s.frac_flushed, 0.5);
  cr_assert_eq(s.scale_p99, 2.0);
  cr_assert_eq(s.scale_code_hist[128], 1);
  mxbt_qt_free(&q);
}

static const float k_bdr_block[16] = {3.3f, -0.7f, 1.01f, 0.9f, 0.49f, 0.12f, -2.9f, 0.0f,
                                      0.26f, 0.3f, 1.99f, -1.5f, 0.05f, 0.02f, 3.99f, 2.5f};

Test(stats, bdr_golden_block) {
  /* NUMERICS 4.3 golden block: E = 128, mu = [0,1,1,0,1,1,1,0]; the pair
   * scale is s_j = 2^(2 - mu_j - m). An element clips when |x|/s_j reaches
   * 2^m - 1/2: MX4 (m=2): 1.99/0.5 = 3.98 and 3.99/1 = 3.99, so 2 of 16;
   * MX6 (m=4): 1.99/0.125 = 15.92 and 3.99/0.25 = 15.96, 2 of 16;
   * MX9 (m=7): only 3.99*32 = 127.68 (1.99*64 = 127.36 < 127.5), 1 of 16. */
  static const int mx4[16] = {3, -1, 2, 2, 1, 0, -3, 0, 1, 1, 3, -3, 0, 0, 3, 2};
  static const int mu[16] = {0, 0, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0};
  mxb_format_t f[3] = {MXB_FORMAT_MX4, MXB_FORMAT_MX6, MXB_FORMAT_MX9};
  double sat[3] = {2.0 / 16, 2.0 / 16, 1.0 / 16};
  for (int k = 0; k < 3; k++) {
    mxbt_qt q;
    mxb_error_stats_t s = stats_of(f[k], MXB_SCALE_RULE_RCEIL, 1, 16, k_bdr_block, &q);
    cr_assert_eq(s.frac_saturated, sat[k], "format %d: %g", f[k], s.frac_saturated);
    cr_assert_eq(s.blocks, 1);
    cr_assert_eq(s.scale_code_hist[128], 1);
    cr_assert_eq(s.scale_min, 2.0); /* 2^(E - 127) */
    if (f[k] == MXB_FORMAT_MX4) {
      double y[16];
      int flushed = 0;
      for (int i = 0; i < 16; i++) {
        y[i] = mx4[i] * ldexp(1.0, 2 - mu[i] - 2);
        flushed += y[i] == 0 && k_bdr_block[i] != 0;
      }
      check_errors(&s, k_bdr_block, y, 16);
      cr_assert_eq(flushed, 3);
      cr_assert_eq(s.frac_flushed, 3.0 / 15); /* 15 non-zero inputs */
    }
    mxbt_qt_free(&q);
  }
}

Test(stats, nvfp4_flush_scale_and_hist) {
  /* A = 6: S_enc = 448, the block scale is 448 (0x7E), the multiplier
   * (448 * 6) * (1/2688) and values [6, 3, 1, 0]: 0.2 flushes (0.2 <= 0.25). */
  float x[16] = {6.0f, 3.0f, 1.0f, 0.2f};
  mxbt_qt q;
  mxb_error_stats_t s = stats_of(MXB_FORMAT_NVFP4, MXB_SCALE_RULE_RCEIL, 1, 16, x, &q);
  float mult = (448.0f * 6.0f) * (1.0f / 2688.0f);
  double y[16] = {6.0f * mult, 3.0f * mult, 1.0f * mult}; /* fp32 products, as dequantize */
  check_errors(&s, x, y, 16);
  cr_assert_eq(s.frac_flushed, 0.25);
  cr_assert_eq(s.frac_saturated, 0.0);
  cr_assert_eq(s.scale_code_hist[0x7E], 1);
  cr_assert_eq(s.scale_min, (double)mult);
  mxbt_qt_free(&q);
}

Test(stats, fp8_block_scale_percentiles) {
  /* 1x128 FP8: row i has amax i + 1, so its scale_inv is 1 / (448 / (i+1));
   * nearest-rank percentiles of 100 sorted multipliers: p01 = 1st,
   * p50 = 50th, p99 = 99th. */
  int64_t rows = 100, cols = 128;
  float *x = malloc(rows * cols * 4);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) x[r * cols + c] = (float)(r + 1) * (float)(c + 1) / 128.0f;
  mxbt_qt q;
  mxb_error_stats_t s = stats_of(MXB_FORMAT_FP8_E4M3_1x128, MXB_SCALE_RULE_RCEIL, rows, cols, x, &q);
#define SINV(a) ((double)(1.0f / (448.0f / (float)(a))))
  cr_assert_eq(s.blocks, 100);
  cr_assert_eq(s.scale_min, SINV(1));
  cr_assert_eq(s.scale_p01, SINV(1));
  cr_assert_eq(s.scale_p50, SINV(50));
  cr_assert_eq(s.scale_p99, SINV(99));
  cr_assert_eq(s.scale_max, SINV(100));
#undef SINV
  for (int i = 0; i < 256; i++) cr_assert_eq(s.scale_code_hist[i], 0, "fp32 scales have no code bytes");
  cr_assert_eq(s.frac_saturated, 0.0);
  cr_assert_eq(s.frac_flushed, 0.0);
  cr_assert(s.sqnr_db > 25 && s.sqnr_db < 40, "E4M3 SQNR %g dB", s.sqnr_db);
  mxbt_qt_free(&q);
  free(x);
}

Test(stats, nonfinite_pairs_are_counted_apart) {
  /* MXFP8: a NaN makes its whole 32-element block NaN; the other block is
   * exact (small integers), so every error statistic is 0. */
  float x[64];
  for (int i = 0; i < 64; i++) x[i] = (float)(i % 7);
  x[3] = NAN;
  mxbt_qt q;
  mxb_error_stats_t s = stats_of(MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_RULE_RCEIL, 1, 64, x, &q);
  cr_assert_eq(s.nonfinite, 32);
  cr_assert_eq(s.mse, 0.0);
  cr_assert_eq(s.max_abs_err, 0.0);
  cr_assert_eq(s.sqnr_db, INFINITY);
  cr_assert_eq(s.cosine, 1.0);
  cr_assert_eq(s.blocks, 2);
  cr_assert_eq(s.scale_code_hist[0xFF], 1, "the NaN block's scale byte");
  cr_assert_eq(s.scale_min, s.scale_max, "NaN scales are left out of min/max");
  mxbt_qt_free(&q);
}

Test(stats, all_zero_input) {
  float x[32] = {0};
  mxbt_qt q;
  mxb_error_stats_t s = stats_of(MXB_FORMAT_BF16, MXB_SCALE_RULE_RCEIL, 2, 16, x, &q);
  cr_assert_eq(s.mse, 0.0);
  cr_assert_eq(s.nmse, 0.0);
  cr_assert_eq(s.sqnr_db, INFINITY);
  cr_assert_eq(s.cosine, 1.0);
  cr_assert_eq(s.frac_flushed, 0.0);
  cr_assert_eq(s.blocks, 0);
  cr_assert(isnan(s.scale_min) && isnan(s.scale_p50));
  mxbt_qt_free(&q);
}

Test(stats, bad_input_leaves_stats_untouched) {
  float x[32] = {1};
  mxbt_qt q;
  mxb_error_stats_t s = stats_of(MXB_FORMAT_NVFP4, MXB_SCALE_RULE_RCEIL, 2, 16, x, &q);
  mxb_error_stats_t keep;
  memset(&s, 0x5A, sizeof(s));
  keep = s;
  cr_assert_eq(mxb_error_stats(NULL, &q.t, &s), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_error_stats(x, NULL, &s), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_error_stats(x, &q.t, NULL), MXB_ERR_INVALID_ARGUMENT);
  void *scales = q.t.scales;
  q.t.scales = NULL;
  cr_assert_eq(mxb_error_stats(x, &q.t, &s), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_neq(strlen(mxb_last_error_detail()), 0);
  q.t.scales = scales;
  q.t.struct_size = 3;
  cr_assert_eq(mxb_error_stats(x, &q.t, &s), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(memcmp(&s, &keep, sizeof(s)), 0, "stats written on failure");
  q.t.struct_size = sizeof(q.t);
  q.t.format = MXB_FORMAT_FP32;
  cr_assert_eq(mxb_error_stats(x, &q.t, &s), MXB_ERR_UNSUPPORTED);
  cr_assert_eq(memcmp(&s, &keep, sizeof(s)), 0);
  q.t.format = MXB_FORMAT_NVFP4;
  q.t.rows = 0;
  cr_assert_eq(mxb_error_stats(x, &q.t, &s), MXB_ERR_BAD_SHAPE);
  cr_assert_eq(memcmp(&s, &keep, sizeof(s)), 0);
  mxbt_qt_free(&q);
}
