/* Compatibility profiles (docs/COMPAT.md): every case of the reference
 * vectors, generated from each library's own code by tests/compat/gen_*.py,
 * quantized through mxb_quantize with that library's profile on the CPU and
 * on the GPU, and compared byte for byte (codes, scales, tensor amax); the
 * profiles' refusals; and OCP FLOOR as the FLOOR scale rule. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/compat_vectors.h"
#include "testutil.h"

typedef enum amax_mode { AMAX_COMPUTED, AMAX_GIVEN, AMAX_NONE } amax_mode;

/* One case of a .vec file (tests/compat/README.md has the grammar). */
typedef struct vcase {
  char name[96], file[32];
  mxb_compat_t profile;
  mxb_format_t format;
  int64_t rows, cols;
  amax_mode amax_in;
  int block_2d, row_amax; /* TE's 16x16 tiles; its amax per row */
  int four_six, e4m3_max;  /* TE's Four Over Six (mxb_four_over_six_t) and its bound */
  float amax_given;
  float *x;
  uint8_t *codes, *scales;
  size_t nx, ncodes, nscales;
  uint32_t *amax_out; /* the stored amax (one a row with row_amax) */
  size_t namax_out;
} vcase;

static void vcase_free(vcase *c) {
  free(c->x);
  free(c->codes);
  free(c->scales);
  free(c->amax_out);
  memset(c, 0, sizeof(*c));
}

/* The value of key=... in a case line (copied to out), or 0 when absent. */
static int key(const char *line, const char *k, char *out, size_t cap) {
  const size_t n = strlen(k);
  const char *eol = strchr(line, '\n');
  for (const char *p = line; (p = strstr(p, k)) != NULL && (!eol || p < eol); p++) {
    if ((p != line && p[-1] != ' ') || p[n] != '=') continue;
    p += n + 1;
    size_t i = 0;
    while (p[i] && p[i] != ' ' && p[i] != '\n' && i + 1 < cap) out[i] = p[i], i++;
    out[i] = 0;
    return 1;
  }
  return 0;
}

static mxb_compat_t profile_of(const char *profile, const char *mode) {
  if (!strcmp(profile, "te")) return MXB_COMPAT_TE;
  if (!strcmp(profile, "microxcaling")) return MXB_COMPAT_MICROXCALING;
  if (!strcmp(profile, "ocp")) return MXB_COMPAT_OCP_FLOOR;
  if (!strcmp(profile, "torchao")) {
    if (!mode[0] || !strcmp(mode, "floor")) return MXB_COMPAT_TORCHAO;
    if (!strcmp(mode, "rceil")) return MXB_COMPAT_TORCHAO_RCEIL;
  }
  cr_assert_fail("no mxblas profile for profile=%s mode=%s", profile, mode);
  return MXB_COMPAT_MXBLAS;
}

/* Appends the hex words of one line (width hex digits each) to *v. */
static void hex_line(const char *p, int width, void **v, size_t *n, size_t elem) {
  for (;;) {
    while (*p == ' ') p++;
    if (!isxdigit((unsigned char)*p)) return;
    char buf[9] = {0};
    memcpy(buf, p, (size_t)width);
    const unsigned long w = strtoul(buf, NULL, 16);
    *v = realloc(*v, (*n + 1) * elem);
    cr_assert_not_null(*v);
    if (elem == 4) ((uint32_t *)*v)[*n] = (uint32_t)w;
    else ((uint8_t *)*v)[*n] = (uint8_t)w;
    (*n)++;
    p += width;
  }
}

