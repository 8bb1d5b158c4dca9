/* mxblas quantize / dequantize.
 *
 * The quantized container is a safetensors file (readable by any safetensors
 * library) holding the planes of an mxb_tensor_t, linear scale layout:
 *   data   U8  [rows, row_bytes]   element codes
 *   scales U8  [scale_bytes] or F32 [scale_rows * scale_cols] (FP8/MoR)
 *   aux    U8  [aux_bytes]         BDR microexponents / MoR decisions
 *   amax   F32 [1]                 NVFP4 tensor amax ([rows]: one a row, flag 0x8)
 * and __metadata__ mxblas.format, mxblas.rows, mxblas.cols, mxblas.flags plus
 * the options used (for the record). See docs/CLI.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *k_planes[4] = {"data", "scales", "aux", "amax"};

static int save_container(const char *path, const cli_qtensor *q, const cli_opts *o,
                          const char *src) {
  mxb_format_info_t fi = {.struct_size = sizeof(fi)};
  mxb_format_info(q->t.format, &fi);
  int fp32_scales = fi.scale_type == MXB_SCALE_FP32;
  int64_t shapes[4][2] = {{q->t.rows, (int64_t)q->sizes.row_bytes},
                          {(int64_t)(q->sizes.scale_bytes / (fp32_scales ? 4 : 1)), 0},
                          {(int64_t)q->sizes.aux_bytes, 0},
                          {(int64_t)(q->sizes.amax_bytes / 4), 0}};
  const void *ptr[4] = {q->t.data, q->t.scales, q->t.aux, q->t.amax};
  mxio_st_out out[4];
  int n = 0;
  for (int k = 0; k < 4; k++) {
    if (!ptr[k]) continue;
    out[n] = (mxio_st_out){k_planes[k], (k == 3 || (k == 1 && fp32_scales)) ? MXIO_F32 : MXIO_U8,
                           k == 0 ? 2 : 1, shapes[k], ptr[k]};
    n++;
  }
  char rows[24], cols[24], flags[16], seed[24], offset[24];
  snprintf(rows, sizeof(rows), "%lld", (long long)q->t.rows);
  snprintf(cols, sizeof(cols), "%lld", (long long)q->t.cols);
  snprintf(flags, sizeof(flags), "%u", q->t.flags);
  snprintf(seed, sizeof(seed), "%" PRIu64, o->cfg.seed);
  snprintf(offset, sizeof(offset), "%" PRIu64, o->cfg.offset);
  static const char *rules[] = {"rceil", "floor", "ceil", "even"};
  const char *keys[] = {"mxblas.version", "mxblas.format", "mxblas.rows", "mxblas.cols",
                        "mxblas.flags",   "mxblas.rounding", "mxblas.seed", "mxblas.offset",
                        "mxblas.scale_rule", "mxblas.source", "mxblas.compat"};
  const char *vals[] = {mxb_version_string(), fi.name, rows, cols, flags,
                        o->cfg.rounding == MXB_ROUND_SR ? "sr" : "rne", seed, offset,
                        rules[o->cfg.scale_rule & 3], src, cli_compat_name(o->cfg.compat)};
  char err[512];
  if (mxio_st_write(path, n, out, 11, keys, vals, err, sizeof(err)) != 0) return cli_error("%s", err);
  return CLI_OK;
}

int cmd_quantize(cli_opts *op, int nargs, char **args) {
  (void)nargs;
  cli_opts o = *op;
  const char *in = args[0], *fmt = o.format;
  if (!fmt || !o.out) return cli_usage("quantize needs --format F and -o OUT (mxblas quantize --help)");
  mxb_format_t f;
  if (cli_format(fmt, &f) != 0) return CLI_USAGE;
  mxio_array a;
  int rc = cli_load_f32(in, o.tensor, &a);
  if (rc != CLI_OK) return rc;
  mxb_context_t *ctx = NULL;
  cli_qtensor q;
  if ((rc = cli_context(o.backend, &ctx)) == CLI_OK) {
    cli_progress("quantizing [%lld, %lld] to %s", (long long)a.rows, (long long)a.cols, fmt);
    mxb_status_t s = cli_quantize(ctx, &o.cfg, f, a.data, a.rows, a.cols, &q);
    cli_progress_end();
    if (s != MXB_SUCCESS) {
      rc = cli_lib_error(s, "quantize");
    } else {
      char src[600];
      snprintf(src, sizeof(src), "%s%s%s", in, o.tensor ? ":" : "", o.tensor ? o.tensor : "");
      rc = save_container(o.out, &q, &o, src);
      if (rc == CLI_OK) {
        mxio_put_escaped(stderr, o.out, MXIO_ESC_TEXT);
        fprintf(stderr, ": %s [%lld, %lld], %zu bytes of planes (%s)\n", fmt,
                (long long)a.rows, (long long)a.cols,
                q.sizes.data_bytes + q.sizes.scale_bytes + q.sizes.aux_bytes + q.sizes.amax_bytes,
                mxb_context_last_impl(ctx));
      }
      cli_qtensor_free(&q);
    }
    mxb_context_destroy(ctx);
  }
  mxio_array_free(&a);
  return rc;
}

/* A metadata value of plain decimal digits (no sign, blank or suffix), <= max. */
static int parse_dec(const char *s, uint64_t max, uint64_t *v) {
  uint64_t x = 0;
  if (!s || !*s) return -1;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || x > (max - (uint64_t)(*s - '0')) / 10) return -1;
    x = x * 10 + (uint64_t)(*s - '0');
  }
  *v = x;
  return 0;
}

