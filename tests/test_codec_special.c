/* The specialised element encoders of common/codec.h against the generic
 * encoder, on the host over a dense structured set (every sign and exponent,
 * every top-12 mantissa pattern with low bits at the rounding boundaries,
 * and +-64 ulps around every E2M1 grid point and tie). The exhaustive sweep
 * over all 2^32 inputs runs on the GPU (cuda_codec suite). Also: canonical
 * NaN outputs of the RHT and of dequantize. */
#include "testutil.h"

#include "common/block.h"
#include "common/codec.h"

/* Calls f(bits) for the structured set; returns how many were visited. */
typedef void (*visit_fn)(uint32_t bits, void *arg);
static size_t structured_set(visit_fn f, void *arg) {
  static const uint32_t lows[] = {0x000u, 0x001u, 0x3FFu, 0x400u, 0x401u, 0x7FFu, 0x2A5u};
  size_t n = 0;
  for (uint32_t s = 0; s < 2; s++)
    for (uint32_t e = 0; e < 256; e++)
      for (uint32_t hi = 0; hi < 4096; hi++)
        for (size_t k = 0; k < sizeof(lows) / sizeof(lows[0]); k++, n++)
          f((s << 31) | (e << 23) | (hi << 11) | lows[k], arg);
  /* neighbourhoods of the E2M1 grid values and ties (NUMERICS 2.1) */
  static const float pts[] = {0.25f, 0.5f, 0.75f, 1.0f, 1.25f, 1.5f, 1.75f, 2.0f, 2.5f, 3.0f, 3.5f, 4.0f, 5.0f, 6.0f, 7.0f, 8.0f};
  for (size_t p = 0; p < sizeof(pts) / sizeof(pts[0]); p++)
    for (int d = -64; d <= 64; d++)
      for (uint32_t s = 0; s < 2; s++, n++) f((s << 31) | (uint32_t)((int32_t)mxbt_f2u(pts[p]) + d), arg);
  return n;
}

typedef struct check_state {
  size_t bad;
  uint32_t first, got, want;
  int r; /* SR byte, -1 for RNE */
} check_state;

static void note(check_state *st, uint32_t bits, uint32_t got, uint32_t want) {
  if (got != want && st->bad++ == 0) {
    st->first = bits;
    st->got = got;
    st->want = want;
  }
}

static void e2m1_rne_one(uint32_t bits, void *arg) {
  static const mxb_fp *pp = NULL;
  static mxb_fp p;
  if (!pp) { p = mxb_fp_make(2, 1, 1, 6.0f); pp = &p; }
  float x = mxbt_u2f(bits);
  note((check_state *)arg, bits, mxb_e2m1_encode_rne(x), mxb_fp_encode_rne_generic(pp, x));
  if (x == x) {
    float grid = -1.0f;
    const uint32_t want = mxb_fp_encode_rne_generic(pp, x), got = mxb_e2m1_encode_rne_nonnan_grid(x, &grid);
    note((check_state *)arg, bits, got, want);
    /* the magnitude beside the code is the code's: a mismatch shows as code 0xFF */
    note((check_state *)arg, bits, mxbt_f2u(grid) == mxbt_f2u(fabsf(mxb_e2m1_decode(want))) ? got : 0xFFu, want);
  }
}

static void e2m1_sr_one(uint32_t bits, void *arg) {
  check_state *st = (check_state *)arg;
  mxb_fp p = mxb_fp_make(2, 1, 1, 6.0f);
  float x = mxbt_u2f(bits);
  for (uint32_t r = 0; r < 256; r += (bits & 0x7F800000u) == 0x3F800000u ? 1 : 17) {
    size_t before = st->bad;
    note(st, bits, mxb_e2m1_encode_sr(x, r), mxb_fp_encode_sr_generic(&p, x, r));
    if (x == x) note(st, bits, mxb_e2m1_encode_sr_nonnan(x, r), mxb_fp_encode_sr_generic(&p, x, r));
    if (st->bad == 1 && before == 0) st->r = (int)r;
  }
}

Test(codec_special, e2m1_rne_equals_generic) {
  check_state st = {0, 0, 0, 0, -1};
  size_t n = structured_set(e2m1_rne_one, &st);
  cr_assert_eq(st.bad, 0, "%zu of %zu inputs differ, first 0x%08x: ladder 0x%x, generic 0x%x", st.bad, n, st.first,
               st.got, st.want);
}

