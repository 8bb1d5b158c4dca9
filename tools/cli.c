/* Shared pieces of the mxblas tool: messages, options, loading, quantizing
 * on either backend into host memory. */
#include "cli.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef MXB_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

static int vmessage(int code, const char *fmt, va_list ap) {
  cli_progress_end();
  char *msg = NULL;
  if (vasprintf(&msg, fmt, ap) < 0) msg = NULL;
  fputs("mxblas: ", stderr);
  /* Messages carry names and paths from files and arguments: escaped, so
   * none of them can drive the terminal. */
  mxio_put_escaped(stderr, msg ? msg : fmt, MXIO_ESC_TEXT);
  free(msg);
  fputc('\n', stderr);
  if (code == CLI_USAGE) fputs("Run 'mxblas help' for usage.\n", stderr);
  return code;
}

int cli_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vmessage(CLI_USAGE, fmt, ap);
  va_end(ap);
  return r;
}

int cli_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = vmessage(CLI_ERROR, fmt, ap);
  va_end(ap);
  return r;
}

static char g_detail[256]; /* of the last status the tool produced, until reported */

mxb_status_t cli_status(mxb_status_t s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_detail, sizeof(g_detail), fmt, ap);
  va_end(ap);
  return s;
}

#ifdef MXB_WITH_CUDA
mxb_status_t cli_cuda_status(const char *what) {
  return cli_status(MXB_ERR_CUDA, "%s: %s", what, cudaGetErrorString(cudaGetLastError()));
}
#endif

int cli_lib_error(mxb_status_t s, const char *what) {
  const char *d = g_detail[0] ? g_detail : mxb_last_error_detail();
  int r = d[0] ? cli_error("%s failed: %s: %s", what, mxb_status_string(s), d)
               : cli_error("%s failed: %s", what, mxb_status_string(s));
  g_detail[0] = 0;
  return r;
}

static int g_progress_shown;

