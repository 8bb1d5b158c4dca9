/* Element codecs (NUMERICS 1, 2, 4.2 scale rules, 4.5): exhaustive decode
 * tables, every tie and near-tie, E4M3 edges, ml_dtypes casts, SR. */
#include <float.h>
#include <math.h>

#include "common/codec.h"
#include "core/formats.h"
#include "data/mldtypes_vectors.h"
#include "testutil.h"

typedef struct {
  mxb_elem_t e;
  int ebits, mbits, bias;
  double max;
} spec_row;
/* NUMERICS 1, written out here independently of the library's table. */
static const spec_row k_spec[] = {
    {MXB_ELEM_E2M1, 2, 1, 1, 6.0},    {MXB_ELEM_E2M3, 2, 3, 1, 7.5},
    {MXB_ELEM_E3M2, 3, 2, 3, 28.0},   {MXB_ELEM_E4M3, 4, 3, 7, 448.0},
    {MXB_ELEM_E5M2, 5, 2, 15, 57344.0},
};

static mxb_fp fp_of(mxb_elem_t e) { return mxb_fp_from_desc(mxb_elem_desc_get(e)); }

/* The decode formula of NUMERICS 1 in binary64. */
static double spec_decode(const spec_row *r, unsigned code) {
  unsigned s = (code >> (r->ebits + r->mbits)) & 1, e = (code >> r->mbits) & ((1u << r->ebits) - 1);
  unsigned m = code & ((1u << r->mbits) - 1);
  double v = e ? ldexp(1.0 + m / (double)(1 << r->mbits), (int)e - r->bias)
               : ldexp(m / (double)(1 << r->mbits), 1 - r->bias);
  if (r->e == MXB_ELEM_E4M3 && e == 15 && m == 7) v = NAN;
  if (r->e == MXB_ELEM_E5M2 && e == 31) v = m ? NAN : INFINITY;
  return s ? -v : v;
}

Test(codec, decode_every_code_matches_spec_formula) {
  for (size_t k = 0; k < sizeof(k_spec) / sizeof(k_spec[0]); k++) {
    const spec_row *r = &k_spec[k];
    mxb_fp p = fp_of(r->e);
    double mx = 0;
    for (unsigned c = 0; c < (1u << (1 + r->ebits + r->mbits)); c++) {
      double want = spec_decode(r, c);
      float got = mxb_fp_decode(&p, c);
      if (isnan(want)) {
        cr_assert(isnan(got), "elem %d code 0x%x: want NaN", r->e, c);
        continue;
      }
      cr_assert_eq((double)got, want, "elem %d code 0x%x: %g != %g", r->e, c, got, want);
      cr_assert_eq(signbit(got) != 0, signbit(want) != 0, "elem %d code 0x%x sign", r->e, c);
      if (isfinite(want) && fabs(want) > mx) mx = fabs(want);
    }
    cr_assert_eq(mx, r->max, "elem %d max", r->e);
    cr_assert_eq((double)p.maxval, r->max);
  }
}

Test(codec, decode_matches_mldtypes_tables) {
  struct { mxb_elem_t e; const uint32_t *t; unsigned n; } tabs[] = {
      {MXB_ELEM_E2M1, mld_e2m1_decode, 16}, {MXB_ELEM_E2M3, mld_e2m3_decode, 64},
      {MXB_ELEM_E3M2, mld_e3m2_decode, 64}, {MXB_ELEM_E4M3, mld_e4m3_decode, 256},
      {MXB_ELEM_E5M2, mld_e5m2_decode, 256}};
  for (size_t k = 0; k < 5; k++) {
    mxb_fp p = fp_of(tabs[k].e);
    for (unsigned c = 0; c < tabs[k].n; c++) {
      float want = mxbt_u2f(tabs[k].t[c]), got = mxb_fp_decode(&p, c);
      if (isnan(want)) cr_assert(isnan(got), "elem %d code %u", tabs[k].e, c);
      else cr_assert_eq(mxbt_f2u(got), tabs[k].t[c], "elem %d code %u: %a vs %a", tabs[k].e, c, got, want);
    }
  }
}

