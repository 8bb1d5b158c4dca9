/* mxblas quantize / dequantize.
 *
 * The quantized container is a safetensors file (readable by any safetensors
 * library) holding the planes of an mxb_tensor_t, linear scale layout:
 *   data   U8  [rows, row_bytes]   element codes
 *   scales U8  [scale_bytes] or F32 [scale_rows * scale_cols] (FP8/MoR)
 *   aux    U8  [aux_bytes]         BDR microexponents / MoR decisions
 *   amax   F32 [1]                 NVFP4 tensor amax
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
                          {1, 0}};
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
                        "mxblas.scale_rule", "mxblas.source"};
  const char *vals[] = {mxb_version_string(), fi.name, rows, cols, flags,
                        o->cfg.rounding == MXB_ROUND_SR ? "sr" : "rne", seed, offset,
                        rules[o->cfg.scale_rule & 3], src};
  char err[512];
  if (mxio_st_write(path, n, out, 10, keys, vals, err, sizeof(err)) != 0) return cli_error("%s", err);
  return CLI_OK;
}

int cmd_quantize(int argc, char **argv) {
  cli_opts o;
  cli_opts_init(&o);
  const char *in = NULL, *fmt = NULL;
  for (int i = 1; i < argc; i++) {
    int r = cli_opt(&o, argc, argv, &i);
    if (r < 0) return CLI_USAGE;
    if (r > 0) continue;
    if (!strcmp(argv[i], "--format")) {
      if (!(fmt = cli_value(argc, argv, &i))) return CLI_USAGE;
    } else if (argv[i][0] == '-' || in) {
      return cli_usage("quantize: unexpected argument '%s'", argv[i]);
    } else {
      in = argv[i];
    }
  }
  if (!in || !fmt || !o.out) return cli_usage("usage: mxblas quantize IN --format F [options] -o OUT");
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
      if (rc == CLI_OK)
        fprintf(stderr, "%s: %s [%lld, %lld], %zu bytes of planes (%s)\n", o.out, fmt,
                (long long)a.rows, (long long)a.cols,
                q.sizes.data_bytes + q.sizes.scale_bytes + q.sizes.aux_bytes + q.sizes.amax_bytes,
                mxb_context_last_impl(ctx));
      cli_qtensor_free(&q);
    }
    mxb_context_destroy(ctx);
  }
  mxio_array_free(&a);
  return rc;
}

/* Read one plane of a container into dst, checking its size. */
static int load_plane(const mxio_src *s, const mxio_st *st, int k, void *dst, size_t bytes,
                      const char *path) {
  const mxio_st_tensor *t = mxio_st_find(st, k_planes[k]);
  if (!dst) return t ? cli_error("%s: unexpected plane '%s' for this format", path, k_planes[k]) : CLI_OK;
  if (!t) return cli_error("%s: missing plane '%s'", path, k_planes[k]);
  char err[512];
  mxio_array a;
  if (mxio_st_read(s, st, t, &a, err, sizeof(err)) != 0) return cli_error("%s: %s", path, err);
  int ok = a.nbytes == bytes;
  if (ok) memcpy(dst, a.data, bytes);
  mxio_array_free(&a);
  return ok ? CLI_OK
            : cli_error("%s: plane '%s' has %zu bytes, the format needs %zu", path, k_planes[k],
                        a.nbytes, bytes);
}

static int parse_i64(const char *s, int64_t *v) {
  char *end;
  if (!s || !*s) return -1;
  long long x = strtoll(s, &end, 10);
  if (*end || x <= 0) return -1;
  *v = x;
  return 0;
}

/* Load an mxblas container written by quantize. */
static int load_container(const char *path, cli_qtensor *q) {
  char err[512];
  mxio_src s;
  mxio_st st;
  if (mxio_src_file(&s, path, err, sizeof(err)) != 0) return cli_error("%s", err);
  if (mxio_st_open(&s, &st, err, sizeof(err)) != 0) {
    mxio_src_close(&s);
    return cli_error("%s: %s", path, err);
  }
  int rc = CLI_OK;
  int64_t rows, cols;
  mxb_format_t f;
  const char *fname = mxio_st_meta(&st, "mxblas.format");
  const char *flags = mxio_st_meta(&st, "mxblas.flags");
  if (!fname || mxb_format_from_name(fname, &f) != MXB_SUCCESS ||
      parse_i64(mxio_st_meta(&st, "mxblas.rows"), &rows) != 0 ||
      parse_i64(mxio_st_meta(&st, "mxblas.cols"), &cols) != 0 || !flags) {
    rc = cli_error("%s: not an mxblas container (metadata mxblas.format/rows/cols/flags missing or bad)", path);
  } else {
    mxb_status_t stt = cli_qtensor_alloc(q, f, rows, cols);
    if (stt != MXB_SUCCESS) {
      rc = cli_lib_error(stt, "reading the container");
    } else {
      q->t.flags = (uint32_t)strtoul(flags, NULL, 10);
      void *ptr[4] = {q->t.data, q->t.scales, q->t.aux, q->t.amax};
      size_t nb[4] = {q->sizes.data_bytes, q->sizes.scale_bytes, q->sizes.aux_bytes, q->sizes.amax_bytes};
      for (int k = 0; k < 4 && rc == CLI_OK; k++) rc = load_plane(&s, &st, k, ptr[k], nb[k], path);
      if (rc != CLI_OK) cli_qtensor_free(q);
    }
  }
  mxio_st_free(&st);
  mxio_src_close(&s);
  return rc;
}

int cmd_dequantize(int argc, char **argv) {
  cli_opts o;
  cli_opts_init(&o);
  const char *in = NULL;
  int keep_rht = 0;
  for (int i = 1; i < argc; i++) {
    int r = cli_opt(&o, argc, argv, &i);
    if (r < 0) return CLI_USAGE;
    if (r > 0) continue;
    if (!strcmp(argv[i], "--keep-rht"))
      keep_rht = 1;
    else if (argv[i][0] == '-' || in)
      return cli_usage("dequantize: unexpected argument '%s'", argv[i]);
    else
      in = argv[i];
  }
  if (!in || !o.out) return cli_usage("usage: mxblas dequantize IN -o OUT.npy [--keep-rht]");
  cli_qtensor q;
  int rc = load_container(in, &q);
  if (rc != CLI_OK) return rc;
  size_t n = (size_t)q.t.rows * (size_t)q.t.cols;
  float *y = malloc(n * sizeof(float)), *z = NULL;
  mxb_status_t s = y ? cli_dequantize(&q, y) : MXB_ERR_ALLOC;
  if (s == MXB_SUCCESS && (q.t.flags & MXB_TENSOR_RHT) && !keep_rht) {
    /* Back to the original domain with the default transform (d = 16, mask 0xD7E8). */
    mxb_context_t *cpu = NULL;
    mxb_rht_t rht;
    mxb_rht_init(&rht);
    rht.enabled = 1;
    z = malloc(n * sizeof(float));
    s = z ? mxb_context_create(MXB_BACKEND_CPU, 0, &cpu) : MXB_ERR_ALLOC;
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
