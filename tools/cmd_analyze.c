/* mxblas analyze: the NUMERICS 8 statistics of one tensor in several formats,
 * side by side, with and without the random Hadamard transform. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_RUNS 64
static const char k_default_formats[] = "nvfp4,mxfp8_e4m3,mxfp4,mx6,mx9,fp8_e4m3";

typedef struct run {
  mxb_format_t format;
  const char *name;
  int rht;
  mxb_status_t status;
  char detail[256];
  double bits; /* stored bits per element, scales included */
  mxb_error_stats_t st;
} run;

/* JSON has no NaN/Inf: write null. */
static void jnum(const char *key, double v, int comma) {
  if (isfinite(v))
    printf("\"%s\": %.17g%s", key, v, comma ? ", " : "");
  else
    printf("\"%s\": null%s", key, comma ? ", " : "");
}

/* A JSON string of any text (paths and names need not be UTF-8). */
static void jstr(const char *s) {
  putchar('"');
  mxio_put_escaped(stdout, s, MXIO_ESC_JSON);
  putchar('"');
}

static void print_json(const char *path, const char *tensor, int64_t rows, int64_t cols,
                       const run *r, int n) {
  printf("{\"file\": ");
  jstr(path);
  printf(", \"tensor\": ");
  if (tensor)
    jstr(tensor);
  else
    printf("null");
  printf(", \"rows\": %lld, \"cols\": %lld, \"results\": [", (long long)rows, (long long)cols);
  for (int k = 0; k < n; k++) {
    const mxb_error_stats_t *s = &r[k].st;
    printf("%s\n  {\"format\": \"%s\", \"rht\": %s, ", k ? "," : "", r[k].name, r[k].rht ? "true" : "false");
    if (r[k].status != MXB_SUCCESS) {
      printf("\"error\": \"%s: ", mxb_status_string(r[k].status));
      mxio_put_escaped(stdout, r[k].detail, MXIO_ESC_JSON);
      printf("\"}");
      continue;
    }
    jnum("bits_per_element", r[k].bits, 1);
    printf("\"count\": %lld, ", (long long)s->count);
    jnum("mse", s->mse, 1);
    jnum("rmse", s->rmse, 1);
    jnum("nmse", s->nmse, 1);
    jnum("sqnr_db", s->sqnr_db, 1);
    jnum("max_abs_err", s->max_abs_err, 1);
    jnum("max_rel_err", s->max_rel_err, 1);
    jnum("cosine", s->cosine, 1);
    jnum("frac_flushed", s->frac_flushed, 1);
    jnum("frac_saturated", s->frac_saturated, 1);
    printf("\"nonfinite\": %lld, \"blocks\": %lld, ", (long long)s->nonfinite, (long long)s->blocks);
    jnum("scale_min", s->scale_min, 1);
    jnum("scale_p01", s->scale_p01, 1);
    jnum("scale_p50", s->scale_p50, 1);
    jnum("scale_p99", s->scale_p99, 1);
    jnum("scale_max", s->scale_max, 1);
    printf("\"scale_code_hist\": {");
    for (int c = 0, first = 1; c < 256; c++)
      if (s->scale_code_hist[c]) {
        printf("%s\"%d\": %llu", first ? "" : ", ", c, (unsigned long long)s->scale_code_hist[c]);
        first = 0;
      }
    printf("}}");
  }
  printf("\n]}\n");
}

/* The table for people: the statistics that tell formats apart. max_rel_err
 * is 1 as soon as one value flushes, and RMSE repeats NMSE in absolute units;
 * both (and the rest) are in --json. */
static void print_table(const char *path, const char *tensor, int64_t rows, int64_t cols,
                        const run *r, int n) {
  mxio_put_escaped(stdout, path, MXIO_ESC_TEXT);
  if (tensor) {
    putchar(':');
    mxio_put_escaped(stdout, tensor, MXIO_ESC_TEXT);
  }
  printf(": [%lld, %lld], %lld values\n\n", (long long)rows, (long long)cols, (long long)(rows * cols));
  printf("%-16s %-3s %7s %7s %9s %9s %9s %8s %8s  %s\n", "format", "rht", "bits/el", "SQNR dB",
         "NMSE", "cosine", "max abs", "flushed", "clipped", "block scale min / median / max");
  for (int k = 0; k < n; k++) {
    const mxb_error_stats_t *s = &r[k].st;
    printf("%-16s %-3s ", r[k].name, r[k].rht ? "yes" : "no");
    if (r[k].status != MXB_SUCCESS) {
      printf("error: %s: ", mxb_status_string(r[k].status));
      mxio_put_escaped(stdout, r[k].detail, MXIO_ESC_TEXT);
      putchar('\n');
      continue;
    }
    printf("%7.3f %7.2f %9.3e %9.6f %9.3e %7.3f%% %7.3f%%  %.3e / %.3e / %.3e\n", r[k].bits,
           s->sqnr_db, s->nmse, s->cosine, s->max_abs_err, 100.0 * s->frac_flushed,
           100.0 * s->frac_saturated, s->scale_min, s->scale_p50, s->scale_max);
  }
  printf("\nbits/el: stored bits per element, scales included. flushed: non-zero values that\n"
         "decode to 0. clipped: values the element range saturated. Rows with rht=yes are\n"
         "measured against RHT(x) (d=16, signs 0xD7E8), the tensor that was quantized: SQNR,\n"
         "NMSE and cosine compare with the other rows, max abs does not. --json: every statistic.\n");
}