Test(codec, e2m1_values_and_mxint8) {
  static const float v[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  mxb_fp p = fp_of(MXB_ELEM_E2M1);
  for (unsigned c = 0; c < 8; c++) {
    cr_assert_eq(mxb_fp_decode(&p, c), v[c]);
    cr_assert_eq(mxb_fp_decode(&p, c | 8), -v[c]);
  }
  mxb_fp q = fp_of(MXB_ELEM_INT8);
  for (int c = 0; c < 256; c++) cr_assert_eq((double)mxb_fp_decode(&q, (unsigned)c), (double)(int8_t)c / 64.0);
  cr_assert_eq(mxb_fp_decode(&q, 0x80), -2.0f);
  cr_assert_eq(mxb_fp_encode_rne(&q, -5.0f), (uint32_t)(uint8_t)-127); /* -128 never produced */
  cr_assert_eq(mxb_fp_encode_rne(&q, 1.0f / 128), 0u);                 /* tie to even 0 */
  cr_assert_eq(mxb_fp_encode_rne(&q, 3.0f / 128), 2u);                 /* tie to even 2 */
  cr_assert_eq(mxb_fp_encode_rne(&q, -3.0f / 128), (uint32_t)(uint8_t)-2);
}

Test(codec, e8m0_every_byte) {
  for (int b = 0; b < 256; b++) {
    float got = mxb_e8m0_decode((uint8_t)b);
    if (b == 255) { cr_assert(isnan(got)); continue; }
    cr_assert_eq((double)got, ldexp(1.0, b - 127), "byte %d", b);
    cr_assert_eq(mxbt_f2u(got), mld_e8m0_decode[b], "byte %d vs ml_dtypes", b);
    cr_assert_eq((double)got * (double)mxb_e8m0_decode((uint8_t)(254 - b)), 1.0);
  }
  cr_assert(isnan(mxbt_u2f(mld_e8m0_decode[255])));
}

Test(codec, ue4m3_every_byte) {
  const spec_row *r = &k_spec[3];
  for (int b = 0; b < 256; b++) {
    float got = mxb_ue4m3_decode((uint8_t)b);
    if (b >= 0x7F) { cr_assert(isnan(got), "byte 0x%x", b); continue; }
    cr_assert_eq((double)got, spec_decode(r, (unsigned)b), "byte 0x%x", b);
    cr_assert_eq(mxb_ue4m3_encode(got), b, "byte 0x%x round trip", b);
  }
  cr_assert_eq(mxb_ue4m3_encode(1e30f), 0x7E);
  cr_assert_eq(mxb_ue4m3_encode(INFINITY), 0x7E);
  cr_assert_eq(mxb_ue4m3_encode(0.0f), 0);
}

/* Every tie goes to the even code, nextafter on either side to the nearer. */
Test(codec, every_tie_and_near_tie) {
  for (size_t k = 0; k < sizeof(k_spec) / sizeof(k_spec[0]); k++) {
    const spec_row *r = &k_spec[k];
    mxb_fp p = fp_of(r->e);
    unsigned maxc = p.maxcode;
    for (unsigned c = 0; c < maxc; c++) {
      float lo = mxb_fp_decode(&p, c), hi = mxb_fp_decode(&p, c + 1);
      float mid = (float)(((double)lo + (double)hi) / 2);
      cr_assert_eq((double)mid, ((double)lo + (double)hi) / 2, "midpoint exact");
      unsigned even = (c & 1) ? c + 1 : c;
      for (int s = 0; s < 2; s++) {
        float sg = s ? -1.0f : 1.0f;
        unsigned sb = s ? p.sign : 0;
        cr_assert_eq(mxb_fp_encode_rne(&p, sg * mid), even | sb, "elem %d tie %g", r->e, mid);
        cr_assert_eq(mxb_fp_encode_rne(&p, sg * nextafterf(mid, INFINITY)), (c + 1) | sb, "elem %d above %g", r->e, mid);
        cr_assert_eq(mxb_fp_encode_rne(&p, sg * nextafterf(mid, 0)), c | sb, "elem %d below %g", r->e, mid);
        cr_assert_eq(mxb_fp_encode_rne(&p, sg * lo), c | sb);
      }
    }
    /* saturation: everything finite above max, and Inf, goes to +-max */
    float mx = p.maxval;
    float big[] = {nextafterf(mx, INFINITY), mx * 1.0625f, mx * 1.125f, mx * 2, 1e30f, FLT_MAX, INFINITY};
    for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
      cr_assert_eq(mxb_fp_encode_rne(&p, big[i]), maxc, "elem %d sat %g", r->e, big[i]);
      cr_assert_eq(mxb_fp_encode_rne(&p, -big[i]), maxc | p.sign);
    }
    /* sign of zero kept; tiny negatives give the negative zero code */
    cr_assert_eq(mxb_fp_encode_rne(&p, -0.0f), p.sign);
    cr_assert_eq(mxb_fp_encode_rne(&p, -1e-30f), p.sign);
    cr_assert_eq(mxb_fp_encode_rne(&p, -1e-45f), p.sign);
    cr_assert_eq(mxb_fp_encode_rne(&p, 0.0f), 0u);
  }
}