void cli_progress(const char *fmt, ...) {
  if (!isatty(2)) return;
  va_list ap;
  va_start(ap, fmt);
  fputc('\r', stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\033[K", stderr);
  va_end(ap);
  fflush(stderr);
  g_progress_shown = 1;
}

void cli_progress_end(void) {
  if (!g_progress_shown) return;
  fputs("\r\033[K", stderr);
  g_progress_shown = 0;
}

int cli_format(const char *name, mxb_format_t *f) {
  if (mxb_format_from_name(name, f) == MXB_SUCCESS) return 0;
  cli_usage("unknown format '%s' (see 'mxblas info' for the list)", name);
  return -1;
}

int cli_load_f32(const char *path, const char *tensor, mxio_array *a) {
  char err[512];
  if (mxio_load(path, tensor, a, err, sizeof(err)) != 0) return cli_error("%s", err);
  if (mxio_array_to_f32(a, err, sizeof(err)) != 0) {
    mxio_array_free(a);
    return cli_error("%s: %s", path, err);
  }
  if (a->rows * a->cols == 0) {
    mxio_array_free(a);
    return cli_error("%s: the tensor is empty", path);
  }
  return CLI_OK;
}

int cli_context(mxb_backend_t backend, mxb_context_t **ctx) {
  if (backend == CLI_BACKEND_AUTO) {
    int n = 0;
    backend = mxb_cuda_device_count(&n) == MXB_SUCCESS && n > 0 ? MXB_BACKEND_CUDA : MXB_BACKEND_CPU;
  }
  mxb_status_t s = mxb_context_create(backend, 0, ctx);
  return s == MXB_SUCCESS ? CLI_OK : cli_lib_error(s, "creating the context");
}

void cli_qtensor_free(cli_qtensor *q) {
  if (q->t.amax != &q->amax) free(q->t.amax);
  free(q->t.data);
  free(q->t.scales);
  free(q->t.aux);
  memset(q, 0, sizeof(*q));
}

mxb_status_t cli_qtensor_alloc(cli_qtensor *q, mxb_format_t f, int64_t rows, int64_t cols, uint32_t flags) {
  memset(q, 0, sizeof(*q));
  q->sizes.struct_size = sizeof(q->sizes);
  mxb_status_t s = mxb_tensor_init(&q->t, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR);
  if (s == MXB_SUCCESS) s = mxb_tensor_sizes(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &q->sizes);
  if (s != MXB_SUCCESS) return s;
  q->t.data = calloc(1, q->sizes.data_bytes + 1);
  q->t.scales = q->sizes.scale_bytes ? calloc(1, q->sizes.scale_bytes) : NULL;
  q->t.aux = q->sizes.aux_bytes ? calloc(1, q->sizes.aux_bytes) : NULL;
  q->t.amax = q->sizes.amax_bytes ? &q->amax : NULL;
  if (q->sizes.amax_bytes && (flags & MXB_TENSOR_ROW_AMAX)) { /* one amax a row */
    q->sizes.amax_bytes = (size_t)rows * sizeof(float);
    q->t.amax = calloc((size_t)rows ? (size_t)rows : 1, sizeof(float));
  }
  q->t.flags = flags;
  if (!q->t.data || (q->sizes.scale_bytes && !q->t.scales) || (q->sizes.aux_bytes && !q->t.aux) ||
      (q->sizes.amax_bytes && !q->t.amax)) {
    cli_qtensor_free(q);
    return cli_status(MXB_ERR_ALLOC, "out of memory for the %zu bytes of planes of [%lld, %lld]",
                      q->sizes.data_bytes + q->sizes.scale_bytes + q->sizes.aux_bytes, (long long)rows,
                      (long long)cols);
  }
  return MXB_SUCCESS;
}

mxb_status_t cli_mirror(const cli_qtensor *q, int copy, mxb_tensor_t *dev) {
  *dev = q->t;
  dev->data = dev->scales = dev->aux = NULL;
  dev->amax = NULL;
#ifdef MXB_WITH_CUDA
  void *hp[4] = {q->t.data, q->t.scales, q->t.aux, q->t.amax};
  void **dp[4] = {&dev->data, &dev->scales, &dev->aux, (void **)&dev->amax};
  size_t nb[4] = {q->sizes.data_bytes, q->sizes.scale_bytes, q->sizes.aux_bytes, q->sizes.amax_bytes};
  for (int k = 0; k < 4; k++) {
    if (!hp[k]) continue;
    if (cudaMalloc(dp[k], nb[k] ? nb[k] : 1) != cudaSuccess ||
        (copy && nb[k] && cudaMemcpy(*dp[k], hp[k], nb[k], cudaMemcpyHostToDevice) != cudaSuccess)) {
      cli_mirror_free(dev);
      return cli_cuda_status("copying the planes to the device");
    }
  }
  return MXB_SUCCESS;
#else
  (void)copy;
  return MXB_ERR_NOT_BUILT_WITH_CUDA;
#endif
}

void cli_mirror_free(mxb_tensor_t *dev) {
#ifdef MXB_WITH_CUDA
  cudaFree(dev->data);
  cudaFree(dev->scales);
  cudaFree(dev->aux);
  cudaFree(dev->amax);
#endif
  dev->data = dev->scales = dev->aux = NULL;
  dev->amax = NULL;
}

static int is_mor(mxb_format_t f) {
  return f == MXB_FORMAT_MOR_TENSOR || f == MXB_FORMAT_MOR_128x128 || f == MXB_FORMAT_MOR_1x128;
}

/* Quantize with the planes of t already in the backend's memory. */
static mxb_status_t quantize_here(mxb_context_t *ctx, const mxb_quant_config_t *cfg,
                                  const float *x, mxb_tensor_t *t, mxb_backend_t backend) {
  mxb_mor_config_t mor;
  mxb_mor_config_init(&mor);
  size_t ws = 0;
  mxb_status_t s = is_mor(t->format)
                       ? mxb_mor_workspace_size(ctx, &mor, MXB_DTYPE_FP32, t, &ws)
                       : mxb_quantize_workspace_size(ctx, cfg, MXB_DTYPE_FP32, t, &ws);
  if (s != MXB_SUCCESS) return s;
  void *w = NULL;
  if (ws) {
#ifdef MXB_WITH_CUDA
    if (backend == MXB_BACKEND_CUDA) {
      if (cudaMalloc(&w, ws) != cudaSuccess) return cli_cuda_status("allocating the workspace");
    } else
#endif
      if (!(w = malloc(ws))) return cli_status(MXB_ERR_ALLOC, "out of memory for a %zu-byte workspace", ws);
  }
  s = is_mor(t->format) ? mxb_mor_quantize(ctx, &mor, MXB_DTYPE_FP32, x, t, w, ws, NULL)
                        : mxb_quantize(ctx, cfg, MXB_DTYPE_FP32, x, t, w, ws, NULL);
#ifdef MXB_WITH_CUDA
  if (backend == MXB_BACKEND_CUDA) {
    cudaFree(w);
    return s;
  }
#endif
  (void)backend;
  free(w);
  return s;
}

mxb_status_t cli_quantize(mxb_context_t *ctx, const mxb_quant_config_t *cfg, mxb_format_t f,
                          const float *x, int64_t rows, int64_t cols, cli_qtensor *q) {
  mxb_backend_t backend;
  mxb_status_t s = mxb_context_backend(ctx, &backend);
  if (s == MXB_SUCCESS) s = cli_qtensor_alloc(q, f, rows, cols, cfg->nvfp4_row_amax ? MXB_TENSOR_ROW_AMAX : 0u);
  if (s != MXB_SUCCESS) return s;
  if (backend == MXB_BACKEND_CPU) {
    s = quantize_here(ctx, cfg, x, &q->t, backend);
    if (s != MXB_SUCCESS) cli_qtensor_free(q);
    return s;
  }
#ifdef MXB_WITH_CUDA
  /* Quantize on the device into mirrored planes, copy back. */
  mxb_tensor_t dt;
  void *dx = NULL;
  size_t xb = (size_t)rows * (size_t)cols * sizeof(float);
  s = cli_mirror(q, 0, &dt);
  if (s == MXB_SUCCESS && (cudaMalloc(&dx, xb) != cudaSuccess ||
                           cudaMemcpy(dx, x, xb, cudaMemcpyHostToDevice) != cudaSuccess))
    s = cli_cuda_status("copying the input to the device");
  if (s == MXB_SUCCESS) s = quantize_here(ctx, cfg, dx, &dt, backend);
  q->t.flags = dt.flags;
  void *hp[4] = {q->t.data, q->t.scales, q->t.aux, q->t.amax}, *dp[4] = {dt.data, dt.scales, dt.aux, dt.amax};
  size_t nb[4] = {q->sizes.data_bytes, q->sizes.scale_bytes, q->sizes.aux_bytes, q->sizes.amax_bytes};
  for (int k = 0; k < 4 && s == MXB_SUCCESS; k++)
    if (hp[k] && nb[k] && cudaMemcpy(hp[k], dp[k], nb[k], cudaMemcpyDeviceToHost) != cudaSuccess)
      s = cli_cuda_status("copying the planes back");
  cli_mirror_free(&dt);
  cudaFree(dx);
  if (s != MXB_SUCCESS) cli_qtensor_free(q);
  return s;
#else
  cli_qtensor_free(q); /* unreachable: a CUDA context cannot be created */
  return MXB_ERR_NOT_BUILT_WITH_CUDA;
#endif
}

mxb_status_t cli_dequantize(const cli_qtensor *q, float *out) {
  mxb_context_t *cpu; /* q lives in host memory */
  mxb_status_t s = mxb_context_create(MXB_BACKEND_CPU, 0, &cpu);
  if (s != MXB_SUCCESS) return s;
  s = mxb_dequantize(cpu, &q->t, MXB_DTYPE_FP32, out, NULL);
  mxb_context_destroy(cpu);
  return s;
}

double cli_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

mxb_status_t cli_gemm(mxb_context_t *ctx, const mxb_gemm_desc_t *desc, const cli_qtensor *a,
                      const cli_qtensor *b, float *c, size_t ws, double *secs) {
  size_t cb = (size_t)a->t.rows * (size_t)b->t.rows * sizeof(float);
  mxb_backend_t backend;
  mxb_status_t s = mxb_context_backend(ctx, &backend);
  if (s != MXB_SUCCESS) return s;
  if (backend == MXB_BACKEND_CPU) {
    void *w = ws ? malloc(ws) : NULL;
    if (ws && !w) return cli_status(MXB_ERR_ALLOC, "out of memory for a %zu-byte workspace", ws);
    double t0 = cli_now();
    s = mxb_gemm(ctx, desc, &a->t, &b->t, c, w, ws, NULL);
    *secs = cli_now() - t0;
    free(w);
    return s;
  }
#ifdef MXB_WITH_CUDA
  mxb_tensor_t da, db;
  void *dc = NULL, *w = NULL;
  s = cli_mirror(a, 1, &da);
  if (s == MXB_SUCCESS && (s = cli_mirror(b, 1, &db)) != MXB_SUCCESS) cli_mirror_free(&da);
  if (s != MXB_SUCCESS) return s;
  if (cudaMalloc(&dc, cb) != cudaSuccess || (ws && cudaMalloc(&w, ws) != cudaSuccess))
    s = cli_cuda_status("allocating C and the workspace");
  if (s == MXB_SUCCESS) {
    s = mxb_gemm(ctx, desc, &da, &db, dc, w, ws, NULL); /* warm-up */
    cudaDeviceSynchronize();
    double t0 = cli_now();
    if (s == MXB_SUCCESS) s = mxb_gemm(ctx, desc, &da, &db, dc, w, ws, NULL);
    if (cudaDeviceSynchronize() != cudaSuccess) s = cli_cuda_status("running the GEMM");
    *secs = cli_now() - t0;
    if (s == MXB_SUCCESS && cudaMemcpy(c, dc, cb, cudaMemcpyDeviceToHost) != cudaSuccess)
      s = cli_cuda_status("copying C back");
  }
  cudaFree(dc);
  cudaFree(w);
  cli_mirror_free(&da);
  cli_mirror_free(&db);
  return s;
#else
  (void)cb;
  return MXB_ERR_NOT_BUILT_WITH_CUDA;
#endif
}

uint64_t cli_splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double cli_gauss(uint64_t *s) {
  double u = ((double)(cli_splitmix(s) >> 11) + 0.5) * 0x1.0p-53;
  double v = ((double)(cli_splitmix(s) >> 11) + 0.5) * 0x1.0p-53;
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}
