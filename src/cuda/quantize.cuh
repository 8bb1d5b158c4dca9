// What the quantize kernels share: their arguments, the fused RHT (d = 16)
// and the block amax mode of the non-finite policies; and the row-wise
// kernels at bandwidth (quantize_rows.cu) that quantize.cu hands the common
// case to.
#ifndef MXB_CUDA_QUANTIZE_CUH
#define MXB_CUDA_QUANTIZE_CUH
#include <cuda_runtime.h>

#include "common/block.h"
#include "common/codec.h"
#include "common/rht.h"
#include "core/formats.h"
#include "cuda/tensor_view.cuh"

struct mxb_context;

namespace mxb {

// The d = 16 RHT's signs for rht16_quant (below): even k the sign-bit mask
// of s_k, odd k s_k as the float +-1.
struct RhtMasks {
  uint32_t m[16];
};

// The output tensor (its NVFP4 amax written by the amax pass when computed)
// and the quantizer's options.
struct QArgs : tensor_view {
  const void *src;
  uint32_t *part_amax;  // FP8: amax bits per scale partition (workspace)
  int sr;
  uint64_t seed, offset;
  const uint64_t *rng;  // SR state {seed, offset} in device memory, read when the kernel runs (or NULL)
  int rule, policy, pow2;
  int four_six;  // NVFP4 Four Over Six metric (0: off)
  int br, bc;  // FP8 partition shape (0 = whole dimension)
  int fp8_scale;  // FP8: how scale_inv is stored (MXB_SCALE_FP32, or MXB_SCALE_UE8M0 as one byte)
  int brs, bcs;  // their mxb_block_shift
  uint32_t rng_add;  // added to the offset read from rng (a pair's column-wise copy sharing the state)
  int64_t sr_base, sr_ld;  // SR indices: mxb_sr_base of the shard's place, the whole tensor's columns (cfg->global_*)
  int rht, rht_bf16;
  uint32_t signs[8];
  RhtMasks rht16;  // the d = 16 RHT's signs as rht16_quant takes them (rht16_masks)
  int vec_in;  // 16-byte loads: src aligned and every row starts aligned
  int vec_out; // whole-word code stores: data aligned and row_bytes a multiple of the block's bytes
};

// The forward RHT of NUMERICS 5 (d = 16) for the quantizers: the signs
// merged into the first butterfly stage, then the shared butterflies of the
// other stages and the norm. A first-stage pair (a, b) at (k, k + 1) gives
//     a' + b', a' - b'   with a' = a * s_k, b' = b * s_(k+1),
// computed as a' = a with its sign bit flipped by a mask, then
// fmaf(b, +-s_(k+1), a'): b * (+-1) is exact (zeros keep their IEEE signs),
// so each fmaf is the same single rounding of the same sum as the shared
// code's add and subtract. Masks and factors are made once on the host
// (rht16_masks) and read from the kernel's parameters, where they are
// operands of the XOR and the fmaf: three instructions a pair, where signs
// shifted out of a word took six (made in registers once a thread, they were
// rematerialised for each block: two instructions an element). The shared
// chunk's final NaN canonicalisation is left to the one output that stores
// NaN bits (BF16): every other encoder maps a NaN to its NaN code, NaN block
// or +max whatever the NaN's sign and payload, and amaxes admit no NaN, so
// the quantized bytes are the same.
inline void rht16_masks(const uint32_t signs[8], RhtMasks &s) {
  for (int k = 0; k < 16; k++) s.m[k] = ((signs[0] >> k) & 1u) << 31 | (k & 1 ? 0x3F800000u : 0u);
}
__device__ __forceinline__ const RhtMasks &sign_masks(const QArgs &a) { return a.rht16; }
__device__ __forceinline__ void rht16_quant(float *v, const RhtMasks &s) {
#pragma unroll
  for (int k = 0; k < 16; k += 2) {
    const float a = __uint_as_float(__float_as_uint(v[k]) ^ s.m[k]), sb = __uint_as_float(s.m[k + 1]);
    v[k] = fmaf(v[k + 1], sb, a);
    v[k + 1] = fmaf(v[k + 1], -sb, a);
  }
  mxb_rht_butterflies_from(v, 16, 2);
  const float norm = mxb_rht_norm(16);
#pragma unroll
  for (int k = 0; k < 16; k++) v[k] *= norm;
}

// The RHT's output rounded to BF16 (the rht.bf16_output option).
template <int N>
__device__ __forceinline__ void round_bf16(float (&v)[N]) {
#pragma unroll
  for (int k = 0; k < N; k++) v[k] = mxb_bf16_decode(mxb_bf16_rne(v[k]));
}

// The fused RHT (d = 16) of a loaded block, when asked.
template <int N>
__device__ __forceinline__ void transform_block(const QArgs &a, const RhtMasks &sm, float (&v)[N]) {
  if (a.rht) {
#pragma unroll
    for (int k = 0; k < N; k += 16) rht16_quant(v + k, sm);
    if (a.rht_bf16) round_bf16(v);
  }
}

// The block amax mode of the NVFP4 and MX non-finite policies.
__device__ __forceinline__ mxb_amax_mode policy_mode(int policy) {
  return policy == MXB_NONFINITE_SATURATE ? MXB_AMAX_SKIP_NAN : MXB_AMAX_NAN_BLOCK;
}

// max that keeps NaN (an amax with a NaN sends the block to the shared code).
__device__ __forceinline__ float fmax_nan(float a, float b) {
  float r;
  asm("max.NaN.f32 %0, %1, %2;" : "=f"(r) : "f"(a), "f"(b));
  return r;
}

// The block's amax: the largest |v[k]|, NaN where one is NaN.
template <int N>
__device__ __forceinline__ float abs_max(const float (&v)[N]) {
  float am = 0.0f;
#pragma unroll
  for (int k = 0; k < N; k++) am = fmax_nan(am, fabsf(v[k]));
  return am;
}

// Two 8-bit codes (elements k, k+1) by the hardware conversion; the
// specialised encoders of common/codec.h, proven equal to the generic one.
template <int ELEM>
__device__ __forceinline__ uint32_t cvt8x2(float lo, float hi) {
  unsigned short h;
  if (ELEM == MXB_ELEM_E4M3) asm("cvt.rn.satfinite.e4m3x2.f32 %0, %1, %2;" : "=h"(h) : "f"(hi), "f"(lo));
  else asm("cvt.rn.satfinite.e5m2x2.f32 %0, %1, %2;" : "=h"(h) : "f"(hi), "f"(lo));
  return h;
}

// Byte selection of a and b (PTX prmt; a selector nibble with bit 3 set
// gives the chosen byte's sign bit in all eight bits).
template <uint32_t SEL>
__device__ __forceinline__ uint32_t prmt(uint32_t a, uint32_t b) {
  uint32_t r;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "n"(SEL));
  return r;
}
// The sign bits of eight words x[0..7] in bits 3, 7, .., 31 (the sign
// bits of E2M1 codes 0..7 of a word), as or-ed into the word's magnitudes
// m (bit 3 of each nibble clear): the odd words' sign bytes (sign in bit 7)
// and the even words' sign bits spread over their bytes, each gathered
// into byte order by three byte selections, where a shift and a LOP3 a
// code did it.
__device__ __forceinline__ uint32_t or_signs8(uint32_t m, const uint32_t (&x)[8]) {
  const uint32_t odd = prmt<0x7610>(prmt<0x7373>(x[1], x[3]), prmt<0x7373>(x[5], x[7]));
  const uint32_t even = prmt<0x7610>(prmt<0xFBFB>(x[0], x[2]), prmt<0xFBFB>(x[4], x[6]));
  return m | (odd & 0x80808080u) | (even & 0x08080808u);
}

