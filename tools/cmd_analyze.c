/* mxblas analyze: the NUMERICS 8 statistics of every selected tensor of a
 * file, a sharded checkpoint or a directory, in several formats side by side
 * (with and without the random Hadamard transform), then a summary per
 * format. Output: a table, NDJSON or CSV; plots with --plots. */
#include <dirent.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analyze.h"

#define MAX_RUNS 64
static const char k_default_formats[] = "nvfp4,mxfp8_e4m3,mxfp4,mx6,mx9,fp8_e4m3";

/* ------------------------------------------------------------ selection */
typedef struct source {
  char *path;  /* a .npy or .safetensors file */
  mxio_src src;
  mxio_st st;  /* safetensors header (ntensors 0 for .npy) */
  int npy;
} source;

typedef struct selection {
  source *files;
  int nfiles;
  an_tensor *tensors;
  int ntensors;
  int skipped_glob, skipped_dim, skipped_dtype;
  char unmatched[256]; /* the first names --tensor did not match, for the message */
} selection;

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s%s%s", dir, !dir[0] || ends_with(dir, "/") ? "" : "/", name);
  return p;
}

static int add_file(selection *sel, char *path) {
  source *f = realloc(sel->files, sizeof(*f) * (size_t)(sel->nfiles + 1));
  if (!f || !path) {
    free(path);
    return cli_error("out of memory");
  }
  sel->files = f;
  memset(&f[sel->nfiles], 0, sizeof(*f));
  f[sel->nfiles++].path = path;
  return CLI_OK;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The shards of an index, each once, in the order they first appear. */
static int read_index(selection *sel, const char *path, mxio_index *ix) {
  char err[512];
  mxio_src s;
  if (mxio_src_file(&s, path, err, sizeof(err)) != 0) return cli_error("%s", err);
  int r = mxio_index_read(&s, ix, err, sizeof(err));
  mxio_src_close(&s);
  if (r != 0) return cli_error("%s: %s", path, err);
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, (size_t)(slash - path + 1)) : strdup("");
  int rc = dir ? CLI_OK : cli_error("out of memory");
  for (int i = 0; i < ix->n && rc == CLI_OK; i++) {
    if (strchr(ix->files[i], '/') || !strcmp(ix->files[i], "..")) {
      rc = cli_error("%s: shard '%s' is not a file name in the index's directory", path, ix->files[i]);
      break;
    }
    int seen = 0;
    for (int j = 0; j < i && !seen; j++) seen = !strcmp(ix->files[j], ix->files[i]);
    if (!seen) rc = add_file(sel, join(dir, ix->files[i]));
  }
  free(dir);
  return rc;
}

/* Files of a directory: its index if it has one, else *.safetensors and
 * *.npy in name order. */
static int read_dir(selection *sel, const char *path, mxio_index *ix) {
  char *idx = join(path, "model.safetensors.index.json");
  struct stat sb;
  if (idx && stat(idx, &sb) == 0) {
    int rc = read_index(sel, idx, ix);
    free(idx);
    return rc;
  }
  free(idx);
  DIR *d = opendir(path);
  if (!d) return cli_error("%s: cannot read the directory", path);
  char **names = NULL;
  int n = 0, rc = CLI_OK;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.' || !(ends_with(e->d_name, ".safetensors") || ends_with(e->d_name, ".npy"))) continue;
    char **p = realloc(names, sizeof(char *) * (size_t)(n + 1));
    if (!p || !(p[n] = strdup(e->d_name))) {
      names = p ? p : names;
      rc = cli_error("out of memory");
      break;
    }
    names = p;
    n++;
  }
  closedir(d);
  if (names) qsort(names, (size_t)n, sizeof(char *), cmp_str);
  for (int i = 0; i < n; i++) {
    if (rc == CLI_OK) rc = add_file(sel, join(path, names[i]));
    free(names[i]);
  }
  free(names);
  if (rc == CLI_OK && n == 0) rc = cli_error("%s: no .safetensors or .npy file in the directory", path);
  return rc;
}

static int matches(const cli_opts *o, const char *name) {
  if (o->ntensors == 0) return 1;
  for (int g = 0; g < o->ntensors; g++)
    if (fnmatch(o->tensors[g], name, 0) == 0) return 1;
  return 0;
}

static void skip_glob(selection *sel, const char *name) {
  size_t len = strlen(sel->unmatched);
  if (len < 200) snprintf(sel->unmatched + len, sizeof(sel->unmatched) - len, "%s%s", len ? ", " : "", name);
  sel->skipped_glob++;
}

