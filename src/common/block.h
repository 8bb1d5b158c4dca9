/* Per-block quantization (NUMERICS 2.3, 4.1-4.4), shared verbatim by the CPU
 * reference and CUDA kernels. A block is a small array of fp32 values (at
 * most the format's block length; a tail block is shorter). Outputs are
 * unpacked element codes (one byte each) and the block's scale; packing is
 * the caller's. Random bytes r[] (one per element) select SR; NULL is RNE. */
#ifndef MXB_COMMON_BLOCK_H
#define MXB_COMMON_BLOCK_H
#include "common/codec.h"

/* The host encoder's SSE2 lanes: x86-64 C builds (CUDA's host passes keep
 * the scalar loop; nothing there quantizes on the host). */
#if defined(__SSE2__) && !defined(__CUDACC__)
#include <emmintrin.h>
#define MXB_HOST_SSE2 1
#else
#define MXB_HOST_SSE2 0
#endif

/* ---- block amax --------------------------------------------------------- */
typedef enum mxb_amax_mode {
  MXB_AMAX_NAN_BLOCK = 0, /* any NaN/Inf flags the block (NUMERICS 2.3 default) */
  MXB_AMAX_SKIP_NAN = 1,  /* NONFINITE_SATURATE: NaN ignored, Inf counts */
  MXB_AMAX_FINITE = 2     /* FP8 with fp32 scales: finite values only */
} mxb_amax_mode;

/* Integer max of |x| bits over the values the mode admits; *nonfinite is set
 * (never cleared) when a NaN/Inf is present. All-finite blocks (the common
 * case) take one branch-free max, which every mode admits whole. */
#if MXB_HOST_SSE2
/* The lanes' max of x with SSE2, signed compares: |x| bits are below 2^31. */
static inline __m128i mxb_max_sse2(__m128i a, __m128i b) {
  const __m128i gt = _mm_cmpgt_epi32(a, b);
  return _mm_or_si128(_mm_and_si128(gt, a), _mm_andnot_si128(gt, b));
}
#endif
MXB_HD uint32_t mxb_block_amax_bits(const float *x, int n, mxb_amax_mode mode, int *nonfinite) {
  uint32_t m = 0;
  int i = 0;
#if MXB_HOST_SSE2
  if (n >= 8) {
    const __m128i abs_mask = _mm_set1_epi32(0x7FFFFFFF);
    __m128i mv = _mm_setzero_si128();
    for (; i + 4 <= n; i += 4) mv = mxb_max_sse2(_mm_and_si128(_mm_castps_si128(_mm_loadu_ps(x + i)), abs_mask), mv);
    mv = mxb_max_sse2(mv, _mm_shuffle_epi32(mv, _MM_SHUFFLE(1, 0, 3, 2)));
    mv = mxb_max_sse2(mv, _mm_shuffle_epi32(mv, _MM_SHUFFLE(2, 3, 0, 1)));
    m = (uint32_t)_mm_cvtsi128_si32(mv);
  }
#endif
  for (; i < n; i++) {
    uint32_t a = mxb_f2u(x[i]) & MXB_F32_ABS;
    m = a > m ? a : m;
  }
  if (m < MXB_F32_INF) return m;
  *nonfinite = 1;
  /* the largest |x| bits each mode admits (NaN bits lie above Inf) */
  uint32_t lim = mode == MXB_AMAX_FINITE ? MXB_F32_INF - 1u : mode == MXB_AMAX_SKIP_NAN ? MXB_F32_INF : 0xFFFFFFFFu;
  m = 0;
  for (int i = 0; i < n; i++) {
    uint32_t a = mxb_f2u(x[i]) & MXB_F32_ABS;
    a = a <= lim ? a : 0u;
    m = a > m ? a : m;
  }
  return m;
}

/* An amax's bits as the cross-rank reduction orders them: +0 for -0, the
 * canonical NaN 0x7FC00000 for every NaN and every negative value (no amax
 * is negative), else unchanged. The unsigned max of such bits is the
 * NaN-propagating max of the amaxes (docs/DISTRIBUTED.md). */
MXB_HD uint32_t mxb_amax_reduce_bits(uint32_t b) {
  return b == 0x80000000u ? 0u : (b & 0x80000000u) || b > MXB_F32_INF ? 0x7FC00000u : b;
}

/* ---- NVFP4 (NUMERICS 4.1) ----------------------------------------------- */
/* The smallest tensor amax A whose S_enc = 2688 / A is finite in fp32 (the
 * bound 256's S_enc = 1536 / A is finite there too). */
