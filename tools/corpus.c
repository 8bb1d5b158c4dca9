/* The conformance corpus: golden vector files made by the CPU reference
 * (mxblas corpus DIR), and mxblas check corpus DIR, which runs this build on
 * them or compares another implementation's output files with them.
 *
 * DIR/manifest.json lists the cases; DIR/cases/NAME.safetensors holds one
 * case, self-described by its metadata:
 *   quantize: "input" F32 [rows, cols]; the expected planes "data", "scales",
 *             "aux", "amax" (those the format has) and "dequantized" F32
 *             [rows, cols], the planes decoded.
 *   gemm:     the quantized operands "a.data", "a.scales", ... and "b.*"
 *             (B stored [N, K]), the inputs "a_input", "b_input", and the
 *             expected "c" F32 [M, N] of the exact-mode GEMM C = A B^T.
 * See docs/CLI.md. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

enum { OP_QUANTIZE = 0, OP_GEMM = 1 };
enum { IN_NORMAL = 0, IN_NONFINITE = 1 };

typedef struct ccase {
  char name[80];
  int op, input;
  mxb_format_t fa, fb;
  int64_t rows, cols, n; /* quantize: [rows, cols]; gemm: M = rows, K = cols, N = n */
  mxb_quant_config_t cfg;
} ccase;

static const char *k_rules[] = {"rceil", "floor", "ceil", "even"};
static const char *k_planes[4] = {"data", "scales", "aux", "amax"};

static const char *fname(mxb_format_t f) {
  mxb_format_info_t fi = {.struct_size = sizeof(fi)};
  return mxb_format_info(f, &fi) == MXB_SUCCESS ? fi.name : "?";
}

/* ------------------------------------------------------------ the cases */
static ccase *add(ccase *c, int *n, int op, int input, mxb_format_t fa, mxb_format_t fb, int64_t rows, int64_t cols,
                  const char *suffix) {
  ccase *k = &c[(*n)++];
  memset(k, 0, sizeof(*k));
  k->op = op;
  k->input = input;
  k->fa = fa;
  k->fb = fb;
  k->rows = rows;
  k->cols = cols;
  k->n = 16;
  mxb_quant_config_init(&k->cfg);
  mxb_rht_init(&k->cfg.rht);
  if (op == OP_GEMM)
    snprintf(k->name, sizeof(k->name), "gemm_%s_x_%s", fname(fa), fname(fb));
  else
    snprintf(k->name, sizeof(k->name), "%s%s%s", fname(fa), suffix[0] ? "_" : "", suffix);
  return k;
}

/* Rows of a case: small enough to commit (the corpus is about 1 MB), more
 * than one block row; 2D cases hold two 16x16 tile rows. */
enum { ROWS = 8, ROWS_2D = 32 };

