/* mxblas demo: quantize a realistic activation (with outlier channels) and a
 * weight in NVFP4 and MXFP8, print the error statistics (NUMERICS 8),
 * multiply, and compare with the fp64 product.
 *
 * With a CUDA device the work runs on the GPU (device buffers, a CUDA
 * context); a step the CUDA backend does not offer for these options
 * (MXB_ERR_UNSUPPORTED) runs on the CPU instead, and the demo says so.
 * Without a device, or in a CPU-only build, everything runs on the CPU.
 *   make demo */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxblas.h"
#ifdef MXB_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

enum { M = 256, K = 1024, N = 1024 }; /* tokens, hidden size, output features */
enum { REF_ROW_STEP = 16 };           /* rows checked against the dequantized product */

typedef struct demo {
  mxb_backend_t be;   /* where operands live and operations run */
  mxb_context_t *ctx; /* context of be */
  mxb_context_t *cpu; /* host statistics and CPU fallbacks */
} demo;

static int failed(mxb_status_t s, const char *what) {
  if (s == MXB_SUCCESS) return 0;
  fprintf(stderr, "demo: %s failed: %s: %s\n", what, mxb_status_string(s), mxb_last_error_detail());
  return 1;
}

/* Options the CUDA backend may not offer: the step then runs on the CPU. */
static int refused(const demo *d, mxb_status_t s, const char *step) {
  if (d->be != MXB_BACKEND_CUDA || (s != MXB_ERR_UNSUPPORTED && s != MXB_ERR_ARCH_UNSUPPORTED)) return 0;
  printf("  %s: the CUDA backend refused (%s); running it on the CPU\n", step, mxb_last_error_detail());
  return 1;
}

/* ------------------------------------------------ memory of the backend */
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

/* Copy between host and the backend (to_backend: host -> backend). */
static mxb_status_t bmemcpy(mxb_backend_t b, void *dst, const void *src, size_t n, int to_backend) {
#ifdef MXB_WITH_CUDA
  if (b == MXB_BACKEND_CUDA)
    return cudaMemcpy(dst, src, n, to_backend ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost) == cudaSuccess
               ? MXB_SUCCESS
               : MXB_ERR_CUDA;
#endif
  (void)b;
  (void)to_backend;
  memcpy(dst, src, n);
  return MXB_SUCCESS;
}

/* ------------------------------------------------ quantized operands */
typedef struct operand {
  mxb_tensor_t t;    /* planes in backend memory (the same as host on the CPU) */
  mxb_tensor_t host; /* planes in host memory: statistics, CPU fallback */
  mxb_tensor_sizes_t sz;
} operand;

/* Plane k of a tensor: data, scales, aux, amax. */
static void *plane(const mxb_tensor_t *t, int k) {
  return k == 0 ? t->data : k == 1 ? t->scales : k == 2 ? t->aux : (void *)t->amax;
}
static void set_plane(mxb_tensor_t *t, int k, void *p) {
  if (k == 0) t->data = p;
  if (k == 1) t->scales = p;
  if (k == 2) t->aux = p;
  if (k == 3) t->amax = p;
}
static size_t plane_bytes(const mxb_tensor_sizes_t *sz, int k) {
  size_t n[4] = {sz->data_bytes, sz->scale_bytes, sz->aux_bytes, sz->amax_bytes};
  return n[k];
}

static void operand_free(const demo *d, operand *q) {
  for (int k = 0; k < 4; k++) {
    if (d->be != MXB_BACKEND_CPU) bfree(d->be, plane(&q->t, k));
    free(plane(&q->host, k));
  }
  memset(q, 0, sizeof(*q));
}

static mxb_status_t operand_alloc(const demo *d, mxb_format_t f, int64_t rows, int64_t cols, operand *q) {
  memset(q, 0, sizeof(*q));
  mxb_status_t s = mxb_tensor_init(&q->host, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR);
  q->sz.struct_size = sizeof(q->sz);
  if (s == MXB_SUCCESS) s = mxb_tensor_sizes(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &q->sz);
  if (s != MXB_SUCCESS) return s;
  q->t = q->host;
  for (int k = 0; k < 4; k++) {
    size_t n = plane_bytes(&q->sz, k);
    if (!n) continue;
    set_plane(&q->host, k, calloc(1, n));
    if (!plane(&q->host, k)) return MXB_ERR_ALLOC;
    set_plane(&q->t, k, d->be == MXB_BACKEND_CPU ? plane(&q->host, k) : balloc(d->be, n));
    if (!plane(&q->t, k)) return MXB_ERR_CUDA;
  }
  return MXB_SUCCESS;
}

