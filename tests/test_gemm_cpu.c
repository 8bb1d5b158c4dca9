/* CPU GEMM (NUMERICS 7): bit-exact against a literal loop, within the derived
 * bound of a float64 oracle, BLIS-style random-vector checks, golden integer
 * products, alpha/beta/ldc/bf16 rules, NaN blocks, supported pairs, bad input. */
#include <float.h>
#include <stdio.h>

#include "cpu/decode.h"
#include "cpu/gemm.h"
#include "gemm_operands.h"

/* ---------------------------------------------------------------- operands */

/* Runs mxb_gemm on the CPU with a workspace of the queried size; the detail
 * message of a failure is kept in g_detail. */
static char g_detail[512];
static mxb_status_t run_gemm(const mxb_gemm_desc_t *d, const mxb_tensor_t *A, const mxb_tensor_t *B, void *C) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  size_t ws = 0;
  mxb_status_t st = mxb_gemm_workspace_size(ctx, d, A, B, &ws);
  void *w = NULL;
  if (st == MXB_SUCCESS) {
    w = malloc(ws ? ws : 1);
    st = mxb_gemm(ctx, d, A, B, C, w, ws, NULL);
    if (st == MXB_SUCCESS) cr_assert_str_eq(mxb_context_last_impl(ctx), "cpu-reference");
  }
  snprintf(g_detail, sizeof(g_detail), "%s", mxb_last_error_detail());
  free(w);
  mxb_context_destroy(ctx);
  return st;
}

/* Decoded operand (element x block scale, binary64) and its tensor scale. */
static double *decoded(const mxb_tensor_t *t) {
  double *v = malloc((size_t)(t->rows * t->cols) * sizeof(double));
  for (int64_t r = 0; r < t->rows; r++) mxb_cpu_decode_row_f64(t, r, v + r * t->cols);
  return v;
}

/* ------------------------------------------- NUMERICS 7, written literally */
static int spec_L(mxb_format_t fa, mxb_format_t fb) {
  mxb_format_info_t ia = {.struct_size = sizeof(ia)}, ib = {.struct_size = sizeof(ib)};
  mxb_format_info(fa, &ia);
  mxb_format_info(fb, &ib);
  int la = ia.scale_type == MXB_SCALE_NONE ? 0 : ia.block_cols;
  int lb = ib.scale_type == MXB_SCALE_NONE ? 0 : ib.block_cols;
  int l = la > lb ? la : lb;
  return l == 0 ? 32 : l;
}

static uint16_t bf16_rne(float f) {
  uint32_t u = mxbt_f2u(f);
  uint32_t lsb = (u >> 16) & 1;
  return (uint16_t)((u + 0x7FFF + lsb) >> 16);
}

/* C (fp32 or bf16, ldc) = the literal definition, from the same decoded
 * values; NaN written as the canonical quiet NaN. */
static void spec_gemm(const mxb_gemm_desc_t *d, const mxb_tensor_t *A, const mxb_tensor_t *B, void *C) {
  int64_t M = A->rows, N = B->rows, K = A->cols, ldc = d->ldc ? d->ldc : N;
  int L = spec_L(A->format, B->format);
  double *a = decoded(A), *b = decoded(B);
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      /* the rows' tensor scales (one for the tensor unless MXB_TENSOR_ROW_AMAX) */
      const float t = (float)mxb_cpu_tensor_scale(A, i) * (float)mxb_cpu_tensor_scale(B, j);
      float acc = 0.0f;
      for (int64_t k0 = 0; k0 < K; k0 += L) {
        double p = 0.0;
        for (int64_t k = k0; k < K && k < k0 + L; k++) p = p + a[i * K + k] * b[j * K + k];
        acc = acc + (float)p;
      }
      float c = (d->alpha * t) * acc;
      if (d->c_type == MXB_DTYPE_FP32) {
        float *cp = (float *)C + i * ldc + j;
        if (d->beta != 0.0f) c = c + d->beta * *cp;
        *cp = isnan(c) ? mxbt_u2f(0x7FC00000u) : c;
      } else {
        uint16_t *cp = (uint16_t *)C + i * ldc + j;
        if (d->beta != 0.0f) c = c + d->beta * mxbt_u2f((uint32_t)*cp << 16);
        *cp = isnan(c) ? 0x7FC0 : bf16_rne(c);
      }
    }
  free(a);
  free(b);
}

/* ------------------------------------------ the exact-mode bound (GEMM.md) */
static double gam(double n, double u) { return n * u / (1.0 - n * u); }

typedef struct {
  double at;      /* |alpha * tsA * tsB| */
  double alpha;   /* |alpha| */
  int L;
  int64_t K;
} bound_ctx;

/* Bound on |c - (alpha*T*sum a_k b_k + beta*c_in)| for fp32 output, where S =
 * sum |a_k b_k|, bcin = |beta * c_in| (0 when beta = 0). Derivation in
 * docs/GEMM.md, "Exact mode against real arithmetic". */
