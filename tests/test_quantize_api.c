/* mxb_quantize / mxb_dequantize / mxb_amax on the CPU backend: round trips
 * within each format's bound, tails, layouts, SR, non-finite policies, 2D
 * and RHT, and bad input. */
#include <float.h>

#include "common/block.h"
#include "core/formats.h"
#include "common/rht.h"
#include "cpu/decode.h"
#include "testutil.h"

typedef struct {
  mxb_tensor_t t;
  mxb_tensor_sizes_t s;
  float amax_store;
} qt;

static void qt_alloc(qt *q, mxb_format_t f, int64_t rows, int64_t cols, mxb_scale_layout_t layout) {
  cr_assert_eq(mxb_tensor_init(&q->t, f, rows, cols, layout), MXB_SUCCESS, "%s", mxb_last_error_detail());
  q->s.struct_size = sizeof(q->s);
  cr_assert_eq(mxb_tensor_sizes(f, rows, cols, layout, &q->s), MXB_SUCCESS);
  q->t.data = malloc(q->s.data_bytes);
  q->t.scales = q->s.scale_bytes ? malloc(q->s.scale_bytes) : NULL;
  q->t.aux = q->s.aux_bytes ? malloc(q->s.aux_bytes) : NULL;
  q->t.amax = q->s.amax_bytes ? &q->amax_store : NULL;
  memset(q->t.data, 0xA5, q->s.data_bytes);
  if (q->t.scales) memset(q->t.scales, 0xA5, q->s.scale_bytes);
  if (q->t.aux) memset(q->t.aux, 0xA5, q->s.aux_bytes);
  q->amax_store = 1234.5f;
}
static void qt_free(qt *q) {
  free(q->t.data);
  free(q->t.scales);
  free(q->t.aux);
}

static mxb_context_t *cpu(void) {
  mxb_context_t *c = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &c), MXB_SUCCESS);
  return c;
}

static void quant(mxb_context_t *c, const mxb_quant_config_t *cfg, const float *x, qt *q) {
  mxb_status_t s = mxb_quantize(c, cfg, MXB_DTYPE_FP32, x, &q->t, NULL, 0, NULL);
  cr_assert_eq(s, MXB_SUCCESS, "quantize %d: %s", q->t.format, mxb_last_error_detail());
  cr_assert_str_eq(mxb_context_last_impl(c), "cpu-reference");
}

/* Error bound of one element: rel * |x| + abs * (amax of what shares its scale). */
static void bound_of(mxb_format_t f, double *rel, double *abs_) {
  mxb_format_info_t in = {.struct_size = sizeof(in)};
  mxb_format_info(f, &in);
  const mxb_elem_desc *e = mxb_elem_desc_get(in.elem);
  double half_sub = ldexp(1.0, (e->ebits ? 1 - e->bias : 0) - e->mbits - 1);
  switch (in.scale_type) {
    case MXB_SCALE_UE4M3: *rel = 0.25; *abs_ = 0.05; break;              /* quarter of scale ~ amax/6 */
    case MXB_SCALE_E8M0: *rel = ldexp(1.0, -e->mbits - 1); *abs_ = half_sub * 2 / e->max_value; break;
    case MXB_SCALE_BDR: *rel = 0; *abs_ = ldexp(1.0, 1 - e->mbits); break;
    case MXB_SCALE_FP32:
    case MXB_SCALE_UE8M0: *rel = ldexp(1.0, -e->mbits - 1); *abs_ = half_sub * 2 / e->max_value; break;
    default: *rel = ldexp(1.0, -8); *abs_ = 0; break;
  }
  if (in.elem == MXB_ELEM_INT8) *rel = 0;
}