#define MXB_NVFP4_AMAX_MIN 0x1.500002p-117f

/* The constant 6 * e4m3_max that maps the tensor amax to the largest block
 * scale (NUMERICS 4.1): 6 * 448 = 2688, or 6 * 256 = 1536 for a tensor
 * quantized with the bound 256 (MXB_TENSOR_E4M3_MAX_256 in its flags) ... */
MXB_HD float mxb_nvfp4_k(uint32_t flags) { return (flags & MXB_TENSOR_E4M3_MAX_256) ? 1536.0f : 2688.0f; }
/* The tensor amax of row r of an NVFP4 tensor with these flags: amax[r]
 * with MXB_TENSOR_ROW_AMAX (one a row), else amax[0]. */
MXB_HD float mxb_nvfp4_amax_at(const float *amax, uint32_t flags, int64_t r) {
  return amax[(flags & MXB_TENSOR_ROW_AMAX) ? r : 0];
}
/* ... and its reciprocal in fp32, the decoders' and the GEMM's factor. */
MXB_HD float mxb_nvfp4_kinv(uint32_t flags) {
  return (flags & MXB_TENSOR_E4M3_MAX_256) ? 1.0f / 1536.0f : 1.0f / 2688.0f;
}

/* The tensor amax the NVFP4 arithmetic uses, in the encoder, the decoder
 * and the GEMM alike (docs/NUMERICS.md, Decisions): +Inf (supplied, or an
 * Inf counted under NONFINITE_SATURATE) is FLT_MAX, so Inf saturates like
 * the largest finite value; a positive A below MXB_NVFP4_AMAX_MIN is that
 * minimum, where S_enc would otherwise be clamped and the decoder would use
 * a different scale than the encoder. Every other A (0 included) is itself:
 * the contract's results are unchanged there. */
MXB_HD float mxb_nvfp4_amax_used(float A) {
  if (A > MXB_FLT_MAX) return MXB_FLT_MAX;
  if (A > 0.0f && A < MXB_NVFP4_AMAX_MIN) return MXB_NVFP4_AMAX_MIN;
  return A;
}

typedef struct mxb_nvfp4_ts {
  float A;     /* the tensor amax used (mxb_nvfp4_amax_used) */
  float S_enc, S_dec;
  float m;     /* S_enc * (1/6) */
  int four_six; /* mxb_four_over_six_t of the quantize config (0: off) */
  uint32_t flags; /* the tensor's flags: its E4M3 bound (mxb_nvfp4_k) */
} mxb_nvfp4_ts;

/* flags: the quantized tensor's (only MXB_TENSOR_E4M3_MAX_256 matters). */
MXB_HD mxb_nvfp4_ts mxb_nvfp4_tensor_scales(float A, uint32_t flags) {
  mxb_nvfp4_ts t;
  t.A = mxb_nvfp4_amax_used(A);
  t.S_enc = mxb_min_pos(mxb_nvfp4_k(flags) / t.A, MXB_FLT_MAX); /* the clamp is idle for every amax used */
  if (t.A == 0.0f || t.S_enc == 0.0f) t.S_enc = 1.0f;
  t.S_dec = 1.0f / t.S_enc;
  t.m = t.S_enc * (1.0f / 6.0f);
  t.four_six = 0;
  t.flags = flags;
  return t;
}
MXB_HD uint8_t mxb_nvfp4_block_scale(float a_b, const mxb_nvfp4_ts *t) {
  return mxb_ue4m3_encode(mxb_min_pos(a_b * t->m, MXB_FLT_MAX));
}
#if MXB_HOST_SSE2
/* mxb_fp_encode_rne_minifloat on 4 lanes of (x * k) * mul, with SSE2 (the
 * x86-64 baseline). The same integer and fp32 operations in the same order,
 * so the same bits (tests/test_codec_special.c compares them); the unsigned
 * min/max of the scalar code are signed here, which agree because every
 * operand is below 2^31. */