/* Parses the next case at *p (advanced past it); 0 at the end of the text. */
static int next_case(const char **p, const char *file, vcase *c) {
  memset(c, 0, sizeof(*c));
  const char *s = *p;
  while (*s && strncmp(s, "case ", 5)) s = strchr(s, '\n') ? strchr(s, '\n') + 1 : s + strlen(s);
  if (!*s) return 0;
  char v[64], mode[16] = "";
  cr_assert(sscanf(s + 5, "%95s", c->name) == 1);
  snprintf(c->file, sizeof(c->file), "%s", file);
  cr_assert(key(s, "profile", v, sizeof(v)), "%s: no profile", c->name);
  key(s, "mode", mode, sizeof(mode));
  c->profile = profile_of(v, mode);
  cr_assert(key(s, "format", v, sizeof(v)), "%s: no format", c->name);
  cr_assert_eq(mxb_format_from_name(v, &c->format), MXB_SUCCESS, "%s: format %s", c->name, v);
  cr_assert(key(s, "rows", v, sizeof(v)));
  c->rows = atoll(v);
  cr_assert(key(s, "cols", v, sizeof(v)));
  c->cols = atoll(v);
  c->block_2d = key(s, "block_2d", v, sizeof(v)) && !strcmp(v, "1");
  c->row_amax = key(s, "row_amax", v, sizeof(v)) && !strcmp(v, "1");
  if (key(s, "four_over_six", v, sizeof(v)))
    c->four_six = !strcmp(v, "mse") ? MXB_FOUR_OVER_SIX_MSE : !strcmp(v, "mae") ? MXB_FOUR_OVER_SIX_MAE : -1;
  c->e4m3_max = key(s, "e4m3_max", v, sizeof(v)) ? atoi(v) : 0;
  c->amax_in = AMAX_COMPUTED;
  if (key(s, "amax", v, sizeof(v)) && strcmp(v, "computed")) {
    c->amax_in = strcmp(v, "none") ? AMAX_GIVEN : AMAX_NONE;
    if (c->amax_in == AMAX_GIVEN) c->amax_given = mxbt_u2f((uint32_t)strtoul(v, NULL, 16));
  }
  for (s = strchr(s, '\n') + 1; *s && strncmp(s, "end", 3); s = strchr(s, '\n') + 1) {
    if (!strncmp(s, "x ", 2)) hex_line(s + 2, 8, (void **)&c->x, &c->nx, 4);
    else if (!strncmp(s, "codes ", 6)) hex_line(s + 6, 2, (void **)&c->codes, &c->ncodes, 1);
    else if (!strncmp(s, "scales ", 7)) hex_line(s + 7, 2, (void **)&c->scales, &c->nscales, 1);
    else if (!strncmp(s, "amax ", 5)) hex_line(s + 5, 8, (void **)&c->amax_out, &c->namax_out, 4);
  }
  cr_assert(*s, "%s: no end line", c->name);
  *p = strchr(s, '\n') ? strchr(s, '\n') + 1 : s + strlen(s);
  const size_t n = (size_t)(c->rows * c->cols);
  cr_assert_eq(c->nx, n, "%s: %zu inputs for %lld x %lld", c->name, c->nx, (long long)c->rows, (long long)c->cols);
  cr_assert_eq(c->ncodes, n, "%s: %zu codes", c->name, c->ncodes);
  return 1;
}

/* The expected data plane: the case's codes packed as mxblas stores them
 * (4-bit: low nibble first; 6-bit: 4 codes in 3 bytes, a little-endian bit
 * stream; 8-bit: a byte each), each row from a byte boundary. */
static uint8_t *pack_codes(const vcase *c, const mxb_tensor_sizes_t *sz, int bits) {
  uint8_t *d = calloc(sz->data_bytes ? sz->data_bytes : 1, 1);
  for (int64_t r = 0; r < c->rows; r++) {
    uint8_t *row = d + (size_t)r * sz->row_bytes;
    for (int64_t j = 0; j < c->cols; j++) {
      const uint32_t code = c->codes[r * c->cols + j];
      const uint64_t bit = (uint64_t)j * (uint64_t)bits;
      for (int b = 0; b < bits; b++)
        if (code >> b & 1u) row[(bit + (uint64_t)b) >> 3] |= (uint8_t)(1u << ((bit + (uint64_t)b) & 7u));
    }
  }
  return d;
}