/* The E2M1 ladder of NUMERICS 2.1, over a dense sweep of fp32 values. */
Test(codec, e2m1_ladder) {
  mxb_fp p = fp_of(MXB_ELEM_E2M1);
  for (uint32_t u = 0x3C000000u; u < 0x41000000u; u += 97) {
    float a = mxbt_u2f(u);
    unsigned want = a <= 0.25f ? 0 : a < 0.75f ? 1 : a <= 1.25f ? 2 : a < 1.75f ? 3 : a <= 2.5f ? 4 : a < 3.5f ? 5 : a <= 5.0f ? 6 : 7;
    cr_assert_eq(mxb_fp_encode_rne(&p, a), want, "%a", a);
    cr_assert_eq(mxb_fp_encode_rne(&p, -a), want | 8u, "%a", -a);
  }
  static const float ties[] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
  static const unsigned tie_code[] = {0, 2, 2, 4, 4, 6, 6};
  for (int i = 0; i < 7; i++) cr_assert_eq(mxb_fp_encode_rne(&p, ties[i]), tie_code[i]);
}

Test(codec, e4m3_edges) {
  mxb_fp p = fp_of(MXB_ELEM_E4M3);
  cr_assert_eq(mxb_fp_encode_rne(&p, 464.0f), 0x7Eu);
  cr_assert_eq(mxb_fp_encode_rne(&p, nextafterf(464.0f, 0)), 0x7Eu);
  cr_assert_eq(mxb_fp_encode_rne(&p, nextafterf(464.0f, INFINITY)), 0x7Eu);
  cr_assert_eq(mxb_fp_encode_rne(&p, 480.0f), 0x7Eu);
  cr_assert_eq(mxb_fp_encode_rne(&p, 0x1p-10f), 0x00u);
  cr_assert_eq(mxb_fp_encode_rne(&p, nextafterf(0x1p-10f, 1)), 0x01u);
  cr_assert_eq(mxb_fp_encode_rne(&p, 1.5f * 0x1p-9f), 0x02u);
  cr_assert_eq(mxb_fp_encode_rne(&p, NAN), 0x7Fu);
  cr_assert_eq(mxb_fp_encode_rne(&p, -NAN), 0x7Fu);
  mxb_fp q = fp_of(MXB_ELEM_E5M2);
  cr_assert_eq(mxb_fp_encode_rne(&q, 61440.0f), 0x7Bu); /* tie toward Inf saturates */
  cr_assert_eq(mxb_fp_encode_rne(&q, INFINITY), 0x7Bu);
  cr_assert_eq(mxb_fp_encode_rne(&q, NAN), 0x7Fu);
  mxb_fp e = fp_of(MXB_ELEM_E2M1);
  cr_assert_eq(mxb_fp_encode_rne(&e, NAN), 0x7u); /* no NaN code: +max */
}

