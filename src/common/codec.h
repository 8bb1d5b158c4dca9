/* Element codecs (NUMERICS 1, 2, 4.2 scale bytes, 4.5), shared verbatim by
 * the CPU reference and the CUDA kernels.
 *
 * Every minifloat (E2M1, E2M3, E3M2, E4M3, E5M2, FP16) and the MXINT8 fixed
 * point are one parameter set (mxb_fp) derived from the element table; one
 * decoder and one rounding core serve them all. Rounding is integer bit
 * manipulation on the fp32 bits: exact by construction, identical on host
 * and device. The floating-point operations used (the fmaf of SR, the adds
 * and min of the E2M1 encoders) are single IEEE operations, correctly
 * rounded on both (SR's fmaf adds an exact product: a multiply and an add
 * on the host, the same bits). */
#ifndef MXB_COMMON_CODEC_H
#define MXB_COMMON_CODEC_H
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "common/format_table.h"
#include "common/hd.h"

#define MXB_F32_ABS 0x7FFFFFFFu
#define MXB_F32_INF 0x7F800000u
#define MXB_F32_QNAN 0x7FC00000u
#define MXB_FLT_MAX 3.40282346638528859812e+38F

/* ---- bit casts ---------------------------------------------------------- */
MXB_HD uint32_t mxb_f2u(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
#endif
}
MXB_HD float mxb_u2f(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  memcpy(&f, &u, 4);
  return f;
#endif
}
/* fminf(a, b) for a >= +0 or NaN and b > 0 (b for NaN a), the clamps of
 * the encoders and scale rules. On the host an unsigned minimum of the bits
 * (ordered as the numbers there, NaNs above b): compilers otherwise call
 * libm's fminf for its NaN rule, or turn a compare into a branch that random
 * data mispredicts. fminf on the device (one instruction). */
MXB_HD float mxb_min_pos(float a, float b) {
#ifdef __CUDA_ARCH__
  return fminf(a, b);
#else
  const uint32_t ua = mxb_f2u(a), ub = mxb_f2u(b);
  return mxb_u2f(ua < ub ? ua : ub);
#endif
}

/* 2^e built from bits, exact for -149 <= e <= 127. */
MXB_HD float mxb_pow2f(int e) {
  return e >= -126 ? mxb_u2f((uint32_t)(e + 127) << 23) : mxb_u2f(1u << (e + 149));
}
MXB_HD int mxb_nonfinite_bits(uint32_t u) { return (u & MXB_F32_INF) == MXB_F32_INF; }
/* Any NaN becomes the positive quiet NaN 0x7FC00000. Arithmetic NaN results
 * differ in sign and payload between x86 (operand propagated, 0xFFC00000 for
 * an invalid operation) and the GPU (0x7FFFFFFF); every fp32 result whose
 * bits reach an output goes through this so all backends write the same
 * bytes. */
MXB_HD float mxb_canon_nan(float x) { return x != x ? mxb_u2f(MXB_F32_QNAN) : x; }
/* Unbiased exponent of |x| bits, fp32 subnormals counted as 2^-126 binade. */
MXB_HD int mxb_exp_of(uint32_t ax) {
  uint32_t eb = ax >> 23;
  return (eb ? (int)eb : 1) - 127;
}

/* ---- the rounding core -------------------------------------------------- */
/* |x| / 2^q rounded to an integer: RNE, or toward zero when trunc (SR's
 * floor). ax = finite |x| bits (Inf saturates). Large results saturate at
 * 2^30 or more; callers clamp to their own maximum. */
MXB_HD uint32_t mxb_round_scaled(uint32_t ax, int q, int trunc) {
  uint32_t eb = ax >> 23;
  uint32_t sig = (ax & 0x7FFFFFu) | (eb ? 0x800000u : 0u);
  int shift = 23 + q - mxb_exp_of(ax); /* |x| / 2^q = sig / 2^shift */
  if (shift <= 0) return -shift >= 7 ? 0x7FFFFFFFu : sig << -shift;
  shift = shift > 31 ? 31 : shift; /* from 25 on the result is 0 anyway: no branch */
  /* RNE: add half - 1, plus 1 when the kept lsb is odd (no overflow: sig < 2^24) */
  uint32_t add = trunc ? 0u : (1u << (shift - 1)) - 1u + ((sig >> shift) & 1u);
  return (sig + add) >> shift;
}