/* SR: all 256 bytes for inputs in [1, 2), every 17th byte elsewhere. */
Test(codec_special, e2m1_sr_equals_generic) {
  check_state st = {0, 0, 0, 0, -1};
  size_t n = structured_set(e2m1_sr_one, &st);
  cr_assert_eq(st.bad, 0, "%zu of %zu (input, byte) pairs differ, first 0x%08x byte %d: 0x%x vs generic 0x%x", st.bad,
               n, st.first, st.r, st.got, st.want);
}

/* The branch-free minifloat encoder against the generic one, for every
 * minifloat element type: the structured set (every bf16 value among it,
 * every rounding boundary of every binade), +-64 ulps around every grid value
 * and midpoint of the type, and 2^24 random fp32 patterns. */
static void check_minifloat(const mxb_fp *p, check_state *st, uint32_t bits) {
  float x = mxbt_u2f(bits);
  note(st, bits, mxb_fp_encode_rne_minifloat(p, x), mxb_fp_encode_rne_generic(p, x));
}

Test(codec_special, minifloat_rne_equals_generic) {
  static const int elems[] = {MXB_ELEM_E2M1, MXB_ELEM_E2M3, MXB_ELEM_E3M2, MXB_ELEM_E4M3, MXB_ELEM_E5M2};
  for (size_t k = 0; k < sizeof(elems) / sizeof(elems[0]); k++) {
    mxb_fp p = mxb_elem_fp(elems[k]);
    check_state st = {0, 0, 0, 0, -1};
    size_t n = 0;
    static const uint32_t lows[] = {0x000u, 0x001u, 0x3FFu, 0x400u, 0x401u, 0x7FFu, 0x2A5u};
    for (uint32_t s = 0; s < 2; s++)
      for (uint32_t e = 0; e < 256; e++)
        for (uint32_t hi = 0; hi < 4096; hi++)
          for (size_t l = 0; l < sizeof(lows) / sizeof(lows[0]); l++, n++)
            check_minifloat(&p, &st, (s << 31) | (e << 23) | (hi << 11) | lows[l]);
    /* every grid value and the midpoint above it, +-64 ulps, both signs */
    for (uint32_t c = 0; c <= p.maxcode; c++) {
      float v = mxb_fp_decode(&p, c), mid = c < p.maxcode ? 0.5f * (v + mxb_fp_decode(&p, c + 1)) : 2.0f * v;
      for (int d = -64; d <= 64; d++)
        for (uint32_t s = 0; s < 2; s++, n += 2) {
          check_minifloat(&p, &st, (s << 31) | (uint32_t)((int32_t)mxbt_f2u(v) + d));
          check_minifloat(&p, &st, (s << 31) | (uint32_t)((int32_t)mxbt_f2u(mid) + d));
        }
    }
    uint64_t seed = 7 + k;
    for (int i = 0; i < (1 << 24); i++, n++) check_minifloat(&p, &st, (uint32_t)mxbt_next(&seed));
    cr_assert_eq(st.bad, 0, "element %d: %zu of %zu inputs differ, first 0x%08x: branch-free 0x%x, generic 0x%x",
                 elems[k], st.bad, n, st.first, st.got, st.want);
    /* and the dispatching entry point serves it on the host */
    cr_assert_eq(mxb_fp_encode_rne(&p, 0.3f), mxb_fp_encode_rne_generic(&p, 0.3f));
  }
}

/* The host encoder's lanes (SSE2 on x86-64) against the scalar branch-free
 * encoder, for every minifloat: the structured set above and 2^22 random
 * patterns, in chunks of odd lengths (every tail), with k = mul = 1 and with
 * a scaling that rounds in fp32 before the encoder. */
