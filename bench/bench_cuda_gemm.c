/* CUDA GEMM throughput against cuBLASLt called directly in the same run
 * (BF16 and FP8 E4M3 per-tensor, same shape). TFLOP/s = 2*M*N*K / time;
 * ratio_to_bf16 = cuBLASLt BF16 time / this case's time, for the same shape.
 * Operands are random codes with realistic scales (never zeros); weights
 * smaller than the L2 are rotated over three copies so repeated calls do
 * not measure the cache. */
#include "bench.h"
#include "mxblas.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MXB_WITH_CUDA
#include "bench_cuda_util.h"

typedef enum { REF_BF16, REF_FP8, MXB_CASE } case_kind;

typedef struct gemm_case {
  const char *name;
  case_kind kind;
  mxb_format_t fa, fb;
  mxb_gemm_mode_t mode;
  int64_t M, N, K;
} gemm_case;

#define NSHAPES 9
static const int64_t k_shapes[NSHAPES][3] = {
  {8192, 8192, 8192}, {4096, 4096, 4096}, {2048, 8192, 8192}, {1024, 8192, 8192}, {512, 8192, 8192},
  {128, 8192, 8192},  {64, 8192, 8192},   {16, 8192, 8192},   {1, 8192, 8192}};
static double g_bf16_time[NSHAPES]; /* seconds per call, from the reference case */

static int shape_index(const gemm_case *c) {
  for (int i = 0; i < NSHAPES; i++)
    if (k_shapes[i][0] == c->M && k_shapes[i][1] == c->N && k_shapes[i][2] == c->K) return i;
  return 0;
}

#define NCOPY 3
/* One call (bench_call): weights rotated over the copies. */
typedef struct dcall {
  const gemm_case *c;
  mxb_context_t *ctx;
  const mxb_gemm_desc_t *d;
  const mxb_tensor_t *A, *B;
  int copies;
  void *C, *ws;
  size_t wsb;
  lt_direct *lt;
} dcall;

static int dense_call(void *arg, int i) {
  const dcall *x = arg;
  const mxb_tensor_t *b = &x->B[i % x->copies];
  if (x->c->kind == MXB_CASE) return mxb_gemm(x->ctx, x->d, x->A, b, x->C, x->ws, x->wsb, NULL) != MXB_SUCCESS;
  return lt_direct_run(x->lt, x->A->data, b->data, x->C) != 0;
}

static void run(mxbb_state *st, void *arg) {
  const gemm_case *c = arg;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    mxbb_skip(st, "no CUDA device");
    return;
  }
  mxb_tensor_t A, B[NCOPY];
  memset(B, 0, sizeof(B));
  mxb_format_t fa = c->kind == REF_BF16 ? MXB_FORMAT_BF16 : c->kind == REF_FP8 ? MXB_FORMAT_FP8_E4M3_TENSOR : c->fa;
  mxb_format_t fb = c->kind == REF_BF16 ? MXB_FORMAT_BF16 : c->kind == REF_FP8 ? MXB_FORMAT_FP8_E4M3_TENSOR : c->fb;
  mxb_tensor_sizes_t sb = {.struct_size = sizeof(sb)};
  mxb_tensor_sizes(fb, c->N, c->K, MXB_SCALE_LAYOUT_LINEAR, &sb);
  int copies = sb.data_bytes < ((size_t)64 << 20) ? NCOPY : 1;
  if (make_operand(&A, fa, c->M, c->K, 1) != 0) {
    mxbb_skip(st, "could not allocate A");
    return;
  }
  for (int i = 0; i < copies; i++)
    if (make_operand(&B[i], fb, c->N, c->K, 10 + (uint64_t)i) != 0) {
      mxbb_skip(st, "could not allocate B");
      return;
    }
  void *C = NULL, *ws = NULL;
  size_t wsb = 0;
  cudaMalloc(&C, (size_t)(c->M * c->N) * 4);
  mxb_context_t *ctx = NULL;
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.mode = c->mode;
  d.c_type = MXB_DTYPE_BF16;
  lt_direct lt;
  memset(&lt, 0, sizeof(lt));
  int bad = 0;
  if (c->kind == MXB_CASE) {
    bad |= mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx) != MXB_SUCCESS;
    bad |= !bad && mxb_gemm_workspace_size(ctx, &d, &A, &B[0], &wsb) != MXB_SUCCESS;
    bad |= !bad && wsb && cudaMalloc(&ws, wsb) != cudaSuccess;
  } else {
    bad |= lt_direct_init(&lt, c->kind == REF_BF16 ? CUDA_R_16BF : CUDA_R_8F_E4M3, c->M, c->N, c->K,
                          c->kind == REF_FP8 ? A.scales : NULL, c->kind == REF_FP8 ? B[0].scales : NULL) != 0;
  }
  dcall dc = {c, ctx, &d, &A, B, copies, C, ws, wsb, &lt};
  const double per = bench_calls(st, dense_call, &dc, !bad);
  if (per > 0) {
    const double flops = 2.0 * (double)c->M * (double)c->N * (double)c->K;
    if (c->kind == REF_BF16) g_bf16_time[shape_index(c)] = per;
    mxbb_counter(st, "TFLOPS", flops * 1e-12 / per, 0);
    if (g_bf16_time[shape_index(c)] > 0) mxbb_counter(st, "ratio_to_bf16", g_bf16_time[shape_index(c)] / per, 0);
    mxbb_counter(st, "us", per * 1e6, 0);
    /* Small M is bound by streaming the weights: their bytes (codes and
     * scales) per second. */
    if (c->M <= 128) mxbb_counter(st, "weight_TBps", (double)(sb.data_bytes + sb.scale_bytes) * 1e-12 / per, 0);
  }
  if (c->kind != MXB_CASE) lt_direct_fini(&lt);
  if (ctx) {
    mxbb_set_label(st, mxb_context_last_impl(ctx));
    mxb_context_destroy(ctx);
  }
  cudaFree(ws);
  cudaFree(C);
  free_operand(&A);
  for (int i = 0; i < copies; i++) free_operand(&B[i]);
}

