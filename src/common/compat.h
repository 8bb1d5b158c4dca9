/* Compatibility profiles (docs/COMPAT.md): other libraries' quantizers block
 * by block, shared verbatim by the CPU reference and the CUDA kernel of
 * src/cuda/quantize_compat.cu. Each follows that library's own reference
 * code, in its order of operations, quirks included; the sources are named
 * at each function. Nothing here is on the path of the default profile. */
#ifndef MXB_COMMON_COMPAT_H
#define MXB_COMMON_COMPAT_H
#include "common/block.h"

/* ---- fp32 NaN bits as an x86 CPU makes them --------------------------------
 * torchao's codes for NaN depend on the NaN's bits (its FP4/FP6 cast is bit
 * arithmetic with no NaN case), and its reference runs on x86, where an
 * operation with a NaN operand returns the first NaN operand made quiet and an
 * invalid operation (0 * Inf, Inf / Inf, 0 / 0) the default NaN 0xFFC00000.
 * The GPU's NaN results differ (0x7FFFFFFF), so the profile spells them out. */
MXB_HD int mxb_isnan_bits(uint32_t u) { return (u & MXB_F32_ABS) > MXB_F32_INF; }
MXB_HD float mxb_x86_nan(float a, float b) {
  const uint32_t ua = mxb_f2u(a), ub = mxb_f2u(b);
  return mxb_u2f(mxb_isnan_bits(ua) ? ua | 0x00400000u : mxb_isnan_bits(ub) ? ub | 0x00400000u : 0xFFC00000u);
}
MXB_HD float mxb_x86_mul(float a, float b) {
  const float r = a * b;
  return r != r ? mxb_x86_nan(a, b) : r;
}
MXB_HD float mxb_x86_div(float a, float b) {
  const float r = a / b;
  return r != r ? mxb_x86_nan(a, b) : r;
}
/* torch.clamp(x, lo, hi): NaN stays NaN (with its bits). */
MXB_HD float mxb_clampf_nan(float x, float lo, float hi) { return x != x ? x : x < lo ? lo : x > hi ? hi : x; }

/* ---- Transformer Engine -------------------------------------------------- */
/* NVFP4, transformer_engine/pytorch/custom_recipes/reference_nvfp4.py
 * (_quantize_blockwise_reference), 1x16 blocks, RNE. The tensor amax is
 * torch.max(|x|) (a NaN anywhere makes it NaN, Inf counts); S_enc = min(2688
 * / A, FLT_MAX) with NaN kept, 1 where it is 0 (A = Inf); A = 0 gives FLT_MAX. */
MXB_HD void mxb_te_nvfp4_tensor(float A, float k, float *S_enc, float *S_dec) {
  float s = k / A; /* k = 6 * the E4M3 bound: 2688, or 1536 (its Four Over Six with 256) */
  s = s > MXB_FLT_MAX ? MXB_FLT_MAX : s; /* torch.min keeps NaN */
  if (s == 0.0f) s = 1.0f;
  *S_enc = s;
  *S_dec = 1.0f / s;
}
/* TE's element code: E2M1 RNE of clamp(x * enc, -6, 6), -0.0 and NaN code 0. */
MXB_HD uint8_t mxb_te_e2m1(float x, float enc) {
  const mxb_fp e2 = mxb_elem_fp(MXB_ELEM_E2M1);
  const float y = mxb_clampf_nan(x * enc, -6.0f, 6.0f);
  return y != y || y == 0.0f ? 0 : (uint8_t)mxb_fp_encode_rne(&e2, y);
}
/* A block's scale byte for the fp32 scale s, and its codes: e4m3(clamp(s,
 * -448, 448)), a NaN giving 0x7F; enc = min(1 / (s_b * S_dec), FLT_MAX), NaN
 * kept; codes mxb_te_e2m1 (-0.0 and NaN code 0: TE's threshold table has no
 * -0.0 below -0.0, and a NaN passes no test). */