Test(codec_special, host_lanes_equal_the_scalar_encoder) {
  static const int elems[] = {MXB_ELEM_E2M1, MXB_ELEM_E2M3, MXB_ELEM_E3M2, MXB_ELEM_E4M3, MXB_ELEM_E5M2};
  static const uint32_t lows[] = {0x000u, 0x001u, 0x3FFu, 0x400u, 0x401u, 0x7FFu, 0x2A5u};
  const size_t structured = 2 * 256 * 4096 * (sizeof(lows) / sizeof(lows[0])), total = structured + (1u << 22);
  float *x = malloc(total * sizeof(float));
  uint8_t *codes = malloc(total);
  size_t n = 0;
  for (uint32_t s = 0; s < 2; s++)
    for (uint32_t e = 0; e < 256; e++)
      for (uint32_t hi = 0; hi < 4096; hi++)
        for (size_t l = 0; l < sizeof(lows) / sizeof(lows[0]); l++)
          x[n++] = mxbt_u2f((s << 31) | (e << 23) | (hi << 11) | lows[l]);
  uint64_t seed = 99;
  while (n < total) x[n++] = mxbt_u2f((uint32_t)mxbt_next(&seed));
  static const float scalings[][2] = {{1.0f, 1.0f}, {1.5f, 0x1p-3f}};
  for (size_t k = 0; k < sizeof(elems) / sizeof(elems[0]); k++)
    for (size_t sc = 0; sc < 2; sc++) {
      const mxb_fp p = mxb_elem_fp(elems[k]);
      const float kk = scalings[sc][0], mul = scalings[sc][1];
      size_t bad = 0, first = 0;
      for (size_t i = 0, len = 1; i < total; i += len, len = len % 61 + 17) {
        const int m = (int)(i + len <= total ? len : total - i);
        cr_assert_eq(mxb_encode_rne_host(&p, x + i, m, kk, mul, codes + i), 1);
      }
      for (size_t i = 0; i < total; i++)
        if (codes[i] != (uint8_t)mxb_fp_encode_rne_minifloat(&p, (x[i] * kk) * mul) && bad++ == 0) first = i;
      cr_assert_eq(bad, 0, "element %d scaling %zu: %zu of %zu differ, first x = 0x%08x: 0x%x, scalar 0x%x", elems[k],
                   sc, bad, total, mxbt_f2u(x[first]), codes[first],
                   mxb_fp_encode_rne_minifloat(&p, (x[first] * kk) * mul));
    }
  free(x);
  free(codes);
}

/* The block amax (lanes on the host) against its literal definition: the
 * integer max of |x| bits over the values the mode admits, for every length
 * up to 40 and blocks mixing finite values, +-0, Inf and NaN. */
Test(codec_special, block_amax_equals_its_definition) {
  uint64_t seed = 5;
  float x[40];
  static const uint32_t specials[] = {0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u,
                                      0xFFFFFFFFu, 0x7F7FFFFFu, 0x00000001u};
  for (int trial = 0; trial < 20000; trial++) {
    const int n = trial % 41;
    for (int i = 0; i < n; i++) {
      const uint64_t v = mxbt_next(&seed);
      x[i] = (v & 7) == 0 ? mxbt_u2f(specials[(v >> 3) % 8]) : mxbt_u2f((uint32_t)(v >> 16));
    }
    for (int mode = 0; mode < 3; mode++) {
      const uint32_t lim = mode == MXB_AMAX_FINITE ? 0x7F7FFFFFu : mode == MXB_AMAX_SKIP_NAN ? 0x7F800000u : 0xFFFFFFFFu;
      uint32_t want = 0;
      int want_bad = 0;
      for (int i = 0; i < n; i++) {
        const uint32_t a = mxbt_f2u(x[i]) & 0x7FFFFFFFu;
        want_bad |= a >= 0x7F800000u;
        if (a <= lim && a > want) want = a;
      }
      int bad = 0;
      const uint32_t got = mxb_block_amax_bits(x, n, (mxb_amax_mode)mode, &bad);
      cr_assert_eq(got, want, "trial %d n %d mode %d: 0x%08x, want 0x%08x", trial, n, mode, got, want);
      cr_assert_eq(bad, want_bad, "trial %d n %d mode %d: non-finite flag", trial, n, mode);
    }
  }
}

/* The MXINT8 encoder (fp32 adder rounding) against the generic one: the
 * structured set, +-64 ulps around every grid value and midpoint, 2^24
 * random patterns. */
static void int8_one(uint32_t bits, void *arg) {
  mxb_fp p = mxb_elem_fp(MXB_ELEM_INT8);
  float x = mxbt_u2f(bits);
  note((check_state *)arg, bits, mxb_int8_encode_rne(x), mxb_fp_encode_rne_generic(&p, x));
}
Test(codec_special, int8_rne_equals_generic) {
  check_state st = {0, 0, 0, 0, -1};
  size_t n = structured_set(int8_one, &st);
  for (int q = 0; q <= 127; q++) {
    float v = (float)q / 64.0f, mid = ((float)q + 0.5f) / 64.0f;
    for (int d = -64; d <= 64; d++)
      for (uint32_t s = 0; s < 2; s++, n += 2) {
        int8_one((s << 31) | (uint32_t)((int32_t)mxbt_f2u(v) + d), &st);
        int8_one((s << 31) | (uint32_t)((int32_t)mxbt_f2u(mid) + d), &st);
      }
  }
  uint64_t seed = 99;
  for (int i = 0; i < (1 << 24); i++, n++) int8_one((uint32_t)mxbt_next(&seed), &st);
  cr_assert_eq(st.bad, 0, "%zu of %zu inputs differ, first 0x%08x: adder 0x%x, generic 0x%x", st.bad, n, st.first,
               st.got, st.want);
}