static int add_tensor(selection *sel, int file, int index, const char *name, int ndim, const int64_t *shape) {
  an_tensor *t = realloc(sel->tensors, sizeof(*t) * (size_t)(sel->ntensors + 1));
  if (!t) return cli_error("out of memory");
  sel->tensors = t;
  t = &sel->tensors[sel->ntensors++];
  memset(t, 0, sizeof(*t));
  t->file = sel->files[file].path;
  t->file_index = file;
  t->index = index;
  t->name = name;
  t->rows = 1;
  for (int d = 0; d + 1 < ndim; d++) t->rows *= shape[d];
  t->cols = ndim ? shape[ndim - 1] : 1;
  return CLI_OK;
}

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* Open every file and choose its tensors. */
static int select_tensors(const cli_opts *o, const char *in, selection *sel) {
  mxio_index ix = {0};
  struct stat sb;
  int rc;
  if (stat(in, &sb) == 0 && S_ISDIR(sb.st_mode))
    rc = read_dir(sel, in, &ix);
  else if (ends_with(in, ".json"))
    rc = read_index(sel, in, &ix);
  else
    rc = add_file(sel, strdup(in));
  char err[512];
  for (int f = 0; f < sel->nfiles && rc == CLI_OK; f++) {
    source *s = &sel->files[f];
    if (mxio_src_file(&s->src, s->path, err, sizeof(err)) != 0) {
      rc = cli_error("%s", err);
      break;
    }
    uint8_t magic[6] = {0};
    s->npy = s->src.size >= 6 && mxio_src_read(&s->src, 0, magic, 6, "the magic", err, sizeof(err)) == 0 &&
             memcmp(magic, "\x93NUMPY", 6) == 0;
    if (s->npy) {
      /* A .npy holds one array, named after its file. */
      mxio_array a;
      if (mxio_npy_read(&s->src, &a, err, sizeof(err)) != 0) {
        rc = cli_error("%s: %s", s->path, err);
        break;
      }
      const char *name = base_name(s->path);
      if (!matches(o, name))
        skip_glob(sel, name);
      else if (a.dtype == MXIO_U8)
        sel->skipped_dtype++;
      else if (a.ndim != 2 && !o->all_tensors)
        sel->skipped_dim++;
      else
        rc = add_tensor(sel, f, -1, name, a.ndim, a.shape);
      mxio_array_free(&a);
      continue;
    }
    if (s->src.size < 8) {
      rc = cli_error("%s: not a .npy or safetensors file (only %llu bytes)", s->path,
                     (unsigned long long)s->src.size);
      break;
    }
    if (mxio_st_open(&s->src, &s->st, err, sizeof(err)) != 0) {
      rc = cli_error("%s: %s", s->path, err);
      break;
    }
    for (int i = 0; i < s->st.ntensors && rc == CLI_OK; i++) {
      const mxio_st_tensor *t = &s->st.tensors[i];
      int listed = ix.n == 0;
      for (int j = 0; j < ix.n && !listed; j++)
        listed = !strcmp(ix.names[j], t->name) && !strcmp(ix.files[j], base_name(s->path));
      if (!listed) continue; /* a shard's tensor that the index does not map here */
      if (!matches(o, t->name))
        skip_glob(sel, t->name);
      else if ((int)t->dtype < 0 || t->dtype == MXIO_U8)
        sel->skipped_dtype++;
      else if ((t->ndim != 2 && !o->all_tensors) || t->ndim == 0)
        sel->skipped_dim++;
      else
        rc = add_tensor(sel, f, i, t->name, t->ndim, t->shape);
    }
  }
  /* Every name of the index must be in its shard. */
  for (int j = 0; j < ix.n && rc == CLI_OK; j++) {
    int found = 0;
    for (int f = 0; f < sel->nfiles && !found; f++)
      found = !strcmp(base_name(sel->files[f].path), ix.files[j]) && mxio_st_find(&sel->files[f].st, ix.names[j]);
    if (!found) rc = cli_error("%s: the index maps '%s' to %s, which does not hold it", in, ix.names[j], ix.files[j]);
  }
  /* Names now point into the headers; the index goes. */
  mxio_index_free(&ix);
  if (rc == CLI_OK && sel->ntensors == 0) {
    char globs[256] = "";
    for (int g = 0; g < o->ntensors; g++)
      snprintf(globs + strlen(globs), sizeof(globs) - strlen(globs), "%s'%s'", g ? ", " : "", o->tensors[g]);
    rc = cli_error("%s: no tensor to analyze (%d not floating-point, %d not 2-D: --all-tensors takes them, "
                   "%d not matching --tensor %s%s%s)",
                   in, sel->skipped_dtype, sel->skipped_dim, sel->skipped_glob, globs,
                   sel->skipped_glob ? ": " : "", sel->unmatched);
  }
  return rc;
}