/* ---- element parameters ------------------------------------------------- */
typedef struct mxb_fp {
  int ebits, mbits;
  int emin;          /* exponent of the smallest normal (1 - bias); 0 for fixed point */
  int emax;          /* exponent of the largest finite value */
  int twos;          /* MXINT8: two's complement q * 2^-mbits */
  uint32_t sign;     /* sign bit of a code */
  uint32_t maxcode;  /* magnitude code of the largest finite value */
  int nan_code;      /* code produced for NaN, -1 if the format has none */
  int inf_code;      /* magnitude code of Inf, -1 if none */
  float maxval;
} mxb_fp;

/* Derive everything from (ebits, mbits, bias, max): the reserved codes above
 * max are NaN only (E4M3 "fn") or IEEE Inf/NaN (E5M2, FP16) when the whole
 * top exponent is reserved. ebits == 0 is MXINT8's fixed point. */
MXB_HD mxb_fp mxb_fp_make(int ebits, int mbits, int bias, float maxval) {
  mxb_fp p;
  uint32_t mu = mxb_f2u(maxval);
  p.ebits = ebits;
  p.mbits = mbits;
  p.twos = ebits == 0;
  p.emin = ebits ? 1 - bias : 0;
  p.emax = (int)(mu >> 23) - 127;
  p.maxval = maxval;
  p.nan_code = -1;
  p.inf_code = -1;
  if (p.twos) {
    p.sign = 0x80u;
    p.maxcode = (uint32_t)(maxval * (float)(1 << mbits));
    return p;
  }
  p.sign = 1u << (ebits + mbits);
  p.maxcode = ((uint32_t)(p.emax - p.emin + 1) << mbits) | ((mu >> (23 - mbits)) & ((1u << mbits) - 1u));
  uint32_t top = ((1u << ebits) - 1u) << mbits;
  if (p.maxcode < top) {
    p.inf_code = (int)top;
    p.nan_code = (int)(p.sign - 1u);
  } else if (p.maxcode < p.sign - 1u) {
    p.nan_code = (int)(p.sign - 1u);
  }
  return p;
}
/* The parameters of element encoding e, from the row of the element table
 * (src/common/format_table.h); constant-folded where e is a constant.
 * MXB_ELEM_MIXED is no encoding of its own: MoR's FP8 partitions are E4M3. */
#define MXB_ELEM_FP_(id, name, bits, eb, mb, bias, emax, max) \
  case MXB_ELEM_##id: return mxb_fp_make(eb, mb, bias, (float)(max));
MXB_HD mxb_fp mxb_elem_fp(int e) {
  switch (e == MXB_ELEM_MIXED ? MXB_ELEM_E4M3 : e) {
    MXB_ELEM_TABLE(MXB_ELEM_FP_)
    default: return mxb_fp_make(8, 23, 127, MXB_FLT_MAX);
  }
}
#undef MXB_ELEM_FP_
MXB_HD mxb_fp mxb_fp_fp16(void) { return mxb_fp_make(5, 10, 15, 65504.0f); }

/* ---- decode ------------------------------------------------------------- */
MXB_HD float mxb_fp_decode(const mxb_fp *p, uint32_t code) {
  if (p->twos) return (float)(int8_t)(uint8_t)code * mxb_pow2f(-p->mbits);
  uint32_t mag = code & (p->sign - 1u);
  float v;
  if (mag > p->maxcode) {
    v = (p->inf_code >= 0 && mag == (uint32_t)p->inf_code) ? mxb_u2f(MXB_F32_INF) : mxb_u2f(MXB_F32_QNAN);
  } else {
    uint32_t e = mag >> p->mbits, m = mag & ((1u << p->mbits) - 1u);
    v = e ? (float)((1u << p->mbits) | m) * mxb_pow2f((int)e - 1 + p->emin - p->mbits)
          : (float)m * mxb_pow2f(p->emin - p->mbits);
  }
  return (code & p->sign) ? -v : v;
}