/* The config that asks for the case's library, and the amax slot's input. */
static void case_config(const vcase *c, mxb_quant_config_t *cfg, float *amax) {
  mxb_quant_config_init(cfg);
  cfg->compat = c->profile;
  cfg->block_2d = c->block_2d;
  cfg->nvfp4_row_amax = c->row_amax;
  cfg->four_over_six = (mxb_four_over_six_t)c->four_six;
  cfg->nvfp4_e4m3_max = c->e4m3_max;
  *amax = 0.0f;
  if (c->amax_in == AMAX_GIVEN) {
    cfg->amax_source = MXB_AMAX_FROM_TENSOR;
    *amax = c->amax_given;
  } else if (c->amax_in == AMAX_NONE) {
    /* no tensor scale: the amax that makes it 1 (docs/COMPAT.md) */
    cfg->amax_source = MXB_AMAX_FROM_TENSOR;
    *amax = 2688.0f;
  }
}

typedef struct qout {
  uint8_t *data, *scales;
  float amax[256]; /* the tensor's, or one a row (cases have at most 256 rows) */
  mxb_tensor_sizes_t sz;
} qout;

/* Quantizes the case on backend be into out; returns the status. */
static mxb_status_t run_case(const vcase *c, mxb_backend_t be, qout *out) {
  mxb_quant_config_t cfg;
  float amax[256];
  cr_assert_leq(c->rows, 256);
  case_config(c, &cfg, &amax[0]);
  const size_t namax = c->row_amax ? (size_t)c->rows : 1;
  out->sz = (mxb_tensor_sizes_t){.struct_size = sizeof(out->sz)};
  cr_assert_eq(mxb_tensor_sizes(c->format, c->rows, c->cols, MXB_SCALE_LAYOUT_LINEAR, &out->sz), MXB_SUCCESS);
  out->data = calloc(out->sz.data_bytes ? out->sz.data_bytes : 1, 1);
  out->scales = calloc(out->sz.scale_bytes ? out->sz.scale_bytes : 1, 1);
  mxb_tensor_t t;
  cr_assert_eq(mxb_tensor_init(&t, c->format, c->rows, c->cols, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(be, 0, &ctx), MXB_SUCCESS);
  mxb_status_t st;
  if (be == MXB_BACKEND_CPU) {
    t.data = out->data;
    t.scales = out->scales;
    t.amax = amax;
    st = mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, c->x, &t, NULL, 0, NULL);
  } else {
#ifdef MXB_WITH_CUDA
    void *dx = mxbt_dev_from_host(c->x, c->nx * 4);
    t.data = mxbt_dev_alloc(out->sz.data_bytes);
    t.scales = mxbt_dev_alloc(out->sz.scale_bytes);
    t.amax = mxbt_dev_from_host(amax, namax * 4);
    mxbt_dev_poison(t.data, out->sz.data_bytes);
    mxbt_dev_poison(t.scales, out->sz.scale_bytes);
    size_t ws = 0;
    cr_assert_eq(mxb_quantize_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, &t, &ws), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    void *w = ws ? mxbt_dev_alloc(ws) : NULL;
    st = mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, dx, &t, w, ws, NULL);
    mxbt_dev_sync();
    mxbt_to_host(out->data, t.data, out->sz.data_bytes);
    mxbt_to_host(out->scales, t.scales, out->sz.scale_bytes);
    mxbt_to_host(amax, t.amax, namax * 4);
    mxbt_dev_free(dx);
    mxbt_dev_free(t.data);
    mxbt_dev_free(t.scales);
    mxbt_dev_free(t.amax);
    mxbt_dev_free(w);
#else
    st = MXB_ERR_UNSUPPORTED;
#endif
  }
  memcpy(out->amax, amax, namax * 4);
  mxb_context_destroy(ctx);
  return st;
}

