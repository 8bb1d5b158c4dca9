/* Random Hadamard transform (NUMERICS 5): orthogonality, inverse, the default
 * sign vector, a known d = 16 transform, product invariance, bf16 output,
 * axes, and bad input. */
#include "transforms_util.h"
#include "common/philox.h"

static void rht_f32(mxb_context_t *ctx, const mxb_rht_t *r, int inverse, mxb_axis_t axis, int64_t rows,
                    int64_t cols, const float *in, float *out) {
  cr_assert_eq(mxb_rht(ctx, r, inverse, axis, rows, cols, MXB_DTYPE_FP32, in, MXB_DTYPE_FP32, out, NULL),
               MXB_SUCCESS, "%s", mxb_last_error_detail());
}

static const int k_sizes[] = {16, 32, 64, 128, 256};

/* Sylvester Hadamard entry: (-1)^popcount(i & j). */
static double hadamard(int i, int j) { return (__builtin_popcount((unsigned)(i & j)) & 1) ? -1.0 : 1.0; }

Test(rht, orthogonal_on_unit_vectors) {
  mxb_context_t *ctx = mxbt_cpu();
  for (size_t t = 0; t < sizeof(k_sizes) / sizeof(k_sizes[0]); t++) {
    int d = k_sizes[t];
    mxb_rht_t r;
    mxb_rht_init(&r);
    r.size = d;
    for (int w = 0; w < 8; w++) r.sign_mask[w] = 0x9E3779B9u * (uint32_t)(w + 1);
    float *e = calloc((size_t)d * d, 4), *m = calloc((size_t)d * d, 4);
    for (int i = 0; i < d; i++) e[i * d + i] = 1.0f; /* row i = e_i */
    rht_f32(ctx, &r, 0, MXB_AXIS_COLS, d, d, e, m); /* row i = H e_i */
    /* every entry is +-1/sqrt(d) rounded once to fp32 */
    double u = 0x1p-24;
    for (int i = 0; i < d; i++)
      for (int j = 0; j < d; j++) {
        double g = 0;
        for (int k = 0; k < d; k++) g += (double)m[i * d + k] * m[j * d + k];
        double want = i == j ? 1.0 : 0.0;
        cr_assert_leq(fabs(g - want), 2.0 * u, "d=%d (H H^T)[%d][%d] = %.17g", d, i, j, g);
      }
    free(e);
    free(m);
  }
  mxb_context_destroy(ctx);
}

Test(rht, default_sign_vector_is_0xD7E8) {
  mxb_rht_t r;
  mxb_rht_init(&r);
  cr_assert_eq(r.size, 16);
  cr_assert_eq(r.sign_source, MXB_SIGNS_MASK);
  cr_assert_eq(r.sign_mask[0], 0xD7E8u);
  cr_assert_eq(r.enabled, 0);
  cr_assert_eq(r.bf16_output, 0);
  /* The inverse maps e_0 to diag(s) H e_0 / 4 = s / 4 (column 0 of H is all
   * ones): the signs themselves. Bit i of 0xD7E8 set <=> s_i = -1. */
  static const float s[16] = {1, 1, 1, -1, 1, -1, -1, -1, -1, -1, -1, 1, -1, 1, -1, -1};
  float e0[16] = {1}, y[16];
  mxb_context_t *ctx = mxbt_cpu();
  rht_f32(ctx, &r, 1, MXB_AXIS_COLS, 1, 16, e0, y);
  for (int i = 0; i < 16; i++) cr_assert_eq(y[i], 0.25f * s[i], "s_%d", i);
  mxb_context_destroy(ctx);
}

