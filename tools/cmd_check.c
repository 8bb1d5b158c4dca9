/* mxblas check: the NUMERICS 9 golden vectors, or two result files compared
 * bit for bit (or within --max-abs). Exit 1 on any mismatch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* One block through quantize + dequantize; values from NUMERICS 9 (unlisted
 * block positions are 0, which changes no amax). */
typedef struct golden {
  const char *what;
  mxb_format_t format;
  mxb_scale_rule_t rule;
  int n;
  float in[16];
  float want[16];
  int scale; /* expected first scale byte, -1: not checked */
} golden;

static const golden k_golden[] = {
  {"MX E4M3 block, FLOOR", MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_RULE_FLOOR, 8,
   {485, 475, 400, -485, -475, -450, 0x1p-6f, -0x1p-6f},
   {448, 448, 384, -448, -448, -448, 0x1p-6f, -0x1p-6f}, 127},
  {"MX E4M3 block, RCEIL", MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_RULE_RCEIL, 8,
   {485, 475, 400, -485, -475, -450, 0x1p-6f, -0x1p-6f},
   {480, 480, 384, -480, -480, -448, 0x1p-6f, -0x1p-6f}, 128},
  {"MX E2M1 block, FLOOR", MXB_FORMAT_MXFP4, MXB_SCALE_RULE_FLOOR, 4, {7, 1, 0.26f, 0.25f},
   {6, 1, 0.5f, 0}, 127},
  {"MX E2M1 block, RCEIL", MXB_FORMAT_MXFP4, MXB_SCALE_RULE_RCEIL, 4, {7, 1, 0.26f, 0.25f},
   {8, 1, 0, 0}, 128},
  /* Scale 1 (FLOOR, amax in [4, 8) for E2M1): the E2M1 ties of 2.1. */
  {"E2M1 ties", MXB_FORMAT_MXFP4, MXB_SCALE_RULE_FLOOR, 9,
   {6, 0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f, -0.25f},
   {6, 0, 1, 1, 2, 2, 4, 4, -0.0f}, 127},
  /* Scale 1 (FLOOR, amax in [256, 512) for E4M3): the E4M3 edges of 2.1. */
  {"E4M3 edges", MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_RULE_FLOOR, 5,
   {464, 0x1p-10f, 0x1.000002p-10f, 0x1.8p-9f, -0x1p-10f},
   {448, 0, 0x1p-9f, 0x1p-8f, -0.0f}, 127},
  {"NVFP4, amax 0 and -0.0", MXB_FORMAT_NVFP4, MXB_SCALE_RULE_RCEIL, 2, {-0.0f, 0}, {-0.0f, 0}, 0},
};

/* MX9/MX6/MX4 golden block of NUMERICS 4.3: E = 128, pair microexponents mu,
 * signed magnitudes SM; decoded value = SM * 2^(E - 127 - mu + 1 - m). */
static const float k_bdr_in[16] = {3.3f, -0.7f, 1.01f, 0.9f, 0.49f, 0.12f, -2.9f, 0,
                                   0.26f, 0.3f, 1.99f, -1.5f, 0.05f, 0.02f, 3.99f, 2.5f};
static const int k_bdr_mu[8] = {0, 1, 1, 0, 1, 1, 1, 0};
static const struct {
  mxb_format_t format;
  int m;
  int sm[16];
} k_bdr[] = {
  {MXB_FORMAT_MX9, 7, {106, -22, 65, 58, 31, 8, -93, 0, 17, 19, 127, -96, 3, 1, 127, 80}},
  {MXB_FORMAT_MX6, 4, {13, -3, 8, 7, 4, 1, -12, 0, 2, 2, 15, -12, 0, 0, 15, 10}},
  {MXB_FORMAT_MX4, 2, {3, -1, 2, 2, 1, 0, -3, 0, 1, 1, 3, -3, 0, 0, 3, 2}},
};

static int same_bits(float a, float b) { return memcmp(&a, &b, 4) == 0; }

/* Quantize in[0..n) padded with zeros to one block row; compare decoded
 * values, the scale byte and the microexponent byte. */