// The E2M1 codes of v * enc by RNE, none of the products NaN, as B / 8
// words: mxb_e2m1_encode_rne_nonnan's arithmetic up to its sum t = a + m
// (m = 2^(E + 22), E = max(binade of a, 0): mxb_e2m1_rne_magic), then the
// code read off t: m leaves the steps q = (t - m) in t's low three bits and
// t >> 22 = 298 + 2E (t's exponent 149 + E, mantissa bit 22 clear, bits
// 3-21 clear), so the shared code's q + 2E is (t & 7) + (t >> 22) - 298.
// The magnitudes are summed into their word (the 298 of each nibble taken
// off the word at once: mod 2^32 the sum of the shifted codes is their or),
// codes 3-7 without the mask: t << 4k is q << 4k mod 2^32 for k >= 3 (the
// exponent field goes past bit 31); the signs (bit 31 of the products) go
// in by or_signs8. Equal to the shared encoder for every non-NaN fp32
// product, at every code position (codec_check_kernel, case 10).
template <int B>
__device__ __forceinline__ void e2m1_rne_words(const float (&v)[B], float enc, uint32_t (&w)[B / 8]) {
  static_assert(B % 8 == 0, "whole words");
#pragma unroll
  for (int h = 0; h < B / 8; h++) {
    uint32_t acc = 0u - 298u * 0x11111111u, xs[8];
#pragma unroll
    for (int k = 0; k < 8; k++) {
      const float x = v[8 * h + k] * enc;
      const float a = fminf(fabsf(x), 6.0f);
      const uint32_t m = mxb_e2m1_rne_magic(a);
      const uint32_t t = __float_as_uint(a + __uint_as_float(m));
      acc += ((k < 3 ? t & 7u : t) + (t >> 22)) << (4 * k);
      xs[k] = __float_as_uint(x);
    }
    w[h] = or_signs8(acc, xs);
  }
}