/* Every format, then each option on the formats that offer it. */
static int build_cases(ccase *c) {
  int n = 0;
  ccase *k;
  for (int f = MXB_FORMAT_BF16; f < MXB_FORMAT_COUNT; f++) add(c, &n, OP_QUANTIZE, IN_NORMAL, f, f, ROWS, 128, "rne");
  static const mxb_format_t mx[] = {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP6_E3M2,
                                    MXB_FORMAT_MXFP6_E2M3, MXB_FORMAT_MXFP4, MXB_FORMAT_MXINT8};
  for (size_t i = 0; i < sizeof(mx) / sizeof(mx[0]); i++)
    for (int r = MXB_SCALE_RULE_FLOOR; r <= MXB_SCALE_RULE_EVEN; r++) {
      char sfx[16];
      snprintf(sfx, sizeof(sfx), "rule_%s", k_rules[r]);
      add(c, &n, OP_QUANTIZE, IN_NORMAL, mx[i], mx[i], ROWS, 128, sfx)->cfg.scale_rule = (mxb_scale_rule_t)r;
    }
  static const mxb_format_t sr[] = {MXB_FORMAT_NVFP4,       MXB_FORMAT_MXFP8_E4M3,      MXB_FORMAT_MXFP8_E5M2,
                                    MXB_FORMAT_MXFP6_E2M3,  MXB_FORMAT_MXFP4,           MXB_FORMAT_MXINT8,
                                    MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128,
                                    MXB_FORMAT_FP8_E4M3_1x128_UE8M0};
  for (size_t i = 0; i < sizeof(sr) / sizeof(sr[0]); i++) {
    k = add(c, &n, OP_QUANTIZE, IN_NORMAL, sr[i], sr[i], ROWS, 128, "sr_seed1234");
    k->cfg.rounding = MXB_ROUND_SR;
    k->cfg.seed = 1234;
  }
  k = add(c, &n, OP_QUANTIZE, IN_NORMAL, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, ROWS, 128, "sr_seed1234_offset5");
  k->cfg.rounding = MXB_ROUND_SR;
  k->cfg.seed = 1234;
  k->cfg.offset = 5;
  static const mxb_format_t rht[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP8_E4M3,
                                     MXB_FORMAT_FP8_E4M3_1x128};
  for (size_t i = 0; i < sizeof(rht) / sizeof(rht[0]); i++)
    add(c, &n, OP_QUANTIZE, IN_NORMAL, rht[i], rht[i], ROWS, 128, "rht")->cfg.rht.enabled = 1;
  add(c, &n, OP_QUANTIZE, IN_NORMAL, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, ROWS_2D, 128, "2d")->cfg.block_2d = 1;
  add(c, &n, OP_QUANTIZE, IN_NORMAL, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 64, 128, "2d")->cfg.block_2d = 1;
  k = add(c, &n, OP_QUANTIZE, IN_NORMAL, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, ROWS_2D, 128, "2d_sr_seed1234");
  k->cfg.block_2d = 1;
  k->cfg.rounding = MXB_ROUND_SR;
  k->cfg.seed = 1234;
  static const mxb_format_t p2[] = {MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E4M3_1x128,
                                    MXB_FORMAT_FP8_E4M3_128x128, MXB_FORMAT_FP8_E5M2_1x128};
  for (size_t i = 0; i < sizeof(p2) / sizeof(p2[0]); i++)
    add(c, &n, OP_QUANTIZE, IN_NORMAL, p2[i], p2[i], ROWS, 128, "pow2_scale")->cfg.fp8_pow2_scale = 1;
  static const mxb_format_t nf[] = {MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4,
                                    MXB_FORMAT_MX9, MXB_FORMAT_FP8_E4M3_TENSOR};
  for (size_t i = 0; i < sizeof(nf) / sizeof(nf[0]); i++) {
    add(c, &n, OP_QUANTIZE, IN_NONFINITE, nf[i], nf[i], ROWS, 128, "nonfinite_nan_block");
    add(c, &n, OP_QUANTIZE, IN_NONFINITE, nf[i], nf[i], ROWS, 128, "nonfinite_saturate")->cfg.nonfinite =
        MXB_NONFINITE_SATURATE;
  }
  static const mxb_format_t tail[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, MXB_FORMAT_MX6,
                                      MXB_FORMAT_FP8_E4M3_1x128};
  for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
    add(c, &n, OP_QUANTIZE, IN_NORMAL, tail[i], tail[i], 5, 100, "tail_5x100");
  /* the compatibility profiles (docs/COMPAT.md), each on its formats, NaN/Inf on some */
  static const struct {
    mxb_compat_t c;
    mxb_format_t f;
    int nonfinite;
  } cp[] = {
    {MXB_COMPAT_TE, MXB_FORMAT_NVFP4, 1},           {MXB_COMPAT_TE, MXB_FORMAT_MXFP8_E4M3, 1},
    {MXB_COMPAT_TE, MXB_FORMAT_MXFP8_E5M2, 0},      {MXB_COMPAT_TORCHAO, MXB_FORMAT_NVFP4, 0},
    {MXB_COMPAT_TORCHAO, MXB_FORMAT_MXFP8_E4M3, 0}, {MXB_COMPAT_TORCHAO, MXB_FORMAT_MXFP6_E2M3, 0},
    {MXB_COMPAT_TORCHAO, MXB_FORMAT_MXFP4, 1},      {MXB_COMPAT_TORCHAO_RCEIL, MXB_FORMAT_MXFP8_E4M3, 0},
    {MXB_COMPAT_TORCHAO_RCEIL, MXB_FORMAT_MXFP4, 0}, {MXB_COMPAT_MICROXCALING, MXB_FORMAT_MXFP8_E4M3, 1},
    {MXB_COMPAT_MICROXCALING, MXB_FORMAT_MXFP6_E3M2, 0}, {MXB_COMPAT_MICROXCALING, MXB_FORMAT_MXFP4, 0},
    {MXB_COMPAT_MICROXCALING, MXB_FORMAT_MXINT8, 0}, {MXB_COMPAT_OCP_FLOOR, MXB_FORMAT_MXFP8_E4M3, 0},
    {MXB_COMPAT_OCP_FLOOR, MXB_FORMAT_MXFP4, 0},
  };
  for (size_t i = 0; i < sizeof(cp) / sizeof(cp[0]); i++)
    for (int nfin = 0; nfin <= cp[i].nonfinite; nfin++) {
      char sfx[48];
      snprintf(sfx, sizeof(sfx), "compat_%s%s", cli_compat_name(cp[i].c), nfin ? "_nonfinite" : "");
      for (char *p = sfx; *p; p++) *p = *p == '-' ? '_' : *p;
      add(c, &n, OP_QUANTIZE, nfin ? IN_NONFINITE : IN_NORMAL, cp[i].f, cp[i].f, ROWS, 128, sfx)->cfg.compat = cp[i].c;
    }
  static const mxb_format_t ga[] = {MXB_FORMAT_BF16,       MXB_FORMAT_NVFP4,          MXB_FORMAT_MXFP8_E4M3,
                                    MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP6_E2M3,     MXB_FORMAT_MXFP4,
                                    MXB_FORMAT_MXINT8,     MXB_FORMAT_MX9,            MXB_FORMAT_MX6,
                                    MXB_FORMAT_MX4,        MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E4M3_1x128,
                                    MXB_FORMAT_MOR_1x128,  MXB_FORMAT_FP8_E4M3_1x128_UE8M0};
  static const mxb_format_t gb[] = {MXB_FORMAT_BF16,       MXB_FORMAT_NVFP4,          MXB_FORMAT_MXFP8_E4M3,
                                    MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP6_E2M3,     MXB_FORMAT_MXFP4,
                                    MXB_FORMAT_MXINT8,     MXB_FORMAT_MX9,            MXB_FORMAT_MX6,
                                    MXB_FORMAT_MX4,        MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E4M3_128x128,
                                    MXB_FORMAT_MOR_1x128,  MXB_FORMAT_FP8_E4M3_128x128_UE8M0};
  for (size_t i = 0; i < sizeof(ga) / sizeof(ga[0]); i++) {
    int ok = 0;
    if (mxb_gemm_pair_supported(ga[i], gb[i], MXB_GEMM_EXACT, &ok) == MXB_SUCCESS && ok)
      add(c, &n, OP_GEMM, IN_NORMAL, ga[i], gb[i], ROWS, 128, "");
  }
  return n;
}
#define MAX_CASES 160