static inline __m128i mxb_encode_rne_sse2(const mxb_fp *f, __m128 x, __m128 k, __m128 mul) {
  const __m128i abs_mask = _mm_set1_epi32(0x7FFFFFFF), inf = _mm_set1_epi32(0x7F800000);
  const __m128i mb = _mm_set1_epi32((int)mxb_f2u(f->maxval)), e0 = _mm_set1_epi32((127 + f->emin) << 23);
  const __m128i mshift = _mm_set1_epi32((23 - f->mbits) << 23), cnt = _mm_cvtsi32_si128(23 - f->mbits);
  const __m128i u = _mm_castps_si128(_mm_mul_ps(_mm_mul_ps(x, k), mul)), ax = _mm_and_si128(u, abs_mask);
  __m128i gt = _mm_cmpgt_epi32(ax, mb);
  const __m128i ab = _mm_or_si128(_mm_and_si128(gt, mb), _mm_andnot_si128(gt, ax));
  __m128i e = _mm_and_si128(ab, inf);
  gt = _mm_cmpgt_epi32(e, e0);
  e = _mm_or_si128(_mm_and_si128(gt, e), _mm_andnot_si128(gt, e0));
  const __m128i m = _mm_add_epi32(e, mshift);
  const __m128i sum = _mm_castps_si128(_mm_add_ps(_mm_castsi128_ps(ab), _mm_castsi128_ps(m)));
  __m128i c = _mm_add_epi32(_mm_sub_epi32(sum, m), _mm_srl_epi32(_mm_sub_epi32(e, e0), cnt));
  c = _mm_or_si128(c, _mm_and_si128(_mm_set1_epi32((int)f->sign), _mm_srai_epi32(u, 31)));
  const __m128i nan = _mm_cmpgt_epi32(ax, inf);
  return _mm_or_si128(_mm_and_si128(nan, _mm_set1_epi32((int)mxb_fp_nan(f))), _mm_andnot_si128(nan, c));
}
#endif

/* Host RNE over a minifloat: codes[j] = the encoding of (x[j] * k) * mul
 * by the branch-free encoder alone, without the per-element dispatch (four
 * lanes at a time with SSE2); returns 0 without doing anything where the
 * caller's own loop runs (MXINT8, and on the device, whose code stays as it
 * was). */
MXB_HD int mxb_encode_rne_host(const mxb_fp *p, const float *x, int n, float k, float mul, uint8_t *codes) {
#ifndef __CUDA_ARCH__
  if (p->ebits && !p->twos) {
    /* a local copy of *p: the byte stores to codes may alias it, which would
     * reload its fields for every element */
    const mxb_fp f = *p;
    int j = 0;
#if MXB_HOST_SSE2
    const __m128 kv = _mm_set1_ps(k), mv = _mm_set1_ps(mul);
    for (; j + 16 <= n; j += 16) { /* codes fit a byte: pack 16 lanes into one store */
      const __m128i a = mxb_encode_rne_sse2(&f, _mm_loadu_ps(x + j), kv, mv);
      const __m128i b = mxb_encode_rne_sse2(&f, _mm_loadu_ps(x + j + 4), kv, mv);
      const __m128i c = mxb_encode_rne_sse2(&f, _mm_loadu_ps(x + j + 8), kv, mv);
      const __m128i d = mxb_encode_rne_sse2(&f, _mm_loadu_ps(x + j + 12), kv, mv);
      _mm_storeu_si128((__m128i *)(codes + j), _mm_packus_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d)));
    }
#endif
    for (; j < n; j++) codes[j] = (uint8_t)mxb_fp_encode_rne_minifloat(&f, (x[j] * k) * mul);
    return 1;
  }
#else
  (void)p, (void)x, (void)n, (void)k, (void)mul, (void)codes;
#endif
  return 0;
}
/* The codes of an NVFP4 block (n <= 16 elements, or a 16x16 tile's row)
 * with block scale s. */
MXB_HD void mxb_nvfp4_encode_block(const float *x, int n, uint8_t s, const mxb_nvfp4_ts *t, const uint8_t *r,
                                   uint8_t *codes) {
  mxb_fp p = mxb_elem_fp(MXB_ELEM_E2M1);
  /* enc = 1 / (s_b * S_dec). Where s_b * S_dec is subnormal (a small amax:
   * S_dec reaches 2^-128) 1 / (s_b * S_dec) may overflow although
   * x * enc is at most about 6: there x * enc is taken as
   * (x * 2^64) * (1 / (s_b * S_dec * 2^64)), exact scalings that give the
   * same codes wherever the plain form does not overflow. An underflowed
   * scale (s_b = 0) keeps enc = FLT_MAX: saturated codes that decode to 0. */
  float d = mxb_ue4m3_decode(s) * t->S_dec;
  float k = d > 0.0f && d < 0x1p-126f ? 0x1p64f : 1.0f;
  float enc = mxb_min_pos(1.0f / (d * k), MXB_FLT_MAX);
  if (r || !mxb_encode_rne_host(&p, x, n, k, enc, codes))
    for (int j = 0; j < n; j++) codes[j] = (uint8_t)mxb_fp_encode(&p, (x[j] * k) * enc, r ? r[j] : -1);
}
/* The block's dequantization multiplier (s_b * A) * (1/2688) (1/1536 with
 * the bound 256: mxb_nvfp4_kinv(flags)), in fp32, left to right, with the
 * amax used. Its first product overflows for A above FLT_MAX / 448 although
 * the result is at most about A / 6: there (A >= 2^64) the products are
 * taken on A * 2^-64 and the result scaled back by 2^64. Both scalings are
 * exact (every intermediate stays a normal number), so the bits are those
 * of the formula without overflow, and below 2^64 nothing changes. */