static void selection_free(selection *sel) {
  for (int f = 0; f < sel->nfiles; f++) {
    mxio_st_free(&sel->files[f].st);
    mxio_src_close(&sel->files[f].src);
    free(sel->files[f].path);
  }
  free(sel->files);
  free(sel->tensors);
}

static int load(const selection *sel, const an_tensor *t, mxio_array *a) {
  char err[512];
  const source *s = &sel->files[t->file_index];
  int r = s->npy ? mxio_npy_read(&s->src, a, err, sizeof(err))
                 : mxio_st_read(&s->src, &s->st, &s->st.tensors[t->index], a, err, sizeof(err));
  if (r == 0 && mxio_array_to_f32(a, err, sizeof(err)) != 0) {
    mxio_array_free(a);
    r = -1;
  }
  return r == 0 ? CLI_OK : cli_error("%s: %s", s->path, err);
}

/* ------------------------------------------------------------ measuring */
/* Error against magnitude: bins of floor(log2 |x|). */
static int mag_bin(float x) {
  int e;
  frexpf(fabsf(x), &e);
  e -= 1 + AN_MAG_LO;
  return e < 0 ? 0 : e >= AN_MAG_BINS ? AN_MAG_BINS - 1 : e;
}

static void measure(mxb_context_t *ctx, const cli_opts *o, const an_run *run, const float *x, const float *ref,
                    int64_t rows, int64_t cols, float *deq, an_result *r) {
  mxb_quant_config_t cfg = o->cfg;
  cfg.rht.enabled = run->rht;
  cfg.four_over_six = (mxb_four_over_six_t)run->four_six;
  cfg.nvfp4_e4m3_max = run->e4m3_max;
  cfg.nvfp4_row_amax = run->row_amax;
  cfg.compat = (mxb_compat_t)run->compat;
  cli_qtensor q;
  r->status = cli_quantize(ctx, &cfg, run->format, x, rows, cols, &q);
  if (r->status == MXB_SUCCESS) {
    r->bits = 8.0 * (double)(q.sizes.data_bytes + q.sizes.scale_bytes + q.sizes.aux_bytes + q.sizes.amax_bytes) /
              ((double)rows * (double)cols);
    r->st.struct_size = sizeof(r->st);
    /* The quantizer applied RHT itself; the reference is RHT(x). */
    r->status = mxb_error_stats(ref, &q.t, &r->st);
    if (r->status == MXB_SUCCESS && deq && (r->status = cli_dequantize(&q, deq)) == MXB_SUCCESS) {
      size_t n = (size_t)rows * (size_t)cols;
      for (size_t i = 0; i < n; i++) {
        if (ref[i] == 0 || !isfinite(ref[i]) || !isfinite(deq[i])) continue;
        int b = mag_bin(ref[i]);
        double e = (double)deq[i] - (double)ref[i];
        r->mag_err[b] += e * e;
        r->mag_sig[b] += (double)ref[i] * (double)ref[i];
      }
    }
    cli_qtensor_free(&q);
  }
  if (r->status != MXB_SUCCESS) snprintf(r->detail, sizeof(r->detail), "%s", mxb_last_error_detail());
}

/* [=====>    ] 37%  12/104 name  ETA 0:42 (on a terminal only). */
static void progress(double done, double total, int k, int n, const char *name, double t0) {
  char bar[31];
  int w = total > 0 ? (int)(30 * done / total) : 0;
  for (int i = 0; i < 30; i++) bar[i] = i < w ? '=' : i == w ? '>' : ' ';
  bar[30] = 0;
  double el = cli_now() - t0, eta = done > 0 ? el * (total - done) / done : 0;
  char nm[48];
  mxio_escaped(name, MXIO_ESC_TEXT, nm, sizeof(nm));
  if (done > 0)
    cli_progress("[%s] %3.0f%% %d/%d %s  ETA %d:%02d", bar, 100 * done / total, k, n, nm, (int)eta / 60,
                 (int)eta % 60);
  else
    cli_progress("[%s] %3.0f%% %d/%d %s", bar, 0.0, k, n, nm);
}