static double exact_bound(const bound_ctx *b, double S, double bcin) {
  const double u = 0x1p-24, ud = 0x1p-53, eta = 0x1p-150;
  double nb = (double)((b->K + b->L - 1) / b->L);
  double g64 = gam(b->L, ud);
  double g1 = g64 + u * (1 + g64) + gam(nb - 1, u) * (1 + u) * (1 + g64);
  double e1 = g1 * S + nb * eta * (1 + gam(nb, u));
  double accmax = (1 + g1) * S + 2 * nb * eta;
  double at_err = gam(2, u) * b->at + b->alpha * eta + eta; /* alpha_t = fl(alpha fl(tsA tsB)) */
  double b0 = at_err * accmax + b->at * e1 + u * (b->at + at_err) * accmax + eta;
  if (bcin == 0) return b0;
  double c0max = b->at * S + b0;
  return b0 + u * bcin + u * (c0max + bcin * (1 + u)) + eta;
}

/* Oracle error on the reference itself: the double sum over K and the
 * double product alpha*tsA*tsB. */
static double oracle_slack(const bound_ctx *b, double S) { return (gam((double)b->K, 0x1p-53) + 4 * 0x1p-53) * b->at * S * 2; }

/* Compares C (fp32 or bf16) with the float64 oracle element by element. */
static void check_oracle(const mxb_gemm_desc_t *d, const mxb_tensor_t *A, const mxb_tensor_t *B, const void *C,
                         const void *C_in) {
  int64_t M = A->rows, N = B->rows, K = A->cols, ldc = d->ldc ? d->ldc : N;
  double *a = decoded(A), *b = decoded(B);
  double tsA = mxb_cpu_tensor_scale(A, 0), tsB = mxb_cpu_tensor_scale(B, 0);
  bound_ctx bc = {fabs((double)d->alpha * tsA * tsB), fabs((double)d->alpha), spec_L(A->format, B->format), K};
  int bf = d->c_type == MXB_DTYPE_BF16;
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double e = 0, S = 0;
      for (int64_t k = 0; k < K; k++) {
        e += a[i * K + k] * b[j * K + k];
        S += fabs(a[i * K + k] * b[j * K + k]);
      }
      S *= 1 + gam((double)K, 0x1p-53);
      double cin = 0;
      if (d->beta != 0.0f)
        cin = bf ? mxbt_u2f((uint32_t)((const uint16_t *)C_in)[i * ldc + j] << 16) : ((const float *)C_in)[i * ldc + j];
      double ref = (double)d->alpha * tsA * tsB * e + (double)d->beta * cin;
      double bnd = exact_bound(&bc, S, fabs((double)d->beta * cin)) + oracle_slack(&bc, S);
      double got = bf ? mxbt_u2f((uint32_t)((const uint16_t *)C)[i * ldc + j] << 16) : ((const float *)C)[i * ldc + j];
      if (bf) bnd += 0x1p-8 * (fabs(ref) + bnd) + 0x1p-134; /* one more rounding, to bf16 */
      cr_assert(fabs(got - ref) <= bnd, "%s x %s C[%lld][%lld] = %.9g, oracle %.9g, |diff| %.3g > bound %.3g",
                mxbt_format_name(A->format), mxbt_format_name(B->format), (long long)i, (long long)j, got, ref, fabs(got - ref), bnd);
    }
  free(a);
  free(b);
}

/* Every supported pair the tests exercise; mixes cover each family rule. */
static const mxb_format_t k_pairs[][2] = {
  {MXB_FORMAT_FP32, MXB_FORMAT_FP32}, {MXB_FORMAT_BF16, MXB_FORMAT_BF16}, {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4},
  {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3}, {MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP8_E5M2},
  {MXB_FORMAT_MXFP6_E3M2, MXB_FORMAT_MXFP6_E3M2}, {MXB_FORMAT_MXFP6_E2M3, MXB_FORMAT_MXFP6_E2M3},
  {MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP4}, {MXB_FORMAT_MXINT8, MXB_FORMAT_MXINT8}, {MXB_FORMAT_MX9, MXB_FORMAT_MX9},
  {MXB_FORMAT_MX6, MXB_FORMAT_MX6}, {MXB_FORMAT_MX4, MXB_FORMAT_MX4},
  {MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E4M3_TENSOR}, {MXB_FORMAT_FP8_E5M2_TENSOR, MXB_FORMAT_FP8_E5M2_TENSOR},
  {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_1x128}, {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128},
  {MXB_FORMAT_FP8_E5M2_1x128, MXB_FORMAT_FP8_E4M3_128x128}, {MXB_FORMAT_FP8_E4M3_128x128, MXB_FORMAT_FP8_E4M3_128x128},
  {MXB_FORMAT_MOR_TENSOR, MXB_FORMAT_MOR_TENSOR}, {MXB_FORMAT_MOR_1x128, MXB_FORMAT_MOR_128x128},
  {MXB_FORMAT_MOR_1x128, MXB_FORMAT_BF16}, {MXB_FORMAT_BF16, MXB_FORMAT_MOR_TENSOR},
  {MXB_FORMAT_BF16, MXB_FORMAT_NVFP4}, {MXB_FORMAT_BF16, MXB_FORMAT_MXFP4}, {MXB_FORMAT_BF16, MXB_FORMAT_MXFP8_E4M3},
  {MXB_FORMAT_BF16, MXB_FORMAT_MXINT8}, {MXB_FORMAT_BF16, MXB_FORMAT_FP8_E4M3_TENSOR}, {MXB_FORMAT_BF16, MXB_FORMAT_MX6},
  {MXB_FORMAT_FP32, MXB_FORMAT_NVFP4}, {MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_FP32}, {MXB_FORMAT_FP32, MXB_FORMAT_BF16},
  {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4}, {MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP8_E4M3},
  {MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E5M2_TENSOR}, {MXB_FORMAT_MX9, MXB_FORMAT_MX4},
};
#define NPAIRS (sizeof(k_pairs) / sizeof(k_pairs[0]))

