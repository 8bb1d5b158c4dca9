/* mxblas demo: quantize a realistic activation (with outlier channels) and a
 * weight in NVFP4 and MXFP8, print the NUMERICS 8 statistics, multiply, and
 * compare with the fp64 product. Runs on the GPU when one is present (and the
 * CUDA paths are implemented), else on the CPU.  make demo */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxblas.h"
#ifdef MXB_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

enum { M = 256, K = 1024, N = 1024 }; /* tokens, hidden size, output features */

#define CHECK(call)                                                                       \
  do {                                                                                    \
    mxb_status_t s_ = (call);                                                             \
    if (s_ != MXB_SUCCESS) {                                                              \
      fprintf(stderr, "%s: %s: %s\n", #call, mxb_status_string(s_), mxb_last_error_detail()); \
      return s_;                                                                          \
    }                                                                                     \
  } while (0)

/* Memory of the context's backend. */
static void *balloc(mxb_backend_t b, size_t n) {
#ifdef MXB_WITH_CUDA
  if (b == MXB_BACKEND_CUDA) {
    void *p = NULL;
    return cudaMalloc(&p, n ? n : 1) == cudaSuccess ? p : NULL;
  }
#endif
  (void)b;
  return calloc(1, n ? n : 1);
}
static void bfree(mxb_backend_t b, void *p) {
#ifdef MXB_WITH_CUDA
  if (b == MXB_BACKEND_CUDA) {
    cudaFree(p);
    return;
  }
#endif
  (void)b;
  free(p);
}
static void copy(mxb_backend_t b, void *dst, const void *src, size_t n, int to_backend) {
#ifdef MXB_WITH_CUDA
  if (b == MXB_BACKEND_CUDA) {
    cudaMemcpy(dst, src, n, to_backend ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost);
    return;
  }
#endif
  (void)b;
  (void)to_backend;
  memcpy(dst, src, n);
}

typedef struct operand {
  mxb_tensor_t t;    /* planes in backend memory */
  mxb_tensor_t host; /* the same planes copied to the host (for statistics) */
  mxb_tensor_sizes_t sz;
} operand;

static mxb_status_t quantize(mxb_context_t *ctx, mxb_backend_t be, mxb_format_t f, const float *x_dev,
                             int64_t rows, int64_t cols, operand *q) {
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  CHECK(mxb_tensor_init(&q->t, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR));
  CHECK(mxb_tensor_sizes(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &q->sz));
  q->t.data = balloc(be, q->sz.data_bytes);
  q->t.scales = q->sz.scale_bytes ? balloc(be, q->sz.scale_bytes) : NULL;
  q->t.amax = q->sz.amax_bytes ? balloc(be, q->sz.amax_bytes) : NULL;
  size_t ws = 0;
  CHECK(mxb_quantize_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, &q->t, &ws));
  void *w = ws ? balloc(be, ws) : NULL;
  CHECK(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x_dev, &q->t, w, ws, NULL));
  bfree(be, w);
  q->host = q->t;
  q->host.data = malloc(q->sz.data_bytes);
  q->host.scales = q->sz.scale_bytes ? malloc(q->sz.scale_bytes) : NULL;
  q->host.amax = q->sz.amax_bytes ? malloc(q->sz.amax_bytes) : NULL;
  copy(be, q->host.data, q->t.data, q->sz.data_bytes, 0);
  if (q->sz.scale_bytes) copy(be, q->host.scales, q->t.scales, q->sz.scale_bytes, 0);
  if (q->sz.amax_bytes) copy(be, q->host.amax, q->t.amax, q->sz.amax_bytes, 0);
  return MXB_SUCCESS;
}

static void operand_free(mxb_backend_t be, operand *q) {
  bfree(be, q->t.data);
  bfree(be, q->t.scales);
  bfree(be, q->t.amax);
  free(q->host.data);
  free(q->host.scales);
  free(q->host.amax);
}

static void print_stats(const char *what, const mxb_error_stats_t *s) {
  printf("  %-10s SQNR %6.2f dB  NMSE %.3e  max rel %.3e  cosine %.6f  flushed %.3f%%  scales [%.3g, %.3g]\n",
         what, s->sqnr_db, s->nmse, s->max_rel_err, s->cosine, 100.0 * s->frac_flushed, s->scale_min,
         s->scale_max);
}