/* One format/transform: quantize and measure. */
static void analyze_one(mxb_context_t *ctx, const mxb_quant_config_t *base, const float *x,
                        const float *xr, int64_t rows, int64_t cols, run *r) {
  mxb_quant_config_t cfg = *base;
  cfg.rht.enabled = r->rht;
  cli_qtensor q;
  r->status = cli_quantize(ctx, &cfg, r->format, x, rows, cols, &q);
  if (r->status == MXB_SUCCESS) {
    r->bits = 8.0 * (double)(q.sizes.data_bytes + q.sizes.scale_bytes + q.sizes.aux_bytes +
                             q.sizes.amax_bytes) / ((double)rows * (double)cols);
    r->st.struct_size = sizeof(r->st);
    /* The quantizer applied RHT itself; the reference is RHT(x). */
    r->status = mxb_error_stats(r->rht ? xr : x, &q.t, &r->st);
    cli_qtensor_free(&q);
  }
  if (r->status != MXB_SUCCESS) snprintf(r->detail, sizeof(r->detail), "%s", mxb_last_error_detail());
}

int cmd_analyze(int argc, char **argv) {
  cli_opts o;
  cli_opts_init(&o);
  const char *in = NULL, *formats = k_default_formats;
  int rht_mode = 0; /* 0: without, 1: both, 2: only with */
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--rht")) {
      rht_mode = 1;
      if (i + 1 < argc && !strcmp(argv[i + 1], "both")) i++;
      continue;
    }
    if (!strcmp(argv[i], "--rht-only")) {
      rht_mode = 2;
      continue;
    }
    int r = cli_opt(&o, argc, argv, &i);
    if (r < 0) return CLI_USAGE;
    if (r > 0) continue;
    if (!strcmp(argv[i], "--formats")) {
      if (!(formats = cli_value(argc, argv, &i))) return CLI_USAGE;
    } else if (argv[i][0] == '-' || in) {
      return cli_usage("analyze: unexpected argument '%s'", argv[i]);
    } else {
      in = argv[i];
    }
  }
  if (!in) return cli_usage("usage: mxblas analyze IN [--formats a,b,...] [--rht|--rht-only] [--json]");
  static run runs[MAX_RUNS];
  int n = 0;
  char list[512];
  snprintf(list, sizeof(list), "%s", formats);
  for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
    mxb_format_t f;
    if (cli_format(tok, &f) != 0) return CLI_USAGE;
    for (int t = rht_mode == 2 ? 1 : 0; t <= (rht_mode ? 1 : 0); t++) {
      if (n == MAX_RUNS) return cli_usage("too many formats (at most %d runs)", MAX_RUNS);
      mxb_format_info_t fi = {.struct_size = sizeof(fi)};
      mxb_format_info(f, &fi);
      runs[n] = (run){.format = f, .name = fi.name, .rht = t};
      n++;
    }
  }
  mxio_array a;
  int rc = cli_load_f32(in, o.tensor, &a);
  if (rc != CLI_OK) return rc;
  mxb_context_t *ctx = NULL;
  float *xr = NULL;
  if ((rc = cli_context(o.backend, &ctx)) != CLI_OK) goto out;
  if (rht_mode) {
    /* RHT(x) on the host: the reference the RHT runs are measured against. */
    mxb_context_t *cpu;
    mxb_rht_t rht = o.cfg.rht;
    rht.enabled = 1;
    size_t bytes = (size_t)a.rows * (size_t)a.cols * sizeof(float);
    mxb_status_t s = (xr = malloc(bytes)) ? mxb_context_create(MXB_BACKEND_CPU, 0, &cpu)
                                           : cli_status(MXB_ERR_ALLOC, "out of memory for RHT(x), %zu bytes", bytes);
    if (s == MXB_SUCCESS) {
      s = mxb_rht(cpu, &rht, 0, MXB_AXIS_COLS, a.rows, a.cols, MXB_DTYPE_FP32, a.data, MXB_DTYPE_FP32, xr, NULL);
      mxb_context_destroy(cpu);
    }
    if (s != MXB_SUCCESS) {
      rc = cli_lib_error(s, "the Hadamard transform");
      goto out;
    }
  }
  int failed = 0;
  for (int k = 0; k < n; k++) {
    cli_progress("analyze: %s%s (%d/%d)", runs[k].name, runs[k].rht ? " + RHT" : "", k + 1, n);
    /* The quantizer applies RHT itself, from x. */
    mxb_quant_config_t cfg = o.cfg;
    analyze_one(ctx, &cfg, a.data, xr, a.rows, a.cols, &runs[k]);
    failed |= runs[k].status != MXB_SUCCESS;
  }
  cli_progress_end();
  if (o.json)
    print_json(in, o.tensor, a.rows, a.cols, runs, n);
  else
    print_table(in, o.tensor, a.rows, a.cols, runs, n);
  rc = failed ? CLI_ERROR : CLI_OK;
out:
  free(xr);
  if (ctx) mxb_context_destroy(ctx);
  mxio_array_free(&a);
  return rc;
}