/* Inputs with rows of different magnitudes and a few wide-range rows. */
static float *make_input(int64_t rows, int64_t cols, uint64_t seed) {
  float *x = malloc((size_t)(rows * cols) * 4);
  uint64_t s = seed;
  for (int64_t r = 0; r < rows; r++) {
    float scale = ldexpf(1.0f, (int)(mxbt_next(&s) % 9) - 4);
    for (int64_t c = 0; c < cols; c++)
      x[r * cols + c] = (r % 5 == 3) ? mxbt_wide(&s, -12, 6) : scale * mxbt_normal(&s);
  }
  return x;
}

/* Two quantized operands from random inputs. */
typedef struct {
  mxbt_operand A, B;
  int64_t M, N, K;
} fixture;

static void fixture_make(fixture *fx, mxb_format_t fa, mxb_format_t fb, int64_t M, int64_t N, int64_t K, uint64_t seed) {
  fx->M = M;
  fx->N = N;
  fx->K = K;
  float *xa = make_input(M, K, seed), *xb = make_input(N, K, seed + 1);
  mxbt_operand_make(&fx->A, fa, MXB_SCALE_LAYOUT_LINEAR, M, K, xa);
  mxbt_operand_make(&fx->B, fb, MXB_SCALE_LAYOUT_LINEAR, N, K, xb);
  free(xa);
  free(xb);
}
static void fixture_free(fixture *fx) {
  mxbt_operand_free(&fx->A);
  mxbt_operand_free(&fx->B);
}

/* Shapes: M, N not multiples of the 4x4 tile; N above one 128-row panel;
 * K with a tail for every L (200 = 12*16 + 8 = 6*32 + 8 = 128 + 72). */
enum { TM = 37, TN = 133, TK = 200 };

Test(gemm_cpu, every_pair_bit_exact_with_the_literal_definition) {
  for (size_t p = 0; p < NPAIRS; p++) {
    fixture fx;
    fixture_make(&fx, k_pairs[p][0], k_pairs[p][1], TM, TN, TK, 1);
    mxb_gemm_desc_t d;
    mxb_gemm_desc_init(&d);
    d.alpha = 0.75f;
    float *C = malloc(sizeof(float) * TM * TN), *R = malloc(sizeof(float) * TM * TN);
    cr_assert_eq(run_gemm(&d, &fx.A.h, &fx.B.h, C), MXB_SUCCESS, "%s x %s: %s", mxbt_format_name(k_pairs[p][0]),
                 mxbt_format_name(k_pairs[p][1]), g_detail);
    spec_gemm(&d, &fx.A.h, &fx.B.h, R);
    for (int i = 0; i < TM * TN; i++)
      cr_assert_eq(mxbt_f2u(C[i]), mxbt_f2u(R[i]), "%s x %s C[%d] = %a, definition %a", mxbt_format_name(k_pairs[p][0]),
                   mxbt_format_name(k_pairs[p][1]), i, C[i], R[i]);
    check_oracle(&d, &fx.A.h, &fx.B.h, C, NULL);
    free(C);
    free(R);
    fixture_free(&fx);
  }
}

/* The integer block sums are a shortcut, not a different definition: every
 * bit equals the plain binary64 loop, including on wide-range rows. */
Test(gemm_cpu, integer_block_sums_equal_binary64_sums) {
  const mxb_format_t fs[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP6_E2M3, MXB_FORMAT_MXFP6_E3M2,
                             MXB_FORMAT_MXINT8, MXB_FORMAT_MX9, MXB_FORMAT_MX6, MXB_FORMAT_MX4,
                             MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_BF16};
  for (size_t f = 0; f < sizeof(fs) / sizeof(fs[0]); f++) {
    fixture fx;
    fixture_make(&fx, fs[f], fs[f], TM, TN, TK, 3);
    mxb_gemm_desc_t d;
    mxb_gemm_desc_init(&d);
    int L = spec_L(fs[f], fs[f]);
    size_t wsz = mxb_cpu_gemm_workspace_size(TM, TN, TK, L);
    void *w = malloc(wsz);
    float *C1 = malloc(sizeof(float) * TM * TN), *C0 = malloc(sizeof(float) * TM * TN);
    mxb_cpu_gemm(&d, &fx.A.h, &fx.B.h, C1, TN, L, 0, w, 1);
    mxb_cpu_gemm(&d, &fx.A.h, &fx.B.h, C0, TN, L, 0, w, 0);
    cr_assert_eq(memcmp(C0, C1, sizeof(float) * TM * TN), 0, "%s: integer and binary64 block sums differ",
                 mxbt_format_name(fs[f]));
    free(w);
    free(C0);
    free(C1);
    fixture_free(&fx);
  }
}

/* BLIS-style O(n^2) check: y = C x against z = alpha T A (B^T x) in float64,
 * with the elementwise bound summed the same way:
 * sum_j bound(S_ij)|x_j| = g * (|A| (|B|^T |x|))_i + h * sum |x_j|. */