// The codes of a block's scaled values v[k] * m, none of them NaN, packed
// as the stored words.
template <int ELEM, int B>
__device__ __forceinline__ void encode_finite(const mxb_fp &p, const float (&v)[B], float m,
                                              uint32_t (&w)[B * mxb_elem_bits(ELEM) / 32]) {
  constexpr int BITS = mxb_elem_bits(ELEM);
  if constexpr (ELEM == MXB_ELEM_E4M3 || ELEM == MXB_ELEM_E5M2) {
#pragma unroll
    for (int k = 0; k < B; k += 4)
      w[k / 4] = __byte_perm(cvt8x2<ELEM>(v[k] * m, v[k + 1] * m), cvt8x2<ELEM>(v[k + 2] * m, v[k + 3] * m), 0x5410);
  } else if constexpr (ELEM == MXB_ELEM_E2M1 && B % 8 == 0) {
    e2m1_rne_words<B>(v, m, w);
  } else if constexpr (ELEM == MXB_ELEM_E2M1) {
#pragma unroll
    for (int k = 0; k < B / 8; k++) w[k] = 0;
#pragma unroll
    for (int k = 0; k < B; k++) w[k / 8] |= mxb_e2m1_encode_rne_nonnan(v[k] * m) << (4 * (k % 8));
  } else if constexpr (ELEM == MXB_ELEM_INT8) {
#pragma unroll
    for (int k = 0; k < B; k += 4) {
      const uint32_t c0 = mxb_int8_encode_rne_nonnan(v[k] * m), c1 = mxb_int8_encode_rne_nonnan(v[k + 1] * m),
                     c2 = mxb_int8_encode_rne_nonnan(v[k + 2] * m), c3 = mxb_int8_encode_rne_nonnan(v[k + 3] * m);
      w[k / 4] = __byte_perm(__byte_perm(c0, c1, 0x0040), __byte_perm(c2, c3, 0x0040), 0x5410);
    }
  } else {
    uint8_t c[B];
#pragma unroll
    for (int k = 0; k < B; k++) c[k] = (uint8_t)mxb_fp_encode_rne_minifloat_nonnan(&p, v[k] * m);
    pack_words<B, BITS>(c, w);
  }
}

