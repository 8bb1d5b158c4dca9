/* Quantize two fp32 matrices to NVFP4, multiply them with mxb_gemm, and
 * compare with the product of the unquantized matrices. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "mxblas.h"

enum { M = 128, N = 96, K = 512 };

#define CHECK(call)                                                                       \
  do {                                                                                    \
    mxb_status_t s_ = (call);                                                             \
    if (s_ != MXB_SUCCESS) {                                                              \
      fprintf(stderr, "%s: %s (%s)\n", #call, mxb_status_string(s_), mxb_last_error_detail()); \
      return 1;                                                                           \
    }                                                                                     \
  } while (0)

/* Quantize x [rows, K] to NVFP4 into t (planes allocated here). */
static mxb_status_t quantize_nvfp4(mxb_context_t *ctx, const float *x, int64_t rows, mxb_tensor_t *t, float *amax) {
  mxb_tensor_sizes_t sz = {.struct_size = sizeof(sz)};
  mxb_status_t s = mxb_tensor_init(t, MXB_FORMAT_NVFP4, rows, K, MXB_SCALE_LAYOUT_LINEAR);
  if (s == MXB_SUCCESS) s = mxb_tensor_sizes(MXB_FORMAT_NVFP4, rows, K, MXB_SCALE_LAYOUT_LINEAR, &sz);
  if (s != MXB_SUCCESS) return s;
  t->data = malloc(sz.data_bytes);
  t->scales = malloc(sz.scale_bytes);
  t->amax = amax;
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  size_t ws = 0;
  s = mxb_quantize_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, t, &ws);
  if (s != MXB_SUCCESS) return s;
  void *w = malloc(ws ? ws : 1);
  s = mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, t, w, ws, NULL);
  free(w);
  return s;
}

int main(void) {
  float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * N * K), *c = malloc(sizeof(float) * M * N);
  unsigned s = 12345;
  for (int i = 0; i < M * K; i++) a[i] = (float)((s = s * 1103515245u + 12345u) >> 8) / 16777216.0f - 0.5f;
  for (int i = 0; i < N * K; i++) b[i] = (float)((s = s * 1103515245u + 12345u) >> 8) / 16777216.0f - 0.5f;

  mxb_context_t *ctx;
  CHECK(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx));
  mxb_tensor_t A, B; /* A [M, K]; B stored [N, K]: C = A * B^T */
  float amax_a, amax_b;
  CHECK(quantize_nvfp4(ctx, a, M, &A, &amax_a));
  CHECK(quantize_nvfp4(ctx, b, N, &B, &amax_b));

  mxb_gemm_desc_t desc;
  mxb_gemm_desc_init(&desc); /* exact mode, fp32 output, alpha 1, beta 0 */
  size_t ws = 0;
  CHECK(mxb_gemm_workspace_size(ctx, &desc, &A, &B, &ws));
  void *w = malloc(ws);
  CHECK(mxb_gemm(ctx, &desc, &A, &B, c, w, ws, NULL));

  double num = 0, den = 0;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double ref = 0;
      for (int k = 0; k < K; k++) ref += (double)a[i * K + k] * b[j * K + k];
      num += (c[i * N + j] - ref) * (c[i * N + j] - ref);
      den += ref * ref;
    }
  double rel = sqrt(num / den);
  printf("NVFP4 GEMM %dx%dx%d (%s): relative error against the fp32 product = %.4f\n", M, N, K,
         mxb_context_last_impl(ctx), rel);
  /* 4-bit operands: expect a few percent; zero or tens of percent means a bug. */
  int ok = rel > 1e-3 && rel < 0.25;
  if (!ok) fprintf(stderr, "implausible relative error %.4g\n", rel);

  free(w);
  free(A.data);
  free(A.scales);
  free(B.data);
  free(B.scales);
  free(a);
  free(b);
  free(c);
  mxb_context_destroy(ctx);
  return ok ? 0 : 1;
}