/* The dispatcher picks the specialised encoder for exactly E2M1, E4M3,
 * E5M2 and INT8. */
/* The BDR finite-block encoder (mxb_bdr_encode_finite) against the shared
 * block code, whole blocks: for MX9, MX6 and MX4 and every block exponent E
 * it serves, random blocks with one value in E's binade, the others' exponent
 * fields anywhere below or in the few binades under E where codes are not
 * zero (pairs below E set microexponents), random signs and mantissas, zeros
 * and subnormals; and that it declines blocks with Inf or NaN, or E <= m. */
Test(codec_special, bdr_finite_block_equals_generic) {
  static const int ms[] = {7, 4, 2};
  uint64_t seed = 77;
  size_t blocks = 0;
  for (size_t mi = 0; mi < 3; mi++) {
    const int m = ms[mi], bits = m + 1;
    for (uint32_t E = 0; E < 255; E++)
      for (int t = 0; t < 400; t++) {
        float x[16];
        for (int i = 0; i < 16; i++) {
          const uint64_t r = mxbt_next(&seed);
          const uint64_t span = (uint64_t)m + 4u < E ? (uint64_t)m + 4u : (uint64_t)E + 1u;
          uint32_t e = (uint32_t)(r % 4 == 0 ? (r >> 8) % ((uint64_t)E + 1u) : E - (r >> 8) % span);
          if (r % 97 == 0) e = 0; /* zeros and subnormals */
          const uint32_t mant = (uint32_t)(r >> 20) & 0x7FFFFFu;
          x[i] = mxbt_u2f((uint32_t)((r >> 63) << 31) | e << 23 | ((r % 89 == 0) ? 0u : mant));
        }
        x[(t * 7) % 16] = mxbt_u2f((uint32_t)(t & 1) << 31 | E << 23 | (uint32_t)(t * 12345) % 0x800000u);
        uint8_t e1, mu1, e2 = 0, mu2 = 0, codes[16];
        uint32_t w1[4], w2[4] = {0, 0, 0, 0};
        const int fast = mxb_bdr_encode_finite(x, m, &e1, &mu1, w1);
        cr_assert_eq(fast, E >= (uint32_t)m + 1u, "m %d E %u: fast %d", m, E, fast);
        if (!fast) continue;
        e2 = mxb_bdr_quantize_block(x, 16, m, MXB_NONFINITE_NAN_BLOCK, &mu2, codes);
        for (int i = 0; i < 16; i++) {
          const int bit = i * bits;
          w2[bit / 32] |= (uint32_t)codes[i] << (bit % 32);
          if (bit % 32 + bits > 32) w2[bit / 32 + 1] |= (uint32_t)codes[i] >> (32 - bit % 32);
        }
        blocks++;
        cr_assert(e1 == e2 && mu1 == mu2 && memcmp(w1, w2, (size_t)(16 * bits / 8)) == 0,
                  "m %d E %u block %d: E %u/%u mu %02x/%02x", m, E, t, e1, e2, mu1, mu2);
      }
    float x[16] = {1.0f};
    uint8_t e, mu;
    uint32_t w[4];
    x[3] = mxbt_u2f(0x7F800000u);
    cr_assert_eq(mxb_bdr_encode_finite(x, m, &e, &mu, w), 0, "Inf declined");
    x[3] = mxbt_u2f(0x7FC00000u);
    cr_assert_eq(mxb_bdr_encode_finite(x, m, &e, &mu, w), 0, "NaN declined");
  }
  cr_assert_gt(blocks, 250000);
}