static int is_mor(mxb_format_t f) {
  return f == MXB_FORMAT_MOR_TENSOR || f == MXB_FORMAT_MOR_128x128 || f == MXB_FORMAT_MOR_1x128;
}

/* The metadata of a container: format, shape and flags as quantize writes
 * them, and flags the format can carry. */
static int read_meta(const mxio_st *st, const char *path, mxb_format_t *f, int64_t *rows, int64_t *cols,
                     uint32_t *flags) {
  static const char *keys[3] = {"mxblas.rows", "mxblas.cols", "mxblas.flags"};
  const char *fname = mxio_st_meta(st, "mxblas.format");
  if (!fname || !mxio_st_meta(st, keys[0]) || !mxio_st_meta(st, keys[1]) || !mxio_st_meta(st, keys[2]))
    return cli_error("%s: not an mxblas container (metadata mxblas.format/rows/cols/flags missing)", path);
  if (mxb_format_from_name(fname, f) != MXB_SUCCESS)
    return cli_error("%s: mxblas.format '%s' is not a format (see 'mxblas info')", path, fname);
  uint64_t v[3];
  for (int k = 0; k < 3; k++) {
    const char *s = mxio_st_meta(st, keys[k]);
    if (parse_dec(s, k < 2 ? (uint64_t)INT64_MAX : UINT32_MAX, &v[k]) != 0)
      return cli_error("%s: %s '%s' is not a decimal number%s", path, keys[k], s,
                       k < 2 ? "" : " (the MXB_TENSOR_* bits)");
  }
  *rows = (int64_t)v[0];
  *cols = (int64_t)v[1];
  *flags = (uint32_t)v[2];
  if (*flags & ~(MXB_TENSOR_SCALED_2D | MXB_TENSOR_RHT | MXB_TENSOR_E4M3_MAX_256 | MXB_TENSOR_ROW_AMAX))
    return cli_error("%s: mxblas.flags '%s' is not a set of defined flags (1: 2D scales, 2: RHT, 4: E4M3 bound "
                     "256, 8: an amax a row)",
                     path, mxio_st_meta(st, keys[2]));
  mxb_format_info_t fi = {.struct_size = sizeof(fi)};
  if (mxb_format_info(*f, &fi) != MXB_SUCCESS) return cli_error("%s: no format info for %s", path, fname);
  if ((*flags & MXB_TENSOR_SCALED_2D) && *f != MXB_FORMAT_NVFP4 && fi.scale_type != MXB_SCALE_E8M0)
    return cli_error("%s: 2D scales (flag 1) exist for nvfp4 and the MX formats only, not %s", path, fname);
  if ((*flags & MXB_TENSOR_E4M3_MAX_256) && *f != MXB_FORMAT_NVFP4)
    return cli_error("%s: the E4M3 bound 256 (flag 4) exists for nvfp4 only, not %s", path, fname);
  if (*flags && is_mor(*f))
    return cli_error("%s: mxblas.flags is %s, but %s is never stored transformed or 2D-scaled", path,
                     mxio_st_meta(st, keys[2]), fname);
  return CLI_OK;
}

/* Load an mxblas container written by quantize. Every plane is checked
 * against the format's sizes and the file before anything is allocated, so
 * forged metadata cannot make the tool allocate more than the file holds. */
