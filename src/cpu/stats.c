/* Error statistics of a quantized tensor against its fp32 input (NUMERICS 8),
 * in binary64. Definitions (docs/TRANSFORMS.md):
 *   - pairs where the input or the decoded value is NaN/Inf are counted in
 *     `nonfinite` and left out of every other statistic;
 *   - flushed: a non-zero input that decodes to 0 (fraction of the non-zero
 *     inputs);
 *   - saturated: an input that the satfinite encoding clipped, i.e. whose
 *     unsaturated round-to-nearest would exceed the largest element of its
 *     block (fraction of all finite pairs);
 *   - per-block scale statistics over the decoded scale multipliers. */
#include "common/block.h"
#include "core/error.h"
#include "cpu/cpu_ops.h"
#include "cpu/pool.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct scale_view {
  const mxb_tensor_t *t;
  const mxb_format_desc *d;
  const mxb_elem_desc *e;
  int64_t scale_cols;
} scale_view;

static int64_t sidx(const scale_view *v, int64_t i, int64_t j) {
  return mxb_cpu_scale_index(v->t, i, j, v->scale_cols);
}

/* The decoded multiplier of scale entry k, on row r (NVFP4's amax per row),
 * and its code byte (-1: none). */
static double scale_mult(const scale_view *v, int64_t k, int64_t r, int *code) {
  const uint8_t *b = (const uint8_t *)v->t->scales;
  *code = -1;
  switch (v->d->scale_type) {
    case MXB_SCALE_UE4M3:
      *code = b[k];
      return (double)mxb_nvfp4_dequant_scale(b[k], mxb_nvfp4_amax_at(v->t->amax, v->t->flags, r), v->t->flags);
    case MXB_SCALE_E8M0:
    case MXB_SCALE_UE8M0: *code = b[k]; return (double)mxb_e8m0_decode(b[k]);
    case MXB_SCALE_BDR: *code = b[k]; return b[k] == 0xFF ? NAN : ldexp(1.0, (int)b[k] - 127);
    case MXB_SCALE_FP32: return (double)((const float *)v->t->scales)[k];
    default: return NAN;
  }
}

/* Clipping threshold of element (r, c): L = (max + half a step at max) *
 * multiplier, where round-to-nearest without saturation would leave max,
 * the block's largest code (below the element's where the top of its grid
 * would decode past FLT_MAX; BF16 and MoR's BF16 partitions: the largest
 * bf16, multiplier 1). *tie_clips: a value exactly at L clips too, since
 * ties go to the even neighbour above max (every max code is odd except
 * E4M3's 0x7E). */
static double clip_limit(const scale_view *v, int64_t r, int64_t c, int *tie_clips) {
  const mxb_format_desc *d = v->d;
  const mxb_elem_desc *e = v->e;
  double mult = 1.0;
  *tie_clips = 1;
  if (d->scale_type != MXB_SCALE_NONE) {
    int64_t k = sidx(v, r >> mxb_block_shift(d->block_rows), c >> mxb_block_shift(d->block_cols));
    int code;
    mult = scale_mult(v, k, r, &code);
    if (d->scale_type == MXB_SCALE_BDR) {
      uint8_t mu = ((const uint8_t *)v->t->aux)[k];
      int pair = (int)(c % d->block_cols) / 2;
      return (ldexp(1.0, d->bdr_m) - 0.5) * ldexp(mult, 1 - d->bdr_m - ((mu >> pair) & 1));
    }
    if (d->elem == MXB_ELEM_MIXED) /* an FP8 E4M3 or a BF16 partition (scale_inv 1) */
      e = mxb_elem_desc_get(((const uint8_t *)v->t->aux)[k] ? MXB_ELEM_E4M3 : MXB_ELEM_BF16);
  }
  mxb_fp p = mxb_fp_from_desc(e);
  uint32_t top = d->scale_type == MXB_SCALE_UE4M3 ? p.maxcode : mxb_fp_finite_cap(&p, (float)mult);
  float vmax = mxb_fp_decode(&p, top);
  *tie_clips = (int)(top & 1u);
  double half = 0.5 * (e->ebits ? (double)mxb_fp_step(&p, mxb_f2u(vmax)) : ldexp(1.0, -e->mbits));
  return ((double)vmax + half) * mult;
}