/* Copy the planes between backend and host (no-op on the CPU). */
static mxb_status_t operand_sync(const demo *d, operand *q, int to_backend) {
  if (d->be == MXB_BACKEND_CPU) return MXB_SUCCESS;
  mxb_status_t s = MXB_SUCCESS;
  for (int k = 0; k < 4 && s == MXB_SUCCESS; k++) {
    size_t n = plane_bytes(&q->sz, k);
    if (n && to_backend) s = bmemcpy(d->be, plane(&q->t, k), plane(&q->host, k), n, 1);
    if (n && !to_backend) s = bmemcpy(d->be, plane(&q->host, k), plane(&q->t, k), n, 0);
  }
  (to_backend ? &q->t : &q->host)->flags = (to_backend ? &q->host : &q->t)->flags;
  return s;
}

/* A workspace of n bytes in the backend's memory (NULL when n is 0). */
static mxb_status_t workspace(mxb_backend_t be, size_t n, void **w) {
  *w = n ? balloc(be, n) : NULL;
  return !n || *w ? MXB_SUCCESS : be == MXB_BACKEND_CPU ? MXB_ERR_ALLOC : MXB_ERR_CUDA;
}

/* Quantize x (in the memory of ctx's backend) into t (planes there too). */
static mxb_status_t quantize_on(mxb_context_t *ctx, mxb_backend_t be, const float *x, mxb_tensor_t *t) {
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  size_t ws = 0;
  void *w = NULL;
  mxb_status_t s = mxb_quantize_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, t, &ws);
  if (s == MXB_SUCCESS) s = workspace(be, ws, &w);
  if (s != MXB_SUCCESS) return s;
  s = mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, t, w, ws, NULL);
  bfree(be, w);
  return s;
}

/* Quantize on the backend, falling back to the CPU where CUDA refuses;
 * either way q ends up with its planes in both memories. */
static mxb_status_t quantize(const demo *d, mxb_format_t f, const float *x_host, const float *x_dev,
                             int64_t rows, int64_t cols, operand *q, char impl[64]) {
  mxb_status_t s = operand_alloc(d, f, rows, cols, q);
  if (s != MXB_SUCCESS) return s;
  s = quantize_on(d->ctx, d->be, x_dev, &q->t);
  snprintf(impl, 64, "%s", mxb_context_last_impl(d->ctx));
  if (s == MXB_SUCCESS) return operand_sync(d, q, 0);
  if (!refused(d, s, "quantize")) return s;
  s = quantize_on(d->cpu, MXB_BACKEND_CPU, x_host, &q->host);
  snprintf(impl, 64, "%s", mxb_context_last_impl(d->cpu));
  return s == MXB_SUCCESS ? operand_sync(d, q, 1) : s;
}

static mxb_status_t gemm_on(mxb_context_t *ctx, mxb_backend_t be, const mxb_tensor_t *a,
                            const mxb_tensor_t *b, float *c) {
  mxb_gemm_desc_t desc; /* exact mode, fp32 C, alpha 1, beta 0 */
  mxb_gemm_desc_init(&desc);
  size_t ws = 0;
  void *w = NULL;
  mxb_status_t s = mxb_gemm_workspace_size(ctx, &desc, a, b, &ws);
  if (s == MXB_SUCCESS) s = workspace(be, ws, &w);
  if (s != MXB_SUCCESS) return s;
  s = mxb_gemm(ctx, &desc, a, b, c, w, ws, NULL);
  bfree(be, w);
  return s;
}