/* ------------------------------------------------------------ inputs */
/* Gaussian values with an outlier channel, exact zeros, -0.0, tiny and huge
 * values (flushing and saturation), and NaN/Inf for the nonfinite cases. The
 * seed comes from the name, so one case's input never depends on another. */
static void make_input(const char *name, int kind, int64_t rows, int64_t cols, float *x) {
  uint64_t s = 1469598103934665603ull;
  for (const char *p = name; *p; p++) s = (s ^ (uint8_t)*p) * 1099511628211ull;
  for (int64_t i = 0; i < rows * cols; i++) {
    int64_t col = i % cols;
    double v = cli_gauss(&s) * (col % 37 == 5 ? 40.0 : 1.0);
    uint64_t r = cli_splitmix(&s) % 64;
    x[i] = r == 0 ? 0.0f : r == 1 ? -0.0f : r == 2 ? (float)(v * 1e-30) : r == 3 ? (float)(v * 1e4) : (float)v;
  }
  if (kind == IN_NONFINITE) {
    x[3] = NAN;
    x[cols + 17] = INFINITY;
    x[2 * cols + 40] = -INFINITY;
    x[5 * cols + 64] = INFINITY;
    x[5 * cols + 65] = NAN;
  }
}

/* ------------------------------------------------------------ metadata */
typedef struct meta {
  int n;
  const char *keys[32];
  char vals[32][48];
} meta;

static void put(meta *m, const char *key, const char *fmt, ...) CLI_PRINTF(3, 4);
static void put(meta *m, const char *key, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  m->keys[m->n] = key;
  vsnprintf(m->vals[m->n], sizeof(m->vals[0]), fmt, ap);
  va_end(ap);
  m->n++;
}

static void put_cfg(meta *m, const mxb_quant_config_t *c) {
  put(m, "mxblas.rounding", "%s", c->rounding == MXB_ROUND_SR ? "sr" : "rne");
  put(m, "mxblas.seed", "%" PRIu64, c->seed);
  put(m, "mxblas.offset", "%" PRIu64, c->offset);
  put(m, "mxblas.scale_rule", "%s", k_rules[c->scale_rule & 3]);
  put(m, "mxblas.nonfinite", "%s", c->nonfinite == MXB_NONFINITE_SATURATE ? "saturate" : "nan-block");
  put(m, "mxblas.rht", "%d", c->rht.enabled);
  put(m, "mxblas.rht_size", "%d", c->rht.size);
  put(m, "mxblas.rht_signs", "0x%04X", c->rht.sign_mask[0]);
  put(m, "mxblas.block_2d", "%d", c->block_2d);
  put(m, "mxblas.pow2_scale", "%d", c->fp8_pow2_scale);
  if (c->compat) put(m, "mxblas.compat", "%s", cli_compat_name(c->compat));
}