Test(codec_special, dispatch_by_element_type) {
  cr_assert_eq(mxb_fp_special(&(mxb_fp){0}), 0);
  mxb_fp e2m1 = mxb_fp_make(2, 1, 1, 6.0f), e4m3 = mxb_fp_make(4, 3, 7, 448.0f), e5m2 = mxb_fp_make(5, 2, 15, 57344.0f),
         e2m3 = mxb_fp_make(2, 3, 1, 7.5f), int8 = mxb_elem_fp(MXB_ELEM_INT8);
  cr_assert_eq(mxb_fp_special(&e2m1), MXB_SPEC_E2M1);
  cr_assert_eq(mxb_fp_special(&e4m3), MXB_SPEC_E4M3);
  cr_assert_eq(mxb_fp_special(&e5m2), MXB_SPEC_E5M2);
  cr_assert_eq(mxb_fp_special(&int8), MXB_SPEC_INT8);
  cr_assert_eq(mxb_fp_special(&e2m3), 0);
  cr_assert_eq(mxb_fp_encode_rne(&int8, -0.0f), 0x00);
  cr_assert_eq(mxb_fp_encode_rne(&int8, -1.0f), 0xC0);
  cr_assert_eq(mxb_fp_encode_rne(&int8, 3.0f), 0x7F);
  /* spot values of NUMERICS 2.1 through the dispatching entry point */
  cr_assert_eq(mxb_fp_encode_rne(&e2m1, 0.75f), 0x2);
  cr_assert_eq(mxb_fp_encode_rne(&e2m1, -5.0f), 0xE);
  cr_assert_eq(mxb_fp_encode_rne(&e2m1, -0.0f), 0x8);
  cr_assert_eq(mxb_fp_encode_rne(&e2m1, mxbt_u2f(0xFFC00000u)), 0x7); /* NaN -> +max, sign dropped */
  cr_assert_eq(mxb_fp_encode_rne(&e4m3, 464.0f), 0x7E);
}

/* NaN out of the RHT is always 0x7FC00000, whatever NaN went in. */
Test(codec_special, rht_nan_is_canonical) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  float x[32], y[32];
  for (int i = 0; i < 32; i++) x[i] = (float)(i + 1);
  x[3] = mxbt_u2f(0xFFC01234u);           /* negative NaN with a payload */
  x[16] = mxbt_u2f(0x7F800000u);          /* Inf - Inf inside the butterflies */
  x[17] = mxbt_u2f(0x7F800000u);
  mxb_rht_t r;
  mxb_rht_init(&r);
  for (int inverse = 0; inverse < 2; inverse++) {
    cr_assert_eq(mxb_rht(ctx, &r, inverse, MXB_AXIS_COLS, 1, 32, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, y, NULL),
                 MXB_SUCCESS, "%s", mxb_last_error_detail());
    int nans = 0;
    for (int i = 0; i < 32; i++) {
      if (!isnan(y[i])) continue;
      nans++;
      cr_assert_eq(mxbt_f2u(y[i]), 0x7FC00000u, "inverse %d y[%d] = 0x%08x", inverse, i, mxbt_f2u(y[i]));
    }
    cr_assert_geq(nans, 24, "inverse %d: %d NaN outputs", inverse, nans); /* chunk 0 all, chunk 1 half */
    uint16_t h[32];
    cr_assert_eq(mxb_rht(ctx, &r, inverse, MXB_AXIS_COLS, 1, 32, MXB_DTYPE_FP32, x, MXB_DTYPE_BF16, h, NULL),
                 MXB_SUCCESS);
    for (int i = 0; i < 32; i++)
      if ((h[i] & 0x7F80) == 0x7F80 && (h[i] & 0x7F)) cr_assert_eq(h[i], 0x7FC0, "inverse %d bf16 y[%d] = 0x%04x", inverse, i, h[i]);
  }
  mxb_context_destroy(ctx);
}

/* Dequantized NaN is 0x7FC00000 (fp32), 0x7FC0 (bf16), 0x7E00 (fp16), also
 * for a negative NaN code (E4M3 0xFF in an FP8 per-tensor tensor). */
Test(codec_special, dequantize_nan_is_canonical) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_tensor_t t;
  cr_assert_eq(mxb_tensor_init(&t, MXB_FORMAT_FP8_E4M3_TENSOR, 1, 4, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  uint8_t codes[4] = {0xFF, 0x7F, 0x38, 0xB8};
  float s = 1.0f;
  t.data = codes;
  t.scales = &s;
  float y[4];
  uint16_t h[4];
  cr_assert_eq(mxb_dequantize(ctx, &t, MXB_DTYPE_FP32, y, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(mxbt_f2u(y[0]), 0x7FC00000u, "0x%08x", mxbt_f2u(y[0]));
  cr_assert_eq(mxbt_f2u(y[1]), 0x7FC00000u);
  cr_assert_eq(y[2], 1.0f);
  cr_assert_eq(y[3], -1.0f);
  cr_assert_eq(mxb_dequantize(ctx, &t, MXB_DTYPE_BF16, h, NULL), MXB_SUCCESS);
  cr_assert_eq(h[0], 0x7FC0);
  cr_assert_eq(mxb_dequantize(ctx, &t, MXB_DTYPE_FP16, h, NULL), MXB_SUCCESS);
  cr_assert_eq(h[0], 0x7E00);
  cr_assert_eq(h[1], 0x7E00);
  mxb_context_destroy(ctx);
}