Test(rht, known_d16_transform) {
  /* x = 1..16 with the default signs: s.x = [1,2,3,-4,5,-6,-7,-8,-9,-10,-11,12,-13,14,-15,-16];
   * y_0 = sum(s.x)/4 = -62/4, y_1 = (sum of even-index minus odd-index terms)/4. */
  float x[16], y[16];
  for (int i = 0; i < 16; i++) x[i] = (float)(i + 1);
  mxb_rht_t r;
  mxb_rht_init(&r);
  mxb_context_t *ctx = mxbt_cpu();
  rht_f32(ctx, &r, 0, MXB_AXIS_COLS, 1, 16, x, y);
  cr_assert_eq(y[0], -15.5f);
  cr_assert_eq(y[1], -7.5f); /* even minus odd terms: (-46 - (-16)) / 4 */
  for (int i = 0; i < 16; i++) {
    double want = 0;
    for (int j = 0; j < 16; j++) want += hadamard(i, j) * (((0xD7E8u >> j) & 1) ? -1.0 : 1.0) * x[j];
    cr_assert_eq((double)y[i], want / 4.0, "y_%d = %g, want %g", i, y[i], want / 4.0);
  }
  mxb_context_destroy(ctx);
}

Test(rht, seeded_signs_follow_philox_and_reproduce) {
  /* NUMERICS 5: bit i of word 0 of Philox(counter (0,0,0,0), key seed); for
   * d > 32, bit i of word (i/32)%4 of counter (i/128, 0, 0, 0). */
  mxb_context_t *ctx = mxbt_cpu();
  for (int d = 16; d <= 256; d *= 2) {
    mxb_rht_t r;
    mxb_rht_init(&r);
    r.size = d;
    r.sign_source = MXB_SIGNS_SEED;
    r.sign_seed = 0x0123456789ABCDEFull;
    float e0[256] = {1}, y[256], y2[256];
    rht_f32(ctx, &r, 1, MXB_AXIS_COLS, 1, d, e0, y); /* y = s / sqrt(d) */
    rht_f32(ctx, &r, 1, MXB_AXIS_COLS, 1, d, e0, y2);
    cr_assert_eq(memcmp(y, y2, (size_t)d * 4), 0, "same seed, same signs");
    int flips = 0;
    for (int i = 0; i < d; i++) {
      mxb_u32x4 w = mxb_philox4x32_10((uint32_t)(i / 128), 0, 0, 0, 0x89ABCDEFu, 0x01234567u);
      int neg = (w.v[(i / 32) % 4] >> (i % 32)) & 1;
      cr_assert_eq(y[i] < 0, neg, "d=%d sign %d", d, i);
      cr_assert_eq(fabsf(y[i]), fabsf(y[0]));
      flips += neg;
    }
    cr_assert(flips > 0 && flips < d, "d=%d: %d of the signs are negative", d, flips);
    r.sign_seed++;
    rht_f32(ctx, &r, 1, MXB_AXIS_COLS, 1, d, e0, y2);
    cr_assert_neq(memcmp(y, y2, (size_t)d * 4), 0, "another seed, other signs");
  }
  mxb_context_destroy(ctx);
}

static double chunk_norm(const float *x, int d) {
  double s = 0;
  for (int j = 0; j < d; j++) s += (double)x[j] * x[j];
  return sqrt(s);
}

Test(rht, inverse_undoes_forward) {
  mxb_context_t *ctx = mxbt_cpu();
  for (size_t t = 0; t < sizeof(k_sizes) / sizeof(k_sizes[0]); t++) {
    int d = k_sizes[t];
    int64_t rows = 3, cols = 2 * d;
    mxb_rht_t r;
    mxb_rht_init(&r);
    r.size = d;
    for (int w = 0; w < 8; w++) r.sign_mask[w] = 0xA5C3F00Fu ^ (uint32_t)w;
    float *x = malloc(rows * cols * 4), *y = malloc(rows * cols * 4), *z = malloc(rows * cols * 4);
    mxbt_fill_normal(x, rows * cols, 11 + t, 3.0f);
    rht_f32(ctx, &r, 0, MXB_AXIS_COLS, rows, cols, x, y);
    rht_f32(ctx, &r, 1, MXB_AXIS_COLS, rows, cols, y, z);
    /* each pass: log2(d) butterfly levels and one scaling, each a relative
     * error of at most u in an orthogonal transform */
    double lg = log2((double)d), bound = 2.0 * (lg + 2.0) * 0x1p-24;
    for (int64_t c = 0; c < rows * cols; c += d) {
      double n = chunk_norm(x + c, d), e = 0;
      for (int j = 0; j < d; j++) e += ((double)z[c + j] - x[c + j]) * ((double)z[c + j] - x[c + j]);
      cr_assert_leq(sqrt(e), bound * n, "d=%d chunk %lld: |z-x| = %g, |x| = %g", d, (long long)c, sqrt(e), n);
      /* the transform preserves each chunk's norm */
      cr_assert_leq(fabs(chunk_norm(y + c, d) - n), (lg + 2.0) * 0x1p-24 * n);
    }
    free(x);
    free(y);
    free(z);
  }
  mxb_context_destroy(ctx);
}