/* Compares out with the case's bytes, naming the first difference. */
static void check_case(const vcase *c, const qout *out, const char *backend) {
  mxb_format_info_t fi = {.struct_size = sizeof(fi)};
  cr_assert_eq(mxb_format_info(c->format, &fi), MXB_SUCCESS);
  uint8_t *want = pack_codes(c, &out->sz, fi.elem_bits);
  for (size_t i = 0; i < out->sz.data_bytes; i++)
    if (want[i] != out->data[i]) {
      const int64_t r = (int64_t)(i / out->sz.row_bytes), j = (int64_t)((i % out->sz.row_bytes) * 8 / (size_t)fi.elem_bits);
      const uint8_t w = want[i];
      free(want);
      cr_assert_fail("%s %s (%s): data byte %zu (row %lld, near element %lld, x = %a): got 0x%02x, want 0x%02x",
                     c->file, c->name, backend, i, (long long)r, (long long)j,
                     (double)c->x[r * c->cols + (j < c->cols ? j : c->cols - 1)], out->data[i], w);
    }
  free(want);
  cr_assert_eq(c->nscales, out->sz.scale_bytes, "%s %s: %zu scale bytes, mxblas has %zu", c->file, c->name, c->nscales,
               out->sz.scale_bytes);
  /* TE's NaN block scale takes the sign of a NaN that PyTorch's CPU kernels make
   * (torch.min vectorised over 16 or more blocks gives 0xFFFFFFFF, hence 0xFF;
   * fewer give 0x7F): not its reference code's, so the TE profile writes 0x7F for
   * both (docs/COMPAT.md) */
  const int te_nvfp4 = c->profile == MXB_COMPAT_TE && c->format == MXB_FORMAT_NVFP4;
  for (size_t i = 0; i < c->nscales; i++) {
    const uint8_t want = te_nvfp4 && c->scales[i] == 0xFF ? 0x7F : c->scales[i];
    cr_assert_eq(out->scales[i], want, "%s %s (%s): scale %zu: got 0x%02x, want 0x%02x", c->file, c->name, backend, i,
                 out->scales[i], c->scales[i]);
  }
  /* a NaN amax is written as 0x7FC00000; the library's NaN bits are its platform's */
  for (size_t i = 0; c->amax_in == AMAX_COMPUTED && i < c->namax_out; i++) {
    const uint32_t got = mxbt_f2u(out->amax[i]), nan = 0x7FC00000u;
    const uint32_t want_amax = (c->amax_out[i] & 0x7FFFFFFFu) > 0x7F800000u ? nan : c->amax_out[i];
    cr_assert_eq(got, want_amax, "%s %s (%s): amax %zu: %08x, want %08x", c->file, c->name, backend, i, got,
                 c->amax_out[i]);
  }
}

static void qout_free(qout *q) {
  free(q->data);
  free(q->scales);
}

/* Every case of every file on backend be; returns the number of cases. */
static int run_all(mxb_backend_t be, const char *backend) {
  int n = 0;
  for (size_t f = 0; f < sizeof(mxbt_compat_files) / sizeof(mxbt_compat_files[0]); f++) {
    const char *p = mxbt_compat_files[f].text;
    vcase c;
    while (next_case(&p, mxbt_compat_files[f].name, &c)) {
      qout q;
      const mxb_status_t st = run_case(&c, be, &q);
      cr_assert_eq(st, MXB_SUCCESS, "%s %s (%s): status %d: %s", c.file, c.name, backend, (int)st, mxb_last_error_detail());
      check_case(&c, &q, backend);
      qout_free(&q);
      vcase_free(&c);
      n++;
    }
  }
  return n;
}

Test(compat, every_vector_on_the_cpu) {
  cr_assert_gt(run_all(MXB_BACKEND_CPU, "cpu"), 100);
}

Test(compat, every_vector_on_the_gpu) {
  MXBT_REQUIRE_GPU();
  cr_assert_gt(run_all(MXB_BACKEND_CUDA, "cuda"), 100);
}

