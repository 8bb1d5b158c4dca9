/* CUDA GEMM on the GPU (skipped without one): exact mode byte-identical with
 * the CPU reference (integer tensor-core path for NVFP4 / MXFP4, the generic
 * path for every other pair), fast mode within the bound of docs/GEMM.md on
 * random and adversarial inputs, alpha/beta/ldc/bf16 rules, the epilogue
 * (bias, activations, fp16 C), workspace errors, CUDA graph capture. */
#include <float.h>
#include <stdio.h>

#include "common/format_table.h"
#include "common/gemm_epilogue.h"
#include "cpu/decode.h"
#include "gemm_operands.h"

#ifdef MXB_WITH_CUDA
/* ------------------------------------------------------------ operands */
static size_t c_bytes(const mxb_gemm_desc_t *d, int64_t M, int64_t N) {
  int64_t ldc = d->ldc ? d->ldc : N;
  return (size_t)(M * ldc) * mxb_dtype_size(d->c_type);
}

/* Host C (CPU reference) in place. */
static void cpu_gemm(const mxb_gemm_desc_t *d, const mxbt_operand *A, const mxbt_operand *B, void *C) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, d, &A->h, &B->h, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = malloc(ws ? ws : 1);
  cr_assert_eq(mxb_gemm(ctx, d, &A->h, &B->h, C, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  free(w);
  mxb_context_destroy(ctx);
}

/* The workspace's first word after gpu_gemm's last call (0xA5A5A5A5, the
 * poison, where the call left it alone; 0 with no workspace). cudaMalloc's
 * 256-byte alignment puts the library's first workspace region there. */
static uint32_t g_ws_head;

/* Host C in, host C out, through the GPU; returns the path that ran. */
static const char *gpu_gemm(mxb_context_t *ctx, const mxb_gemm_desc_t *d, const mxbt_operand *A, const mxbt_operand *B, void *C) {
  size_t cb = c_bytes(d, A->h.rows, B->h.rows), ws = 0;
  void *dc = mxbt_dev_from_host(C, cb);
  cr_assert_eq(mxb_gemm_workspace_size(ctx, d, &A->d, &B->d, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = ws ? mxbt_dev_alloc(ws) : NULL;
  if (w) mxbt_dev_poison(w, ws);
  cr_assert_eq(mxb_gemm(ctx, d, &A->d, &B->d, dc, w, ws, NULL), MXB_SUCCESS, "%s x %s: %s", mxbt_format_name(A->h.format),
               mxbt_format_name(B->h.format), mxb_last_error_detail());
  mxbt_dev_sync();
  mxbt_to_host(C, dc, cb);
  g_ws_head = 0;
  if (ws >= 4) mxbt_to_host(&g_ws_head, w, 4);
  mxbt_dev_free(w);
  mxbt_dev_free(dc);
  return mxb_context_last_impl(ctx);
}

static mxb_context_t *gpu_ctx(void) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx), MXB_SUCCESS, "%s", mxb_last_error_detail());
  return ctx;
}

/* C before the call: random values (NaN everywhere when nan_fill). */
static void fill_c(const mxb_gemm_desc_t *d, void *C, int64_t M, int64_t N, uint64_t seed, int nan_fill) {
  int64_t ldc = d->ldc ? d->ldc : N;
  uint64_t s = seed;
  for (int64_t i = 0; i < M * ldc; i++) {
    float v = nan_fill ? NAN : mxbt_normal(&s);
    if (d->c_type == MXB_DTYPE_BF16) ((uint16_t *)C)[i] = (uint16_t)(mxbt_f2u(v) >> 16);
    else if (d->c_type == MXB_DTYPE_FP16) {
      _Float16 h = (_Float16)v;
      memcpy((uint16_t *)C + i, &h, 2);
    } else ((float *)C)[i] = v;
  }
}

/* A [M, K] of format fa and B [N, K] of format fb from the host values xa
 * and xb, linear scales, made and uploaded. */
static void upload_pair(mxbt_operand *A, mxbt_operand *B, mxb_format_t fa, mxb_format_t fb, int64_t M, int64_t N,
                        int64_t K, const float *xa, const float *xb) {
  mxbt_operand_make(A, fa, MXB_SCALE_LAYOUT_LINEAR, M, K, xa);
  mxbt_operand_upload(A);
  mxbt_operand_make(B, fb, MXB_SCALE_LAYOUT_LINEAR, N, K, xb);
  mxbt_operand_upload(B);
}
/* What upload_pair made, and its host values. */
static void free_pair(mxbt_operand *A, mxbt_operand *B, float *xa, float *xb) {
  mxbt_operand_free(A);
  mxbt_operand_free(B);
  free(xa);
  free(xb);
}

/* Flags or-ed into NVFP4 operands' own after quantization (the E4M3 bound
 * 256 test; 0 elsewhere), on both backends' copies. */
static uint32_t g_nvfp4_flags_a, g_nvfp4_flags_b;
static void add_flags(mxbt_operand *A, mxbt_operand *B) {
  if (A->h.format == MXB_FORMAT_NVFP4) A->h.flags |= g_nvfp4_flags_a;
  if (B->h.format == MXB_FORMAT_NVFP4) B->h.flags |= g_nvfp4_flags_b;
}

/* Exact mode: the GPU's C bytes equal the CPU's for A [M, K] and B [N, K]
 * made from xa and xb (taken: freed here) with scale layouts la and lb.
 * amax_a: an NVFP4 amax to give A in place of its own (NaN: none). */
static void check_exact_values(mxb_context_t *ctx, mxb_format_t fa, mxb_format_t fb, int64_t M, int64_t N, int64_t K,
                               const mxb_gemm_desc_t *d, float *xa, float *xb, mxb_scale_layout_t la,
                               mxb_scale_layout_t lb, int nan_fill, const char *want_impl, float amax_a) {
  mxbt_operand A, B;
  mxbt_operand_make(&A, fa, la, M, K, xa);
  if (!isnan(amax_a)) A.amax = amax_a;
  mxbt_operand_make(&B, fb, lb, N, K, xb);
  add_flags(&A, &B);
  mxbt_operand_upload(&A);
  mxbt_operand_upload(&B);
  size_t cb = c_bytes(d, M, N);
  unsigned char *Cc = malloc(cb), *Cg = malloc(cb);
  fill_c(d, Cc, M, N, 99, nan_fill);
  memcpy(Cg, Cc, cb);
  cpu_gemm(d, &A, &B, Cc);
  const char *impl = gpu_gemm(ctx, d, &A, &B, Cg);
  if (want_impl) cr_expect_str_eq(impl, want_impl, "%s x %s ran %s", mxbt_format_name(fa), mxbt_format_name(fb), impl);
  size_t es = mxb_dtype_size(d->c_type);
  for (size_t i = 0; i < cb; i += es)
    cr_assert(memcmp(Cc + i, Cg + i, es) == 0, "%s x %s [%lldx%lldx%lld] (%s): C element %zu differs: cpu %08x gpu %08x",
              mxbt_format_name(fa), mxbt_format_name(fb), (long long)M, (long long)N, (long long)K, impl, i / es,
              es == 4 ? *(uint32_t *)(Cc + i) : *(uint16_t *)(Cc + i), es == 4 ? *(uint32_t *)(Cg + i) : *(uint16_t *)(Cg + i));
  free(Cc);
  free(Cg);
  free_pair(&A, &B, xa, xb);
}
static void check_exact_amax(mxb_context_t *ctx, mxb_format_t fa, mxb_format_t fb, int64_t M, int64_t N, int64_t K,
                             const mxb_gemm_desc_t *d, int kind, int nan_fill, const char *want_impl, float amax_a) {
  float *xa = mxbt_gemm_input(M, K, 11 + (uint64_t)M, kind, 0), *xb = mxbt_gemm_input(N, K, 12 + (uint64_t)N, kind, 1);
  check_exact_values(ctx, fa, fb, M, N, K, d, xa, xb, MXB_SCALE_LAYOUT_LINEAR, MXB_SCALE_LAYOUT_LINEAR, nan_fill,
                     want_impl, amax_a);
}
static void check_exact(mxb_context_t *ctx, mxb_format_t fa, mxb_format_t fb, int64_t M, int64_t N, int64_t K,
                        const mxb_gemm_desc_t *d, int kind, int nan_fill, const char *want_impl) {
  check_exact_amax(ctx, fa, fb, M, N, K, d, kind, nan_fill, want_impl, NAN);
}

static int is_sm90(void) {
  int dev = 0;
  struct cudaDeviceProp p;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess) return 0;
  return p.major == 9 && p.minor == 0;
}
/* The exact path of a 4-bit pair (NVFP4 x NVFP4, MXFP4 x MXFP4): with K in
 * whole 128-column stages on compute capability 9.0 the wgmma kernel's, else
 * the integer mma.sync kernel's. */
#define EXACT_SM90_PATH "cuda-exact-sm90-fp4-wgmma"
static const char *exact_fp4_path(int64_t K) {
  return K % 128 == 0 && is_sm90() ? EXACT_SM90_PATH : "cuda-exact-int8-mma";
}

#endif

/* ------------------------------------------------------------ exact mode */
Test(cuda_gemm, exact_fp4_integer_path_is_byte_identical) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  const mxb_format_t fs[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP4};
  const int64_t shapes[][3] = {{128, 128, 256}, {77, 45, 208}, {1, 300, 64}, {257, 131, 1000}, {16, 16, 16}};
  for (int f = 0; f < 2; f++)
    for (int s = 0; s < 5; s++)
      for (int kind = 0; kind < 3; kind++)
        check_exact(ctx, fs[f], fs[f], shapes[s][0], shapes[s][1], shapes[s][2], &d, kind, 0,
                    exact_fp4_path(shapes[s][2]));
  mxb_context_destroy(ctx);
#endif
}

/* NVFP4 x NVFP4 and MXFP4 x MXFP4 on the sm_90a kernel (BF16 wgmma on the
 * codes, one FFMA a K-block): A-tiles of 64 and 128 rows, several tiles in
 * M and N with tails, both scale layouts, alpha/beta/ldc/bf16 C, normal,
 * wide-range, cancelling and tiny inputs (tiny MXFP4 scales leave the
 * kernel's range: the call is recomputed on the generic path); and blocks
 * built so that their sums need every bit the kernel's argument allows:
 * codes +-6 and +-0.5 (products 36, 3 and 1/4) under scales of four
 * significant bits (NVFP4, the tensor amax pinned at 6 * 448 so the host
 * values are exactly code x scale) or powers of two up to 2^+-58 (MXFP4). */
#ifdef MXB_WITH_CUDA
static float *full_span_input(mxb_format_t f, int64_t rows, int64_t K, int side) {
  static const float nv[] = {448.0f, 1.875f, 0.1171875f, 15.0f, 240.0f, 1.625f, 9.0f, 416.0f, 0.013671875f, 0.9375f};
  static const int mx[] = {0, -3, 5, 20, -20, 40, -40, 58, -58, 1};
  const int bl = f == MXB_FORMAT_NVFP4 ? 16 : 32;
  float *x = malloc((size_t)(rows * K) * sizeof(float));
  uint64_t h = 0x9E3779B97F4A7C15ull * (uint64_t)(side + 1);
  for (int64_t i = 0; i < rows; i++)
    for (int64_t k = 0; k < K; k++) {
      h = h * 6364136223846793005ull + 1442695040888963407ull;
      const int j = (int)((i * 3 + k / bl + side) % 10);
      const float s = f == MXB_FORMAT_NVFP4 ? nv[j] : ldexpf(1.0f, side ? -mx[j] / 2 : mx[j]);
      const int big = side ? (k / 2) % 2 == 0 : k % 2 == 0;
      x[i * K + k] = (h >> 63 ? -1.0f : 1.0f) * (big ? 6.0f : 0.5f) * s;
    }
  return x;
}
#endif
Test(cuda_gemm, exact_sm90_fp4_is_byte_identical) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  if (!is_sm90()) cr_skip_test("the sm_90a exact kernel needs compute capability 9.0");
  mxb_context_t *ctx = gpu_ctx();
  static const int64_t shapes[][3] = {{128, 128, 256}, {77, 45, 384}, {1, 300, 128},   {257, 131, 1024},
                                      {300, 520, 2048}, {20, 700, 256}, {64, 1000, 512}};
  for (int fi = 0; fi < 2; fi++) {
    const mxb_format_t f = fi ? MXB_FORMAT_MXFP4 : MXB_FORMAT_NVFP4;
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
      for (int kind = 0; kind < 4; kind++) {
        const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_EXACT, (s + kind) % 3 == 1 ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32,
                                           kind == 2 ? -0.75f : 1.25f, kind == 1 ? 0.5f : 0.0f, s == 1 ? N + 9 : 0);
        const mxb_scale_layout_t la = (s + kind) % 2 ? MXB_SCALE_LAYOUT_SWIZZLED : MXB_SCALE_LAYOUT_LINEAR;
        const mxb_scale_layout_t lb = (s + kind / 2) % 2 ? MXB_SCALE_LAYOUT_SWIZZLED : MXB_SCALE_LAYOUT_LINEAR;
        check_exact_values(ctx, f, f, M, N, K, &d, mxbt_gemm_input(M, K, 31 + (uint64_t)s, kind, 0),
                           mxbt_gemm_input(N, K, 41 + (uint64_t)s, kind, 1), la, lb, kind == 0, EXACT_SM90_PATH, NAN);
      }
    for (int s = 0; s < 3; s++) {
      const int64_t M = (int64_t[]){96, 130, 7}[s], N = (int64_t[]){160, 64, 257}[s], K = (int64_t[]){512, 4096, 128}[s];
      mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
      check_exact_values(ctx, f, f, M, N, K, &d, full_span_input(f, M, K, 0), full_span_input(f, N, K, 1),
                         MXB_SCALE_LAYOUT_LINEAR, MXB_SCALE_LAYOUT_LINEAR, 0, EXACT_SM90_PATH, NAN);
    }
  }
  mxb_context_destroy(ctx);
#endif
}

/* MXFP4 scales far from 1 (values near 2^-110) leave the range in which the
 * fp32 block products are proven exact (on either kernel): the call must
 * still be exact. */
Test(cuda_gemm, exact_fp4_extreme_scales_fall_back_exactly) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  for (int K = 208; K <= 256; K += 48) /* the integer kernel; the sm_90a one (K = 256 there) */
    for (int f = 0; f < 2; f++) {
      const mxb_format_t fm = f ? MXB_FORMAT_NVFP4 : MXB_FORMAT_MXFP4;
      check_exact(ctx, fm, fm, 70, 40, K, &d, MXBT_IN_TINY, 0, exact_fp4_path(K));
    }
  mxb_context_destroy(ctx);
