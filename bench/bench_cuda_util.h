/* Device operands and a directly called cuBLASLt for the CUDA GEMM
 * benchmarks (bench_cuda_gemm.c, bench_cuda_grouped.c). */
#ifndef MXB_BENCH_CUDA_UTIL_H
#define MXB_BENCH_CUDA_UTIL_H
#include <cublasLt.h>
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "mxblas.h"

static inline uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Random bytes for a plane: raw codes (FP4), or bytes with bit 6 clear
 * (FP8 and BF16 bit patterns of magnitude below 2, never NaN or Inf). */
static inline void *dev_random(size_t bytes, int masked, uint64_t seed) {
  unsigned char *h = malloc(bytes ? bytes : 1);
  void *d = NULL;
  if (!h) return NULL;
  uint64_t s = seed;
  for (size_t i = 0; i < bytes; i += 8) {
    uint64_t r = splitmix(&s);
    if (masked) r &= 0xBFBFBFBFBFBFBFBFull;
    memcpy(h + i, &r, bytes - i < 8 ? bytes - i : 8);
  }
  if (cudaMalloc(&d, bytes ? bytes : 1) != cudaSuccess || cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice) != cudaSuccess) d = NULL;
  free(h);
  return d;
}

/* Scale planes: UE4M3 bytes in [0x30, 0x3F], E8M0 bytes in [120, 134],
 * fp32 scale_inv 1.0. */
static inline void *dev_scales(mxb_format_t f, size_t bytes, uint64_t seed) {
  mxb_format_info_t info = {.struct_size = sizeof(info)};
  mxb_format_info(f, &info);
  unsigned char *h = malloc(bytes ? bytes : 1);
  void *d = NULL;
  uint64_t s = seed;
  for (size_t i = 0; i < bytes; i++) {
    unsigned r = (unsigned)(splitmix(&s) & 0xFF);
    h[i] = info.scale_type == MXB_SCALE_UE4M3 ? (unsigned char)(0x30 + r % 16) : (unsigned char)(120 + r % 15);
  }
  if (info.scale_type == MXB_SCALE_FP32)
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
      float one = 1.0f;
      memcpy(h + i, &one, 4);
    }
  if (cudaMalloc(&d, bytes ? bytes : 1) != cudaSuccess || cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice) != cudaSuccess) d = NULL;
  free(h);
  return d;
}

static inline int make_operand(mxb_tensor_t *t, mxb_format_t f, int64_t rows, int64_t cols, uint64_t seed) {
  mxb_tensor_sizes_t s = {.struct_size = sizeof(s)};
  if (mxb_tensor_init(t, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR) != MXB_SUCCESS ||
      mxb_tensor_sizes(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &s) != MXB_SUCCESS)
    return -1;
  t->data = dev_random(s.data_bytes, f != MXB_FORMAT_NVFP4 && f != MXB_FORMAT_MXFP4, seed);
  t->scales = s.scale_bytes ? dev_scales(f, s.scale_bytes, seed + 1) : NULL;
  if (s.amax_bytes) {
    float one = 1.0f;
    if (cudaMalloc((void **)&t->amax, 4) != cudaSuccess) return -1;
    cudaMemcpy(t->amax, &one, 4, cudaMemcpyHostToDevice);
  }
  return t->data && (!s.scale_bytes || t->scales) ? 0 : -1;
}

static inline void free_operand(mxb_tensor_t *t) {
  cudaFree(t->data);
  cudaFree(t->scales);
  cudaFree(t->amax);
}

/* cuBLASLt called directly: C^T[N,M] = B[N,K] . A[M,K]^T (TN), fp32 compute,
 * bf16 output, with a planned algorithm (as a careful caller would). */
typedef struct {
  cublasLtHandle_t h;
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t la, lb, lc;
  cublasLtMatmulAlgo_t algo;
  void *ws;
  size_t ws_bytes;
} lt_direct;

