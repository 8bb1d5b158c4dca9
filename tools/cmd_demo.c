/* mxblas demo (make demo): one activation with outlier channels and one
 * weight through every recipe, BF16 first as the baseline, as a table: the
 * error of each operand and of the GEMM against the fp64 product. On a CUDA
 * device the work runs there; a step the CUDA backend refuses runs on the
 * CPU, and the table says so. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { M = 128, K = 1024, N = 512 }; /* tokens, hidden size, output features */

typedef struct recipe {
  const char *label;
  mxb_format_t fx, fw;
  int rht, w2d, sr;
  mxb_four_over_six_t four_six;
} recipe;

static const recipe k_recipes[] = {
  {"bf16 (baseline)", MXB_FORMAT_BF16, MXB_FORMAT_BF16, 0, 0, 0, MXB_FOUR_OVER_SIX_OFF},
  {"mor_1x128", MXB_FORMAT_MOR_1x128, MXB_FORMAT_MOR_1x128, 0, 0, 0, MXB_FOUR_OVER_SIX_OFF},
  {"fp8_e4m3 (tensor)", MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E4M3_TENSOR, 0, 0, 0, MXB_FOUR_OVER_SIX_OFF},
  {"fp8 1x128/128x128", MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128, 0, 0, 0, MXB_FOUR_OVER_SIX_OFF},
  {"fp8 blocks, ue8m0", MXB_FORMAT_FP8_E4M3_1x128_UE8M0, MXB_FORMAT_FP8_E4M3_128x128_UE8M0, 0, 0, 0,
   MXB_FOUR_OVER_SIX_OFF},
  {"mxfp8_e4m3", MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 0, 0, 0, MXB_FOUR_OVER_SIX_OFF},
  {"mx9", MXB_FORMAT_MX9, MXB_FORMAT_MX9, 0, 0, 0, MXB_FOUR_OVER_SIX_OFF},
  {"mx6", MXB_FORMAT_MX6, MXB_FORMAT_MX6, 0, 0, 0, MXB_FOUR_OVER_SIX_OFF},
  {"mxfp4", MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP4, 0, 0, 0, MXB_FOUR_OVER_SIX_OFF},
  {"mxfp4 + RHT", MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP4, 1, 0, 0, MXB_FOUR_OVER_SIX_OFF},
  {"nvfp4", MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 0, 0, 0, MXB_FOUR_OVER_SIX_OFF},
  {"nvfp4 + RHT", MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 1, 0, 0, MXB_FOUR_OVER_SIX_OFF},
  {"nvfp4, W 2D", MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 0, 1, 0, MXB_FOUR_OVER_SIX_OFF},
  {"nvfp4 + SR", MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 0, 0, 1, MXB_FOUR_OVER_SIX_OFF},
  {"nvfp4, 4/6 (mse)", MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 0, 0, 0, MXB_FOUR_OVER_SIX_MSE},
};
#define NRECIPES (sizeof(k_recipes) / sizeof(k_recipes[0]))

typedef struct row {
  double bits, sqnr_x, sqnr_w, gemm_err, flushed_x;
  char impl[64];
  mxb_status_t status;
  char detail[200];
} row;

/* Quantize on ctx, falling back to the CPU context where CUDA refuses. */
static mxb_status_t quantize(mxb_context_t *ctx, mxb_context_t *cpu, const mxb_quant_config_t *cfg, mxb_format_t f,
                             const float *x, int64_t rows, int64_t cols, cli_qtensor *q, int *fell_back) {
  mxb_status_t s = cli_quantize(ctx, cfg, f, x, rows, cols, q);
  if ((s == MXB_ERR_UNSUPPORTED || s == MXB_ERR_ARCH_UNSUPPORTED) && ctx != cpu) {
    *fell_back = 1;
    s = cli_quantize(cpu, cfg, f, x, rows, cols, q);
  }
  return s;
}

static double rel_error(const float *c, const double *ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < (size_t)M * N; i++) {
    double e = (double)c[i] - ref[i];
    num += e * e;
    den += ref[i] * ref[i];
  }
  return sqrt(num / den);
}