#endif
}

/* NVFP4 tensor scales at the ends of fp32: operands near 2^124 (amax
 * beyond FLT_MAX / 448) times operands near 2^-125 (amax below 7.9e-36,
 * used as 7.9e-36), also with A's amax replaced by +Inf (used as FLT_MAX),
 * on the integer path and the generic one (B fp32). */
Test(cuda_gemm, exact_nvfp4_amax_at_the_ends_of_fp32) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  for (int inf = 0; inf < 2; inf++) {
    const float amax_a = inf ? INFINITY : NAN;
    check_exact_amax(ctx, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 70, 40, 256, &d, MXBT_IN_EDGE, 0, NULL, amax_a);
    check_exact_amax(ctx, MXB_FORMAT_NVFP4, MXB_FORMAT_FP32, 33, 20, 96, &d, MXBT_IN_EDGE, 0, NULL, amax_a);
  }
  mxb_context_destroy(ctx);
#endif
}

Test(cuda_gemm, exact_every_pair_is_byte_identical) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  static const mxb_format_t pairs[][2] = {
    {MXB_FORMAT_FP32, MXB_FORMAT_FP32}, {MXB_FORMAT_BF16, MXB_FORMAT_BF16},
    {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3}, {MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP8_E5M2},
    {MXB_FORMAT_MXFP6_E3M2, MXB_FORMAT_MXFP6_E2M3}, {MXB_FORMAT_MXINT8, MXB_FORMAT_MXINT8},
    {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4}, {MXB_FORMAT_MX9, MXB_FORMAT_MX9}, {MXB_FORMAT_MX6, MXB_FORMAT_MX4},
    {MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E5M2_TENSOR}, {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128},
    {MXB_FORMAT_FP8_E5M2_1x128, MXB_FORMAT_FP8_E4M3_1x128}, {MXB_FORMAT_MOR_1x128, MXB_FORMAT_MOR_128x128},
    {MXB_FORMAT_MOR_TENSOR, MXB_FORMAT_BF16}, {MXB_FORMAT_BF16, MXB_FORMAT_NVFP4}, {MXB_FORMAT_FP32, MXB_FORMAT_MXFP8_E5M2},
    {MXB_FORMAT_FP8_E4M3_1x128_UE8M0, MXB_FORMAT_FP8_E4M3_128x128_UE8M0},
    {MXB_FORMAT_FP8_E5M2_128x128_UE8M0, MXB_FORMAT_FP8_E4M3_1x128}, {MXB_FORMAT_BF16, MXB_FORMAT_FP8_E5M2_1x128_UE8M0},
  };
  mxb_context_t *ctx = gpu_ctx();
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 0.75f, 0.0f, 0);
  for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
    check_exact(ctx, pairs[p][0], pairs[p][1], 37, 133, 200, &d, MXBT_IN_NORMAL, 0, "cuda-exact-generic");
    check_exact(ctx, pairs[p][0], pairs[p][1], 19, 21, 300, &d, MXBT_IN_WIDE, 0, "cuda-exact-generic");
  }
  mxb_context_destroy(ctx);
#endif
}

/* alpha, beta (with beta = 0 ignoring NaN in C), ldc > N and bf16 output, on
 * the integer path and the generic path. */
Test(cuda_gemm, exact_epilogue_rules) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  const mxb_format_t fs[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3};
  for (int f = 0; f < 2; f++)
    for (int bf = 0; bf < 2; bf++) {
      mxb_dtype_t ct = bf ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32;
      mxb_gemm_desc_t d1 = mxbt_gemm_desc(MXB_GEMM_EXACT, ct, -0.75f, 1.5f, 0);
      mxb_gemm_desc_t d2 = mxbt_gemm_desc(MXB_GEMM_EXACT, ct, 2.0f, 0.0f, 141);
      mxb_gemm_desc_t d3 = mxbt_gemm_desc(MXB_GEMM_EXACT, ct, 0.5f, -1.0f, 150);
      check_exact(ctx, fs[f], fs[f], 50, 130, 160, &d1, MXBT_IN_NORMAL, 0, NULL);
      check_exact(ctx, fs[f], fs[f], 50, 130, 160, &d2, MXBT_IN_NORMAL, 1, NULL); /* beta = 0: NaN in C ignored */
      check_exact(ctx, fs[f], fs[f], 50, 130, 160, &d3, MXBT_IN_WIDE, 0, NULL);
    }
  mxb_context_destroy(ctx);
#endif
}

/* NaN blocks decode to NaN: the NaN outputs are the canonical quiet NaN on
 * both backends, every other element matches too. */
Test(cuda_gemm, exact_nan_blocks) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  /* The last two pairs run the dequantize path in fast mode (NaN scales
   * there take its per-element test). */
  const mxb_format_t fs[][2] = {{MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4}, {MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP4},
                                {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3}, {MXB_FORMAT_MXINT8, MXB_FORMAT_MXINT8},
                                {MXB_FORMAT_MXINT8, MXB_FORMAT_MXFP8_E5M2}};
  for (int f = 0; f < 5; f++)
    for (int mode = 0; mode < 2; mode++) {
      const int64_t M = 40, N = 48, K = 128;
      float *xa = mxbt_gemm_input(M, K, 5, MXBT_IN_NORMAL, 0), *xb = mxbt_gemm_input(N, K, 6, MXBT_IN_NORMAL, 0);
      xa[3 * K + 17] = NAN;
      xb[7 * K + 100] = INFINITY;
      mxbt_operand A, B;
      upload_pair(&A, &B, fs[f][0], fs[f][1], M, N, K, xa, xb);
      mxb_gemm_desc_t d = mxbt_gemm_desc(mode ? MXB_GEMM_FAST : MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
      float *Cc = calloc((size_t)(M * N), 4), *Cg = calloc((size_t)(M * N), 4);
      cpu_gemm(&d, &A, &B, Cc);
      const char *impl = gpu_gemm(ctx, &d, &A, &B, Cg);
      if (mode && f >= 3) cr_expect_str_eq(impl, "cuda-fast-dequant-cublaslt-bf16", "%s ran %s", mxbt_format_name(fs[f][0]), impl);
      for (int64_t i = 0; i < M * N; i++) {
        int nan_row = i / N == 3, nan_col = i % N == 7;
        cr_assert_eq(isnan(Cg[i]) != 0, nan_row || nan_col, "%s mode %d C[%lld] = %g", mxbt_format_name(fs[f][0]), mode, (long long)i, Cg[i]);
        if (mode == 0) cr_assert_eq(mxbt_f2u(Cc[i]), mxbt_f2u(Cg[i]), "%s C[%lld]", mxbt_format_name(fs[f][0]), (long long)i);
      }
      free(Cc);
      free(Cg);
      free_pair(&A, &B, xa, xb);
    }
  mxb_context_destroy(ctx);
#endif
}

/* ------------------------------------------------------------ fast mode */
#ifdef MXB_WITH_CUDA
/* The fast-mode bound of docs/GEMM.md:
 *   |c - c_ref| <= |alpha t| * g * sum_k |a_k b_k| + 2 u_out (|c_ref| + |beta c_in|) + tiny,
 * g = (K + nb + 4) * 2^-23 for BF16 products accumulated in fp32 in any
 * order (the reference's own rounding included), and for FP8 tensor-core
 * accumulation g = P * 2^-13 + (K + nb + 4) * 2^-23, with P the number of
 * products the tensor core sums before an fp32 promotion: 128 for cuBLASLt's
 * FP8 block scaling, 32 for the sm_90a MX kernel. */
#define MX_FP8_PATH "cuda-fast-sm90-mx-fp8-wgmma"
/* A's and B's scale planes in layouts la and lb. */
static void check_fast_layouts(mxb_context_t *ctx, mxb_format_t fa, mxb_format_t fb, int64_t M, int64_t N, int64_t K,
                               const mxb_gemm_desc_t *d, int kind, const char *want_impl, mxb_scale_layout_t la,
                               mxb_scale_layout_t lb) {
  float *xa = mxbt_gemm_input(M, K, 21 + (uint64_t)K, kind, 0), *xb = mxbt_gemm_input(N, K, 22 + (uint64_t)N, kind, 1);
  mxbt_operand A, B;
  mxbt_operand_make(&A, fa, la, M, K, xa);
  mxbt_operand_make(&B, fb, lb, N, K, xb);
  add_flags(&A, &B);
  mxbt_operand_upload(&A);
  mxbt_operand_upload(&B);
  size_t cb = c_bytes(d, M, N);
  int64_t ldc = d->ldc ? d->ldc : N;
  unsigned char *Cc = malloc(cb), *Cg = malloc(cb), *Cin = malloc(cb);
  fill_c(d, Cc, M, N, 7, d->beta == 0.0f); /* beta = 0: C is not read, NaN there must not matter */
  memcpy(Cg, Cc, cb);
  memcpy(Cin, Cc, cb);
  mxb_gemm_desc_t dex = *d;
  dex.mode = MXB_GEMM_EXACT;
  cpu_gemm(&dex, &A, &B, Cc);
  const char *impl = gpu_gemm(ctx, d, &A, &B, Cg);
  if (want_impl) cr_expect_str_eq(impl, want_impl, "%s x %s ran %s", mxbt_format_name(fa), mxbt_format_name(fb), impl);
  double *a = malloc((size_t)(M * K) * 8), *b = malloc((size_t)(N * K) * 8);
  for (int64_t r = 0; r < M; r++) mxb_cpu_decode_row_f64(&A.h, r, a + r * K);
  for (int64_t r = 0; r < N; r++) mxb_cpu_decode_row_f64(&B.h, r, b + r * K);
  double at = fabs((double)d->alpha * mxb_cpu_tensor_scale(&A.h, 0) * mxb_cpu_tensor_scale(&B.h, 0));
  double g = mxbt_fast_gamma(fa, fb, K, strcmp(impl, MX_FP8_PATH) == 0);
  int bf = d->c_type == MXB_DTYPE_BF16;
  double uo = bf ? 0x1p-8 : 0x1p-24;
  double worst = 0;
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double S = 0;
      for (int64_t k = 0; k < K; k++) S += fabs(a[i * K + k] * b[j * K + k]);
      int64_t idx = i * ldc + j;
      double ref = bf ? mxbt_u2f((uint32_t)((uint16_t *)Cc)[idx] << 16) : ((float *)Cc)[idx];
      double got = bf ? mxbt_u2f((uint32_t)((uint16_t *)Cg)[idx] << 16) : ((float *)Cg)[idx];
      double cin = d->beta != 0.0f ? (bf ? mxbt_u2f((uint32_t)((uint16_t *)Cin)[idx] << 16) : ((float *)Cin)[idx]) : 0.0;
      double bnd = at * g * S + 2 * uo * (fabs(ref) + fabs((double)d->beta * cin)) + 0x1p-130;
      cr_assert(fabs(got - ref) <= bnd, "%s x %s (%s) C[%lld][%lld] = %.9g, reference %.9g, |diff| %.3g > bound %.3g",
                mxbt_format_name(fa), mxbt_format_name(fb), impl, (long long)i, (long long)j, got, ref, fabs(got - ref), bnd);
      if (bnd > 0 && fabs(got - ref) / bnd > worst) worst = fabs(got - ref) / bnd;
    }
  /* Untouched padding between rows when ldc > N. */
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = N; j < ldc; j++) {
      size_t es = mxb_dtype_size(d->c_type), off = (size_t)(i * ldc + j) * es;
      cr_assert(memcmp(Cg + off, Cin + off, es) == 0, "C padding [%lld][%lld] was written", (long long)i, (long long)j);
    }
  cr_log_info("fast %s x %s (%s) %lldx%lldx%lld: worst |diff| / bound = %.3g", mxbt_format_name(fa), mxbt_format_name(fb), impl,
              (long long)M, (long long)N, (long long)K, worst);
  free(a);
  free(b);
  free(Cc);
  free(Cg);
  free(Cin);
  free_pair(&A, &B, xa, xb);
}
static void check_fast_layout(mxb_context_t *ctx, mxb_format_t fa, mxb_format_t fb, int64_t M, int64_t N, int64_t K,
                              const mxb_gemm_desc_t *d, int kind, const char *want_impl, mxb_scale_layout_t layout) {
  check_fast_layouts(ctx, fa, fb, M, N, K, d, kind, want_impl, layout, layout);
}

static void check_fast(mxb_context_t *ctx, mxb_format_t fa, mxb_format_t fb, int64_t M, int64_t N, int64_t K,
                       const mxb_gemm_desc_t *d, int kind, const char *want_impl) {
  check_fast_layout(ctx, fa, fb, M, N, K, d, kind, want_impl, MXB_SCALE_LAYOUT_LINEAR);
}

/* The sm_90a MX kernel runs on compute capability 9.0 only (elsewhere the
 * dequantize path serves these pairs). */
static const char *mx_fp8_path(void) {
  int dev = 0;
  struct cudaDeviceProp p;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess) return NULL;
  return p.major == 9 && p.minor == 0 ? MX_FP8_PATH : NULL;
}

/* Two fast-mode runs of A [M, K] (cancelling) x B [N, K] (wide range) give
 * the same bytes; want: the path that must run (NULL: any). */
static void check_twice_same(mxb_context_t *ctx, mxb_format_t fa, mxb_format_t fb, int64_t M, int64_t N, int64_t K,
                             uint64_t seed, const char *want) {
  float *xa = mxbt_gemm_input(M, K, seed, MXBT_IN_CANCEL, 0), *xb = mxbt_gemm_input(N, K, seed + 1, MXBT_IN_WIDE, 1);
  mxbt_operand A, B;
  upload_pair(&A, &B, fa, fb, M, N, K, xa, xb);
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  size_t cb = c_bytes(&d, M, N);
  unsigned char *c1 = calloc(1, cb), *c2 = calloc(1, cb);
  const char *i1 = gpu_gemm(ctx, &d, &A, &B, c1);
  if (want) cr_assert_str_eq(i1, want);
  const char *i2 = gpu_gemm(ctx, &d, &A, &B, c2);
  if (want) cr_assert_str_eq(i2, want);
  cr_assert_eq(memcmp(c1, c2, cb), 0, "%s x %s: two runs differ", mxbt_format_name(fa), mxbt_format_name(fb));
  free(c1);
  free(c2);
  free_pair(&A, &B, xa, xb);
}
#endif