/* ---- encode ------------------------------------------------------------- */
/* Magnitude code of finite |x| (or Inf), before saturation. */
/* Binade of |x| in F above its smallest normal: max(e - emin, 0), 0 for
 * fixed point. Branch-free: the sign of random data is unpredictable. */
MXB_HD int mxb_fp_binade(const mxb_fp *p, uint32_t ax) {
  int d = p->ebits ? mxb_exp_of(ax) - p->emin : 0;
  return d & ~(d >> 31);
}
MXB_HD uint32_t mxb_fp_mag_unclamped(const mxb_fp *p, uint32_t ax, int trunc) {
  int d = mxb_fp_binade(p, ax);
  if (d > (1 << p->ebits)) return p->maxcode + 1u; /* far above the range */
  return ((uint32_t)d << p->mbits) + mxb_round_scaled(ax, p->emin + d - p->mbits, trunc);
}
MXB_HD uint32_t mxb_fp_pack(const mxb_fp *p, uint32_t mag, uint32_t neg) {
  if (p->twos) return neg ? (uint32_t)(-(int32_t)mag) & 0xFFu : mag;
  return neg ? (mag | p->sign) : mag;
}
/* NaN: the format's NaN code, else +max (NUMERICS 2.3 saturate). */
MXB_HD uint32_t mxb_fp_nan(const mxb_fp *p) {
  return p->nan_code >= 0 ? (uint32_t)p->nan_code : p->maxcode;
}
/* RNE with saturation to +-max (NUMERICS 2.1); the sign of zero is kept.
 * The generic path, for every element type; mxb_fp_encode_rne below picks a
 * specialised equivalent for the hot ones. */
MXB_HD uint32_t mxb_fp_encode_rne_generic(const mxb_fp *p, float x) {
  uint32_t u = mxb_f2u(x), ax = u & MXB_F32_ABS;
  if (ax > MXB_F32_INF) return mxb_fp_nan(p);
  uint32_t mag = mxb_fp_mag_unclamped(p, ax, 0);
  return mxb_fp_pack(p, mag > p->maxcode ? p->maxcode : mag, u >> 31);
}
/* Grid spacing of the format at |x| bits (the ulp of its binade in F). */
MXB_HD float mxb_fp_step(const mxb_fp *p, uint32_t ax) {
  int ee = p->emin + mxb_fp_binade(p, ax);
  if (ee > 127) ee = 127;
  return mxb_pow2f(ee - p->mbits);
}
/* a * b + c rounded once, where the product a * b is exact in fp32 (the SR
 * encoders' r/256 times a power of two): fmaf on the device (one
 * instruction); on the host a multiply and an add, the same value and
 * rounding without a call to libm's fmaf, which hosts whose baseline has no
 * FMA instruction (x86-64) make for every element. */
MXB_HD float mxb_fma_exact_product(float a, float b, float c) {
#ifdef __CUDA_ARCH__
  return fmaf(a, b, c);
#else
  const float ab = a * b;
  return ab + c;
#endif
}
/* Stochastic rounding with random byte r (NUMERICS 2.2):
 * t = fmaf(r/256, step(a), a), then truncate t to the grid at t, saturate.
 * r/256 * step is exact (8 bits times a power of two of at least 2^-16). */