/* A profile takes its library's formats and defaults only; refusals write nothing. */
Test(compat, refusals) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  float x[64] = {1.0f, -2.0f, 3.0f}, amax = 0.0f;
  uint8_t data[64], scales[8], aux[8];
  static const struct {
    mxb_compat_t c;
    mxb_format_t f;
    int opt; /* 0 none, 1 RHT, 2 SR, 3 2D, 4 FLOOR, 5 saturate, 6 Four Over Six, 7 the bound 256, 8 row amax */
    mxb_status_t want;
  } k[] = {
    {MXB_COMPAT_TE, MXB_FORMAT_MXFP4, 0, MXB_ERR_UNSUPPORTED},      {MXB_COMPAT_TE, MXB_FORMAT_MX6, 0, MXB_ERR_UNSUPPORTED},
    {MXB_COMPAT_TORCHAO, MXB_FORMAT_MXINT8, 0, MXB_ERR_UNSUPPORTED}, {MXB_COMPAT_TORCHAO_RCEIL, MXB_FORMAT_NVFP4, 0, MXB_ERR_UNSUPPORTED},
    {MXB_COMPAT_MICROXCALING, MXB_FORMAT_NVFP4, 0, MXB_ERR_UNSUPPORTED}, {MXB_COMPAT_OCP_FLOOR, MXB_FORMAT_FP8_E4M3_1x128, 0, MXB_ERR_UNSUPPORTED},
    {MXB_COMPAT_TE, MXB_FORMAT_NVFP4, 1, MXB_ERR_UNSUPPORTED},      {MXB_COMPAT_TE, MXB_FORMAT_NVFP4, 2, MXB_ERR_UNSUPPORTED},
    {MXB_COMPAT_TE, MXB_FORMAT_MXFP8_E4M3, 3, MXB_ERR_UNSUPPORTED},     {MXB_COMPAT_OCP_FLOOR, MXB_FORMAT_MXFP4, 4, MXB_ERR_UNSUPPORTED},
    {MXB_COMPAT_TE, MXB_FORMAT_MXFP8_E4M3, 5, MXB_ERR_UNSUPPORTED}, {MXB_COMPAT_TORCHAO, MXB_FORMAT_NVFP4, 6, MXB_ERR_UNSUPPORTED},
    {MXB_COMPAT_TORCHAO, MXB_FORMAT_NVFP4, 7, MXB_ERR_UNSUPPORTED}, {MXB_COMPAT_TORCHAO, MXB_FORMAT_NVFP4, 8, MXB_ERR_UNSUPPORTED},
    {MXB_COMPAT_TE, MXB_FORMAT_NVFP4, 7, MXB_ERR_UNSUPPORTED}, /* TE's 256 is its Four Over Six's */
    {(mxb_compat_t)MXB_COMPAT_COUNT, MXB_FORMAT_MXFP4, 0, MXB_ERR_INVALID_ARGUMENT},
    {(mxb_compat_t)-1, MXB_FORMAT_MXFP4, 0, MXB_ERR_INVALID_ARGUMENT},
  };
  for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
    mxb_quant_config_t cfg;
    mxb_quant_config_init(&cfg);
    cfg.compat = k[i].c;
    cfg.rht.enabled = k[i].opt == 1;
    cfg.rounding = k[i].opt == 2 ? MXB_ROUND_SR : MXB_ROUND_RNE;
    cfg.block_2d = k[i].opt == 3;
    cfg.scale_rule = k[i].opt == 4 ? MXB_SCALE_RULE_FLOOR : MXB_SCALE_RULE_RCEIL;
    cfg.nonfinite = k[i].opt == 5 ? MXB_NONFINITE_SATURATE : MXB_NONFINITE_NAN_BLOCK;
    cfg.four_over_six = k[i].opt == 6 ? MXB_FOUR_OVER_SIX_MSE : MXB_FOUR_OVER_SIX_OFF;
    cfg.nvfp4_e4m3_max = k[i].opt == 7 ? 256 : 0;
    cfg.nvfp4_row_amax = k[i].opt == 8;
    mxb_tensor_t t;
    cr_assert_eq(mxb_tensor_init(&t, k[i].f, 1, 64, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
    memset(data, 0xA5, sizeof(data));
    memset(scales, 0xA5, sizeof(scales));
    t.data = data;
    t.scales = scales;
    t.amax = &amax;
    t.aux = aux;
    const mxb_status_t st = mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL);
    cr_assert_eq(st, k[i].want, "case %zu: %s", i, mxb_last_error_detail());
    cr_assert_neq(strlen(mxb_last_error_detail()), 0);
    for (size_t b = 0; b < sizeof(data); b++) cr_assert_eq(data[b], 0xA5, "case %zu wrote data", i);
    for (size_t b = 0; b < sizeof(scales); b++) cr_assert_eq(scales[b], 0xA5, "case %zu wrote scales", i);
    int ok = 1;
    if (st == MXB_ERR_UNSUPPORTED) {
      cr_assert_eq(mxb_quantize_supported(ctx, &cfg, k[i].f, &ok), MXB_SUCCESS);
      cr_assert_eq(ok, 0, "case %zu: supported says yes", i);
    }
  }
  /* the pair and the grouped quantize refuse profiles */
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.compat = MXB_COMPAT_TE;
  mxb_tensor_t r, c;
  uint8_t d2[64];
  cr_assert_eq(mxb_tensor_init(&r, MXB_FORMAT_MXFP8_E4M3, 2, 32, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  cr_assert_eq(mxb_tensor_init(&c, MXB_FORMAT_MXFP8_E4M3, 32, 2, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  r.data = data, r.scales = scales, c.data = d2, c.scales = scales;
  size_t ws = 0;
  cr_assert_eq(mxb_quantize_pair_workspace_size(ctx, &cfg, &cfg, MXB_DTYPE_FP32, &r, &c, &ws), MXB_ERR_UNSUPPORTED);
  mxb_context_destroy(ctx);
}

/* OCP FLOOR is the contract with FLOOR scales: the same bytes on a wide sample. */
Test(compat, ocp_is_the_floor_rule) {
  enum { R = 16, C = 96 };
  static float x[R * C];
  mxbt_fill_normal(x, R * C, 77, 3.0f);
  x[5] = -0.0f, x[40] = 1e-40f, x[100] = 3e38f, x[200] = 0x1.fffffep-1f;
  static const mxb_format_t fs[] = {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP6_E2M3,
                                    MXB_FORMAT_MXFP6_E3M2, MXB_FORMAT_MXFP4, MXB_FORMAT_MXINT8};
  for (size_t f = 0; f < sizeof(fs) / sizeof(fs[0]); f++) {
    vcase v = {.format = fs[f], .rows = R, .cols = C, .x = x, .nx = R * C, .profile = MXB_COMPAT_OCP_FLOOR};
    qout a, b;
    cr_assert_eq(run_case(&v, MXB_BACKEND_CPU, &a), MXB_SUCCESS, "%s", mxb_last_error_detail());
    mxb_context_t *ctx = NULL;
    cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
    mxb_quant_config_t cfg;
    mxb_quant_config_init(&cfg);
    cfg.scale_rule = MXB_SCALE_RULE_FLOOR;
    b.sz = a.sz;
    b.data = calloc(a.sz.data_bytes, 1);
    b.scales = calloc(a.sz.scale_bytes, 1);
    mxb_tensor_t t;
    cr_assert_eq(mxb_tensor_init(&t, fs[f], R, C, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
    t.data = b.data, t.scales = b.scales;
    cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_SUCCESS);
    cr_assert_eq(memcmp(a.data, b.data, a.sz.data_bytes), 0, "%s data", mxbt_format_name(fs[f]));
    cr_assert_eq(memcmp(a.scales, b.scales, a.sz.scale_bytes), 0, "%s scales", mxbt_format_name(fs[f]));
    qout_free(&a);
    qout_free(&b);
    mxb_context_destroy(ctx);
  }
}

/* Every profile and format on a wider input than the vectors (tails, every
 * magnitude, NaN, Inf, -0, subnormals, near FLT_MAX): CUDA gives the CPU
 * reference's bytes. */
Test(compat, cuda_matches_the_cpu_everywhere) {
  MXBT_REQUIRE_GPU();
  enum { R = 37, C = 200 };
  static float x[R * C];
  uint64_t s = 91;
  for (int i = 0; i < R * C; i++) x[i] = mxbt_wide(&s, -140, 127);
  const float special[] = {-0.0f, 0.0f, NAN, -NAN, INFINITY, -INFINITY, 3.4028235e38f, -3.4028235e38f, 1e-45f, 0x1.fffffep-1f};
  for (int i = 0; i < R * C; i += 53) x[i] = special[(i / 53) % 10];
  for (int i = 0; i < C; i++) x[3 * C + i] = 0.0f; /* an all-zero row, and a row of only -0.0 */
  for (int i = 0; i < C; i++) x[4 * C + i] = -0.0f;
  static const mxb_format_t fs[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP6_E2M3,
                                    MXB_FORMAT_MXFP6_E3M2, MXB_FORMAT_MXFP4, MXB_FORMAT_MXINT8};
  int n = 0;
  for (int p = 1; p < MXB_COMPAT_COUNT; p++)
    for (size_t f = 0; f < sizeof(fs) / sizeof(fs[0]); f++)
      /* NVFP4: the computed amax (NaN here), a supplied one, one below the NaN's reach; TE's
       * 16x16 tiles, its amax per row (computed), its Four Over Six (MAE; MSE with 256 and an
       * amax per row) */
      for (int k = 0; k < (fs[f] == MXB_FORMAT_NVFP4 ? 8 : 1); k++) { /* 7: TE's 2D Four Over Six, MAE */
        const int given = k < 3 ? k : 0, two_d = k == 3 || k == 7, per_row = k == 4 || k == 6;
        mxb_context_t *ctx = NULL;
        int ok = 0;
        mxb_quant_config_t cfg;
        mxb_quant_config_init(&cfg);
        cfg.compat = (mxb_compat_t)p;
        cfg.block_2d = two_d;
        cfg.nvfp4_row_amax = per_row;
        cfg.four_over_six = k == 5 || k == 7 ? MXB_FOUR_OVER_SIX_MAE
                            : k == 6         ? MXB_FOUR_OVER_SIX_MSE
                                             : MXB_FOUR_OVER_SIX_OFF;
        cfg.nvfp4_e4m3_max = k == 6 ? 256 : 0;
        cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
        cr_assert_eq(mxb_quantize_supported(ctx, &cfg, fs[f], &ok), MXB_SUCCESS);
        mxb_context_destroy(ctx);
        if (!ok) continue;
        vcase v = {.format = fs[f], .rows = R, .cols = C, .x = x, .nx = R * C, .profile = (mxb_compat_t)p,
                   .amax_in = given ? AMAX_GIVEN : AMAX_COMPUTED, .amax_given = given == 1 ? 1.5e3f : 0x1p-120f,
                   .block_2d = two_d, .row_amax = per_row, .four_six = (int)cfg.four_over_six,
                   .e4m3_max = cfg.nvfp4_e4m3_max};
        snprintf(v.name, sizeof(v.name), "%s/%s/%d", mxbt_format_name(fs[f]), p == 1 ? "te" : "other", k);
        qout a, b;
        cr_assert_eq(run_case(&v, MXB_BACKEND_CPU, &a), MXB_SUCCESS, "%s", mxb_last_error_detail());
        cr_assert_eq(run_case(&v, MXB_BACKEND_CUDA, &b), MXB_SUCCESS, "%s", mxb_last_error_detail());
        for (size_t i = 0; i < a.sz.data_bytes; i++)
          cr_assert_eq(a.data[i], b.data[i], "profile %d %s: data byte %zu: cpu 0x%02x cuda 0x%02x", p, v.name, i,
                       a.data[i], b.data[i]);
        for (size_t i = 0; i < a.sz.scale_bytes; i++)
          cr_assert_eq(a.scales[i], b.scales[i], "profile %d %s: scale %zu: cpu 0x%02x cuda 0x%02x", p, v.name, i,
                       a.scales[i], b.scales[i]);
        for (int r = 0; r < (per_row ? R : 1); r++)
          cr_assert_eq(mxbt_f2u(a.amax[r]), mxbt_f2u(b.amax[r]), "profile %d %s: amax %d", p, v.name, r);
        qout_free(&a);
        qout_free(&b);
        n++;
      }
  cr_assert_eq(n, 8 + 2 + 3 + 5 + 5 + 6 + 6, "profile x format x option runs"); /* torchao NVFP4: 3 */
}