Test(gemm_cpu, random_vector_products) {
  const mxb_format_t fs[][2] = {{MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4}, {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3},
                                {MXB_FORMAT_BF16, MXB_FORMAT_MXFP4}, {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128}};
  const int64_t M = 150, N = 141, K = 300;
  for (size_t f = 0; f < sizeof(fs) / sizeof(fs[0]); f++) {
    fixture fx;
    fixture_make(&fx, fs[f][0], fs[f][1], M, N, K, 5);
    const mxb_tensor_t *A = &fx.A.h, *B = &fx.B.h;
    mxb_gemm_desc_t d;
    mxb_gemm_desc_init(&d);
    d.alpha = -1.25f;
    float *C = malloc(sizeof(float) * M * N);
    cr_assert_eq(run_gemm(&d, A, B, C), MXB_SUCCESS, "%s", g_detail);
    double *a = decoded(A), *b = decoded(B);
    double at = (double)d.alpha * mxb_cpu_tensor_scale(A, 0) * mxb_cpu_tensor_scale(B, 0);
    bound_ctx bc = {fabs(at), fabs((double)d.alpha), spec_L(fs[f][0], fs[f][1]), K};
    double h = exact_bound(&bc, 0, 0), g = exact_bound(&bc, 1, 0) - h + oracle_slack(&bc, 1);
    uint64_t s = 77 + f;
    for (int trial = 0; trial < 3; trial++) {
      double x[141], w[300] = {0}, aw[300] = {0}, sx = 0;
      for (int64_t j = 0; j < N; j++) {
        x[j] = mxbt_uniform(&s);
        sx += fabs(x[j]);
      }
      for (int64_t j = 0; j < N; j++)
        for (int64_t k = 0; k < K; k++) {
          w[k] += b[j * K + k] * x[j];
          aw[k] += fabs(b[j * K + k] * x[j]);
        }
      for (int64_t i = 0; i < M; i++) {
        double y = 0, ya = 0, z = 0, za = 0;
        for (int64_t j = 0; j < N; j++) {
          y += (double)C[i * N + j] * x[j];
          ya += fabs((double)C[i * N + j] * x[j]);
        }
        for (int64_t k = 0; k < K; k++) {
          z += a[i * K + k] * w[k];
          za += fabs(a[i * K + k]) * aw[k];
        }
        z *= at;
        double bnd = g * za * (1 + gam((double)(K + N), 0x1p-53)) + h * sx +
                     gam((double)(N + 1), 0x1p-53) * ya + gam((double)(K + N + 2), 0x1p-53) * fabs(at) * za;
        cr_assert(fabs(y - z) <= bnd, "%s x %s row %lld: Cx = %.17g, A(B^T x) = %.17g, diff %.3g > %.3g",
                  mxbt_format_name(fs[f][0]), mxbt_format_name(fs[f][1]), (long long)i, y, z, fabs(y - z), bnd);
      }
    }
    free(a);
    free(b);
    free(C);
    fixture_free(&fx);
  }
}

/* Small integers are exact in every format below after power-of-two
 * scaling, so C is the exact integer product (an independent golden value). */
Test(gemm_cpu, golden_integer_products) {
  const mxb_format_t fs[] = {MXB_FORMAT_FP32, MXB_FORMAT_BF16, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E5M2,
                             MXB_FORMAT_MXFP6_E3M2, MXB_FORMAT_MXFP6_E2M3, MXB_FORMAT_MXFP4, MXB_FORMAT_MXINT8,
                             MXB_FORMAT_MX9, MXB_FORMAT_MX6, MXB_FORMAT_MX4};
  enum { M = 5, N = 6, K = 70 };
  float ya[M * K], yb[N * K];
  for (int i = 0; i < M * K; i++) ya[i] = (float)((i * 5 + i / K) % 7 - 3);
  for (int i = 0; i < N * K; i++) yb[i] = (float)((i * 3 + 2 * (i / K)) % 7 - 3);
  for (size_t f = 0; f < sizeof(fs) / sizeof(fs[0]); f++) {
    mxbt_operand A, B;
    mxbt_operand_make(&A, fs[f], MXB_SCALE_LAYOUT_LINEAR, M, K, ya);
    mxbt_operand_make(&B, fs[f], MXB_SCALE_LAYOUT_LINEAR, N, K, yb);
    mxb_gemm_desc_t d;
    mxb_gemm_desc_init(&d);
    float C[M * N];
    cr_assert_eq(run_gemm(&d, &A.h, &B.h, C), MXB_SUCCESS, "%s", g_detail);
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) {
        int dot = 0;
        for (int k = 0; k < K; k++) dot += (int)ya[i * K + k] * (int)yb[j * K + k];
        cr_assert_eq(C[i * N + j], (float)dot, "%s C[%d][%d] = %g, exact %d", mxbt_format_name(fs[f]), i, j, C[i * N + j], dot);
      }
    mxbt_operand_free(&A);
    mxbt_operand_free(&B);
  }
}