// dst is aligned to the largest of 16, 8 and 4 bytes that divides 4 * NW.
template <int NW>
__device__ __forceinline__ void store_words(uint8_t *dst, const uint32_t (&w)[NW]) {
  if constexpr (NW % 4 == 0) {
#pragma unroll
    for (int k = 0; k < NW; k += 4) __stcs(reinterpret_cast<uint4 *>(dst) + k / 4, make_uint4(w[k], w[k + 1], w[k + 2], w[k + 3]));
  } else if constexpr (NW % 2 == 0) {
#pragma unroll
    for (int k = 0; k < NW; k += 2) __stcs(reinterpret_cast<uint2 *>(dst) + k / 2, make_uint2(w[k], w[k + 1]));
  } else {
#pragma unroll
    for (int k = 0; k < NW; k++) __stcs(reinterpret_cast<unsigned int *>(dst) + k, w[k]);
  }
}

// An NVFP4 decode scale d = (scale byte) * S_dec: subnormal, where the
// shared block code's 2^64 rescaling applies (the fast encoders leave such
// blocks to it); else the multiplier the values are encoded with, 1 / d
// capped at FLT_MAX (mxb_nvfp4_encode_block's).
__device__ __forceinline__ bool nv_subnormal(float d) { return d > 0.0f && d < 0x1p-126f; }
__device__ __forceinline__ float nv_enc_of(float d) { return fminf(1.0f / d, MXB_FLT_MAX); }

// The scale s of an NVFP4 block (or 16 x 16 tile) with a finite amax am and
// the multiplier enc its values are encoded with, as the shared block code
// computes them (mxb_nvfp4_encode_block). False where the decode scale is
// subnormal (the shared code's 2^64 rescaling applies): the caller takes the
// shared block code.
__device__ __forceinline__ bool nvfp4_finite_scale(float am, const mxb_nvfp4_ts &ts, uint8_t &s, float &enc) {
  s = mxb_nvfp4_block_scale(am, &ts);
  const float d = mxb_ue4m3_decode(s) * ts.S_dec;
  if (nv_subnormal(d)) return false;
  enc = nv_enc_of(d);
  return true;
}

// An NVFP4 block of 16 values with a finite amax am, by RNE: its scale and
// codes through the specialised encoder (the shared block code with the
// branches a finite block would not take removed). False as
// nvfp4_finite_scale.
__device__ __forceinline__ bool nvfp4_encode_finite(const float (&v)[16], float am, const mxb_nvfp4_ts &ts, uint8_t &s,
                                                    uint32_t (&w)[2]) {
  float enc;
  if (!nvfp4_finite_scale(am, ts, s, enc)) return false;
  encode_finite<MXB_ELEM_E2M1, 16>(mxb_elem_fp(MXB_ELEM_E2M1), v, enc, w);
  return true;
}

// A candidate of Four Over Six for a finite block: the codes of v * enc
// (mxb_e2m1_encode_rne_nonnan's) and the fp32 sum of the block's error terms
// as mxb_nvfp4_block_error_f32 takes them, |fl(g D) - |x|| or its square
// for the code's magnitude g (the terms are even in x: RNE is symmetric,
// and a code carries x's sign). The products are kept apart from the sums
// (__fmul_rn): the terms are those of the fp32 values v_j.
template <bool MSE>
__device__ __forceinline__ float fos_candidate(const float (&v)[16], float enc, float D, uint32_t (&w)[2]) {
  float f = 0.0f;
  w[0] = w[1] = 0;
#pragma unroll
  for (int k = 0; k < 16; k++) {
    float g;
    w[k / 8] |= mxb_e2m1_encode_rne_nonnan_grid(v[k] * enc, &g) << (4 * (k % 8));
    const float d = __fsub_rn(__fmul_rn(g, D), fabsf(v[k]));
    f = __fadd_rn(f, MSE ? __fmul_rn(d, d) : fabsf(d));
  }
  return f;
}

