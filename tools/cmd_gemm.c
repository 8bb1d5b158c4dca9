/* mxblas gemm: quantize A [M, K] and B [K, N], multiply, and report the error
 * against the fp64 product of the unquantized inputs and against the fp64
 * product of the dequantized operands (the GEMM's own error). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifdef MXB_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

/* The error of C [M, N] against the binary64 product X [M, K] * Y [N, K]^T,
 * each reference element computed where it is compared (no M x N array). */
static void report(const char *label, const float *c, const float *x, const float *y, int64_t m, int64_t n,
                   int64_t k) {
  double num = 0, den = 0, worst = 0;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double ref = 0;
      for (int64_t l = 0; l < k; l++) ref += (double)x[i * k + l] * (double)y[j * k + l];
      double d = (double)c[i * n + j] - ref;
      num += d * d;
      den += ref * ref;
      if (fabs(d) > worst) worst = fabs(d);
    }
  printf("  vs %-36s rel. Frobenius error %.4e, max abs error %.4e\n", label,
         den > 0 ? sqrt(num / den) : sqrt(num), worst);
}

/* Byte counts that saturate instead of wrapping. */
static uint64_t sat_mul(uint64_t a, uint64_t b) { return a && b > UINT64_MAX / a ? UINT64_MAX : a * b; }
static uint64_t sat_add(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }

/* Refuse with a message when need exceeds the limit. */
static int over_limit(uint64_t need, uint64_t limit, int64_t m, int64_t n) {
  if (need <= limit) return 0;
  cli_error("gemm needs about %llu bytes of memory (the product C [%lld, %lld] alone %llu), above the "
            "--max-memory limit of %llu bytes; raise it with --max-memory SIZE (e.g. 4G)",
            (unsigned long long)need, (long long)m, (long long)n,
            (unsigned long long)sat_mul(sat_mul((uint64_t)m, (uint64_t)n), 4), (unsigned long long)limit);
  return 1;
}

int cmd_gemm(cli_opts *op, int nargs, char **files) {
  (void)nargs;
  cli_opts o = *op;
  const char *fa = o.format, *fb = o.format_b;
  mxb_gemm_desc_t desc = o.gemm;
  uint64_t limit = o.max_memory;
  if (!fa) return cli_usage("gemm needs --format F (mxblas gemm --help)");
  mxb_format_t f_a, f_b;
  if (cli_format(fa, &f_a) != 0 || cli_format(fb ? fb : fa, &f_b) != 0) return CLI_USAGE;
  mxio_array A, B;
  int rc = cli_load_f32(files[0], o.tensor_a, &A);
  if (rc != CLI_OK) return rc;
  if ((rc = cli_load_f32(files[1], o.tensor_b, &B)) != CLI_OK) {
    mxio_array_free(&A);
    return rc;
  }
  /* B is [K, N], or [N, K] with --b-layout nk (a PyTorch Linear weight). */
  int64_t m = A.rows, k = A.cols, n = o.b_nk ? B.rows : B.cols, bk = o.b_nk ? B.cols : B.rows;
  float *bt = NULL, *c = NULL, *da = NULL, *db = NULL;
  mxb_context_t *ctx = NULL;
  cli_qtensor qa = {0}, qb = {0};
  mxb_tensor_sizes_t sa = {.struct_size = sizeof(sa)}, sb = {.struct_size = sizeof(sb)};
  mxb_status_t s;
  if (bk != k) {
    rc = cli_error("shapes do not chain: A is [%lld, %lld], B is [%lld, %lld] (--b-layout %s: B is %s)",
                   (long long)m, (long long)k, (long long)B.rows, (long long)B.cols, o.b_nk ? "nk" : "kn",
                   o.b_nk ? "[N, K]" : "[K, N]");
    goto out;
  }
  if ((s = mxb_tensor_sizes(f_a, m, k, MXB_SCALE_LAYOUT_LINEAR, &sa)) != MXB_SUCCESS ||
      (s = mxb_tensor_sizes(f_b, n, k, MXB_SCALE_LAYOUT_LINEAR, &sb)) != MXB_SUCCESS) {
    rc = cli_lib_error(s, "quantize");
    goto out;
  }
  /* Everything gemm holds at once, counted before any of it is allocated:
   * A and B, B transposed, C [M, N], both operands quantized and dequantized
   * (then the workspace). Inputs of a few KiB can ask for a huge C. */
  uint64_t mn = sat_mul((uint64_t)m, (uint64_t)n), nk = sat_mul((uint64_t)n, (uint64_t)k);
  uint64_t need = A.nbytes + B.nbytes;
  need = sat_add(need, sat_mul(4, sat_add(sat_add(nk, nk), sat_add(mn, sat_mul((uint64_t)m, (uint64_t)k)))));
  need = sat_add(need, sa.data_bytes + sa.scale_bytes + sa.aux_bytes + sa.amax_bytes);
  need = sat_add(need, sb.data_bytes + sb.scale_bytes + sb.aux_bytes + sb.amax_bytes);
  if (over_limit(need, limit, m, n)) {
    rc = CLI_ERROR;
    goto out;
  }
  bt = malloc(sizeof(float) * (size_t)(n * k));
  c = malloc(sizeof(float) * (size_t)(m * n));
  da = malloc(sizeof(float) * (size_t)(m * k));
  db = malloc(sizeof(float) * (size_t)(n * k));
  if (!bt || !c || !da || !db) {
    rc = cli_error("out of memory (gemm needs about %llu bytes)", (unsigned long long)need);
    goto out;
  }
  /* B is quantized along K: stored [N, K], transposed from [K, N]. */
  const float *bv = B.data;
  if (o.b_nk)
    memcpy(bt, bv, sizeof(float) * (size_t)(n * k));
  else
    for (int64_t i = 0; i < k; i++)
      for (int64_t j = 0; j < n; j++) bt[j * k + i] = bv[i * n + j];
  if ((rc = cli_context(o.backend, &ctx)) != CLI_OK) goto out;
  cli_progress("gemm: quantizing");
  s = cli_quantize(ctx, &o.cfg, f_a, A.data, m, k, &qa);
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
  size_t ws = 0;
  if ((s = mxb_gemm_workspace_size(ctx, &desc, &qa.t, &qb.t, &ws)) != MXB_SUCCESS) {
    rc = cli_lib_error(s, "gemm");
    goto out;
  }
  if (backend == MXB_BACKEND_CPU && over_limit(sat_add(need, ws), limit, m, n)) {
    rc = CLI_ERROR;
    goto out;
  }
  if ((s = cli_gemm(ctx, &desc, &qa, &qb, c, ws, &secs)) != MXB_SUCCESS) {
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
  printf("C [%lld, %lld] = A [%lld, %lld] (%s) x B%s [%lld, %lld] (%s), %s mode\n", (long long)m,
         (long long)n, (long long)m, (long long)k, fa, o.b_nk ? "^T" : "", (long long)B.rows, (long long)B.cols,
         fb ? fb : fa, desc.mode == MXB_GEMM_EXACT ? "exact" : "fast");
  printf("  implementation: %s, %.3f ms (%.2f GFLOP/s)\n", impl, 1e3 * secs,
         secs > 0 ? 2.0 * (double)m * (double)n * (double)k / secs * 1e-9 : 0.0);
  report("fp64 product of the inputs", c, A.data, bt, m, n, k);
  report("fp64 product of dequantized operands", c, da, db, m, n, k);
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
  mxio_array_free(&A);
  mxio_array_free(&B);
  return rc;
}