MXB_HD float mxb_nvfp4_dequant_scale(uint8_t s_b, float A, uint32_t flags) {
  const float a = mxb_nvfp4_amax_used(A), kinv = mxb_nvfp4_kinv(flags);
  if (a >= 0x1p64f) return ((mxb_ue4m3_decode(s_b) * (a * 0x1p-64f)) * kinv) * 0x1p64f;
  return (mxb_ue4m3_decode(s_b) * a) * kinv;
}
/* Dequantized value, left to right in fp32; finite for every finite code,
 * scale and amax (at most A used). */
MXB_HD float mxb_nvfp4_decode(uint8_t code, uint8_t s_b, float A, uint32_t flags) {
  mxb_fp p = mxb_elem_fp(MXB_ELEM_E2M1);
  return mxb_fp_decode(&p, code) * mxb_nvfp4_dequant_scale(s_b, A, flags);
}
/* Four Over Six's error of a block's codes (NUMERICS 4.1.1): the sum over
 * j ascending, in binary64 from +0, of (v_j - x_j)^2 (MSE) or |v_j - x_j|
 * (MAE), v_j the dequantized value in fp32 (mxb_nvfp4_decode). */
MXB_HD double mxb_nvfp4_block_error(const float *x, int n, const uint8_t *codes, uint8_t s, const mxb_nvfp4_ts *t) {
  const float D = mxb_nvfp4_dequant_scale(s, t->A, t->flags); /* v_j = value * D, as mxb_nvfp4_decode */
  double e = 0.0;
  if (t->four_six == MXB_FOUR_OVER_SIX_MSE) {
    for (int j = 0; j < n; j++) {
      const double d = (double)(mxb_e2m1_decode(codes[j]) * D) - (double)x[j];
      e += d * d;
    }
  } else {
    for (int j = 0; j < n; j++) e += fabs((double)(mxb_e2m1_decode(codes[j]) * D) - (double)x[j]);
  }
  return e;
}
/* The fp32 sum of mxb_nvfp4_fos_verdict_f32, D the block's dequantization
 * scale. On the host a whole block's 16 terms are summed in four SSE2 lanes
 * (terms j, j + 4, j + 8, j + 12 in lane j, then the lanes as (0 + 2) +
 * (1 + 3)): the same terms, five additions deep instead of fifteen, within
 * the verdict's bound either way, and four times fewer dependent adds. */