MXB_HD uint8_t mxb_te_scale_codes(const float *x, int n, float s, float S_dec, uint8_t *codes) {
  const mxb_fp e4 = mxb_elem_fp(MXB_ELEM_E4M3);
  s = mxb_clampf_nan(s, -448.0f, 448.0f);
  const uint8_t sb = s != s ? 0x7F : (uint8_t)mxb_fp_encode_rne(&e4, s);
  float enc = 1.0f / (mxb_fp_decode(&e4, sb) * S_dec);
  enc = enc > MXB_FLT_MAX ? MXB_FLT_MAX : enc;
  for (int j = 0; j < n; j++) codes[j] = mxb_te_e2m1(x[j], enc);
  return sb;
}
/* One block of n <= 16 values (or a 16x16 tile's row: TE's quant_tile_shape
 * (16, 16)) whose amax is given as |x| bits, NaN bits kept: the scale
 * amax * (S_enc * (1/6)) (TE's min with FLT_MAX before the clamp changes
 * nothing). */
MXB_HD uint8_t mxb_te_nvfp4_block_amax(const float *x, int n, uint32_t ab, float S_enc, float S_dec, uint8_t *codes) {
  return mxb_te_scale_codes(x, n, mxb_u2f(ab) * (S_enc * (1.0f / 6.0f)), S_dec, codes);
}
/* TE's Four Over Six (_quantize_blockwise_4over6_reference, default error
 * path), one candidate of a block (or of a 16x16 tile's row) with amax bits
 * ab: m = 0 maps the amax to 4, scale (amax / 6) * S_enc * 1.5, m = 1 to 6,
 * (amax / 6) * S_enc; *err its error summed in fp32 over j ascending,
 * |v_j - x_j| (MAE) or (v_j - x_j)^2 (MSE) with v_j = ((e2m1(c_j) * s) * A)
 * / k, A the (row's) amax, k = 6 * the bound. Returns the scale byte. */
MXB_HD uint8_t mxb_te_4over6_candidate(const float *x, int n, uint32_t ab, float A, float k, float S_enc,
                                       float S_dec, int mse, int m, uint8_t *codes, float *err) {
  const mxb_fp e4 = mxb_elem_fp(MXB_ELEM_E4M3), e2 = mxb_elem_fp(MXB_ELEM_E2M1);
  const float base = (mxb_u2f(ab) / 6.0f) * S_enc;
  const uint8_t sb = mxb_te_scale_codes(x, n, m ? base : base * 1.5f, S_dec, codes);
  const float sf = mxb_fp_decode(&e4, sb);
  float e = 0.0f;
  for (int j = 0; j < n; j++) {
    const float d = ((mxb_fp_decode(&e2, codes[j]) * sf) * A) / k - x[j];
    e += mse ? d * d : fabsf(d);
  }
  *err = e;
  return sb;
}
/* A 1x16 block: the candidate with the smaller error (ties keep 6). */
MXB_HD uint8_t mxb_te_nvfp4_block_4over6(const float *x, int n, uint32_t ab, float A, float k, float S_enc,
                                         float S_dec, int mse, uint8_t *codes) {
  uint8_t c4[16];
  float e4, e6;
  const uint8_t s4 = mxb_te_4over6_candidate(x, n, ab, A, k, S_enc, S_dec, mse, 0, c4, &e4);
  const uint8_t s6 = mxb_te_4over6_candidate(x, n, ab, A, k, S_enc, S_dec, mse, 1, codes, &e6);
  if (!(e4 < e6)) return s6;
  for (int j = 0; j < n; j++) codes[j] = c4[j];
  return s4;
}
/* A 16x16 tile's error (_sum_4over6_2d_error): its 16 rows' errors (0 for
 * rows past the tensor: TE pads with zeros) summed in fp32 in the tree of
 * the CUDA warp reduction, e[r] + e[r + 8], then + 4, + 2, + 1 apart. */
MXB_HD float mxb_te_tile_error(const float *e) {
  float a[8], b[4];
  for (int r = 0; r < 8; r++) a[r] = e[r] + e[r + 8];
  for (int r = 0; r < 4; r++) b[r] = a[r] + a[r + 4];
  return (b[0] + b[2]) + (b[1] + b[3]);
}
/* torch.amax(|x|) as |x| bits, a NaN making it NaN: block.h's NaN-block
 * amax, which admits NaN bits (they lie above Inf). */
MXB_HD uint32_t mxb_abs_max_bits(const float *x, int n) {
  int nonfinite = 0;
  return mxb_block_amax_bits(x, n, MXB_AMAX_NAN_BLOCK, &nonfinite);
}