/* The options of a case from its metadata (the keys put_cfg writes). */
static int get_cfg(const mxio_st *st, const char *path, mxb_quant_config_t *c) {
  static const char *keys[] = {"mxblas.rounding", "mxblas.seed",     "mxblas.offset", "mxblas.scale_rule",
                               "mxblas.nonfinite", "mxblas.rht",     "mxblas.block_2d", "mxblas.pow2_scale"};
  const char *v[8];
  for (int k = 0; k < 8; k++)
    if (!(v[k] = mxio_st_meta(st, keys[k]))) return cli_error("%s: metadata %s missing", path, keys[k]);
  mxb_quant_config_init(c);
  mxb_rht_init(&c->rht);
  c->rounding = !strcmp(v[0], "sr") ? MXB_ROUND_SR : MXB_ROUND_RNE;
  c->seed = strtoull(v[1], NULL, 10);
  c->offset = strtoull(v[2], NULL, 10);
  for (int r = 0; r < 4; r++)
    if (!strcmp(v[3], k_rules[r])) c->scale_rule = (mxb_scale_rule_t)r;
  c->nonfinite = !strcmp(v[4], "saturate") ? MXB_NONFINITE_SATURATE : MXB_NONFINITE_NAN_BLOCK;
  c->rht.enabled = !strcmp(v[5], "1");
  c->block_2d = !strcmp(v[6], "1");
  c->fp8_pow2_scale = !strcmp(v[7], "1");
  const char *compat = mxio_st_meta(st, "mxblas.compat"); /* absent: the default profile */
  for (int p = 1; compat && p < MXB_COMPAT_COUNT; p++)
    if (!strcmp(compat, cli_compat_name(p))) c->compat = (mxb_compat_t)p;
  if (compat && !c->compat) return cli_error("%s: mxblas.compat %s is not a profile", path, compat);
  return CLI_OK;
}

/* The planes of q as safetensors tensors named prefix + plane. */
static int plane_tensors(const cli_qtensor *q, const char *prefix, char names[4][16], int64_t shapes[4][1],
                         mxio_st_out *out) {
  mxb_format_info_t fi = {.struct_size = sizeof(fi)};
  mxb_format_info(q->t.format, &fi);
  const void *ptr[4] = {q->t.data, q->t.scales, q->t.aux, q->t.amax};
  size_t bytes[4] = {q->sizes.data_bytes, q->sizes.scale_bytes, q->sizes.aux_bytes, q->sizes.amax_bytes};
  int n = 0;
  for (int k = 0; k < 4; k++) {
    if (!ptr[k] || !bytes[k]) continue;
    int f32 = k == 3 || (k == 1 && fi.scale_type == MXB_SCALE_FP32);
    snprintf(names[n], 16, "%s%s", prefix, k_planes[k]);
    shapes[n][0] = (int64_t)(bytes[k] / (f32 ? 4 : 1));
    out[n] = (mxio_st_out){names[n], f32 ? MXIO_F32 : MXIO_U8, 1, shapes[n], ptr[k]};
    n++;
  }
  return n;
}