/* MXFP8 x MXFP8 and MXFP4 x MXFP8 on FP8 tensor cores (the path serves
 * shapes with M or N at most 128): every element-type pair, W4A8 on either side, both scale layouts, several tiles in M
 * (N <= 128) and in N (M <= 128), tails in M, N and K (K = 208: a partial last K-block and a
 * partial 128-byte stage), alpha/beta/ldc/bf16, wide-range, cancelling and
 * skewed inputs (A near 2^66, B near 2^-80), and tiny values whose scale
 * products leave the fp32 range (the binary64 promotion). */
Test(cuda_gemm, fast_sm90_mx_fp8_within_bound) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  static const mxb_format_t pairs[][2] = {
    {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3}, {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E5M2},
    {MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP8_E4M3}, {MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP8_E5M2},
    {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4}, {MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP8_E5M2}}; /* W4A8, either side */
  /* Tiles of 128 x 128, 128 x 64 and 128 x 32 columns; M <= 32 runs with A
   * and B exchanged (C^T = B A^T, stored transposed). */
  static const int64_t shapes[][3] = {{128, 520, 512}, {77, 45, 208}, {1, 300, 64}, {300, 120, 1024},
                                      {100, 700, 2048}, {20, 700, 256}, {300, 24, 128},
                                      {16, 200, 4112}, {100, 250, 1040}};
  /* split-K: 2 ranges at 100x700, 4 uneven at 16x200; at 100x250 one row
   * tile, no K split and four 64-column tiles, the last partial */
  mxb_context_t *ctx = gpu_ctx();
  const char *want = mx_fp8_path();
  for (int p = 0; p < 6; p++)
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
      for (int kind = 0; kind < 3; kind++) {
        mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, s == 2 ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32, kind == 2 ? -0.75f : 1.0f,
                                    kind == 1 ? 0.5f : 0.0f, s == 3 ? 150 : 0);
        /* MXFP4 weights at M <= 16 with linear scales and K in whole
         * 64-column pieces are the decode kernel's; with K in whole
         * 128-column stages, the 4-bit kernel's. */
        const int w4b = pairs[p][1] == MXB_FORMAT_MXFP4, lin = !((s + p) % 2);
        const int decode = lin && w4b && shapes[s][0] <= 16 && shapes[s][2] % 64 == 0;
        const int w4 = !decode && w4b && shapes[s][2] % 128 == 0;
        check_fast_layout(ctx, pairs[p][0], pairs[p][1], shapes[s][0], shapes[s][1], shapes[s][2], &d, kind,
                          decode ? "cuda-fast-decode-m16" : w4 ? "cuda-fast-sm90-w4-bf16-wgmma" : want,
                          lin ? MXB_SCALE_LAYOUT_LINEAR : MXB_SCALE_LAYOUT_SWIZZLED);
      }
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  for (int i = 0; i < 3; i++) { /* W4A8 with K = 208: off the 4-bit kernel */
    const int p = (int[]){0, 3, 4}[i];
    check_fast(ctx, pairs[p][0], pairs[p][1], 100, 150, p == 4 ? 208 : 256, &d, MXBT_IN_SKEW, want);
    check_fast(ctx, pairs[p][0], pairs[p][1], 260, 90, p == 4 ? 208 : 256, &d, MXBT_IN_TINY, want);
  }
  mxb_context_destroy(ctx);
#endif
}

/* 4-bit B decoded to BF16 in the sm_90a kernel's mainloop (the registry's
 * choice for 4-bit weights at M = 17 .. 1024 on compute capability 9.0):
 * BF16, NVFP4 and MXFP4 activations, and MXFP8 (W4A8), MXINT8 and MXFP6 ones
 * decoded to BF16 first, both scale layouts, A-tiles of 32, 64
 * and 128 rows, several tiles in M and N with tails, split K (2 to 4
 * ranges), alpha/beta/ldc/bf16 C, wide-range and cancelling inputs, NVFP4
 * tensor scales, tiny MXFP4 scales (BF16 subnormals) and skewed ones (the
 * exact fallback), and the same bytes on a second run. (MXBT_IN_EDGE is
 * left out: NVFP4 amaxes near FLT_MAX / 448 make the reference's own fp32
 * sums overflow, as every fast path's do before the tensor scales.) */
#define W4_PATH "cuda-fast-sm90-w4-bf16-wgmma"
Test(cuda_gemm, fast_sm90_w4_within_bound) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  if (!mx_fp8_path()) cr_skip_test("the sm_90a 4-bit kernel needs compute capability 9.0");
  static const mxb_format_t pairs[][2] = {
    {MXB_FORMAT_BF16, MXB_FORMAT_NVFP4}, {MXB_FORMAT_BF16, MXB_FORMAT_MXFP4}, {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4},
    {MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP4}, {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4},
    {MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP4}, {MXB_FORMAT_MXINT8, MXB_FORMAT_MXFP4},
    {MXB_FORMAT_MXFP6_E2M3, MXB_FORMAT_MXFP4}};
  static const int64_t shapes[][3] = {{17, 130, 128}, {40, 300, 512}, {100, 260, 1024}, {200, 129, 256},
                                      {64, 1000, 2048}, {300, 520, 384}, {8, 77, 640}};
  const int npairs = (int)(sizeof pairs / sizeof pairs[0]);
  mxb_context_t *ctx = gpu_ctx();
  for (int p = 0; p < npairs; p++)
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++) {
      for (int kind = 0; kind < 3; kind++) {
        mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, s == 3 ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32,
                                           kind == 2 ? -0.75f : 1.25f, kind == 1 ? 0.5f : 0.0f, s == 1 ? 310 : 0);
        /* BF16 has no scales: swizzled scales of A with 4-bit A only; with
         * BF16 A at M <= 16, B's scales swizzled (linear ones are the decode
         * kernel's, as are 4-bit A's at M <= 16). */
        const int bf16 = pairs[p][0] == MXB_FORMAT_BF16, small = shapes[s][0] <= 16;
        const int swz = !bf16 && (s + p + kind) % 2, swz_b = bf16 ? small : swz;
        check_fast_layouts(ctx, pairs[p][0], pairs[p][1], shapes[s][0], shapes[s][1], shapes[s][2], &d, kind,
                           small && !swz_b ? "cuda-fast-decode-m16" : W4_PATH,
                           swz ? MXB_SCALE_LAYOUT_SWIZZLED : MXB_SCALE_LAYOUT_LINEAR,
                           swz_b ? MXB_SCALE_LAYOUT_SWIZZLED : MXB_SCALE_LAYOUT_LINEAR);
      }
    }
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  for (int p = 0; p < npairs; p++) {
    check_fast(ctx, pairs[p][0], pairs[p][1], 100, 150, 256, &d, MXBT_IN_TINY, W4_PATH);
    check_fast(ctx, pairs[p][0], pairs[p][1], 60, 90, 512, &d, MXBT_IN_SKEW, W4_PATH);
  }
  check_twice_same(ctx, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, 128, 700, 4096, 45, W4_PATH);
  mxb_gemm_desc_t d2 = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 2.0f, 0);
  check_fast(ctx, MXB_FORMAT_BF16, MXB_FORMAT_MXFP4, 50, 140, 256, &d2, MXBT_IN_SKEW, W4_PATH);
  check_twice_same(ctx, MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, 128, 700, 8192, 41, W4_PATH);
  check_twice_same(ctx, MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP4, 40, 300, 4096, 43, W4_PATH);
  mxb_context_destroy(ctx);
#endif
}

/* MXFP4 weights with a block scale of 2^126 or 2^127 (bytes 253, 254):
 * 4 x 2^126 and 2 x 2^127 overflow BF16, so the 4-bit kernel's own result
 * is infinite where the exact one is finite (A near 2^-40), and the call
 * must recompute C on the exact path: every byte equals the CPU's. Where C
 * is not read (beta 0) the kernel's scale decode finds the byte; otherwise a
 * scan before it does (C is saved first). The byte sits in the first row and
 * K-block, in a K-block past the first stage, in the last row (a partial
 * tile of B) at the last K-block; with K split into ranges (the reduce
 * kernel finishes C before the fallback), swizzled scales, and MXFP8
 * activations decoded first (W4A8). */
Test(cuda_gemm, fast_sm90_w4_wide_mxfp4_scales_fall_back_exactly) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  if (!mx_fp8_path()) cr_skip_test("the sm_90a 4-bit kernel needs compute capability 9.0");
  mxb_context_t *ctx = gpu_ctx();
  static const struct {
    mxb_format_t fa;
    int64_t M, N, K;
    int swizzled, place; /* place: 0 first row and block, 1 row 70 / block 9, 2 last row and block */
  } cases[] = {{MXB_FORMAT_BF16, 100, 150, 512, 0, 0},       {MXB_FORMAT_BF16, 100, 150, 512, 0, 1},
               {MXB_FORMAT_BF16, 100, 150, 512, 0, 2},       {MXB_FORMAT_BF16, 64, 150, 2048, 0, 1},
               {MXB_FORMAT_BF16, 100, 150, 512, 1, 2},       {MXB_FORMAT_MXFP8_E4M3, 100, 150, 512, 0, 1}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int beta = 0; beta < 2; beta++) {
      const int64_t M = cases[i].M, N = cases[i].N, K = cases[i].K, sc = K / 32;
      const int place = cases[i].place;
      float *xa = mxbt_gemm_input(M, K, 31 + (uint64_t)i, MXBT_IN_NORMAL, 0);
      float *xb = mxbt_gemm_input(N, K, 41 + (uint64_t)i, MXBT_IN_NORMAL, 0);
      for (int64_t k = 0; k < M * K; k++) xa[k] = ldexpf(xa[k], -40);
      mxbt_operand A, B;
      mxbt_operand_make(&A, cases[i].fa, MXB_SCALE_LAYOUT_LINEAR, M, K, xa);
      mxbt_operand_make(&B, MXB_FORMAT_MXFP4, cases[i].swizzled ? MXB_SCALE_LAYOUT_SWIZZLED : MXB_SCALE_LAYOUT_LINEAR,
                        N, K, xb);
      const int64_t row = place == 0 ? 0 : place == 1 ? 70 : N - 1, kb = place == 0 ? 0 : place == 1 ? 9 : sc - 1;
      ((uint8_t *)B.h.scales)[mxb_scale_index(row, kb, sc, cases[i].swizzled)] = place == 1 ? 253 : 254;
      mxbt_operand_upload(&A);
      mxbt_operand_upload(&B);
      mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, beta ? 0.5f : 0.0f, 0);
      size_t cb = c_bytes(&d, M, N);
      float *Cc = malloc(cb), *Cg = malloc(cb);
      fill_c(&d, Cc, M, N, 5, !beta);
      memcpy(Cg, Cc, cb);
      mxb_gemm_desc_t dex = d;
      dex.mode = MXB_GEMM_EXACT;
      cpu_gemm(&dex, &A, &B, Cc);
      cr_expect_str_eq(gpu_gemm(ctx, &d, &A, &B, Cg), W4_PATH);
      for (int64_t m = 0; m < M; m++) /* else the fast result could match by chance */
        cr_assert(isfinite(Cc[m * N + row]), "the reference's C[%lld][%lld] is not finite", (long long)m, (long long)row);
      cr_assert_eq(memcmp(Cg, Cc, cb), 0, "case %zu: scale byte %d at row %lld, block %lld, beta %d: not the CPU's bytes",
                   i, place == 1 ? 253 : 254, (long long)row, (long long)kb, beta);
      free(Cc);
      free(Cg);
      free_pair(&A, &B, xa, xb);
    }
  mxb_context_destroy(ctx);
#endif
}

/* More tiles than SMs, so CTAs of the persistent grid walk several tiles:
 * 128-column tiles (a large C, the path taken through MXB_CUDA_GEMM_PATH
 * where the registry would pick another) and 64-column tiles (M = 128, where
 * 128 columns would leave SMs idle). */
Test(cuda_gemm, fast_sm90_mx_fp8_persistent_tiles) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  const char *want = mx_fp8_path();
  if (!want) cr_skip_test("the sm_90a MX kernel needs compute capability 9.0");
  setenv("MXB_CUDA_GEMM_PATH", MX_FP8_PATH, 1);
  mxb_context_t *ctx = gpu_ctx();
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  check_fast(ctx, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 1100, 2000, 64, &d, MXBT_IN_NORMAL, want);
  check_fast(ctx, MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP8_E4M3, 128, 9000, 96, &d, MXBT_IN_WIDE, want);
  mxb_context_destroy(ctx);
#endif
}

/* FP8 E4M3 with fp32 1x128 / 128x128 block scales on the sm_90a kernel (the
 * registry's choice at decode shapes, forced here elsewhere): every pair of
 * block shapes, tails in M, N and K (K = 208, 4112: a partial last block),
 * A and B exchanged (M <= 32), split-K, several tiles, alpha/beta/bf16 C,
 * wide-range and cancelling inputs, and tiny values whose scale products
 * leave the fp32 normal range (the binary64 promotion). The bound is the
 * FP8 row's (128 products a promotion). */
Test(cuda_gemm, fast_sm90_fp8_block_within_bound) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  const char *want = mx_fp8_path();
  if (!want) cr_skip_test("the sm_90a MX kernel needs compute capability 9.0");
  static const mxb_format_t blk[][2] = {
    {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128}, {MXB_FORMAT_FP8_E4M3_128x128, MXB_FORMAT_FP8_E4M3_1x128},
    {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_1x128}, {MXB_FORMAT_FP8_E4M3_128x128, MXB_FORMAT_FP8_E4M3_128x128}};
  mxb_context_t *ctx = gpu_ctx();
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  for (int b = 0; b < 4; b++) /* the registry's own choice at M = 16 */
    check_fast(ctx, blk[b][0], blk[b][1], 16, 200, 4112, &d, MXBT_IN_NORMAL, want);
  setenv("MXB_CUDA_GEMM_PATH", MX_FP8_PATH, 1);
  mxb_context_destroy(ctx);
  ctx = gpu_ctx();
  static const int64_t shapes[][3] = {{128, 520, 512}, {77, 45, 208}, {1, 300, 128}, {300, 120, 1024},
                                      {100, 700, 2048}, {20, 700, 256}, {300, 24, 128}, {260, 1100, 384},
                                      {100, 250, 1040}}; /* the last: one row tile, no K split */
  for (int b = 0; b < 4; b++)
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
      for (int kind = 0; kind < 3; kind++) {
        mxb_gemm_desc_t e = mxbt_gemm_desc(MXB_GEMM_FAST, s == 2 ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32, kind == 2 ? -0.75f : 1.0f,
                                    kind == 1 ? 0.5f : 0.0f, s == 3 ? 150 : 0);
        check_fast(ctx, blk[b][0], blk[b][1], shapes[s][0], shapes[s][1], shapes[s][2], &e, kind, want);
      }
  check_fast(ctx, blk[0][0], blk[0][1], 260, 90, 256, &d, MXBT_IN_TINY, want);
  check_fast(ctx, blk[3][0], blk[3][1], 100, 150, 256, &d, MXBT_IN_SKEW, want);
  mxb_context_destroy(ctx);
