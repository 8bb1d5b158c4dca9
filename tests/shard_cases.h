/* What the tensor-parallel tests share (tests/test_shard.c on simulated
 * ranks, tests/dist/dist_tests.c on real ones): the cases, the input, the
 * shard layout, and the comparison of a shard with the whole tensor's
 * planes. No Criterion here: the multi-process test has its own report. */
#ifndef MXB_TESTS_SHARD_CASES_H
#define MXB_TESTS_SHARD_CASES_H
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/format_table.h"
#include "mxblas.h"

typedef struct scase {
  const char *name;
  mxb_format_t f;
  int sr, rht, two_d, row_amax, fos;
  int align; /* shard rows and columns a multiple of it: blocks, tiles, RHT chunks */
} scase;

static const scase k_shard_cases[] = {
    {"nvfp4", MXB_FORMAT_NVFP4, 0, 0, 0, 0, 0, 16},
    {"nvfp4_sr", MXB_FORMAT_NVFP4, 1, 0, 0, 0, 0, 16},
    {"nvfp4_rht_sr", MXB_FORMAT_NVFP4, 1, 1, 0, 0, 0, 16},
    {"nvfp4_2d", MXB_FORMAT_NVFP4, 0, 0, 1, 0, 0, 16},
    {"nvfp4_2d_sr", MXB_FORMAT_NVFP4, 1, 0, 1, 0, 0, 16},
    {"nvfp4_row_amax_sr", MXB_FORMAT_NVFP4, 1, 0, 0, 1, 0, 16},
    {"nvfp4_4over6", MXB_FORMAT_NVFP4, 0, 0, 0, 0, MXB_FOUR_OVER_SIX_MSE, 16},
    {"fp8_e4m3", MXB_FORMAT_FP8_E4M3_TENSOR, 0, 0, 0, 0, 0, 1},
    {"fp8_e5m2_sr", MXB_FORMAT_FP8_E5M2_TENSOR, 1, 0, 0, 0, 0, 1},
    {"mxfp8_sr", MXB_FORMAT_MXFP8_E4M3, 1, 0, 0, 0, 0, 32},
    {"mxfp4", MXB_FORMAT_MXFP4, 0, 0, 0, 0, 0, 32},
    {"fp8_1x128_sr", MXB_FORMAT_FP8_E4M3_1x128, 1, 0, 0, 0, 0, 128},
};
#define SHARD_NCASES (sizeof(k_shard_cases) / sizeof(k_shard_cases[0]))

static inline mxb_quant_config_t shard_config(const scase *k) {
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.rounding = k->sr ? MXB_ROUND_SR : MXB_ROUND_RNE;
  cfg.seed = 0x5EED5EEDull;
  cfg.offset = 7;
  cfg.rht.enabled = k->rht;
  cfg.block_2d = k->two_d;
  cfg.nvfp4_row_amax = k->row_amax;
  cfg.four_over_six = (mxb_four_over_six_t)k->fos;
  return cfg;
}

static inline int shard_has_tensor_amax(mxb_format_t f) {
  const int ts = mxb_fmt_tensor_scale(f);
  return ts == MXB_TSCALE_AMAX || ts == MXB_TSCALE_PLANE;
}

/* [rows, cols] normal values (splitmix64 and Box-Muller, the same on every
 * rank) with a NaN, an Inf, a -0 and one large value in different parts of
 * the tensor, so that the shards' amaxes differ and the NaN-block and
 * finite-amax rules matter. */
