/* MoR (NUMERICS 6): decisions on constructed partitions, the error metric at
 * the threshold, payload and scales, decoding, the FP8 fraction, bad input. */
#include "transforms_util.h"
#include "common/codec.h"
#include "core/formats.h"

/* A MoR tensor (planes poisoned) with typed views of its planes. */
typedef struct mor_buf {
  mxbt_qt q;
  mxb_tensor_t t;
  uint16_t *data;
  float *scales;
  uint8_t *aux;
  size_t nscales;
} mor_buf;

static mor_buf mor_alloc(mxb_format_t f, int64_t rows, int64_t cols) {
  mor_buf b;
  b.q = mxbt_qt_alloc(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR);
  cr_assert_eq(b.q.s.data_bytes, (size_t)(rows * cols) * 2);
  b.t = b.q.t;
  b.data = b.t.data;
  b.scales = b.t.scales;
  b.aux = b.t.aux;
  b.nscales = b.q.s.aux_bytes;
  return b;
}
static void mor_free(mor_buf *b) { mxbt_qt_free(&b->q); }

static void mor_run(mxb_context_t *ctx, const mxb_mor_config_t *cfg, const float *x, mor_buf *b) {
  size_t ws = 0;
  cr_assert_eq(mxb_mor_workspace_size(ctx, cfg, MXB_DTYPE_FP32, &b->t, &ws), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  void *w = malloc(ws ? ws : 1);
  cr_assert_eq(mxb_mor_quantize(ctx, cfg, MXB_DTYPE_FP32, x, &b->t, w, ws, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  free(w);
}

/* FP8 E4M3 of the same partition shape through the library's FP8 quantizer
 * and dequantizer: the Q of NUMERICS 6. */
static void fp8_roundtrip(mxb_context_t *ctx, mxb_format_t f, int64_t rows, int64_t cols, const float *x,
                          float *q, uint8_t *codes, float *sinv) {
  mxb_tensor_t t;
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cr_assert_eq(mxb_tensor_init(&t, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  t.data = codes;
  t.scales = sinv;
  cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  cr_assert_eq(mxb_dequantize(ctx, &t, MXB_DTYPE_FP32, q, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
}

Test(mor, default_config) {
  mxb_mor_config_t c;
  mxb_mor_config_init(&c);
  cr_assert_eq(c.struct_size, sizeof(c));
  cr_assert_eq(c.metric, MXB_MOR_METRIC_REL_L2);
  cr_assert(c.tau > 0.0245 && c.tau < 0.0588, "tau %g between smooth-data error and the E4M3 worst case", c.tau);
  cr_assert_eq(c.pow2_scale, 0);
}

/* Row 0: Gaussian (smooth). Row 1: every value just below a rounding
 * midpoint, so E4M3 loses ~5.9% on each. Row 2: one outlier 2^20 times the
 * rest, which then fall below E4M3's subnormals. Row 3: all zero. */
static void constructed(float *x, int64_t cols) {
  mxbt_fill_normal(x, (size_t)cols, 42, 1.0f);
  for (int64_t c = 0; c < cols; c++) x[cols + c] = (c & 1 ? -271.97f : 271.97f); /* 1.0624 * 256 */
  x[cols] = 448.0f;
  mxbt_fill_normal(x + 2 * cols, (size_t)cols, 43, 1.0f);
  x[2 * cols + 5] = 0x1p20f;
  for (int64_t c = 0; c < cols; c++) x[3 * cols + c] = 0.0f;
}

Test(mor, decisions_on_constructed_partitions) {
  mxb_context_t *ctx = mxbt_cpu();
  int64_t rows = 4, cols = 128;
  float x[4 * 128];
  constructed(x, cols);
  mxb_mor_config_t cfg;
  mxb_mor_config_init(&cfg);
  /* relative L2: the coarse-grid row goes to BF16; the outlier row keeps
   * FP8 (its norm is the outlier's, which E4M3 holds exactly) */
  mor_buf b = mor_alloc(MXB_FORMAT_MOR_1x128, rows, cols);
  mor_run(ctx, &cfg, x, &b);
  cr_assert_eq(b.aux[0], 1, "smooth row stays FP8");
  cr_assert_eq(b.aux[1], 0, "coarse-grid row goes to BF16");
  cr_assert_eq(b.aux[2], 1, "REL_L2 ignores the flushed small values next to an outlier");
  cr_assert_eq(b.aux[3], 1, "an all-zero partition has error 0");
  /* the element-wise metrics see the flushed values: the outlier row goes to BF16 */
  for (int m = 1; m <= 2; m++) {
    cfg.metric = (mxb_mor_metric_t)m;
    cfg.tau = m == 1 ? 0.0625 : 0.045;
    mor_run(ctx, &cfg, x, &b);
    cr_assert_eq(b.aux[0], 1, "metric %d: smooth row", m);
    cr_assert_eq(b.aux[2], 0, "metric %d: outlier row forces BF16", m);
    cr_assert_eq(b.aux[3], 1, "metric %d: zero row", m);
  }
  mor_free(&b);
  mxb_context_destroy(ctx);
}

/* err of one partition recomputed here in binary64 from the library's FP8 Q */
static double rel_l2(const float *p, const float *q, int64_t n) {
  double e = 0, s = 0;
  for (int64_t i = 0; i < n; i++) {
    e += ((double)q[i] - p[i]) * ((double)q[i] - p[i]);
    s += (double)p[i] * p[i];
  }
  return sqrt(e) / sqrt(s);
}

Test(mor, threshold_is_inclusive_on_the_exact_error) {
  mxb_context_t *ctx = mxbt_cpu();
  int64_t rows = 1, cols = 256;
  float x[256], q[256], sinv[2];
  uint8_t codes[256];
  mxbt_fill_normal(x, 256, 7, 3.0f);
  fp8_roundtrip(ctx, MXB_FORMAT_FP8_E4M3_TENSOR, rows, cols, x, q, codes, sinv);
  double err = rel_l2(x, q, 256);
  cr_assert(err > 0.01 && err < 0.04, "err %g", err);
  mxb_mor_config_t cfg;
  mxb_mor_config_init(&cfg);
  mor_buf b = mor_alloc(MXB_FORMAT_MOR_TENSOR, rows, cols);
  cfg.tau = err;
  mor_run(ctx, &cfg, x, &b);
  cr_assert_eq(b.aux[0], 1, "err <= tau keeps FP8");
  cfg.tau = nextafter(err, 0.0);
  mor_run(ctx, &cfg, x, &b);
  cr_assert_eq(b.aux[0], 0, "err > tau by one ulp gives BF16");
  mor_free(&b);
  mxb_context_destroy(ctx);
}

Test(mor, payload_scales_and_decode_128x128_with_tails) {
  mxb_context_t *ctx = mxbt_cpu();
  int64_t rows = 130, cols = 200, n = rows * cols;
  float *x = malloc(n * 4), *q = malloc(n * 4), *y = malloc(n * 4);
  uint8_t *codes = malloc(n);
  float sinv[4];
  mxbt_fill_normal(x, n, 99, 0.5f);
  /* partition (0, 1) gets coarse-grid values, so it goes to BF16 */
  for (int64_t r = 0; r < 128; r++)
    for (int64_t c = 128; c < 200; c++) x[r * cols + c] = ((r + c) & 1) ? 271.97f : -271.97f;
  x[128] = 448.0f;
  x[129 * cols + 3] = NAN; /* partition (1, 0) holds a NaN: BF16 keeps it */
  mxb_mor_config_t cfg;
  mxb_mor_config_init(&cfg);
  mor_buf b = mor_alloc(MXB_FORMAT_MOR_128x128, rows, cols);
  mor_run(ctx, &cfg, x, &b);
  cr_assert_eq(b.nscales, 4);
  uint8_t want[4] = {1, 0, 0, 1};
  for (int k = 0; k < 4; k++) cr_assert_eq(b.aux[k], want[k], "partition %d", k);
  fp8_roundtrip(ctx, MXB_FORMAT_FP8_E4M3_128x128, rows, cols, x, q, codes, sinv);
  for (int k = 0; k < 4; k++)
    cr_assert_eq(mxbt_f2u(b.scales[k]), want[k] ? mxbt_f2u(sinv[k]) : mxbt_f2u(1.0f), "scale %d", k);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) {
      int64_t i = r * cols + c;
      int k = (int)((r / 128) * 2 + c / 128);
      uint32_t u = mxbt_f2u(x[i]);
      uint16_t bf = (uint16_t)(isnan(x[i]) ? ((u >> 16) | 0x40) : ((u + 0x7FFFu + ((u >> 16) & 1)) >> 16));
      cr_assert_eq(b.data[i], want[k] ? (uint16_t)codes[i] : bf, "element (%lld, %lld)", (long long)r, (long long)c);
    }
  /* dequantize: the FP8 dequantization in FP8 partitions, exact bf16 elsewhere */
  cr_assert_eq(mxb_dequantize(ctx, &b.t, MXB_DTYPE_FP32, y, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  for (int64_t i = 0; i < n; i++) {
    int k = (int)((i / cols / 128) * 2 + (i % cols) / 128);
    float w = want[k] ? q[i] : mxbt_u2f((uint32_t)b.data[i] << 16);
    cr_assert(mxbt_f2u(y[i]) == mxbt_f2u(w) || (isnan(y[i]) && isnan(w)), "i=%lld: %g vs %g", (long long)i, y[i], w);
  }
  double f;
  cr_assert_eq(mxb_mor_fp8_fraction(&b.t, &f), MXB_SUCCESS);
  cr_assert_eq(f, (128.0 * 128 + 2.0 * 72) / (130.0 * 200), "fraction %g", f);
  mor_free(&b);
  free(x);
  free(q);
  free(y);
  free(codes);
  mxb_context_destroy(ctx);
}

Test(mor, per_tensor_and_fraction) {
  mxb_context_t *ctx = mxbt_cpu();
  int64_t rows = 4, cols = 128;
  float x[4 * 128];
  constructed(x, cols);
  mxb_mor_config_t cfg;
  mxb_mor_config_init(&cfg);
  mor_buf b = mor_alloc(MXB_FORMAT_MOR_TENSOR, rows, cols);
  mor_run(ctx, &cfg, x, &b);
  cr_assert_eq(b.nscales, 1);
  double f = -1;
  cr_assert_eq(mxb_mor_fp8_fraction(&b.t, &f), MXB_SUCCESS);
  cr_assert_eq(f, b.aux[0] ? 1.0 : 0.0);
  mor_free(&b);
  b = mor_alloc(MXB_FORMAT_MOR_1x128, rows, cols);
  mor_run(ctx, &cfg, x, &b);
  cr_assert_eq(mxb_mor_fp8_fraction(&b.t, &f), MXB_SUCCESS);
  cr_assert_eq(f, 0.75);
  mor_free(&b);
  mxb_context_destroy(ctx);
}

/* The exact value of every element from the payload: E4M3 code times the
 * fp32 scale_inv in binary64 (up to 28 bits, more than fp32 holds), or bf16. */
static void exact_values(const mor_buf *b, int64_t cols, double *v) {
  const mxb_format_desc *d = mxb_format_desc_get(b->t.format);
  mxb_fp e4m3 = mxb_fp_e4m3();
  int64_t sc = (cols + 127) / 128;
  for (int64_t i = 0; i < b->t.rows * cols; i++) {
    int64_t r = i / cols, k = d->block_rows ? (r / d->block_rows) * sc + (i % cols) / 128 : 0;
    v[i] = b->aux[k] ? (double)mxb_fp_decode(&e4m3, b->data[i] & 0xFF) * (double)b->scales[k]
                     : (double)mxbt_u2f((uint32_t)b->data[i] << 16);
  }
}

Test(mor, gemm_operand) {
  /* A MoR 1x128 [M, K] times B MoR 128x128 stored [N, K], K = 128 (one
   * K-block): every output is the binary64 dot product of the decoded rows
   * rounded once to fp32 (NUMERICS 7). A mixes FP8 and BF16 rows. */
  mxb_context_t *ctx = mxbt_cpu();
  int64_t M = 3, N = 5, K = 128;
  float a[4 * 128], bsrc[5 * 128], c[15];
  double ad[3 * 128], bd[5 * 128];
  constructed(a, K); /* 4 rows; the first 3 are used: FP8, BF16, FP8 */
  mxbt_fill_normal(bsrc, (size_t)(N * K), 8, 0.1f);
  mxb_mor_config_t cfg;
  mxb_mor_config_init(&cfg);
  mor_buf A = mor_alloc(MXB_FORMAT_MOR_1x128, M, K), B = mor_alloc(MXB_FORMAT_MOR_128x128, N, K);
  mor_run(ctx, &cfg, a, &A);
  mor_run(ctx, &cfg, bsrc, &B);
  cr_assert(A.aux[0] == 1 && A.aux[1] == 0, "A mixes FP8 and BF16 rows");
  exact_values(&A, K, ad);
  exact_values(&B, K, bd);
  mxb_gemm_desc_t g;
  mxb_gemm_desc_init(&g);
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &g, &A.t, &B.t, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = malloc(ws ? ws : 1);
  cr_assert_eq(mxb_gemm(ctx, &g, &A.t, &B.t, c, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double p = 0;
      for (int64_t k = 0; k < K; k++) p += ad[i * K + k] * bd[j * K + k];
      cr_assert_eq(c[i * N + j], (float)p, "C[%lld][%lld]", (long long)i, (long long)j);
    }
  free(w);
  mor_free(&A);
  mor_free(&B);
  mxb_context_destroy(ctx);
}

Test(mor, bad_input_leaves_outputs_untouched) {
  mxb_context_t *ctx = mxbt_cpu();
  float x[256] = {1};
  mor_buf b = mor_alloc(MXB_FORMAT_MOR_1x128, 2, 128);
  mxb_mor_config_t cfg;
  mxb_mor_config_init(&cfg);
  size_t ws = 0;
  cr_assert_eq(mxb_mor_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, &b.t, &ws), MXB_SUCCESS);
  char *w = malloc(ws);
#define EXPECT(status, call)                                                            \
  do {                                                                                  \
    cr_assert_eq((call), (status), "%s", mxb_last_error_detail());                      \
    cr_assert_neq(strlen(mxb_last_error_detail()), 0);                                  \
    for (int i_ = 0; i_ < 256; i_++) cr_assert_eq(b.data[i_], 0xA5A5, "data written"); \
    cr_assert_eq(b.aux[0], 0xA5);                                                       \
    cr_assert_eq(mxbt_f2u(b.scales[1]), 0xA5A5A5A5u);                                   \
  } while (0)
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_mor_quantize(NULL, &cfg, MXB_DTYPE_FP32, x, &b.t, w, ws, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_mor_quantize(ctx, NULL, MXB_DTYPE_FP32, x, &b.t, w, ws, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_mor_quantize(ctx, &cfg, MXB_DTYPE_FP32, NULL, &b.t, w, ws, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_mor_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, NULL, w, ws, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_mor_quantize(ctx, &cfg, (mxb_dtype_t)7, x, &b.t, w, ws, NULL));
  EXPECT(MXB_ERR_WORKSPACE_TOO_SMALL, mxb_mor_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &b.t, w, ws - 1, NULL));
  EXPECT(MXB_ERR_WORKSPACE_TOO_SMALL, mxb_mor_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &b.t, NULL, ws, NULL));
  cfg.tau = NAN;
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_mor_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &b.t, w, ws, NULL));
  cfg.tau = -0.1;
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_mor_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &b.t, w, ws, NULL));
  cfg.tau = INFINITY;
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_mor_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &b.t, w, ws, NULL));
  mxb_mor_config_init(&cfg);
  cfg.metric = (mxb_mor_metric_t)3;
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_mor_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &b.t, w, ws, NULL));
  mxb_mor_config_init(&cfg);
  cfg.struct_size = 8;
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_mor_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &b.t, w, ws, NULL));
  mxb_mor_config_init(&cfg);
  b.t.format = MXB_FORMAT_FP8_E4M3_1x128;
  EXPECT(MXB_ERR_UNSUPPORTED, mxb_mor_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &b.t, w, ws, NULL));
  b.t.format = MXB_FORMAT_MOR_1x128;
  b.t.aux = NULL;
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_mor_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &b.t, w, ws, NULL));
  b.t.aux = b.aux;
  b.t.rows = 0;
  EXPECT(MXB_ERR_BAD_SHAPE, mxb_mor_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &b.t, w, ws, NULL));
  b.t.rows = 2;
  cr_assert_eq(mxb_mor_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, &b.t, NULL), MXB_ERR_INVALID_ARGUMENT);
  double f = 5.0;
  cr_assert_eq(mxb_mor_fp8_fraction(&b.t, &f), MXB_ERR_INVALID_ARGUMENT); /* aux holds 0xA5 */
  cr_assert_not_null(strstr(mxb_last_error_detail(), "not a MoR decision"));
  cr_assert_eq(f, 5.0);
  cr_assert_eq(mxb_mor_fp8_fraction(NULL, &f), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_mor_fp8_fraction(&b.t, NULL), MXB_ERR_INVALID_ARGUMENT);
#undef EXPECT
  free(w);
  mor_free(&b);
  mxb_context_destroy(ctx);
}