#endif
}

/* FP8 block scales on tiles whose math warpgroups each own 64 rows (the
 * plan's choice once the tiles fill the SMs, forced here on small shapes by
 * `plan`, MXB_SM90_MX_PLAN): every pair of block shapes, tails in M, N and
 * K, split-K, A and B exchanged, alpha/beta/bf16 C and ldc (whole 16 x 128
 * blocks of C take the staged store, the rest the direct one), the binary64
 * promotion, and the same bytes on a second run. */
#ifdef MXB_WITH_CUDA
static void check_block_tiles(const char *plan) {
  const char *want = mx_fp8_path();
  if (!want) cr_skip_test("the sm_90a MX kernel needs compute capability 9.0");
  setenv("MXB_CUDA_GEMM_PATH", MX_FP8_PATH, 1);
  setenv("MXB_SM90_MX_PLAN", plan, 1); /* read once, at the first plan */
  static const mxb_format_t blk[][2] = {
    {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128}, {MXB_FORMAT_FP8_E4M3_128x128, MXB_FORMAT_FP8_E4M3_1x128},
    {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_1x128}, {MXB_FORMAT_FP8_E4M3_128x128, MXB_FORMAT_FP8_E4M3_128x128}};
  mxb_context_t *ctx = gpu_ctx();
  static const int64_t shapes[][3] = {{260, 1100, 384}, {300, 120, 1024}, {100, 700, 2048}, {1, 300, 128},
                                      {77, 45, 208}, {384, 256, 4112}, {272, 520, 512}};
  for (int b = 0; b < 4; b++)
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
      for (int kind = 0; kind < 3; kind++) {
        mxb_gemm_desc_t e = mxbt_gemm_desc(MXB_GEMM_FAST, s == 3 || s == 6 ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32,
                                           kind == 2 ? -0.75f : 1.0f, kind == 1 ? 0.5f : 0.0f, s == 1 ? 150 : 0);
        check_fast(ctx, blk[b][0], blk[b][1], shapes[s][0], shapes[s][1], shapes[s][2], &e, kind, want);
      }
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  check_fast(ctx, blk[0][0], blk[0][1], 260, 90, 256, &d, MXBT_IN_TINY, want);
  check_fast(ctx, blk[3][0], blk[3][1], 100, 150, 256, &d, MXBT_IN_SKEW, want);
  check_twice_same(ctx, blk[0][0], blk[0][1], 300, 520, 4096, 53, want);
  mxb_context_destroy(ctx);
}
#endif

/* 128 x 128 tiles. */
Test(cuda_gemm, fast_sm90_fp8_block_128_column_tiles) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  check_block_tiles("-1,128,-1,-1");
#endif
}

/* 128 x 256 tiles (with 128 x 128 blocks of B; the other block pairs keep
 * their own tiles). */
Test(cuda_gemm, fast_sm90_fp8_block_256_column_tiles) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  check_block_tiles("-1,256,-1,-1");
#endif
}

/* The same bytes on every run (no order-dependent reduction). */
Test(cuda_gemm, fast_sm90_mx_fp8_is_deterministic) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  check_twice_same(ctx, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 128, 520, 4096, 41, mx_fp8_path());
  /* K = 2080: not whole 64-column pieces, so M = 16 stays off the decode kernel. */
  check_twice_same(ctx, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, 16, 700, 2080, 43, mx_fp8_path());
  check_twice_same(ctx, MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128, 16, 700, 4096, 47, mx_fp8_path());
  mxb_context_destroy(ctx);
#endif
}

/* How many bits the FP8 tensor core keeps when it sums one K-block: A's
 * block is [1, 2^-9, 0 ...], B's [1, 2^-d, 0 ...], so C = 1 + 2^-(9+d)
 * exactly. The first lost term gives the accumulator's precision, which the
 * bound of docs/GEMM.md assumes to be at least 13 bits (2^-13 per product). */
Test(cuda_gemm, fast_sm90_mx_fp8_accumulator_precision) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  const char *want = mx_fp8_path();
  if (!want) cr_skip_test("the sm_90a MX kernel needs compute capability 9.0");
  mxb_context_t *ctx = gpu_ctx();
  int kept = 0;
  for (int e = 1; e <= 23; e++) {
    const int64_t M = 1, N = 1, K = 32;
    float xa[32] = {1.0f, 0x1p-9f}, xb[32] = {1.0f};
    int dA = e < 9 ? e : 9, dB = e - dA;
    xa[1] = ldexpf(1.0f, -dA);
    xb[1] = ldexpf(1.0f, -dB);
    mxbt_operand A, B;
    upload_pair(&A, &B, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, M, N, K, xa, xb);
    mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
    float c = 0;
    cr_assert_str_eq(gpu_gemm(ctx, &d, &A, &B, &c), want);
    const float exact = 1.0f + ldexpf(1.0f, -e);
    cr_assert(c == exact || c == 1.0f, "1 + 2^-%d came back as %a", e, c);
    if (c == exact && kept == e - 1) kept = e;
    mxbt_operand_free(&A);
    mxbt_operand_free(&B);
  }
  cr_log_info("FP8 tensor-core accumulator: 1 + 2^-d exact up to d = %d", kept);
  fprintf(stderr, "fast_sm90_mx_fp8_accumulator_precision: 1 + 2^-d exact up to d = %d\n", kept);
  cr_assert_geq(kept, 13, "the tensor core kept %d bits; the bound assumes 13", kept);
  mxb_context_destroy(ctx);
#endif
}

Test(cuda_gemm, fast_dequant_cublaslt_within_bound) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  static const mxb_format_t pairs[][2] = {
    {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4}, {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3},
    {MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP8_E4M3}, {MXB_FORMAT_MXFP6_E3M2, MXB_FORMAT_MXFP4},
    {MXB_FORMAT_MXINT8, MXB_FORMAT_MXINT8}, {MXB_FORMAT_MX9, MXB_FORMAT_MX6}, {MXB_FORMAT_BF16, MXB_FORMAT_NVFP4},
    {MXB_FORMAT_BF16, MXB_FORMAT_MXFP4},
    /* FP8 with UE8M0 scales where no FP8 path takes the pair: exact products in BF16 (the E4M3 pairs
     * run the fp32-scale FP8 paths, tests/test_fp8_ue8m0.c) */
    {MXB_FORMAT_FP8_E5M2_1x128_UE8M0, MXB_FORMAT_FP8_E4M3_1x128_UE8M0},
    {MXB_FORMAT_FP8_E5M2_128x128_UE8M0, MXB_FORMAT_FP8_E5M2_1x128_UE8M0},
  };
  mxb_context_t *ctx = gpu_ctx();
  for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++)
    for (int kind = 0; kind < 3; kind++) {
      mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.25f, kind == 1 ? 0.5f : 0.0f, kind == 2 ? 300 : 0);
      /* MXFP8 x MXFP8 runs the sm_90a kernel on compute capability 9.0. */
      const int mx8 = pairs[p][0] <= MXB_FORMAT_MXFP8_E5M2 && pairs[p][0] >= MXB_FORMAT_MXFP8_E4M3 &&
                      pairs[p][1] <= MXB_FORMAT_MXFP8_E5M2 && pairs[p][1] >= MXB_FORMAT_MXFP8_E4M3;
      /* K = 480: not whole 128-K stages, so the 4-bit pairs stay off the sm_90a 4-bit kernel. */
      check_fast(ctx, pairs[p][0], pairs[p][1], 96, 288, 480, &d, kind, mx8 ? NULL : "cuda-fast-dequant-cublaslt-bf16");
    }
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_BF16, 1.0f, -1.0f, 0);
  check_fast(ctx, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 33, 70, 200, &d, MXBT_IN_NORMAL, "cuda-fast-dequant-cublaslt-bf16");
  /* Extreme MX scales: the dequantization is no longer exact, the exact
   * path serves the call (same bound). */
  mxb_gemm_desc_t d2 = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 2.0f, 0);
  check_fast(ctx, MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP8_E5M2, 40, 50, 128, &d2, MXBT_IN_TINY, NULL);
  /* Swizzled scales, a half MX block at the end of each row (K = 208), and
   * values near 2^124 (scales the dequantization tests element by element). */
  static const mxb_format_t sw[][2] = {{MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4}, {MXB_FORMAT_MXINT8, MXB_FORMAT_MXFP4},
                                       {MXB_FORMAT_MXFP4, MXB_FORMAT_MXINT8}, {MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXINT8}};
  for (size_t p = 0; p < sizeof(sw) / sizeof(sw[0]); p++)
    for (int kind = 0; kind < 3; kind++) {
      const int edge = kind == 2 && p != 0;  /* NVFP4 cannot hold values near 2^124 */
      mxb_gemm_desc_t d3 = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
      check_fast_layout(ctx, sw[p][0], sw[p][1], 36, 72, p == 0 ? 224 : 208, &d3, edge ? MXBT_IN_EDGE : kind,
                        edge ? NULL : "cuda-fast-dequant-cublaslt-bf16", MXB_SCALE_LAYOUT_SWIZZLED);
    }
  mxb_context_destroy(ctx);
#endif
}

Test(cuda_gemm, fast_decode_m16_within_bound) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  const int64_t Ms[] = {1, 5, 16};
  const mxb_format_t fs[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP4};
  /* N odd and not a multiple of a block's rows; K = 1152 is split over
   * four K ranges, the third ending in a partial step. */
  for (int f = 0; f < 2; f++)
    for (int m = 0; m < 3; m++)
      for (int kind = 0; kind < 3; kind++) {
        mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, m == 1 ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32, 0.5f,
                                    kind == 1 ? 1.0f : 0.0f, kind == 2 ? 211 : 0);
        check_fast(ctx, MXB_FORMAT_BF16, fs[f], Ms[m], 201, 1152, &d, kind, "cuda-fast-decode-m16");
      }
  /* K tails and K ranges: one step, partial (K = 192, one range); K = 64
   * (one piece per lane pair); two ranges, the second a partial step
   * (K = 640); four ranges, the last one partial and one empty (K = 1216);
   * eight ranges of two steps (K = 4096) over three blocks. */
  static const int64_t shapes[][3] = {{16, 300, 192}, {3, 77, 64}, {16, 201, 1216}, {7, 600, 4096}, {5, 333, 640}};
  for (int f = 0; f < 2; f++)
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
      mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, i % 2 ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32, -1.5f, i == 2 ? 0.25f : 0.0f, 0);
      check_fast(ctx, MXB_FORMAT_BF16, fs[f], shapes[i][0], shapes[i][1], shapes[i][2], &d, (int)(i % 3),
                 "cuda-fast-decode-m16");
    }
  /* Block-scaled activations (decoded to BF16 when A is staged; the NVFP4
   * tensor scale in alpha): 4-, 6- and 8-bit MX, MXINT8 and NVFP4 A, either
   * layout of A's scales, tails in M and K, several K ranges, alpha/beta/ldc
   * and bf16 C, wide-range and cancelling inputs. */
  static const mxb_format_t qa[][2] = {{MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4}, {MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP4},
                                       {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4}, {MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP4},
                                       {MXB_FORMAT_MXINT8, MXB_FORMAT_MXFP4}, {MXB_FORMAT_MXFP6_E3M2, MXB_FORMAT_MXFP4}};
  static const int64_t qshapes[][3] = {{1, 201, 1152}, {16, 300, 192}, {7, 600, 4096}, {5, 333, 640}};
  for (size_t f = 0; f < sizeof(qa) / sizeof(qa[0]); f++)
    for (size_t i = 0; i < sizeof(qshapes) / sizeof(qshapes[0]); i++)
      for (int kind = 0; kind < 3; kind++) {
        mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, i % 2 ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32, kind == 2 ? -0.75f : 1.25f,
                                           kind == 1 ? 0.5f : 0.0f, i == 3 ? 400 : 0);
        check_fast_layouts(ctx, qa[f][0], qa[f][1], qshapes[i][0], qshapes[i][1], qshapes[i][2], &d, kind,
                           "cuda-fast-decode-m16", (f + i + kind) % 2 ? MXB_SCALE_LAYOUT_SWIZZLED : MXB_SCALE_LAYOUT_LINEAR,
                           MXB_SCALE_LAYOUT_LINEAR);
      }
  /* A's values outside what BF16 x 2^63 holds (MXFP8 near 2^66, tiny MX
   * scales): those outputs are computed in exact mode, same bound. */
  for (int f = 2; f < 5; f++)
    for (int kind = 0; kind < 2; kind++) {
      mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
      check_fast(ctx, qa[f][0], qa[f][1], 4, 40, 1024, &d, kind ? MXBT_IN_TINY : MXBT_IN_SKEW, "cuda-fast-decode-m16");
    }
  /* |A| near 2^66 and tiny MXFP4 scales leave the range the BF16 decode
   * holds exactly: those outputs are computed in exact mode, same bound. */
  for (int f = 0; f < 2; f++)
    for (int split = 0; split < 2; split++) {
      mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
      check_fast(ctx, MXB_FORMAT_BF16, fs[f], 4, 40, split ? 1024 : 128, &d, MXBT_IN_SKEW, "cuda-fast-decode-m16");
    }
  mxb_context_destroy(ctx);
#endif
}

/* The decode kernel splits K over blocks and sums the partial sums in a
 * fixed order: two runs give the same bytes. */
/* NVFP4 operands with the E4M3 bound 256 (their tensor scale amax / 1536)
 * on A, on B and on both: the exact paths give the CPU's bytes, and every
 * fast path that takes NVFP4 (the dequantize + cuBLASLt path, the decode
 * kernel, the sm_90a 4-bit kernel) stays within the bound computed from the
 * CPU's tensor scales, so a path that ignored the flag (a factor 1.75)
 * fails. */