MXB_HD uint32_t mxb_fp_encode_sr_generic(const mxb_fp *p, float x, uint32_t r) {
  uint32_t u = mxb_f2u(x), ax = u & MXB_F32_ABS;
  if (ax > MXB_F32_INF) return mxb_fp_nan(p);
  float a = mxb_u2f(ax);
  float t = mxb_fma_exact_product((float)r * 0.00390625f, mxb_fp_step(p, ax), a);
  uint32_t mag = mxb_fp_mag_unclamped(p, mxb_f2u(t), 1);
  return mxb_fp_pack(p, mag > p->maxcode ? p->maxcode : mag, u >> 31);
}
/* ---- specialised encoders (same bits as the generic ones) -------------- */
/* The value of an E2M1 code (bits 0-3), as mxb_fp_decode gives it, without
 * its branches: magnitude codes 2..7 are the normals (2 + m) 2^(e - 2), fp32
 * bits ((e + 126) << 23) | m << 22 for e = code >> 1, m = code & 1; code 1
 * (0.5) is the e = 0 pattern without m, code 0 is zero. */
MXB_HD float mxb_e2m1_decode(uint32_t code) {
  const uint32_t mag = code & 7u, e = mag >> 1;
  const uint32_t u = mag ? ((e + 126u) << 23) | ((mag & (e ? 1u : 0u)) << 22) : 0u;
  return mxb_u2f(u | (code & 8u) << 28);
}
/* E2M1 RNE, the ladder of NUMERICS 2.1 computed by the fp32 adder. The
 * rounding addend of a = min(|x|, 6) (not NaN): M = 2^(E + 22), E =
 * max(binade of a, 0), whose ulp is the E2M1 step at a, so a + M rounds a
 * to the grid (ties to even code) and the bits of a + M count the steps
 * above M. M = max(e + 22 binades, 2^22) for a's exponent bits e: one
 * add-and-max instruction on the device. Shared by the per-element encoders
 * below and the device's word encoder (quantize.cuh). */
MXB_HD uint32_t mxb_e2m1_rne_magic(float a) {
  uint32_t e = mxb_f2u(a) & MXB_F32_INF;
#ifdef __CUDA_ARCH__
  return __viaddmax_u32(e, 22u << 23, 0x4A800000u);
#else
  return (e > 0x3F800000u ? e : 0x3F800000u) + (22u << 23);
#endif
}
/* The code of x, known not to be NaN (clamping at 6, the largest value,
 * saturates Inf and needs no final min); *grid gets the code's magnitude,
 * |mxb_e2m1_decode(code)|, which the sum a + m holds (a rounded to the
 * grid; Four Over Six's error terms take it from there instead of decoding
 * the code). */
MXB_HD uint32_t mxb_e2m1_encode_rne_nonnan_grid(float x, float *grid) {
  uint32_t u = mxb_f2u(x);
  float a = mxb_min_pos(fabsf(x), 6.0f); /* |x| as an operand of the min on the device */
  uint32_t m = mxb_e2m1_rne_magic(a);
  float t = a + mxb_u2f(m);
  *grid = t - mxb_u2f(m); /* exact: t and m share a binade */
  return (mxb_f2u(t) - m + ((m - 0x4A800000u) >> 22)) | ((u >> 28) & 0x8u);
}
MXB_HD uint32_t mxb_e2m1_encode_rne_nonnan(float x) {
  float grid;
  return mxb_e2m1_encode_rne_nonnan_grid(x, &grid);
}
/* E2M1 RNE (NUMERICS 2.1) of any x: NaN gives +max (0x7). Proven equal to
 * the generic encoder over all 2^32 fp32 inputs. */
MXB_HD uint32_t mxb_e2m1_encode_rne(float x) {
  const uint32_t c = mxb_e2m1_encode_rne_nonnan(x); /* both sides computed: a select, not a branch */
  return (mxb_f2u(x) & MXB_F32_ABS) > MXB_F32_INF ? 0x7u : c;
}
/* E2M1 SR (NUMERICS 2.2): step = 2^(e-1) with e = binade of |x| clamped to
 * >= 0 (0.5, 1, 2 for |x| < 8; from 8 on, t >= 8 saturates whatever the
 * step, so no upper clamp), written as fmaf(r/512, 2^e, a) (the same exact
 * product as r/256 * step: eight bits times a power of two; +Inf gives NaN
 * or +Inf, either saturates); r/512 comes from the bits of 1 + r/512. t is
 * then truncated to the grid: for t >= 1 the top exponent and mantissa bits
 * are the code (+252), on [0.5, 1) the code is 1, below 0; the three as one
 * max (t's exponent - 125 gives 1 on [0.5, 1) and at most the code above).
 * t is clamped at 6 first, which saturates. */
