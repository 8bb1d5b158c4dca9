/* The three GEMMs of one linear layer under the NVFP4 training recipe
 * (docs/TRANSFORMS.md): Fprop Y = X W^T, Dgrad dX = dY W, Wgrad dW = dY^T X.
 *   - W: 2D 16x16 scales, RNE; Dgrad uses its exact transpose.
 *   - X: row-wise copy (Fprop) and column-wise copy with RHT (Wgrad).
 *   - dY: row-wise copy with SR (Dgrad) and column-wise copy with RHT and SR
 *     at another offset (Wgrad).
 * Prints each GEMM's relative error against a binary64 product of the
 * unquantized inputs; exits 1 if one is implausibly large. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "mxblas.h"

#define T 256 /* tokens: K of Wgrad, a multiple of the RHT size */
#define IN 128
#define OUT 96

#define CHECK(call)                                                                          \
  do {                                                                                       \
    mxb_status_t s_ = (call);                                                                \
    if (s_ != MXB_SUCCESS) {                                                                 \
      fprintf(stderr, "%s: %s (%s)\n", #call, mxb_status_string(s_), mxb_last_error_detail()); \
      exit(2);                                                                               \
    }                                                                                        \
  } while (0)

/* An NVFP4 tensor [rows, cols] with its planes on the heap. */
static mxb_tensor_t nvfp4(int64_t rows, int64_t cols) {
  mxb_tensor_t t;
  mxb_tensor_sizes_t s = {.struct_size = sizeof(s)};
  CHECK(mxb_tensor_init(&t, MXB_FORMAT_NVFP4, rows, cols, MXB_SCALE_LAYOUT_LINEAR));
  CHECK(mxb_tensor_sizes(MXB_FORMAT_NVFP4, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &s));
  t.data = malloc(s.data_bytes);
  t.scales = malloc(s.scale_bytes);
  t.amax = malloc(sizeof(float));
  return t;
}
static void release(mxb_tensor_t *t) {
  free(t->data);
  free(t->scales);
  free(t->amax);
}

static void pair(mxb_context_t *ctx, const mxb_quant_config_t *rc, const mxb_quant_config_t *cc, const float *x,
                 mxb_tensor_t *row, mxb_tensor_t *col) {
  size_t ws;
  CHECK(mxb_quantize_pair_workspace_size(ctx, rc, cc, MXB_DTYPE_FP32, row, col, &ws));
  void *w = malloc(ws);
  CHECK(mxb_quantize_pair(ctx, rc, cc, MXB_DTYPE_FP32, x, row, col, w, ws, NULL));
  free(w);
}

/* C [M, N] = A B^T with A [M, K] and B stored [N, K]. */
static void gemm(mxb_context_t *ctx, const mxb_tensor_t *A, const mxb_tensor_t *B, float *C) {
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  size_t ws;
  CHECK(mxb_gemm_workspace_size(ctx, &d, A, B, &ws));
  void *w = malloc(ws ? ws : 1);
  CHECK(mxb_gemm(ctx, &d, A, B, C, w, ws, NULL));
  free(w);
}

/* ||C - a b^T||_F / ||a b^T||_F with a [M, K] row-major, b accessed as b[j*sj + k*sk]. */
static double rel_err(const float *C, const float *a, int64_t M, int64_t K, const float *b, int64_t N, int64_t sj,
                      int64_t sk, int64_t ai, int64_t ak) {
  double e = 0, n = 0;
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double p = 0;
      for (int64_t k = 0; k < K; k++) p += (double)a[i * ai + k * ak] * b[j * sj + k * sk];
      e += (C[i * N + j] - p) * (C[i * N + j] - p);
      n += p * p;
    }
  return sqrt(e / n);
}

static void fill(float *x, int64_t n, unsigned seed, float sigma) {
  srand(seed);
  for (int64_t i = 0; i < n; i += 2) { /* Box-Muller */
    double u1 = (rand() + 1.0) / (RAND_MAX + 2.0), u2 = rand() / (RAND_MAX + 1.0);
    double r = sqrt(-2 * log(u1));
    x[i] = (float)(sigma * r * cos(6.283185307179586 * u2));
    if (i + 1 < n) x[i + 1] = (float)(sigma * r * sin(6.283185307179586 * u2));
  }
}