/* Partial sums of one chunk of rows. */
typedef struct spart {
  double sxx, syy, sxy, see, max_abs, max_rel;
  int64_t n, nonzero, flushed, saturated, nonfinite;
} spart;

typedef struct sctx {
  const float *x, *y;
  const scale_view *v;
  int64_t cols, rows;
  int64_t span;  /* the clipping threshold is constant over a block (over a pair for BDR) */
  int64_t chunk; /* rows per task */
  spart *parts;  /* one per task */
} sctx;

static void stats_rows(void *arg, int64_t task, int slot) {
  (void)slot;
  const sctx *q = arg;
  spart p = {0};
  const int64_t cols = q->cols, r1 = (task + 1) * q->chunk < q->rows ? (task + 1) * q->chunk : q->rows;
  for (int64_t r = task * q->chunk; r < r1; r++) {
    int tie = 1;
    double lim = INFINITY;
    for (int64_t c = 0; c < cols; c++) {
      if (c % q->span == 0) lim = clip_limit(q->v, r, c, &tie);
      double xi = (double)q->x[r * cols + c], yi = (double)q->y[r * cols + c];
      if (!isfinite(xi) || !isfinite(yi)) {
        p.nonfinite++;
        continue;
      }
      double e = xi - yi, ax = fabs(xi);
      p.n++;
      p.sxx += xi * xi;
      p.syy += yi * yi;
      p.sxy += xi * yi;
      p.see += e * e;
      if (fabs(e) > p.max_abs) p.max_abs = fabs(e);
      if (ax > 1e-30 && fabs(e) / ax > p.max_rel) p.max_rel = fabs(e) / ax;
      if (xi != 0) {
        p.nonzero++;
        p.flushed += yi == 0;
      }
      p.saturated += ax > lim || (tie && ax == lim);
    }
  }
  q->parts[task] = p;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values: the ceil(p * n)-th smallest. */
static double percentile(const double *s, int64_t n, double p) {
  int64_t k = (int64_t)ceil(p * (double)n);
  return s[k < 1 ? 0 : k - 1];
}

/* NVFP4: of the blocks (2D: square tiles) of finite input whose scales at 6
 * and at 4 differ, the fraction stored at 4 (NUMERICS 4.1.1). */
static double frac_scaled_to_4(const float *x, const scale_view *v, const mxb_tensor_sizes_t *sz) {
  const mxb_tensor_t *q = v->t;
  const int64_t bc = v->d->block_cols, br = (q->flags & MXB_TENSOR_SCALED_2D) ? bc : 1, rows = q->rows,
                cols = q->cols;
  int64_t n = 0, four = 0;
  for (int64_t i = 0; i * br < rows; i++)
    for (int64_t j = 0; j < sz->scale_cols && j * bc < cols; j++) {
      const mxb_nvfp4_ts ts = mxb_nvfp4_tensor_scales(mxb_nvfp4_amax_at(q->amax, q->flags, i * br), q->flags);
      float a = 0.0f;
      int finite = 1;
      for (int64_t r = i * br; r < rows && r < (i + 1) * br; r++)
        for (int64_t c = j * bc; c < cols && c < (j + 1) * bc; c++) {
          const float e = x[r * cols + c];
          finite &= isfinite(e) != 0;
          a = fmaxf(a, fabsf(e));
        }
      const uint8_t s6 = mxb_nvfp4_block_scale(a, &ts), s4 = mxb_nvfp4_block_scale4(a, &ts);
      if (!finite || s6 == s4) continue;
      n++;
      four += ((const uint8_t *)q->scales)[sidx(v, i * br, j)] == s4;
    }
  return n ? (double)four / (double)n : 0.0;
}

mxb_status_t mxb_cpu_error_stats(const float *x, const mxb_tensor_t *q, const mxb_format_desc *d,
                                  const mxb_tensor_sizes_t *szp, mxb_error_stats_t *out) {
  const mxb_tensor_sizes_t sz = *szp;
  scale_view v = {q, d, mxb_elem_desc_get(d->elem), sz.scale_cols};
  int64_t rows = q->rows, cols = q->cols, nblocks = sz.scale_rows * sz.scale_cols;
  float *y = malloc((size_t)(rows * cols) * sizeof(float));
  double *mults = malloc((size_t)(nblocks ? nblocks : 1) * sizeof(double));
  if (!y || !mults) {
    free(y);
    free(mults);
    return mxb_fail(MXB_ERR_ALLOC, "could not allocate %lld values of scratch", (long long)(rows * cols + nblocks));
  }
  mxb_status_t st = mxb_cpu_dequantize(q, MXB_DTYPE_FP32, y); /* what the caller's mxb_dequantize gives */
  if (st != MXB_SUCCESS) {
    free(y);
    free(mults);
    return st;
  }

  /* Sums over fixed chunks of rows, each in element order, then added in
   * chunk order: the same bits for any thread count. */
  sctx c = {x, y, &v, cols, rows, d->scale_type == MXB_SCALE_BDR ? 2 : d->block_cols ? d->block_cols : cols,
            cols < 16384 ? 16384 / cols : 1, NULL};
  int64_t ntasks = (rows + c.chunk - 1) / c.chunk;
  if (!(c.parts = calloc((size_t)ntasks, sizeof(spart)))) {
    free(y);
    free(mults);
    return mxb_fail(MXB_ERR_ALLOC, "could not allocate %lld partial sums", (long long)ntasks);
  }
  mxb_cpu_run(mxb_cpu_plan(ntasks, (double)(rows * cols) * 4), ntasks, stats_rows, &c);

  mxb_error_stats_t s;
  memset(&s, 0, sizeof(s));
  s.struct_size = sizeof(s);
  s.count = rows * cols;
  double sxx = 0, syy = 0, sxy = 0, see = 0;
  int64_t n = 0, nonzero = 0, flushed = 0, saturated = 0;
  for (int64_t t = 0; t < ntasks; t++) {
    const spart *p = &c.parts[t];
    sxx += p->sxx;
    syy += p->syy;
    sxy += p->sxy;
    see += p->see;
    n += p->n;
    nonzero += p->nonzero;
    flushed += p->flushed;
    saturated += p->saturated;
    s.nonfinite += p->nonfinite;
    if (p->max_abs > s.max_abs_err) s.max_abs_err = p->max_abs;
    if (p->max_rel > s.max_rel_err) s.max_rel_err = p->max_rel;
  }
  free(c.parts);
  if (n) {
    s.mse = see / (double)n;
    s.rmse = sqrt(s.mse);
    s.frac_saturated = (double)saturated / (double)n;
  }
  s.nmse = sxx > 0 ? see / sxx : (see > 0 ? INFINITY : 0.0);
  s.sqnr_db = see > 0 ? 10.0 * log10(sxx / see) : INFINITY;
  s.cosine = (sxx > 0 && syy > 0) ? sxy / (sqrt(sxx) * sqrt(syy)) : (sxx == 0 && syy == 0 ? 1.0 : 0.0);
  s.frac_flushed = nonzero ? (double)flushed / (double)nonzero : 0.0;

  int64_t nm = 0;
  for (int64_t i = 0; i < sz.scale_rows; i++)
    for (int64_t j = 0; j < sz.scale_cols; j++) {
      int code;
      double m = scale_mult(&v, sidx(&v, i, j), i, &code); /* NVFP4: a scale row is a row */
      if (code >= 0) s.scale_code_hist[code]++;
      if (!isnan(m)) mults[nm++] = m;
    }
  s.blocks = nblocks;
  s.scale_min = s.scale_max = s.scale_p01 = s.scale_p50 = s.scale_p99 = NAN;
  if (nm) {
    qsort(mults, (size_t)nm, sizeof(double), cmp_double);
    s.scale_min = mults[0];
    s.scale_max = mults[nm - 1];
    s.scale_p01 = percentile(mults, nm, 0.01);
    s.scale_p50 = percentile(mults, nm, 0.50);
    s.scale_p99 = percentile(mults, nm, 0.99);
  }
  s.frac_scaled_to_4 = d->scale_type == MXB_SCALE_UE4M3 ? frac_scaled_to_4(x, &v, &sz) : NAN;
  free(y);
  free(mults);
  *out = s;
  return MXB_SUCCESS;
}