/* ------------------------------------------------------------ writing */
static int write_case(mxb_context_t *cpu, const ccase *k, const char *path, FILE *manifest, int first) {
  int64_t rows = k->rows, cols = k->cols, nn = k->n;
  float *x = malloc(sizeof(float) * (size_t)(rows * cols)), *y = malloc(sizeof(float) * (size_t)(rows * cols));
  float *b = malloc(sizeof(float) * (size_t)(nn * cols)), *c = malloc(sizeof(float) * (size_t)(rows * nn));
  cli_qtensor qa = {0}, qb = {0};
  mxio_st_out out[16];
  char names[8][16];
  int64_t shapes[8][1], s_in[2] = {rows, cols}, s_b[2] = {nn, cols}, s_c[2] = {rows, nn};
  int nt = 0, rc = CLI_OK;
  meta m = {0};
  mxb_status_t s = x && y && b && c ? MXB_SUCCESS : cli_status(MXB_ERR_ALLOC, "out of memory");
  make_input(k->name, k->input, rows, cols, x);
  put(&m, "mxblas.corpus", "1");
  put(&m, "mxblas.op", "%s", k->op == OP_GEMM ? "gemm" : "quantize");
  if (k->op == OP_QUANTIZE) {
    if (s == MXB_SUCCESS) s = cli_quantize(cpu, &k->cfg, k->fa, x, rows, cols, &qa);
    if (s == MXB_SUCCESS) s = cli_dequantize(&qa, y);
    if (s == MXB_SUCCESS) {
      put(&m, "mxblas.format", "%s", fname(k->fa));
      put(&m, "mxblas.rows", "%lld", (long long)rows);
      put(&m, "mxblas.cols", "%lld", (long long)cols);
      put(&m, "mxblas.flags", "%u", qa.t.flags);
      put_cfg(&m, &k->cfg);
      out[nt++] = (mxio_st_out){"input", MXIO_F32, 2, s_in, x};
      nt += plane_tensors(&qa, "", names, shapes, out + nt);
      out[nt++] = (mxio_st_out){"dequantized", MXIO_F32, 2, s_in, y};
    }
  } else {
    make_input(k->name + 1, IN_NORMAL, nn, cols, b); /* another seed for B */
    mxb_gemm_desc_t desc;
    mxb_gemm_desc_init(&desc);
    size_t ws = 0;
    double secs;
    if (s == MXB_SUCCESS) s = cli_quantize(cpu, &k->cfg, k->fa, x, rows, cols, &qa);
    if (s == MXB_SUCCESS) s = cli_quantize(cpu, &k->cfg, k->fb, b, nn, cols, &qb);
    if (s == MXB_SUCCESS) s = mxb_gemm_workspace_size(cpu, &desc, &qa.t, &qb.t, &ws);
    if (s == MXB_SUCCESS) s = cli_gemm(cpu, &desc, &qa, &qb, c, ws, &secs);
    if (s == MXB_SUCCESS) {
      put(&m, "mxblas.format_a", "%s", fname(k->fa));
      put(&m, "mxblas.format_b", "%s", fname(k->fb));
      put(&m, "mxblas.m", "%lld", (long long)rows);
      put(&m, "mxblas.n", "%lld", (long long)nn);
      put(&m, "mxblas.k", "%lld", (long long)cols);
      put(&m, "mxblas.mode", "exact");
      out[nt++] = (mxio_st_out){"a_input", MXIO_F32, 2, s_in, x};
      out[nt++] = (mxio_st_out){"b_input", MXIO_F32, 2, s_b, b};
      nt += plane_tensors(&qa, "a.", names, shapes, out + nt);
      nt += plane_tensors(&qb, "b.", names + 4, shapes + 4, out + nt);
      out[nt++] = (mxio_st_out){"c", MXIO_F32, 2, s_c, c};
    }
  }
  if (s != MXB_SUCCESS) {
    rc = cli_lib_error(s, k->name);
  } else {
    char err[512];
    const char *keys[32], *vals[32];
    for (int i = 0; i < m.n; i++) {
      keys[i] = m.keys[i];
      vals[i] = m.vals[i];
    }
    if (mxio_st_write(path, nt, out, m.n, keys, vals, err, sizeof(err)) != 0) rc = cli_error("%s", err);
  }
  if (rc == CLI_OK) {
    /* The manifest: the case's file, what it runs, and its output tensors. */
    fprintf(manifest, "%s\n    {\"name\": \"%s\", \"file\": \"cases/%s.safetensors\"", first ? "" : ",", k->name,
            k->name);
    for (int i = 1; i < m.n; i++) fprintf(manifest, ", \"%s\": \"%s\"", m.keys[i] + 7, m.vals[i]);
    fprintf(manifest, ", \"outputs\": [");
    int o = 0;
    for (int i = 0; i < nt; i++)
      if (strcmp(out[i].name, "input") && strcmp(out[i].name, "a_input") && strcmp(out[i].name, "b_input"))
        fprintf(manifest, "%s\"%s\"", o++ ? ", " : "", out[i].name);
    fprintf(manifest, "]}");
  }
  if (qa.t.data) cli_qtensor_free(&qa);
  if (qb.t.data) cli_qtensor_free(&qb);
  free(x);
  free(y);
  free(b);
  free(c);
  return rc;
}

