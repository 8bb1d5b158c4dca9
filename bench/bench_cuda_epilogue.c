/* GEMM epilogues on CUDA: what an option costs on top of the plain GEMM, and
 * a quantized C from mxb_gemm_quantized against the unfused sequence a
 * framework would run (mxb_gemm to bf16 C, then mxb_quantize of that C),
 * same shapes, same run. NVFP4 x NVFP4 fast (the path the registry picks);
 * ratio_to_plain = plain GEMM time / this case's time; saved_us = the
 * unfused sequence's time - this case's (quantized C cases). C is bf16
 * but in the *_c_fp32 cases, whose plain GEMM is plain_c_fp32. */
#include "bench.h"
#include "mxblas.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MXB_WITH_CUDA
#include "bench_cuda_util.h"

/* What a case runs: mxb_gemm, mxb_gemm_quantized, or mxb_gemm to bf16 C
 * then mxb_quantize of that C (the unfused sequence). */
typedef enum { R_GEMM, R_QUANT, R_UNFUSED } erole;
typedef struct ekind {
  const char *name;
  erole role;
  int c32;       /* fp32 C (else bf16) */
  int bias;      /* the bias's mxb_dtype_t, or -1: none */
  int bias_off;  /* bytes past a 16-byte boundary (not 0: the epilogue step, docs/GEMM.md) */
  mxb_activation_t act;
  int nvfp4;     /* quantized C: NVFP4 (else MXFP8 E4M3) */
} ekind;

/* The unfused sequences run before the cases compared with them. A bias of
 * C's type on 16 bytes goes into cuBLASLt's epilogue; the same bias off 16
 * bytes, or an fp32 one into bf16 C, takes the epilogue step. */
static const ekind k_kinds[] = {
    {"plain", R_GEMM, 0, -1, 0, MXB_ACT_NONE, 0},
    {"bias_bf16", R_GEMM, 0, MXB_DTYPE_BF16, 0, MXB_ACT_NONE, 0},
    {"bias_fp32", R_GEMM, 0, MXB_DTYPE_FP32, 0, MXB_ACT_NONE, 0},
    {"bias_bf16_step", R_GEMM, 0, MXB_DTYPE_BF16, 2, MXB_ACT_NONE, 0},
    {"bias_gelu_tanh", R_GEMM, 0, MXB_DTYPE_BF16, 0, MXB_ACT_GELU_TANH, 0},
    {"swiglu", R_GEMM, 0, -1, 0, MXB_ACT_SWIGLU, 0},
    {"plain_c_fp32", R_GEMM, 1, -1, 0, MXB_ACT_NONE, 0},
    {"bias_fp32_c_fp32", R_GEMM, 1, MXB_DTYPE_FP32, 0, MXB_ACT_NONE, 0},
    {"bias_fp32_c_fp32_step", R_GEMM, 1, MXB_DTYPE_FP32, 4, MXB_ACT_NONE, 0},
    {"unfused_bf16_then_quantize_mxfp8", R_UNFUSED, 0, -1, 0, MXB_ACT_NONE, 0},
    {"quantized_c_mxfp8", R_QUANT, 0, -1, 0, MXB_ACT_NONE, 0},
    {"unfused_bf16_then_quantize_nvfp4", R_UNFUSED, 0, -1, 0, MXB_ACT_NONE, 1},
    {"quantized_c_nvfp4", R_QUANT, 0, -1, 0, MXB_ACT_NONE, 1},
};
#define NEKINDS ((int)(sizeof k_kinds / sizeof k_kinds[0]))

typedef struct ecase {
  const ekind *k;
  int shape;
} ecase;

#define NESHAPES 3
static const int64_t k_eshapes[NESHAPES][3] = {{8192, 8192, 8192}, {2048, 8192, 8192}, {128, 8192, 8192}};
static double g_plain[NESHAPES][2], g_unfused[NESHAPES][2];

typedef struct ecall {
  const ecase *c;
  mxb_context_t *ctx;
  const mxb_gemm_desc_t *d;
  const mxb_quant_config_t *q;
  const mxb_tensor_t *A, *B;
  void *C;           /* C, or the unfused sequence's bf16 intermediate */
  mxb_tensor_t *Cq;  /* quantized C */
  void *ws;
  size_t wsb;
} ecall;