Test(rht, transform_then_product_is_invariant) {
  /* Applying the same H to both GEMM operands along K leaves x.y unchanged. */
  mxb_context_t *ctx = mxbt_cpu();
  int64_t k = 4096;
  float *x = malloc(k * 4), *y = malloc(k * 4), *hx = malloc(k * 4), *hy = malloc(k * 4);
  mxbt_fill_normal(x, k, 5, 1.0f);
  mxbt_fill_normal(y, k, 6, 2.0f);
  x[17] = 300.0f; /* an outlier, as in activations */
  for (size_t t = 0; t < sizeof(k_sizes) / sizeof(k_sizes[0]); t++) {
    mxb_rht_t r;
    mxb_rht_init(&r);
    r.size = k_sizes[t];
    rht_f32(ctx, &r, 0, MXB_AXIS_COLS, 1, k, x, hx);
    rht_f32(ctx, &r, 0, MXB_AXIS_COLS, 1, k, y, hy);
    double p = 0, q = 0, nx = 0, ny = 0;
    for (int64_t i = 0; i < k; i++) {
      p += (double)x[i] * y[i];
      q += (double)hx[i] * hy[i];
      nx += (double)x[i] * x[i];
      ny += (double)y[i] * y[i];
    }
    double bound = 2.0 * (log2((double)r.size) + 2.0) * 0x1p-24 * sqrt(nx) * sqrt(ny);
    cr_assert_leq(fabs(p - q), bound, "d=%d: %.17g vs %.17g", r.size, p, q);
  }
  free(x);
  free(y);
  free(hx);
  free(hy);
  mxb_context_destroy(ctx);
}

Test(rht, rows_axis_is_the_transpose_of_cols_axis) {
  mxb_context_t *ctx = mxbt_cpu();
  int64_t rows = 32, cols = 5;
  float x[32 * 5], xt[5 * 32], y[32 * 5], yt[5 * 32];
  mxbt_fill_normal(x, 32 * 5, 9, 1.0f);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) xt[c * rows + r] = x[r * cols + c];
  mxb_rht_t r;
  mxb_rht_init(&r);
  rht_f32(ctx, &r, 0, MXB_AXIS_ROWS, rows, cols, x, y);
  rht_f32(ctx, &r, 0, MXB_AXIS_COLS, cols, rows, xt, yt);
  for (int64_t i = 0; i < rows; i++)
    for (int64_t c = 0; c < cols; c++) cr_assert_eq(y[i * cols + c], yt[c * rows + i]);
  /* in place gives the same bits */
  rht_f32(ctx, &r, 0, MXB_AXIS_ROWS, rows, cols, x, x);
  cr_assert_eq(memcmp(x, y, sizeof(y)), 0);
  mxb_context_destroy(ctx);
}

static uint16_t bf16_of(float f) { /* RNE, finite inputs */
  uint32_t u = mxbt_f2u(f);
  return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1)) >> 16);
}

