/* Golden vectors of NUMERICS 9 at the block level (common/block.h). */
#include <float.h>

#include "common/block.h"
#include "core/formats.h"
#include "common/rht.h"
#include "testutil.h"

static mxb_fp fp_of(mxb_elem_t e) { return mxb_fp_from_desc(mxb_elem_desc_get(e)); }

static void mx_golden(mxb_elem_t e, const float *x, int n, mxb_scale_rule_t rule, int want_b, const float *want) {
  mxb_fp p = fp_of(e);
  uint8_t codes[32];
  uint8_t b = mxb_mx_quantize_block(x, n, &p, rule, MXB_NONFINITE_NAN_BLOCK, NULL, codes);
  cr_assert_eq(b, want_b, "elem %d rule %d: b=%d", e, rule, b);
  for (int i = 0; i < n; i++)
    cr_assert_eq(mxb_mx_decode(&p, codes[i], b), want[i], "elem %d rule %d [%d]: %a != %a", e, rule, i,
                 mxb_mx_decode(&p, codes[i], b), want[i]);
}

Test(golden, mx_e4m3_block) {
  const float x[8] = {485, 475, 400, -485, -475, -450, 0x1p-6f, -0x1p-6f};
  const float floor_[8] = {448, 448, 384, -448, -448, -448, 0x1p-6f, -0x1p-6f};
  const float rceil[8] = {480, 480, 384, -480, -480, -448, 0x1p-6f, -0x1p-6f};
  mx_golden(MXB_ELEM_E4M3, x, 8, MXB_SCALE_RULE_FLOOR, 127, floor_);
  mx_golden(MXB_ELEM_E4M3, x, 8, MXB_SCALE_RULE_RCEIL, 128, rceil);
}

Test(golden, mx_e2m1_block) {
  const float x[4] = {7, 1, 0.26f, 0.25f};
  const float floor_[4] = {6, 1, 0.5f, 0};
  const float rceil[4] = {8, 1, 0, 0};
  mx_golden(MXB_ELEM_E2M1, x, 4, MXB_SCALE_RULE_FLOOR, 127, floor_);
  mx_golden(MXB_ELEM_E2M1, x, 4, MXB_SCALE_RULE_RCEIL, 128, rceil);
}

Test(golden, mx_nan_block_and_saturate) {
  mxb_fp p = fp_of(MXB_ELEM_E4M3);
  float x[4] = {1, NAN, 2, 3};
  uint8_t c[4] = {9, 9, 9, 9};
  cr_assert_eq(mxb_mx_quantize_block(x, 4, &p, MXB_SCALE_RULE_RCEIL, MXB_NONFINITE_NAN_BLOCK, NULL, c), 0xFF);
  for (int i = 0; i < 4; i++) cr_assert_eq(c[i], 0);
  cr_assert(isnan(mxb_mx_decode(&p, c[0], 0xFF)));
  /* saturate: NaN ignored by the scale and encoded as the NaN code (E4M3) */
  uint8_t b = mxb_mx_quantize_block(x, 4, &p, MXB_SCALE_RULE_RCEIL, MXB_NONFINITE_SATURATE, NULL, c);
  cr_assert_eq(b, mxb_e8m0_scale(mxbt_f2u(3.0f), MXB_SCALE_RULE_RCEIL, &p));
  cr_assert_eq(c[1], 0x7F);
  cr_assert_eq(mxb_mx_decode(&p, c[2], b), 2.0f);
  mxb_fp q = fp_of(MXB_ELEM_E2M1);
  cr_assert_eq(mxb_mx_quantize_block(x, 4, &q, MXB_SCALE_RULE_FLOOR, MXB_NONFINITE_SATURATE, NULL, c), 126); /* 3 = 1.5 * 2^1 */
  cr_assert_eq(c[1], 0x7); /* no NaN code: +max */
  float y[3] = {1, -INFINITY, 0.5f};
  b = mxb_mx_quantize_block(y, 3, &q, MXB_SCALE_RULE_RCEIL, MXB_NONFINITE_SATURATE, NULL, c);
  cr_assert_eq(b, 254); /* Inf counts in the amax, like the hardware scale conversion */
  /* -Inf saturates to the largest magnitude still finite at 2^127: 1.5
   * (code 3; 2 * 2^127 would be 2^128), not -6, which decoded to -Inf */
  cr_assert_eq(c[1], 0xB);
  cr_assert_eq(mxb_mx_decode(&q, c[1], b), -0x1.8p127f);
}