static void round_trip(mxb_format_t f, int64_t rows, int64_t cols, uint64_t seed) {
  mxb_context_t *c = cpu();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  size_t n = (size_t)(rows * cols);
  float *x = malloc(n * 4), *y = malloc(n * 4);
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++) x[i] = mxbt_wide(&s, -8, 6); /* wide range inside blocks */
  qt q;
  qt_alloc(&q, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR);
  quant(c, &cfg, x, &q);
  cr_assert_eq(q.t.flags, 0u);
  cr_assert_eq(mxb_dequantize(c, &q.t, MXB_DTYPE_FP32, y, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxb_format_info_t in = {.struct_size = sizeof(in)};
  mxb_format_info(f, &in);
  double rel, abs_;
  bound_of(f, &rel, &abs_);
  double tensor_amax = 0;
  for (size_t i = 0; i < n; i++) tensor_amax = fmax(tensor_amax, fabs(x[i]));
  int bc = in.scale_type == MXB_SCALE_FP32 || in.scale_type == MXB_SCALE_UE8M0 || in.scale_type == MXB_SCALE_NONE
               ? 0
               : in.block_cols;
  double *dec = malloc((size_t)cols * 8);
  for (int64_t r = 0; r < rows; r++) {
    mxb_cpu_decode_row_f64(&q.t, r, dec);
    double ts = mxb_cpu_tensor_scale(&q.t, 0);
    for (int64_t k = 0; k < cols; k++) {
      double amax = tensor_amax;
      if (bc) {
        amax = 0;
        for (int64_t j = k / bc * bc; j < cols && j < k / bc * bc + bc; j++) amax = fmax(amax, fabs(x[r * cols + j]));
      }
      double xv = x[r * cols + k], yv = y[r * cols + k];
      double b = rel * fabs(xv) + abs_ * amax + 1e-37;
      cr_assert_leq(fabs(xv - yv), b, "%s [%lld,%lld] x=%a y=%a bound %g", in.name, (long long)r, (long long)k, xv, yv, b);
      if (f != MXB_FORMAT_NVFP4)
        cr_assert_eq((float)(float)dec[k] * (float)ts, (float)yv, "%s decode_row vs dequantize", in.name);
    }
  }
  /* padding bits/nibbles of each row are zero */
  if (in.scale_type != MXB_SCALE_BDR && (cols * in.elem_bits) % 8) {
    for (int64_t r = 0; r < rows; r++) {
      uint8_t last = ((uint8_t *)q.t.data)[(r + 1) * (int64_t)q.s.row_bytes - 1];
      int used = (int)((cols * in.elem_bits) % 8);
      cr_assert_eq(last >> used, 0, "%s row %lld padding", in.name, (long long)r);
    }
  }
  free(dec);
  free(x);
  free(y);
  qt_free(&q);
  mxb_context_destroy(c);
}

Test(quantize, round_trip_every_format_with_tails) {
  mxb_format_t formats[MXB_FORMAT_COUNT];
  const size_t nformats = mxbt_quant_formats(formats);
  cr_assert_eq(nformats, 21); /* every format but fp32 and the three MoR formats */
  for (size_t k = 0; k < nformats; k++) {
    round_trip(formats[k], 3, 64, 1 + k);
    round_trip(formats[k], 7, 75, 100 + k);   /* tails of every block length */
    round_trip(formats[k], 130, 260, 200 + k); /* 128-row tails */
    round_trip(formats[k], 1, 1, 300 + k);
  }
}

Test(quantize, bf16_and_fp16_inputs) {
  mxb_context_t *c = cpu();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  enum { R = 5, C = 48 };
  float x[R * C], xb[R * C], xh[R * C];
  uint16_t b[R * C], h[R * C];
  uint64_t s = 3;
  for (int i = 0; i < R * C; i++) {
    x[i] = mxbt_normal(&s);
    b[i] = mxb_bf16_rne(x[i]);
    xb[i] = mxb_bf16_decode(b[i]);
    h[i] = mxb_fp16_rne(x[i]);
    xh[i] = mxb_fp16_decode(h[i]);
  }
  mxb_format_t formats[MXB_FORMAT_COUNT];
  const size_t nformats = mxbt_quant_formats(formats);
  for (size_t k = 0; k < nformats; k++) {
    qt q1, q2;
    qt_alloc(&q1, formats[k], R, C, MXB_SCALE_LAYOUT_LINEAR);
    qt_alloc(&q2, formats[k], R, C, MXB_SCALE_LAYOUT_LINEAR);
    for (int t = 0; t < 2; t++) {
      quant(c, &cfg, t ? xh : xb, &q1);
      cr_assert_eq(mxb_quantize(c, &cfg, t ? MXB_DTYPE_FP16 : MXB_DTYPE_BF16, t ? (void *)h : (void *)b, &q2.t, NULL,
                                0, NULL),
                   MXB_SUCCESS);
      cr_assert_arr_eq(q1.t.data, q2.t.data, q1.s.data_bytes);
      if (q1.s.scale_bytes) cr_assert_arr_eq(q1.t.scales, q2.t.scales, q1.s.scale_bytes);
    }
    qt_free(&q1);
    qt_free(&q2);
  }
  /* dequantize to bf16 / fp16 is the RNE of the fp32 result */
  qt q;
  qt_alloc(&q, MXB_FORMAT_MXFP8_E4M3, R, C, MXB_SCALE_LAYOUT_LINEAR);
  quant(c, &cfg, x, &q);
  float y[R * C];
  uint16_t yb[R * C], yh[R * C];
  cr_assert_eq(mxb_dequantize(c, &q.t, MXB_DTYPE_FP32, y, NULL), MXB_SUCCESS);
  cr_assert_eq(mxb_dequantize(c, &q.t, MXB_DTYPE_BF16, yb, NULL), MXB_SUCCESS);
  cr_assert_eq(mxb_dequantize(c, &q.t, MXB_DTYPE_FP16, yh, NULL), MXB_SUCCESS);
  for (int i = 0; i < R * C; i++) {
    cr_assert_eq(yb[i], mxb_bf16_rne(y[i]));
    cr_assert_eq(yh[i], mxb_fp16_rne(y[i]));
  }
  qt_free(&q);
  mxb_context_destroy(c);
}

Test(quantize, swizzled_equals_linear) {
  mxb_context_t *c = cpu();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  const mxb_format_t fs[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4};
  const int64_t R = 200, C = 176; /* 200 rows: two 128-row tiles; 11 or 6 scale columns */
  float *x = malloc(R * C * 4);
  mxbt_fill_normal(x, R * C, 9, 1.0f);
  for (int k = 0; k < 3; k++) {
    qt a, b;
    qt_alloc(&a, fs[k], R, C, MXB_SCALE_LAYOUT_LINEAR);
    qt_alloc(&b, fs[k], R, C, MXB_SCALE_LAYOUT_SWIZZLED);
    quant(c, &cfg, x, &a);
    quant(c, &cfg, x, &b);
    cr_assert_arr_eq(a.t.data, b.t.data, a.s.data_bytes);
    uint8_t *seen = calloc(b.s.scale_bytes, 1);
    int64_t sc = a.s.scale_cols;
    for (int64_t i = 0; i < R; i++)
      for (int64_t j = 0; j < sc; j++) {
        /* the layout of NUMERICS 4.1, written out independently */
        int64_t pc = (sc + 3) / 4 * 4, tile = (i / 128) * (pc / 4) + j / 4;
        int64_t idx = tile * 512 + (i % 32) * 16 + ((i % 128) / 32) * 4 + (j % 4);
        cr_assert_eq(((uint8_t *)b.t.scales)[idx], ((uint8_t *)a.t.scales)[i * sc + j]);
        seen[idx] = 1;
      }
    for (size_t i = 0; i < b.s.scale_bytes; i++)
      if (!seen[i]) cr_assert_eq(((uint8_t *)b.t.scales)[i], 0, "padding scale %zu", i);
    float *y1 = malloc(R * C * 4), *y2 = malloc(R * C * 4);
    mxb_dequantize(c, &a.t, MXB_DTYPE_FP32, y1, NULL);
    mxb_dequantize(c, &b.t, MXB_DTYPE_FP32, y2, NULL);
    cr_assert_arr_eq(y1, y2, R * C * 4);
    free(seen);
    free(y1);
    free(y2);
    qt_free(&a);
    qt_free(&b);
  }
  free(x);
  mxb_context_destroy(c);
}

/* Packing: FP4 low nibble first, FP6 4 codes in 3 bytes little-endian. */
Test(quantize, packing) {
  mxb_context_t *c = cpu();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.scale_rule = MXB_SCALE_RULE_FLOOR;
  float x[5] = {4, 1, -0.5f, 6, 2}; /* FLOOR: b = 127, elements as is */
  qt q;
  qt_alloc(&q, MXB_FORMAT_MXFP4, 1, 5, MXB_SCALE_LAYOUT_LINEAR);
  quant(c, &cfg, x, &q);
  const uint8_t *d = q.t.data;
  cr_assert_eq(d[0], 0x26); /* 4 -> 6 (low), 1 -> 2 (high) */
  cr_assert_eq(d[1], 0x79); /* -0.5 -> 9, 6 -> 7 */
  cr_assert_eq(d[2], 0x04); /* 2 -> 4, padding nibble 0 */
  qt_free(&q);
  qt_alloc(&q, MXB_FORMAT_MXFP6_E2M3, 1, 5, MXB_SCALE_LAYOUT_LINEAR);
  quant(c, &cfg, x, &q);
  /* E2M3 codes: 4 -> 0x18, 1 -> 0x08, -0.5 -> 0x24, 6 -> 0x1C, 2 -> 0x10 */
  uint64_t bits = 0x18 | (0x08u << 6) | (0x24u << 12) | ((uint64_t)0x1C << 18) | ((uint64_t)0x10 << 24);
  for (int i = 0; i < 4; i++) cr_assert_eq(((uint8_t *)q.t.data)[i], (uint8_t)(bits >> (8 * i)), "byte %d", i);
  qt_free(&q);
  mxb_context_destroy(c);
}

Test(quantize, stochastic_rounding) {
  mxb_context_t *c = cpu();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.rounding = MXB_ROUND_SR;
  cfg.seed = 1234;
  const int64_t R = 64, C = 4096;
  float *x = malloc(R * C * 4), *y = malloc(R * C * 4);
  for (int64_t i = 0; i < R * C; i++) x[i] = (i % 32 == 0) ? 6.0f : 1.3f; /* b = 127 under RCEIL */
  qt a, b;
  qt_alloc(&a, MXB_FORMAT_MXFP4, R, C, MXB_SCALE_LAYOUT_LINEAR);
  qt_alloc(&b, MXB_FORMAT_MXFP4, R, C, MXB_SCALE_LAYOUT_LINEAR);
  quant(c, &cfg, x, &a);
  quant(c, &cfg, x, &b);
  cr_assert_arr_eq(a.t.data, b.t.data, a.s.data_bytes, "same seed, same bits");
  mxb_dequantize(c, &a.t, MXB_DTYPE_FP32, y, NULL);
  double sum = 0;
  int64_t cnt = 0;
  for (int64_t i = 0; i < R * C; i++) {
    if (i % 32 == 0) continue;
    cr_assert(y[i] == 1.0f || y[i] == 1.5f, "neighbours only: %g", y[i]);
    sum += y[i];
    cnt++;
  }
  /* E = 1 + 0.5 * floor(256 * 0.6) / 256; bias <= 1/256 ulp, plus 5 sigma */
  double mean = sum / cnt, want = 1.0 + 0.5 * 153.0 / 256.0, sigma = 0.5 * sqrt(0.6 * 0.4 / cnt);
  cr_assert_lt(fabs(mean - want), 5 * sigma, "mean %.6f want %.6f", mean, want);
  cr_assert_lt(fabs(mean - 1.3), 0.5 / 256 + 5 * sigma);
  cfg.offset = 1;
  quant(c, &cfg, x, &b);
  cr_assert(memcmp(a.t.data, b.t.data, a.s.data_bytes) != 0, "different offsets, different bits");
  cfg.offset = 0;
  cfg.seed = 1235;
  quant(c, &cfg, x, &b);
  cr_assert(memcmp(a.t.data, b.t.data, a.s.data_bytes) != 0, "different seeds, different bits");
  /* bits follow the element index: element i of the tensor uses mxb_sr_byte(seed, offset, i) */
  mxb_fp p = mxb_fp_from_desc(mxb_elem_desc_get(MXB_ELEM_E2M1));
  for (int64_t i = 100 * 32 + 1; i < 100 * 32 + 32; i++) {
    uint8_t byte = ((uint8_t *)b.t.data)[i / 2];
    cr_assert_eq((i & 1) ? byte >> 4 : byte & 15, mxb_fp_encode_sr(&p, 1.3f, mxb_sr_byte(1235, 0, (uint64_t)i)), "element %lld",
                 (long long)i);
  }
  /* SR for every format that offers it: outputs are grid neighbours of the RNE result's block */
  const mxb_format_t fs[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXINT8, MXB_FORMAT_FP8_E4M3_1x128};
  mxbt_fill_normal(x, R * C, 77, 1.0f);
  for (int k = 0; k < 4; k++) {
    qt r, s2;
    qt_alloc(&r, fs[k], R, C, MXB_SCALE_LAYOUT_LINEAR);
    qt_alloc(&s2, fs[k], R, C, MXB_SCALE_LAYOUT_LINEAR);
    mxb_quant_config_t rne;
    mxb_quant_config_init(&rne);
    quant(c, &rne, x, &r);
    quant(c, &cfg, x, &s2);
    if (r.s.scale_bytes) cr_assert_arr_eq(r.t.scales, s2.t.scales, r.s.scale_bytes, "SR keeps the scales");
    float *yr = malloc(R * C * 4);
    mxb_dequantize(c, &r.t, MXB_DTYPE_FP32, yr, NULL);
    mxb_dequantize(c, &s2.t, MXB_DTYPE_FP32, y, NULL);
    int64_t differ = 0;
    for (int64_t i = 0; i < R * C; i++) differ += yr[i] != y[i];
    cr_assert_gt(differ, R * C / 20, "format %d: SR changes some values", fs[k]);
    free(yr);
    qt_free(&r);
    qt_free(&s2);
  }
  free(x);
  free(y);
  qt_free(&a);
  qt_free(&b);
  mxb_context_destroy(c);
}

Test(quantize, nonfinite_policies) {
  mxb_context_t *c = cpu();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  float x[64];
  for (int i = 0; i < 64; i++) x[i] = (float)(i % 7) - 3;
  x[5] = NAN;
  x[40] = 1000; /* block 2 (NVFP4) would own the tensor amax */
  x[41] = -INFINITY;
  qt q;
  float y[64];
  /* NaN-block: blocks 0 and 2 are NaN; the tensor amax ignores them */
  qt_alloc(&q, MXB_FORMAT_NVFP4, 1, 64, MXB_SCALE_LAYOUT_LINEAR);
  quant(c, &cfg, x, &q);
  cr_assert_eq(*q.t.amax, 3.0f);
  cr_assert_eq(((uint8_t *)q.t.scales)[0], 0x7F);
  cr_assert_eq(((uint8_t *)q.t.scales)[2], 0x7F);
  mxb_dequantize(c, &q.t, MXB_DTYPE_FP32, y, NULL);
  for (int i = 0; i < 64; i++) cr_assert_eq(isnan(y[i]) != 0, i < 16 || (i >= 32 && i < 48), "[%d]", i);
  for (int i = 0; i < 8; i++) cr_assert_eq(((uint8_t *)q.t.data)[i], 0, "NaN block codes are 0");
  /* saturate: NaN -> +6, -Inf -> -6 with A = Inf */
  cfg.nonfinite = MXB_NONFINITE_SATURATE;
  quant(c, &cfg, x, &q);
  cr_assert(isinf(*q.t.amax));
  cr_assert_eq(((uint8_t *)q.t.data)[2] >> 4, 0x7);
  cr_assert_eq(((uint8_t *)q.t.data)[20] >> 4, 0xF);
  qt_free(&q);
  /* FP8 per-tensor keeps non-finite values, scale from finite values */
  cfg.nonfinite = MXB_NONFINITE_NAN_BLOCK;
  qt_alloc(&q, MXB_FORMAT_FP8_E5M2_TENSOR, 1, 64, MXB_SCALE_LAYOUT_LINEAR);
  quant(c, &cfg, x, &q);
  cr_assert_eq(((float *)q.t.scales)[0], 1.0f / (57344.0f / 1000.0f));
  mxb_dequantize(c, &q.t, MXB_DTYPE_FP32, y, NULL);
  cr_assert(isnan(y[5]));
  cr_assert(isinf(y[41]) && y[41] < 0);
  cr_assert_leq(fabsf(y[1] + 2.0f), 0.25f, "%g", y[1]);
  qt_free(&q);
  /* BF16 keeps them too */
  qt_alloc(&q, MXB_FORMAT_BF16, 1, 64, MXB_SCALE_LAYOUT_LINEAR);
  quant(c, &cfg, x, &q);
  mxb_dequantize(c, &q.t, MXB_DTYPE_FP32, y, NULL);
  cr_assert(isnan(y[5]) && isinf(y[41]) && y[40] == 1000.0f);
  qt_free(&q);
  mxb_context_destroy(c);
}

Test(quantize, nvfp4_supplied_amax_and_2d_transpose) {
  mxb_context_t *c = cpu();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  const int64_t R = 40, C = 56; /* 16x16 tiles with tails both ways */
  float *x = malloc(R * C * 4), *xt = malloc(R * C * 4);
  mxbt_fill_normal(x, R * C, 21, 2.0f);
  for (int64_t i = 0; i < R; i++)
    for (int64_t j = 0; j < C; j++) xt[j * R + i] = x[i * C + j];
  qt a, b;
  qt_alloc(&a, MXB_FORMAT_NVFP4, R, C, MXB_SCALE_LAYOUT_LINEAR);
  qt_alloc(&b, MXB_FORMAT_NVFP4, C, R, MXB_SCALE_LAYOUT_LINEAR);
  quant(c, &cfg, x, &a);
  float A = *a.t.amax;
  /* supplied amax equal to the computed one gives the same tensor */
  cfg.amax_source = MXB_AMAX_FROM_TENSOR;
  qt_free(&b);
  qt_alloc(&b, MXB_FORMAT_NVFP4, R, C, MXB_SCALE_LAYOUT_LINEAR);
  b.amax_store = A;
  quant(c, &cfg, x, &b);
  cr_assert_eq(b.amax_store, A, "supplied amax is not overwritten");
  cr_assert_arr_eq(a.t.data, b.t.data, a.s.data_bytes);
  b.amax_store = 4 * A; /* a sharded tensor's larger global amax changes the scales */
  quant(c, &cfg, x, &b);
  cr_assert(memcmp(a.t.scales, b.t.scales, a.s.scale_bytes) != 0);
  qt_free(&b);
  /* 2D: W and W^T quantize to transposed codes and scales */
  cfg.amax_source = MXB_AMAX_COMPUTE;
  cfg.block_2d = 1;
  qt_alloc(&b, MXB_FORMAT_NVFP4, C, R, MXB_SCALE_LAYOUT_LINEAR);
  quant(c, &cfg, x, &a);
  quant(c, &cfg, xt, &b);
  cr_assert_eq(a.t.flags, MXB_TENSOR_SCALED_2D);
  cr_assert_eq(*a.t.amax, *b.t.amax);
  const uint8_t *da = a.t.data, *db = b.t.data, *sa = a.t.scales, *sb = b.t.scales;
  for (int64_t i = 0; i < R; i++)
    for (int64_t j = 0; j < C; j++) {
      int ca = (da[i * a.s.row_bytes + j / 2] >> (4 * (j & 1))) & 15;
      int cb = (db[j * b.s.row_bytes + i / 2] >> (4 * (i & 1))) & 15;
      cr_assert_eq(ca, cb, "code (%lld,%lld)", (long long)i, (long long)j);
      cr_assert_eq(sa[i * a.s.scale_cols + j / 16], sb[j * b.s.scale_cols + i / 16]);
    }
  /* the tile's scale is on each of its rows */
  for (int64_t i = 0; i < R; i++) cr_assert_eq(sa[i * a.s.scale_cols], sa[(i / 16 * 16) * a.s.scale_cols]);
  qt_free(&a);
  qt_free(&b);
  free(x);
  free(xt);
  mxb_context_destroy(c);
}

Test(quantize, rht_is_quantize_of_the_transform) {
  mxb_context_t *c = cpu();
  mxb_quant_config_t cfg, plain;
  mxb_quant_config_init(&cfg);
  mxb_quant_config_init(&plain);
  const int64_t R = 6, C = 64;
  float x[R * C], xr[R * C];
  mxbt_fill_normal(x, R * C, 5, 1.0f);
  x[7] = 40.0f; /* an outlier the transform spreads */
  for (int bf = 0; bf < 2; bf++)
    for (int src = 0; src < 2; src++) {
      cfg.rht.enabled = 1;
      cfg.rht.bf16_output = bf;
      cfg.rht.size = src ? 32 : 16;
      cfg.rht.sign_source = src ? MXB_SIGNS_SEED : MXB_SIGNS_MASK;
      cfg.rht.sign_seed = 77;
      uint32_t signs[8] = {0xD7E8u};
      if (src) mxb_rht_signs_from_seed(77, 32, signs);
      memcpy(xr, x, sizeof(x));
      for (int64_t k = 0; k < R * C; k += cfg.rht.size) mxb_rht_chunk(xr + k, cfg.rht.size, signs, 0);
      if (bf)
        for (int64_t k = 0; k < R * C; k++) xr[k] = mxb_bf16_decode(mxb_bf16_rne(xr[k]));
      const mxb_format_t fs[3] = {MXB_FORMAT_NVFP4, MXB_FORMAT_BF16, MXB_FORMAT_MXFP8_E4M3};
      for (int k = 0; k < 3; k++) {
        qt a, b;
        qt_alloc(&a, fs[k], R, C, MXB_SCALE_LAYOUT_LINEAR);
        qt_alloc(&b, fs[k], R, C, MXB_SCALE_LAYOUT_LINEAR);
        quant(c, &cfg, x, &a);
        quant(c, &plain, xr, &b);
        cr_assert_eq(a.t.flags, MXB_TENSOR_RHT);
        if (a.t.amax) cr_assert_eq(*a.t.amax, *b.t.amax, "amax after the transform");
        cr_assert_arr_eq(a.t.data, b.t.data, a.s.data_bytes, "format %d", fs[k]);
        if (a.s.scale_bytes) cr_assert_arr_eq(a.t.scales, b.t.scales, a.s.scale_bytes);
        qt_free(&a);
        qt_free(&b);
      }
    }
  mxb_context_destroy(c);
}

Test(quantize, amax) {
  mxb_context_t *c = cpu();
  float x[5] = {1, -7.5f, 3, -0.0f, 2}, a = -1;
  cr_assert_eq(mxb_amax(c, MXB_DTYPE_FP32, x, 5, &a, NULL), MXB_SUCCESS);
  cr_assert_eq(a, 7.5f);
  x[2] = -INFINITY;
  mxb_amax(c, MXB_DTYPE_FP32, x, 5, &a, NULL);
  cr_assert(isinf(a) && a > 0);
  x[4] = NAN;
  mxb_amax(c, MXB_DTYPE_FP32, x, 5, &a, NULL);
  cr_assert(isnan(a));
  uint16_t h[3] = {0x3C00, 0xC500, 0x0001}; /* fp16 1, -5, 2^-24 */
  mxb_amax(c, MXB_DTYPE_FP16, h, 3, &a, NULL);
  cr_assert_eq(a, 5.0f);
  uint16_t bb[2] = {0x4049, 0xC0A0};
  mxb_amax(c, MXB_DTYPE_BF16, bb, 2, &a, NULL);
  cr_assert_eq(a, 5.0f);
  mxb_context_destroy(c);
}

/* ---- bad input: right status, a detail, nothing written ------------------ */
static void expect_fail(mxb_status_t got, mxb_status_t want, const char *what) {
  cr_assert_eq(got, want, "%s: status %d (%s), want %d", what, got, mxb_last_error_detail(), want);
  cr_assert_gt(strlen(mxb_last_error_detail()), 0, "%s: no detail", what);
}
static void expect_untouched(const qt *q, const char *what) {
  for (size_t i = 0; i < q->s.data_bytes; i++) cr_assert_eq(((uint8_t *)q->t.data)[i], 0xA5, "%s wrote data", what);
  for (size_t i = 0; i < q->s.scale_bytes; i++)
    cr_assert_eq(((uint8_t *)q->t.scales)[i], 0xA5, "%s wrote scales", what);
  cr_assert_eq(q->amax_store, 1234.5f, "%s wrote amax", what);
  cr_assert_eq(q->t.flags, 0u, "%s set flags", what);
}

Test(quantize, bad_input) {
  mxb_context_t *c = cpu();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  float x[64 * 64] = {0};
  qt q;
  qt_alloc(&q, MXB_FORMAT_NVFP4, 4, 64, MXB_SCALE_LAYOUT_LINEAR);
  size_t ws = 99;
  expect_fail(mxb_quantize(NULL, &cfg, MXB_DTYPE_FP32, x, &q.t, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT, "ctx NULL");
  expect_fail(mxb_quantize(c, NULL, MXB_DTYPE_FP32, x, &q.t, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT, "cfg NULL");
  expect_fail(mxb_quantize(c, &cfg, MXB_DTYPE_FP32, NULL, &q.t, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT, "src NULL");
  expect_fail(mxb_quantize(c, &cfg, MXB_DTYPE_FP32, x, NULL, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT, "dst NULL");
  expect_fail(mxb_quantize(c, &cfg, (mxb_dtype_t)7, x, &q.t, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT, "src_type");
  expect_fail(mxb_quantize_workspace_size(c, &cfg, MXB_DTYPE_FP32, &q.t, NULL), MXB_ERR_INVALID_ARGUMENT, "bytes NULL");
  expect_fail(mxb_quantize_workspace_size(NULL, &cfg, MXB_DTYPE_FP32, &q.t, &ws), MXB_ERR_INVALID_ARGUMENT, "ws ctx");
  cr_assert_eq(ws, 99u);
  cr_assert_eq(mxb_quantize_workspace_size(c, &cfg, MXB_DTYPE_FP32, &q.t, &ws), MXB_SUCCESS);
  cr_assert_eq(ws, 0u);
  mxb_quant_config_t bad = cfg;
  bad.struct_size = 0;
  expect_fail(mxb_quantize(c, &bad, MXB_DTYPE_FP32, x, &q.t, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT, "cfg size");
  bad = cfg;
  bad.rounding = (mxb_rounding_t)9;
  expect_fail(mxb_quantize(c, &bad, MXB_DTYPE_FP32, x, &q.t, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT, "rounding");
  bad = cfg;
  bad.rht.enabled = 1;
  bad.rht.size = 128; /* 64 cols */
  expect_fail(mxb_quantize(c, &bad, MXB_DTYPE_FP32, x, &q.t, NULL, 0, NULL), MXB_ERR_BAD_SHAPE, "rht size");
  bad = cfg;
  bad.amax_source = MXB_AMAX_FROM_TENSOR;
  q.amax_store = NAN;
  expect_fail(mxb_quantize(c, &bad, MXB_DTYPE_FP32, x, &q.t, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT, "NaN amax");
  q.amax_store = -1;
  expect_fail(mxb_quantize(c, &bad, MXB_DTYPE_FP32, x, &q.t, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT, "neg amax");
  q.amax_store = 1234.5f;
  mxb_tensor_t t = q.t;
  t.struct_size = 0;
  expect_fail(mxb_quantize(c, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT, "dst size");
  t = q.t;
  t.format = (mxb_format_t)99;
  expect_fail(mxb_quantize(c, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT, "format");
  t = q.t;
  t.rows = 0;
  expect_fail(mxb_quantize(c, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_BAD_SHAPE, "rows 0");
  t = q.t;
  t.cols = (int64_t)1 << 40;
  expect_fail(mxb_quantize(c, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_BAD_SHAPE, "huge cols");
  t = q.t;
  t.rows = -3;
  expect_fail(mxb_quantize(c, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_BAD_SHAPE, "negative rows");
  t = q.t;
  t.scales = NULL;
  expect_fail(mxb_quantize(c, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT, "scales NULL");
  t = q.t;
  t.amax = NULL;
  expect_fail(mxb_quantize(c, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT, "amax NULL");
  t = q.t;
  t.scale_layout = (mxb_scale_layout_t)5;
  expect_fail(mxb_quantize(c, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT, "layout");
  /* unsupported combinations */
  t = q.t;
  t.format = MXB_FORMAT_MX6;
  t.aux = q.t.data;
  bad = cfg;
  bad.rounding = MXB_ROUND_SR;
  expect_fail(mxb_quantize(c, &bad, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_UNSUPPORTED, "SR on MX6");
  t.scale_layout = MXB_SCALE_LAYOUT_SWIZZLED;
  expect_fail(mxb_quantize(c, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_UNSUPPORTED, "swizzled MX6");
  t = q.t;
  t.format = MXB_FORMAT_FP8_E4M3_1x128; /* NVFP4 and the MX formats have 2D tiles, FP8 blocks have 128x128 */
  bad = cfg;
  bad.block_2d = 1;
  expect_fail(mxb_quantize(c, &bad, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_UNSUPPORTED, "2D FP8 1x128");
  t.format = MXB_FORMAT_BF16;
  bad = cfg;
  bad.rounding = MXB_ROUND_SR;
  expect_fail(mxb_quantize(c, &bad, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_UNSUPPORTED, "SR on BF16");
  t.format = MXB_FORMAT_MOR_TENSOR;
  t.aux = q.t.data;
  expect_fail(mxb_quantize(c, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_UNSUPPORTED, "MoR");
  t.format = MXB_FORMAT_FP32;
  expect_fail(mxb_quantize(c, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_UNSUPPORTED, "fp32");
  expect_untouched(&q, "failed quantize");

  /* dequantize */
  quant(c, &cfg, x, &q);
  float y[256];
  for (int i = 0; i < 256; i++) y[i] = 7.0f;
  expect_fail(mxb_dequantize(NULL, &q.t, MXB_DTYPE_FP32, y, NULL), MXB_ERR_INVALID_ARGUMENT, "deq ctx");
  expect_fail(mxb_dequantize(c, NULL, MXB_DTYPE_FP32, y, NULL), MXB_ERR_INVALID_ARGUMENT, "deq src");
  expect_fail(mxb_dequantize(c, &q.t, MXB_DTYPE_FP32, NULL, NULL), MXB_ERR_INVALID_ARGUMENT, "deq dst");
  expect_fail(mxb_dequantize(c, &q.t, (mxb_dtype_t)-1, y, NULL), MXB_ERR_INVALID_ARGUMENT, "deq type");
  t = q.t;
  t.struct_size = 3;
  expect_fail(mxb_dequantize(c, &t, MXB_DTYPE_FP32, y, NULL), MXB_ERR_INVALID_ARGUMENT, "deq size");
  t = q.t;
  t.data = NULL;
  expect_fail(mxb_dequantize(c, &t, MXB_DTYPE_FP32, y, NULL), MXB_ERR_INVALID_ARGUMENT, "deq data");
  t = q.t;
  t.cols = 0;
  expect_fail(mxb_dequantize(c, &t, MXB_DTYPE_FP32, y, NULL), MXB_ERR_BAD_SHAPE, "deq cols");
  t = q.t;
  t.format = MXB_FORMAT_FP32;
  expect_fail(mxb_dequantize(c, &t, MXB_DTYPE_FP32, y, NULL), MXB_ERR_UNSUPPORTED, "deq fp32");
  for (int i = 0; i < 256; i++) cr_assert_eq(y[i], 7.0f, "failed dequantize wrote");

  /* amax */
  float a = 5.0f;
  expect_fail(mxb_amax(NULL, MXB_DTYPE_FP32, x, 4, &a, NULL), MXB_ERR_INVALID_ARGUMENT, "amax ctx");
  expect_fail(mxb_amax(c, MXB_DTYPE_FP32, NULL, 4, &a, NULL), MXB_ERR_INVALID_ARGUMENT, "amax x");
  expect_fail(mxb_amax(c, MXB_DTYPE_FP32, x, 4, NULL, NULL), MXB_ERR_INVALID_ARGUMENT, "amax out");
  expect_fail(mxb_amax(c, (mxb_dtype_t)3, x, 4, &a, NULL), MXB_ERR_INVALID_ARGUMENT, "amax type");
  expect_fail(mxb_amax(c, MXB_DTYPE_FP32, x, 0, &a, NULL), MXB_ERR_BAD_SHAPE, "amax n 0");
  expect_fail(mxb_amax(c, MXB_DTYPE_FP32, x, (int64_t)1 << 41, &a, NULL), MXB_ERR_BAD_SHAPE, "amax n huge");
  cr_assert_eq(a, 5.0f);
  qt_free(&q);
  mxb_context_destroy(c);
}

/* Every MX scale byte against the rules of NUMERICS 4.2 computed here in
 * binary64 with frexp (an independent route), for every MX format and rule. */
static int rule_byte(double amax, mxb_scale_rule_t rule, const mxb_elem_desc *e) {
  int emax = (int)floor(log2(e->max_value)), ex, b;
  if (amax == 0) return rule == MXB_SCALE_RULE_RCEIL ? 0 : 0;
  double m = frexp(amax, &ex); /* amax = m * 2^ex, m in [0.5, 1) */
  int fl = ex - 1;             /* floor(log2 amax) */
  switch (rule) {
    case MXB_SCALE_RULE_FLOOR: b = fl + 127 - emax; break;
    case MXB_SCALE_RULE_CEIL: b = (m == 0.5 ? fl : fl + 1) + 127 - emax; break;
    case MXB_SCALE_RULE_EVEN: {
      double r = nearbyint(m * ldexp(1.0, e->mbits + 1)); /* default rounding: ties to even */
      b = (r >= ldexp(1.0, e->mbits + 1) ? fl + 1 : fl) + 127 - emax;
      break;
    }
    default: {
      float v = (float)amax * (1.0f / (float)e->max_value);
      double vm = frexp((double)v, &ex);
      b = (vm == 0.5 ? ex - 1 : ex) + 127;
      break;
    }
  }
  return b < 0 ? 0 : b > 254 ? 254 : b;
}

Test(quantize, mx_scale_rules_every_format) {
  mxb_context_t *c = cpu();
  const mxb_format_t fs[] = {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP6_E3M2,
                             MXB_FORMAT_MXFP6_E2M3, MXB_FORMAT_MXFP4,      MXB_FORMAT_MXINT8};
  const int64_t R = 16, C = 96;
  float x[16 * 96];
  uint64_t s = 31;
  for (int i = 0; i < R * C; i++) x[i] = mxbt_wide(&s, -30, 30);
  for (int i = 0; i < 8; i++) x[i * 97] = (float)ldexp(1.0, i * 9 - 40); /* exact powers of two */
  x[5 * 96 + 40] = 0x1p-130f;                                               /* subnormal-only corner */
  for (int k = 0; k < 6; k++)
    for (int rule = 0; rule < 4; rule++) {
      mxb_quant_config_t cfg;
      mxb_quant_config_init(&cfg);
      cfg.scale_rule = (mxb_scale_rule_t)rule;
      qt q;
      qt_alloc(&q, fs[k], R, C, MXB_SCALE_LAYOUT_LINEAR);
      quant(c, &cfg, x, &q);
      mxb_format_info_t in = {.struct_size = sizeof(in)};
      mxb_format_info(fs[k], &in);
      const mxb_elem_desc *e = mxb_elem_desc_get(in.elem);
      for (int64_t r = 0; r < R; r++)
        for (int64_t j = 0; j < 3; j++) {
          double amax = 0;
          for (int64_t i = j * 32; i < j * 32 + 32; i++) amax = fmax(amax, fabs(x[r * C + i]));
          int got = ((uint8_t *)q.t.scales)[r * 3 + j];
          cr_assert_eq(got, rule_byte(amax, cfg.scale_rule, e), "%s rule %d block (%lld,%lld) amax %a", in.name, rule,
                       (long long)r, (long long)j, amax);
        }
      qt_free(&q);
    }
  mxb_context_destroy(c);
}

/* NVFP4 2D with a NaN tile: the tile's 16 rows carry scale 0x7F, the tensor
 * amax ignores it, and the exact row decode gives NaN there. */
Test(quantize, nvfp4_2d_nan_tile_and_decode_row) {
  mxb_context_t *c = cpu();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.block_2d = 1;
  const int64_t R = 20, C = 40;
  float x[20 * 40];
  mxbt_fill_normal(x, R * C, 8, 1.0f);
  x[3 * C + 20] = NAN;   /* tile (0, 1) */
  x[17 * C + 1] = 500.0f; /* tile (1, 0) owns the amax */
  x[18 * C + 2] = INFINITY; /* ... and is a NaN tile too */
  qt q;
  qt_alloc(&q, MXB_FORMAT_NVFP4, R, C, MXB_SCALE_LAYOUT_LINEAR);
  quant(c, &cfg, x, &q);
  float A = 0;
  for (int64_t i = 0; i < R; i++)
    for (int64_t j = 0; j < C; j++)
      if (!((i < 16 && j >= 16 && j < 32) || (i >= 16 && j < 16))) A = fmaxf(A, fabsf(x[i * C + j]));
  cr_assert_eq(*q.t.amax, A);
  double row[40];
  for (int64_t i = 0; i < R; i++) {
    cr_assert_eq(((uint8_t *)q.t.scales)[i * 3 + (i < 16 ? 1 : 0)], 0x7F, "row %lld", (long long)i);
    mxb_cpu_decode_row_f64(&q.t, i, row);
    for (int64_t j = 0; j < C; j++) {
      int nan_tile = (i < 16 && j >= 16 && j < 32) || (i >= 16 && j < 16);
      cr_assert_eq(isnan(row[j]) != 0, nan_tile, "(%lld,%lld)", (long long)i, (long long)j);
    }
  }
  cr_assert_eq(mxb_cpu_tensor_scale(&q.t, 0), (double)(A * (1.0f / 2688.0f)));
  qt_free(&q);
  mxb_context_destroy(c);
}

/* The capability queries answer as the calls do: for every format and a few
 * option sets, mxb_quantize succeeds where mxb_quantize_supported says 1
 * and fails with MXB_ERR_UNSUPPORTED where it says 0; likewise
 * mxb_dequantize and mxb_dequantize_supported. */
Test(quantize, capability_queries_agree_with_the_calls) {
  mxb_context_t *c = cpu();
  enum { R = 16, C = 64 };
  float x[R * C], y[R * C];
  mxbt_fill_normal(x, R * C, 11, 1.0f);
  for (int opt = 0; opt < 4; opt++) {
    mxb_quant_config_t cfg;
    mxb_quant_config_init(&cfg);
    if (opt == 1) cfg.rounding = MXB_ROUND_SR;
    if (opt == 2) cfg.block_2d = 1;
    if (opt == 3) cfg.amax_source = MXB_AMAX_FROM_TENSOR;
    for (int f = 0; f < MXB_FORMAT_COUNT; f++) {
      int ok = -1;
      cr_assert_eq(mxb_quantize_supported(c, &cfg, (mxb_format_t)f, &ok), MXB_SUCCESS, "%s", mxb_last_error_detail());
      cr_assert(ok == 0 || ok == 1);
      qt q;
      qt_alloc(&q, (mxb_format_t)f, R, C, MXB_SCALE_LAYOUT_LINEAR);
      if (opt == 3) q.t.amax = &q.amax_store; /* where a supplied amax is read, with or without an amax plane */
      mxb_status_t st = mxb_quantize(c, &cfg, MXB_DTYPE_FP32, x, &q.t, NULL, 0, NULL);
      cr_assert_eq(st, ok ? MXB_SUCCESS : MXB_ERR_UNSUPPORTED, "format %d options %d: supported %d, status %d (%s)", f,
                   opt, ok, (int)st, mxb_last_error_detail());
      qt_free(&q);
    }
  }
  for (int f = 0; f < MXB_FORMAT_COUNT; f++) {
    int ok = -1;
    cr_assert_eq(mxb_dequantize_supported(c, (mxb_format_t)f, &ok), MXB_SUCCESS);
    qt q;
    qt_alloc(&q, (mxb_format_t)f, R, C, MXB_SCALE_LAYOUT_LINEAR);
    if (q.t.aux) memset(q.t.aux, 1, q.s.aux_bytes); /* MoR decisions are 0 or 1 */
    mxb_status_t st = mxb_dequantize(c, &q.t, MXB_DTYPE_FP32, y, NULL);
    cr_assert_eq(st, ok ? MXB_SUCCESS : MXB_ERR_UNSUPPORTED, "format %d: supported %d, status %d", f, ok, (int)st);
    qt_free(&q);
  }
  int ok = -1;
  mxb_quant_config_t sr;
  mxb_quant_config_init(&sr);
  sr.rounding = MXB_ROUND_SR;
  cr_assert_eq(mxb_quantize_supported(c, NULL, MXB_FORMAT_NVFP4, &ok), MXB_SUCCESS);
  cr_assert_eq(ok, 1);
  cr_assert_eq(mxb_quantize_supported(c, &sr, MXB_FORMAT_MX9, &ok), MXB_SUCCESS);
  cr_assert_eq(ok, 0);
  cr_assert_eq(mxb_quantize_supported(c, NULL, MXB_FORMAT_MOR_1x128, &ok), MXB_SUCCESS);
  cr_assert_eq(ok, 0);
  cr_assert_eq(mxb_dequantize_supported(c, MXB_FORMAT_FP32, &ok), MXB_SUCCESS);
  cr_assert_eq(ok, 0);
  /* bad arguments are statuses, and *supported is left alone */
  ok = 7;
  cr_assert_eq(mxb_quantize_supported(c, NULL, MXB_FORMAT_COUNT, &ok), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_dequantize_supported(c, (mxb_format_t)-1, &ok), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_quantize_supported(NULL, NULL, MXB_FORMAT_NVFP4, &ok), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_dequantize_supported(c, MXB_FORMAT_NVFP4, NULL), MXB_ERR_INVALID_ARGUMENT);
  sr.rht.enabled = 1;
  sr.rht.size = 17;
  cr_assert_eq(mxb_quantize_supported(c, &sr, MXB_FORMAT_MX9, &ok), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(ok, 7);
  mxb_context_destroy(c);
}