int cmd_corpus(cli_opts *o, int nargs, char **args) {
  (void)o;
  (void)nargs;
  const char *dir = args[0];
  static ccase cases[MAX_CASES];
  int n = build_cases(cases);
  char path[4096];
  snprintf(path, sizeof(path), "%s/cases", dir);
  if ((mkdir(dir, 0777) != 0 && errno != EEXIST) || (mkdir(path, 0777) != 0 && errno != EEXIST))
    return cli_error("%s: %s", path, strerror(errno));
  snprintf(path, sizeof(path), "%s/manifest.json", dir);
  FILE *mf = fopen(path, "w");
  if (!mf) return cli_error("%s: %s", path, strerror(errno));
  mxb_context_t *cpu;
  int rc = cli_context(MXB_BACKEND_CPU, &cpu);
  fprintf(mf, "{\n  \"corpus\": \"mxblas conformance corpus\",\n  \"version\": 1,\n"
              "  \"generator\": \"mxblas corpus (CPU reference)\",\n  \"cases\": [");
  for (int i = 0; i < n && rc == CLI_OK; i++) {
    snprintf(path, sizeof(path), "%s/cases/%s.safetensors", dir, cases[i].name);
    rc = write_case(cpu, &cases[i], path, mf, i == 0);
  }
  fprintf(mf, "\n  ]\n}\n");
  if (fclose(mf) != 0 && rc == CLI_OK) rc = cli_error("%s/manifest.json: write failed", dir);
  if (rc == CLI_OK) {
    mxb_context_destroy(cpu);
    fprintf(stderr, "%s: %d cases\n", dir, n);
  }
  return rc;
}

/* ------------------------------------------------------------ checking */
/* Tensor name of a file, read; message in msg on failure. */
static int read_tensor(const mxio_src *s, const mxio_st *st, const char *name, mxio_array *a, char *msg, size_t cap) {
  char err[512];
  const mxio_st_tensor *t = mxio_st_find(st, name);
  if (!t) {
    snprintf(msg, cap, "tensor '%s' missing", name);
    return -1;
  }
  if (mxio_st_read(s, st, t, a, err, sizeof(err)) != 0) {
    snprintf(msg, cap, "%.300s", err);
    return -1;
  }
  return 0;
}

/* Compare got (bytes) with the golden tensor name: the first difference in msg. */
static int compare(const char *name, const mxio_array *want, const void *got, size_t bytes, char *msg, size_t cap) {
  if (bytes != want->nbytes) {
    snprintf(msg, cap, "%s: %zu bytes, want %zu", name, bytes, want->nbytes);
    return 1;
  }
  size_t es = mxio_dtype_size(want->dtype);
  for (size_t i = 0; i < bytes / es; i++) {
    const uint8_t *a = (const uint8_t *)got + i * es, *b = (const uint8_t *)want->data + i * es;
    if (memcmp(a, b, es) == 0) continue;
    size_t bad = 0;
    for (size_t j = i; j < bytes / es; j++) bad += memcmp((const uint8_t *)got + j * es, (const uint8_t *)want->data + j * es, es) != 0;
    if (want->dtype == MXIO_F32) {
      float x, y;
      memcpy(&x, a, 4);
      memcpy(&y, b, 4);
      snprintf(msg, cap, "%s: %zu of %zu elements differ, first at %zu: got %a, want %a", name, bad, bytes / es, i,
               (double)x, (double)y);
    } else {
      snprintf(msg, cap, "%s: %zu of %zu bytes differ, first at %zu: got 0x%02x, want 0x%02x", name, bad, bytes, i,
               a[0], b[0]);
    }
    return 1;
  }
  return 0;
}

/* The golden outputs of a case: every tensor but the inputs. */
static int is_output(const char *name) {
  return strcmp(name, "input") && strcmp(name, "a_input") && strcmp(name, "b_input");
}

/* Another implementation's file for the case: every golden output, bit for bit. */
static int check_results(cli_report *rep, const char *name, const mxio_src *gs, const mxio_st *g, const char *rdir) {
  char path[4096], err[512], msg[320] = "";
  snprintf(path, sizeof(path), "%s/%s.safetensors", rdir, name);
  mxio_src rs;
  mxio_st rt = {0};
  if (mxio_src_file(&rs, path, err, sizeof(err)) != 0)
    return cli_report_add(rep, name, CLI_CASE_FAIL, "no result file (%s)", err);
  int bad = 0;
  if (mxio_st_open(&rs, &rt, err, sizeof(err)) != 0) {
    snprintf(msg, sizeof(msg), "%.300s", err);
    bad = 1;
  }
  for (int i = 0; i < g->ntensors && !bad; i++) {
    const char *t = g->tensors[i].name;
    if (!is_output(t)) continue;
    mxio_array want = {0}, got = {0};
    if (read_tensor(gs, g, t, &want, msg, sizeof(msg)) != 0 || read_tensor(&rs, &rt, t, &got, msg, sizeof(msg)) != 0)
      bad = 1;
    else
      bad = compare(t, &want, got.data, got.nbytes, msg, sizeof(msg));
    mxio_array_free(&want);
    mxio_array_free(&got);
  }
  mxio_st_free(&rt);
  mxio_src_close(&rs);
  return cli_report_add(rep, name, bad ? CLI_CASE_FAIL : CLI_CASE_PASS, "%s", msg);
}