static int epilogue_call(void *arg, int i) {
  const ecall *x = arg;
  (void)i;
  switch (x->c->k->role) {
    case R_QUANT:
      return mxb_gemm_quantized(x->ctx, x->d, x->q, x->A, x->B, x->Cq, x->ws, x->wsb, NULL) != MXB_SUCCESS;
    case R_UNFUSED:
      if (mxb_gemm(x->ctx, x->d, x->A, x->B, x->C, x->ws, x->wsb, NULL) != MXB_SUCCESS) return 1;
      return mxb_quantize(x->ctx, x->q, MXB_DTYPE_BF16, x->C, x->Cq, x->ws, x->wsb, NULL) != MXB_SUCCESS;
    default:
      return mxb_gemm(x->ctx, x->d, x->A, x->B, x->C, x->ws, x->wsb, NULL) != MXB_SUCCESS;
  }
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

static void run(mxbb_state *st, void *arg) {
  const ecase *c = arg;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    mxbb_skip(st, "no CUDA device");
    return;
  }
  const int64_t M = k_eshapes[c->shape][0], N = k_eshapes[c->shape][1], K = k_eshapes[c->shape][2];
  const ekind *k = c->k;
  const int64_t cols = k->act == MXB_ACT_SWIGLU ? N / 2 : N;
  const int quant = k->role != R_GEMM, qnv = quant && k->nvfp4, c32 = k->c32;
  const int plain = k->role == R_GEMM && k->bias < 0 && k->act == MXB_ACT_NONE;
  mxb_tensor_t A, B, Cq;
  memset(&Cq, 0, sizeof(Cq));
  int bad = make_operand(&A, MXB_FORMAT_NVFP4, M, K, 1) != 0 || make_operand(&B, MXB_FORMAT_NVFP4, N, K, 2) != 0;
  void *C = NULL, *bias = NULL, *ws = NULL;
  bad |= cudaMalloc(&C, (size_t)(M * N) * (c32 ? 4 : 2)) != cudaSuccess;
  bias = dev_random((size_t)N * 4 + 16, 1, 3); /* bf16 or fp32 values below 2 */
  bad |= !bias;
  if (quant) {
    const mxb_format_t f = qnv ? MXB_FORMAT_NVFP4 : MXB_FORMAT_MXFP8_E4M3;
    mxb_tensor_sizes_t z = {.struct_size = sizeof(z)};
    mxb_tensor_init(&Cq, f, M, cols, MXB_SCALE_LAYOUT_LINEAR);
    mxb_tensor_sizes(f, M, cols, MXB_SCALE_LAYOUT_LINEAR, &z);
    bad |= cudaMalloc(&Cq.data, z.data_bytes) != cudaSuccess || cudaMalloc(&Cq.scales, z.scale_bytes) != cudaSuccess;
    if (z.amax_bytes) { /* the previous step's amax, supplied (docs/GEMM.md) */
      float amax = 64.0f;
      bad |= cudaMalloc((void **)&Cq.amax, 4) != cudaSuccess || cudaMemcpy(Cq.amax, &amax, 4, cudaMemcpyHostToDevice) != cudaSuccess;
    }
  }
  mxb_context_t *ctx = NULL;
  bad |= mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx) != MXB_SUCCESS;
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.mode = MXB_GEMM_FAST;
  d.c_type = c32 ? MXB_DTYPE_FP32 : MXB_DTYPE_BF16;
  if (k->bias >= 0) {
    d.bias = (char *)bias + k->bias_off;
    d.bias_type = (mxb_dtype_t)k->bias;
  }
  d.activation = k->act;
  mxb_quant_config_t q;
  mxb_quant_config_init(&q);
  if (qnv) q.amax_source = MXB_AMAX_FROM_TENSOR;
  size_t wsb = 0, w2 = 0;
  if (!bad && k->role == R_QUANT) {
    bad |= mxb_gemm_quantized_workspace_size(ctx, &d, &q, &A, &B, &Cq, &wsb) != MXB_SUCCESS;
  } else if (!bad) {
    bad |= mxb_gemm_workspace_size(ctx, &d, &A, &B, &wsb) != MXB_SUCCESS;
    if (quant) bad |= mxb_quantize_workspace_size(ctx, &q, MXB_DTYPE_BF16, &Cq, &w2) != MXB_SUCCESS;
    wsb = max_size(wsb, w2);
  }
  bad |= !bad && wsb && cudaMalloc(&ws, wsb) != cudaSuccess;
  ecall ec = {c, ctx, &d, &q, &A, &B, C, &Cq, ws, wsb};
  const double per = bench_calls(st, epilogue_call, &ec, !bad);
  if (per > 0) {
    if (plain) g_plain[c->shape][c32] = per;
    if (k->role == R_UNFUSED) g_unfused[c->shape][qnv] = per;
    mxbb_counter(st, "us", per * 1e6, 0);
    if (g_plain[c->shape][c32] > 0) mxbb_counter(st, "ratio_to_plain", g_plain[c->shape][c32] / per, 0);
    if (k->role == R_QUANT && g_unfused[c->shape][qnv] > 0)
      mxbb_counter(st, "saved_us", (g_unfused[c->shape][qnv] - per) * 1e6, 0);
  }
  if (ctx) {
    mxbb_set_label(st, mxb_context_last_impl(ctx));
    mxb_context_destroy(ctx);
  }
  cudaFree(ws);
  cudaFree(C);
  cudaFree(bias);
  cudaFree(Cq.data);
  cudaFree(Cq.scales);
  cudaFree(Cq.amax);
  free_operand(&A);
  free_operand(&B);
}

static ecase g_ecases[NESHAPES * NEKINDS];
static char g_enames[NESHAPES * NEKINDS][96];

MXBB_CONSTRUCTOR static void reg(void) {
  int n = 0;
  for (int s = 0; s < NESHAPES; s++)
    for (int k = 0; k < NEKINDS; k++) {
      g_ecases[n] = (ecase){&k_kinds[k], s};
      snprintf(g_enames[n], sizeof(g_enames[n]), "cuda_epilogue/nvfp4/%s/%lldx%lldx%lld", k_kinds[k].name,
               (long long)k_eshapes[s][0], (long long)k_eshapes[s][1], (long long)k_eshapes[s][2]);
      mxbb_register(g_enames[n], run, &g_ecases[n], 1);
      n++;
    }
}
#endif