Test(cuda_gemm, nvfp4_e4m3_max_256_every_path) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  for (int which = 1; which <= 3; which++) {
    g_nvfp4_flags_a = (which & 1) ? MXB_TENSOR_E4M3_MAX_256 : 0;
    g_nvfp4_flags_b = (which & 2) ? MXB_TENSOR_E4M3_MAX_256 : 0;
    mxb_gemm_desc_t dx = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.25f, 0.5f, 0);
    check_exact(ctx, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 33, 40, 96, &dx, MXBT_IN_NORMAL, 0, NULL);
    check_exact(ctx, MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, 5, 24, 64, &dx, MXBT_IN_WIDE, 0, NULL);
    mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.25f, 0.0f, 0);
    check_fast(ctx, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 96, 288, 480, &d, MXBT_IN_NORMAL,
               "cuda-fast-dequant-cublaslt-bf16");
    check_fast(ctx, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 5, 77, 640, &d, MXBT_IN_NORMAL, "cuda-fast-decode-m16");
    check_fast(ctx, MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, 3, 50, 256, &d, MXBT_IN_NORMAL, "cuda-fast-decode-m16");
    if (mx_fp8_path()) {
      check_fast(ctx, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 100, 260, 1024, &d, MXBT_IN_NORMAL, W4_PATH);
      check_fast(ctx, MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, 40, 300, 512, &d, MXBT_IN_NORMAL, W4_PATH);
    }
  }
  g_nvfp4_flags_a = g_nvfp4_flags_b = 0;
  mxb_context_destroy(ctx);
#endif
}

#ifdef MXB_WITH_CUDA
/* NVFP4 [rows, K] quantized on the CPU with cfg, with a device copy; amax
 * holds one value a row (cfg->nvfp4_row_amax) or one. */
typedef struct rowq {
  mxb_tensor_t h, d;
  mxb_tensor_sizes_t s;
} rowq;
static void rowq_make(rowq *q, const mxb_quant_config_t *cfg, int64_t rows, int64_t K, const float *x) {
  mxb_context_t *cpu;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &cpu), MXB_SUCCESS);
  cr_assert_eq(mxb_tensor_init(&q->h, MXB_FORMAT_NVFP4, rows, K, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  q->s.struct_size = sizeof(q->s);
  cr_assert_eq(mxb_tensor_sizes(MXB_FORMAT_NVFP4, rows, K, MXB_SCALE_LAYOUT_LINEAR, &q->s), MXB_SUCCESS);
  const size_t na = (size_t)(cfg->nvfp4_row_amax ? rows : 1) * 4;
  q->h.data = malloc(q->s.data_bytes);
  q->h.scales = malloc(q->s.scale_bytes);
  q->h.amax = malloc(na);
  cr_assert_eq(mxb_quantize(cpu, cfg, MXB_DTYPE_FP32, x, &q->h, NULL, 0, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  mxb_context_destroy(cpu);
  q->d = q->h;
  q->d.data = mxbt_dev_from_host(q->h.data, q->s.data_bytes);
  q->d.scales = mxbt_dev_from_host(q->h.scales, q->s.scale_bytes);
  q->d.amax = mxbt_dev_from_host(q->h.amax, na);
}
static void rowq_free(rowq *q) {
  free(q->h.data), free(q->h.scales), free(q->h.amax);
  mxbt_dev_free(q->d.data), mxbt_dev_free(q->d.scales), mxbt_dev_free(q->d.amax);
}
#endif

/* NVFP4 with an amax per row, on A, on B or both: exact mode gives the
 * CPU's bytes (beta, bf16 C too); fast mode runs the decode kernel (M <= 16)
 * within the fast-mode bound taken with each element's own tensor scales, or
 * else the exact paths. */
Test(cuda_gemm, nvfp4_row_amax_every_path) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  static const int64_t shapes[][3] = {{37, 45, 96}, {5, 130, 256}, {130, 40, 512}};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int which = 1; which <= 3; which++)
      for (int mode = 0; mode < 2; mode++) {
        const int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *xa = mxbt_gemm_input(M, K, 31 + (uint64_t)s, MXBT_IN_WIDE, 0);
        float *xb = mxbt_gemm_input(N, K, 32 + (uint64_t)s, MXBT_IN_NORMAL, 1);
        mxb_quant_config_t ca, cb;
        mxb_quant_config_init(&ca);
        mxb_quant_config_init(&cb);
        ca.nvfp4_row_amax = which & 1;
        cb.nvfp4_row_amax = (which >> 1) & 1;
        cb.nvfp4_e4m3_max = s == 1 ? 256 : 0;
        rowq A, B;
        rowq_make(&A, &ca, M, K, xa);
        rowq_make(&B, &cb, N, K, xb);
        mxb_gemm_desc_t d = mxbt_gemm_desc(mode ? MXB_GEMM_FAST : MXB_GEMM_EXACT,
                                           s == 2 ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32, -1.5f, s == 0 ? 0.25f : 0.0f, 0);
        mxb_gemm_desc_t dx = d;
        dx.mode = MXB_GEMM_EXACT;
        const size_t cb_bytes = c_bytes(&d, M, N);
        unsigned char *Cc = malloc(cb_bytes), *Cg = malloc(cb_bytes);
        fill_c(&d, Cc, M, N, 5, 0);
        memcpy(Cg, Cc, cb_bytes);
        mxb_context_t *cpu;
        cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &cpu), MXB_SUCCESS);
        size_t wc = 0;
        cr_assert_eq(mxb_gemm_workspace_size(cpu, &dx, &A.h, &B.h, &wc), MXB_SUCCESS);
        void *hw = wc ? aligned_alloc(16, (wc + 15) / 16 * 16) : NULL;
        cr_assert_eq(mxb_gemm(cpu, &dx, &A.h, &B.h, Cc, hw, wc, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
        free(hw);
        mxb_context_destroy(cpu);
        size_t wg = 0;
        cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &A.d, &B.d, &wg), MXB_SUCCESS, "%s", mxb_last_error_detail());
        void *dw = wg ? mxbt_dev_alloc(wg) : NULL, *dC = mxbt_dev_from_host(Cg, cb_bytes);
        cr_assert_eq(mxb_gemm(ctx, &d, &A.d, &B.d, dC, dw, wg, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
        const char *impl = mxb_context_last_impl(ctx);
        const char *want = !mode ? "cuda-exact-" : s == 1 ? "cuda-fast-decode-m16" : "cuda-exact-int8-mma";
        cr_assert(strncmp(impl, want, strlen(want)) == 0, "shape %zu mode %d ran %s, not %s", s, mode, impl, want);
        mxbt_dev_sync();
        mxbt_to_host(Cg, dC, cb_bytes);
        if (strncmp(impl, "cuda-exact-", 11) == 0) {
          cr_assert(memcmp(Cc, Cg, cb_bytes) == 0, "shape %zu which %d mode %d (%s): C differs from the CPU's", s,
                    which, mode, impl);
        } else { /* the bound of check_fast_layouts, with alpha_t of each element's rows */
          double *a = malloc((size_t)(M * K) * 8), *b = malloc((size_t)(N * K) * 8);
          for (int64_t r = 0; r < M; r++) mxb_cpu_decode_row_f64(&A.h, r, a + r * K);
          for (int64_t r = 0; r < N; r++) mxb_cpu_decode_row_f64(&B.h, r, b + r * K);
          const double g = mxbt_fast_gamma(MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, K, 0);
          const int bf = d.c_type == MXB_DTYPE_BF16;
          const double uo = bf ? 0x1p-8 : 0x1p-24;
          for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
              double S = 0;
              for (int64_t k = 0; k < K; k++) S += fabs(a[i * K + k] * b[j * K + k]);
              const double at = fabs((double)d.alpha * mxb_cpu_tensor_scale(&A.h, i) * mxb_cpu_tensor_scale(&B.h, j));
              const int64_t idx = i * N + j;
              const double ref = bf ? mxbt_u2f((uint32_t)((uint16_t *)Cc)[idx] << 16) : ((float *)Cc)[idx];
              const double got = bf ? mxbt_u2f((uint32_t)((uint16_t *)Cg)[idx] << 16) : ((float *)Cg)[idx];
              const double bnd = at * g * S + 2 * uo * fabs(ref) + 0x1p-130;
              cr_assert(fabs(got - ref) <= bnd, "shape %zu which %d (%s) C[%lld][%lld] = %.9g, reference %.9g, bound %.3g",
                        s, which, impl, (long long)i, (long long)j, got, ref, bnd);
            }
          free(a);
          free(b);
        }
        mxbt_dev_free(dw);
        mxbt_dev_free(dC);
        free(Cc);
        free(Cg);
        rowq_free(&A);
        rowq_free(&B);
        free(xa);
        free(xb);
      }
  mxb_context_destroy(ctx);
#endif
}

Test(cuda_gemm, fast_decode_m16_is_deterministic) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  check_twice_same(ctx, MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, 16, 700, 8192, 31, "cuda-fast-decode-m16");
  check_twice_same(ctx, MXB_FORMAT_BF16, MXB_FORMAT_MXFP4, 16, 700, 8192, 31, "cuda-fast-decode-m16");
  check_twice_same(ctx, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, 16, 700, 8192, 33, "cuda-fast-decode-m16");
  check_twice_same(ctx, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 9, 700, 4096, 35, "cuda-fast-decode-m16");
  mxb_context_destroy(ctx);
#endif
}

Test(cuda_gemm, fast_cublaslt_native_within_bound) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  for (int kind = 0; kind < 3; kind++) {
    mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.5f, kind == 1 ? -0.5f : 0.0f, 0);
    check_fast(ctx, MXB_FORMAT_BF16, MXB_FORMAT_BF16, 64, 96, 256, &d, kind, "cuda-fast-cublaslt-bf16");
    check_fast(ctx, MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E4M3_TENSOR, 64, 96, 256, &d, kind,
               "cuda-fast-cublaslt-fp8");
    check_fast(ctx, MXB_FORMAT_FP8_E5M2_TENSOR, MXB_FORMAT_FP8_E4M3_TENSOR, 64, 96, 256, &d, kind,
               "cuda-fast-cublaslt-fp8");
  }
  /* FP8 E4M3 with 1x128 / 128x128 block scales (cuBLASLt, or the exact path
   * where cuBLASLt has no algorithm for the shape). */
  static const mxb_format_t blk[][2] = {
    {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128}, {MXB_FORMAT_FP8_E4M3_128x128, MXB_FORMAT_FP8_E4M3_1x128},
    {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_1x128}};
  for (int b = 0; b < 3; b++)
    for (int kind = 0; kind < 3; kind++) {
      mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, kind == 2 ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32, 0.5f,
                                  kind == 1 ? 1.0f : 0.0f, 0);
      check_fast(ctx, blk[b][0], blk[b][1], 256, 384, 640, &d, kind, NULL);
      check_fast(ctx, blk[b][0], blk[b][1], 40, 200, 300, &d, kind, NULL);
    }
  /* 128x128 blocks on both sides: no cuBLASLt algorithm; the sm_90a kernel on 9.0. */
  for (int kind = 0; kind < 3; kind++) {
    mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, kind == 2 ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32, 0.5f,
                                       kind == 1 ? 1.0f : 0.0f, 0);
    check_fast(ctx, MXB_FORMAT_FP8_E4M3_128x128, MXB_FORMAT_FP8_E4M3_128x128, 256, 384, 640, &d, kind, mx_fp8_path());
  }
  /* Pairs without a fast kernel run the exact path. */
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  check_fast(ctx, MXB_FORMAT_FP8_E5M2_1x128, MXB_FORMAT_FP8_E4M3_128x128, 20, 30, 256, &d, MXBT_IN_NORMAL,
             "cuda-fast-dequant-cublaslt-bf16");
  check_fast(ctx, MXB_FORMAT_FP8_E5M2_TENSOR, MXB_FORMAT_FP8_E5M2_TENSOR, 20, 30, 256, &d, MXBT_IN_WIDE,
             "cuda-fast-dequant-cublaslt-bf16");
  check_fast(ctx, MXB_FORMAT_MOR_1x128, MXB_FORMAT_MOR_TENSOR, 20, 30, 256, &d, MXBT_IN_NORMAL, "cuda-exact-generic");
  check_fast(ctx, MXB_FORMAT_FP32, MXB_FORMAT_MXFP4, 20, 30, 64, &d, MXBT_IN_NORMAL, "cuda-exact-generic");
  mxb_context_destroy(ctx);
#endif
}

/* ------------------------------------------------------------ API rules */
/* A workspace too small, NULL or misaligned (the GEMM's rule is
 * MXB_WORKSPACE_ALIGNMENT, like every workspace's) is refused and C is
 * untouched; one aligned to 16 bytes and not to 256 gives the bytes of a
 * cudaMalloc pointer. */