MXB_HD float mxb_nvfp4_block_error_f32(const float *x, int n, const uint8_t *codes, float D, int mse) {
#if MXB_HOST_SSE2
  if (n == 16) {
    static const float val[16] = {0.0f,  0.5f,  1.0f,  1.5f,  2.0f,  3.0f,  4.0f,  6.0f,
                                  -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};
    const __m128 d4 = _mm_set1_ps(D), abs_mask = _mm_castsi128_ps(_mm_set1_epi32(0x7FFFFFFF));
    __m128 acc = _mm_setzero_ps();
    for (int j = 0; j < 16; j += 4) {
      const __m128 v = _mm_set_ps(val[codes[j + 3] & 15], val[codes[j + 2] & 15], val[codes[j + 1] & 15],
                                  val[codes[j] & 15]);
      const __m128 d = _mm_sub_ps(_mm_mul_ps(v, d4), _mm_loadu_ps(x + j));
      acc = _mm_add_ps(acc, mse ? _mm_mul_ps(d, d) : _mm_and_ps(d, abs_mask));
    }
    float a[4];
    _mm_storeu_ps(a, acc);
    return (a[0] + a[2]) + (a[1] + a[3]);
  }
#endif
  float f = 0.0f;
  for (int j = 0; j < n; j++) {
    const float d = mxb_e2m1_decode(codes[j]) * D - x[j];
    f = f + (mse ? d * d : fabsf(d));
  }
  return f;
}
/* Four Over Six's choice for a 1x16 block from fp32 sums f of the terms of
 * mxb_nvfp4_block_error (which cost no binary64 conversions): 1 where c4
 * (scale s4) surely has the smaller binary64 error, 0 where it surely has
 * not, -1 where only the binary64 sums can tell. With E a sum's exact value
 * (of the same fp32 v_j and x_j), |f - E| <= 18u E + 2^-145 (u = 2^-24: a
 * term's subtraction, square and additions are each rounded once; a
 * square's underflow adds at most 2^-150), and the binary64 sum is within
 * 2^-48 E of E. So, both f finite, f4 (1 + 2^-16) < f6 (1 - 2^-16) (fp32
 * products) with f6 >= 2^-100 puts E4 below E6 by more than 2^-16 E6,
 * beyond both binary64 sums' errors: their comparison is true; the mirror
 * condition makes it false; near-ties, tiny or non-finite sums get -1
 * (tests/test_four_over_six.c checks the verdicts against the binary64
 * comparison on near-tie and wide-range blocks). The argument holds for any
 * sums within 24u E + 2^-140 of E (their ratio then moves by at most
 * 2 x 24u, far inside the 2^-15 that the factors 1 -+ 2^-16 leave), so
 * mxb_nvfp4_fos_verdict_sums also decides a 16x16 tile from fp32 row sums
 * added in mxb_nvfp4_tile_error's order (22u: 18u a row, 4 additions). */
MXB_HD int mxb_nvfp4_fos_verdict_sums(float f6, float f4) {
  if (f6 <= MXB_FLT_MAX && f4 <= MXB_FLT_MAX) { /* false for Inf and NaN */
    const float lo = 1.0f - 0x1p-16f, hi = 1.0f + 0x1p-16f;
    if (f6 >= 0x1p-100f && f4 * hi < f6 * lo) return 1;
    if (f4 >= 0x1p-100f && f4 * lo > f6 * hi) return 0;
  }
  return -1;
}
MXB_HD int mxb_nvfp4_fos_verdict_f32(const float *x, int n, const uint8_t *c6, uint8_t s6, const uint8_t *c4,
                                     uint8_t s4, const mxb_nvfp4_ts *t) {
  const float D6 = mxb_nvfp4_dequant_scale(s6, t->A, t->flags), D4 = mxb_nvfp4_dequant_scale(s4, t->A, t->flags);
  const int mse = t->four_six == MXB_FOUR_OVER_SIX_MSE;
  return mxb_nvfp4_fos_verdict_sums(mxb_nvfp4_block_error_f32(x, n, c6, D6, mse),
                                    mxb_nvfp4_block_error_f32(x, n, c4, D4, mse));
}
/* Four Over Six's choice for a 1x16 block: whether c4 (scale s4) has the
 * smaller error, mxb_nvfp4_block_error(c4) < mxb_nvfp4_block_error(c6),
 * taken from the fp32 verdict where it settles it, so always the binary64
 * comparison's result. This fp32 pass is host code only: the CUDA row-wise
 * and 2D paths sum the same terms from their encoders' grid values
 * (fos_candidate in cuda/quantize.cuh) and call mxb_nvfp4_fos_verdict_sums;
 * the general kernel's 1x16 path compares the binary64 sums directly (this
 * function's fp32 sums cost it registers: ptxas spilled 76-156 bytes, 15%
 * slower on an H100). */
MXB_HD int mxb_nvfp4_fos_takes4(const float *x, int n, const uint8_t *c6, uint8_t s6, const uint8_t *c4, uint8_t s4,
                                const mxb_nvfp4_ts *t) {
#ifndef __CUDA_ARCH__
  const int v = mxb_nvfp4_fos_verdict_f32(x, n, c6, s6, c4, s4, t);
  if (v >= 0) return v;
#endif
  return mxb_nvfp4_block_error(x, n, c4, s4, t) < mxb_nvfp4_block_error(x, n, c6, s6, t);
}
/* Four Over Six's second candidate: the scale that maps amax a_b to 4
 * (S_enc / 4 is an exact scaling: S_enc >= 1536 / FLT_MAX stays normal). */