/* ------------------------------------------------------------ output */
/* The per-tensor statistics, in the order of the NDJSON keys and CSV columns. */
static const char *k_fields[] = {"bits_per_element", "count", "mse", "rmse", "nmse", "sqnr_db", "max_abs_err",
                                 "max_rel_err", "cosine", "frac_flushed", "frac_saturated", "nonfinite", "blocks",
                                 "scale_min", "scale_p01", "scale_p50", "scale_p99", "scale_max",
                                 "frac_scaled_to_4"};
#define NFIELDS (sizeof(k_fields) / sizeof(k_fields[0]))

static void field_values(const an_result *r, double *v) {
  const mxb_error_stats_t *s = &r->st;
  double x[NFIELDS] = {r->bits, (double)s->count, s->mse, s->rmse, s->nmse, s->sqnr_db, s->max_abs_err,
                       s->max_rel_err, s->cosine, s->frac_flushed, s->frac_saturated, (double)s->nonfinite,
                       (double)s->blocks, s->scale_min, s->scale_p01, s->scale_p50, s->scale_p99, s->scale_max,
                       s->frac_scaled_to_4};
  memcpy(v, x, sizeof(x));
}
/* mxb_four_over_six_t in NDJSON and CSV */
static const char *const k_fos_names[] = {"off", "mse", "mae"};
/* JSON has no NaN/Inf: write null. */
static void jnum(FILE *f, const char *key, double v) {
  if (isfinite(v))
    fprintf(f, ", \"%s\": %.17g", key, v);
  else
    fprintf(f, ", \"%s\": null", key);
}

static void jstr(FILE *f, const char *s) {
  fputc('"', f);
  mxio_put_escaped(f, s, MXIO_ESC_JSON);
  fputc('"', f);
}

static void print_ndjson(const an_data *d, const int *order) {
  for (int k = 0; k < d->nresults; k++) {
    const an_result *r = &d->results[order[k]];
    const an_tensor *t = &d->tensors[r->tensor];
    const an_run *run = &d->runs[r->run];
    const mxb_error_stats_t *s = &r->st;
    printf("{\"kind\": \"tensor\", \"file\": ");
    jstr(stdout, t->file);
    printf(", \"tensor\": ");
    jstr(stdout, t->name);
    printf(", \"rows\": %lld, \"cols\": %lld, \"format\": \"%s\", \"rht\": %s, \"four_over_six\": \"%s\", "
           "\"e4m3_max\": %d, \"row_amax\": %s, \"compat\": \"%s\"",
           (long long)t->rows, (long long)t->cols, run->name, run->rht ? "true" : "false", k_fos_names[run->four_six],
           run->e4m3_max, run->row_amax ? "true" : "false", cli_compat_name(run->compat));
    if (r->status != MXB_SUCCESS) {
      printf(", \"error\": \"%s: ", mxb_status_string(r->status));
      mxio_put_escaped(stdout, r->detail, MXIO_ESC_JSON);
      printf("\"}\n");
      continue;
    }
    double v[NFIELDS];
    field_values(r, v);
    for (size_t i = 0; i < NFIELDS; i++) jnum(stdout, k_fields[i], v[i]);
    printf(", \"scale_code_hist\": {");
    for (int c = 0, first = 1; c < 256; c++)
      if (s->scale_code_hist[c]) {
        printf("%s\"%d\": %llu", first ? "" : ", ", c, (unsigned long long)s->scale_code_hist[c]);
        first = 0;
      }
    printf("}}\n");
  }
  for (int k = 0; k < d->nruns; k++) {
    const an_summary *m = &d->summaries[k];
    printf("{\"kind\": \"summary\", \"format\": \"%s\", \"rht\": %s, \"four_over_six\": \"%s\", \"e4m3_max\": %d, "
           "\"row_amax\": %s, \"compat\": \"%s\", \"tensors\": %d, \"failed\": %d, \"values\": %lld",
           d->runs[k].name, d->runs[k].rht ? "true" : "false", k_fos_names[d->runs[k].four_six], d->runs[k].e4m3_max,
           d->runs[k].row_amax ? "true" : "false", cli_compat_name(d->runs[k].compat), m->tensors, m->failed,
           (long long)m->values);
    jnum(stdout, "bits_per_element", m->bits);
    jnum(stdout, "sqnr_db", m->sqnr_db);
    jnum(stdout, "min_sqnr_db", m->min_sqnr_db);
    jnum(stdout, "frac_flushed", m->frac_flushed);
    jnum(stdout, "frac_saturated", m->frac_saturated);
    printf(", \"worst_tensor\": ");
    if (m->worst >= 0)
      jstr(stdout, d->tensors[m->worst].name);
    else
      printf("null");
    printf("}\n");
  }
}