Test(cuda_gemm, workspace_too_small_changes_nothing) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  const int64_t M = 64, N = 64, K = 128;
  float *xa = mxbt_gemm_input(M, K, 1, MXBT_IN_NORMAL, 0), *xb = mxbt_gemm_input(N, K, 2, MXBT_IN_NORMAL, 0);
  mxbt_operand A, B;
  upload_pair(&A, &B, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, M, N, K, xa, xb);
  for (int mode = 0; mode < 2; mode++) {
    mxb_gemm_desc_t d = mxbt_gemm_desc(mode ? MXB_GEMM_FAST : MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
    size_t ws = 0;
    cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &A.d, &B.d, &ws), MXB_SUCCESS);
    cr_assert_gt(ws, 0);
    const size_t cb = (size_t)(M * N) * 4;
    char *w = mxbt_dev_alloc(ws + 256);
    void *C = mxbt_dev_alloc(cb), *C16 = mxbt_dev_alloc(cb);
    mxbt_dev_poison(C, cb);
    cr_assert_eq(mxb_gemm(ctx, &d, &A.d, &B.d, C, w, ws - 1, NULL), MXB_ERR_WORKSPACE_TOO_SMALL);
    cr_assert(strstr(mxb_last_error_detail(), "workspace") != NULL, "%s", mxb_last_error_detail());
    cr_assert_eq(mxb_gemm(ctx, &d, &A.d, &B.d, C, NULL, ws, NULL), MXB_ERR_WORKSPACE_TOO_SMALL);
    cr_assert_eq(mxb_gemm(ctx, &d, &A.d, &B.d, C, w + 8, ws, NULL), MXB_ERR_BAD_ALIGNMENT);
    cr_assert(strstr(mxb_last_error_detail(), "workspace") != NULL, "%s", mxb_last_error_detail());
    mxbt_dev_sync();
    unsigned char *h = malloc(cb), *h16 = malloc(cb);
    mxbt_to_host(h, C, cb);
    for (size_t i = 0; i < cb; i++) cr_assert_eq(h[i], 0xA5, "C byte %zu was written", i);
    cr_assert_eq(mxb_gemm(ctx, &d, &A.d, &B.d, C, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert_eq(mxb_gemm(ctx, &d, &A.d, &B.d, C16, w + MXB_WORKSPACE_ALIGNMENT, ws, NULL), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    mxbt_dev_sync();
    mxbt_to_host(h, C, cb);
    mxbt_to_host(h16, C16, cb);
    cr_assert_eq(memcmp(h, h16, cb), 0, "mode %d: a workspace aligned to 16 bytes, not 256, changed C", mode);
    free(h);
    free(h16);
    mxbt_dev_free(w);
    mxbt_dev_free(C);
    mxbt_dev_free(C16);
  }
  free_pair(&A, &B, xa, xb);
  mxb_context_destroy(ctx);
#endif
}

/* One capture of mxb_gemm into a CUDA graph, replayed: same bytes as the
 * direct call, for the exact integer path, the dequant + cuBLASLt path and
 * the decode path. */
Test(cuda_gemm, graph_capture_and_replay) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  struct { mxb_format_t fa, fb; mxb_gemm_mode_t mode; int64_t M; } cases[] = {
    {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_GEMM_EXACT, 96},
    {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_GEMM_FAST, 96},
    {MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, MXB_GEMM_FAST, 8},
  };
  for (int c = 0; c < 3; c++) {
    const int64_t M = cases[c].M, N = 256, K = 512;
    float *xa = mxbt_gemm_input(M, K, 3, MXBT_IN_NORMAL, 0), *xb = mxbt_gemm_input(N, K, 4, MXBT_IN_NORMAL, 0);
    mxbt_operand A, B;
    upload_pair(&A, &B, cases[c].fa, cases[c].fb, M, N, K, xa, xb);
    mxb_gemm_desc_t d = mxbt_gemm_desc(cases[c].mode, MXB_DTYPE_FP32, 1.0f, 1.0f, 0);
    size_t ws = 0, cb = (size_t)(M * N) * 4;
    cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &A.d, &B.d, &ws), MXB_SUCCESS);
    void *w = mxbt_dev_alloc(ws), *C1 = mxbt_dev_alloc(cb), *C2 = mxbt_dev_alloc(cb);
    cr_assert_eq(cudaMemset(C1, 0, cb), cudaSuccess);
    cr_assert_eq(cudaMemset(C2, 0, cb), cudaSuccess);
    cudaStream_t st;
    cr_assert_eq(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), cudaSuccess);
    /* Direct: twice (beta = 1 accumulates). */
    for (int r = 0; r < 2; r++) cr_assert_eq(mxb_gemm(ctx, &d, &A.d, &B.d, C1, w, ws, st), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cudaGraph_t g;
    cudaGraphExec_t ge;
    cr_assert_eq(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    mxb_status_t s = mxb_gemm(ctx, &d, &A.d, &B.d, C2, w, ws, st);
    cr_assert_eq(cudaStreamEndCapture(st, &g), cudaSuccess);
    cr_assert_eq(s, MXB_SUCCESS, "captured call: %s", mxb_last_error_detail());
    cr_assert_eq(cudaGraphInstantiate(&ge, g, 0), cudaSuccess);
    for (int r = 0; r < 2; r++) cr_assert_eq(cudaGraphLaunch(ge, st), cudaSuccess);
    cr_assert_eq(cudaStreamSynchronize(st), cudaSuccess);
    unsigned char *h1 = malloc(cb), *h2 = malloc(cb);
    mxbt_to_host(h1, C1, cb);
    mxbt_to_host(h2, C2, cb);
    if (cases[c].mode == MXB_GEMM_EXACT) cr_assert_eq(memcmp(h1, h2, cb), 0, "graph replay differs from direct calls");
    else
      for (size_t i = 0; i < cb / 4; i++) {
        float x = ((float *)h1)[i], y = ((float *)h2)[i];
        cr_assert(fabsf(x - y) <= 1e-5f * (fabsf(x) + 1e-30f) * 64, "case %d C[%zu]: direct %g graph %g", c, i, x, y);
      }
    free(h1);
    free(h2);
    cudaGraphExecDestroy(ge);
    cudaGraphDestroy(g);
    cudaStreamDestroy(st);
    mxbt_dev_free(w);
    mxbt_dev_free(C1);
    mxbt_dev_free(C2);
    free_pair(&A, &B, xa, xb);
  }
  mxb_context_destroy(ctx);
#endif
}

/* ------------------------------------------------------------ plans */
#ifdef MXB_WITH_CUDA
/* A descriptor with t's format, shape, layout and flags and no pointers. */
static mxb_tensor_t bare_of(const mxb_tensor_t *t) {
  mxb_tensor_t b;
  cr_assert_eq(mxb_tensor_init(&b, t->format, t->rows, t->cols, t->scale_layout), MXB_SUCCESS);
  b.flags = t->flags;
  return b;
}

/* Executes plan p on device operands A, B with host C in and out; returns
 * the status (C copied back only on success). */
static mxb_status_t plan_run(const mxb_gemm_plan_t *p, const mxb_gemm_desc_t *d, const mxb_tensor_t *A,
                             const mxb_tensor_t *B, void *C) {
  size_t cb = c_bytes(d, A->rows, B->rows), ws = 0;
  cr_assert_eq(mxb_gemm_plan_workspace_size(p, &ws), MXB_SUCCESS);
  void *dc = mxbt_dev_from_host(C, cb);
  void *w = ws ? mxbt_dev_alloc(ws) : NULL;
  if (w) mxbt_dev_poison(w, ws);
  mxb_status_t s = mxb_gemm_plan_execute(p, A, B, dc, w, ws, NULL);
  if (s == MXB_SUCCESS) {
    mxbt_dev_sync();
    mxbt_to_host(C, dc, cb);
  }
  mxbt_dev_free(w);
  mxbt_dev_free(dc);
  return s;
}

/* A plan made from pointer-less descriptors (default alignment) takes the
 * path mxb_gemm takes on the same device operands, and gives its bytes. */
static void check_plan_like_gemm(mxb_context_t *ctx, mxb_format_t fa, mxb_format_t fb, mxb_scale_layout_t lb,
                                 int64_t M, int64_t N, int64_t K, const mxb_gemm_desc_t *d) {
  mxbt_pair P;
  mxbt_pair_make(&P, fa, fb, lb, M, N, K, 51 + (uint64_t)M, 1);
  const mxbt_operand A = P.A, B = P.B;
  mxb_tensor_t a = bare_of(&A.d), b = bare_of(&B.d);
  mxb_gemm_plan_t *p = NULL;
  cr_assert_eq(mxb_gemm_plan_create(ctx, d, &a, &b, NULL, &p), MXB_SUCCESS, "%s", mxb_last_error_detail());
  size_t pws = 0, ws = 0;
  cr_assert_eq(mxb_gemm_plan_workspace_size(p, &pws), MXB_SUCCESS);
  cr_assert_eq(mxb_gemm_workspace_size(ctx, d, &A.d, &B.d, &ws), MXB_SUCCESS);
  cr_assert_eq(pws, ws, "%s x %s: plan workspace %zu, mxb_gemm's %zu", mxbt_format_name(fa), mxbt_format_name(fb), pws, ws);

  size_t cb = c_bytes(d, M, N);
  unsigned char *C0 = malloc(cb), *C1 = malloc(cb);
  fill_c(d, C0, M, N, 7, 0);
  memcpy(C1, C0, cb);
  char ran[64];
  snprintf(ran, sizeof(ran), "%s", gpu_gemm(ctx, d, &A, &B, C0));
  cr_assert_str_eq(mxb_gemm_plan_path(p), ran, "%s x %s: the plan takes %s, mxb_gemm ran %s", mxbt_format_name(fa),
                   mxbt_format_name(fb), mxb_gemm_plan_path(p), ran);
  cr_assert_eq(plan_run(p, d, &A.d, &B.d, C1), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_str_eq(mxb_context_last_impl(ctx), ran);
  cr_assert(memcmp(C0, C1, cb) == 0, "%s x %s (%s): plan and mxb_gemm bytes differ", mxbt_format_name(fa),
            mxbt_format_name(fb), ran);
  mxb_gemm_plan_destroy(p);
  free(C0);
  free(C1);
  mxbt_pair_free(&P);
}
#endif

Test(cuda_gemm, plan_takes_the_path_mxb_gemm_takes) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  mxb_gemm_desc_t ex = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.5f, 0);
  mxb_gemm_desc_t fa = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_BF16, 1.0f, 0.0f, 0);
  check_plan_like_gemm(ctx, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, 64, 96, 256, &ex);
  check_plan_like_gemm(ctx, MXB_FORMAT_MX9, MXB_FORMAT_MX6, MXB_SCALE_LAYOUT_LINEAR, 33, 40, 128, &ex);
  check_plan_like_gemm(ctx, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_LINEAR, 16, 512, 1024, &fa);
  check_plan_like_gemm(ctx, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, MXB_SCALE_LAYOUT_SWIZZLED, 16, 256, 512, &fa);
  check_plan_like_gemm(ctx, MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, 8, 256, 512, &fa);
  check_plan_like_gemm(ctx, MXB_FORMAT_MXFP6_E3M2, MXB_FORMAT_MXFP4, MXB_SCALE_LAYOUT_LINEAR, 200, 256, 256, &fa);
  check_plan_like_gemm(ctx, MXB_FORMAT_BF16, MXB_FORMAT_BF16, MXB_SCALE_LAYOUT_LINEAR, 128, 128, 256, &fa);
  check_plan_like_gemm(ctx, MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E4M3_TENSOR, MXB_SCALE_LAYOUT_LINEAR, 64, 128,
                       256, &fa);
  mxb_context_destroy(ctx);
#endif
}

/* The path follows the declared alignment, not the pointers: with MXFP8
 * codes one byte past cudaMalloc's alignment, mxb_gemm avoids the paths that
 * need 16-byte rows, and so does a plan that declares 1 byte; a plan that
 * declares 16 refuses those pointers and writes nothing. */