static inline int lt_direct_init(lt_direct *l, cudaDataType_t t, int64_t M, int64_t N, int64_t K, const float *sa,
                          const float *sb) {
  memset(l, 0, sizeof(*l));
  l->ws_bytes = (size_t)32 << 20;
  if (cudaMalloc(&l->ws, l->ws_bytes) != cudaSuccess || cublasLtCreate(&l->h) != CUBLAS_STATUS_SUCCESS) return -1;
  cublasLtMatmulDescCreate(&l->op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  cublasLtMatmulDescSetAttribute(l->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta));
  cublasLtMatmulDescSetAttribute(l->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb));
  if (sa) {
    cublasLtMatmulDescSetAttribute(l->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sb, sizeof(sb));
    cublasLtMatmulDescSetAttribute(l->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sa, sizeof(sa));
  }
  cublasLtMatrixLayoutCreate(&l->la, t, (uint64_t)K, (uint64_t)N, K);
  cublasLtMatrixLayoutCreate(&l->lb, t, (uint64_t)K, (uint64_t)M, K);
  cublasLtMatrixLayoutCreate(&l->lc, CUDA_R_16BF, (uint64_t)N, (uint64_t)M, N);
  cublasLtMatmulPreference_t pref;
  cublasLtMatmulPreferenceCreate(&pref);
  uint64_t ws = l->ws_bytes;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  cublasLtMatmulHeuristicResult_t r;
  int found = 0;
  cublasLtMatmulAlgoGetHeuristic(l->h, l->op, l->la, l->lb, l->lc, l->lc, pref, 1, &r, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (!found) return -1;
  l->algo = r.algo;
  return 0;
}

static inline int lt_direct_run(lt_direct *l, const void *A, const void *B, void *C) {
  float alpha = 1.0f, beta = 0.0f;
  return cublasLtMatmul(l->h, l->op, &alpha, B, l->la, A, l->lb, &beta, C, l->lc, C, l->lc, &l->algo, l->ws,
                        l->ws_bytes, 0) == CUBLAS_STATUS_SUCCESS ? 0 : -1;
}

static inline void lt_direct_fini(lt_direct *l) {
  cublasLtMatrixLayoutDestroy(l->la);
  cublasLtMatrixLayoutDestroy(l->lb);
  cublasLtMatrixLayoutDestroy(l->lc);
  cublasLtMatmulDescDestroy(l->op);
  if (l->h) cublasLtDestroy(l->h);
  cudaFree(l->ws);
}
/* Warms up (three calls: plans, module load, clocks), then times call(arg,
 * i) for each benchmark iteration i between two CUDA events on the default
 * stream, reporting each iteration's time. Returns the mean seconds a call,
 * or 0 having skipped the benchmark with the reason (setup_ok false, a call
 * returning nonzero, a CUDA error).
 *
 * MXB_BENCH_BATCH=n (n > 1) times n calls back to back between the events
 * and reports a call's share: the host enqueues ahead of the device, so the
 * host's launch overhead no longer adds to the time (what a loop of calls,
 * or a CUDA graph of them, sees). By default each call is timed alone,
 * host overhead included. */
typedef int (*bench_call)(void *arg, int i);
static inline double bench_calls(mxbb_state *st, bench_call call, void *arg, int setup_ok) {
  int bad = !setup_ok;
  for (int w = 0; w < 3 && !bad; w++) bad |= call(arg, w) != 0;
  if (bad || cudaDeviceSynchronize() != cudaSuccess) {
    char msg[256];
    snprintf(msg, sizeof(msg), "setup failed: %s", mxb_last_error_detail());
    mxbb_skip(st, msg);
    return 0;
  }
  cudaEvent_t e0, e1;
  cudaEventCreate(&e0);
  cudaEventCreate(&e1);
  const char *be = getenv("MXB_BENCH_BATCH");
  const int batch = be && atoi(be) > 1 ? atoi(be) : 1;
  int it = 0;
  double total = 0;
  while (mxbb_keep_running(st)) {
    cudaEventRecord(e0, 0);
    for (int b = 0; b < batch; b++) bad |= call(arg, it * batch + b) != 0;
    cudaEventRecord(e1, 0);
    cudaEventSynchronize(e1);
    float ms = 0;
    cudaEventElapsedTime(&ms, e0, e1);
    mxbb_set_iteration_time(st, ms * 1e-3 / batch);
    total += ms * 1e-3 / batch;
    it++;
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  if (bad) {
    mxbb_skip(st, mxb_last_error_detail());
    return 0;
  }
  return total / (it ? it : 1);
}
#endif
