/* The Blackwell fast path: NVFP4 x NVFP4 and MXFP8 x MXFP8 with swizzled
 * scales through cuBLASLt's block-scaled modes. On a device of compute
 * capability 10.x: fast-mode results within the bound of docs/GEMM.md
 * against the exact CPU reference (normal, wide-range and cancelling inputs,
 * alpha/beta, ldc > N, bf16 C), NaN blocks, and the path each call takes.
 * On every GPU: which calls take that path and which keep the Hopper paths.
 * Without a GPU (CI) every test is skipped; on an H100/H200 the 10.x tests
 * are skipped: this path has not yet run on Blackwell hardware. */
#include <stdio.h>

#include "cpu/decode.h"
#include "gemm_operands.h"

#ifdef MXB_WITH_CUDA
static void device_cc(int *major, int *minor) {
  struct cudaDeviceProp p;
  cr_assert_eq(cudaGetDeviceProperties(&p, 0), cudaSuccess);
  *major = p.major;
  *minor = p.minor;
}

#define REQUIRE_CC10()                                                                   \
  do {                                                                                   \
    int maj_, min_;                                                                      \
    device_cc(&maj_, &min_);                                                             \
    if (maj_ != 10) cr_skip_test("needs compute capability 10.x (device 0 is %d.%d)", maj_, min_); \
  } while (0)

/* C element i of a host buffer as a double (fp32 or bf16 C). */
static double bs_c(const mxb_gemm_desc_t *d, const void *C, int64_t i) {
  if (d->c_type == MXB_DTYPE_BF16) return mxbt_u2f((uint32_t)((const uint16_t *)C)[i] << 16);
  return ((const float *)C)[i];
}

typedef struct {
  mxb_format_t fa, fb;
  mxb_scale_layout_t layout;
  int64_t M, N, K;
  int wide, cancel, nan_at; /* nan_at: put a NaN in A row 3 and an Inf in B row 7 */
} bs_case;

/* Runs one fast-mode GEMM on the GPU and the exact one on the CPU from the
 * same quantized operands; checks every element of C against
 *   |c - c_exact| <= |alpha t| g sum_k |a_k b_k| + 2 u_out (|c_exact| + |beta c_in|),
 * g = 128 * 2^-13 + (K + nb + 4) * 2^-23 (the tensor-core row of docs/GEMM.md
 * plus the reference's own rounding), that C's padding columns are
 * untouched, and returns the path that ran. */