/* MXFP8, tests/cpp/operator/test_cast_mxfp8.cu compute_ref (TE has no
 * Python 1x32 reference): the block amax skips NaN (std::max with the amax
 * first) and counts Inf; the scale is RCEIL (float_to_e8m0 of amax *
 * (1/max), mxblas's arithmetic; Inf gives 0xFE); elements x * 2^(127 - b)
 * converted with satfinite RNE (NaN 0x7F, Inf the largest code), with no
 * code held below 2^128. */
MXB_HD uint8_t mxb_te_mx_block(const float *x, int n, const mxb_fp *p, uint8_t *codes) {
  int bad = 0;
  const uint8_t b = mxb_e8m0_scale(mxb_block_amax_bits(x, n, MXB_AMAX_SKIP_NAN, &bad), MXB_SCALE_RULE_RCEIL, p);
  const float mul = mxb_pow2f(127 - (int)b);
  for (int j = 0; j < n; j++) codes[j] = (uint8_t)mxb_fp_encode_rne(p, x[j] * mul);
  return b;
}

/* ---- torchao --------------------------------------------------------------- */
/* torchao/prototype/custom_fp_utils.py _f32_to_floatx_unpacked on a NaN
 * with bits u: a NaN is neither >= max nor < min_normal, so it takes the
 * normal branch (integer rounding of its bits, truncated to a byte), and its
 * sign bit is ORed in. */
MXB_HD uint8_t mxb_torchao_floatx_nan(const mxb_fp *p, uint32_t u) {
  const uint32_t sign = u & 0x80000000u;
  const int bias = (1 << (p->ebits - 1)) - 1;
  int32_t x = (int32_t)(u ^ sign);
  const int32_t odd = (x >> (23 - p->mbits)) & 1;
  x += (int32_t)((uint32_t)(bias - 127) << 23) + ((1 << (23 - p->mbits - 1)) - 1);
  x += odd;
  const uint8_t c = (uint8_t)(x >> (23 - p->mbits));
  return (uint8_t)(c | (uint8_t)((sign >> (31 - p->ebits - p->mbits)) & p->sign));
}
/* A code of torchao's casts for a NaN with bits u: FP8 through torch's cast
 * (the NaN code with the NaN's sign), FP6/FP4 through the bit cast above. */
MXB_HD uint8_t mxb_torchao_nan_code(const mxb_fp *p, uint32_t u) {
  if (p->ebits + p->mbits == 7) return (uint8_t)(0x7Fu | (u >> 31 << 7));
  return mxb_torchao_floatx_nan(p, u);
}
/* MX, torchao/prototype/mx_formats/mx_tensor.py to_mx, FLOOR (its default)
 * or RCEIL: the scale byte of mxblas's rule for a finite block amax (the
 * same arithmetic); a NaN or Inf in the block gives 0xFF, whose reciprocal
 * scale is the NaN 0x7F800001, so every element becomes 0x7FC00001 (the
 * scale's NaN comes first) and takes that NaN's code. Elements are
 * x * 2^(127 - b) in RNE; no element is held below 2^128 (FLT_MAX encodes to
 * a code that decodes to 2^128 where the rule's scale lets it round up). */
MXB_HD uint8_t mxb_torchao_mx_block(const float *x, int n, const mxb_fp *p, mxb_scale_rule_t rule, uint8_t *codes) {
  int bad = 0;
  const uint32_t amax = mxb_block_amax_bits(x, n, MXB_AMAX_NAN_BLOCK, &bad);
  if (bad) {
    for (int j = 0; j < n; j++) codes[j] = mxb_torchao_nan_code(p, 0x7FC00001u);
    return 0xFF;
  }
  const uint8_t b = mxb_e8m0_scale(amax, rule, p);
  const float mul = mxb_pow2f(127 - (int)b);
  for (int j = 0; j < n; j++) codes[j] = (uint8_t)mxb_fp_encode_rne(p, x[j] * mul);
  return b;
}
/* NVFP4, torchao/prototype/mx_formats/nvfp4_tensor.py nvfp4_quantize with
 * per_tensor_scale = A / 2688 (A = 2688: no tensor scale, pts = 1), true
 * fp32 divisions as torch's CPU kernels do them: s = amax / 6; t = s / pts;
 * the scale byte e4m3(clamp(t, 2^-6, 448)) (a floor at the smallest normal:
 * no zero or subnormal scales); r = (1 / pts) / s_b; codes E2M1 of clamp(r
 * * x, -6, 6). NaN bits flow as on x86 (mxb_x86_*), the e4m3 NaN byte
 * decoding to 0x7FF00000 with its sign. */
