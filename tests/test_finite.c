/* Finite input decodes to finite values near it (docs/NUMERICS.md,
 * Decisions): every format at +-0, the smallest subnormal, the smallest
 * normal, the ends of the NVFP4 tensor-scale range and +-FLT_MAX; tensor
 * amaxes at both ends of the fp32 range; +-Inf under NONFINITE_SATURATE and
 * a supplied NVFP4 amax of +Inf; the NVFP4 decode arithmetic at the top of
 * the range; and the GEMM's tensor scales on the same operands. */
#include <float.h>
#include <stdio.h>

#include "common/block.h"
#include "core/formats.h"
#include "finite_cases.h"

static mxb_context_t *cpu(void) {
  mxb_context_t *c = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &c), MXB_SUCCESS);
  return c;
}

static const char *fname(mxb_format_t f) { return mxb_format_desc_get(f)->name; }

/* The error bound of a format, as |y - x| <= tol * M + floor for an element
 * of a block whose largest magnitude is M:
 *  - tol: half a grid step of the element in its top binade, relative to
 *    that binade's bottom, 2^-(mbits+1) (E2M1 1/4, E4M3 1/16, BF16 2^-8; the
 *    MX and FP8 scales put the block's largest magnitude in the element's
 *    top binade, and the values saturated below 2^128 lose at most that
 *    much). MXINT8: the scaled amax lies in (127/128, 127/64], a half step
 *    2^-7 of at least 1/2: 2^-6. BDR: the largest magnitude has M in
 *    [2^(m-1), 2^m - 1], saturation included: 2^-m. NVFP4: E2M1's 1/4 (the
 *    UE4M3 scale's rounding moves the scaled amax by 1/16 around 6, within
 *    it). MoR: E4M3's (its BF16 partitions are finer).
 *  - floor: the absolute error allowed where the format's grid at its
 *    smallest scale is coarser than tol (values this small may flush to
 *    zero): half the element's subnormal step at the smallest scale (MX:
 *    2^-127, FP8: a scale_inv of 2^-128 when max / amax overflows, BDR: an
 *    exponent of 0, BF16: none); NVFP4: 6 * 2^-10 * S_dec with the smallest
 *    S_dec, 2^-128 (a block scale below 2^-10 flushes), rounded up to 2^-135.
 * An element that is not its block's largest has an error of at most a
 * full top-binade step: 2 * tol * M. */
static void bound_of(mxb_format_t f, double *tol, double *floor_) {
  const mxb_format_desc *d = mxb_format_desc_get(f);
  const mxb_elem_desc *e = mxb_elem_desc_get(d->elem == MXB_ELEM_MIXED ? MXB_ELEM_E4M3 : d->elem);
  int emin = e->ebits ? 1 - e->bias : 0;
  *tol = ldexp(1.0, -e->mbits - 1);
  *floor_ = ldexp(1.0, emin - e->mbits - 1);
  switch (d->scale_type) {
    case MXB_SCALE_UE4M3: *floor_ = 0x1p-135; break;
    case MXB_SCALE_E8M0:
      if (d->elem == MXB_ELEM_INT8) *tol = 0x1p-6;
      *floor_ = ldexp(*floor_, -127);
      break;
    case MXB_SCALE_BDR:
      *tol = ldexp(1.0, -d->bdr_m);
      *floor_ = ldexp(1.0, -127 - d->bdr_m);
      break;
    /* UE8M0: the scale is rounded down to a power of two, at most 2^127 (not
     * FLT_MAX), so the smallest step is twice the fp32-scale one */
    case MXB_SCALE_UE8M0: *floor_ = ldexp(*floor_, -127); break;
    case MXB_SCALE_FP32: *floor_ = d->elem == MXB_ELEM_MIXED ? 0x1p-134 : ldexp(*floor_, -128); break;
    default: break; /* BF16: 2^-8 and half its subnormal step, 2^-134 */
  }
}

/* Quantize x [rows, cols] on the CPU (MoR formats through mxb_mor_quantize
 * with cfg->fp8_pow2_scale as its pow2_scale) and dequantize to fp32.
 * supplied: the NVFP4 amax to supply (with cfg->amax_source). Returns the
 * tensor amax the NVFP4 tensor carries (0 for the other formats). */