/* Reproducible inputs: splitmix64 -> Box-Muller. */
static double gauss(uint64_t *s) {
  double u[2];
  for (int k = 0; k < 2; k++) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    u[k] = ((double)((z ^ (z >> 31)) >> 11) + 0.5) * 0x1.0p-53;
  }
  return sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

static int run(mxb_backend_t be) {
  float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
  float *c = malloc(sizeof(float) * M * N);
  double *ref = malloc(sizeof(double) * M * N);
  uint64_t seed = 42;
  /* Activation: unit Gaussian, with 8 outlier channels 30x larger (as LLM
   * activations have); weight [N, K] (stored along K), std 1/sqrt(K). */
  for (int i = 0; i < M; i++)
    for (int k = 0; k < K; k++) x[i * K + k] = (float)(gauss(&seed) * ((k % 128 == 3) ? 30.0 : 1.0));
  for (int i = 0; i < N * K; i++) w[i] = (float)(gauss(&seed) / 32.0);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < K; k++) s += (double)x[i * K + k] * (double)w[j * K + k];
      ref[i * N + j] = s;
    }

  mxb_context_t *ctx;
  CHECK(mxb_context_create(be, 0, &ctx));
  float *xd = balloc(be, sizeof(float) * M * K), *wd = balloc(be, sizeof(float) * N * K);
  float *cd = balloc(be, sizeof(float) * M * N);
  copy(be, xd, x, sizeof(float) * M * K, 1);
  copy(be, wd, w, sizeof(float) * N * K, 1);
  printf("C [%d, %d] = X [%d, %d] * W^T, W stored [%d, %d]; backend %s\n", M, N, M, K, N, K,
         be == MXB_BACKEND_CUDA ? "cuda" : "cpu");
  const mxb_format_t formats[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3};
  for (int f = 0; f < 2; f++) {
    mxb_format_info_t fi;
    mxb_format_info(formats[f], &fi);
    operand qx, qw;
    memset(&qx, 0, sizeof(qx));
    memset(&qw, 0, sizeof(qw));
    CHECK(quantize(ctx, be, formats[f], xd, M, K, &qx));
    CHECK(quantize(ctx, be, formats[f], wd, N, K, &qw));
    printf("\n%s (quantize: %s)\n", fi.name, mxb_context_last_impl(ctx));
    mxb_error_stats_t st;
    st.struct_size = sizeof(st);
    CHECK(mxb_error_stats(x, &qx.host, &st));
    print_stats("activation", &st);
    CHECK(mxb_error_stats(w, &qw.host, &st));
    print_stats("weight", &st);

    mxb_gemm_desc_t desc;
    mxb_gemm_desc_init(&desc);
    size_t ws = 0;
    CHECK(mxb_gemm_workspace_size(ctx, &desc, &qx.t, &qw.t, &ws));
    void *wsp = ws ? balloc(be, ws) : NULL;
    CHECK(mxb_gemm(ctx, &desc, &qx.t, &qw.t, cd, wsp, ws, NULL));
    bfree(be, wsp);
    copy(be, c, cd, sizeof(float) * M * N, 0);
    double num = 0, den = 0, worst = 0;
    for (int i = 0; i < M * N; i++) {
      double d = (double)c[i] - ref[i];
      num += d * d;
      den += ref[i] * ref[i];
      worst = fmax(worst, fabs(d));
    }
    printf("  GEMM (%s): relative error vs fp64 product %.4e, max abs error %.4e\n",
           mxb_context_last_impl(ctx), sqrt(num / den), worst);
    operand_free(be, &qx);
    operand_free(be, &qw);
  }
  bfree(be, xd);
  bfree(be, wd);
  bfree(be, cd);
  mxb_context_destroy(ctx);
  free(x);
  free(w);
  free(c);
  free(ref);
  return 0;
}

int main(void) {
  int ndev = 0;
  mxb_backend_t be = (mxb_cuda_device_count(&ndev) == MXB_SUCCESS && ndev > 0) ? MXB_BACKEND_CUDA
                                                                                : MXB_BACKEND_CPU;
  printf("mxblas %s (%s)\n", mxb_version_string(), mxb_build_info());
  int rc = run(be);
  if (rc != 0 && be == MXB_BACKEND_CUDA) {
    /* A CUDA path not available for this device: the CPU reference runs. */
    printf("\nthe CUDA backend could not run this; falling back to the CPU\n");
    rc = run(MXB_BACKEND_CPU);
  }
  return rc == 0 ? 0 : 1;
}