/* The golden planes under prefix into q (allocated here). */
static int load_planes(const mxio_src *s, const mxio_st *st, const char *prefix, mxb_format_t f, int64_t rows,
                       int64_t cols, uint32_t flags, cli_qtensor *q, char *msg, size_t cap) {
  if (cli_qtensor_alloc(q, f, rows, cols, 0) != MXB_SUCCESS) {
    snprintf(msg, cap, "cannot allocate %s planes", prefix);
    return -1;
  }
  q->t.flags = flags;
  void *ptr[4] = {q->t.data, q->t.scales, q->t.aux, q->t.amax};
  size_t bytes[4] = {q->sizes.data_bytes, q->sizes.scale_bytes, q->sizes.aux_bytes, q->sizes.amax_bytes};
  for (int k = 0; k < 4; k++) {
    if (!ptr[k] || !bytes[k]) continue;
    char name[16];
    snprintf(name, sizeof(name), "%s%s", prefix, k_planes[k]);
    mxio_array a = {0};
    if (read_tensor(s, st, name, &a, msg, cap) != 0) return -1;
    int ok = a.nbytes == bytes[k];
    if (ok) memcpy(ptr[k], a.data, bytes[k]);
    mxio_array_free(&a);
    if (!ok) {
      snprintf(msg, cap, "%s: not %zu bytes", name, bytes[k]);
      return -1;
    }
  }
  return 0;
}

static int64_t meta_int(const mxio_st *st, const char *key) {
  const char *v = mxio_st_meta(st, key);
  return v ? strtoll(v, NULL, 10) : -1;
}