Test(gemm_cpu, beta_zero_ignores_nan_in_c_and_padding_is_untouched) {
  fixture fx;
  fixture_make(&fx, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 7, 9, 40, 11);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.ldc = 13;
  d.alpha = 2.0f;
  float C[7 * 13], R[7 * 13];
  for (int i = 0; i < 7 * 13; i++) C[i] = R[i] = nanf("");
  for (int i = 0; i < 7; i++)
    for (int j = 9; j < 13; j++) C[i * 13 + j] = R[i * 13 + j] = -123.0f; /* padding sentinel */
  cr_assert_eq(run_gemm(&d, &fx.A.h, &fx.B.h, C), MXB_SUCCESS, "%s", g_detail);
  spec_gemm(&d, &fx.A.h, &fx.B.h, R);
  for (int i = 0; i < 7; i++)
    for (int j = 0; j < 13; j++) {
      if (j < 9) cr_assert(!isnan(C[i * 13 + j]), "C[%d][%d] is NaN: C was read with beta = 0", i, j);
      else cr_assert_eq(C[i * 13 + j], -123.0f, "padding C[%d][%d] was written", i, j);
      cr_assert_eq(mxbt_f2u(C[i * 13 + j]), mxbt_f2u(R[i * 13 + j]));
    }
  check_oracle(&d, &fx.A.h, &fx.B.h, C, NULL);
  fixture_free(&fx);
}

Test(gemm_cpu, beta_nonzero_fp32_and_bf16) {
  fixture fx;
  fixture_make(&fx, MXB_FORMAT_BF16, MXB_FORMAT_MXFP8_E4M3, 11, 10, 70, 21);
  const float betas[] = {1.0f, -0.5f, 3.0f};
  for (int bt = 0; bt < 2; bt++)
    for (size_t bi = 0; bi < 3; bi++) {
      mxb_gemm_desc_t d;
      mxb_gemm_desc_init(&d);
      d.c_type = bt ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32;
      d.alpha = 0.5f;
      d.beta = betas[bi];
      d.ldc = 12;
      size_t es = bt ? 2 : 4, n = 11 * 12;
      unsigned char *C = malloc(n * es), *R = malloc(n * es), *Cin = malloc(n * es);
      uint64_t s = 5;
      for (size_t i = 0; i < n; i++) {
        float v = 4.0f * mxbt_uniform(&s);
        if (bt) ((uint16_t *)Cin)[i] = bf16_rne(v);
        else ((float *)Cin)[i] = v;
      }
      memcpy(C, Cin, n * es);
      memcpy(R, Cin, n * es);
      cr_assert_eq(run_gemm(&d, &fx.A.h, &fx.B.h, C), MXB_SUCCESS, "%s", g_detail);
      spec_gemm(&d, &fx.A.h, &fx.B.h, R);
      cr_assert_eq(memcmp(C, R, n * es), 0, "beta %g %s: differs from the definition", d.beta, bt ? "bf16" : "fp32");
      check_oracle(&d, &fx.A.h, &fx.B.h, C, Cin);
      /* beta != 0 really reads C: a different C_in changes the result. */
      for (size_t i = 0; i < n * es; i++) C[i] = 0;
      cr_assert_eq(run_gemm(&d, &fx.A.h, &fx.B.h, C), MXB_SUCCESS);
      cr_assert_neq(memcmp(C, R, n * es), 0);
      free(C);
      free(R);
      free(Cin);
    }
  fixture_free(&fx);
}

Test(gemm_cpu, nan_block_poisons_its_row_only) {
  const mxb_format_t fs[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MX6, MXB_FORMAT_FP8_E4M3_1x128,
                             MXB_FORMAT_BF16};
  enum { M = 6, N = 5, K = 64 };
  for (size_t f = 0; f < sizeof(fs) / sizeof(fs[0]); f++) {
    float *xa = make_input(M, K, 31), *xb = make_input(N, K, 32);
    xa[3 * K + 37] = nanf("");
    mxbt_operand A, B;
    mxbt_operand_make(&A, fs[f], MXB_SCALE_LAYOUT_LINEAR, M, K, xa);
    mxbt_operand_make(&B, fs[f], MXB_SCALE_LAYOUT_LINEAR, N, K, xb);
    mxb_gemm_desc_t d;
    mxb_gemm_desc_init(&d);
    float C[M * N];
    cr_assert_eq(run_gemm(&d, &A.h, &B.h, C), MXB_SUCCESS);
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++) {
        if (i == 3) cr_assert_eq(mxbt_f2u(C[i * N + j]), 0x7FC00000u, "%s C[3][%d] = %a, not the quiet NaN",
                                 mxbt_format_name(fs[f]), j, C[i * N + j]);
        else cr_assert(isfinite(C[i * N + j]), "%s C[%d][%d] not finite", mxbt_format_name(fs[f]), i, j);
      }
    d.c_type = MXB_DTYPE_BF16;
    uint16_t H[M * N];
    cr_assert_eq(run_gemm(&d, &A.h, &B.h, H), MXB_SUCCESS);
    for (int j = 0; j < N; j++) cr_assert_eq(H[3 * N + j], 0x7FC0);
    mxbt_operand_free(&A);
    mxbt_operand_free(&B);
    free(xa);
    free(xb);
  }
}