static int run_case(cli_report *rep, mxb_context_t *ctx, const char *what, mxb_format_t f, mxb_scale_rule_t rule,
                    const float *in, const float *want, int n, int scale, int mu_byte) {
  float x[32] = {0}, y[32];
  memcpy(x, in, sizeof(float) * (size_t)n);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.scale_rule = rule;
  mxb_format_info_t fi = {.struct_size = sizeof(fi)};
  mxb_format_info(f, &fi);
  int cols = fi.block_cols;
  cli_qtensor q;
  mxb_status_t s = cli_quantize(ctx, &cfg, f, x, 1, cols, &q);
  rep->impl = mxb_context_last_impl(ctx);
  if (s == MXB_SUCCESS) s = cli_dequantize(&q, y);
  if (s != MXB_SUCCESS) {
    int st = s == MXB_ERR_UNSUPPORTED || s == MXB_ERR_ARCH_UNSUPPORTED ? CLI_CASE_SKIPPED : CLI_CASE_ERROR;
    if (q.t.data) cli_qtensor_free(&q);
    return cli_report_add(rep, what, st, "%s: %s", mxb_status_string(s), mxb_last_error_detail());
  }
  char msg[256] = "";
  for (int i = 0; i < n && !msg[0]; i++)
    if (!same_bits(y[i], want[i])) snprintf(msg, sizeof(msg), "element %d: got %a, want %a", i, y[i], want[i]);
  const uint8_t *sc = q.t.scales, *aux = q.t.aux;
  if (!msg[0] && scale >= 0 && sc && sc[0] != scale)
    snprintf(msg, sizeof(msg), "scale byte %d, want %d", sc[0], scale);
  if (!msg[0] && mu_byte >= 0 && (!aux || aux[0] != mu_byte))
    snprintf(msg, sizeof(msg), "microexponent byte 0x%02x, want 0x%02x", aux ? aux[0] : 0, mu_byte);
  cli_qtensor_free(&q);
  return cli_report_add(rep, what, msg[0] ? CLI_CASE_FAIL : CLI_CASE_PASS, "%s", msg);
}

static int check_golden(const cli_opts *o) {
  mxb_context_t *ctx;
  int rc = cli_context(o->backend, &ctx);
  if (rc != CLI_OK) return rc;
  cli_report rep = {.suite = "golden"};
  for (size_t k = 0; k < sizeof(k_golden) / sizeof(k_golden[0]) && rc == CLI_OK; k++) {
    const golden *g = &k_golden[k];
    rc = run_case(&rep, ctx, g->what, g->format, g->rule, g->in, g->want, g->n, g->scale, -1);
  }
  int mu_byte = 0;
  for (int j = 0; j < 8; j++) mu_byte |= k_bdr_mu[j] << j;
  for (size_t k = 0; k < sizeof(k_bdr) / sizeof(k_bdr[0]) && rc == CLI_OK; k++) {
    float want[16];
    for (int i = 0; i < 16; i++)
      want[i] = ldexpf((float)k_bdr[k].sm[i], 128 - 127 - k_bdr_mu[i / 2] + 1 - k_bdr[k].m);
    mxb_format_info_t fi = {.struct_size = sizeof(fi)};
    mxb_format_info(k_bdr[k].format, &fi);
    char what[64];
    snprintf(what, sizeof(what), "%s golden block", fi.name);
    rc = run_case(&rep, ctx, what, k_bdr[k].format, MXB_SCALE_RULE_RCEIL, k_bdr_in, want, 16, 128, mu_byte);
  }
  if (rc == CLI_OK) rc = cli_report_finish(&rep, o);
  cli_report_free(&rep);
  mxb_context_destroy(ctx);
  return rc;
}

/* Compare two arrays; returns the number of mismatches. */
static int64_t compare(const char *label, const mxio_array *a, const mxio_array *b, double tol,
                       int use_tol) {
  if (a->ndim != b->ndim || memcmp(a->shape, b->shape, sizeof(int64_t) * (size_t)a->ndim) != 0) {
    printf("%s: shapes differ\n", label);
    return 1;
  }
  if (!use_tol || a->dtype == MXIO_U8) {
    if (a->dtype != b->dtype) {
      printf("%s: dtypes differ (%s vs %s)\n", label, mxio_dtype_name(a->dtype), mxio_dtype_name(b->dtype));
      return 1;
    }
    size_t es = mxio_dtype_size(a->dtype), n = a->nbytes / es;
    int64_t bad = 0, first = -1;
    for (size_t i = 0; i < n; i++)
      if (memcmp((const char *)a->data + i * es, (const char *)b->data + i * es, es) != 0) {
        if (first < 0) first = (int64_t)i;
        bad++;
      }
    if (bad)
      printf("%s: %lld of %zu elements differ in their bits (first at index %lld)\n", label,
             (long long)bad, n, (long long)first);
    else
      printf("%s: %zu elements bit-identical\n", label, n);
    return bad;
  }
  const float *x = a->data, *y = b->data;
  size_t n = a->nbytes / 4;
  int64_t bad = 0, first = -1;
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)x[i] - (double)y[i]);
    int ok = (isnan(x[i]) && isnan(y[i])) || x[i] == y[i] || d <= tol;
    if (!isnan(d) && d > worst) worst = d;
    if (!ok) {
      if (first < 0) first = (int64_t)i;
      bad++;
    }
  }
  if (bad)
    printf("%s: %lld of %zu elements differ by more than %g (first at index %lld: %.9g vs %.9g), max |diff| %.3e\n",
           label, (long long)bad, n, tol, (long long)first, x[first], y[first], worst);
  else
    printf("%s: %zu elements within %g (max |diff| %.3e)\n", label, n, tol, worst);
  return bad;
}