static const char *bs_run(mxb_context_t *ctx, const bs_case *c, const mxb_gemm_desc_t *d) {
  const int kind = c->wide ? MXBT_IN_WIDE : c->cancel ? MXBT_IN_CANCEL : MXBT_IN_NORMAL;
  float *xa = mxbt_gemm_input(c->M, c->K, 31 + (uint64_t)c->K, kind, 0);
  float *xb = mxbt_gemm_input(c->N, c->K, 32 + (uint64_t)c->N, kind, 1);
  if (c->nan_at) {
    xa[3 * c->K + 17] = NAN;
    xb[7 * c->K + 100] = INFINITY;
  }
  mxbt_operand A, B;
  mxbt_operand_make(&A, c->fa, c->layout, c->M, c->K, xa);
  mxbt_operand_upload(&A);
  mxbt_operand_make(&B, c->fb, c->layout, c->N, c->K, xb);
  mxbt_operand_upload(&B);
  const int64_t ldc = d->ldc ? d->ldc : c->N;
  const size_t es = mxb_dtype_size(d->c_type), cb = (size_t)(c->M * ldc) * es;
  unsigned char *Cin = malloc(cb), *Cref = malloc(cb), *Cgpu = malloc(cb);
  uint64_t s = 5;
  for (int64_t i = 0; i < c->M * ldc; i++) { /* beta = 0: C is not read, so it may hold NaN */
    const float v = d->beta == 0.0f ? NAN : mxbt_normal(&s);
    if (es == 2) ((uint16_t *)Cin)[i] = (uint16_t)(mxbt_f2u(v) >> 16);
    else ((float *)Cin)[i] = v;
  }
  memcpy(Cref, Cin, cb);

  mxb_context_t *cpu;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &cpu), MXB_SUCCESS);
  mxb_gemm_desc_t dex = *d;
  dex.mode = MXB_GEMM_EXACT;
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_workspace_size(cpu, &dex, &A.h, &B.h, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = malloc(ws ? ws : 1);
  cr_assert_eq(mxb_gemm(cpu, &dex, &A.h, &B.h, Cref, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  free(w);
  mxb_context_destroy(cpu);

  void *dc = mxbt_dev_from_host(Cin, cb);
  cr_assert_eq(mxb_gemm_workspace_size(ctx, d, &A.d, &B.d, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *dw = ws ? mxbt_dev_alloc(ws) : NULL;
  if (dw) mxbt_dev_poison(dw, ws);
  cr_assert_eq(mxb_gemm(ctx, d, &A.d, &B.d, dc, dw, ws, NULL), MXB_SUCCESS, "%s x %s: %s", mxbt_format_name(c->fa),
               mxbt_format_name(c->fb), mxb_last_error_detail());
  const char *impl = mxb_context_last_impl(ctx);
  mxbt_dev_sync();
  mxbt_to_host(Cgpu, dc, cb);
  mxbt_dev_free(dw);
  mxbt_dev_free(dc);

  double *a = malloc((size_t)c->K * sizeof(double)), *b = malloc((size_t)(c->N * c->K) * sizeof(double));
  for (int64_t j = 0; j < c->N; j++) mxb_cpu_decode_row_f64(&B.h, j, b + j * c->K);
  const double at = fabs((double)d->alpha * mxb_cpu_tensor_scale(&A.h, 0) * mxb_cpu_tensor_scale(&B.h, 0));
  const int L = c->fa == MXB_FORMAT_NVFP4 ? 16 : 32;
  const double g = 128 * 0x1p-13 + ((double)c->K + (double)((c->K + L - 1) / L) + 4) * 0x1p-23;
  const double uo = es == 2 ? 0x1p-8 : 0x1p-24;
  double worst = 0;
  for (int64_t i = 0; i < c->M; i++) {
    mxb_cpu_decode_row_f64(&A.h, i, a);
    for (int64_t j = 0; j < c->N; j++) {
      const int64_t idx = i * ldc + j;
      const double ref = bs_c(d, Cref, idx), got = bs_c(d, Cgpu, idx);
      if (c->nan_at && (i == 3 || j == 7)) {
        cr_assert(isnan(got), "%s x %s (%s): C[%lld][%lld] = %g, want NaN (NaN block)", mxbt_format_name(c->fa),
                  mxbt_format_name(c->fb), impl, (long long)i, (long long)j, got);
        continue;
      }
      double S = 0;
      for (int64_t k = 0; k < c->K; k++) S += fabs(a[k] * b[j * c->K + k]);
      const double cin = d->beta != 0.0f ? bs_c(d, Cin, idx) : 0.0;
      const double bound = at * g * S + 2 * uo * (fabs(ref) + fabs((double)d->beta * cin)) + 0x1p-130;
      cr_assert(fabs(got - ref) <= bound, "%s x %s (%s) C[%lld][%lld] = %.9g, exact %.9g, |diff| %.3g > bound %.3g",
                mxbt_format_name(c->fa), mxbt_format_name(c->fb), impl, (long long)i, (long long)j, got, ref, fabs(got - ref), bound);
      if (bound > 0 && fabs(got - ref) / bound > worst) worst = fabs(got - ref) / bound;
    }
    for (int64_t j = c->N; j < ldc; j++)
      cr_assert(memcmp(Cgpu + (size_t)(i * ldc + j) * es, Cin + (size_t)(i * ldc + j) * es, es) == 0,
                "C padding [%lld][%lld] was written", (long long)i, (long long)j);
  }
  cr_log_info("%s x %s (%s) %lldx%lldx%lld: worst |diff| / bound = %.3g", mxbt_format_name(c->fa), mxbt_format_name(c->fb), impl,
              (long long)c->M, (long long)c->N, (long long)c->K, worst);
  free(a);
  free(b);
  free(Cin);
  free(Cref);
  free(Cgpu);
  mxbt_operand_free(&A);
  mxbt_operand_free(&B);
  free(xa);
  free(xb);
  return impl;
}

static mxb_gemm_desc_t bs_desc(mxb_dtype_t ct, float alpha, float beta, int64_t ldc) {
  return mxbt_gemm_desc(MXB_GEMM_FAST, ct, alpha, beta, ldc);
}

static mxb_context_t *bs_gpu(void) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx), MXB_SUCCESS, "%s", mxb_last_error_detail());
  return ctx;
}

static const char *bs_expected(mxb_format_t fa) {
  return fa == MXB_FORMAT_NVFP4 ? "cuda-fast-cublaslt-nvfp4-sm100" : "cuda-fast-cublaslt-mxfp8-sm100";
}
#endif

Test(cuda_gemm_sm100, blockscaled_within_fast_bound) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  REQUIRE_CC10();
  static const mxb_format_t pairs[][2] = {
    {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4}, {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3},
    {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E5M2}, {MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP8_E4M3},
  };
  static const int64_t shapes[][3] = {{256, 384, 1024}, {130, 200, 512}, {1, 64, 256}};
  mxb_context_t *ctx = bs_gpu();
  for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++)
    for (int s = 0; s < 3; s++)
      for (int kind = 0; kind < 3; kind++) {
        const bs_case c = {pairs[p][0], pairs[p][1], MXB_SCALE_LAYOUT_SWIZZLED, shapes[s][0], shapes[s][1],
                           shapes[s][2], kind == 1, kind == 2, 0};
        /* kind 0: beta = 0 over a NaN C; 1: beta != 0; 2: ldc > N (rows still
         * 16-byte aligned, as cuBLASLt wants), bf16 C */
        const mxb_gemm_desc_t d = bs_desc(kind == 2 ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32, kind == 1 ? -0.75f : 1.25f,
                                          kind == 1 ? 0.5f : 0.0f, kind == 2 ? shapes[s][1] + 16 : 0);
        const char *impl = bs_run(ctx, &c, &d);
        cr_expect_str_eq(impl, bs_expected(c.fa), "%s x %s ran %s", mxbt_format_name(c.fa), mxbt_format_name(c.fb), impl);
      }
  mxb_context_destroy(ctx);