Test(rht, bf16_output_and_inputs) {
  mxb_context_t *ctx = mxbt_cpu();
  int64_t n = 256;
  float x[256], y[256], yb32[256];
  uint16_t yb[256], xb[256];
  mxbt_fill_normal(x, n, 21, 1.0f);
  mxb_rht_t r;
  mxb_rht_init(&r);
  rht_f32(ctx, &r, 0, MXB_AXIS_COLS, 2, 128, x, y);
  cr_assert_eq(mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, 2, 128, MXB_DTYPE_FP32, x, MXB_DTYPE_BF16, yb, NULL), MXB_SUCCESS);
  r.bf16_output = 1; /* fp32 buffer holding bf16 values (TE-compatible rounding) */
  rht_f32(ctx, &r, 0, MXB_AXIS_COLS, 2, 128, x, yb32);
  for (int i = 0; i < n; i++) {
    cr_assert_eq(yb[i], bf16_of(y[i]), "i=%d", i);
    cr_assert_eq(mxbt_f2u(yb32[i]), (uint32_t)yb[i] << 16, "i=%d", i);
  }
  /* bf16 and fp16 inputs are widened exactly: the same values in fp32 give
   * the same result */
  for (int i = 0; i < n; i++) {
    xb[i] = bf16_of(x[i]);
    x[i] = mxbt_u2f((uint32_t)xb[i] << 16);
  }
  r.bf16_output = 0;
  rht_f32(ctx, &r, 0, MXB_AXIS_COLS, 2, 128, x, y);
  cr_assert_eq(mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, 2, 128, MXB_DTYPE_BF16, xb, MXB_DTYPE_FP32, yb32, NULL),
               MXB_SUCCESS);
  cr_assert_eq(memcmp(y, yb32, sizeof(y)), 0);
  /* fp16: 1.5 * 2^-3 (0x3200), -2 (0xC000), 2^-24 (0x0001, subnormal), 65504 (0x7BFF) */
  uint16_t h[16] = {0x3200, 0xC000, 0x0001, 0x7BFF};
  float hf[16] = {0.1875f, -2.0f, 0x1p-24f, 65504.0f};
  cr_assert_eq(mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, 1, 16, MXB_DTYPE_FP16, h, MXB_DTYPE_FP32, y, NULL), MXB_SUCCESS);
  rht_f32(ctx, &r, 0, MXB_AXIS_COLS, 1, 16, hf, yb32);
  cr_assert_eq(memcmp(y, yb32, 16 * 4), 0);
  mxb_context_destroy(ctx);
}

Test(rht, quantize_option_equals_quantizing_the_transform) {
  /* quantize(cfg with rht) == quantize(mxb_rht(x)): the amax is taken after
   * the transform; also with bf16 rounding, seeded signs and SR. */
  mxb_context_t *ctx = mxbt_cpu();
  int64_t rows = 24, cols = 64;
  float *x = malloc(rows * cols * 4), *hx = malloc(rows * cols * 4);
  mxbt_fill_normal(x, rows * cols, 31, 1.0f);
  x[70] = 40.0f;
  mxb_format_t fmts[3] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP4, MXB_FORMAT_FP8_E4M3_1x128};
  for (int f = 0; f < 3; f++)
    for (int v = 0; v < 3; v++) {
      mxb_quant_config_t cfg;
      mxb_quant_config_init(&cfg);
      cfg.rht.enabled = 1;
      cfg.rht.bf16_output = v == 1;
      if (v == 2) {
        cfg.rht.size = 32;
        cfg.rht.sign_source = MXB_SIGNS_SEED;
        cfg.rht.sign_seed = 77;
        cfg.rounding = fmts[f] == MXB_FORMAT_FP8_E4M3_1x128 ? MXB_ROUND_RNE : MXB_ROUND_SR;
        cfg.seed = 5;
      }
      rht_f32(ctx, &cfg.rht, 0, MXB_AXIS_COLS, rows, cols, x, hx);
      mxbt_qt a = mxbt_qt_alloc(fmts[f], rows, cols, MXB_SCALE_LAYOUT_LINEAR);
      mxbt_qt b = mxbt_qt_alloc(fmts[f], rows, cols, MXB_SCALE_LAYOUT_LINEAR);
      mxbt_quantize(ctx, &cfg, x, &a);
      cr_assert(a.t.flags & MXB_TENSOR_RHT);
      cfg.rht.enabled = 0;
      mxbt_quantize(ctx, &cfg, hx, &b);
      cr_assert(mxbt_qt_equal(&a, &b), "format %d variant %d", fmts[f], v);
      mxbt_qt_free(&a);
      mxbt_qt_free(&b);
    }
  free(x);
  free(hx);
  mxb_context_destroy(ctx);
}

