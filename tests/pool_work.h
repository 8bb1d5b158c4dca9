/* CPU work large enough to run on the thread pool, whose every output byte
 * is collected, so that runs with different thread counts (or concurrent
 * with other callers) can be compared byte for byte. Shared by the Criterion
 * suite (tests/test_cpu_threads.c) and the ThreadSanitizer program
 * (tests/tsan/shared_context.c); no test framework here. Shapes split
 * unevenly: 517 rows (not a multiple of 4, 16, 64 or 128), 352 columns (not
 * a multiple of 128). */
#ifndef MXB_TEST_POOL_WORK_H
#define MXB_TEST_POOL_WORK_H
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/formats.h"
#include "core/gemm.h"
#include "cpu/gemm.h"
#include "mxblas.h"

enum { MXBT_PW_ROWS = 517, MXBT_PW_COLS = 352, MXBT_PW_M = 67, MXBT_PW_N = 259 };

/* Quantize options a case adds to the defaults. */
enum { MXBT_PW_RNE, MXBT_PW_SR, MXBT_PW_RHT, MXBT_PW_2D, MXBT_PW_SATURATE, MXBT_PW_POW2, MXBT_PW_OPTIONS };

static inline const char *mxbt_pw_option_name(int o) {
  static const char *n[] = {"rne", "sr", "rht", "2d", "saturate", "pow2"};
  return n[o];
}

/* Every output byte, appended. */
typedef struct mxbt_pw_bytes {
  unsigned char *p;
  size_t n, cap;
} mxbt_pw_bytes;