/* C (host) = A * B^T on the backend, or on the CPU where CUDA refuses. */
static mxb_status_t gemm(const demo *d, const operand *a, const operand *b, float *c_dev, float *c,
                         const char **impl) {
  mxb_status_t s = gemm_on(d->ctx, d->be, &a->t, &b->t, c_dev);
  *impl = mxb_context_last_impl(d->ctx);
  if (s == MXB_SUCCESS) return d->be == MXB_BACKEND_CPU ? s : bmemcpy(d->be, c, c_dev, sizeof(float) * M * N, 0);
  if (!refused(d, s, "gemm")) return s;
  s = gemm_on(d->cpu, MXB_BACKEND_CPU, &a->host, &b->host, c);
  *impl = mxb_context_last_impl(d->cpu);
  return s;
}

/* ------------------------------------------------ inputs and references */
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

/* ref[i][j] = sum_k x[i][k] * w[j][k] in binary64, for rows i = 0, step, 2 step, ... */
static void product(const float *x, const float *w, int step, double *ref) {
  for (int i = 0; i < M; i += step)
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < K; k++) s += (double)x[(size_t)i * K + k] * (double)w[(size_t)j * K + k];
      ref[(size_t)i * N + j] = s;
    }
}

/* Relative Frobenius error of c against ref over rows 0, step, ... */
static double rel_error(const float *c, const double *ref, int step) {
  double num = 0, den = 0;
  for (int i = 0; i < M; i += step)
    for (int j = 0; j < N; j++) {
      double e = (double)c[(size_t)i * N + j] - ref[(size_t)i * N + j];
      num += e * e;
      den += ref[(size_t)i * N + j] * ref[(size_t)i * N + j];
    }
  return sqrt(num / den);
}

static void print_stats(const char *what, const mxb_error_stats_t *s) {
  printf("  %-2s SQNR %5.2f dB  NMSE %.3e  cosine %.6f  max abs err %.3e  flushed %.3f%%  clipped %.3f%%"
         "  block scales [%.3g, %.3g]\n",
         what, s->sqnr_db, s->nmse, s->cosine, s->max_abs_err, 100.0 * s->frac_flushed,
         100.0 * s->frac_saturated, s->scale_min, s->scale_max);
}

/* ------------------------------------------------ the demo */
static int run_format(const demo *d, mxb_format_t f, const float *x, const float *w, const float *xd,
                      const float *wd, float *cd, float *c, const double *ref) {
  mxb_format_info_t fi = {.struct_size = sizeof(fi)};
  fi.struct_size = sizeof(fi);
  if (failed(mxb_format_info(f, &fi), "mxb_format_info")) return 1;
  operand qx, qw;
  memset(&qx, 0, sizeof(qx));
  memset(&qw, 0, sizeof(qw));
  char impl_x[64] = "", impl_w[64] = "";
  const char *impl_c = "";
  double *deq_ref = malloc(sizeof(double) * M * N);
  float *dx = malloc(sizeof(float) * M * K), *dw = malloc(sizeof(float) * N * K);
  mxb_error_stats_t sx = {.struct_size = sizeof(sx)}, sw = {.struct_size = sizeof(sw)};
  sx.struct_size = sw.struct_size = sizeof(sx);
  int bad = !deq_ref || !dx || !dw;
  if (bad) fprintf(stderr, "demo: out of memory\n");
  bad = bad || failed(quantize(d, f, x, xd, M, K, &qx, impl_x), "quantize X");
  bad = bad || failed(quantize(d, f, w, wd, N, K, &qw, impl_w), "quantize W");
  if (!bad) {
    printf("\n%s, %.2f bits per element (quantize X: %s, W: %s)\n", fi.name,
           8.0 * (double)(qx.sz.data_bytes + qx.sz.scale_bytes + qx.sz.aux_bytes + qx.sz.amax_bytes) /
               ((double)M * K),
           impl_x, impl_w);
  }
  bad = bad || failed(mxb_error_stats(x, &qx.host, &sx), "mxb_error_stats X");
  bad = bad || failed(mxb_error_stats(w, &qw.host, &sw), "mxb_error_stats W");
  if (!bad) {
    print_stats("X", &sx);
    print_stats("W", &sw);
  }
  bad = bad || failed(gemm(d, &qx, &qw, cd, c, &impl_c), "gemm");
  /* The GEMM's own error: against the fp64 product of the dequantized operands. */
  bad = bad || failed(mxb_dequantize(d->cpu, &qx.host, MXB_DTYPE_FP32, dx, NULL), "dequantize X");
  bad = bad || failed(mxb_dequantize(d->cpu, &qw.host, MXB_DTYPE_FP32, dw, NULL), "dequantize W");
  if (!bad) {
    product(dx, dw, REF_ROW_STEP, deq_ref);
    printf("  GEMM (%s, exact mode), relative Frobenius error\n"
           "     vs fp64 X*W^T                          %.4e  (quantization of X and W)\n"
           "     vs fp64 product of dequantized X and W %.4e  (the GEMM's own rounding; every %dth row)\n",
           impl_c, rel_error(c, ref, 1), rel_error(c, deq_ref, REF_ROW_STEP), REF_ROW_STEP);
  }
  operand_free(d, &qx);
  operand_free(d, &qw);
  free(deq_ref);
  free(dx);
  free(dw);
  return bad;
}