/* r/512 from bits whose 14..21 hold the random byte r (the others are
 * ignored): a caller with r in a byte of a wider word shifts the word
 * instead of extracting the byte. On the device the mask and the exponent
 * of 1.0f are one LOP3 (the compiler would keep two immediates apart). */
MXB_HD float mxb_sr_r512(uint32_t rb14) {
#ifdef __CUDA_ARCH__
  uint32_t b;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(b) : "r"(rb14), "n"(0x3FC000), "r"(0x3F800000u));
  return __uint_as_float(b) - 1.0f;
#else
  return mxb_u2f((rb14 & 0x3FC000u) | 0x3F800000u) - 1.0f;
#endif
}
/* x known not to be NaN (Inf saturates), the byte in bits 14..21 of rb14. */
MXB_HD uint32_t mxb_e2m1_encode_sr_nonnan_rb14(float x, uint32_t rb14) {
  uint32_t u = mxb_f2u(x);
  uint32_t e = u & MXB_F32_INF;
  e = e < 0x3F800000u ? 0x3F800000u : e;
  float t = mxb_min_pos(mxb_fma_exact_product(mxb_sr_r512(rb14), mxb_u2f(e), fabsf(x)), 6.0f); /* |x|: an operand modifier */
  uint32_t b = mxb_f2u(t);
  int c = (int)(b >> 22) - 252, c1 = (int)(b >> 23) - 125;
  c = c > c1 ? c : c1;
  c = c > 0 ? c : 0;
  return (uint32_t)c | ((u >> 28) & 0x8u);
}
MXB_HD uint32_t mxb_e2m1_encode_sr_nonnan(float x, uint32_t r) { return mxb_e2m1_encode_sr_nonnan_rb14(x, r << 14); }
/* Any x: NaN gives +max (0x7). */
MXB_HD uint32_t mxb_e2m1_encode_sr(float x, uint32_t r) {
  const uint32_t c = mxb_e2m1_encode_sr_nonnan(x, r);
  return (mxb_f2u(x) & MXB_F32_ABS) > MXB_F32_INF ? 0x7u : c;
}
/* RNE satfinite for every minifloat (ebits > 0; not MXINT8), the ladder of
 * mxb_e2m1_encode_rne in general and without a branch (integer min/max
 * and one fp32 add): a = min(|x|, max) (mxb_min_pos: on the host taken on the
 * bits, whose order is the order of the non-negative floats), e = its binade clamped to >= emin, and
 * M = 2^(e + 23 - mbits), whose ulp is the element step there; a + M rounds
 * a to the grid (ties to the even step count, whose parity is the code's)
 * and its bits count the steps above M, plus 2^mbits per binade above emin.
 * NaN gives the NaN code (+max where the format has none). Same bits as the
 * generic encoder (tests/test_codec_special.c). */