/* A CSV field: quoted when it holds a comma, quote or newline (RFC 4180);
 * control characters escaped as in text output. */
static void csv_str(const char *s) {
  char buf[1024];
  mxio_escaped(s, MXIO_ESC_TEXT, buf, sizeof(buf));
  if (!strpbrk(buf, ",\"\n")) {
    fputs(buf, stdout);
    return;
  }
  putchar('"');
  for (const char *p = buf; *p; p++) {
    if (*p == '"') putchar('"');
    putchar(*p);
  }
  putchar('"');
}

static void cnum(double v) {
  if (isfinite(v))
    printf(",%.17g", v);
  else
    printf(",");
}

static void print_csv(const an_data *d, const int *order) {
  printf("file,tensor,rows,cols,format,rht,four_over_six,e4m3_max,row_amax,compat");
  for (size_t i = 0; i < NFIELDS; i++) printf(",%s", k_fields[i]);
  printf(",error\n");
  for (int k = 0; k < d->nresults; k++) {
    const an_result *r = &d->results[order[k]];
    const an_tensor *t = &d->tensors[r->tensor];
    csv_str(t->file);
    putchar(',');
    csv_str(t->name);
    printf(",%lld,%lld,%s,%d,%s,%d,%d,%s", (long long)t->rows, (long long)t->cols, d->runs[r->run].name,
           d->runs[r->run].rht, k_fos_names[d->runs[r->run].four_six], d->runs[r->run].e4m3_max,
           d->runs[r->run].row_amax, cli_compat_name(d->runs[r->run].compat));
    if (r->status != MXB_SUCCESS) {
      for (size_t i = 0; i < NFIELDS; i++) putchar(',');
      putchar(',');
      char e[400];
      snprintf(e, sizeof(e), "%s: %s", mxb_status_string(r->status), r->detail);
      csv_str(e);
      putchar('\n');
      continue;
    }
    double v[NFIELDS];
    field_values(r, v);
    for (size_t i = 0; i < NFIELDS; i++) cnum(v[i]);
    printf(",\n");
  }
}

/* The table for people: the statistics that tell formats apart; --json and
 * --csv have every statistic. */