/* The backend: CUDA when a device is present and a context can be made. */
static mxb_backend_t choose_backend(void) {
  int ndev = 0;
  if (mxb_cuda_device_count(&ndev) != MXB_SUCCESS || ndev == 0) {
    printf("backend: cpu (%s)\n", strstr(mxb_build_info(), "cuda=yes") ? "no CUDA device" : "built without CUDA");
    return MXB_BACKEND_CPU;
  }
#ifdef MXB_WITH_CUDA
  struct cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, 0) == cudaSuccess)
    printf("backend: cuda (device 0: %s, sm_%d%d)\n", p.name, p.major, p.minor);
#endif
  return MXB_BACKEND_CUDA;
}

int main(void) {
  printf("mxblas %s (%s)\n", mxb_version_string(), mxb_build_info());
  demo d = {choose_backend(), NULL, NULL};
  if (failed(mxb_context_create(MXB_BACKEND_CPU, 0, &d.cpu), "creating the CPU context")) return 1;
  if (d.be == MXB_BACKEND_CUDA && failed(mxb_context_create(d.be, 0, &d.ctx), "creating the CUDA context")) {
    printf("backend: cpu (fallback)\n");
    d.be = MXB_BACKEND_CPU;
  }
  if (d.be == MXB_BACKEND_CPU) d.ctx = d.cpu;

  float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
  float *c = malloc(sizeof(float) * M * N);
  double *ref = malloc(sizeof(double) * M * N);
  int rc = 1;
  float *xd = NULL, *wd = NULL, *cd = NULL;
  if (!x || !w || !c || !ref) goto out;
  /* Activation: unit Gaussian with 8 outlier channels 30x larger (as LLM
   * activations have); weight [N, K] (stored along K), std 1/sqrt(K). */
  uint64_t seed = 42;
  for (int i = 0; i < M; i++)
    for (int k = 0; k < K; k++) x[i * K + k] = (float)(gauss(&seed) * ((k % 128 == 3) ? 30.0 : 1.0));
  for (int i = 0; i < N * K; i++) w[i] = (float)(gauss(&seed) / 32.0);
  product(x, w, 1, ref);
  printf("X [%d, %d] activations with 8 outlier channels, W [%d, %d] weights; C = X * W^T\n", M, K, N, K);

  if (d.be == MXB_BACKEND_CPU) {
    xd = x, wd = w, cd = c;
  } else {
    xd = balloc(d.be, sizeof(float) * M * K);
    wd = balloc(d.be, sizeof(float) * N * K);
    cd = balloc(d.be, sizeof(float) * M * N);
    if (!xd || !wd || !cd || failed(bmemcpy(d.be, xd, x, sizeof(float) * M * K, 1), "copying X") ||
        failed(bmemcpy(d.be, wd, w, sizeof(float) * N * K, 1), "copying W"))
      goto out;
  }
  const mxb_format_t formats[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3};
  rc = 0;
  for (int f = 0; f < 2 && !rc; f++) rc = run_format(&d, formats[f], x, w, xd, wd, cd, c, ref);
out:
  if (rc) fprintf(stderr, "demo: failed\n");
  if (d.be != MXB_BACKEND_CPU) {
    bfree(d.be, xd);
    bfree(d.be, wd);
    bfree(d.be, cd);
    mxb_context_destroy(d.ctx);
  }
  mxb_context_destroy(d.cpu);
  free(x);
  free(w);
  free(c);
  free(ref);
  return rc;
}