Test(rht, bad_input_leaves_output_untouched) {
  mxb_context_t *ctx = mxbt_cpu();
  mxb_rht_t r;
  mxb_rht_init(&r);
  float x[64] = {1}, y[64];
  for (int i = 0; i < 64; i++) y[i] = 7.0f;
#define EXPECT(status, call)                                                       \
  do {                                                                             \
    cr_assert_eq((call), (status), "%s", mxb_last_error_detail());                 \
    cr_assert_neq(strlen(mxb_last_error_detail()), 0);                             \
    for (int i_ = 0; i_ < 64; i_++) cr_assert_eq(y[i_], 7.0f, "output written");  \
  } while (0)
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_rht(NULL, &r, 0, MXB_AXIS_COLS, 4, 16, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, y, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_rht(ctx, NULL, 0, MXB_AXIS_COLS, 4, 16, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, y, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, 4, 16, MXB_DTYPE_FP32, NULL, MXB_DTYPE_FP32, y, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, 4, 16, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, NULL, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_rht(ctx, &r, 2, MXB_AXIS_COLS, 4, 16, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, y, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_rht(ctx, &r, 0, (mxb_axis_t)5, 4, 16, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, y, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, 4, 16, (mxb_dtype_t)9, x, MXB_DTYPE_FP32, y, NULL));
  EXPECT(MXB_ERR_UNSUPPORTED, mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, 4, 16, MXB_DTYPE_FP32, x, MXB_DTYPE_FP16, y, NULL));
  EXPECT(MXB_ERR_BAD_SHAPE, mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, 0, 16, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, y, NULL));
  EXPECT(MXB_ERR_BAD_SHAPE, mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, -1, 16, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, y, NULL));
  EXPECT(MXB_ERR_BAD_SHAPE, mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, (int64_t)1 << 32, 16, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, y, NULL));
  EXPECT(MXB_ERR_BAD_SHAPE, mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, 2, 24, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, y, NULL));
  cr_assert_not_null(strstr(mxb_last_error_detail(), "cols (24) is not a multiple of the RHT size (16)"));
  EXPECT(MXB_ERR_BAD_SHAPE, mxb_rht(ctx, &r, 0, MXB_AXIS_ROWS, 8, 8, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, y, NULL));
  /* overlapping but not identical buffers */
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, 1, 16, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, x + 1, NULL));
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, 1, 16, MXB_DTYPE_BF16, x, MXB_DTYPE_FP32, x, NULL));
  r.size = 24;
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, 1, 48, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, y, NULL));
  mxb_rht_init(&r);
  r.sign_source = (mxb_sign_source_t)3;
  EXPECT(MXB_ERR_INVALID_ARGUMENT, mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, 1, 16, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, y, NULL));
#undef EXPECT
  mxb_context_destroy(ctx);
}

Test(rht, cuda_backend) {
  MXBT_REQUIRE_GPU();
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx), MXB_SUCCESS);
  mxb_rht_t r;
  mxb_rht_init(&r);
  int64_t rows = 64, cols = 256, n = rows * cols;
  float *x = malloc(n * 4), *y = malloc(n * 4), *g = malloc(n * 4);
  mxbt_fill_normal(x, n, 3, 1.0f);
  mxb_context_t *c = mxbt_cpu();
  rht_f32(c, &r, 0, MXB_AXIS_COLS, rows, cols, x, y);
#ifdef MXB_WITH_CUDA
  float *dx = mxbt_dev_from_host(x, n * 4), *dy = mxbt_dev_alloc(n * 4);
  mxb_status_t s = mxb_rht(ctx, &r, 0, MXB_AXIS_COLS, rows, cols, MXB_DTYPE_FP32, dx, MXB_DTYPE_FP32, dy, NULL);
  if (s == MXB_ERR_UNSUPPORTED) cr_skip_test("%s", mxb_last_error_detail());
  cr_assert_eq(s, MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxbt_dev_sync();
  mxbt_to_host(g, dy, n * 4);
  cr_assert_eq(memcmp(g, y, n * 4), 0, "CUDA RHT differs from the CPU reference");
  mxbt_dev_free(dx);
  mxbt_dev_free(dy);
#endif
  free(x);
  free(y);
  free(g);
  mxb_context_destroy(c);
  mxb_context_destroy(ctx);
}