// ---- Fast NVFP4 scales and encoders (the recipe pair and the row-wise kernel) ----
// The scale byte and encode multiplier of an NVFP4 block with a finite
// amax am, as nvfp4_finite_scale computes them, without the NaN handling
// that a finite am never needs: am * m is >= 0 and at most +Inf, its
// minimum with FLT_MAX a number, so the E4M3 conversion (satfinite) gives
// the byte the shared encoder gives (NaN goes to 0x7F before it there),
// at most 0x7E (448), whose decode takes no NaN select. The multiplier is
// a function of the byte and the tensor's S_dec alone (nv_byte_enc: false
// where the decode scale is subnormal, as nvfp4_finite_scale): the kernel
// tabulates it for all 256 bytes at its start by this same code
// (nv_enc_entry), and the blocks read their byte's entry (nv_lut_scale).
__device__ __forceinline__ uint32_t nv_scale_byte(float am, const mxb_nvfp4_ts &ts) {
  uint32_t h;  // the byte, zero above (the conversion of +0.0, and the upper half)
  asm("{ .reg .b16 t; cvt.rn.satfinite.e4m3x2.f32 t, %1, %2; mov.b32 %0, {t, 0}; }"
      : "=r"(h)
      : "f"(0.0f), "f"(fminf(am * ts.m, MXB_FLT_MAX)));
  return h;
}
__device__ __forceinline__ bool nv_byte_enc(uint32_t s, const mxb_nvfp4_ts &ts, float &enc) {
  float dec;
  asm("{ .reg .b16 lo, hi; .reg .b32 p; cvt.rn.f16x2.e4m3x2 p, %1; mov.b32 {lo, hi}, p; cvt.f32.f16 %0, lo; }"
      : "=f"(dec)
      : "h"((unsigned short)s));
  const float d = dec * ts.S_dec;
  if (nv_subnormal(d)) return false;
  enc = nv_enc_of(d);
  return true;
}
// Entry s (0..255) of a multiplier table: nv_byte_enc's multiplier of byte
// s, NaN where it returns false (no multiplier is NaN: fminf with FLT_MAX
// never gives one).
__device__ __forceinline__ float nv_enc_entry(uint32_t s, const mxb_nvfp4_ts &ts) {
  float enc;
  return nv_byte_enc(s, ts, enc) ? enc : __uint_as_float(0x7FC00000u);
}
// The scale byte s and multiplier enc of a block with a finite amax am from
// the table lut of ts: false where nv_byte_enc is.
__device__ __forceinline__ bool nv_lut_scale(float am, const mxb_nvfp4_ts &ts, const float *lut, uint32_t &s,
                                             float &enc) {
  s = nv_scale_byte(am, ts);
  enc = lut[s];
  return enc == enc;
}

// r/512 for the random byte j (0..3, a constant) of word x, as mxb_sr_r512
// gives it: one PRMT puts the byte in bits 8..15 of 64.0f's pattern
// (0x4280rr00 = 64 + r/512), and 64 comes off exactly, where the shared
// code shifts the byte to bits 14..21 first.
// k64: 0x42800000 from the kernel's parameters (PairArgs.k64): as a literal
// ptxas makes it PRMT's immediate operand and moves the selector into a
// register, one more instruction a byte.
template <int J>
__device__ __forceinline__ float sr_r512_byte(uint32_t x, uint32_t k64) {
  uint32_t b;
  asm("prmt.b32 %0, %1, %2, %3;" : "=r"(b) : "r"(x), "r"(k64), "n"(0x7604 | J << 4));
  return __uint_as_float(b) - 64.0f;
}
__device__ __forceinline__ float sr_r512_byte(uint32_t x, int j, uint32_t k64) {  // j: a constant once unrolled
  return j == 0   ? sr_r512_byte<0>(x, k64)
         : j == 1 ? sr_r512_byte<1>(x, k64)
         : j == 2 ? sr_r512_byte<2>(x, k64)
                  : sr_r512_byte<3>(x, k64);
}

