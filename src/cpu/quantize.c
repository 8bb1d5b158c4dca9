/* CPU reference quantizer: plain loops over rows that call the shared block
 * code of src/common/block.h. Each row is loaded (converted to fp32,
 * RHT-transformed and optionally bf16-rounded when cfg->rht asks), its blocks
 * are encoded, and the codes are packed into the row's bytes.
 *
 * Formats whose scale depends on more than one row (NVFP4 16x16 tiles, FP8
 * per-tensor and 128x128) work on bands of block_rows rows: one pass gathers
 * each tile's amax, a second encodes. The NVFP4 tensor amax comes from a
 * first pass over the whole input too.
 *
 * Both passes run on the thread pool over chunks of at most 64 rows that
 * never straddle a band; chunk boundaries do not depend on the thread count,
 * each chunk writes its own rows (and one chunk per band its scales), and
 * amaxes combine by max, so every thread count gives the same bytes. */
#include <stdlib.h>

#include "common/block.h"
#include "common/compat.h"
#include "core/tensor.h"
#include "common/philox.h"
#include "common/rht.h"
#include "core/error.h"
#include "cpu/cpu_ops.h"
#include "cpu/pool.h"

/* One thread's row buffers. */
typedef struct qslot {
  float *buf;        /* row buffer, fp32 [cols] */
  const float *x;    /* current row: buf, or an fp32 input's own row (nothing to convert) */
  uint8_t *r;        /* SR bytes of the current row [cols], NULL for RNE */
  uint8_t *codes;    /* unpacked codes [scols * block_cols] */
  uint32_t *tamax;   /* per tile column: amax bits [scols] */
  uint8_t *tbad;     /* per tile column: has NaN/Inf [scols] */
  float *tscale;     /* FP8: per tile column: the scale [scols] */
  uint32_t *tcap;    /* FP8: per tile column: the largest magnitude code (mxb_fp8_cap) [scols] */
  uint8_t *t46;      /* NVFP4 2D Four Over Six: per tile column: 1 where the tile takes the 4 scale [scols] */
  double *te;        /* the same: the tile rows' errors, 6 then 4 candidate [2 * 16 * scols] */
} qslot;

/* Work is cut into chunks of at most CHUNK_ROWS rows that never straddle a
 * band of br rows (br > 1), whatever the thread count. */
enum { CHUNK_ROWS = 64 };

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
  mxb_amax_mode mode; /* of the tile amax */
  int fp8_amax_given; /* FP8 per tensor: the scale comes from fp8_amax, the supplied amax's bits */
  uint32_t fp8_amax;
  float *fp8_amax_out; /* FP8 per tensor: cfg->amax_out, where the values' amax goes, or NULL */
  int64_t br;         /* rows sharing a scale (1: each row its own) */
  int64_t unit, cr, cpb, nchunks; /* band (br, or CHUNK_ROWS when br = 1), chunk rows, chunks per band */
  uint32_t *pamax;    /* br > 1: per chunk and tile column: amax bits [nchunks * scols] */
  uint8_t *pbad;      /* br > 1: per chunk and tile column: has NaN/Inf */
  uint32_t *pnv;      /* NVFP4 1x16 tensor amax: per chunk, over its blocks [nchunks] */
  mxb_nvfp4_ts ts;    /* ts.four_six: 1x16 blocks' Four Over Six (0 for 2D tiles) */
  int four_six_2d;    /* 2D tiles' Four Over Six metric (0: off) */
  float compat_amax;  /* NVFP4 under a compatibility profile: the tensor amax as given or computed */
  qslot *slots;
} qctx;

/* Row `row` of the (transformed) input into s->x, and its SR bytes when
 * the row is about to be encoded (with_r). */