MXB_HD uint32_t mxb_fp_encode_rne_minifloat_nonnan(const mxb_fp *p, float x) { /* x not NaN */
  uint32_t u = mxb_f2u(x);
  uint32_t ab = mxb_f2u(mxb_min_pos(fabsf(x), p->maxval)); /* |x| as an operand of the min on the device */
  uint32_t e0 = (uint32_t)(127 + p->emin) << 23, e = ab & MXB_F32_INF;
  e = e > e0 ? e : e0;
  uint32_t m = e + ((uint32_t)(23 - p->mbits) << 23);
  uint32_t c = mxb_f2u(mxb_u2f(ab) + mxb_u2f(m)) - m + ((e - e0) >> (23 - p->mbits));
  return c | (p->sign & (0u - (u >> 31)));
}
MXB_HD uint32_t mxb_fp_encode_rne_minifloat(const mxb_fp *p, float x) {
  return (mxb_f2u(x) & MXB_F32_ABS) > MXB_F32_INF ? mxb_fp_nan(p) : mxb_fp_encode_rne_minifloat_nonnan(p, x);
}
/* E4M3 and E5M2 RNE satfinite (elem: MXB_ELEM_E4M3 or MXB_ELEM_E5M2). On
 * sm_89+ devices the hardware conversion: it saturates (Inf too) to the
 * largest finite value and keeps the sign of zero, the generic encoder's
 * bits exactly (proven over all 2^32 inputs by the GPU suite); NaN of either
 * sign is mapped to 0x7F before it. Pre-sm_89 devices keep the generic
 * integer path, the host the branch-free minifloat encoder. */
MXB_HD uint32_t mxb_fp8_encode_rne(float x, int elem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  if ((mxb_f2u(x) & MXB_F32_ABS) > MXB_F32_INF) return 0x7Fu; /* NaN of either sign */
  unsigned short h;
  if (elem == MXB_ELEM_E5M2) asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(h) : "f"(0.0f), "f"(x));
  else asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(h) : "f"(0.0f), "f"(x));
  return (uint32_t)(h & 0xFFu);
#else
  mxb_fp p = mxb_elem_fp(elem);
#ifdef __CUDA_ARCH__
  return mxb_fp_encode_rne_generic(&p, x);
#else
  return mxb_fp_encode_rne_minifloat(&p, x);
#endif
#endif
}
MXB_HD uint32_t mxb_e4m3_encode_rne(float x) { return mxb_fp8_encode_rne(x, MXB_ELEM_E4M3); }
MXB_HD uint32_t mxb_e5m2_encode_rne(float x) { return mxb_fp8_encode_rne(x, MXB_ELEM_E5M2); }
/* MXINT8 RNE (two's complement q * 2^-6, |q| <= 127, the sign of zero
 * dropped): q = |x| * 64 rounded by the fp32 adder at 1.5 * 2^23, whose ulp
 * is 1 (|x| * 64 is exact; above 2^22 the sum is clamped anyway), then
 * clamped to 127 and negated for negative x. NaN gives +max (127). Same bits
 * as the generic encoder (tests/test_codec_special.c; all 2^32 inputs on
 * the GPU). */
MXB_HD uint32_t mxb_int8_encode_rne_nonnan(float x) { /* x not NaN */
  float a = mxb_min_pos(fabsf(x), 4.0f) * 64.0f; /* <= 256: the sum below stays in [2^23 * 1.5, 2^24) */
  uint32_t q = mxb_f2u(a + 12582912.0f) - 0x4B400000u;
  q = q < 127u ? q : 127u;
  return (mxb_f2u(x) >> 31 ? 0u - q : q) & 0xFFu;
}
MXB_HD uint32_t mxb_int8_encode_rne(float x) {
  return (mxb_f2u(x) & MXB_F32_ABS) > MXB_F32_INF ? 127u : mxb_int8_encode_rne_nonnan(x);
}
/* Which specialised encoder serves p (0: the generic one). Constant-folded
 * wherever p is a compile-time constant, as in the CUDA kernels. */