Test(cuda_gemm, plan_follows_the_declared_alignment) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  const int64_t M = 16, N = 256, K = 512;
  mxb_context_t *ctx = gpu_ctx();
  mxbt_pair P;
  mxbt_pair_make(&P, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 61, 1);
  const mxbt_operand A = P.A, B = P.B;
  unsigned char *da = mxbt_dev_alloc(A.s.data_bytes + 16), *db = mxbt_dev_alloc(B.s.data_bytes + 16);
  cr_assert_eq(cudaMemcpy(da + 1, A.h.data, A.s.data_bytes, cudaMemcpyHostToDevice), cudaSuccess);
  cr_assert_eq(cudaMemcpy(db + 1, B.h.data, B.s.data_bytes, cudaMemcpyHostToDevice), cudaSuccess);
  mxbt_operand A1 = A, B1 = B;
  A1.d.data = da + 1;
  B1.d.data = db + 1;
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  size_t cb = c_bytes(&d, M, N);
  float *C0 = malloc(cb), *C1 = malloc(cb), *C2 = malloc(cb);
  fill_c(&d, C0, M, N, 3, 0);
  memcpy(C1, C0, cb);
  memcpy(C2, C0, cb);
  char ran[64];
  snprintf(ran, sizeof(ran), "%s", gpu_gemm(ctx, &d, &A1, &B1, C0));
  cr_assert_str_neq(ran, MX_FP8_PATH, "the sm_90a kernel ran on rows that are not 16-byte aligned");

  mxb_tensor_t a = bare_of(&A.d), b = bare_of(&B.d);
  mxb_gemm_plan_prefs_t prefs;
  mxb_gemm_plan_prefs_init(&prefs);
  prefs.alignment = 1;
  mxb_gemm_plan_t *p1 = NULL, *p16 = NULL;
  cr_assert_eq(mxb_gemm_plan_create(ctx, &d, &a, &b, &prefs, &p1), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_str_eq(mxb_gemm_plan_path(p1), ran);
  cr_assert_eq(plan_run(p1, &d, &A1.d, &B1.d, C1), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert(memcmp(C0, C1, cb) == 0, "plan (alignment 1) and mxb_gemm differ on %s", ran);

  cr_assert_eq(mxb_gemm_plan_create(ctx, &d, &a, &b, NULL, &p16), MXB_SUCCESS, "%s", mxb_last_error_detail());
  if (mx_fp8_path()) cr_assert_str_eq(mxb_gemm_plan_path(p16), MX_FP8_PATH);
  cr_assert_eq(plan_run(p16, &d, &A1.d, &B1.d, C2), MXB_ERR_BAD_ALIGNMENT);
  cr_assert_neq(mxb_last_error_detail()[0], '\0');
  mxb_gemm_plan_destroy(p1);
  mxb_gemm_plan_destroy(p16);
  free(C0);
  free(C1);
  free(C2);
  mxbt_dev_free(da);
  mxbt_dev_free(db);
  mxbt_pair_free(&P);
  mxb_context_destroy(ctx);
#endif
}

/* A workspace limit below the preferred path's need: the plan takes the
 * next path that fits (at worst the exact generic path, which needs none)
 * and runs it; the exact-mode answer is still the CPU's. */
Test(cuda_gemm, plan_max_workspace_falls_back) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  const int64_t M = 64, N = 128, K = 256;
  mxb_context_t *ctx = gpu_ctx();
  mxbt_pair P;
  mxbt_pair_make(&P, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 71, 1);
  const mxbt_operand A = P.A, B = P.B;
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  mxb_tensor_t a = bare_of(&A.d), b = bare_of(&B.d);
  size_t cb = c_bytes(&d, M, N);
  float *Cc = malloc(cb), *Cg = malloc(cb);
  fill_c(&d, Cc, M, N, 5, 0);
  cpu_gemm(&d, &A, &B, Cc);
  /* Each limit one byte below the last plan's workspace: another exact path
   * (from the registry's first for the pair down to the generic one, which
   * needs none), each with the CPU's bytes. */
  size_t limit = 0;
  const char *last = NULL;
  for (int i = 0; i < 4 && (!last || strcmp(last, "cuda-exact-generic") != 0); i++) {
    mxb_gemm_plan_prefs_t prefs;
    mxb_gemm_plan_prefs_init(&prefs);
    prefs.max_workspace = limit;
    mxb_gemm_plan_t *plan = NULL;
    cr_assert_eq(mxb_gemm_plan_create(ctx, &d, &a, &b, &prefs, &plan), MXB_SUCCESS, "%s", mxb_last_error_detail());
    size_t ws = 0;
    mxb_gemm_plan_workspace_size(plan, &ws);
    const char *path = mxb_gemm_plan_path(plan);
    if (i == 0) cr_assert_str_eq(path, exact_fp4_path(K));
    else cr_assert_str_neq(path, last, "limit %zu kept %s", limit, last);
    if (limit) cr_assert_leq(ws, limit);
    cr_assert_eq(ws == 0, strcmp(path, "cuda-exact-generic") == 0, "%s needs %zu bytes", path, ws);
    fill_c(&d, Cg, M, N, 5, 0);
    cr_assert_eq(plan_run(plan, &d, &A.d, &B.d, Cg), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert_str_eq(mxb_context_last_impl(ctx), path);
    cr_assert(memcmp(Cc, Cg, cb) == 0, "%s: bytes differ from the CPU's", path);
    last = path;
    mxb_gemm_plan_destroy(plan);
    limit = ws - 1;
  }
  cr_assert_str_eq(last, "cuda-exact-generic");
  free(Cc);
  free(Cg);
  mxbt_pair_free(&P);
  mxb_context_destroy(ctx);
#endif
}

/* ------------------------------------------------------------ epilogue */
#ifdef MXB_WITH_CUDA
/* C element idx of type t widened to fp32. */
static float c_at(mxb_dtype_t t, const void *C, int64_t idx) {
  if (t == MXB_DTYPE_FP32) return ((const float *)C)[idx];
  uint16_t h = ((const uint16_t *)C)[idx];
  if (t == MXB_DTYPE_BF16) return mxbt_u2f((uint32_t)h << 16);
  _Float16 v;
  memcpy(&v, &h, 2);
  return (float)v;
}

/* Random bias [N] of type t on the host (values of magnitude about 4). */
static void *make_bias(mxb_dtype_t t, int64_t N, uint64_t seed) {
  void *b = malloc((size_t)N * 4);
  uint64_t s = seed;
  for (int64_t n = 0; n < N; n++) {
    float v = 4.0f * mxbt_normal(&s);
    if (t == MXB_DTYPE_FP32) ((float *)b)[n] = v;
    else if (t == MXB_DTYPE_BF16) ((uint16_t *)b)[n] = (uint16_t)(mxbt_f2u(v) >> 16);
    else {
      _Float16 h = (_Float16)v;
      memcpy((uint16_t *)b + n, &h, 2);
    }
  }
  return b;
}

/* The GEMM of d with its epilogue (bias of bias_type, d's activation) on
 * the CPU and on the GPU, C of d's type.
 *   exact mode: the bytes are equal;
 *   fast mode: with t the fp32 GEMM without epilogue (CPU, exact) and
 *   x = t + bias, |y_gpu - y_cpu| <= lip * bx + 2 e_act ulp(y) + 2 u_out |y|,
 *   bx = the fast-mode bound of t (check_fast_layout's, fp32) + 2u |x|,
 *   lip = the activation's Lipschitz constant near x (1.13 for GELU and
 *   SiLU, 2 (|x| + bx) for squared ReLU), e_act its documented error in ulps
 *   (docs/GEMM.md: 5, 256 for the tanh form). */
static void check_epilogue(mxb_context_t *ctx, mxb_format_t fa, mxb_format_t fb, int64_t M, int64_t N, int64_t K,
                           mxb_gemm_desc_t d, mxb_dtype_t bias_type, const char *want_impl) {
  float *xa = mxbt_gemm_input(M, K, 31 + (uint64_t)K, MXBT_IN_NORMAL, 0);
  float *xb = mxbt_gemm_input(N, K, 32 + (uint64_t)N, MXBT_IN_NORMAL, 1);
  mxbt_operand A, B;
  upload_pair(&A, &B, fa, fb, M, N, K, xa, xb);
  void *hb = make_bias(bias_type, N, 40 + (uint64_t)N), *db = mxbt_dev_from_host(hb, (size_t)N * mxb_dtype_size(bias_type));
  const int64_t ldc = d.ldc ? d.ldc : N;
  const size_t cb = c_bytes(&d, M, N), es = mxb_dtype_size(d.c_type);
  unsigned char *Cc = malloc(cb), *Cg = malloc(cb), *Cin = malloc(cb);
  fill_c(&d, Cin, M, N, 9, d.beta == 0.0f);
  memcpy(Cc, Cin, cb);
  memcpy(Cg, Cin, cb);
  mxb_gemm_desc_t dh = d, dd = d;
  dh.mode = MXB_GEMM_EXACT;
  dh.bias = hb;
  dd.bias = db;
  dh.bias_type = dd.bias_type = bias_type;
  cpu_gemm(&dh, &A, &B, Cc);
  const char *impl = gpu_gemm(ctx, &dd, &A, &B, Cg);
  if (want_impl) cr_expect_str_eq(impl, want_impl, "%s x %s ran %s", mxbt_format_name(fa), mxbt_format_name(fb), impl);
  if (d.mode == MXB_GEMM_EXACT) {
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < ldc; j++) {
        const size_t off = (size_t)(i * ldc + j) * es;
        cr_assert(memcmp(Cc + off, Cg + off, es) == 0, "%s x %s (%s) act %d bias %d C %d: C[%lld][%lld] gpu %.9g cpu %.9g",
                  mxbt_format_name(fa), mxbt_format_name(fb), impl,
                  (int)d.activation, (int)bias_type, (int)d.c_type, (long long)i, (long long)j,
                  c_at(d.c_type, Cg, i * ldc + j), c_at(d.c_type, Cc, i * ldc + j));
      }
  } else {
    /* t: the exact fp32 GEMM without epilogue, from C_in widened to fp32. */
    mxb_gemm_desc_t dt = dh;
    dt.c_type = MXB_DTYPE_FP32;
    dt.bias = NULL;
    dt.activation = MXB_ACT_NONE;
    float *t = malloc((size_t)(M * ldc) * 4);
    for (int64_t i = 0; i < M * ldc; i++) t[i] = d.beta != 0.0f ? c_at(d.c_type, Cin, i) : NAN;
    cpu_gemm(&dt, &A, &B, t);
    double *a = malloc((size_t)(M * K) * 8), *b = malloc((size_t)(N * K) * 8);
    for (int64_t r = 0; r < M; r++) mxb_cpu_decode_row_f64(&A.h, r, a + r * K);
    for (int64_t r = 0; r < N; r++) mxb_cpu_decode_row_f64(&B.h, r, b + r * K);
    const double at = fabs((double)d.alpha * mxb_cpu_tensor_scale(&A.h, 0) * mxb_cpu_tensor_scale(&B.h, 0));
    const double g = mxbt_fast_gamma(fa, fb, K, strcmp(impl, MX_FP8_PATH) == 0);
    const double uo = d.c_type == MXB_DTYPE_FP32 ? 0x1p-24 : d.c_type == MXB_DTYPE_BF16 ? 0x1p-8 : 0x1p-11;
    const double e_act = d.activation == MXB_ACT_GELU_TANH ? 256 : 5;
    double worst = 0;
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double S = 0;
        for (int64_t k = 0; k < K; k++) S += fabs(a[i * K + k] * b[j * K + k]);
        const int64_t idx = i * ldc + j;
        const double cin = d.beta != 0.0f ? c_at(d.c_type, Cin, idx) : 0.0;
        const double bt = at * g * S + 2 * 0x1p-24 * (fabs(t[idx]) + fabs((double)d.beta * cin)) + 0x1p-130;
        const float x = t[idx] + c_at(bias_type, hb, j);
        const double bx = bt + 2 * 0x1p-24 * fabs(x);
        const double ref = c_at(d.c_type, Cc, idx), got = c_at(d.c_type, Cg, idx);
        double lip = 1.13, eact = e_act;
        if (d.activation == MXB_ACT_NONE || d.activation == MXB_ACT_RELU) lip = 1.0, eact = 0;
        if (d.activation == MXB_ACT_RELU2) lip = 2 * (fabs(x) + bx) + bx, eact = 1;
        const double bnd = lip * bx + 2 * eact * mxbt_ulp32(fabs(ref) + lip * bx) + 2 * uo * fabs(ref) + 0x1p-130;
        if (got == ref) continue; /* also both Inf (an fp16 C overflows alike) */
        cr_assert(fabs(got - ref) <= bnd, "%s x %s (%s) act %d C %d: C[%lld][%lld] gpu %.9g cpu %.9g, |diff| %.3g > %.3g",
                  mxbt_format_name(fa), mxbt_format_name(fb), impl, (int)d.activation, (int)d.c_type, (long long)i,
                  (long long)j, got, ref, fabs(got - ref), bnd);
        if (fabs(got - ref) / bnd > worst) worst = fabs(got - ref) / bnd;
      }
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = N; j < ldc; j++) {
        const size_t off = (size_t)(i * ldc + j) * es;
        cr_assert(memcmp(Cg + off, Cin + off, es) == 0, "C padding [%lld][%lld] was written", (long long)i, (long long)j);
      }
    cr_log_info("epilogue fast %s x %s (%s) act %d C %d: worst |diff| / bound = %.3g", mxbt_format_name(fa),
                mxbt_format_name(fb), impl, (int)d.activation, (int)d.c_type, worst);
    free(t);
    free(a);
    free(b);
  }
  free(Cc);
  free(Cg);
  free(Cin);
  free(hb);
  mxbt_dev_free(db);
  free_pair(&A, &B, xa, xb);
}
#endif

#ifdef MXB_WITH_CUDA
/* Gated activations (C [M, N/2]: act(column j) * column N/2 + j) and the
 * pre-activation output (aux [M, N]) on CUDA, both written by the epilogue
 * step after any path. Exact mode: C and aux byte-identical with the CPU
 * reference (padding untouched alike). Fast mode (fp32 C and aux): C is the
 * library's gated function of the GPU's own aux, bit for bit (aux is the
 * plain GEMM plus bias, whose bound the other fast tests check). */
static void check_gated(mxb_context_t *ctx, mxb_format_t fa, mxb_format_t fb, int64_t M, mxb_gemm_mode_t mode,
                        int act, mxb_dtype_t ct, int pad, const char *want) {
  const int64_t N = 68, K = 128, W = mxb_gemm_gate_act(act) ? N / 2 : N, ldc = W + pad, lda = N + pad;
  float *xa = mxbt_gemm_input(M, K, 51, MXBT_IN_NORMAL, 0), *xb = mxbt_gemm_input(N, K, 52, MXBT_IN_NORMAL, 1);
  mxbt_operand A, B;
  upload_pair(&A, &B, fa, fb, M, N, K, xa, xb);
  const size_t es = mxb_dtype_size(ct), cb = (size_t)(M * ldc) * es, ab = (size_t)(M * lda) * es;
  void *hb = make_bias(MXB_DTYPE_FP32, N, 53), *db = mxbt_dev_from_host(hb, (size_t)N * 4);
  unsigned char *Cc = malloc(cb), *Cg = malloc(cb), *Xc = malloc(ab), *Xg = malloc(ab);
  memset(Cc, 0xA5, cb);
  memset(Xc, 0x5A, ab);
  void *dc = mxbt_dev_from_host(Cc, cb), *dx = mxbt_dev_from_host(Xc, ab);
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_EXACT, ct, 0.75f, 0.0f, ldc);
  d.activation = (mxb_activation_t)act;
  d.bias_type = MXB_DTYPE_FP32;
  d.ld_aux = lda;
  mxb_gemm_desc_t dh = d, dd = d;
  dh.bias = hb;
  dh.aux = Xc;
  cpu_gemm(&dh, &A, &B, Cc);
  dd.mode = mode;
  dd.bias = db;
  dd.aux = dx;
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &dd, &A.d, &B.d, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = ws ? mxbt_dev_alloc(ws) : NULL;
  if (w) mxbt_dev_poison(w, ws);
  cr_assert_eq(mxb_gemm(ctx, &dd, &A.d, &B.d, dc, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxbt_dev_sync();
  const char *impl = mxb_context_last_impl(ctx);
  if (want) cr_expect_str_eq(impl, want, "%s x %s ran %s", mxbt_format_name(fa), mxbt_format_name(fb), impl);
  mxbt_to_host(Cg, dc, cb);
  mxbt_to_host(Xg, dx, ab);
  if (mode == MXB_GEMM_EXACT) {
    for (int64_t i = 0; i < M * ldc; i++)
      cr_assert(memcmp(Cc + i * es, Cg + i * es, es) == 0, "%s x %s (%s) act %d C %d: C[%lld] gpu %.9g cpu %.9g",
                mxbt_format_name(fa), mxbt_format_name(fb), impl, act, (int)ct, (long long)i, c_at(ct, Cg, i),
                c_at(ct, Cc, i));
    for (int64_t i = 0; i < M * lda; i++)
      cr_assert(memcmp(Xc + i * es, Xg + i * es, es) == 0, "%s x %s (%s) act %d C %d: aux[%lld] gpu %.9g cpu %.9g",
                mxbt_format_name(fa), mxbt_format_name(fb), impl, act, (int)ct, (long long)i, c_at(ct, Xg, i),
                c_at(ct, Xc, i));
  } else {
    const float *x = (const float *)Xg;
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < ldc; j++) {
        uint32_t want_bits = 0xA5A5A5A5u, got_bits;
        if (j < W)
          want_bits = mxb_gemm_out_f32(W < N ? mxb_gemm_gated(act, x[i * lda + j], x[i * lda + W + j])
                                             : mxb_activation(act, x[i * lda + j]));
        memcpy(&got_bits, Cg + (size_t)(i * ldc + j) * 4, 4);
        cr_assert_eq(got_bits, want_bits, "%s x %s (%s) act %d: C[%lld][%lld] 0x%08x, from aux 0x%08x",
                     mxbt_format_name(fa), mxbt_format_name(fb), impl, act, (long long)i, (long long)j, got_bits,
                     want_bits);
      }
  }
  free(Cc);
  free(Cg);
  free(Xc);
  free(Xg);
  free(hb);
  mxbt_dev_free(db);
  mxbt_dev_free(dc);
  mxbt_dev_free(dx);
  mxbt_dev_free(w);
  free_pair(&A, &B, xa, xb);
}
#endif