int main(void) {
  mxb_context_t *ctx;
  CHECK(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx));
  float *X = malloc(sizeof(float) * T * IN), *W = malloc(sizeof(float) * OUT * IN);
  float *dY = malloc(sizeof(float) * T * OUT);
  fill(X, T * IN, 1, 1.0f);
  fill(W, OUT * IN, 2, 0.05f);
  fill(dY, T * OUT, 3, 1e-3f);

  /* Weights: 2D scaling, RNE; the transpose serves Dgrad. */
  mxb_quant_config_t wcfg;
  mxb_quant_config_init(&wcfg);
  wcfg.block_2d = 1;
  mxb_tensor_t Wq = nvfp4(OUT, IN), WqT = nvfp4(IN, OUT);
  CHECK(mxb_quantize(ctx, &wcfg, MXB_DTYPE_FP32, W, &Wq, NULL, 0, NULL));
  CHECK(mxb_transpose_quantized(ctx, &Wq, &WqT, NULL));

  /* Activations: row-wise RNE for Fprop, column-wise (X^T) with RHT for Wgrad. */
  mxb_quant_config_t xrow, xcol;
  mxb_quant_config_init(&xrow);
  mxb_quant_config_init(&xcol);
  xcol.rht.enabled = 1; /* d = 16, signs 0xD7E8, along tokens */
  mxb_tensor_t Xr = nvfp4(T, IN), Xc = nvfp4(IN, T);
  pair(ctx, &xrow, &xcol, X, &Xr, &Xc);

  /* Output gradients: SR on both copies with independent offsets, RHT on
   * the Wgrad copy with the same signs as X^T. */
  mxb_quant_config_t grow = xrow, gcol = xcol;
  grow.rounding = gcol.rounding = MXB_ROUND_SR;
  grow.seed = gcol.seed = 2024; /* e.g. the training step */
  grow.offset = 0;
  gcol.offset = 1;
  mxb_tensor_t Gr = nvfp4(T, OUT), Gc = nvfp4(OUT, T);
  pair(ctx, &grow, &gcol, dY, &Gr, &Gc);

  float *Y = malloc(sizeof(float) * T * OUT), *dX = malloc(sizeof(float) * T * IN);
  float *dW = malloc(sizeof(float) * OUT * IN);
  gemm(ctx, &Xr, &Wq, Y);  /* Fprop: [T, OUT], K = IN */
  gemm(ctx, &Gr, &WqT, dX); /* Dgrad: [T, IN], K = OUT */
  gemm(ctx, &Gc, &Xc, dW); /* Wgrad: [OUT, IN], K = T; the RHTs cancel */

  double ey = rel_err(Y, X, T, IN, W, OUT, IN, 1, IN, 1);
  double ex = rel_err(dX, dY, T, OUT, W, IN, 1, IN, OUT, 1);
  double ew = rel_err(dW, dY, OUT, T, X, IN, 1, IN, 1, OUT);
  printf("NVFP4 recipe, one linear layer (tokens %d, in %d, out %d), relative error vs fp64:\n", T, IN, OUT);
  printf("  Fprop  Y  = X W^T   %.4f\n  Dgrad  dX = dY W    %.4f\n  Wgrad  dW = dY^T X  %.4f\n", ey, ex, ew);

  release(&Wq);
  release(&WqT);
  release(&Xr);
  release(&Xc);
  release(&Gr);
  release(&Gc);
  free(X);
  free(W);
  free(dY);
  free(Y);
  free(dX);
  free(dW);
  mxb_context_destroy(ctx);
  /* NVFP4 keeps about 1-2 significant bits per element after scaling: a
   * product error near 0.1 is expected; far above it something is broken. */
  return ey < 0.25 && ex < 0.25 && ew < 0.25 ? 0 : 1;
}