Test(gemm_cpu, deterministic_and_modes_agree) {
  fixture fx;
  fixture_make(&fx, MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP8_E5M2, 33, 65, 96, 41);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  float *C1 = malloc(4 * 33 * 65), *C2 = malloc(4 * 33 * 65), *C3 = malloc(4 * 33 * 65);
  cr_assert_eq(run_gemm(&d, &fx.A.h, &fx.B.h, C1), MXB_SUCCESS);
  cr_assert_eq(run_gemm(&d, &fx.A.h, &fx.B.h, C2), MXB_SUCCESS);
  d.mode = MXB_GEMM_FAST; /* the CPU's fastest path is the exact one */
  cr_assert_eq(run_gemm(&d, &fx.A.h, &fx.B.h, C3), MXB_SUCCESS);
  cr_assert_eq(memcmp(C1, C2, 4 * 33 * 65), 0);
  cr_assert_eq(memcmp(C1, C3, 4 * 33 * 65), 0);
  free(C1);
  free(C2);
  free(C3);
  fixture_free(&fx);
}

/* The swizzled scale layout changes storage only, never a result bit. */
Test(gemm_cpu, swizzled_scales_give_the_same_bits) {
  const mxb_format_t fs[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4};
  enum { M = 130, N = 9, K = 96 };
  float *xa = make_input(M, K, 71), *xb = make_input(N, K, 72);
  for (size_t f = 0; f < sizeof(fs) / sizeof(fs[0]); f++) {
    mxbt_operand A, As, B, Bs;
    mxbt_operand_make(&A, fs[f], MXB_SCALE_LAYOUT_LINEAR, M, K, xa);
    mxbt_operand_make(&B, fs[f], MXB_SCALE_LAYOUT_LINEAR, N, K, xb);
    mxbt_operand_make(&As, fs[f], MXB_SCALE_LAYOUT_SWIZZLED, M, K, xa);
    mxbt_operand_make(&Bs, fs[f], MXB_SCALE_LAYOUT_SWIZZLED, N, K, xb);
    mxb_gemm_desc_t d;
    mxb_gemm_desc_init(&d);
    float *C = malloc(4 * M * N), *Cs = malloc(4 * M * N);
    cr_assert_eq(run_gemm(&d, &A.h, &B.h, C), MXB_SUCCESS);
    cr_assert_eq(run_gemm(&d, &As.h, &Bs.h, Cs), MXB_SUCCESS, "%s", g_detail);
    cr_assert_eq(memcmp(C, Cs, 4 * M * N), 0, "%s: swizzled scales change the result", mxbt_format_name(fs[f]));
    free(C);
    free(Cs);
    mxbt_operand_free(&A);
    mxbt_operand_free(&As);
    mxbt_operand_free(&B);
    mxbt_operand_free(&Bs);
  }
  free(xa);
  free(xb);
}

/* Single row / column / K shorter than one block. */
Test(gemm_cpu, tiny_shapes) {
  const int64_t shapes[][3] = {{1, 1, 1}, {1, 5, 3}, {4, 1, 17}, {2, 3, 33}, {5, 4, 129}};
  for (size_t s = 0; s < 5; s++) {
    fixture fx;
    fixture_make(&fx, MXB_FORMAT_NVFP4, MXB_FORMAT_BF16, shapes[s][0], shapes[s][1], shapes[s][2], 50 + s);
    mxb_gemm_desc_t d;
    mxb_gemm_desc_init(&d);
    float C[20], R[20];
    cr_assert_eq(run_gemm(&d, &fx.A.h, &fx.B.h, C), MXB_SUCCESS, "%s", g_detail);
    spec_gemm(&d, &fx.A.h, &fx.B.h, R);
    cr_assert_eq(memcmp(C, R, 4 * (size_t)(shapes[s][0] * shapes[s][1])), 0);
    fixture_free(&fx);
  }
}

/* ------------------------------------------------------------ pair matrix */
/* The rule of docs/GEMM.md, restated from the format names. */
static int family(mxb_format_t f) {
  switch (f) {
    case MXB_FORMAT_FP32: case MXB_FORMAT_BF16: return 0;
    case MXB_FORMAT_NVFP4: return 1;
    case MXB_FORMAT_MXFP8_E4M3: case MXB_FORMAT_MXFP8_E5M2: case MXB_FORMAT_MXFP6_E3M2:
    case MXB_FORMAT_MXFP6_E2M3: case MXB_FORMAT_MXFP4: case MXB_FORMAT_MXINT8: return 2;
    case MXB_FORMAT_MX9: case MXB_FORMAT_MX6: case MXB_FORMAT_MX4: return 3;
    case MXB_FORMAT_FP8_E4M3_TENSOR: case MXB_FORMAT_FP8_E5M2_TENSOR: return 4;
    case MXB_FORMAT_FP8_E4M3_1x128: case MXB_FORMAT_FP8_E5M2_1x128: case MXB_FORMAT_FP8_E4M3_128x128:
    case MXB_FORMAT_FP8_E5M2_128x128: case MXB_FORMAT_FP8_E4M3_1x128_UE8M0: case MXB_FORMAT_FP8_E5M2_1x128_UE8M0:
    case MXB_FORMAT_FP8_E4M3_128x128_UE8M0: case MXB_FORMAT_FP8_E5M2_128x128_UE8M0: return 5;
    case MXB_FORMAT_MOR_TENSOR: case MXB_FORMAT_MOR_128x128: case MXB_FORMAT_MOR_1x128: return 6;
    default: return -1; /* a format this list has not met yet: fails the matrix */
  }
}