#define MXB_SPEC_E2M1 1
#define MXB_SPEC_E4M3 2
#define MXB_SPEC_E5M2 3
#define MXB_SPEC_INT8 4
MXB_HD int mxb_fp_special(const mxb_fp *p) {
  if (p->ebits == 2 && p->mbits == 1) return MXB_SPEC_E2M1;
  if (p->ebits == 4 && p->mbits == 3 && p->maxcode == 0x7Eu) return MXB_SPEC_E4M3;
  if (p->ebits == 5 && p->mbits == 2 && p->maxcode == 0x7Bu) return MXB_SPEC_E5M2;
  if (p->twos && p->mbits == 6 && p->maxcode == 127u) return MXB_SPEC_INT8;
  return 0;
}
MXB_HD uint32_t mxb_fp_encode_rne(const mxb_fp *p, float x) {
  switch (mxb_fp_special(p)) {
    case MXB_SPEC_E2M1: return mxb_e2m1_encode_rne(x);
    case MXB_SPEC_E4M3: return mxb_e4m3_encode_rne(x);
    case MXB_SPEC_E5M2: return mxb_e5m2_encode_rne(x);
    case MXB_SPEC_INT8: return mxb_int8_encode_rne(x);
    default:
#ifndef __CUDA_ARCH__
      if (p->ebits && !p->twos) return mxb_fp_encode_rne_minifloat(p, x);
#endif
      return mxb_fp_encode_rne_generic(p, x);
  }
}
MXB_HD uint32_t mxb_fp_encode_sr(const mxb_fp *p, float x, uint32_t r) {
  return mxb_fp_special(p) == MXB_SPEC_E2M1 ? mxb_e2m1_encode_sr(x, r) : mxb_fp_encode_sr_generic(p, x, r);
}

/* r < 0 selects RNE, else SR with byte r. */
MXB_HD uint32_t mxb_fp_encode(const mxb_fp *p, float x, int r) {
  return r < 0 ? mxb_fp_encode_rne(p, x) : mxb_fp_encode_sr(p, x, (uint32_t)r);
}

/* ---- saturation below 2^128 --------------------------------------------- */
/* The largest magnitude code whose value times mult (a block's or tensor's
 * decode multiplier, > 0) is finite in fp32, as dequantize multiplies them:
 * maxcode, except where mult is so large that the top of the element grid
 * decodes to 2^128 or more. Finite input then decodes to finite values:
 * what would round up past FLT_MAX saturates to the largest finite grid
 * value instead (docs/NUMERICS.md, Decisions). */
MXB_HD uint32_t mxb_fp_finite_cap(const mxb_fp *p, float mult) {
  uint32_t c = p->maxcode;
  while (c > 0 && mxb_fp_decode(p, c) * mult > MXB_FLT_MAX) c--;
  return c;
}
/* code with its magnitude limited to cap; NaN and Inf codes (above
 * maxcode) are kept. */
MXB_HD uint32_t mxb_fp_cap(const mxb_fp *p, uint32_t code, uint32_t cap) {
  if (p->twos) {
    int q = (int8_t)(uint8_t)code, c = (int)cap;
    return (uint32_t)(q > c ? c : q < -c ? -c : q) & 0xFFu;
  }
  uint32_t mag = code & (p->sign - 1u);
  return mag > cap && mag <= p->maxcode ? (code & p->sign) | cap : code;
}

/* ---- UE4M3 (NVFP4 block scale) ------------------------------------------ */
MXB_HD mxb_fp mxb_fp_e4m3(void) { return mxb_elem_fp(MXB_ELEM_E4M3); }
/* v >= 0 (or +Inf): RNE, satfinite at 448. */
MXB_HD uint8_t mxb_ue4m3_encode(float v) {
  mxb_fp p = mxb_fp_e4m3();
  return (uint8_t)(mxb_fp_encode_rne(&p, v) & 0x7Fu);
}
/* 0x7F is NaN; bytes with bit 7 set are never produced and decode to NaN.
 * On sm_89+ devices through the hardware conversion to fp16 (every E4M3
 * value is an fp16 value, and every fp16 value an fp32 one: exact). */
MXB_HD float mxb_ue4m3_decode(uint8_t b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  /* no branch, so that a kernel's repeated decodes of one byte fold into one */
  float r;
  asm("{ .reg .b16 lo, hi; .reg .b32 p; cvt.rn.f16x2.e4m3x2 p, %1; mov.b32 {lo, hi}, p; cvt.f32.f16 %0, lo; }"
      : "=f"(r)
      : "h"((unsigned short)b));
  return (b & 0x80u) || b == 0x7Fu ? mxb_u2f(MXB_F32_QNAN) : r;
#else
  mxb_fp p = mxb_fp_e4m3();
  return b & 0x80u ? mxb_u2f(MXB_F32_QNAN) : mxb_fp_decode(&p, b);
#endif
}