// The E2M1 codes of v * enc by SR (the 16 random bytes in rw), none of the
// products NaN: mxb_e2m1_encode_sr_nonnan_rb14's arithmetic with r/512 from
// sr_r512_byte, the magnitudes summed into their words and the signs or-ed
// in by or_signs8.
__device__ __forceinline__ void e2m1_sr16(const float (&v)[16], float enc, const uint4 &rw, uint32_t k64,
                                          uint32_t (&w)[2]) {
#pragma unroll
  for (int h = 0; h < 2; h++) {
    uint32_t acc = 0, xs[8];
#pragma unroll
    for (int k = 0; k < 8; k++) {
      const int i = 8 * h + k;
      const float x = v[i] * enc;
      const uint32_t u = __float_as_uint(x);
      const uint32_t e = max(u & MXB_F32_INF, 0x3F800000u);
      const float t = fminf(fmaf(sr_r512_byte(word_of(rw, i >> 2), i & 3, k64), __uint_as_float(e), fabsf(x)), 6.0f);
      const uint32_t b = __float_as_uint(t);
      const int c = max(max((int)(b >> 22) - 252, (int)(b >> 23) - 125), 0);  // 0..7 (t <= 6)
      acc += (uint32_t)c << (4 * k);
      xs[k] = u;
    }
    w[h] = or_signs8(acc, xs);
  }
}

// The same by SR (SR words rw of the block's 16 elements), for a finite
// block: the shared block code's SR encoder without its NaN select.
__device__ __forceinline__ bool nvfp4_encode_finite_sr(const float (&v)[16], float am, const mxb_nvfp4_ts &ts,
                                                       const uint4 &rw, uint8_t &s, uint32_t (&w)[2]) {
  float enc;
  if (!nvfp4_finite_scale(am, ts, s, enc)) return false;
  w[0] = w[1] = 0;
#pragma unroll
  for (int k = 0; k < 16; k++) w[k / 8] |= mxb_e2m1_encode_sr_nonnan_rb14(v[k] * enc, sr_rb14(rw, k)) << (4 * (k % 8));
  return true;
}

// SR bytes of the N elements at (r, c0) of the output: {seed, offset} from
// the call's device state when it has one (read when the kernel runs), else
// from its config.
__device__ __forceinline__ uint64_t sr_seed(const QArgs &a) { return a.rng ? __ldg(a.rng) : a.seed; }
__device__ __forceinline__ uint64_t sr_offset(const QArgs &a) { return a.rng ? __ldg(a.rng + 1) + a.rng_add : a.offset; }
template <int N>
__device__ __forceinline__ void get_sr_words(const QArgs &a, int64_t r, int64_t c0, uint4 (&rw)[N / 16]) {
  sr_words_n<N>(sr_seed(a), sr_offset(a), mxb_sr_index(r, c0, a.sr_base, a.sr_ld), rw);
}
template <int N>
__device__ __forceinline__ void get_sr(const QArgs &a, int64_t r, int64_t c0, uint8_t (&rb)[N]) {
  uint4 rw[N / 16];
  get_sr_words<N>(a, r, c0, rw);
  sr_unpack<N>(rw, rb);
}
// The words of 16 elements known to start a Philox group (their SR index a
// multiple of 16): one group, no second draw for a run across two.
__device__ __forceinline__ uint4 get_sr_group(const QArgs &a, int64_t r, int64_t c0) {
  return philox_group(sr_seed(a), sr_offset(a), mxb_sr_index(r, c0, a.sr_base, a.sr_ld) >> 4);
}