MXB_HD uint8_t mxb_nvfp4_block_scale4(float a_b, const mxb_nvfp4_ts *t) {
  return mxb_ue4m3_encode(mxb_min_pos(a_b * (t->S_enc * 0.25f), MXB_FLT_MAX));
}
/* A 16x16 tile's Four Over Six error: its 16 rows' errors e[r] (0 for rows
 * past the tensor) summed pairwise, e[r] + e[r + 8], then + 4, + 2, + 1 apart
 * (the order of a butterfly over the tile's 16 lanes, which every lane
 * computes alike). */
MXB_HD double mxb_nvfp4_tile_error(const double *e) {
  double a[8], b[4], c[2];
  for (int r = 0; r < 8; r++) a[r] = e[r] + e[r + 8];
  for (int r = 0; r < 4; r++) b[r] = a[r] + a[r + 4];
  for (int r = 0; r < 2; r++) c[r] = b[r] + b[r + 2];
  return c[0] + c[1];
}
/* One NVFP4 block given its amax (the 1x16 block's, or the 16x16 tile's for
 * 2D scaling) and whether that block/tile is a NaN block. Returns s_b. With
 * Four Over Six (t->four_six) a 1x16 block also tries the scale that maps
 * its amax to 4 and keeps it where its error is smaller (ties keep 6; SR
 * uses the same bits r for both); 2D tiles choose over their 16 rows before
 * (mxb_nvfp4_tile_error) and pass t->four_six = 0 here. */
MXB_HD uint8_t mxb_nvfp4_quantize_block(const float *x, int n, uint32_t amax_bits, int nan_block,
                                        const mxb_nvfp4_ts *t, const uint8_t *r, uint8_t *codes) {
  if (nan_block) {
    for (int j = 0; j < n; j++) codes[j] = 0;
    return 0x7F;
  }
  const float a_b = mxb_u2f(amax_bits);
  const uint8_t s = mxb_nvfp4_block_scale(a_b, t);
  mxb_nvfp4_encode_block(x, n, s, t, r, codes);
  if (!t->four_six) return s;
  const uint8_t s4 = mxb_nvfp4_block_scale4(a_b, t);
  if (s4 == s) return s;
  uint8_t c4[16];
  mxb_nvfp4_encode_block(x, n, s4, t, r, c4);
  if (!mxb_nvfp4_fos_takes4(x, n, codes, s, c4, s4, t)) return s;
  for (int j = 0; j < n; j++) codes[j] = c4[j];
  return s4;
}
/* The GEMM's tensor scale (NUMERICS 7, step 3): the amax used * (1/2688)
 * (1/1536 for a tensor with the bound 256). */
MXB_HD float mxb_nvfp4_tensor_scale(float A, uint32_t flags) { return mxb_nvfp4_amax_used(A) * mxb_nvfp4_kinv(flags); }

/* ---- MX (NUMERICS 4.2) -------------------------------------------------- */
/* One MX block given its amax bits (the 1x32 block's, or the 32x32 tile's
 * for 2D scaling) and whether that block/tile is a NaN block. Returns the
 * E8M0 scale byte (0xFF with zero codes for a NaN block). */
MXB_HD uint8_t mxb_mx_quantize_block_amax(const float *x, int n, uint32_t amax, int nan_block, const mxb_fp *p,
                                          mxb_scale_rule_t rule, const uint8_t *r, uint8_t *codes) {
  if (nan_block) {
    for (int j = 0; j < n; j++) codes[j] = 0;
    return 0xFF;
  }
  uint8_t b = mxb_e8m0_scale(amax, rule, p);
  float mul = mxb_pow2f(127 - (int)b); /* exact: 127 - b is in [-127, 127] */
  if (r || !mxb_encode_rne_host(p, x, n, 1.0f, mul, codes)) /* x * 1 is x */
    for (int j = 0; j < n; j++) codes[j] = (uint8_t)mxb_fp_encode(p, x[j] * mul, r ? r[j] : -1);
  /* a block near FLT_MAX: codes that would decode to 2^128 or more saturate below it */
  uint32_t cap = mxb_fp_finite_cap(p, mxb_e8m0_decode(b));
  if (cap < p->maxcode)
    for (int j = 0; j < n; j++) codes[j] = (uint8_t)mxb_fp_cap(p, codes[j], cap);
  return b;
}
/* One 1x32 MX block: its own amax (NaN/Inf flag it under the NaN-block
 * policy; the saturate policy skips NaN). */