#endif
}

/* NUMERICS 2.3: a NaN block (UE4M3 0x7F, E8M0 0xFF) makes every output that
 * uses it NaN, on this path too. */
Test(cuda_gemm_sm100, blockscaled_nan_blocks) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  REQUIRE_CC10();
  mxb_context_t *ctx = bs_gpu();
  const mxb_format_t fs[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3};
  for (int f = 0; f < 2; f++) {
    const bs_case c = {fs[f], fs[f], MXB_SCALE_LAYOUT_SWIZZLED, 40, 48, 256, 0, 0, 1};
    const mxb_gemm_desc_t d = bs_desc(MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
    const char *impl = bs_run(ctx, &c, &d);
    cr_expect_str_eq(impl, bs_expected(c.fa), "%s ran %s", mxbt_format_name(c.fa), impl);
  }
  mxb_context_destroy(ctx);
#endif
}

/* On every GPU: the block-scaled path is taken exactly when the device is
 * 10.x, both scale layouts are swizzled and K is a whole number of 128x4
 * scale tiles; otherwise the Hopper paths serve the call (so nothing of this
 * path runs on an H100/H200), and either way C stays within the bound. */
Test(cuda_gemm_sm100, dispatch_keeps_hopper_paths_elsewhere) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  int maj, min;
  device_cc(&maj, &min);
  static const bs_case cases[] = {
    {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_SWIZZLED, 64, 96, 256, 0, 0, 0},
    {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, 64, 96, 256, 0, 0, 0},
    {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_SWIZZLED, 64, 96, 208, 0, 0, 0}, /* K % 64 != 0 */
    {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_SWIZZLED, 64, 96, 256, 0, 0, 0},
    {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_SWIZZLED, 64, 96, 320, 0, 0, 0}, /* K % 128 */
    {MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP8_E5M2, MXB_SCALE_LAYOUT_SWIZZLED, 64, 96, 256, 0, 0, 0},
    {MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP4, MXB_SCALE_LAYOUT_SWIZZLED, 64, 96, 256, 0, 0, 0},
  };
  mxb_context_t *ctx = bs_gpu();
  const mxb_gemm_desc_t d = bs_desc(MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    const bs_case *c = &cases[i];
    const int tile_k = c->fa == MXB_FORMAT_NVFP4 ? 64 : 128;
    const int takes = maj == 10 && c->layout == MXB_SCALE_LAYOUT_SWIZZLED && c->K % tile_k == 0 &&
                      c->fa != MXB_FORMAT_MXFP4 && !(c->fa == MXB_FORMAT_MXFP8_E5M2 && c->fb == MXB_FORMAT_MXFP8_E5M2);
    /* On 9.0, MXFP8 pairs with M or N <= 128 take the sm_90a MX kernel. */
    const int mx8 = (c->fa == MXB_FORMAT_MXFP8_E4M3 || c->fa == MXB_FORMAT_MXFP8_E5M2) &&
                    (c->fb == MXB_FORMAT_MXFP8_E4M3 || c->fb == MXB_FORMAT_MXFP8_E5M2);
    const int sm90 = maj == 9 && min == 0 && mx8 && (c->M <= 128 || c->N <= 128) && c->K % 16 == 0;
    /* 4-bit pairs with K in whole 128-K stages take the sm_90a 4-bit kernel. */
    const int w4 = maj == 9 && min == 0 && (c->fb == MXB_FORMAT_NVFP4 || c->fb == MXB_FORMAT_MXFP4) && c->K % 128 == 0;
    const char *impl = bs_run(ctx, c, &d);
    cr_expect_str_eq(impl, takes ? bs_expected(c->fa) : sm90 ? "cuda-fast-sm90-mx-fp8-wgmma" : w4 ? "cuda-fast-sm90-w4-bf16-wgmma" : "cuda-fast-dequant-cublaslt-bf16",
                     "case %zu (%s, K %lld) on a %d.%d device ran %s", i, mxbt_format_name(c->fa), (long long)c->K, maj, min,
                     impl);
  }
  mxb_context_destroy(ctx);
#endif
}