static void check_mld(mxb_elem_t e, const uint32_t *in, const uint8_t *code, size_t n) {
  mxb_fp p = fp_of(e);
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(mxb_fp_encode_rne(&p, mxbt_u2f(in[i])), code[i], "elem %d input %a: 0x%x vs ml_dtypes 0x%x", e,
                 mxbt_u2f(in[i]), mxb_fp_encode_rne(&p, mxbt_u2f(in[i])), code[i]);
}
#define N_(a) (sizeof(a) / sizeof((a)[0]))
Test(codec, casts_match_mldtypes) {
  check_mld(MXB_ELEM_E2M1, mld_e2m1_in, mld_e2m1_code, N_(mld_e2m1_in));
  check_mld(MXB_ELEM_E2M3, mld_e2m3_in, mld_e2m3_code, N_(mld_e2m3_in));
  check_mld(MXB_ELEM_E3M2, mld_e3m2_in, mld_e3m2_code, N_(mld_e3m2_in));
  check_mld(MXB_ELEM_E4M3, mld_e4m3_in, mld_e4m3_code, N_(mld_e4m3_in));
  check_mld(MXB_ELEM_E5M2, mld_e5m2_in, mld_e5m2_code, N_(mld_e5m2_in));
  for (size_t i = 0; i < N_(mld_bf16_in); i++)
    cr_assert_eq(mxb_bf16_rne(mxbt_u2f(mld_bf16_in[i])), mld_bf16_out[i], "bf16 %a", mxbt_u2f(mld_bf16_in[i]));
}

Test(codec, bf16_and_fp16) {
  cr_assert_eq(mxb_bf16_rne(1.0f), 0x3F80);
  cr_assert_eq(mxb_bf16_rne(mxbt_u2f(0x3F808000u)), 0x3F80); /* tie to even */
  cr_assert_eq(mxb_bf16_rne(mxbt_u2f(0x3F818000u)), 0x3F82);
  cr_assert_eq(mxb_bf16_rne(FLT_MAX), 0x7F80);               /* RNE overflows to Inf */
  cr_assert_eq(mxb_bf16_rne(-INFINITY), 0xFF80);
  cr_assert_eq(mxb_bf16_rne(mxbt_u2f(0xFF800001u)), 0xFFC0); /* NaN stays quiet NaN, sign kept */
  cr_assert_eq(mxb_bf16_rne(mxbt_u2f(0x7F800001u)), 0x7FC0);
  cr_assert_eq(mxb_bf16_decode(0x4049), mxbt_u2f(0x40490000u));
  /* fp16 against the compiler's _Float16 where it exists, else spot values */
  cr_assert_eq(mxb_fp16_rne(1.0f), 0x3C00);
  cr_assert_eq(mxb_fp16_rne(65504.0f), 0x7BFF);
  cr_assert_eq(mxb_fp16_rne(65519.0f), 0x7BFF);
  cr_assert_eq(mxb_fp16_rne(65520.0f), 0x7C00);
  cr_assert_eq(mxb_fp16_rne(0x1p-25f), 0x0000);
  cr_assert_eq(mxb_fp16_rne(nextafterf(0x1p-25f, 1)), 0x0001);
  cr_assert_eq(mxb_fp16_rne(-NAN) & 0x8000, 0x8000);
  for (uint32_t h = 0; h < 0x10000; h++) {
    float f = mxb_fp16_decode((uint16_t)h);
    if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) { cr_assert(isnan(f)); continue; }
    cr_assert_eq(mxb_fp16_rne(f), h, "fp16 0x%x round trip", h);
#if defined(__FLT16_MAX__)
    _Float16 hv;
    uint16_t hb = (uint16_t)h;
    memcpy(&hv, &hb, 2);
    cr_assert_eq(f, (float)hv, "fp16 0x%x decode", h);
#endif
  }
}