MXB_HD uint8_t mxb_mx_quantize_block(const float *x, int n, const mxb_fp *p, mxb_scale_rule_t rule,
                                     mxb_nonfinite_t policy, const uint8_t *r, uint8_t *codes) {
  int bad = 0;
  uint32_t amax = mxb_block_amax_bits(
      x, n, policy == MXB_NONFINITE_SATURATE ? MXB_AMAX_SKIP_NAN : MXB_AMAX_NAN_BLOCK, &bad);
  return mxb_mx_quantize_block_amax(x, n, amax, bad && policy == MXB_NONFINITE_NAN_BLOCK, p, rule, r, codes);
}
MXB_HD float mxb_mx_decode(const mxb_fp *p, uint8_t code, uint8_t b) {
  return mxb_fp_decode(p, code) * mxb_e8m0_decode(b);
}

/* ---- BDR: MX9 / MX6 / MX4 (NUMERICS 4.3) -------------------------------- */
/* Quantizes n <= 16 values with m magnitude bits. Codes are sign-magnitude
 * (sign at bit m); *mu gets bit j = microexponent of pair j. Returns the
 * shared exponent E (0xFF for a NaN block: mu and codes 0). Under
 * NONFINITE_SATURATE, E comes from the finite values, Inf
 * saturates to the largest magnitude and NaN gives +max. */
MXB_HD uint8_t mxb_bdr_quantize_block(const float *x, int n, int m, mxb_nonfinite_t policy, uint8_t *mu,
                                      uint8_t *codes) {
  int e[16];
  int E = 0, bad = 0;
  for (int i = 0; i < 16; i++) {
    uint32_t a = i < n ? mxb_f2u(x[i]) & MXB_F32_ABS : 0u;
    e[i] = (int)(a >> 23);
    if (e[i] == 255) { /* non-finite: flags the block, never sets E */
      bad = 1;
      e[i] = 0;
    }
    E = e[i] > E ? e[i] : E;
  }
  *mu = 0;
  if (bad && policy == MXB_NONFINITE_NAN_BLOCK) {
    for (int j = 0; j < n; j++) codes[j] = 0;
    return 0xFF;
  }
  uint32_t maxm = (1u << m) - 1u;
  for (int j = 0; j < 8; j++) {
    int mj = (e[2 * j] > e[2 * j + 1] ? e[2 * j] : e[2 * j + 1]) < E;
    *mu |= (uint8_t)(mj << j);
    int q = E - 127 - mj + 1 - m; /* s_j = 2^q */
    for (int i = 2 * j; i < 2 * j + 2 && i < n; i++) {
      uint32_t u = mxb_f2u(x[i]), a = u & MXB_F32_ABS;
      uint32_t M = a > MXB_F32_INF ? maxm : mxb_round_scaled(a, q, 0);
      if (M > maxm) M = maxm;
      codes[i] = (uint8_t)(((a > MXB_F32_INF ? 0u : u >> 31) << m) | M);
    }
  }
  return (uint8_t)E;
}
/* The same for a whole block of 16 values, specialised for the common case:
 * every value finite and the block's largest exponent field E >= m + 1, so
 * that each pair's 2^-q is a normal fp32 number. Then M = rint(|x| * 2^-q):
 * the product is exact wherever it is a normal number (a power-of-two
 * scaling) and below 2^(m+2); where it is subnormal it is below 0.5 and
 * rounds to 0, as |x| / 2^q does; rint is one fp32 add of 2^23 (RNE at the
 * unit place). Equal to mxb_bdr_quantize_block there
 * (tests/test_codec_special.c compares them); returns 0, writing nothing, elsewhere. Codes come packed
 * as the row stores them (code i at bits i*(m+1), little-endian words). */
