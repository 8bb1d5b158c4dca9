/* CPU reference quantizer: plain loops over rows that call the shared block
 * code of src/common/block.h. One row at a time is loaded (converted to fp32,
 * RHT-transformed and optionally bf16-rounded when cfg->rht asks), its blocks
 * are encoded, and the codes are packed into the row's bytes.
 *
 * Formats whose scale depends on more than one row (NVFP4 16x16 tiles, FP8
 * per-tensor and 128x128) work on bands of block_rows rows: one pass over the
 * band gathers each tile's amax, a second encodes it. The NVFP4 tensor amax
 * takes one more pass over the whole input first. */
#include <stdlib.h>

#include "common/block.h"
#include "common/philox.h"
#include "common/rht.h"
#include "core/error.h"
#include "cpu/cpu_ops.h"

typedef struct qctx {
  const mxb_quant_config_t *cfg;
  const mxb_format_desc *d;
  mxb_tensor_t *dst;
  const mxb_tensor_sizes_t *sz;
  mxb_dtype_t src_type;
  const void *src;
  int64_t rows, cols, scols;
  mxb_fp fp;
  uint32_t signs[8];
  float *x;          /* current row, fp32 [cols] */
  uint8_t *r;        /* SR bytes of the current row [cols], NULL for RNE */
  uint8_t *codes;    /* unpacked codes [scols * block_cols] */
  uint32_t *tamax;   /* per tile column: amax bits [scols] */
  uint8_t *tbad;     /* per tile column: has NaN/Inf [scols] */
  float *tscale;     /* FP8: per tile column: the scale [scols] */
  uint32_t *tcap;    /* FP8: per tile column: the largest magnitude code (mxb_fp8_cap) [scols] */
} qctx;

/* Row `row` of the (transformed) input into q->x, and its SR bytes when
 * the row is about to be encoded (with_r). */