static void fetch_row(const qctx *q, qslot *s, int64_t row, int with_r) {
  const mxb_rht_t *rht = &q->cfg->rht;
  if (q->src_type == MXB_DTYPE_FP32 && !rht->enabled) {
    s->x = (const float *)q->src + row * q->cols; /* read in place: a copy would change nothing */
  } else {
    mxb_cpu_load(q->src_type, q->src, row * q->cols, q->cols, s->buf);
    if (rht->enabled) {
      for (int64_t c = 0; c < q->cols; c += rht->size) mxb_rht_chunk(s->buf + c, rht->size, q->signs, 0);
      if (rht->bf16_output)
        for (int64_t c = 0; c < q->cols; c++) s->buf[c] = mxb_bf16_decode(mxb_bf16_rne(s->buf[c]));
    }
    s->x = s->buf;
  }
  if (s->r && with_r) {
    const int64_t ld = mxb_quant_global_cols(q->cfg, q->cols);
    const uint64_t i0 = mxb_sr_index(row, 0, mxb_sr_base(q->cfg->global_row0, q->cfg->global_col0, ld), ld);
    mxb_u32x4 w = mxb_philox_group(q->cfg->seed, q->cfg->offset, i0 >> 4);
    for (int64_t c = 0; c < q->cols; c++) {
      uint64_t i = i0 + (uint64_t)c;
      if (c && !(i & 15u)) w = mxb_philox_group(q->cfg->seed, q->cfg->offset, i >> 4);
      s->r[c] = (uint8_t)mxb_philox_byte(&w, (int)(i & 15u));
    }
  }
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Block width along cols, "whole dimension" resolved. */
static int64_t bcols(const qctx *q) { return q->d->block_cols ? q->d->block_cols : q->cols; }

/* Rows [r0, r1) of chunk k (empty past the last row). */
static void chunk_rows(const qctx *q, int64_t k, int64_t *r0, int64_t *r1) {
  int64_t b0 = k / q->cpb * q->unit;
  *r0 = b0 + k % q->cpb * q->cr;
  *r1 = min64(min64(*r0 + q->cr, b0 + q->unit), q->rows);
}

/* Tile amax and NaN/Inf flags over rows [r0, r1) (one entry per tile column). */
static void tile_stats(const qctx *q, qslot *s, int64_t r0, int64_t r1, uint32_t *tamax, uint8_t *tbad) {
  int64_t bc = bcols(q);
  memset(tamax, 0, (size_t)q->scols * sizeof(uint32_t));
  memset(tbad, 0, (size_t)q->scols);
  for (int64_t row = r0; row < r1; row++) {
    fetch_row(q, s, row, 0);
    for (int64_t j = 0; j < q->scols; j++) {
      int bad = 0;
      int64_t c0 = j * bc;
      uint32_t a = mxb_block_amax_bits(s->x + c0, (int)min64(bc, q->cols - c0), q->mode, &bad);
      tamax[j] = a > tamax[j] ? a : tamax[j];
      tbad[j] |= (uint8_t)bad;
    }
  }
}

/* After pass 1 (br > 1): each band's tile stats, its chunks' combined (max
 * and or, so in any order), into the band's first chunk. Linear in the
 * number of chunks, once, on the calling thread. */
static void combine_bands(qctx *q) {
  for (int64_t k0 = 0; k0 < q->nchunks; k0 += q->cpb)
    for (int64_t k = k0 + 1; k < k0 + q->cpb; k++)
      for (int64_t j = 0; j < q->scols; j++) {
        uint32_t a = q->pamax[k * q->scols + j], *m = &q->pamax[k0 * q->scols + j];
        *m = a > *m ? a : *m;
        q->pbad[k0 * q->scols + j] |= q->pbad[k * q->scols + j];
      }
}

/* Tile stats of band b (br > 1, after combine_bands) into s. */
static void band_stats(const qctx *q, qslot *s, int64_t b) {
  memcpy(s->tamax, q->pamax + b * q->cpb * q->scols, (size_t)q->scols * sizeof(uint32_t));
  memcpy(s->tbad, q->pbad + b * q->cpb * q->scols, (size_t)q->scols);
}

static int nan_blocks(const qctx *q) { return q->cfg->nonfinite == MXB_NONFINITE_NAN_BLOCK; }

/* Pass 1, chunk k: its tile stats (br > 1) or, for NVFP4 1x16 blocks, the
 * largest amax of its blocks (NaN blocks do not enter the tensor amax). */
static void stats_task(void *arg, int64_t k, int slot) {
  const qctx *q = arg;
  qslot *s = &q->slots[slot];
  int64_t r0, r1;
  chunk_rows(q, k, &r0, &r1);
  if (q->br > 1) {
    tile_stats(q, s, r0, r1, q->pamax + k * q->scols, q->pbad + k * q->scols);
    return;
  }
  uint32_t m = 0;
  for (int64_t row = r0; row < r1; row++) {
    tile_stats(q, s, row, row + 1, s->tamax, s->tbad);
    for (int64_t j = 0; j < q->scols; j++)
      if (!(nan_blocks(q) && s->tbad[j]) || q->cfg->compat) m = s->tamax[j] > m ? s->tamax[j] : m;
  }
  q->pnv[k] = m; /* a profile's amax keeps NaN bits (NaN-block amax bits admit them) */
}

static void put_row(const qctx *q, const qslot *s, int64_t row) {
  mxb_cpu_pack(s->codes, mxb_fmt_row_codes(q->d->format, q->cols), q->d->elem_bits,
               (uint8_t *)q->dst->data + (size_t)row * q->sz->row_bytes);
}
static void put_scale8(const qctx *q, int64_t i, int64_t j, uint8_t s) {
  ((uint8_t *)q->dst->scales)[mxb_cpu_scale_index(q->dst, i, j, q->scols)] = s;
}

/* NVFP4 with an amax per row (nvfp4_row_amax): row's tensor scales, from
 * its amax computed as the tensor amax is (the largest block amax, NaN
 * blocks left out) and stored, or read from dst->amax[row]. */
static mxb_nvfp4_ts row_scales(const qctx *q, const qslot *s, int64_t row) {
  float A;
  if (q->cfg->amax_source == MXB_AMAX_FROM_TENSOR) {
    A = q->dst->amax[row];
  } else {
    const int64_t bc = bcols(q);
    uint32_t m = 0;
    for (int64_t j = 0; j < q->scols; j++) {
      int bad = 0;
      const uint32_t a = mxb_block_amax_bits(s->x + j * bc, (int)min64(bc, q->cols - j * bc), q->mode, &bad);
      if (!(nan_blocks(q) && bad) || q->cfg->compat) m = a > m ? a : m; /* a profile's keeps NaN */
    }
    A = q->dst->amax[row] = q->cfg->compat ? mxb_compat_amax(m) : mxb_u2f(m);
  }
  mxb_nvfp4_ts t = mxb_nvfp4_tensor_scales(A, mxb_quant_flags(q->cfg));
  t.four_six = (int)q->cfg->four_over_six;
  return t;
}

/* NVFP4 (NUMERICS 4.1): 1x16 blocks, or 16x16 tiles (tile stats in s) whose
 * scale is stored on each of the tile's rows; with Four Over Six on tiles,
 * those s->t46 marks take the scale of their amax mapped to 4. ts: the
 * tensor scales (q->ts, or the row's own). */
static void encode_nvfp4(const qctx *q, qslot *s, int64_t row, const mxb_nvfp4_ts *ts) {
  int64_t bc = bcols(q);
  for (int64_t j = 0; j < q->scols; j++) {
    int64_t c0 = j * bc;
    int n = (int)min64(bc, q->cols - c0), bad = 0;
    uint32_t a = q->br > 1 ? s->tamax[j] : mxb_block_amax_bits(s->x + c0, n, q->mode, &bad);
    if (q->br > 1) bad = s->tbad[j];
    const uint8_t *r = s->r ? s->r + c0 : NULL;
    uint8_t sc;
    if (q->cfg->compat && q->four_six_2d) { /* TE's 2D Four Over Six: the tile's candidate (te_tile_choice) */
      float S_enc, S_dec, e;
      const float k = mxb_nvfp4_k(mxb_quant_flags(q->cfg));
      mxb_te_nvfp4_tensor(q->compat_amax, k, &S_enc, &S_dec);
      sc = mxb_te_4over6_candidate(s->x + c0, n, a, q->compat_amax, k, S_enc, S_dec,
                                   q->four_six_2d == MXB_FOUR_OVER_SIX_MSE, s->t46[j] ? 0 : 1, s->codes + c0, &e);
    } else if (q->cfg->compat) { /* the tensor's amax, or the row's (stored by row_scales) */
      const float A = q->cfg->nvfp4_row_amax ? q->dst->amax[row] : q->compat_amax;
      sc = mxb_compat_nvfp4_block(q->cfg->compat, s->x + c0, n, A, q->br > 1 ? a : 0xFFFFFFFFu,
                                  (int)q->cfg->four_over_six, mxb_quant_flags(q->cfg), s->codes + c0);
    } else if (q->four_six_2d && s->t46[j]) {
      sc = mxb_nvfp4_block_scale4(mxb_u2f(a), ts);
      mxb_nvfp4_encode_block(s->x + c0, n, sc, ts, r, s->codes + c0);
    } else {
      sc = mxb_nvfp4_quantize_block(s->x + c0, n, a, nan_blocks(q) && bad, ts, r, s->codes + c0);
    }
    put_scale8(q, row, j, sc);
  }
}

/* Four Over Six on the 16x16 tiles of band rows [r0, r1) (NUMERICS 4.1.1):
 * s->t46 first marks the tiles with two candidates (not NaN tiles, scales at
 * 6 and 4 distinct), then keeps those whose rows' errors at 4 sum
 * (mxb_nvfp4_tile_error) below those at 6. */
/* TE's Four Over Six on 16x16 tiles (the TE profile, docs/COMPAT.md): each
 * tile row's fp32 error for both candidates under the tile amax, the 16 rows
 * summed in TE's tree (mxb_te_tile_error); s->t46 marks the tiles where the
 * 4 candidate errs less. */
static void te_tile_choice(const qctx *q, qslot *s, int64_t r0, int64_t r1) {
  const int64_t bc = bcols(q), nt = q->scols;
  const float A = q->compat_amax, k = mxb_nvfp4_k(mxb_quant_flags(q->cfg));
  float S_enc, S_dec;
  mxb_te_nvfp4_tensor(A, k, &S_enc, &S_dec);
  float *e4 = (float *)s->te, *e6 = e4 + 16 * nt; /* s->te holds 2 * 16 * nt doubles: room enough */
  memset(s->te, 0, (size_t)(2 * 16 * nt) * sizeof(double));
  uint8_t c[16];
  for (int64_t row = r0; row < r1; row++) {
    fetch_row(q, s, row, 0);
    for (int64_t j = 0; j < nt; j++) {
      const int n = (int)min64(bc, q->cols - j * bc);
      const int mse = q->four_six_2d == MXB_FOUR_OVER_SIX_MSE;
      mxb_te_4over6_candidate(s->x + j * bc, n, s->tamax[j], A, k, S_enc, S_dec, mse, 0, c, &e4[(row - r0) * nt + j]);
      mxb_te_4over6_candidate(s->x + j * bc, n, s->tamax[j], A, k, S_enc, S_dec, mse, 1, c, &e6[(row - r0) * nt + j]);
    }
  }
  for (int64_t j = 0; j < nt; j++) {
    float a4[16], a6[16];
    for (int r = 0; r < 16; r++) a4[r] = e4[r * nt + j], a6[r] = e6[r * nt + j];
    s->t46[j] = mxb_te_tile_error(a4) < mxb_te_tile_error(a6);
  }
}

static void nvfp4_tile_choice(const qctx *q, qslot *s, int64_t r0, int64_t r1) {
  if (q->cfg->compat) {
    te_tile_choice(q, s, r0, r1);
    return;
  }
  const int64_t bc = bcols(q), nt = q->scols;
  mxb_nvfp4_ts t = q->ts;
  t.four_six = q->four_six_2d;
  double *e6 = s->te, *e4 = s->te + 16 * nt;
  memset(s->te, 0, (size_t)(2 * 16 * nt) * sizeof(double));
  for (int64_t j = 0; j < nt; j++) {
    const float a_b = mxb_u2f(s->tamax[j]);
    s->t46[j] = !(nan_blocks(q) && s->tbad[j]) && mxb_nvfp4_block_scale4(a_b, &t) != mxb_nvfp4_block_scale(a_b, &t);
  }
  uint8_t c6[16], c4[16];
  for (int64_t row = r0; row < r1; row++) {
    fetch_row(q, s, row, 1);
    for (int64_t j = 0; j < nt; j++) {
      if (!s->t46[j]) continue;
      const int64_t c0 = j * bc;
      const int n = (int)min64(bc, q->cols - c0);
      const float a_b = mxb_u2f(s->tamax[j]);
      const uint8_t s6 = mxb_nvfp4_block_scale(a_b, &t), s4 = mxb_nvfp4_block_scale4(a_b, &t);
      const uint8_t *r = s->r ? s->r + c0 : NULL;
      mxb_nvfp4_encode_block(s->x + c0, n, s6, &t, r, c6);
      mxb_nvfp4_encode_block(s->x + c0, n, s4, &t, r, c4);
      e6[(row - r0) * nt + j] = mxb_nvfp4_block_error(s->x + c0, n, c6, s6, &t);
      e4[(row - r0) * nt + j] = mxb_nvfp4_block_error(s->x + c0, n, c4, s4, &t);
    }
  }
  for (int64_t j = 0; j < nt; j++) {
    if (!s->t46[j]) continue;
    double a6[16], a4[16];
    for (int k = 0; k < 16; k++) a6[k] = e6[k * nt + j], a4[k] = e4[k * nt + j];
    s->t46[j] = mxb_nvfp4_tile_error(a4) < mxb_nvfp4_tile_error(a6);
  }
}

/* MX (NUMERICS 4.2): 1 x block_cols blocks with E8M0 scales. */
/* MX (NUMERICS 4.2): each 1x32 block from its own amax, or with 2D scaling
 * from its 32x32 tile's (the tile stats in s). */
static void encode_mx(const qctx *q, qslot *s, int64_t row) {
  int64_t bc = bcols(q);
  for (int64_t j = 0; j < q->scols; j++) {
    int64_t c0 = j * bc;
    const int n = (int)min64(bc, q->cols - c0);
    const uint8_t *r = s->r ? s->r + c0 : NULL;
    uint8_t b = q->cfg->compat ? mxb_compat_mx_block(q->cfg->compat, s->x + c0, n, &q->fp, s->codes + c0)
              : q->br > 1 ? mxb_mx_quantize_block_amax(s->x + c0, n, s->tamax[j], nan_blocks(q) && s->tbad[j], &q->fp,
                                                       q->cfg->scale_rule, r, s->codes + c0)
                          : mxb_mx_quantize_block(s->x + c0, n, &q->fp, q->cfg->scale_rule, q->cfg->nonfinite, r,
                                                  s->codes + c0);
    put_scale8(q, row, j, b);
  }
}

/* MX9/MX6/MX4 (NUMERICS 4.3): the row's codes are padded to whole blocks. */
static void encode_bdr(const qctx *q, qslot *s, int64_t row) {
  int64_t bc = bcols(q);
  memset(s->codes, 0, (size_t)mxb_fmt_row_codes(q->d->format, q->cols));
  for (int64_t j = 0; j < q->scols; j++) {
    int64_t c0 = j * bc;
    uint8_t mu = 0;
    put_scale8(q, row, j, mxb_bdr_quantize_block(s->x + c0, (int)min64(bc, q->cols - c0), q->d->bdr_m,
                                                 q->cfg->nonfinite, &mu, s->codes + c0));
    ((uint8_t *)q->dst->aux)[mxb_cpu_scale_index(q->dst, row, j, q->scols)] = mu;
  }
}

/* FP8 with fp32 or UE8M0 scales (NUMERICS 4.4): the scales of band b from
 * the tile stats in s, stored when `store`. */
static void fp8_scales(const qctx *q, qslot *s, int64_t b, int store) {
  const int st = q->d->scale_type, pow2 = mxb_fp8_pow2(st, q->cfg->fp8_pow2_scale);
  for (int64_t j = 0; j < q->scols; j++) {
    float sc = mxb_fp8_scale(q->fp8_amax_given ? q->fp8_amax : s->tamax[j], &q->fp, pow2);
    s->tscale[j] = sc;
    s->tcap[j] = mxb_fp8_cap(&q->fp, sc);
    if (store) mxb_fp8_scale_inv_store(q->dst->scales, st, b * q->scols + j, sc);
    if (store && q->fp8_amax_out) *q->fp8_amax_out = mxb_u2f(s->tamax[j]); /* per tensor: one band, one column */
  }
}

/* flatten: the element encoder inlined into the loop (left to itself, the
 * inliner calls it once an element, about 20% slower). */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((flatten))
#endif
static void encode_fp8(const qctx *q, qslot *s) {
  int64_t bc = bcols(q);
  for (int64_t j = 0; j < q->scols; j++)
    for (int64_t c = j * bc; c < q->cols && c < (j + 1) * bc; c++)
      s->codes[c] = mxb_fp8_encode_scaled(&q->fp, s->x[c], s->tscale[j], s->tcap[j], s->r ? s->r[c] : -1);
}

/* Pass 2, chunk k: encode its rows. */
static void encode_task(void *arg, int64_t k, int slot) {
  const qctx *q = arg;
  qslot *s = &q->slots[slot];
  int64_t r0, r1;
  chunk_rows(q, k, &r0, &r1);
  if (r0 >= r1) return;
  const mxb_scale_type_t st = q->d->scale_type;
  if (q->br > 1) {
    band_stats(q, s, k / q->cpb);
    /* one chunk of the band stores its scales */
    if (mxb_fp8_scale_type(st)) fp8_scales(q, s, k / q->cpb, k % q->cpb == 0);
    /* a 2D NVFP4 band is one chunk (16 <= CHUNK_ROWS): its tiles choose here */
    if (q->four_six_2d) nvfp4_tile_choice(q, s, r0, r1);
  }
  for (int64_t row = r0; row < r1; row++) {
    if (mxb_fp8_scale_type(st) && q->br == 1) {
      tile_stats(q, s, row, row + 1, s->tamax, s->tbad);
      fp8_scales(q, s, row, 1);
    }
    fetch_row(q, s, row, 1);
    switch (st) {
      case MXB_SCALE_UE4M3: {
        const mxb_nvfp4_ts rt = q->cfg->nvfp4_row_amax ? row_scales(q, s, row) : q->ts;
        encode_nvfp4(q, s, row, &rt);
        break;
      }
      case MXB_SCALE_E8M0: encode_mx(q, s, row); break;
      case MXB_SCALE_BDR: encode_bdr(q, s, row); break;
      case MXB_SCALE_FP32:
      case MXB_SCALE_UE8M0: encode_fp8(q, s); break;
      case MXB_SCALE_NONE: /* BF16 (NUMERICS 4.5), saturating like every storage format */
        for (int64_t c = 0; c < q->cols; c++)
          ((uint16_t *)q->dst->data)[row * q->cols + c] = mxb_bf16_rne_satfinite(s->x[c]);
        continue;
    }
    put_row(q, s, row);
  }
}

/* NVFP4 tensor amax from pass 1 (max, so in any order). */
static float nvfp4_tensor_amax(const qctx *q) {
  uint32_t m = 0;
  if (q->br == 1) {
    for (int64_t k = 0; k < q->nchunks; k++) m = q->pnv[k] > m ? q->pnv[k] : m;
  } else {
    qslot *s = &q->slots[0];
    for (int64_t b = 0; b < q->nchunks / q->cpb; b++) {
      band_stats(q, s, b);
      for (int64_t j = 0; j < q->scols; j++)
        if (!(nan_blocks(q) && s->tbad[j]) || q->cfg->compat) m = s->tamax[j] > m ? s->tamax[j] : m;
    }
  }
  return mxb_u2f(m);
}

static void free_slots(qslot *slots, int n) {
  for (int i = 0; slots && i < n; i++) {
    free(slots[i].buf);
    free(slots[i].r);
    free(slots[i].codes);
    free(slots[i].tamax);
    free(slots[i].tbad);
    free(slots[i].tscale);
    free(slots[i].tcap);
    free(slots[i].t46);
    free(slots[i].te);
  }
  free(slots);
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
  const int nvfp4 = q.d->scale_type == MXB_SCALE_UE4M3, fp8 = mxb_fp8_scale_type(q.d->scale_type);
  q.mode = fp8 ? MXB_AMAX_FINITE : nan_blocks(&q) ? MXB_AMAX_NAN_BLOCK : MXB_AMAX_SKIP_NAN;
  q.br = cfg->block_2d ? q.d->block_cols /* 2D scaling: square tiles (NVFP4 16x16, MX 32x32) */
         : q.d->block_rows ? q.d->block_rows : q.rows;
  if (q.br < 1) q.br = 1;
  q.four_six_2d = nvfp4 && q.br > 1 ? (int)cfg->four_over_six : 0;
  q.unit = q.br > 1 ? q.br : CHUNK_ROWS;
  q.cr = min64(q.unit, CHUNK_ROWS);
  q.cpb = (q.unit + q.cr - 1) / q.cr;
  q.nchunks = (q.rows + q.unit - 1) / q.unit * q.cpb;
  const int tensor_amax = nvfp4 && cfg->amax_source != MXB_AMAX_FROM_TENSOR && !cfg->nvfp4_row_amax;
  /* FP8 per tensor with a supplied amax (delayed scaling): its magnitude
   * sets the scale, as the GPU reads it (NUMERICS 4.4) */
  q.fp8_amax_given = fp8 && cfg->amax_source == MXB_AMAX_FROM_TENSOR;
  if (q.fp8_amax_given) q.fp8_amax = mxb_f2u(*dst->amax) & MXB_F32_ABS;
  q.fp8_amax_out = cfg->amax_out; /* checked: FP8 per tensor only */
  const int pass1 = q.br > 1 || tensor_amax;

  size_t ncodes = (size_t)mxb_fmt_row_codes(dst->format, q.cols);
  int nt = mxb_cpu_plan(q.nchunks, (double)q.rows * (double)q.cols * (pass1 ? 2 : 1));
  int ok = 1;
  q.slots = calloc((size_t)nt, sizeof(qslot));
  ok = q.slots != NULL;
  for (int i = 0; ok && i < nt; i++) {
    qslot *s = &q.slots[i];
    s->buf = malloc((size_t)q.cols * sizeof(float));
    s->codes = calloc(ncodes ? ncodes : 1, 1); /* padding codes stay 0 */
    s->tamax = malloc((size_t)q.scols * sizeof(uint32_t));
    s->tbad = malloc((size_t)q.scols);
    s->tscale = malloc((size_t)q.scols * sizeof(float));
    s->tcap = malloc((size_t)q.scols * sizeof(uint32_t));
    if (cfg->rounding == MXB_ROUND_SR) s->r = malloc((size_t)q.cols);
    ok = s->buf && s->codes && s->tamax && s->tbad && s->tscale && s->tcap && (cfg->rounding != MXB_ROUND_SR || s->r);
    if (ok && q.four_six_2d) {
      s->t46 = malloc((size_t)q.scols);
      s->te = malloc((size_t)(2 * 16 * q.scols) * sizeof(double));
      ok = s->t46 && s->te;
    }
  }
  if (ok && q.br > 1) {
    q.pamax = malloc((size_t)(q.nchunks * q.scols) * sizeof(uint32_t));
    q.pbad = malloc((size_t)(q.nchunks * q.scols));
    ok = q.pamax && q.pbad;
  }
  if (ok && tensor_amax && q.br == 1) ok = (q.pnv = malloc((size_t)q.nchunks * sizeof(uint32_t))) != NULL;
  mxb_status_t st = MXB_SUCCESS;
  if (!ok) {
    st = mxb_fail(MXB_ERR_ALLOC, "cannot allocate the row buffers of the CPU quantizer (%d threads, %lld columns)",
                  nt, (long long)q.cols);
  } else {
    if (dst->scale_layout == MXB_SCALE_LAYOUT_SWIZZLED) memset(dst->scales, 0, sz->scale_bytes); /* padding */
    if (pass1) mxb_cpu_run(nt, q.nchunks, stats_task, &q);
    if (q.br > 1) combine_bands(&q);
    if (nvfp4 && !cfg->nvfp4_row_amax) { /* else each row's, as it is encoded */
      float A = tensor_amax ? nvfp4_tensor_amax(&q) : *dst->amax;
      if (tensor_amax && cfg->compat) A = mxb_compat_amax(mxb_f2u(A));
      if (tensor_amax) *dst->amax = A;
      q.compat_amax = A;
      q.ts = mxb_nvfp4_tensor_scales(A, mxb_quant_flags(cfg));
      q.ts.four_six = q.br > 1 ? 0 : (int)cfg->four_over_six;
    }
    mxb_cpu_run(nt, q.nchunks, encode_task, &q);
  }
  free_slots(q.slots, nt);
  free(q.pamax);
  free(q.pbad);
  free(q.pnv);
  return st;
}