MXB_HD int mxb_bdr_encode_finite(const float *x, int m, uint8_t *E_out, uint8_t *mu_out, uint32_t *words) {
  uint32_t mx = 0;
  for (int i = 0; i < 16; i++) {
    const uint32_t a = mxb_f2u(x[i]) & MXB_F32_ABS;
    mx = a > mx ? a : mx;
  }
  const uint32_t E = mx >> 23;
  if (E >= 255u || E < (uint32_t)m + 1u) return 0;
  const int bits = m + 1;
  const uint32_t maxm = (1u << m) - 1u;
  uint32_t mu = 0;
  for (int k = 0; k < (16 * bits + 31) / 32; k++) words[k] = 0;
  for (int j = 0; j < 8; j++) {
    const uint32_t a0 = mxb_f2u(x[2 * j]) & MXB_F32_ABS, a1 = mxb_f2u(x[2 * j + 1]) & MXB_F32_ABS;
    const uint32_t pm = a0 > a1 ? a0 : a1;
    const uint32_t mj = (pm >> 23) < E;
    mu |= mj << j;
    const float s = mxb_u2f((253u + (uint32_t)m + mj - E) << 23); /* 2^-q, q = E - 127 - mj + 1 - m */
    for (int i = 2 * j; i < 2 * j + 2; i++) {
      const float y = fabsf(x[i]) * s;
      uint32_t M = mxb_f2u(y + 0x1p23f) - 0x4B000000u;
      M = M < maxm ? M : maxm;
      const uint32_t c = (mxb_f2u(x[i]) >> 31) << m | M;
      const int bit = i * bits;
      words[bit / 32] |= c << (bit % 32);
      if (bit % 32 + bits > 32) words[bit / 32 + 1] |= c >> (32 - bit % 32);
    }
  }
  *E_out = (uint8_t)E;
  *mu_out = (uint8_t)mu;
  return 1;
}
/* Exact value sign * M * 2^q as a double (NaN for E = 0xFF). */
MXB_HD double mxb_bdr_decode(uint8_t code, int i, int m, uint8_t E, uint8_t mu) {
  if (E == 0xFF) return (double)mxb_u2f(MXB_F32_QNAN);
  int q = (int)E - 127 - ((mu >> (i >> 1)) & 1) + 1 - m;
  double v = (double)(code & ((1u << m) - 1u)) * (double)mxb_pow2f(q); /* q >= -134 */
  return (code >> m) & 1u ? -v : v;
}

/* ---- FP8 with fp32 scales (NUMERICS 4.4) -------------------------------- */
/* scale = max / amax from the finite amax (1 if 0 or not finite); clamped to
 * FLT_MAX when amax is so small the quotient overflows; optionally rounded
 * down to a power of two. */
MXB_HD float mxb_fp8_scale(uint32_t amax_bits, const mxb_fp *p, int pow2) {
  float amax = mxb_u2f(amax_bits);
  float s = (amax_bits == 0 || mxb_nonfinite_bits(amax_bits)) ? 1.0f : mxb_min_pos(p->maxval / amax, MXB_FLT_MAX);
  if (pow2) s = mxb_u2f(mxb_f2u(s) & 0xFF800000u);
  return s;
}
/* Stores partition k's scale_inv = 1 / scale. UE8M0: 1 / scale is a power
 * of two in 2^-127 .. 2^120, so its fp32 exponent field is the E8M0 byte
 * (2^-127, a subnormal, has field 0, which E8M0 reads as 2^-127). */
MXB_HD void mxb_fp8_scale_inv_store(void *scales, int scale_type, int64_t k, float scale) {
  float si = 1.0f / scale;
  if (scale_type == MXB_SCALE_UE8M0) ((uint8_t *)scales)[k] = (uint8_t)(mxb_f2u(si) >> 23);
  else ((float *)scales)[k] = si;
}
/* Partition k's scale_inv (UE8M0: 2^(b - 127); byte 0xFF, which no
 * quantizer writes, reads as NaN). */
MXB_HD float mxb_fp8_scale_inv_load(const void *scales, int scale_type, int64_t k) {
  return scale_type == MXB_SCALE_UE8M0 ? mxb_e8m0_decode(((const uint8_t *)scales)[k]) : ((const float *)scales)[k];
}
/* The largest magnitude code of a block with this scale: its codes times
 * the stored scale_inv = 1 / scale stay finite (mxb_fp_finite_cap). */
MXB_HD uint32_t mxb_fp8_cap(const mxb_fp *p, float scale) { return mxb_fp_finite_cap(p, 1.0f / scale); }
/* cap: mxb_fp8_cap of the block. Non-finite values are kept element by
 * element: NaN -> NaN code, Inf -> E5M2 +-Inf or E4M3 NaN. */
MXB_HD uint8_t mxb_fp8_encode_scaled(const mxb_fp *p, float x, float scale, uint32_t cap, int r) {
  uint32_t u = mxb_f2u(x), a = u & MXB_F32_ABS;
  if (a == MXB_F32_INF && p->inf_code >= 0) return (uint8_t)mxb_fp_pack(p, (uint32_t)p->inf_code, u >> 31);
  if (a >= MXB_F32_INF) return (uint8_t)mxb_fp_nan(p);
  return (uint8_t)mxb_fp_cap(p, mxb_fp_encode(p, x * scale, r), cap);
}

#endif