static void run(mxb_context_t *ctx, mxb_context_t *cpu, const recipe *rc, const float *x, const float *w,
                const float *xr, const float *wr, const double *ref, float *c, row *r) {
  mxb_quant_config_t cx, cw;
  mxb_quant_config_init(&cx);
  mxb_rht_init(&cx.rht);
  cx.rht.enabled = rc->rht;
  cx.rounding = rc->sr ? MXB_ROUND_SR : MXB_ROUND_RNE;
  cx.seed = 2024;
  cx.four_over_six = rc->four_six;
  cw = cx;
  cw.offset = 1; /* another Philox stream for W */
  cw.block_2d = rc->w2d;
  cli_qtensor qx = {0}, qw = {0};
  int fell_back = 0;
  mxb_error_stats_t sx = {.struct_size = sizeof(sx)}, sw = {.struct_size = sizeof(sw)};
  mxb_status_t s = quantize(ctx, cpu, &cx, rc->fx, x, M, K, &qx, &fell_back);
  if (s == MXB_SUCCESS) s = quantize(ctx, cpu, &cw, rc->fw, w, N, K, &qw, &fell_back);
  snprintf(r->impl, sizeof(r->impl), "%s", mxb_context_last_impl(fell_back ? cpu : ctx));
  /* RHT rows are measured against RHT(x), the tensor that was quantized. */
  if (s == MXB_SUCCESS) s = mxb_error_stats(rc->rht ? xr : x, &qx.t, &sx);
  if (s == MXB_SUCCESS) s = mxb_error_stats(rc->rht ? wr : w, &qw.t, &sw);
  if (s == MXB_SUCCESS) {
    /* H is orthogonal: RHT(X) RHT(W)^T = X W^T, compared with the same fp64 product. */
    mxb_gemm_desc_t desc;
    mxb_gemm_desc_init(&desc);
    size_t ws = 0;
    double secs;
    mxb_context_t *g = ctx;
    s = mxb_gemm_workspace_size(g, &desc, &qx.t, &qw.t, &ws);
    if (s == MXB_SUCCESS) s = cli_gemm(g, &desc, &qx, &qw, c, ws, &secs);
    if ((s == MXB_ERR_UNSUPPORTED || s == MXB_ERR_ARCH_UNSUPPORTED) && ctx != cpu) {
      fell_back = 1;
      g = cpu;
      if ((s = mxb_gemm_workspace_size(g, &desc, &qx.t, &qw.t, &ws)) == MXB_SUCCESS)
        s = cli_gemm(g, &desc, &qx, &qw, c, ws, &secs);
    }
    if (s == MXB_SUCCESS)
      snprintf(r->impl, sizeof(r->impl), "%s%s", mxb_context_last_impl(g), fell_back ? " (cpu fallback)" : "");
  }
  r->status = s;
  if (s != MXB_SUCCESS) {
    snprintf(r->detail, sizeof(r->detail), "%s", mxb_last_error_detail());
  } else {
    r->bits = 8.0 * (double)(qx.sizes.data_bytes + qx.sizes.scale_bytes + qx.sizes.aux_bytes + qx.sizes.amax_bytes) /
              ((double)M * K);
    r->sqnr_x = sx.sqnr_db;
    r->sqnr_w = sw.sqnr_db;
    r->flushed_x = sx.frac_flushed;
    r->gemm_err = rel_error(c, ref);
  }
  if (qx.t.data) cli_qtensor_free(&qx);
  if (qw.t.data) cli_qtensor_free(&qw);
}