MXB_HD uint8_t mxb_torchao_nvfp4_block(const float *x, int n, float A, uint8_t *codes) {
  uint32_t ab = mxb_abs_max_bits(x, n);
  if (mxb_isnan_bits(ab)) ab = MXB_F32_QNAN; /* torch.amax's NaN: |x| of a NaN, quiet */
  const mxb_fp e4 = mxb_elem_fp(MXB_ELEM_E4M3), e2 = mxb_elem_fp(MXB_ELEM_E2M1);
  const float pts = mxb_x86_div(A, 2688.0f);
  const float t = mxb_clampf_nan(mxb_x86_div(mxb_x86_div(mxb_u2f(ab), 6.0f), pts), 0x1p-6f, 448.0f);
  const uint32_t tu = mxb_f2u(t);
  const uint8_t sb = t != t ? (uint8_t)(0x7Fu | (tu >> 31 << 7)) : (uint8_t)mxb_fp_encode_rne(&e4, t);
  const float sv = t != t ? mxb_u2f(0x7FF00000u | (tu & 0x80000000u)) : mxb_fp_decode(&e4, sb);
  const float r = mxb_x86_div(mxb_x86_div(1.0f, pts), sv);
  for (int j = 0; j < n; j++) {
    const float y = mxb_clampf_nan(mxb_x86_mul(r, x[j]), -6.0f, 6.0f);
    codes[j] = y != y ? mxb_torchao_floatx_nan(&e2, mxb_f2u(y)) : (uint8_t)mxb_fp_encode_rne(&e2, y);
  }
  return sb;
}

/* ---- microxcaling ---------------------------------------------------------- */
/* floor(log2(a)) as torch.log2 in fp32 gives it: log2 of a value within
 * N(k) ulps below 2^k rounds to k in fp32, so the floor is one too high
 * there (N from the fp32 spacing next to k); a = 0 is taken as 2^-126 (the
 * library adds it). Checked against torch's CPU log2 on every boundary. */
MXB_HD int mxb_mxs_floor_log2(uint32_t a) {
  const uint32_t eb = a >> 23, m = a & 0x7FFFFFu;
  if (a == 0) return -126;
  if (eb == 0) return 0x800000u - m <= 22u ? -126 : -127; /* below 2^-126 only -126 or less matters */
  const int t = (int)eb - 127, k = t + 1;
  if (m == 0) return t;
  const uint32_t n = 0x800000u - m; /* ulps below 2^k */
  int N;
  if (k > 0) N = k <= 2 ? 0 : k <= 4 ? 1 : k <= 8 ? 2 : k <= 16 ? 5 : k <= 32 ? 11 : k <= 64 ? 22 : 44;
  else N = k >= -1 ? 0 : k >= -3 ? 1 : k >= -7 ? 2 : k >= -15 ? 5 : k >= -31 ? 11 : k >= -63 ? 22 : k >= -125 ? 44 : 22;
  return n <= (uint32_t)N ? k : t;
}
/* MX, microxcaling mx/mx_ops.py _quantize_mx (block 32, scale_bits 8, "max",
 * round "nearest", no subnormal flush): e = floor(log2 amax) - emax, NaN
 * (0xFF) above 127, -127 below; a NaN or Inf in the block gives 0xFF (zero
 * codes: its outputs are all NaN). Elements v = x / 2^e, then
 * _quantize_elemwise_core: for minifloats y = |v| / 2^pe * 2^m with pe =
 * max(exponent of v, emin), r = floor(y + 0.5) in fp32 (ties away, and
 * 0.5 - 2^-25 rounds up), value r * 2^(pe - m) clamped to the largest;
 * MXINT8 r = floor(|v| * 64 + 0.5) clamped to 127. The sign is v's only
 * when v < 0: -0.0 gives +0, an element rounded to zero keeps its sign
 * (MXINT8 has no -0). */