static void print_table(const an_data *d, const int *order, const char *in) {
  int w = 6;
  for (int t = 0; t < d->ntensors; t++) {
    char buf[256];
    int n = (int)strlen(mxio_escaped(d->tensors[t].name, MXIO_ESC_TEXT, buf, sizeof(buf)));
    if (n > w) w = n;
  }
  if (w > 48) w = 48;
  int fw = 16; /* the format column: the longest row label */
  for (int k = 0; k < d->nruns; k++)
    if ((int)strlen(d->runs[k].label) > fw) fw = (int)strlen(d->runs[k].label);
  long long values = 0;
  for (int t = 0; t < d->ntensors; t++) values += d->tensors[t].rows * d->tensors[t].cols;
  mxio_put_escaped(stdout, in, MXIO_ESC_TEXT);
  printf(": %d tensor%s, %lld values\n\n", d->ntensors, d->ntensors == 1 ? "" : "s", values);
  printf("%-*s %-13s %-*s %-3s %7s %7s %9s %9s %9s %8s %8s\n", w, "tensor", "shape", fw, "format", "rht", "bits/el",
         "SQNR dB", "NMSE", "cosine", "max abs", "flushed", "clipped");
  for (int k = 0; k < d->nresults; k++) {
    const an_result *r = &d->results[order[k]];
    const an_tensor *t = &d->tensors[r->tensor];
    const mxb_error_stats_t *s = &r->st;
    char name[256], shape[32];
    mxio_escaped(t->name, MXIO_ESC_TEXT, name, sizeof(name));
    snprintf(shape, sizeof(shape), "%lldx%lld", (long long)t->rows, (long long)t->cols);
    printf("%-*s %-13s %-*s %-3s ", w, name, shape, fw, d->runs[r->run].label, d->runs[r->run].rht ? "yes" : "no");
    if (r->status != MXB_SUCCESS) {
      printf("error: %s: ", mxb_status_string(r->status));
      mxio_put_escaped(stdout, r->detail, MXIO_ESC_TEXT);
      putchar('\n');
      continue;
    }
    printf("%7.3f %7.2f %9.3e %9.6f %9.3e %7.3f%% %7.3f%%", r->bits, s->sqnr_db, s->nmse, s->cosine,
           s->max_abs_err, 100.0 * s->frac_flushed, 100.0 * s->frac_saturated);
    if (d->runs[r->run].four_six) printf("  %.1f%% of blocks at 4", 100.0 * s->frac_scaled_to_4);
    putchar('\n');
  }
  if (d->ntensors > 1) {
    printf("\nsummary over %d tensors\n%-*s %-3s %7s %7s %9s %8s %8s  %s\n", d->ntensors, fw, "format", "rht", "bits/el",
           "SQNR dB", "worst dB", "flushed", "clipped", "worst tensor");
    for (int k = 0; k < d->nruns; k++) {
      const an_summary *m = &d->summaries[k];
      printf("%-*s %-3s %7.3f %7.2f %9.2f %7.3f%% %7.3f%%  ", fw, d->runs[k].label, d->runs[k].rht ? "yes" : "no",
             m->bits, m->sqnr_db, m->min_sqnr_db, 100.0 * m->frac_flushed, 100.0 * m->frac_saturated);
      if (m->worst >= 0) mxio_put_escaped(stdout, d->tensors[m->worst].name, MXIO_ESC_TEXT);
      if (m->failed) printf(" (%d failed)", m->failed);
      putchar('\n');
    }
  }
  printf("\nbits/el: stored bits per element, scales included. SQNR: 10 log10(sum x^2 / sum (x - q)^2),\n"
         "higher is better (each bit of precision adds about 6 dB). flushed: non-zero values that\n"
         "decode to 0. clipped: values the element range saturated. Rows with rht=yes are measured\n"
         "against RHT(x) (d=16, signs 0xD7E8), the tensor that was quantized: SQNR, NMSE and cosine\n"
         "compare with the other rows, max abs does not.%s --json or --csv: every statistic.\n",
         d->ntensors > 1 ? " Summary SQNR: over all values of all\ntensors; worst: the lowest of one tensor." : "");
  for (int k = 0; k < d->nruns; k++)
    if (d->runs[k].four_six) {
      printf("+4/6: Four Over Six, each NVFP4 block scaled so that its amax maps to 4 or to 6, whichever\n"
             "errs less (%s); the rows without it are the same tensors scaled to 6.\n",
             d->runs[k].four_six == MXB_FOUR_OVER_SIX_MSE ? "squared error" : "absolute error");
      break;
    }
  for (int k = 0; k < d->nruns; k++)
    if (d->runs[k].e4m3_max == 256) {
      printf("/256: NVFP4 with the tensor amax mapped to the block scale 256 instead of 448 (--e4m3-max).\n");
      break;
    }
  for (int k = 0; k < d->nruns; k++)
    if (d->runs[k].compat) {
      printf("@%s: the bytes that library writes (--compat, docs/COMPAT.md), decoded by mxblas.\n",
             cli_compat_name(d->runs[k].compat));
      break;
    }
  for (int k = 0; k < d->nruns; k++)
    if (d->runs[k].row_amax) {
      printf("/row: NVFP4 with one tensor amax a row (--row-amax), each row scaled as a tensor of its own.\n");
      break;
    }
}

/* ------------------------------------------------------------ sorting */
static const an_data *g_sort_data;
static int g_sort_key;

static int cmp_results(const void *pa, const void *pb) {
  const an_result *a = &g_sort_data->results[*(const int *)pa], *b = &g_sort_data->results[*(const int *)pb];
  if (g_sort_key == CLI_SORT_SQNR) {
    /* failures first, then worst SQNR first */
    double x = a->status != MXB_SUCCESS ? -INFINITY : a->st.sqnr_db;
    double y = b->status != MXB_SUCCESS ? -INFINITY : b->st.sqnr_db;
    if (x != y) return x < y ? -1 : 1;
  } else if (g_sort_key == CLI_SORT_NAME) {
    int c = strcmp(g_sort_data->tensors[a->tensor].name, g_sort_data->tensors[b->tensor].name);
    if (c) return c;
  }
  return *(const int *)pa - *(const int *)pb; /* stable: file order */
}