/* This build on one case: quantize (or multiply) and compare. */
static int check_self(cli_report *rep, mxb_context_t *ctx, const char *name, const mxio_src *s, const mxio_st *st,
                      const char *path) {
  char msg[320] = "";
  const char *op = mxio_st_meta(st, "mxblas.op");
  int gemm = op && !strcmp(op, "gemm");
  mxb_format_t fa, fb = MXB_FORMAT_FP32;
  const char *na = mxio_st_meta(st, gemm ? "mxblas.format_a" : "mxblas.format");
  const char *nb = gemm ? mxio_st_meta(st, "mxblas.format_b") : NULL;
  if (!op || !na || mxb_format_from_name(na, &fa) != MXB_SUCCESS || (gemm && (!nb || mxb_format_from_name(nb, &fb))))
    return cli_error("%s: not a corpus case (metadata mxblas.op and its formats)", path);
  mxb_quant_config_t cfg;
  if (!gemm && get_cfg(st, path, &cfg) != CLI_OK) return CLI_ERROR;
  cli_qtensor q = {0}, qb = {0};
  mxio_array in = {0}, want = {0};
  mxb_status_t stt = MXB_SUCCESS;
  int bad = 0;
  float *y = NULL;
  if (!gemm) {
    int64_t rows = meta_int(st, "mxblas.rows"), cols = meta_int(st, "mxblas.cols");
    if (read_tensor(s, st, "input", &in, msg, sizeof(msg)) != 0 || in.rows != rows || in.cols != cols) {
      bad = 1;
    } else if ((stt = cli_quantize(ctx, &cfg, fa, in.data, rows, cols, &q)) == MXB_SUCCESS) {
      rep->impl = mxb_context_last_impl(ctx);
      void *ptr[4] = {q.t.data, q.t.scales, q.t.aux, q.t.amax};
      size_t bytes[4] = {q.sizes.data_bytes, q.sizes.scale_bytes, q.sizes.aux_bytes, q.sizes.amax_bytes};
      for (int k = 0; k < 4 && !bad; k++) {
        if (!ptr[k] || !bytes[k]) continue;
        if (read_tensor(s, st, k_planes[k], &want, msg, sizeof(msg)) != 0)
          bad = 1;
        else
          bad = compare(k_planes[k], &want, ptr[k], bytes[k], msg, sizeof(msg));
        mxio_array_free(&want);
      }
      if (!bad && (int64_t)q.t.flags != meta_int(st, "mxblas.flags")) {
        snprintf(msg, sizeof(msg), "flags %u, want %lld", q.t.flags, (long long)meta_int(st, "mxblas.flags"));
        bad = 1;
      }
      /* The decoder on the golden planes. */
      cli_qtensor_free(&q);
      if (!bad && load_planes(s, st, "", fa, rows, cols, (uint32_t)meta_int(st, "mxblas.flags"), &q, msg, sizeof(msg)))
        bad = 1;
      if (!bad && !(y = malloc(in.nbytes))) stt = cli_status(MXB_ERR_ALLOC, "out of memory");
      if (!bad && stt == MXB_SUCCESS && (stt = cli_dequantize(&q, y)) == MXB_SUCCESS) {
        if (read_tensor(s, st, "dequantized", &want, msg, sizeof(msg)) != 0)
          bad = 1;
        else
          bad = compare("dequantized", &want, y, in.nbytes, msg, sizeof(msg));
      }
    }
  } else {
    int64_t m = meta_int(st, "mxblas.m"), n = meta_int(st, "mxblas.n"), k = meta_int(st, "mxblas.k");
    if (m <= 0 || n <= 0 || k <= 0 || m * n > (1 << 24)) return cli_error("%s: bad mxblas.m/n/k", path);
    if (load_planes(s, st, "a.", fa, m, k, 0, &q, msg, sizeof(msg)) ||
        load_planes(s, st, "b.", fb, n, k, 0, &qb, msg, sizeof(msg)) || read_tensor(s, st, "c", &want, msg, sizeof(msg)))
      bad = 1;
    mxb_gemm_desc_t desc;
    mxb_gemm_desc_init(&desc);
    size_t ws = 0;
    double secs;
    if (!bad && !(y = malloc(sizeof(float) * (size_t)(m * n)))) stt = cli_status(MXB_ERR_ALLOC, "out of memory");
    if (!bad && stt == MXB_SUCCESS && (stt = mxb_gemm_workspace_size(ctx, &desc, &q.t, &qb.t, &ws)) == MXB_SUCCESS &&
        (stt = cli_gemm(ctx, &desc, &q, &qb, y, ws, &secs)) == MXB_SUCCESS) {
      rep->impl = mxb_context_last_impl(ctx);
      bad = compare("c", &want, y, sizeof(float) * (size_t)(m * n), msg, sizeof(msg));
    }
  }
  if (q.t.data) cli_qtensor_free(&q);
  if (qb.t.data) cli_qtensor_free(&qb);
  mxio_array_free(&in);
  mxio_array_free(&want);
  free(y);
  if (stt != MXB_SUCCESS) {
    int skip = stt == MXB_ERR_UNSUPPORTED || stt == MXB_ERR_ARCH_UNSUPPORTED;
    return cli_report_add(rep, name, skip ? CLI_CASE_SKIPPED : CLI_CASE_ERROR, "%s: %s", mxb_status_string(stt),
                          mxb_last_error_detail());
  }
  return cli_report_add(rep, name, bad ? CLI_CASE_FAIL : CLI_CASE_PASS, "%s", msg);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int check_corpus(const cli_opts *o, const char *dir) {
  char path[4096], err[512];
  snprintf(path, sizeof(path), "%s/cases", dir);
  DIR *d = opendir(path);
  if (!d) return cli_error("%s: %s (not a corpus directory)", path, strerror(errno));
  char **names = NULL;
  int n = 0, rc = CLI_OK;
  for (struct dirent *e; (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (e->d_name[0] == '.' || len < 13 || strcmp(e->d_name + len - 12, ".safetensors")) continue;
    char **p = realloc(names, sizeof(char *) * (size_t)(n + 1));
    if (!p) break;
    names = p;
    if (!(names[n] = strndup(e->d_name, len - 12))) break;
    n++;
  }
  closedir(d);
  if (n == 0) {
    free(names);
    return cli_error("%s: no case files", path);
  }
  qsort(names, (size_t)n, sizeof(char *), cmp_str);
  mxb_context_t *ctx = NULL;
  if (!o->results) rc = cli_context(o->backend, &ctx);
  cli_report rep = {.suite = "corpus", .impl = o->results ? o->results : NULL};
  for (int i = 0; i < n && rc == CLI_OK; i++) {
    snprintf(path, sizeof(path), "%s/cases/%s.safetensors", dir, names[i]);
    cli_progress("check corpus: %s (%d/%d)", names[i], i + 1, n);
    mxio_src s;
    mxio_st st;
    if (mxio_src_file(&s, path, err, sizeof(err)) != 0) {
      rc = cli_error("%s", err);
      break;
    }
    if (mxio_st_open(&s, &st, err, sizeof(err)) != 0) {
      mxio_src_close(&s);
      rc = cli_error("%s: %s", path, err);
      break;
    }
    rc = o->results ? check_results(&rep, names[i], &s, &st, o->results) : check_self(&rep, ctx, names[i], &s, &st, path);
    mxio_st_free(&st);
    mxio_src_close(&s);
  }
  cli_progress_end();
  if (rc == CLI_OK) rc = cli_report_finish(&rep, o);
  cli_report_free(&rep);
  if (ctx) mxb_context_destroy(ctx);
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  return rc;
}