// Whether philox_g32 serves an SR output of [rows, cols] with a's SR
// indices (host): each run of 16 starting at a multiple of 16 of its columns
// starts a Philox group, and every group is below 2^32 (indices below 2^36).
inline bool sr_runs_g32(const QArgs &a, int64_t rows, int64_t cols) {
  return a.sr_ld % 16 == 0 && a.sr_base % 16 == 0 && a.sr_base >= 0 &&
         (double)(rows - 1) * (double)a.sr_ld + (double)a.sr_base + (double)cols <= 0x1p36;
}

// The row-wise fast path: NVFP4 1x16 (RNE, no Four Over Six, the fused RHT
// allowed) and the MX formats (RNE) where every row holds whole blocks,
// input and codes are 16-byte aligned and the tensor has fewer than 2^31
// blocks. Returns false (having launched nothing) where it does not apply;
// amax_pass: run the NVFP4 tensor-amax pass first (amax_only: and stop
// there, a shard's amax for mxb_quantize_shard). row_group (grouped
// quantize, else NULL): each row's group, -1 for rows no group owns (not
// written); a.amax then holds one amax a group, zeroed by the caller where
// the pass computes them.
// Whether quantize_rows applies to the call.
bool rows_apply(const mxb_format_desc *d, const mxb_quant_config_t *cfg, const QArgs &a);
bool quantize_rows(const struct mxb_context *ctx, const mxb_format_desc *d, const mxb_quant_config_t *cfg,
                   int dtype, bool amax_pass, const QArgs &a, cudaStream_t st, mxb_status_t *status, const char **impl,
                   const int32_t *row_group = nullptr, bool amax_only = false);

// NVFP4 with 16 x 16 tiles on the row-strip kernel (quantize_2d.cu): whether
// it applies (RNE, no RHT, no Four Over Six, rows of whole tiles along
// columns, aligned), and its launch (the encode pass; *a.amax is the
// tensor's, supplied or from the general kernel's amax pass).
bool nvfp4_2d_apply(const mxb_quant_config_t *cfg, const QArgs &a);
mxb_status_t nvfp4_2d_launch(const struct mxb_context *ctx, int dtype, const QArgs &a, cudaStream_t st);

// NVFP4 with the d = 32..256 RHT transformed and quantized in one kernel
// (quantize_rht.cu; the amax computed by a first pass of it): RNE, 1 x 16
// blocks, one tensor amax, aligned dense rows of whole chunks. Returns false
// (having launched nothing) where it does not apply; the caller then stages
// the transform in its workspace.
bool quantize_rht_fused(const struct mxb_context *ctx, const mxb_format_desc *d, const mxb_quant_config_t *cfg,
                        int dtype, const QArgs &a, cudaStream_t st, mxb_status_t *status, const char **impl,
                        bool amax_only);

// The largest MX scale byte b for which no code needs a cap (its value
// times 2^(b-127) is finite) and 2^(127-b) is a normal number: blocks with a
// smaller scale take the specialised encoders.
int mx_bmax(const mxb_fp &p);

// The kernel arguments of a quantization of dst (format d, sizes s) by cfg:
// everything but the source and the workspace.
QArgs make_qargs(const mxb_quant_config_t *cfg, const mxb_format_desc *d, const mxb_tensor_sizes_t *s,
                 mxb_tensor_t *dst);

// A quantization under a compatibility profile (cfg->compat, not the
// default; quantize_compat.cu): the NVFP4 tensor amax pass when computed,
// then one thread a block through common/compat.h.
mxb_status_t quantize_compat(struct mxb_context *ctx, const mxb_format_desc *d, const mxb_quant_config_t *cfg,
                             int dtype, const QArgs &a, cudaStream_t st, const char **impl);

// The SR state's offset moves on by n once a call has drawn its bits.
__global__ void advance_rng(uint64_t *state, int n);

}  // namespace mxb
#endif