int cmd_demo(cli_opts *o, int nargs, char **args) {
  (void)o;
  (void)nargs;
  (void)args;
  int ndev = 0;
  mxb_backend_t be = mxb_cuda_device_count(&ndev) == MXB_SUCCESS && ndev > 0 ? MXB_BACKEND_CUDA : MXB_BACKEND_CPU;
  mxb_context_t *ctx = NULL, *cpu = NULL;
  int rc = cli_context(MXB_BACKEND_CPU, &cpu);
  if (rc != CLI_OK) return rc;
  if (be == MXB_BACKEND_CUDA && mxb_context_create(be, 0, &ctx) != MXB_SUCCESS) be = MXB_BACKEND_CPU;
  if (be == MXB_BACKEND_CPU) ctx = cpu;
  printf("mxblas %s, %s backend (%s)\n", mxb_version_string(), be == MXB_BACKEND_CUDA ? "cuda" : "cpu",
         be == MXB_BACKEND_CUDA                    ? "CUDA device 0"
         : strstr(mxb_build_info(), "cuda=yes") ? "no CUDA device"
                                                 : "built without CUDA");
  float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K);
  float *xr = malloc(sizeof(float) * M * K), *wr = malloc(sizeof(float) * N * K);
  float *c = malloc(sizeof(float) * M * N);
  double *ref = malloc(sizeof(double) * M * N);
  row *rows = calloc(NRECIPES, sizeof(row));
  if (!x || !w || !xr || !wr || !c || !ref || !rows) {
    rc = cli_error("out of memory");
    goto out;
  }
  /* Activation: unit Gaussian with 8 outlier channels 30x larger (as LLM
   * activations have); weight [N, K] (stored along K), std 1/sqrt(K). */
  uint64_t seed = 42;
  for (int i = 0; i < M; i++)
    for (int k = 0; k < K; k++) x[i * K + k] = (float)(cli_gauss(&seed) * ((k % 128 == 3) ? 30.0 : 1.0));
  for (int i = 0; i < N * K; i++) w[i] = (float)(cli_gauss(&seed) / 32.0);
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double s = 0;
      for (int k = 0; k < K; k++) s += (double)x[i * K + k] * (double)w[j * K + k];
      ref[i * N + j] = s;
    }
  mxb_rht_t rht;
  mxb_rht_init(&rht);
  rht.enabled = 1;
  mxb_status_t s = mxb_rht(cpu, &rht, 0, MXB_AXIS_COLS, M, K, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, xr, NULL);
  if (s == MXB_SUCCESS) s = mxb_rht(cpu, &rht, 0, MXB_AXIS_COLS, N, K, MXB_DTYPE_FP32, w, MXB_DTYPE_FP32, wr, NULL);
  if (s != MXB_SUCCESS) {
    rc = cli_lib_error(s, "the Hadamard transform");
    goto out;
  }
  printf("X [%d, %d]: activations, unit normal, 8 outlier channels x30. W [%d, %d]: weights, std 1/32.\n"
         "C = X W^T, compared with the fp64 product of the unquantized X and W.\n\n",
         M, K, N, K);
  printf("%-19s %7s %8s %8s %9s %9s  %s\n", "recipe", "bits/el", "X dB", "W dB", "GEMM err", "X flushed",
         "implementation");
  int failed = 0;
  for (size_t k = 0; k < NRECIPES; k++) {
    cli_progress("demo: %s", k_recipes[k].label);
    run(ctx, cpu, &k_recipes[k], x, w, xr, wr, ref, c, &rows[k]);
    cli_progress_end();
    const row *r = &rows[k];
    printf("%-19s ", k_recipes[k].label);
    if (r->status != MXB_SUCCESS) {
      printf("error: %s: %s\n", mxb_status_string(r->status), r->detail);
      failed = 1;
      continue;
    }
    printf("%7.2f %8.2f %8.2f %8.3f%% %8.3f%%  %s\n", r->bits, r->sqnr_x, r->sqnr_w, 100 * r->gemm_err,
           100 * r->flushed_x, r->impl);
    fflush(stdout);
  }
  const row *nv = &rows[0], *bf = &rows[0];
  for (size_t k = 0; k < NRECIPES; k++)
    if (!strcmp(k_recipes[k].label, "nvfp4")) nv = &rows[k];
  printf("\nbits/el    stored bits per element of X, block scales and tensor amax included\n"
         "X dB, W dB SQNR of the quantized operand, 10 log10(sum x^2 / sum (x - q)^2): higher is\n"
         "           better, about 6 dB per bit of precision (RHT rows: of RHT(x), the tensor quantized)\n"
         "GEMM err   relative Frobenius error of C against the fp64 product of the unquantized inputs\n"
         "X flushed  non-zero values of X that decode to 0: small values in a block whose scale an\n"
         "           outlier set (the outlier channels here)\n"
         "RHT: random Hadamard transform along K (d = 16); 2D: 16x16 block scales for W; SR:\n"
         "stochastic rounding (unbiased, noisier); 4/6: Four Over Six, each block's amax mapped to 4\n"
         "or 6, whichever errs less; mor: FP8 or BF16 chosen per 1x128 block, each element in a\n"
         "16-bit slot; ue8m0: FP8 blocks whose scales are powers of two, one byte each (an outlier\n"
         "no longer lands exactly on 448, so X loses what exact fp32 scales gained).\n");
  if (nv->status == MXB_SUCCESS && bf->status == MXB_SUCCESS) {
    /* SQNR s dB is a relative error of 10^(-s/20); independent errors of X
     * and W add in quadrature in the product. */
    double ex = pow(10, -nv->sqnr_x / 20), ew = pow(10, -nv->sqnr_w / 20);
    printf("\nThe NVFP4 error is expected: an E2M1 element holds 8 magnitudes (0, 0.5, 1, 1.5, 2, 3, 4, 6)\n"
           "under a shared scale, so X keeps %.1f dB (a relative error of %.1f%%) and W %.1f dB (%.1f%%);\n"
           "their errors add in the product, sqrt(%.1f^2 + %.1f^2) = %.1f%%, measured %.1f%% (BF16: %.2f%%).\n"
           "Training recipes use NVFP4 with RHT, 2D weight scales and SR for gradients, and keep\n"
           "sensitive layers in higher precision.\n",
           nv->sqnr_x, 100 * ex, nv->sqnr_w, 100 * ew, 100 * ex, 100 * ew, 100 * hypot(ex, ew), 100 * nv->gemm_err,
           100 * bf->gemm_err);
  }
  printf("\nYour own tensors: mxblas analyze your.safetensors (every 2-D weight, each format;\n"
         "--sort=sqnr worst first, --plots DIR for SVG plots; see docs/CLI.md).\n");
  rc = failed ? CLI_ERROR : CLI_OK;
out:
  if (ctx && ctx != cpu) mxb_context_destroy(ctx);
  mxb_context_destroy(cpu);
  free(x);
  free(w);
  free(xr);
  free(wr);
  free(c);
  free(ref);
  free(rows);
  return rc;
}