static int load_container(const char *path, cli_qtensor *q) {
  char err[512];
  mxio_src s;
  mxio_st st;
  if (mxio_src_file(&s, path, err, sizeof(err)) != 0) return cli_error("%s", err);
  if (mxio_st_open(&s, &st, err, sizeof(err)) != 0) {
    mxio_src_close(&s);
    return cli_error("%s: %s", path, err);
  }
  int64_t rows = 0, cols = 0;
  uint32_t flags = 0;
  mxb_format_t f = MXB_FORMAT_FP32;
  mxb_format_info_t fi = {.struct_size = sizeof(fi)};
  mxb_tensor_sizes_t sz = {.struct_size = sizeof(sz)};
  const mxio_st_tensor *t[4] = {NULL};
  int rc = read_meta(&st, path, &f, &rows, &cols, &flags);
  if (rc == CLI_OK && (mxb_format_info(f, &fi) != MXB_SUCCESS ||
                       mxb_tensor_sizes(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &sz) != MXB_SUCCESS))
    rc = cli_error("%s: %s", path, mxb_last_error_detail());
  /* an amax per row: rows values (the flag is checked against the format by the library's readers) */
  size_t need[4] = {sz.data_bytes, sz.scale_bytes, sz.aux_bytes,
                    sz.amax_bytes * (flags & MXB_TENSOR_ROW_AMAX ? (size_t)rows : 1u)};
  for (int k = 0; k < 4 && rc == CLI_OK; k++) {
    t[k] = mxio_st_find(&st, k_planes[k]);
    mxio_dtype want = k == 3 || (k == 1 && fi.scale_type == MXB_SCALE_FP32) ? MXIO_F32 : MXIO_U8;
    if (!need[k] && t[k])
      rc = cli_error("%s: unexpected plane '%s' for %s", path, k_planes[k], fi.name);
    else if (need[k] && !t[k])
      rc = cli_error("%s: missing plane '%s' for %s", path, k_planes[k], fi.name);
    else if (t[k] && t[k]->dtype != want)
      rc = cli_error("%s: plane '%s' is %s, %s needs %s", path, k_planes[k],
                     (int)t[k]->dtype < 0 ? "of another dtype" : mxio_dtype_name(t[k]->dtype), fi.name,
                     mxio_dtype_name(want));
    else if (t[k] && t[k]->end - t[k]->begin != need[k])
      rc = cli_error("%s: plane '%s' has %llu bytes, %s [%lld, %lld] needs %zu", path, k_planes[k],
                     (unsigned long long)(t[k]->end - t[k]->begin), fi.name, (long long)rows,
                     (long long)cols, need[k]);
  }
  if (rc == CLI_OK) {
    mxb_status_t stt = cli_qtensor_alloc(q, f, rows, cols, flags);
    if (stt != MXB_SUCCESS) rc = cli_lib_error(stt, "reading the container");
  }
  if (rc == CLI_OK) {
    q->t.flags = flags;
    void *ptr[4] = {q->t.data, q->t.scales, q->t.aux, q->t.amax};
    for (int k = 0; k < 4 && rc == CLI_OK; k++)
      if (t[k] && mxio_src_read(&s, st.data_start + t[k]->begin, ptr[k], need[k], k_planes[k], err,
                                sizeof(err)) != 0)
        rc = cli_error("%s: %s", path, err);
    /* MoR: one decision byte per partition, 1 = FP8, 0 = BF16. */
    const uint8_t *aux = q->t.aux;
    for (size_t i = 0; rc == CLI_OK && is_mor(f) && i < need[2]; i++)
      if (aux[i] > 1) rc = cli_error("%s: aux byte %zu is %d (MoR decisions are 0 or 1)", path, i, aux[i]);
    if (rc != CLI_OK) cli_qtensor_free(q);
  }
  mxio_st_free(&st);
  mxio_src_close(&s);
  return rc;
}

int cmd_dequantize(cli_opts *op, int nargs, char **args) {
  (void)nargs;
  cli_opts o = *op;
  const char *in = args[0];
  int keep_rht = o.keep_rht;
  if (!o.out) return cli_usage("dequantize needs -o OUT.npy (mxblas dequantize --help)");
  cli_qtensor q;
  int rc = load_container(in, &q);
  if (rc != CLI_OK) return rc;
  size_t n = (size_t)q.t.rows * (size_t)q.t.cols;
  float *y = malloc(n * sizeof(float)), *z = NULL;
  mxb_status_t s = y ? cli_dequantize(&q, y)
                     : cli_status(MXB_ERR_ALLOC, "out of memory for the %zu-byte output", n * sizeof(float));
  if (s == MXB_SUCCESS && (q.t.flags & MXB_TENSOR_RHT) && !keep_rht) {
    /* Back to the original domain with the default transform (d = 16, mask 0xD7E8). */
    mxb_context_t *cpu = NULL;
    mxb_rht_t rht;
    mxb_rht_init(&rht);
    rht.enabled = 1;
    z = malloc(n * sizeof(float));
    s = z ? mxb_context_create(MXB_BACKEND_CPU, 0, &cpu)
          : cli_status(MXB_ERR_ALLOC, "out of memory for the inverse transform, %zu bytes", n * sizeof(float));
    if (s == MXB_SUCCESS)
      s = mxb_rht(cpu, &rht, 1, MXB_AXIS_COLS, q.t.rows, q.t.cols, MXB_DTYPE_FP32, y, MXB_DTYPE_FP32, z, NULL);
    if (cpu) mxb_context_destroy(cpu);
    if (s == MXB_SUCCESS) memcpy(y, z, n * sizeof(float));
  }
  if (s != MXB_SUCCESS) {
    rc = cli_lib_error(s, "dequantize");
  } else {
    char err[512];
    int64_t shape[2] = {q.t.rows, q.t.cols};
    if (mxio_npy_write(o.out, MXIO_F32, 2, shape, y, err, sizeof(err)) != 0) rc = cli_error("%s", err);
  }
  free(y);
  free(z);
  cli_qtensor_free(&q);
  return rc;
}