Test(cuda_gemm, gated_and_aux_epilogue) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  static const int acts[] = {MXB_ACT_SWIGLU, MXB_ACT_GEGLU_ERF, MXB_ACT_GEGLU_TANH, MXB_ACT_RELU, MXB_ACT_GELU_ERF};
  static const struct {
    mxb_format_t a, b;
    const char *impl;
  } exact[] = {
      {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, NULL}, /* K = 128: exact_fp4_path */
      {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, "cuda-exact-generic"},
  };
  for (size_t p = 0; p < 2; p++)
    for (int a = 0; a < 5; a++)
      for (int ct = MXB_DTYPE_FP32; ct <= MXB_DTYPE_FP16; ct++)
        check_gated(ctx, exact[p].a, exact[p].b, 37, MXB_GEMM_EXACT, acts[a], (mxb_dtype_t)ct, (a + ct) % 2 * 3,
                    exact[p].impl ? exact[p].impl : exact_fp4_path(128));
  /* Fast mode, every kind of path: cuBLASLt, the sm_90a MX kernel, the
   * decode kernel, the dequantize path. */
  static const struct {
    mxb_format_t a, b;
    int64_t M;
  } fast[] = {{MXB_FORMAT_BF16, MXB_FORMAT_BF16, 64},
              {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 64},
              {MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, 5},
              {MXB_FORMAT_MX9, MXB_FORMAT_MX6, 40}};
  for (size_t p = 0; p < 4; p++)
    for (int a = 0; a < 5; a++)
      check_gated(ctx, fast[p].a, fast[p].b, fast[p].M, MXB_GEMM_FAST, acts[a], MXB_DTYPE_FP32, a % 2 * 3, NULL);
  mxb_context_destroy(ctx);
#endif
}

/* The epilogue step after cuBLASLt gives the bits of the library's own
 * functions applied to the product cuBLASLt wrote: t from a call with fp32
 * C and no epilogue (the same cuBLASLt problem as the step's intermediate),
 * then every activation (gated ones too), bias type and C type against
 * round(act(t + bias)) on the host, bit for bit. ldc = C's columns takes
 * the step's four-column kernel, ldc + 1 its general kernel (16-bit C only:
 * fp32 C is finished in place, so a different ldc is a different cuBLASLt
 * problem). */
Test(cuda_gemm, epilogue_step_gives_the_functions_bits) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  const int64_t M = 40, N = 144, K = 256;
  float *xa = mxbt_gemm_input(M, K, 61, MXBT_IN_NORMAL, 0), *xb = mxbt_gemm_input(N, K, 62, MXBT_IN_NORMAL, 1);
  mxbt_operand A, B;
  upload_pair(&A, &B, MXB_FORMAT_BF16, MXB_FORMAT_BF16, M, N, K, xa, xb);
  float *t = malloc((size_t)(M * N) * 4);
  memset(t, 0, (size_t)(M * N) * 4);
  mxb_gemm_desc_t d0 = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.25f, 0.0f, 0);
  cr_expect_str_eq(gpu_gemm(ctx, &d0, &A, &B, t), "cuda-fast-cublaslt-bf16");
  for (int act = MXB_ACT_NONE; act <= MXB_ACT_GEGLU_TANH; act++)
    for (int ct = MXB_DTYPE_FP32; ct <= MXB_DTYPE_FP16; ct++)
      for (int pad = 0; pad <= (ct == MXB_DTYPE_FP32 ? 0 : 1); pad++) {
        const int with_bias = (act + ct + pad) % 4 != 3; /* bias of each type, or none */
        const mxb_dtype_t bt = (mxb_dtype_t)((act + ct + pad) % 4 % 3);
        const int64_t W = mxb_gemm_gate_act(act) ? N / 2 : N, ldc = W + pad;
        const size_t es = mxb_dtype_size((mxb_dtype_t)ct), cb = (size_t)(M * ldc) * es;
        void *hb = with_bias ? make_bias(bt, N, 63 + (uint64_t)act) : NULL;
        void *db = hb ? mxbt_dev_from_host(hb, (size_t)N * mxb_dtype_size(bt)) : NULL;
        mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, (mxb_dtype_t)ct, 1.25f, 0.0f, ldc);
        d.activation = (mxb_activation_t)act;
        d.bias = db;
        d.bias_type = bt;
        unsigned char *C = malloc(cb);
        memset(C, 0xA5, cb);
        const char *impl = gpu_gemm(ctx, &d, &A, &B, C);
        cr_expect_str_eq(impl, "cuda-fast-cublaslt-bf16");
        for (int64_t i = 0; i < M; i++)
          for (int64_t j = 0; j < ldc; j++) {
            uint32_t want = 0xA5A5A5A5u, got = 0;
            if (j < W) {
              float g = t[i * N + j], v = W < N ? t[i * N + W + j] : 0.0f;
              if (hb) {
                g = g + c_at(bt, hb, j);
                if (W < N) v = v + c_at(bt, hb, W + j);
              }
              const float y = W < N ? mxb_gemm_gated(act, g, v) : mxb_activation(act, g);
              want = ct == MXB_DTYPE_FP32 ? mxb_gemm_out_f32(y) : ct == MXB_DTYPE_BF16 ? mxb_gemm_out_bf16(y) : mxb_gemm_out_fp16(y);
            }
            if (es == 2) want &= 0xFFFFu;
            memcpy(&got, C + (size_t)(i * ldc + j) * es, es);
            cr_assert_eq(got, want, "act %d C %d bias %d ldc %lld: C[%lld][%lld] 0x%x, want 0x%x", act, ct, (int)bt,
                         (long long)ldc, (long long)i, (long long)j, got, want);
          }
        free(C);
        free(hb);
        mxbt_dev_free(db);
      }
  free(t);
  free_pair(&A, &B, xa, xb);
  mxb_context_destroy(ctx);
#endif
}

/* Exact mode: every activation, bias type and C type, byte-identical with
 * the CPU reference, on the sm_90a wgmma path and the integer path (NVFP4)
 * and the generic path. */
Test(cuda_gemm, exact_epilogue_every_activation_is_byte_identical) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  static const struct {
    mxb_format_t a, b;
    int64_t K;
    const char *impl; /* NULL: exact_fp4_path */
  } pairs[] = {
      {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 128, NULL},
      {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 112, "cuda-exact-int8-mma"},
      {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 128, "cuda-exact-generic"},
      {MXB_FORMAT_BF16, MXB_FORMAT_MXFP4, 128, "cuda-exact-generic"},
  };
  for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++)
    for (int act = MXB_ACT_NONE; act <= MXB_ACT_SILU; act++)
      for (int ct = MXB_DTYPE_FP32; ct <= MXB_DTYPE_FP16; ct++) {
        mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_EXACT, (mxb_dtype_t)ct, 0.75f, act % 2 ? -0.5f : 0.0f, act == 3 ? 70 : 0);
        d.activation = (mxb_activation_t)act;
        check_epilogue(ctx, pairs[p].a, pairs[p].b, 37, 67, pairs[p].K, d, (mxb_dtype_t)((act + ct) % 3),
                       pairs[p].impl ? pairs[p].impl : exact_fp4_path(pairs[p].K));
      }
  mxb_context_destroy(ctx);
#endif
}

/* Fast mode: the M <= 16 decode kernel applies the epilogue in its store,
 * the sm_90a 4-bit kernel in its K-split reduce kernel or a step after it,
 * the sm_90a MX kernel and the cuBLASLt paths in a kernel after
 * the GEMM (in place for fp32 C, from an fp32 intermediate for bf16 and
 * fp16 C); all within the bound of check_epilogue. */
Test(cuda_gemm, fast_epilogue_within_bound) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  int dev = 0;
  struct cudaDeviceProp prop;
  cr_assert_eq(cudaGetDevice(&dev), cudaSuccess);
  cr_assert_eq(cudaGetDeviceProperties(&prop, dev), cudaSuccess);
  static const struct {
    mxb_format_t a, b;
    int64_t M;
    const char *impl; /* NULL: depends on the device and the shape */
  } pairs[] = {
      {MXB_FORMAT_BF16, MXB_FORMAT_BF16, 64, "cuda-fast-cublaslt-bf16"},
      {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 64, NULL},
      {MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E4M3_TENSOR, 64, "cuda-fast-cublaslt-fp8"},
      {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 64, NULL},
      {MXB_FORMAT_BF16, MXB_FORMAT_MXFP4, 5, "cuda-fast-decode-m16"},
      {MXB_FORMAT_MX9, MXB_FORMAT_MX6, 64, "cuda-fast-dequant-cublaslt-bf16"},
  };
  for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++)
    for (int act = MXB_ACT_NONE; act <= MXB_ACT_SILU; act++)
      for (int ct = MXB_DTYPE_FP32; ct <= MXB_DTYPE_FP16; ct++) {
        mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, (mxb_dtype_t)ct, 1.25f, act % 2 ? 0.5f : 0.0f, act == 4 ? 200 : 0);
        d.activation = (mxb_activation_t)act;
        const char *want = pairs[p].impl;
        if (!want && pairs[p].a == MXB_FORMAT_NVFP4 && prop.major != 10)
          want = prop.major == 9 && prop.minor == 0 ? W4_PATH : "cuda-fast-dequant-cublaslt-bf16";
        check_epilogue(ctx, pairs[p].a, pairs[p].b, pairs[p].M, 144, 256, d, (mxb_dtype_t)((act + ct) % 3), want);
      }
  /* the sm_90a 4-bit kernel with K split into ranges: its reduce kernel
   * finishes C */
  for (int act = MXB_ACT_NONE; act <= MXB_ACT_SILU; act++) {
    const mxb_dtype_t ct = (mxb_dtype_t)(act % 3);
    mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, ct, 0.75f, act % 2 ? 0.5f : 0.0f, 0);
    d.activation = (mxb_activation_t)act;
    const char *want = prop.major == 9 && prop.minor == 0 ? W4_PATH : NULL;
    check_epilogue(ctx, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 48, 144, 2048, d, (mxb_dtype_t)((act + 1) % 3), want);
  }
  mxb_context_destroy(ctx);
#endif
}

/* A bias alone of C's type (bf16 or fp32) goes into cuBLASLt's epilogue on
 * the rows whose C cuBLASLt writes (NVFP4 forced onto the dequantize path,
 * with the tensor scales in alpha; BF16 x BF16 on cuBLASLt), beta 0 and
 * not, ldc past N; an fp32 bias into bf16 C, an activation or fp16 C
 * beside it take the step. Within the fast bound of check_epilogue. With
 * 16-bit C the route shows in the workspace: the step's fp32 intermediate
 * is its first M x N x 4 bytes, which the route through cuBLASLt's epilogue
 * never writes (the workspace arrives poisoned). (fp32 C is its own
 * intermediate.) */
Test(cuda_gemm, fast_bias_in_cublaslt_epilogue) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  setenv("MXB_CUDA_GEMM_PATH", "cuda-fast-dequant-cublaslt-bf16", 1);
  mxb_context_t *ctx = gpu_ctx();
  unsetenv("MXB_CUDA_GEMM_PATH");
  mxb_context_t *plain = gpu_ctx();
  for (int ct = MXB_DTYPE_FP32; ct <= MXB_DTYPE_FP16; ct++)
    for (int bt = MXB_DTYPE_FP32; bt <= MXB_DTYPE_BF16; bt++)
      for (int v = 0; v < 3; v++) {
        mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, (mxb_dtype_t)ct, 0.75f, v == 1 ? 0.5f : 0.0f, v == 2 ? 160 : 0);
        d.activation = v == 2 && bt == MXB_DTYPE_BF16 ? MXB_ACT_RELU : MXB_ACT_NONE;
        const int fused = bt == ct && d.activation == MXB_ACT_NONE, shows = ct != MXB_DTYPE_FP32;
        check_epilogue(ctx, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 96, 144, 256, d, (mxb_dtype_t)bt,
                       "cuda-fast-dequant-cublaslt-bf16");
        cr_assert(!shows || (g_ws_head == 0xA5A5A5A5u) == fused, "C %d, bias %d, case %d: the bias %s in cuBLASLt's epilogue",
                  ct, bt, v, fused ? "was not" : "was");
        check_epilogue(plain, MXB_FORMAT_BF16, MXB_FORMAT_BF16, 96, 144, 256, d, (mxb_dtype_t)bt,
                       "cuda-fast-cublaslt-bf16");
        cr_assert(!shows || (g_ws_head == 0xA5A5A5A5u) == fused,
                  "BF16, C %d, bias %d, case %d: the bias %s in cuBLASLt's epilogue", ct, bt, v, fused ? "was not" : "was");
      }
  mxb_context_destroy(plain);
  mxb_context_destroy(ctx);
#endif
}

/* The epilogue's refusals on the CUDA backend (validation is shared):
 * nothing is written to C. */
Test(cuda_gemm, epilogue_refusals_write_nothing) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = gpu_ctx();
  float *xa = mxbt_gemm_input(8, 64, 1, MXBT_IN_NORMAL, 0);
  mxbt_operand A;
  mxbt_operand_make(&A, MXB_FORMAT_BF16, MXB_SCALE_LAYOUT_LINEAR, 8, 64, xa);
  mxbt_operand_upload(&A);
  float host[64];
  for (int i = 0; i < 64; i++) host[i] = 3.0f;
  float *dc = mxbt_dev_from_host(host, sizeof(host));
  char *db = mxbt_dev_alloc(64);
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &A.d, &A.d, &ws), MXB_SUCCESS);
  void *w = ws ? mxbt_dev_alloc(ws) : NULL;
  d.activation = (mxb_activation_t)9;
  cr_assert_eq(mxb_gemm(ctx, &d, &A.d, &A.d, dc, w, ws, NULL), MXB_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(mxb_last_error_detail(), "activation"), "%s", mxb_last_error_detail());
  d.activation = MXB_ACT_SWIGLU; /* gated: C is [M, N/2], beta must be 0 */
  d.beta = 1.0f;
  cr_assert_neq(mxb_gemm(ctx, &d, &A.d, &A.d, dc, w, ws, NULL), MXB_SUCCESS);
  d.beta = 0.0f;
  d.activation = MXB_ACT_RELU;
  d.aux = db; /* the pre-activation output, ld_aux below N */
  d.ld_aux = 4;
  cr_assert_eq(mxb_gemm(ctx, &d, &A.d, &A.d, dc, w, ws, NULL), MXB_ERR_BAD_SHAPE);
  d.aux = NULL;
  d.ld_aux = 0;
  d.activation = MXB_ACT_RELU;
  d.bias = db + 2;
  cr_assert_eq(mxb_gemm(ctx, &d, &A.d, &A.d, dc, w, ws, NULL), MXB_ERR_BAD_ALIGNMENT);
  d.bias = db;
  d.bias_type = (mxb_dtype_t)5;
  cr_assert_eq(mxb_gemm(ctx, &d, &A.d, &A.d, dc, w, ws, NULL), MXB_ERR_INVALID_ARGUMENT);
  mxbt_dev_sync();
  float back[64];
  mxbt_to_host(back, dc, sizeof(back));
  for (int i = 0; i < 64; i++) cr_assert_eq(back[i], 3.0f, "C written on failure");
  mxbt_dev_free(w);
  mxbt_dev_free(db);
  mxbt_dev_free(dc);
  mxbt_operand_free(&A);
  free(xa);
  mxb_context_destroy(ctx);
#endif
}