/* ---- E8M0 (MX block scale) ---------------------------------------------- */
MXB_HD float mxb_e8m0_decode(uint8_t b) {
  if (b == 255) return mxb_u2f(MXB_F32_QNAN);
  return mxb_u2f(b ? (uint32_t)b << 23 : 0x00400000u);
}
/* Scale byte from the block amax bits (finite or +Inf) by rule (NUMERICS 4.2).
 * Saturates at 0xFE; 0xFF (NaN) is the caller's business. */
MXB_HD uint8_t mxb_e8m0_scale(uint32_t amax_bits, mxb_scale_rule_t rule, const mxb_fp *p) {
  int eb = (int)(amax_bits >> 23), b;
  switch (rule) {
    case MXB_SCALE_RULE_FLOOR: b = eb - p->emax; break;
    case MXB_SCALE_RULE_CEIL: b = eb + ((amax_bits & 0x7FFFFFu) != 0) - p->emax; break;
    case MXB_SCALE_RULE_EVEN: {
      int sh = 23 - p->mbits;
      uint32_t r = amax_bits;
      if (!mxb_nonfinite_bits(r)) r += (1u << (sh - 1)) - 1u + ((r >> sh) & 1u);
      b = (int)(r >> 23) - p->emax;
      break;
    }
    default: { /* RCEIL: round amax / maxnormal up to a power of two */
      uint32_t v = mxb_f2u(mxb_u2f(amax_bits) * (1.0f / p->maxval));
      int ve = (int)(v >> 23);
      if (ve == 0) b = v > 0x00400000u ? 1 : 0;
      else b = ve + ((v & 0x7FFFFFu) != 0);
      break;
    }
  }
  return (uint8_t)(b < 0 ? 0 : b > 254 ? 254 : b);
}

/* ---- BF16, FP16 --------------------------------------------------------- */
/* RNE from fp32; NaN stays a quiet NaN with its sign (NUMERICS 4.5). */
MXB_HD uint16_t mxb_bf16_rne(float x) {
  uint32_t u = mxb_f2u(x);
  if ((u & MXB_F32_ABS) > MXB_F32_INF) return (uint16_t)((u >> 16) | 0x40u);
  return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}
/* BF16 as a storage format (the BF16 format, MoR's BF16 partitions): RNE
 * that saturates finite values beyond the largest bf16 to +-0x7F7F, as
 * every element type does (NUMERICS 2.1); +-Inf and NaN as mxb_bf16_rne.
 * Conversions to a bf16 output type (dequantize, GEMM, RHT) keep IEEE
 * overflow to Inf. */
MXB_HD uint16_t mxb_bf16_rne_satfinite(float x) {
  uint16_t h = mxb_bf16_rne(x);
  return (h & 0x7FFFu) == 0x7F80u && (mxb_f2u(x) & MXB_F32_ABS) < MXB_F32_INF ? (uint16_t)(h - 1u) : h;
}
MXB_HD float mxb_bf16_decode(uint16_t h) { return mxb_u2f((uint32_t)h << 16); }
/* IEEE binary16 RNE from fp32 (overflow to Inf, NaN kept quiet with sign). */
MXB_HD uint16_t mxb_fp16_rne(float x) {
  mxb_fp p = mxb_fp_fp16();
  uint32_t u = mxb_f2u(x), ax = u & MXB_F32_ABS, s = (u >> 16) & 0x8000u;
  if (ax > MXB_F32_INF) return (uint16_t)(s | 0x7E00u);
  uint32_t mag = mxb_fp_mag_unclamped(&p, ax, 0);
  return (uint16_t)(s | (mag > p.maxcode ? 0x7C00u : mag));
}
MXB_HD float mxb_fp16_decode(uint16_t h) {
  mxb_fp p = mxb_fp_fp16();
  return mxb_fp_decode(&p, h);
}

#endif