Test(gemm_cpu, pair_matrix_and_unsupported_pairs) {
  float xa[2 * 128], xb[3 * 128];
  for (int i = 0; i < 2 * 128; i++) xa[i] = (float)(i % 9) - 4.0f;
  for (int i = 0; i < 3 * 128; i++) xb[i] = (float)(i % 5) - 2.0f;
  mxbt_operand ops[MXB_FORMAT_COUNT][2];
  for (int f = 0; f < MXB_FORMAT_COUNT; f++) {
    mxbt_operand_make(&ops[f][0], (mxb_format_t)f, MXB_SCALE_LAYOUT_LINEAR, 2, 128, xa);
    mxbt_operand_make(&ops[f][1], (mxb_format_t)f, MXB_SCALE_LAYOUT_LINEAR, 3, 128, xb);
  }
  int nsup = 0;
  for (int a = 0; a < MXB_FORMAT_COUNT; a++)
    for (int b = 0; b < MXB_FORMAT_COUNT; b++) {
      int expect = family(a) == family(b) || family(a) == 0 || family(b) == 0;
      for (int mode = 0; mode < 2; mode++) {
        int sup = -1;
        cr_assert_eq(mxb_gemm_pair_supported((mxb_format_t)a, (mxb_format_t)b, (mxb_gemm_mode_t)mode, &sup),
                     MXB_SUCCESS);
        cr_assert_eq(sup, expect, "%s x %s: supported = %d", mxbt_format_name(a), mxbt_format_name(b), sup);
      }
      nsup += expect;
      mxb_gemm_desc_t d;
      mxb_gemm_desc_init(&d);
      float C[6];
      for (int i = 0; i < 6; i++) C[i] = 42.0f;
      mxb_status_t st = run_gemm(&d, &ops[a][0].h, &ops[b][1].h, C);
      if (expect) {
        cr_assert_eq(st, MXB_SUCCESS, "%s x %s: %s", mxbt_format_name(a), mxbt_format_name(b), g_detail);
      } else {
        cr_assert_eq(st, MXB_ERR_UNSUPPORTED, "%s x %s", mxbt_format_name(a), mxbt_format_name(b));
        const char *msg = g_detail;
        char na[40], nb[40];
        snprintf(na, sizeof(na), "A = %s,", mxbt_format_name(a));
        snprintf(nb, sizeof(nb), "B = %s ", mxbt_format_name(b));
        cr_assert(strstr(msg, na) && strstr(msg, nb), "detail lacks the formats: %s", msg);
        for (int i = 0; i < 6; i++) cr_assert_eq(C[i], 42.0f, "C modified on failure");
      }
    }
  cr_assert_gt(nsup, 21);
  for (int f = 0; f < MXB_FORMAT_COUNT; f++) {
    mxbt_operand_free(&ops[f][0]);
    mxbt_operand_free(&ops[f][1]);
  }
}

/* -------------------------------------------------------------- bad input */
#define EXPECT_FAIL(call, status, ...)                                                                  \
  do {                                                                                                  \
    for (int i_ = 0; i_ < 48; i_++) C[i_] = 7.0f;                                                       \
    mxb_status_t st_ = (call);                                                                          \
    cr_assert_eq(st_, status, __VA_ARGS__);                                                             \
    cr_assert_neq(strlen(mxb_last_error_detail()), 0, "no detail message");                             \
    for (int i_ = 0; i_ < 48; i_++) cr_assert_eq(C[i_], 7.0f, "C modified on failure");                 \
  } while (0)