Test(golden, bdr_block) {
  const float x[16] = {3.3f, -0.7f, 1.01f, 0.9f, 0.49f, 0.12f, -2.9f, 0, 0.26f, 0.3f, 1.99f, -1.5f, 0.05f, 0.02f, 3.99f, 2.5f};
  const int mu_want[8] = {0, 1, 1, 0, 1, 1, 1, 0};
  const int want[3][16] = {{106, -22, 65, 58, 31, 8, -93, 0, 17, 19, 127, -96, 3, 1, 127, 80},
                           {13, -3, 8, 7, 4, 1, -12, 0, 2, 2, 15, -12, 0, 0, 15, 10},
                           {3, -1, 2, 2, 1, 0, -3, 0, 1, 1, 3, -3, 0, 0, 3, 2}};
  const int ms[3] = {7, 4, 2};
  for (int k = 0; k < 3; k++) {
    uint8_t mu, c[16];
    uint8_t E = mxb_bdr_quantize_block(x, 16, ms[k], MXB_NONFINITE_NAN_BLOCK, &mu, c);
    cr_assert_eq(E, 128);
    for (int j = 0; j < 8; j++) cr_assert_eq((mu >> j) & 1, mu_want[j], "m=%d mu[%d]", ms[k], j);
    for (int i = 0; i < 16; i++) {
      int mag = c[i] & ((1 << ms[k]) - 1), sm = (c[i] >> ms[k]) & 1 ? -mag : mag;
      cr_assert_eq(sm, want[k][i], "m=%d [%d]: %d != %d", ms[k], i, sm, want[k][i]);
      double v = mxb_bdr_decode(c[i], i, ms[k], E, mu);
      double s = ldexp(1.0, 128 - 127 - mu_want[i / 2] + 1 - ms[k]);
      cr_assert_eq(v, want[k][i] * s);
    }
  }
  float y[3] = {1, NAN, 2};
  uint8_t mu, c[3];
  cr_assert_eq(mxb_bdr_quantize_block(y, 3, 4, MXB_NONFINITE_NAN_BLOCK, &mu, c), 0xFF);
  cr_assert(isnan(mxb_bdr_decode(c[0], 0, 4, 0xFF, mu)));
  y[1] = -INFINITY;
  uint8_t E = mxb_bdr_quantize_block(y, 3, 4, MXB_NONFINITE_SATURATE, &mu, c);
  cr_assert_eq(E, 128);
  cr_assert_eq(c[1], 0x1F); /* -max */
}

/* NVFP4 with a real amax, worked by hand: A = 10, S_enc = 268.8,
 * s_b = ue4m3(10 * 44.8) = 448, enc = 0.6. */
Test(golden, nvfp4_real_amax) {
  float x[16] = {10, 5, 1, -2.5f, -0.0f, 0.4f, 0.42f, 2, 3, 4, -6, 7, 8, 9, 0.1f, -10};
  const uint8_t want[16] = {7, 5, 1, 0xB, 0x8, 0, 1, 2, 4, 4, 0xE, 6, 6, 7, 0, 0xF};
  mxb_nvfp4_ts t = mxb_nvfp4_tensor_scales(10.0f, 0);
  cr_assert_eq(t.S_enc, 268.8f);
  int bad = 0;
  uint32_t ab = mxb_block_amax_bits(x, 16, MXB_AMAX_NAN_BLOCK, &bad);
  uint8_t c[16];
  uint8_t s = mxb_nvfp4_quantize_block(x, 16, ab, bad, &t, NULL, c);
  cr_assert_eq(s, 0x7E);
  for (int i = 0; i < 16; i++) cr_assert_eq(c[i], want[i], "[%d] code 0x%x", i, c[i]);
  cr_assert_eq(mxb_nvfp4_decode(7, s, 10.0f, 0), 6.0f * ((448.0f * 10.0f) * (1.0f / 2688.0f)));
}

Test(golden, nvfp4_zero_inf_underflow) {
  mxb_nvfp4_ts z = mxb_nvfp4_tensor_scales(0.0f, 0);
  cr_assert_eq(z.S_enc, 1.0f);
  cr_assert_eq(z.S_dec, 1.0f);
  /* A = Inf is used as FLT_MAX (it was S_enc = 1, which the decoder's
   * s_b * Inf could not follow): S_enc = 2688 / FLT_MAX */
  mxb_nvfp4_ts inf = mxb_nvfp4_tensor_scales(INFINITY, 0);
  cr_assert_eq(inf.S_enc, 2688.0f / FLT_MAX);
  /* with an Inf element (saturate policy): scale 448, Inf -> 6, which
   * decodes to about FLT_MAX; 448 and -224 are tiny next to it: +-0 */
  float x[4] = {INFINITY, 448, -224, 1};
  uint8_t c[4];
  uint8_t s = mxb_nvfp4_quantize_block(x, 4, MXB_F32_INF, 0, &inf, NULL, c);
  cr_assert_eq(s, 0x7E);
  cr_assert_eq(c[0], 7);
  cr_assert_eq(c[1], 0);
  cr_assert_eq(c[2], 0x8);
  cr_assert_eq(c[3], 0);
  float big = mxb_nvfp4_decode(c[0], s, INFINITY, 0);
  cr_assert(isfinite(big) && big > 0.99f * FLT_MAX, "%a", big);
  /* underflowed block scale: A = 1e6, block amax 1e-3 -> s_b = 0, codes +-6 decode to 0 */
  mxb_nvfp4_ts t = mxb_nvfp4_tensor_scales(1e6f, 0);
  float y[3] = {1e-3f, -5e-4f, 0};
  s = mxb_nvfp4_quantize_block(y, 3, mxbt_f2u(1e-3f), 0, &t, NULL, c);
  cr_assert_eq(s, 0);
  cr_assert_eq(c[0], 7);
  cr_assert_eq(c[1], 0xF);
  cr_assert_eq(c[2], 0);
  cr_assert_eq(mxb_nvfp4_decode(c[0], s, 1e6f, 0), 0.0f);
  /* NaN block */
  float w[2] = {1, NAN};
  int bad = 0;
  uint32_t ab = mxb_block_amax_bits(w, 2, MXB_AMAX_NAN_BLOCK, &bad);
  cr_assert_eq(bad, 1);
  cr_assert_eq(mxb_nvfp4_quantize_block(w, 2, ab, bad, &t, NULL, c), 0x7F);
  cr_assert(isnan(mxb_nvfp4_decode(c[0], 0x7F, 1e6f, 0)));
}