static void summarize(an_data *d) {
  for (int k = 0; k < d->nruns; k++) {
    an_summary *m = &d->summaries[k];
    double err = 0, sig = 0, bits = 0, flushed = 0, sat = 0;
    m->worst = -1;
    m->min_sqnr_db = INFINITY;
    for (int i = 0; i < d->nresults; i++) {
      const an_result *r = &d->results[i];
      if (r->run != k) continue;
      if (r->status != MXB_SUCCESS) {
        m->failed++;
        continue;
      }
      double n = (double)r->st.count;
      m->tensors++;
      m->values += r->st.count;
      err += r->st.mse * n;
      sig += d->tensors[r->tensor].energy;
      bits += r->bits * n;
      flushed += r->st.frac_flushed * n;
      sat += r->st.frac_saturated * n;
      if (r->st.sqnr_db < m->min_sqnr_db || m->worst < 0) {
        m->min_sqnr_db = r->st.sqnr_db;
        m->worst = r->tensor;
      }
    }
    double n = (double)m->values;
    m->bits = n > 0 ? bits / n : NAN;
    m->sqnr_db = err > 0 ? 10.0 * log10(sig / err) : sig > 0 ? INFINITY : NAN;
    m->frac_flushed = n > 0 ? flushed / n : NAN;
    m->frac_saturated = n > 0 ? sat / n : NAN;
    if (m->worst < 0) m->min_sqnr_db = NAN;
  }
}

/* ------------------------------------------------------------ the command */
/* Whether compatibility profile c has format f (on the CPU, with its defaults). */
static int profile_has(int c, mxb_format_t f) {
  mxb_context_t *cpu = NULL;
  mxb_quant_config_t pc;
  mxb_quant_config_init(&pc);
  pc.compat = (mxb_compat_t)c;
  int has = 0;
  if (mxb_context_create(MXB_BACKEND_CPU, 0, &cpu) == MXB_SUCCESS && mxb_quantize_supported(cpu, &pc, f, &has) != MXB_SUCCESS)
    has = 0;
  mxb_context_destroy(cpu);
  return has;
}

static int parse_runs(const cli_opts *o, an_run *runs, int *n) {
  char list[512];
  snprintf(list, sizeof(list), "%s", o->formats ? o->formats : k_default_formats);
  *n = 0;
  for (char *save = NULL, *tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    mxb_format_t f;
    if (cli_format(tok, &f) != 0) return CLI_USAGE;
    mxb_format_info_t fi = {.struct_size = sizeof(fi)};
    mxb_format_info(f, &fi);
    /* --four-over-six, --e4m3-max=256 and --row-amax: NVFP4 gets a row each way, so the table compares them */
    const int nv = f == MXB_FORMAT_NVFP4, fos = nv ? (int)o->cfg.four_over_six : 0;
    const int b256 = nv && o->cfg.nvfp4_e4m3_max == 256, rowa = nv && o->cfg.nvfp4_row_amax;
    /* the runs of this format: every combination of the options that give NVFP4 a row each way */
    for (int k = 0; k < (rowa + 1) * (b256 + 1) * (fos ? 2 : 1); k++) {
      const int v = fos ? k % 2 : 0, b = b256 ? k / (fos ? 2 : 1) % 2 : 0, ra = rowa ? k / ((fos ? 2 : 1) * (b256 + 1)) : 0;
      for (int t = o->rht_only ? 1 : 0; t <= (o->rht || o->rht_only ? 1 : 0); t++) {
        if (*n == MAX_RUNS) return cli_usage("too many formats (at most %d runs)", MAX_RUNS);
        an_run *r = &runs[(*n)++];
        *r = (an_run){.format = f, .name = fi.name, .rht = t, .four_six = v ? fos : 0,
                      .e4m3_max = nv ? (b ? 256 : 448) : 0, .row_amax = ra, .scale_type = fi.scale_type};
        snprintf(r->label, sizeof(r->label), "%s%s%s%s", fi.name, v ? "+4/6" : "", b ? "/256" : "", ra ? "/row" : "");
      }
    }
    /* --compat P: a row more, the library's bytes, for the formats it has (with its defaults) */
    if (o->cfg.compat && profile_has(o->cfg.compat, f)) {
      if (*n == MAX_RUNS) return cli_usage("too many formats (at most %d runs)", MAX_RUNS);
      an_run *r = &runs[(*n)++];
      *r = (an_run){.format = f, .name = fi.name, .e4m3_max = nv ? 448 : 0, .compat = (int)o->cfg.compat,
                    .scale_type = fi.scale_type};
      snprintf(r->label, sizeof(r->label), "%s@%s", fi.name, cli_compat_name(o->cfg.compat));
    }
  }
  return *n ? CLI_OK : cli_usage("--formats: no format given");
}