MXB_HD uint8_t mxb_mxs_mx_block(const float *x, int n, const mxb_fp *p, uint8_t *codes) {
  int bad = 0;
  const uint32_t amax = mxb_block_amax_bits(x, n, MXB_AMAX_NAN_BLOCK, &bad);
  int e = bad ? 128 : mxb_mxs_floor_log2(amax) - p->emax;
  if (e > 127) {
    for (int j = 0; j < n; j++) codes[j] = 0;
    return 0xFF;
  }
  if (e < -127) e = -127;
  const float mul = mxb_pow2f(-e); /* x / 2^e: the same rounding, 2^-e exact */
  for (int j = 0; j < n; j++) {
    const float v = x[j] * mul;
    const uint32_t av = mxb_f2u(v) & MXB_F32_ABS;
    uint32_t mag;
    if (p->twos) {
      const float r = floorf(mxb_u2f(av) * 64.0f + 0.5f);
      mag = r > 127.0f ? 127u : (uint32_t)r;
    } else {
      int pe = mxb_exp_of(av);
      pe = pe < p->emin ? p->emin : pe;
      const float r = floorf(mxb_u2f(av) * mxb_pow2f(p->mbits - pe) + 0.5f);
      const float val = mxb_min_pos(r * mxb_pow2f(pe - p->mbits), p->maxval);
      mag = mxb_fp_encode_rne(p, val);
    }
    codes[j] = (uint8_t)mxb_fp_pack(p, mag, v < 0.0f && (!p->twos || mag != 0));
  }
  return (uint8_t)(e + 127);
}

/* ---- dispatch ------------------------------------------------------------- */
/* One MX block of profile c (not MXB_COMPAT_MXBLAS): its scale byte; codes[n]. */
MXB_HD uint8_t mxb_compat_mx_block(mxb_compat_t c, const float *x, int n, const mxb_fp *p, uint8_t *codes) {
  switch (c) {
    case MXB_COMPAT_TE: return mxb_te_mx_block(x, n, p, codes);
    case MXB_COMPAT_TORCHAO: return mxb_torchao_mx_block(x, n, p, MXB_SCALE_RULE_FLOOR, codes);
    case MXB_COMPAT_TORCHAO_RCEIL: return mxb_torchao_mx_block(x, n, p, MXB_SCALE_RULE_RCEIL, codes);
    case MXB_COMPAT_MICROXCALING: return mxb_mxs_mx_block(x, n, p, codes);
    default: /* OCP MX v1.0: the contract's arithmetic with FLOOR scales */
      return mxb_mx_quantize_block(x, n, p, MXB_SCALE_RULE_FLOOR, MXB_NONFINITE_NAN_BLOCK, NULL, codes);
  }
}
/* The NVFP4 tensor amax a profile computes: torch.max(|x|), a NaN anywhere
 * making it NaN (written as 0x7FC00000), from the largest |x| bits. */
MXB_HD float mxb_compat_amax(uint32_t max_abs_bits) {
  return mxb_isnan_bits(max_abs_bits) ? mxb_u2f(MXB_F32_QNAN) : mxb_u2f(max_abs_bits);
}
/* One NVFP4 block of profile c (TE or torchao) under tensor amax A (the
 * row's, with an amax a row); tile_amax: the 16x16 tile's |x| bits (TE's 2D
 * tiles), or UINT32_MAX for a 1x16 block's own; four_six (TE, 1x16 blocks):
 * its mxb_four_over_six_t; flags: the tensor's (its E4M3 bound). */
MXB_HD uint8_t mxb_compat_nvfp4_block(mxb_compat_t c, const float *x, int n, float A, uint32_t tile_amax,
                                      int four_six, uint32_t flags, uint8_t *codes) {
  if (c == MXB_COMPAT_TORCHAO) return mxb_torchao_nvfp4_block(x, n, A, codes);
  float S_enc, S_dec;
  const float k = mxb_nvfp4_k(flags);
  mxb_te_nvfp4_tensor(A, k, &S_enc, &S_dec);
  const uint32_t ab = tile_amax == 0xFFFFFFFFu ? mxb_abs_max_bits(x, n) : tile_amax;
  if (four_six)
    return mxb_te_nvfp4_block_4over6(x, n, ab, A, k, S_enc, S_dec, four_six == MXB_FOUR_OVER_SIX_MSE, codes);
  return mxb_te_nvfp4_block_amax(x, n, ab, S_enc, S_dec, codes);
}

#endif