static inline void mxbt_pw_put(mxbt_pw_bytes *b, const void *p, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2;
    b->p = realloc(b->p, b->cap);
    if (!b->p) abort();
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

/* Deterministic input: normal values over a wide range of row magnitudes,
 * with a NaN and an Inf here and there (each kind of non-finite handling). */
static inline float *mxbt_pw_input(void) {
  float *x = malloc(sizeof(float) * MXBT_PW_ROWS * MXBT_PW_COLS);
  uint64_t s = 99;
  for (int64_t i = 0; i < (int64_t)MXBT_PW_ROWS * MXBT_PW_COLS; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    float u = (float)(int32_t)(s >> 32) / 2147483648.0f;
    x[i] = ldexpf(u, (int)((i / MXBT_PW_COLS) % 17) - 8);
    if (i % 4099 == 5) x[i] = NAN;
    if (i % 6007 == 11) x[i] = -INFINITY;
  }
  return x;
}

/* Quantize x in format f with option o (the outputs: every plane), then
 * dequantize to fp32 and bf16, the error statistics, and the CPU GEMM of the
 * first M rows by the first N rows in both sum modes, fp32 and bf16 (with
 * beta) output. Returns 0, 1 when the option does not apply to f, or -1 on
 * a failure (detail in msg). */
static inline int mxbt_pw_run(mxb_format_t f, int o, const float *x, mxbt_pw_bytes *out, char *msg, size_t msz) {
  mxb_context_t *ctx = NULL;
  if (mxb_context_create(MXB_BACKEND_CPU, 0, &ctx) != MXB_SUCCESS) abort();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  if (o == MXBT_PW_SR) {
    cfg.rounding = MXB_ROUND_SR;
    cfg.seed = 1234;
    cfg.offset = 5;
  }
  if (o == MXBT_PW_RHT) {
    cfg.rht.enabled = 1;
    cfg.rht.size = 32;
    cfg.rht.sign_source = MXB_SIGNS_SEED;
    cfg.rht.sign_seed = 77;
  }
  if (o == MXBT_PW_2D) cfg.block_2d = 1;
  if (o == MXBT_PW_SATURATE) cfg.nonfinite = MXB_NONFINITE_SATURATE;
  if (o == MXBT_PW_POW2) cfg.fp8_pow2_scale = 1;
  int ok = 0;
  if (mxb_quantize_supported(ctx, &cfg, f, &ok) != MXB_SUCCESS || !ok) {
    mxb_context_destroy(ctx);
    return 1;
  }
  const mxb_format_desc *d = mxb_format_desc_get(f);
  if ((o == MXBT_PW_2D && d->scale_type != MXB_SCALE_UE4M3) || (o == MXBT_PW_POW2 && d->scale_type != MXB_SCALE_FP32)) {
    mxb_context_destroy(ctx);
    return 1; /* accepted but without effect: nothing new to compare */
  }
  int rc = -1;
  mxb_tensor_t t;
  mxb_tensor_sizes_t sz = {.struct_size = sizeof(sz)};
  float amax = 0;
  if (mxb_tensor_init(&t, f, MXBT_PW_ROWS, MXBT_PW_COLS, MXB_SCALE_LAYOUT_LINEAR) != MXB_SUCCESS ||
      mxb_tensor_sizes(f, MXBT_PW_ROWS, MXBT_PW_COLS, MXB_SCALE_LAYOUT_LINEAR, &sz) != MXB_SUCCESS)
    abort();
  t.data = calloc(1, sz.data_bytes);
  t.scales = sz.scale_bytes ? calloc(1, sz.scale_bytes) : NULL;
  t.aux = sz.aux_bytes ? calloc(1, sz.aux_bytes) : NULL;
  t.amax = sz.amax_bytes ? &amax : NULL;
  float *y = malloc(sizeof(float) * MXBT_PW_ROWS * MXBT_PW_COLS);
  uint16_t *yb = malloc(2 * MXBT_PW_ROWS * MXBT_PW_COLS);
  float *c = malloc(sizeof(float) * MXBT_PW_M * MXBT_PW_N);
  uint16_t *cb = malloc(2 * MXBT_PW_M * MXBT_PW_N);
  void *w = NULL;
  mxb_error_stats_t st = {.struct_size = sizeof(st)};
#define MXBT_PW_TRY(call)                                                                 \
  if ((call) != MXB_SUCCESS) {                                                            \
    snprintf(msg, msz, "%s: %s", #call, mxb_last_error_detail());                         \
    goto done;                                                                            \
  }
  MXBT_PW_TRY(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL));
  mxbt_pw_put(out, t.data, sz.data_bytes);
  if (sz.scale_bytes) mxbt_pw_put(out, t.scales, sz.scale_bytes);
  if (sz.aux_bytes) mxbt_pw_put(out, t.aux, sz.aux_bytes);
  mxbt_pw_put(out, &amax, 4);
  MXBT_PW_TRY(mxb_dequantize(ctx, &t, MXB_DTYPE_FP32, y, NULL));
  MXBT_PW_TRY(mxb_dequantize(ctx, &t, MXB_DTYPE_BF16, yb, NULL));
  mxbt_pw_put(out, y, sizeof(float) * MXBT_PW_ROWS * MXBT_PW_COLS);
  mxbt_pw_put(out, yb, 2 * MXBT_PW_ROWS * MXBT_PW_COLS);
  /* the statistics of a RHT tensor compare against the transformed input;
   * against x they are still a deterministic function of both */
  MXBT_PW_TRY(mxb_error_stats(x, &t, &st));
  mxbt_pw_put(out, &st, sizeof(st));

  mxb_tensor_t a = t, b = t; /* views of the first M and N rows */
  a.rows = MXBT_PW_M;
  b.rows = MXBT_PW_N;
  int sup = 0;
  if (mxb_gemm_pair_supported(f, f, MXB_GEMM_EXACT, &sup) == MXB_SUCCESS && sup) {
    int L = mxb_gemm_k_block(d, d);
    w = malloc(mxb_cpu_gemm_workspace_size(MXBT_PW_M, MXBT_PW_N, MXBT_PW_COLS, L));
    mxb_gemm_desc_t gd;
    mxb_gemm_desc_init(&gd);
    for (int int_sums = 0; int_sums < 2; int_sums++) {
      gd.c_type = MXB_DTYPE_FP32;
      gd.beta = 0.0f;
      mxb_cpu_gemm(&gd, &a, &b, c, MXBT_PW_N, L, 0, w, int_sums);
      mxbt_pw_put(out, c, sizeof(float) * MXBT_PW_M * MXBT_PW_N);
      for (int i = 0; i < MXBT_PW_M * MXBT_PW_N; i++) cb[i] = (uint16_t)(0x3F80 + i % 7);
      gd.c_type = MXB_DTYPE_BF16;
      gd.beta = 0.5f;
      mxb_cpu_gemm(&gd, &a, &b, cb, MXBT_PW_N, L, 0, w, int_sums);
      mxbt_pw_put(out, cb, 2 * MXBT_PW_M * MXBT_PW_N);
    }
  }
  rc = 0;
done:
#undef MXBT_PW_TRY
  free(w);
  free(t.data);
  free(t.scales);
  free(t.aux);
  free(y);
  free(yb);
  free(c);
  free(cb);
  mxb_context_destroy(ctx);
  return rc;
}
#endif