#define MAXCASES 160
static gemm_case g_cases[MAXCASES];
static char g_names[MAXCASES][96];

MXBB_CONSTRUCTOR static void reg(void) {
  int n = 0;
  for (int s = 0; s < NSHAPES; s++) {
    const int64_t M = k_shapes[s][0], N = k_shapes[s][1], K = k_shapes[s][2];
    const gemm_case list[] = {
      {"cublaslt_bf16", REF_BF16, MXB_FORMAT_BF16, MXB_FORMAT_BF16, MXB_GEMM_FAST, M, N, K},
      {"cublaslt_fp8_e4m3", REF_FP8, MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E4M3_TENSOR, MXB_GEMM_FAST, M, N, K},
      {"mxb_bf16_fast", MXB_CASE, MXB_FORMAT_BF16, MXB_FORMAT_BF16, MXB_GEMM_FAST, M, N, K},
      {"mxb_fp8_e4m3_fast", MXB_CASE, MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E4M3_TENSOR, MXB_GEMM_FAST, M, N, K},
      {"mxb_nvfp4_fast", MXB_CASE, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_GEMM_FAST, M, N, K},
      {"mxb_mxfp8_e4m3_fast", MXB_CASE, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_GEMM_FAST, M, N, K},
      {"mxb_mxfp8_e5m2_x_e4m3_fast", MXB_CASE, MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP8_E4M3, MXB_GEMM_FAST, M, N, K},
      {"mxb_mxfp8_x_mxfp4w_fast", MXB_CASE, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, MXB_GEMM_FAST, M, N, K},
      {"mxb_fp8_1x128_128x128_fast", MXB_CASE, MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128, MXB_GEMM_FAST, M, N, K},
      /* The same pair with UE8M0 scale bytes (DeepGEMM's layout): the fp32
       * pair's path after one kernel widening the bytes. */
      {"mxb_fp8_1x128_128x128_ue8m0_fast", MXB_CASE, MXB_FORMAT_FP8_E4M3_1x128_UE8M0, MXB_FORMAT_FP8_E4M3_128x128_UE8M0,
       MXB_GEMM_FAST, M, N, K},
      {"mxb_fp8_128x128_both_fast", MXB_CASE, MXB_FORMAT_FP8_E4M3_128x128, MXB_FORMAT_FP8_E4M3_128x128, MXB_GEMM_FAST, M, N, K},
      {"mxb_nvfp4_exact", MXB_CASE, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_GEMM_EXACT, M, N, K},
      {"mxb_mxfp4_exact", MXB_CASE, MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP4, MXB_GEMM_EXACT, M, N, K},
      {"mxb_bf16_x_nvfp4w_fast", MXB_CASE, MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, MXB_GEMM_FAST, M, N, K},
      {"mxb_bf16_x_mxfp4w_fast", MXB_CASE, MXB_FORMAT_BF16, MXB_FORMAT_MXFP4, MXB_GEMM_FAST, M, N, K},
    };
    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]) && n < MAXCASES; i++) {
      /* 4-bit weights x BF16 at decode, small-batch and prefill-chunk shapes. */
      if (list[i].fa == MXB_FORMAT_BF16 && list[i].fb != MXB_FORMAT_BF16 && M > 1024) continue;
      /* M = 1 (single-token decode): BF16, and 4-bit weights in fast mode. */
      const int w4 = list[i].fb == MXB_FORMAT_NVFP4 || list[i].fb == MXB_FORMAT_MXFP4;
      if (M == 1 && list[i].fa != MXB_FORMAT_BF16 && !(w4 && list[i].mode == MXB_GEMM_FAST)) continue;
      g_cases[n] = list[i];
      snprintf(g_names[n], sizeof(g_names[n]), "cuda_gemm/%s/%lldx%lldx%lld", list[i].name, (long long)M,
               (long long)N, (long long)K);
      mxbb_register(g_names[n], run, &g_cases[n], 1);
      n++;
    }
  }
}
#endif