static void fetch_row(qctx *q, int64_t row, int with_r) {
  mxb_cpu_load(q->src_type, q->src, row * q->cols, q->cols, q->x);
  const mxb_rht_t *rht = &q->cfg->rht;
  if (rht->enabled) {
    for (int64_t c = 0; c < q->cols; c += rht->size) mxb_rht_chunk(q->x + c, rht->size, q->signs, 0);
    if (rht->bf16_output)
      for (int64_t c = 0; c < q->cols; c++) q->x[c] = mxb_bf16_decode(mxb_bf16_rne(q->x[c]));
  }
  if (q->r && with_r) {
    uint64_t i0 = (uint64_t)(row * q->cols);
    mxb_u32x4 w = mxb_philox_group(q->cfg->seed, q->cfg->offset, i0 >> 4);
    for (int64_t c = 0; c < q->cols; c++) {
      uint64_t i = i0 + (uint64_t)c;
      if (c && !(i & 15u)) w = mxb_philox_group(q->cfg->seed, q->cfg->offset, i >> 4);
      q->r[c] = (uint8_t)mxb_philox_byte(&w, (int)(i & 15u));
    }
  }
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Block widths along cols and rows, "whole dimension" resolved. */
static int64_t bcols(const qctx *q) { return q->d->block_cols ? q->d->block_cols : q->cols; }
static int64_t brows(const qctx *q) {
  if (q->cfg->block_2d) return q->d->block_cols; /* 2D scaling: square tiles (NVFP4 16x16) */
  return q->d->block_rows ? q->d->block_rows : q->rows;
}

/* Tile amax and NaN/Inf flags over rows [r0, r1) (one entry per tile column). */
static void tile_stats(qctx *q, int64_t r0, int64_t r1, mxb_amax_mode mode) {
  int64_t bc = bcols(q);
  memset(q->tamax, 0, (size_t)q->scols * sizeof(uint32_t));
  memset(q->tbad, 0, (size_t)q->scols);
  for (int64_t row = r0; row < r1; row++) {
    fetch_row(q, row, 0);
    for (int64_t j = 0; j < q->scols; j++) {
      int bad = 0;
      int64_t c0 = j * bc;
      uint32_t a = mxb_block_amax_bits(q->x + c0, (int)min64(bc, q->cols - c0), mode, &bad);
      q->tamax[j] = a > q->tamax[j] ? a : q->tamax[j];
      q->tbad[j] |= (uint8_t)bad;
    }
  }
}

static void put_row(qctx *q, int64_t row) {
  mxb_cpu_pack(q->codes, mxb_fmt_row_codes(q->d->format, q->cols), q->d->elem_bits,
               (uint8_t *)q->dst->data + (size_t)row * q->sz->row_bytes);
}
static void put_scale8(qctx *q, int64_t i, int64_t j, uint8_t s) {
  ((uint8_t *)q->dst->scales)[mxb_cpu_scale_index(q->dst, i, j, q->scols)] = s;
}

/* NVFP4 (NUMERICS 4.1): 1x16 blocks, or 16x16 tiles whose scale is stored
 * on each of the tile's rows. */
static void quantize_nvfp4(qctx *q) {
  int nanb = q->cfg->nonfinite == MXB_NONFINITE_NAN_BLOCK;
  mxb_amax_mode mode = nanb ? MXB_AMAX_NAN_BLOCK : MXB_AMAX_SKIP_NAN;
  int64_t br = brows(q), bc = bcols(q);
  float A;
  if (q->cfg->amax_source == MXB_AMAX_FROM_TENSOR) {
    A = *q->dst->amax;
  } else {
    uint32_t m = 0; /* NaN blocks do not enter the tensor amax */
    for (int64_t r0 = 0; r0 < q->rows; r0 += br) {
      tile_stats(q, r0, min64(r0 + br, q->rows), mode);
      for (int64_t j = 0; j < q->scols; j++)
        if (!(nanb && q->tbad[j])) m = q->tamax[j] > m ? q->tamax[j] : m;
    }
    A = mxb_u2f(m);
    *q->dst->amax = A;
  }
  mxb_nvfp4_ts ts = mxb_nvfp4_tensor_scales(A);
  for (int64_t r0 = 0; r0 < q->rows; r0 += br) {
    int64_t r1 = min64(r0 + br, q->rows);
    if (br > 1) tile_stats(q, r0, r1, mode);
    for (int64_t row = r0; row < r1; row++) {
      fetch_row(q, row, 1);
      for (int64_t j = 0; j < q->scols; j++) {
        int64_t c0 = j * bc;
        int n = (int)min64(bc, q->cols - c0), bad = 0;
        uint32_t a = br > 1 ? q->tamax[j] : mxb_block_amax_bits(q->x + c0, n, mode, &bad);
        if (br > 1) bad = q->tbad[j];
        uint8_t s = mxb_nvfp4_quantize_block(q->x + c0, n, a, nanb && bad, &ts, q->r ? q->r + c0 : NULL,
                                             q->codes + c0);
        put_scale8(q, row, j, s);
      }
      put_row(q, row);
    }
  }
}

/* MX (NUMERICS 4.2): 1 x block_cols blocks with E8M0 scales. */
static void quantize_mx(qctx *q) {
  int64_t bc = bcols(q);
  for (int64_t row = 0; row < q->rows; row++) {
    fetch_row(q, row, 1);
    for (int64_t j = 0; j < q->scols; j++) {
      int64_t c0 = j * bc;
      uint8_t b = mxb_mx_quantize_block(q->x + c0, (int)min64(bc, q->cols - c0), &q->fp, q->cfg->scale_rule,
                                        q->cfg->nonfinite, q->r ? q->r + c0 : NULL, q->codes + c0);
      put_scale8(q, row, j, b);
    }
    put_row(q, row);
  }
}

/* MX9/MX6/MX4 (NUMERICS 4.3): the row's codes are padded to whole blocks. */
static void quantize_bdr(qctx *q) {
  int64_t bc = bcols(q);
  for (int64_t row = 0; row < q->rows; row++) {
    fetch_row(q, row, 1);
    memset(q->codes, 0, (size_t)mxb_fmt_row_codes(q->d->format, q->cols));
    for (int64_t j = 0; j < q->scols; j++) {
      int64_t c0 = j * bc;
      uint8_t mu = 0;
      put_scale8(q, row, j, mxb_bdr_quantize_block(q->x + c0, (int)min64(bc, q->cols - c0), q->d->bdr_m,
                                                   q->cfg->nonfinite, &mu, q->codes + c0));
      ((uint8_t *)q->dst->aux)[mxb_cpu_scale_index(q->dst, row, j, q->scols)] = mu;
    }
    put_row(q, row);
  }
}

/* FP8 with fp32 scales (NUMERICS 4.4): per tensor, 1x128 or 128x128. */
static void quantize_fp8(qctx *q) {
  int64_t br = brows(q), bc = bcols(q);
  float *scale = (float *)q->dst->scales;
  for (int64_t r0 = 0; r0 < q->rows; r0 += br) {
    int64_t r1 = min64(r0 + br, q->rows), band = r0 / br;
    tile_stats(q, r0, r1, MXB_AMAX_FINITE);
    for (int64_t j = 0; j < q->scols; j++) {
      float s = mxb_fp8_scale(q->tamax[j], &q->fp, q->cfg->fp8_pow2_scale);
      q->tscale[j] = s;
      q->tcap[j] = mxb_fp8_cap(&q->fp, s);
      scale[band * q->scols + j] = 1.0f / s;
    }
    for (int64_t row = r0; row < r1; row++) {
      fetch_row(q, row, 1);
      for (int64_t j = 0; j < q->scols; j++)
        for (int64_t c = j * bc; c < q->cols && c < (j + 1) * bc; c++)
          q->codes[c] = mxb_fp8_encode_scaled(&q->fp, q->x[c], q->tscale[j], q->tcap[j], q->r ? q->r[c] : -1);
      put_row(q, row);
    }
  }
}

/* BF16 (NUMERICS 4.5), saturating like every storage format. */
static void quantize_bf16(qctx *q) {
  uint16_t *out = (uint16_t *)q->dst->data;
  for (int64_t row = 0; row < q->rows; row++) {
    fetch_row(q, row, 1);
    for (int64_t c = 0; c < q->cols; c++) out[row * q->cols + c] = mxb_bf16_rne_satfinite(q->x[c]);
  }
}

mxb_status_t mxb_cpu_quantize(const mxb_quant_config_t *cfg, mxb_dtype_t src_type, const void *src,
                              mxb_tensor_t *dst, const mxb_tensor_sizes_t *sz) {
  qctx q;
  memset(&q, 0, sizeof(q));
  q.cfg = cfg;
  q.d = mxb_format_desc_get(dst->format);
  q.dst = dst;
  q.sz = sz;
  q.src_type = src_type;
  q.src = src;
  q.rows = dst->rows;
  q.cols = dst->cols;
  q.scols = sz->scale_cols ? sz->scale_cols : 1;
  q.fp = mxb_fp_from_desc(mxb_elem_desc_get(q.d->elem));
  if (cfg->rht.enabled) {
    if (cfg->rht.sign_source == MXB_SIGNS_SEED)
      mxb_rht_signs_from_seed(cfg->rht.sign_seed, cfg->rht.size, q.signs);
    else
      memcpy(q.signs, cfg->rht.sign_mask, sizeof(q.signs));
  }
  size_t ncodes = (size_t)mxb_fmt_row_codes(dst->format, q.cols);
  q.x = malloc((size_t)q.cols * sizeof(float));
  q.codes = malloc(ncodes);
  q.tamax = malloc((size_t)q.scols * sizeof(uint32_t));
  q.tbad = malloc((size_t)q.scols);
  q.tscale = malloc((size_t)q.scols * sizeof(float));
  q.tcap = malloc((size_t)q.scols * sizeof(uint32_t));
  if (cfg->rounding == MXB_ROUND_SR) q.r = malloc((size_t)q.cols);
  mxb_status_t st = MXB_SUCCESS;
  if (!q.x || !q.codes || !q.tamax || !q.tbad || !q.tscale || !q.tcap || (cfg->rounding == MXB_ROUND_SR && !q.r)) {
    st = mxb_fail(MXB_ERR_ALLOC, "cannot allocate the %zu-byte row buffers of the CPU quantizer",
                  (size_t)q.cols * 5 + ncodes + (size_t)q.scols * 13);
  } else {
    memset(q.codes, 0, ncodes);
    if (dst->scale_layout == MXB_SCALE_LAYOUT_SWIZZLED) memset(dst->scales, 0, sz->scale_bytes); /* padding */
    switch (q.d->scale_type) {
      case MXB_SCALE_UE4M3: quantize_nvfp4(&q); break;
      case MXB_SCALE_E8M0: quantize_mx(&q); break;
      case MXB_SCALE_BDR: quantize_bdr(&q); break;
      case MXB_SCALE_FP32: quantize_fp8(&q); break;
      case MXB_SCALE_NONE: quantize_bf16(&q); break;
    }
  }
  free(q.x);
  free(q.codes);
  free(q.tamax);
  free(q.tbad);
  free(q.tscale);
  free(q.tcap);
  free(q.r);
  return st;
}