static float roundtrip(mxb_context_t *ctx, const mxb_quant_config_t *cfg, mxb_format_t f, int64_t rows, int64_t cols,
                       const float *x, float supplied, float *y) {
  mxb_tensor_t t;
  mxb_tensor_sizes_t s = {.struct_size = sizeof(mxb_tensor_sizes_t)};
  cr_assert_eq(mxb_tensor_init(&t, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  cr_assert_eq(mxb_tensor_sizes(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &s), MXB_SUCCESS);
  float amax = supplied;
  t.data = malloc(s.data_bytes);
  t.scales = s.scale_bytes ? malloc(s.scale_bytes) : NULL;
  t.aux = s.aux_bytes ? malloc(s.aux_bytes) : NULL;
  t.amax = s.amax_bytes ? &amax : NULL;
  mxb_status_t st;
  if (mxb_format_desc_get(f)->elem == MXB_ELEM_MIXED) {
    mxb_mor_config_t mc;
    mxb_mor_config_init(&mc);
    mc.pow2_scale = cfg->fp8_pow2_scale;
    size_t ws = 0;
    cr_assert_eq(mxb_mor_workspace_size(ctx, &mc, MXB_DTYPE_FP32, &t, &ws), MXB_SUCCESS);
    void *w = malloc(ws);
    st = mxb_mor_quantize(ctx, &mc, MXB_DTYPE_FP32, x, &t, w, ws, NULL);
    free(w);
  } else {
    st = mxb_quantize(ctx, cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL);
  }
  cr_assert_eq(st, MXB_SUCCESS, "%s: %s", fname(f), mxb_last_error_detail());
  cr_assert_eq(mxb_dequantize(ctx, &t, MXB_DTYPE_FP32, y, NULL), MXB_SUCCESS, "%s: %s", fname(f),
               mxb_last_error_detail());
  free(t.data);
  free(t.scales);
  free(t.aux);
  return s.amax_bytes ? amax : 0.0f;
}

/* y[i] is finite, has x[i]'s sign (or is 0) and |y - x| <= mult * (tol * M
 * + floor), M = the largest |x| (every block holds it); mult = 2 allows a
 * whole grid step (SR, or elements below the block's largest). Zeros stay
 * zeros with their sign (MXINT8's two's complement has one zero). */
static void check_close(mxb_format_t f, const float *x, const float *y, int64_t n, double tol_mult, const char *what) {
  double tol, floor_, M = 0;
  bound_of(f, &tol, &floor_);
  for (int64_t i = 0; i < n; i++) M = fmax(M, fabs((double)x[i]));
  for (int64_t i = 0; i < n; i++) {
    cr_assert(isfinite(y[i]), "%s %s: x[%lld] = %a decodes to %a", fname(f), what, (long long)i, x[i], y[i]);
    double err = fabs((double)y[i] - (double)x[i]);
    cr_assert(err <= tol_mult * (tol * M + floor_), "%s %s: x[%lld] = %a decodes to %a (error %g > %g * (%g * %g + %g))",
              fname(f), what, (long long)i, x[i], y[i], err, tol_mult, tol, M, floor_);
    cr_assert(y[i] == 0 || signbit(y[i]) == signbit(x[i]), "%s %s: x[%lld] = %a decodes to %a", fname(f), what,
              (long long)i, x[i], y[i]);
    if (x[i] == 0 && mxb_format_desc_get(f)->elem != MXB_ELEM_INT8)
      cr_assert(y[i] == 0 && signbit(y[i]) == signbit(x[i]), "%s %s: %a decodes to %a", fname(f), what, x[i], y[i]);
  }
}

enum { CFG_DEFAULT, CFG_SATURATE, CFG_POW2, CFG_SR, CFG_COUNT };
static const char *const k_cfg_name[CFG_COUNT] = {"default", "saturate", "pow2", "sr"};
static mxb_quant_config_t cfg_of(int k) {
  mxb_quant_config_t c;
  mxb_quant_config_init(&c);
  if (k == CFG_SATURATE) c.nonfinite = MXB_NONFINITE_SATURATE;
  if (k == CFG_POW2) c.fp8_pow2_scale = 1;
  if (k == CFG_SR) {
    c.rounding = MXB_ROUND_SR;
    c.seed = 0x5EED;
  }
  return c;
}
/* SR is offered for minifloat elements with per-block or per-tensor scales. */
static int cfg_applies(int k, mxb_format_t f) {
  const mxb_format_desc *d = mxb_format_desc_get(f);
  if (k != CFG_SR) return 1;
  return d->elem != MXB_ELEM_MIXED && d->scale_type != MXB_SCALE_NONE && d->scale_type != MXB_SCALE_BDR;
}

/* A tensor filled with one value: every format, every config. */
Test(finite, every_format_at_the_edges_of_fp32) {
  mxb_context_t *ctx = cpu();
  const int64_t rows = 3, cols = 130; /* tails along cols, a partial 128-row partition */
  float *x = malloc(rows * cols * sizeof(float)), *y = malloc(rows * cols * sizeof(float));
  mxb_format_t formats[MXB_FORMAT_COUNT];
  const size_t nformats = mxbt_stored_formats(formats);
  for (size_t f = 0; f < nformats; f++)
    for (int k = 0; k < CFG_COUNT; k++) {
      if (!cfg_applies(k, formats[f])) continue;
      mxb_quant_config_t cfg = cfg_of(k);
      for (size_t v = 0; v < FINITE_NVALUES; v++) {
        for (int64_t i = 0; i < rows * cols; i++) x[i] = k_finite_values[v];
        roundtrip(ctx, &cfg, formats[f], rows, cols, x, 0.0f, y);
        char what[64];
        snprintf(what, sizeof(what), "%s, all %a", k_cfg_name[k], k_finite_values[v]);
        check_close(formats[f], x, y, rows * cols, k == CFG_SR ? 2.0 : 1.0, what);
      }
    }
  free(x);
  free(y);
  mxb_context_destroy(ctx);
}

/* Tensors whose amax lies at either end of the fp32 range, with smaller
 * values of both signs in every block. */
Test(finite, tensor_amax_at_both_ends) {
  mxb_context_t *ctx = cpu();
  const int64_t rows = 2, cols = 256;
  float x[2 * 256], y[2 * 256];
  mxb_format_t formats[MXB_FORMAT_COUNT];
  const size_t nformats = mxbt_stored_formats(formats);
  for (size_t f = 0; f < nformats; f++)
    for (size_t a = 0; a < FINITE_NAMAXES; a++)
      for (int k = 0; k < CFG_COUNT; k++) {
        if (!cfg_applies(k, formats[f])) continue;
        mxb_quant_config_t cfg = cfg_of(k);
        finite_fill_pattern(x, rows * cols, k_finite_amaxes[a]);
        float A = roundtrip(ctx, &cfg, formats[f], rows, cols, x, 0.0f, y);
        if (mxb_format_desc_get(formats[f])->has_amax)
          cr_assert_eq(A, k_finite_amaxes[a], "the stored NVFP4 amax is the tensor's");
        char what[64];
        snprintf(what, sizeof(what), "%s, amax %a", k_cfg_name[k], k_finite_amaxes[a]);
        check_close(formats[f], x, y, rows * cols, 2.0, what);
      }
  mxb_context_destroy(ctx);
}

/* The cases of the report: NVFP4 with A = 1e36 overflowed s_b * A in the
 * decoder; with A = 1e-37 the encoder's clamped S_enc and the decoder's
 * A / 2688 disagreed (81x). */
Test(finite, nvfp4_reported_cases) {
  mxb_context_t *ctx = cpu();
  mxb_quant_config_t cfg = cfg_of(CFG_DEFAULT);
  float x[16], y[16];
  for (int i = 0; i < 16; i++) x[i] = (float[]){1e36f, 1, 0, -2}[i % 4];
  roundtrip(ctx, &cfg, MXB_FORMAT_NVFP4, 1, 16, x, 0.0f, y);
  check_close(MXB_FORMAT_NVFP4, x, y, 16, 2.0, "[1e36, 1, 0, -2]");
  for (int i = 0; i < 16; i++) x[i] = (float[]){1e-37f, 5e-38f, 0, -1e-38f}[i % 4];
  roundtrip(ctx, &cfg, MXB_FORMAT_NVFP4, 1, 16, x, 0.0f, y);
  check_close(MXB_FORMAT_NVFP4, x, y, 16, 2.0, "[1e-37, 5e-38, 0, -1e-38]");
  cr_assert_float_eq(y[0], 1e-37f, 0.25e-37f);
  mxb_context_destroy(ctx);
}

/* NONFINITE_SATURATE: +-Inf saturates to the largest finite magnitude the
 * block can decode (at least 2^127: NVFP4 A = Inf is used as FLT_MAX, an MX
 * block with an Inf gets scale 2^127) and nothing else becomes non-finite.
 * BDR takes its exponent from the finite values: Inf becomes the block's
 * largest magnitude. A supplied NVFP4 amax of +Inf is used as FLT_MAX under
 * either policy. */
Test(finite, saturate_policy_with_inf) {
  mxb_context_t *ctx = cpu();
  mxb_quant_config_t cfg = cfg_of(CFG_SATURATE);
  const int64_t rows = 16, cols = 64;
  float x[16 * 64], y[16 * 64];
  finite_fill_inf(x, rows * cols);
  mxb_format_t formats[MXB_FORMAT_COUNT];
  const size_t nformats = mxbt_stored_formats(formats);
  for (size_t f = 0; f < nformats; f++) {
    mxb_format_t fm = formats[f];
    const mxb_format_desc *d = mxb_format_desc_get(fm);
    if (d->scale_type != MXB_SCALE_UE4M3 && d->scale_type != MXB_SCALE_E8M0 && d->scale_type != MXB_SCALE_BDR)
      continue; /* FP8 with fp32 scales, BF16 and MoR keep Inf element by element */
    for (int two_d = 0; two_d < (d->has_amax ? 2 : 1); two_d++) {
      cfg.block_2d = two_d;
      float A = roundtrip(ctx, &cfg, fm, rows, cols, x, 0.0f, y);
      if (d->has_amax) cr_assert(isinf(A), "the stored amax stays the tensor's, +Inf");
      for (int64_t i = 0; i < rows * cols; i++) {
        cr_assert(isfinite(y[i]), "%s 2d=%d: x[%lld] = %a decodes to %a", d->name, two_d, (long long)i, x[i], y[i]);
        cr_assert(y[i] == 0 || signbit(y[i]) == signbit(x[i]), "%s: %a decodes to %a", d->name, x[i], y[i]);
        if (isinf(x[i]) && d->scale_type != MXB_SCALE_BDR)
          cr_assert(fabsf(y[i]) >= 0x1p127f, "%s: %a decodes to %a", d->name, x[i], y[i]);
        if (x[i] == 0) cr_assert(y[i] == 0, "%s: %a decodes to %a", d->name, x[i], y[i]);
      }
    }
  }
  /* a supplied amax of +Inf: finite under both policies; ordinary values
   * are tiny next to FLT_MAX and flush to zero */
  for (int k = 0; k < 2; k++) {
    mxb_quant_config_t c = cfg_of(k ? CFG_SATURATE : CFG_DEFAULT);
    c.amax_source = MXB_AMAX_FROM_TENSOR;
    finite_fill_pattern(x, rows * cols, 3.0f);
    x[5] = 3e38f;
    float A = roundtrip(ctx, &c, MXB_FORMAT_NVFP4, rows, cols, x, INFINITY, y);
    cr_assert(isinf(A), "a supplied amax is not overwritten");
    for (int64_t i = 0; i < rows * cols; i++)
      cr_assert(isfinite(y[i]) && fabsf(y[i] - x[i]) <= 0.25f * fabsf(x[i]) + 3.0f, "%a decodes to %a", x[i], y[i]);
    cr_assert_float_eq(y[5], 3e38f, 0.75e38f);
  }
  mxb_context_destroy(ctx);
}

/* ---- the shared NVFP4 arithmetic (common/block.h) ------------------------ */

/* x rounded to fp32's 24 significant bits, RNE, with an unbounded exponent
 * (x a normal double above 2^-100). */
static double rnd24(double x) {
  int e;
  frexp(x, &e);
  return ldexp((double)(float)ldexp(x, 100 - e), e - 100);
}

/* Below FLT_MAX / 448 the decode multiplier is NUMERICS 4.1's
 * (s_b * A) * (1/2688) bit for bit; above, the same three fp32 operations
 * as if fp32 had no overflow (the value is at most about A / 6); every code
 * at every scale decodes to a finite value up to A = FLT_MAX. */
Test(finite, nvfp4_dequant_scale_never_overflows) {
  uint64_t s = 42;
  for (int i = 0; i < 200000; i++) {
    float A = mxbt_u2f((uint32_t)(mxbt_next(&s) % 0x7F800000u));
    uint8_t sb = (uint8_t)(mxbt_next(&s) % 0x7F);
    float got = mxb_nvfp4_dequant_scale(sb, A, 0);
    float sbf = mxb_ue4m3_decode(sb);
    if (A < MXB_NVFP4_AMAX_MIN) continue; /* covered by nvfp4_amax_min_threshold */
    if (A <= FLT_MAX / 448) {
      float want = (sbf * A) * (1.0f / 2688.0f);
      cr_assert_eq(mxbt_f2u(got), mxbt_f2u(want), "s_b 0x%02x A %a: %a != %a", sb, A, got, want);
    } else if (sb) {
      double want = rnd24(rnd24((double)sbf * A) * (double)(1.0f / 2688.0f));
      cr_assert_eq((double)got, want, "s_b 0x%02x A %a: %a != %a", sb, A, got, want);
    }
  }
  const float big[] = {FLT_MAX, nextafterf(FLT_MAX, 0), 3e38f, INFINITY};
  for (int a = 0; a < 4; a++)
    for (int sb = 0; sb < 0x7F; sb++)
      for (uint32_t c = 0; c < 16; c++) {
        float y = mxb_nvfp4_decode((uint8_t)c, (uint8_t)sb, big[a], 0);
        cr_assert(isfinite(y), "code %u s_b 0x%02x A %a decodes to %a", c, sb, big[a], y);
        if (sb == 0x7E && c == 7) cr_assert(y > 0.99f * fminf(big[a], FLT_MAX), "%a", y);
      }
}

/* The amax used is A itself from the smallest A whose S_enc = 2688 / A is
 * finite; below, that smallest value, for encoding and decoding alike. */
Test(finite, nvfp4_amax_min_threshold) {
  cr_assert(isfinite(2688.0f / MXB_NVFP4_AMAX_MIN));
  cr_assert(isinf(2688.0f / nextafterf(MXB_NVFP4_AMAX_MIN, 0)));
  cr_assert_eq(mxb_nvfp4_amax_used(MXB_NVFP4_AMAX_MIN), MXB_NVFP4_AMAX_MIN);
  cr_assert_eq(mxb_nvfp4_amax_used(1e-38f), MXB_NVFP4_AMAX_MIN);
  cr_assert_eq(mxb_nvfp4_amax_used(0x1p-149f), MXB_NVFP4_AMAX_MIN);
  cr_assert_eq(mxb_nvfp4_amax_used(0.0f), 0.0f);
  cr_assert_eq(mxb_nvfp4_amax_used(10.0f), 10.0f);
  cr_assert_eq(mxb_nvfp4_amax_used(INFINITY), FLT_MAX);
  mxb_nvfp4_ts t = mxb_nvfp4_tensor_scales(1e-38f, 0), u = mxb_nvfp4_tensor_scales(MXB_NVFP4_AMAX_MIN, 0);
  cr_assert_eq(t.S_enc, u.S_enc);
  cr_assert_eq(mxb_nvfp4_dequant_scale(0x7E, 1e-38f, 0), mxb_nvfp4_dequant_scale(0x7E, MXB_NVFP4_AMAX_MIN, 0));
  cr_assert_eq(mxb_nvfp4_tensor_scale(1e-38f, 0), MXB_NVFP4_AMAX_MIN * (1.0f / 2688.0f));
}

/* ---- GEMM: the tensor scales of the same operands -------------------------- */

/* C = A * I (exact mode, B an fp32 identity) for NVFP4 operands at the ends
 * of the range: C must be the decoded A, which is near the input. The
 * epilogue's tensor scale A_used * (1/2688) times e2m1 * s_b is another
 * order of dequantize's product: within 2^-20 relative (the tensor scale is
 * subnormal below A = 3.2e-35, 2^-21 of it at the smallest A used) and
 * 2^-148 absolute. */
Test(finite, gemm_nvfp4_tensor_scale_matches_decode) {
  mxb_context_t *ctx = cpu();
  enum { M = 4, K = 32 };
  float x[M * K], y[M * K], eye[K * K], c[M * K];
  memset(eye, 0, sizeof(eye));
  for (int k = 0; k < K; k++) eye[k * K + k] = 1.0f;
  mxb_tensor_t B;
  mxb_tensor_init(&B, MXB_FORMAT_FP32, K, K, MXB_SCALE_LAYOUT_LINEAR);
  B.data = eye;
  const float amaxes[] = {0x1p-149f, 1e-38f, 1e-37f, 1e36f, 3e38f, FLT_MAX, INFINITY};
  for (int a = 0; a < 7; a++) {
    mxb_quant_config_t cfg = cfg_of(CFG_SATURATE);
    if (isinf(amaxes[a])) finite_fill_inf(x, M * K);
    else finite_fill_pattern(x, M * K, amaxes[a]);
    mxb_tensor_t A;
    mxb_tensor_sizes_t s = {.struct_size = sizeof(mxb_tensor_sizes_t)};
    float amax = 0;
    mxb_tensor_init(&A, MXB_FORMAT_NVFP4, M, K, MXB_SCALE_LAYOUT_LINEAR);
    mxb_tensor_sizes(MXB_FORMAT_NVFP4, M, K, MXB_SCALE_LAYOUT_LINEAR, &s);
    A.data = malloc(s.data_bytes);
    A.scales = malloc(s.scale_bytes);
    A.amax = &amax;
    cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &A, NULL, 0, NULL), MXB_SUCCESS);
    cr_assert_eq(mxb_dequantize(ctx, &A, MXB_DTYPE_FP32, y, NULL), MXB_SUCCESS);
    mxb_gemm_desc_t g;
    mxb_gemm_desc_init(&g);
    size_t ws = 0;
    cr_assert_eq(mxb_gemm_workspace_size(ctx, &g, &A, &B, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
    void *w = malloc(ws ? ws : 1);
    cr_assert_eq(mxb_gemm(ctx, &g, &A, &B, c, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
    for (int i = 0; i < M * K; i++) {
      cr_assert(isfinite(y[i]) && isfinite(c[i]), "amax %a: x %a: decoded %a, gemm %a", amaxes[a], x[i], y[i], c[i]);
      cr_assert(fabs((double)c[i] - y[i]) <= 0x1p-20 * fabs((double)y[i]) + 0x1p-148,
                "amax %a: x %a: decoded %a, gemm %a", amaxes[a], x[i], y[i], c[i]);
    }
    if (!isinf(amaxes[a])) check_close(MXB_FORMAT_NVFP4, x, y, M * K, 2.0, "before the gemm");
    free(w);
    free(A.data);
    free(A.scales);
  }
  mxb_context_destroy(ctx);
}

/* ---- error statistics ------------------------------------------------------ */

/* Values saturated below 2^128 count as saturated: FLT_MAX in MXFP8 E4M3
 * (scale 2^120) would round to 256 * 2^120 = 2^128 and saturates to 240
 * * 2^120; in BF16 it saturates to 0x7F7F. Nothing decodes to a
 * non-finite value. */
Test(finite, stats_count_saturation_below_2_128) {
  mxb_context_t *ctx = cpu();
  mxb_quant_config_t cfg = cfg_of(CFG_DEFAULT);
  const mxb_format_t fs[2] = {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_BF16};
  const float want[2] = {240 * 0x1p120f, 0x1.fep127f};
  float x[64], y[64];
  for (int i = 0; i < 64; i++) x[i] = i % 2 ? -FLT_MAX : FLT_MAX;
  for (int f = 0; f < 2; f++) {
    mxb_tensor_t t;
    mxb_tensor_init(&t, fs[f], 1, 64, MXB_SCALE_LAYOUT_LINEAR);
    uint8_t data[128], scales[2];
    t.data = data;
    t.scales = scales;
    cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_SUCCESS);
    cr_assert_eq(mxb_dequantize(ctx, &t, MXB_DTYPE_FP32, y, NULL), MXB_SUCCESS);
    cr_assert_eq(y[0], want[f], "%s: %a", fname(fs[f]), y[0]);
    cr_assert_eq(y[1], -want[f], "%s: %a", fname(fs[f]), y[1]);
    mxb_error_stats_t st;
    st.struct_size = sizeof(st);
    cr_assert_eq(mxb_error_stats(x, &t, &st), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert_eq(st.nonfinite, 0, "%s", fname(fs[f]));
    cr_assert_eq(st.frac_saturated, 1.0, "%s", fname(fs[f]));
  }
  /* BF16 just below its rounding limit 2^128 (1 - 2^-9): nothing clips */
  mxb_tensor_t t;
  mxb_tensor_init(&t, MXB_FORMAT_BF16, 1, 64, MXB_SCALE_LAYOUT_LINEAR);
  uint16_t data[64];
  t.data = data;
  for (int i = 0; i < 64; i++) x[i] = i % 2 ? -0x1.fefffep127f : 0x1.fefffep127f;
  cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_SUCCESS);
  mxb_error_stats_t st;
  st.struct_size = sizeof(st);
  cr_assert_eq(mxb_error_stats(x, &t, &st), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(st.frac_saturated, 0.0);
  mxb_context_destroy(ctx);
}