static inline void shard_sample(float *x, int64_t rows, int64_t cols) {
  uint64_t s = 0xD15Cull;
  for (int64_t i = 0; i < rows * cols; i++) {
    uint64_t z[2];
    for (int k = 0; k < 2; k++) {
      uint64_t v = (s += 0x9E3779B97F4A7C15ull);
      v = (v ^ (v >> 30)) * 0xBF58476D1CE4E5B9ull;
      v = (v ^ (v >> 27)) * 0x94D049BB133111EBull;
      z[k] = v ^ (v >> 31);
    }
    const double u1 = ((double)(z[0] >> 11) + 1.0) * 0x1.0p-53, u2 = (double)(z[1] >> 11) * 0x1.0p-53;
    x[i] = (float)(2.0 * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
  }
  x[(rows / 25) * cols + cols / 37] = NAN;
  x[(rows * 55 / 100) * cols + cols * 78 / 100] = INFINITY;
  x[(rows / 4) * cols + cols / 2 + 1] = -0.0f;
  x[(rows * 78 / 100) * cols + cols / 6] = 900.0f;
}

/* Rank q of P: rows split (split 0) or columns (1); 0 when a block would
 * straddle two shards. */
static inline int shard_place(int split, int q, int P, int64_t R, int64_t C, int align, int64_t *r0, int64_t *c0,
                              int64_t *rows, int64_t *cols) {
  *rows = split ? R : R / P;
  *cols = split ? C / P : C;
  *r0 = split ? 0 : q * *rows;
  *c0 = split ? q * *cols : 0;
  return (split ? *cols : *rows) % align == 0 && (split ? C : R) % P == 0;
}

static inline float *shard_input(const float *x, int64_t C, int64_t r0, int64_t c0, int64_t rows, int64_t cols) {
  float *s = (float *)malloc((size_t)(rows * cols) * sizeof(float));
  for (int64_t r = 0; r < rows; r++) memcpy(s + r * cols, x + (r0 + r) * C + c0, (size_t)cols * sizeof(float));
  return s;
}

static inline void shard_with_place(mxb_quant_config_t *cfg, int64_t r0, int64_t c0, int64_t C) {
  cfg->global_row0 = r0;
  cfg->global_col0 = c0;
  cfg->global_cols = C;
}

/* A quantized tensor's planes in host memory (linear scales), poisoned;
 * room for an amax a row. */
typedef struct shard_host {
  mxb_tensor_t t;
  mxb_tensor_sizes_t sz;
} shard_host;

static inline int shard_host_alloc(shard_host *h, mxb_format_t f, int64_t rows, int64_t cols) {
  memset(h, 0, sizeof(*h));
  h->sz.struct_size = sizeof(h->sz);
  if (mxb_tensor_init(&h->t, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR) != MXB_SUCCESS ||
      mxb_tensor_sizes(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &h->sz) != MXB_SUCCESS)
    return 0;
  h->t.data = malloc(h->sz.data_bytes + 1);
  h->t.scales = malloc(h->sz.scale_bytes + 1);
  h->t.amax = (float *)malloc((size_t)rows * sizeof(float));
  if (!h->t.data || !h->t.scales || !h->t.amax) return 0;
  memset(h->t.data, 0xA5, h->sz.data_bytes);
  memset(h->t.scales, 0xA5, h->sz.scale_bytes);
  memset(h->t.amax, 0xA5, (size_t)rows * sizeof(float));
  return 1;
}
static inline void shard_host_free(shard_host *h) {
  free(h->t.data);
  free(h->t.scales);
  free(h->t.amax);
}

static inline uint32_t shard_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

/* 0 when shard s at (r0, c0) holds the whole tensor w's codes, scales,
 * amaxes and flags; else 1 with the first difference in msg. */
static inline int shard_diff(const shard_host *w, const shard_host *s, int64_t r0, int64_t c0, char *msg, size_t n) {
  const int64_t R = w->t.rows, C = w->t.cols;
  const size_t bits = w->sz.row_bytes * 8 / (size_t)C;
  for (int64_t r = 0; r < s->t.rows; r++) {
    const uint8_t *a = (const uint8_t *)w->t.data + (r0 + r) * w->sz.row_bytes + (size_t)c0 * bits / 8;
    const uint8_t *b = (const uint8_t *)s->t.data + r * s->sz.row_bytes;
    if (memcmp(a, b, s->sz.row_bytes)) return snprintf(msg, n, "codes of row %lld differ", (long long)r), 1;
  }
  const size_t e = w->sz.scale_bytes / (size_t)(w->sz.scale_rows * w->sz.scale_cols);
  const int64_t sr0 = r0 * w->sz.scale_rows / R, sc0 = c0 * w->sz.scale_cols / C;
  for (int64_t i = 0; i < s->sz.scale_rows; i++)
    for (int64_t j = 0; j < s->sz.scale_cols; j++) {
      const uint8_t *a = (const uint8_t *)w->t.scales + ((sr0 + i) * w->sz.scale_cols + sc0 + j) * e;
      const uint8_t *b = (const uint8_t *)s->t.scales + (i * s->sz.scale_cols + j) * e;
      if (memcmp(a, b, e)) return snprintf(msg, n, "scale (%lld, %lld) differs", (long long)i, (long long)j), 1;
    }
  if (shard_has_tensor_amax(w->t.format)) {
    const int per_row = (w->t.flags & MXB_TENSOR_ROW_AMAX) != 0;
    for (int64_t r = 0; r < (per_row ? s->t.rows : 1); r++) {
      const uint32_t a = shard_bits(s->t.amax[r]), b = shard_bits(w->t.amax[per_row ? r0 + r : 0]);
      if (a != b) return snprintf(msg, n, "amax %lld is 0x%08x, the whole tensor's 0x%08x", (long long)r, a, b), 1;
    }
  }
  if (s->t.flags != w->t.flags)
    return snprintf(msg, n, "flags 0x%x, the whole tensor's 0x%x", s->t.flags, w->t.flags), 1;
  return 0;
}
#endif