int cmd_analyze(cli_opts *o, int nargs, char **args) {
  (void)nargs;
  const char *in = args[0];
  if (o->json && o->csv) return cli_usage("analyze: --json and --csv are two outputs; choose one");
  static an_run runs[MAX_RUNS];
  an_data d = {.runs = runs};
  int rc = parse_runs(o, runs, &d.nruns);
  if (rc != CLI_OK) return rc;
  selection sel = {0};
  mxb_context_t *ctx = NULL, *cpu = NULL;
  int *order = NULL;
  if ((rc = select_tensors(o, in, &sel)) != CLI_OK) goto out;
  d.tensors = sel.tensors;
  d.ntensors = sel.ntensors;
  d.nresults = d.ntensors * d.nruns;
  d.results = calloc((size_t)d.nresults, sizeof(an_result));
  d.summaries = calloc((size_t)d.nruns, sizeof(an_summary));
  order = malloc(sizeof(int) * (size_t)d.nresults);
  if (!d.results || !d.summaries || !order) {
    rc = cli_error("out of memory");
    goto out;
  }
  if ((rc = cli_context(o->backend, &ctx)) != CLI_OK || (rc = cli_context(MXB_BACKEND_CPU, &cpu)) != CLI_OK) goto out;
  double total = 0, done = 0, t0 = cli_now();
  for (int t = 0; t < d.ntensors; t++) total += (double)(d.tensors[t].rows * d.tensors[t].cols) * d.nruns;
  int failed = 0;
  for (int t = 0; t < d.ntensors && rc == CLI_OK; t++) {
    an_tensor *tt = &d.tensors[t];
    progress(done, total, t + 1, d.ntensors, tt->name, t0);
    mxio_array a;
    if ((rc = load(&sel, tt, &a)) != CLI_OK) break;
    size_t n = (size_t)a.rows * (size_t)a.cols, bytes = n * sizeof(float);
    float *xr = NULL, *deq = o->plots ? malloc(bytes ? bytes : 1) : NULL;
    mxb_status_t s = o->plots && !deq ? cli_status(MXB_ERR_ALLOC, "out of memory for %zu bytes", bytes) : MXB_SUCCESS;
    if (s == MXB_SUCCESS && (o->rht || o->rht_only)) {
      /* RHT(x) on the host: the reference the RHT runs are measured against.
       * A width the transform refuses leaves the RHT rows to fail alone. */
      mxb_rht_t rht = o->cfg.rht;
      rht.enabled = 1;
      if (!(xr = malloc(bytes ? bytes : 1)))
        s = cli_status(MXB_ERR_ALLOC, "out of memory for RHT(x), %zu bytes", bytes);
      else if (mxb_rht(cpu, &rht, 0, MXB_AXIS_COLS, a.rows, a.cols, MXB_DTYPE_FP32, a.data, MXB_DTYPE_FP32, xr,
                       NULL) != MXB_SUCCESS)
        memcpy(xr, a.data, bytes);
    }
    if (s != MXB_SUCCESS) {
      rc = cli_lib_error(s, "analyze");
    } else {
      const float *x = a.data;
      for (size_t i = 0; i < n; i++) tt->energy += (double)x[i] * (double)x[i];
      for (int k = 0; k < d.nruns; k++) {
        an_result *r = &d.results[t * d.nruns + k];
        r->tensor = t;
        r->run = k;
        measure(ctx, o, &runs[k], a.data, runs[k].rht ? xr : a.data, a.rows, a.cols, deq, r);
        failed |= r->status != MXB_SUCCESS;
        done += (double)n;
        progress(done, total, t + 1, d.ntensors, tt->name, t0);
      }
    }
    free(xr);
    free(deq);
    mxio_array_free(&a);
  }
  cli_progress_end();
  if (rc != CLI_OK) goto out;
  summarize(&d);
  for (int k = 0; k < d.nresults; k++) order[k] = k;
  g_sort_data = &d;
  g_sort_key = o->sort;
  qsort(order, (size_t)d.nresults, sizeof(int), cmp_results);
  if (o->json)
    print_ndjson(&d, order);
  else if (o->csv)
    print_csv(&d, order);
  else
    print_table(&d, order, in);
  if (o->plots && (rc = an_plots(&d, o->plots)) != CLI_OK) goto out;
  rc = failed ? CLI_ERROR : CLI_OK;
out:
  if (ctx) mxb_context_destroy(ctx);
  if (cpu) mxb_context_destroy(cpu);
  free(d.results);
  free(d.summaries);
  free(order);
  selection_free(&sel);
  return rc;
}