/* MX scale bytes by rule (NUMERICS 4.2). */
Test(codec, mx_scale_rules) {
  mxb_fp e4 = fp_of(MXB_ELEM_E4M3), e2 = fp_of(MXB_ELEM_E2M1);
  uint32_t a485 = mxbt_f2u(485.0f), a7 = mxbt_f2u(7.0f);
  cr_assert_eq(mxb_e8m0_scale(a485, MXB_SCALE_RULE_FLOOR, &e4), 127);
  cr_assert_eq(mxb_e8m0_scale(a485, MXB_SCALE_RULE_RCEIL, &e4), 128);
  cr_assert_eq(mxb_e8m0_scale(a485, MXB_SCALE_RULE_CEIL, &e4), 128);
  cr_assert_eq(mxb_e8m0_scale(a7, MXB_SCALE_RULE_FLOOR, &e2), 127);
  cr_assert_eq(mxb_e8m0_scale(a7, MXB_SCALE_RULE_RCEIL, &e2), 128);
  cr_assert_eq(mxb_e8m0_scale(mxbt_f2u(6.0f), MXB_SCALE_RULE_RCEIL, &e2), 127);  /* exactly max: no bump */
  cr_assert_eq(mxb_e8m0_scale(mxbt_f2u(4.0f), MXB_SCALE_RULE_CEIL, &e2), 127);   /* power of two */
  cr_assert_eq(mxb_e8m0_scale(mxbt_f2u(4.5f), MXB_SCALE_RULE_CEIL, &e2), 128);
  /* EVEN: 7.75 rounds (1 mantissa bit) to 8 -> exponent 3 -> 128; 7.0 -> 8 too (tie to even); 6.5 -> 6 */
  cr_assert_eq(mxb_e8m0_scale(mxbt_f2u(7.75f), MXB_SCALE_RULE_EVEN, &e2), 128);
  cr_assert_eq(mxb_e8m0_scale(mxbt_f2u(7.0f), MXB_SCALE_RULE_EVEN, &e2), 128);
  cr_assert_eq(mxb_e8m0_scale(mxbt_f2u(6.5f), MXB_SCALE_RULE_EVEN, &e2), 127);
  cr_assert_eq(mxb_e8m0_scale(0, MXB_SCALE_RULE_FLOOR, &e4), 0);
  cr_assert_eq(mxb_e8m0_scale(0, MXB_SCALE_RULE_RCEIL, &e4), 0);
  cr_assert_eq(mxb_e8m0_scale(mxbt_f2u(FLT_MAX), MXB_SCALE_RULE_RCEIL, &e2), 253); /* FLT_MAX/6 ~ 2^125.4 */
  cr_assert_eq(mxb_e8m0_scale(MXB_F32_INF, MXB_SCALE_RULE_RCEIL, &e4), 254);
  /* RCEIL never lets an element saturate: amax * 2^(127-b) <= max for many amax */
  uint64_t s = 7;
  for (int i = 0; i < 20000; i++) {
    float a = fabsf(mxbt_wide(&s, -100, 120)); /* above the b = 0 floor */
    int b = mxb_e8m0_scale(mxbt_f2u(a), MXB_SCALE_RULE_RCEIL, &e4);
    cr_assert_leq((double)a * ldexp(1.0, 127 - b), 448.0 * (1 + 1e-6), "%a", a);
    cr_assert_gt((double)a * ldexp(1.0, 128 - b), 448.0 * (1 - 1e-6), "%a tight", a);
  }
}

/* SR (NUMERICS 2.2): neighbours only, exact probabilities over all 256 bytes. */
Test(codec, sr_neighbours_and_probability) {
  for (size_t k = 0; k < sizeof(k_spec) / sizeof(k_spec[0]); k++) {
    mxb_fp p = fp_of(k_spec[k].e);
    uint64_t s = 11 + k;
    for (int it = 0; it < 300; it++) {
      float x = (float)(mxbt_uniform(&s) * p.maxval);
      uint32_t c0 = mxb_fp_encode_rne(&p, x);
      float lo = x, hi = x;
      /* the grid neighbours of x */
      for (uint32_t c = 0; c <= p.maxcode; c++) {
        float v = mxb_fp_decode(&p, c);
        if (v <= fabsf(x)) lo = v;
      }
      lo = copysignf(lo, x);
      hi = lo;
      for (uint32_t c = 0; c <= p.maxcode; c++) {
        float v = mxb_fp_decode(&p, c);
        if (v > fabsf(x)) { hi = copysignf(v, x); break; }
      }
      int away = 0;
      for (uint32_t r = 0; r < 256; r++) {
        float v = mxb_fp_decode(&p, mxb_fp_encode_sr(&p, x, r));
        cr_assert(v == lo || v == hi, "elem %d x=%a r=%u -> %a not in {%a,%a}", k_spec[k].e, x, r, v, lo, hi);
        away += (v != lo);
      }
      if (lo != hi) {
        double frac = ((double)fabsf(x) - fabs((double)lo)) / (fabs((double)hi) - fabs((double)lo));
        cr_assert_eq(away, (int)floor(256 * frac), "elem %d x=%a P(away)", k_spec[k].e, x);
      } else {
        cr_assert_eq(away, 0);
      }
      (void)c0;
    }
  }
}