Test(gemm_cpu, bad_input) {
  fixture fx;
  fixture_make(&fx, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 4, 6, 64, 61);
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_gemm_desc_t d0, d;
  mxb_gemm_desc_init(&d0);
  size_t wsz = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d0, &fx.A.h, &fx.B.h, &wsz), MXB_SUCCESS);
  void *w = malloc(wsz);
  float C[48];
  const mxb_tensor_t *A = &fx.A.h, *B = &fx.B.h;

  EXPECT_FAIL(mxb_gemm(NULL, &d0, A, B, C, w, wsz, NULL), MXB_ERR_INVALID_ARGUMENT, "ctx NULL");
  EXPECT_FAIL(mxb_gemm(ctx, NULL, A, B, C, w, wsz, NULL), MXB_ERR_INVALID_ARGUMENT, "desc NULL");
  EXPECT_FAIL(mxb_gemm(ctx, &d0, NULL, B, C, w, wsz, NULL), MXB_ERR_INVALID_ARGUMENT, "A NULL");
  EXPECT_FAIL(mxb_gemm(ctx, &d0, A, NULL, C, w, wsz, NULL), MXB_ERR_INVALID_ARGUMENT, "B NULL");
  EXPECT_FAIL(mxb_gemm(ctx, &d0, A, B, NULL, w, wsz, NULL), MXB_ERR_INVALID_ARGUMENT, "C NULL");
  EXPECT_FAIL(mxb_gemm(ctx, &d0, A, B, C, NULL, 0, NULL), MXB_ERR_WORKSPACE_TOO_SMALL, "no workspace");
  EXPECT_FAIL(mxb_gemm(ctx, &d0, A, B, C, w, wsz - 1, NULL), MXB_ERR_WORKSPACE_TOO_SMALL, "short workspace");
  EXPECT_FAIL(mxb_gemm(ctx, &d0, A, B, (char *)C + 1, w, wsz, NULL), MXB_ERR_BAD_ALIGNMENT, "misaligned C");

  d = d0; d.struct_size = 8;
  EXPECT_FAIL(mxb_gemm(ctx, &d, A, B, C, w, wsz, NULL), MXB_ERR_INVALID_ARGUMENT, "struct_size");
  d = d0; d.mode = (mxb_gemm_mode_t)5;
  EXPECT_FAIL(mxb_gemm(ctx, &d, A, B, C, w, wsz, NULL), MXB_ERR_INVALID_ARGUMENT, "mode");
  d = d0; d.c_type = (mxb_dtype_t)9;
  EXPECT_FAIL(mxb_gemm(ctx, &d, A, B, C, w, wsz, NULL), MXB_ERR_INVALID_ARGUMENT, "c_type enum");
  d = d0; d.ldc = 5;
  EXPECT_FAIL(mxb_gemm(ctx, &d, A, B, C, w, wsz, NULL), MXB_ERR_BAD_SHAPE, "ldc < N");
  cr_assert(strstr(mxb_last_error_detail(), "ldc (5)"), "%s", mxb_last_error_detail());
  d = d0; d.ldc = -6;
  EXPECT_FAIL(mxb_gemm(ctx, &d, A, B, C, w, wsz, NULL), MXB_ERR_BAD_SHAPE, "negative ldc");
  d = d0; d.ldc = (int64_t)1 << 62;
  EXPECT_FAIL(mxb_gemm(ctx, &d, A, B, C, w, wsz, NULL), MXB_ERR_BAD_SHAPE, "huge ldc");

  /* Mismatched K. */
  fixture fk;
  fixture_make(&fk, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 4, 6, 48, 62);
  EXPECT_FAIL(mxb_gemm(ctx, &d0, A, &fk.B.h, C, w, wsz, NULL), MXB_ERR_BAD_SHAPE, "K mismatch");
  cr_assert(strstr(mxb_last_error_detail(), "A.cols (64) != B.cols (48)"), "%s", mxb_last_error_detail());
  fixture_free(&fk);

  /* Broken descriptors. */
  mxb_tensor_t t = *A;
  t.data = NULL;
  EXPECT_FAIL(mxb_gemm(ctx, &d0, &t, B, C, w, wsz, NULL), MXB_ERR_INVALID_ARGUMENT, "A.data NULL");
  t = *B;
  t.scales = NULL;
  EXPECT_FAIL(mxb_gemm(ctx, &d0, A, &t, C, w, wsz, NULL), MXB_ERR_INVALID_ARGUMENT, "B.scales NULL");
  t = *B;
  t.amax = NULL;
  EXPECT_FAIL(mxb_gemm(ctx, &d0, A, &t, C, w, wsz, NULL), MXB_ERR_INVALID_ARGUMENT, "B.amax NULL");
  t = *A;
  t.struct_size = 0;
  EXPECT_FAIL(mxb_gemm(ctx, &d0, &t, B, C, w, wsz, NULL), MXB_ERR_INVALID_ARGUMENT, "A.struct_size");
  t = *A;
  t.format = (mxb_format_t)99;
  EXPECT_FAIL(mxb_gemm(ctx, &d0, &t, B, C, w, wsz, NULL), MXB_ERR_INVALID_ARGUMENT, "A.format");
  t = *A;
  t.rows = 0;
  EXPECT_FAIL(mxb_gemm(ctx, &d0, &t, B, C, w, wsz, NULL), MXB_ERR_BAD_SHAPE, "M = 0");
  t = *A;
  t.flags |= MXB_TENSOR_RHT;
  EXPECT_FAIL(mxb_gemm(ctx, &d0, &t, B, C, w, wsz, NULL), MXB_ERR_INVALID_ARGUMENT, "RHT on A only");
  mxb_tensor_t t2 = *B;
  t2.flags |= MXB_TENSOR_RHT;
  cr_assert_eq(mxb_gemm(ctx, &d0, &t, &t2, C, w, wsz, NULL), MXB_SUCCESS, "RHT on both: %s",
               mxb_last_error_detail());

  /* The workspace query validates the same way. */
  size_t q = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d0, A, B, NULL), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_gemm_workspace_size(NULL, &d0, A, B, &q), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_gemm_workspace_size(ctx, NULL, A, B, &q), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d0, NULL, B, &q), MXB_ERR_INVALID_ARGUMENT);
  d = d0; d.ldc = 2;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, A, B, &q), MXB_ERR_BAD_SHAPE);
  cr_assert_eq(q, 0, "output written on failure");

  int sup = 5;
  cr_assert_eq(mxb_gemm_pair_supported(MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_GEMM_EXACT, NULL),
               MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_gemm_pair_supported(MXB_FORMAT_COUNT, MXB_FORMAT_NVFP4, MXB_GEMM_EXACT, &sup),
               MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_gemm_pair_supported(MXB_FORMAT_NVFP4, (mxb_format_t)-1, MXB_GEMM_EXACT, &sup),
               MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_gemm_pair_supported(MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, (mxb_gemm_mode_t)2, &sup),
               MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(sup, 5, "output written on failure");

  free(w);
  mxb_context_destroy(ctx);
  fixture_free(&fx);
}