Test(golden, fp8_scaled) {
  mxb_fp p = fp_of(MXB_ELEM_E4M3), q = fp_of(MXB_ELEM_E5M2);
  cr_assert_eq(mxb_fp8_scale(mxbt_f2u(2.0f), &p, 0), 224.0f);
  cr_assert_eq(mxb_fp8_scale(mxbt_f2u(3.0f), &p, 1), 128.0f); /* 149.33 -> 128 */
  cr_assert_eq(mxb_fp8_scale(0, &p, 0), 1.0f);
  cr_assert_eq(mxb_fp8_scale(MXB_F32_INF, &p, 0), 1.0f);
  cr_assert_eq(mxb_fp8_scale(1, &p, 0), FLT_MAX); /* 448 / 2^-149 overflows: clamped */
  uint32_t cq = mxb_fp8_cap(&q, 2.0f), cp = mxb_fp8_cap(&p, 2.0f);
  cr_assert_eq(cq, q.maxcode);
  cr_assert_eq(cp, p.maxcode);
  cr_assert_eq(mxb_fp8_encode_scaled(&q, -INFINITY, 2.0f, cq, -1), 0xFC);
  cr_assert_eq(mxb_fp8_encode_scaled(&q, INFINITY, 2.0f, cq, -1), 0x7C);
  cr_assert_eq(mxb_fp8_encode_scaled(&p, INFINITY, 2.0f, cp, -1), 0x7F);
  cr_assert_eq(mxb_fp8_encode_scaled(&q, NAN, 2.0f, cq, -1), 0x7F);
  cr_assert_eq(mxb_fp8_encode_scaled(&p, 2.0f, 224.0f, mxb_fp8_cap(&p, 224.0f), -1), 0x7E);
  /* pow2 scale of FLT_MAX: 2^-120, FLT_MAX * 2^-120 rounds to 256, 256 * 2^120
   * overflows: the block's codes saturate at 240 (0x77), the largest finite */
  float s = mxb_fp8_scale(mxbt_f2u(FLT_MAX), &p, 1);
  cr_assert_eq(s, 0x1p-120f);
  cr_assert_eq(mxb_fp8_cap(&p, s), 0x77);
  cr_assert_eq(mxb_fp8_encode_scaled(&p, -FLT_MAX, s, mxb_fp8_cap(&p, s), -1), 0xF7);
}

Test(golden, rht_mask_d7e8) {
  /* H_16 x e_0 = all ones; with signs 0xD7E8 bit 0 clear, RHT(e_0) = 0.25 * s */
  uint32_t signs[8] = {0xD7E8u};
  float v[16] = {1};
  mxb_rht_chunk(v, 16, signs, 0);
  for (int i = 0; i < 16; i++) cr_assert_eq(v[i], 0.25f, "[%d]", i);
  /* e_3 picks sign s_3 = -1 (bit 3 of 0xD7E8 set) and row 3 of H: (-1)^popcount(i & 3) */
  float w[16] = {0};
  w[3] = 1;
  mxb_rht_chunk(w, 16, signs, 0);
  for (int i = 0; i < 16; i++) cr_assert_eq(w[i], -0.25f * ((__builtin_popcount(i & 3) & 1) ? -1.0f : 1.0f));
  /* inverse undoes forward exactly on dyadic data */
  uint64_t s = 5;
  float x[16], y[16];
  for (int i = 0; i < 16; i++) x[i] = y[i] = (float)(int)(mxbt_uniform(&s) * 64) / 8;
  mxb_rht_chunk(y, 16, signs, 0);
  mxb_rht_chunk(y, 16, signs, 1);
  for (int i = 0; i < 16; i++) cr_assert_eq(x[i], y[i]);
}
