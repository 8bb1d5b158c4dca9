/* mxblas gemm: quantize A [M, K] and B [K, N], multiply, and report the error
 * against the fp64 product of the unquantized inputs and against the fp64
 * product of the dequantized operands (the GEMM's own error). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#ifdef MXB_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

/* C [M, N] += X [M, K] * Y[N, K]^T in binary64. */
static void ref_product(const float *x, const float *y, int64_t m, int64_t n, int64_t k, double *c) {
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t l = 0; l < k; l++) s += (double)x[i * k + l] * (double)y[j * k + l];
      c[i * n + j] = s;
    }
}

static void report(const char *label, const float *c, const double *ref, size_t n) {
  double num = 0, den = 0, worst = 0;
  for (size_t i = 0; i < n; i++) {
    double d = (double)c[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
    if (fabs(d) > worst) worst = fabs(d);
  }
  printf("  vs %-36s rel. Frobenius error %.4e, max abs error %.4e\n", label,
         den > 0 ? sqrt(num / den) : sqrt(num), worst);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Run the GEMM on the context's backend with host operands; C to host. */
static mxb_status_t run_gemm(mxb_context_t *ctx, mxb_backend_t backend, const mxb_gemm_desc_t *desc,
                             const cli_qtensor *a, const cli_qtensor *b, float *c, double *secs) {
  size_t cb = (size_t)a->t.rows * (size_t)b->t.rows * sizeof(float), ws = 0;
  mxb_status_t s = mxb_gemm_workspace_size(ctx, desc, &a->t, &b->t, &ws);
  if (s != MXB_SUCCESS) return s;
  if (backend == MXB_BACKEND_CPU) {
    void *w = ws ? malloc(ws) : NULL;
    if (ws && !w) return cli_status(MXB_ERR_ALLOC, "out of memory for a %zu-byte workspace", ws);
    double t0 = now_s();
    s = mxb_gemm(ctx, desc, &a->t, &b->t, c, w, ws, NULL);
    *secs = now_s() - t0;
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
    double t0 = now_s();
    if (s == MXB_SUCCESS) s = mxb_gemm(ctx, desc, &da, &db, dc, w, ws, NULL);
    if (cudaDeviceSynchronize() != cudaSuccess) s = cli_cuda_status("running the GEMM");
    *secs = now_s() - t0;
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

int cmd_gemm(int argc, char **argv) {
  cli_opts o;
  cli_opts_init(&o);
  const char *files[2] = {NULL, NULL}, *fa = NULL, *fb = NULL;
  int nfiles = 0;
  mxb_gemm_desc_t desc;
  mxb_gemm_desc_init(&desc);
  for (int i = 1; i < argc; i++) {
    int r = cli_opt(&o, argc, argv, &i);
    if (r < 0) return CLI_USAGE;
    if (r > 0) continue;
    if (!strcmp(argv[i], "--format")) {
      if (!(fa = cli_value(argc, argv, &i))) return CLI_USAGE;
    } else if (!strcmp(argv[i], "--format-b")) {
      if (!(fb = cli_value(argc, argv, &i))) return CLI_USAGE;
    } else if (!strcmp(argv[i], "--mode")) {
      const char *v = cli_value(argc, argv, &i);
      if (!v) return CLI_USAGE;
      if (strcmp(v, "exact") && strcmp(v, "fast")) return cli_usage("--mode: '%s' is not exact or fast", v);
      desc.mode = v[0] == 'e' ? MXB_GEMM_EXACT : MXB_GEMM_FAST;
    } else if (argv[i][0] == '-' || nfiles == 2) {
      return cli_usage("gemm: unexpected argument '%s'", argv[i]);
    } else {
      files[nfiles++] = argv[i];
    }
  }
  if (nfiles != 2 || !fa)
    return cli_usage("usage: mxblas gemm A.npy B.npy --format F [--format-b F] [--mode exact|fast] [-o C.npy]");
  mxb_format_t f_a, f_b;
  if (cli_format(fa, &f_a) != 0 || cli_format(fb ? fb : fa, &f_b) != 0) return CLI_USAGE;
  mxio_array A, B;
  int rc = cli_load_f32(files[0], o.tensor, &A);
  if (rc != CLI_OK) return rc;
  if ((rc = cli_load_f32(files[1], o.tensor, &B)) != CLI_OK) {
    mxio_array_free(&A);
    return rc;
  }
  int64_t m = A.rows, k = A.cols, n = B.cols;
  float *bt = NULL, *c = NULL, *da = NULL, *db = NULL;
  double *ref = NULL;
  mxb_context_t *ctx = NULL;
  cli_qtensor qa = {0}, qb = {0};
  if (B.rows != k) {
    rc = cli_error("shapes do not chain: A is [%lld, %lld], B is [%lld, %lld]", (long long)m,
                   (long long)k, (long long)B.rows, (long long)n);
    goto out;
  }
  bt = malloc(sizeof(float) * (size_t)(n * k));
  c = malloc(sizeof(float) * (size_t)(m * n));
  da = malloc(sizeof(float) * (size_t)(m * k));
  db = malloc(sizeof(float) * (size_t)(n * k));
  ref = malloc(sizeof(double) * (size_t)(m * n));
  if (!bt || !c || !da || !db || !ref) {
    rc = cli_error("out of memory");
    goto out;
  }
  /* B is quantized along K: stored transposed, [N, K]. */
  const float *bv = B.data;
  for (int64_t i = 0; i < k; i++)
    for (int64_t j = 0; j < n; j++) bt[j * k + i] = bv[i * n + j];
  if ((rc = cli_context(o.backend, &ctx)) != CLI_OK) goto out;
  cli_progress("gemm: quantizing");
  mxb_status_t s = cli_quantize(ctx, &o.cfg, f_a, A.data, m, k, &qa);
  if (s == MXB_SUCCESS) s = cli_quantize(ctx, &o.cfg, f_b, bt, n, k, &qb);
  if (s != MXB_SUCCESS) {
    rc = cli_lib_error(s, "quantize");
    goto out;
  }
  double secs = 0;
  cli_progress("gemm: multiplying [%lld, %lld] x [%lld, %lld]", (long long)m, (long long)k,
               (long long)k, (long long)n);
  mxb_backend_t backend;
  mxb_context_backend(ctx, &backend);
  if ((s = run_gemm(ctx, backend, &desc, &qa, &qb, c, &secs)) != MXB_SUCCESS) {
    rc = cli_lib_error(s, "gemm");
    goto out;
  }
  const char *impl = mxb_context_last_impl(ctx);
  cli_progress("gemm: fp64 references");
  if ((s = cli_dequantize(&qa, da)) != MXB_SUCCESS || (s = cli_dequantize(&qb, db)) != MXB_SUCCESS) {
    rc = cli_lib_error(s, "dequantize");
    goto out;
  }
  cli_progress_end();
  printf("C [%lld, %lld] = A [%lld, %lld] (%s) x B [%lld, %lld] (%s), %s mode\n", (long long)m,
         (long long)n, (long long)m, (long long)k, fa, (long long)k, (long long)n, fb ? fb : fa,
         desc.mode == MXB_GEMM_EXACT ? "exact" : "fast");
  printf("  implementation: %s, %.3f ms (%.2f GFLOP/s)\n", impl, 1e3 * secs,
         secs > 0 ? 2.0 * (double)m * (double)n * (double)k / secs * 1e-9 : 0.0);
  ref_product(A.data, bt, m, n, k, ref);
  report("fp64 product of the inputs", c, ref, (size_t)(m * n));
  ref_product(da, db, m, n, k, ref);
  report("fp64 product of dequantized operands", c, ref, (size_t)(m * n));
  if (o.out) {
    char err[512];
    int64_t shape[2] = {m, n};
    if (mxio_npy_write(o.out, MXIO_F32, 2, shape, c, err, sizeof(err)) != 0) rc = cli_error("%s", err);
  }
out:
  if (qa.t.data) cli_qtensor_free(&qa);
  if (qb.t.data) cli_qtensor_free(&qb);
  if (ctx) mxb_context_destroy(ctx);
  free(bt);
  free(c);
  free(da);
  free(db);
  free(ref);
  mxio_array_free(&A);
  mxio_array_free(&B);
  return rc;
}