/* One tensor of a safetensors file already open. */
static int read_named(const mxio_src *s, const mxio_st *st, const char *path, const char *name, mxio_array *a) {
  char err[512];
  const mxio_st_tensor *t = mxio_st_find(st, name);
  if (!t) return cli_error("%s: no tensor named '%s'", path, name);
  if (mxio_st_read(s, st, t, a, err, sizeof(err)) != 0) return cli_error("%s: %s", path, err);
  return CLI_OK;
}

/* Compare the .npy arrays, the --tensor tensors, or every tensor of A with
 * its namesake in B (each header parsed once). */
static int check_files(const char *pa, const char *pb, const char *tensor, double tol, int use_tol) {
  char err[512];
  const char *path[2] = {pa, pb};
  mxio_src s[2] = {{0}};
  mxio_st st[2] = {{0}};
  int multi = 0, rc = CLI_OK;
  if (mxio_src_file(&s[0], pa, err, sizeof(err)) != 0) return cli_error("%s", err);
  uint8_t magic[6] = {0};
  if (!tensor && s[0].size >= 8 && mxio_src_read(&s[0], 0, magic, 6, "magic", err, sizeof(err)) == 0 &&
      memcmp(magic, "\x93NUMPY", 6) != 0) {
    multi = 1;
    for (int f = 0; f < 2 && rc == CLI_OK; f++) {
      if (f == 1 && mxio_src_file(&s[1], pb, err, sizeof(err)) != 0)
        rc = cli_error("%s", err);
      else if (mxio_st_open(&s[f], &st[f], err, sizeof(err)) != 0)
        rc = cli_error("%s: %s", path[f], err);
    }
  }
  int n = multi ? st[0].ntensors : 1;
  int64_t bad = 0;
  for (int k = 0; k < n && rc == CLI_OK; k++) {
    const char *name = multi ? st[0].tensors[k].name : tensor;
    char label[256];
    mxio_array a = {0}, b = {0};
    if (multi) {
      if ((rc = read_named(&s[0], &st[0], pa, name, &a)) == CLI_OK) rc = read_named(&s[1], &st[1], pb, name, &b);
    } else if (mxio_load(pa, name, &a, err, sizeof(err)) != 0 || mxio_load(pb, name, &b, err, sizeof(err)) != 0) {
      rc = cli_error("%s", err);
    }
    if (rc == CLI_OK && use_tol && a.dtype != MXIO_U8 &&
        (mxio_array_to_f32(&a, err, sizeof(err)) != 0 || mxio_array_to_f32(&b, err, sizeof(err)) != 0))
      rc = cli_error("%s", err);
    else if (rc == CLI_OK)
      bad += compare(name ? mxio_escaped(name, MXIO_ESC_TEXT, label, sizeof(label)) : "array", &a, &b, tol,
                     use_tol);
    mxio_array_free(&a);
    mxio_array_free(&b);
  }
  for (int f = 0; f < 2; f++) {
    mxio_st_free(&st[f]);
    mxio_src_close(&s[f]);
  }
  if (rc != CLI_OK) return rc;
  return bad ? CLI_MISMATCH : CLI_OK;
}

int cmd_check(cli_opts *o, int nargs, char **args) {
  int golden = nargs == 1 && !strcmp(args[0], "golden"), corpus = nargs == 2 && !strcmp(args[0], "corpus");
  if (nargs == 1 && !golden) return cli_usage("check: '%s' is not 'golden' (or give two files A B)", args[0]);
  /* Options for one form of check are refused by the others. */
  if ((golden || corpus) && (o->use_max_abs || o->tensor))
    return cli_usage("check %s: --max-abs and --tensor apply to check A B", args[0]);
  if (!golden && !corpus && (o->json || o->junit || o->backend != MXB_BACKEND_CPU || o->results))
    return cli_usage("check A B: --json, --junit, --backend and --results apply to check golden and check corpus");
  if (golden && o->results) return cli_usage("check golden: --results applies to check corpus");
  if (corpus && o->results && o->backend != MXB_BACKEND_CPU)
    return cli_usage("check corpus --results compares files; --backend applies to a run of this build");
  if (golden) return check_golden(o);
  if (corpus) return check_corpus(o, args[1]);
  return check_files(args[0], args[1], o->tensor, o->max_abs, o->use_max_abs);
}
