// Row-wise quantize at memory bandwidth, for the common case: NVFP4 1x16
// (RNE, or SR where every block is one Philox group of 16 SR bytes; the
// fused d = 16 RHT allowed, the tensor-amax pass too) and the MX formats
// 1x32 (RNE), where every row holds whole blocks, input and codes are
// 16-byte aligned and the tensor has fewer than 2^31 blocks. Every other
// case takes the general kernels of quantize.cu.
//
// Why a second kernel: the general kernels spend most of their issue slots
// on what is not arithmetic (a 64-bit row/block walk, tails, scalar
// fallbacks, the element encoders' NaN branches), and with bf16 input a
// quantizer has about 20 instructions an element before it falls below the
// copy bandwidth of an H200. Here a thread quantizes whole blocks indexed in
// 32 bits (block b is row b / nb, and with a linear scale grid scale b), a
// block whose amax is finite (for NVFP4 also: whose decode scale is a
// normal number; for MX: whose scale needs no cap below 2^128) is encoded
// by the specialised element encoders without their NaN test, and every
// other block by the shared block code of common/block.h. Both give the
// CPU reference's bytes: the finite case is the shared code with the
// branches it would not take removed.
#include <cuda_fp16.h>

#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "cuda/load.cuh"
#include "cuda/qcommon.cuh"
#include "cuda/quantize.cuh"
#include "cuda/udiv.cuh"

namespace mxb {
namespace {

struct RowsArgs {
  uint32_t nblocks, nb;  // blocks in the tensor, blocks per row
  udiv31 per_row;        // b / nb, b < 2^31
  uint32_t scale_tiles;  // swizzled scales: 4-column tiles per 128 rows
  int mx_bmax;           // MX: the largest scale byte whose codes need no cap (and 2^(127 - b) is normal)
  uint32_t k64;          // SR: 0x42800000 (sr_r512_byte)
  // SR: block b of row r starts Philox group b + sr_g0 + r sr_dg (mod 2^32;
  // rows_apply: every group of the call below 2^32), i.e. (r ld + base +
  // 16 (b - r nb)) / 16 with sr_g0 = base / 16 and sr_dg = ld / 16 - nb.
  uint32_t sr_g0, sr_dg;
  const int32_t *row_group;  // grouped quantize: each row's group (-1: no group's, not written); NULL: dense
};

// The NQ 16-byte vectors of a block as fp32 (the decoders' values: bf16 and
// fp16 widen exactly).
template <int DT, int NQ>
__device__ __forceinline__ void unpack(const uint4 (&q)[NQ], float *v) {
#pragma unroll
  for (int k = 0; k < NQ; k++) {
    const uint32_t w[4] = {q[k].x, q[k].y, q[k].z, q[k].w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
      if (DT == MXB_DTYPE_FP32) {
        v[4 * k + i] = __uint_as_float(w[i]);
      } else if (DT == MXB_DTYPE_BF16) {
        v[8 * k + 2 * i] = __uint_as_float(w[i] << 16);
        v[8 * k + 2 * i + 1] = __uint_as_float(w[i] & 0xFFFF0000u);
      } else {
        __half2 h;
        memcpy(&h, &w[i], 4);
        const float2 f = __half22float2(h);
        v[8 * k + 2 * i] = f.x;
        v[8 * k + 2 * i + 1] = f.y;
      }
    }
  }
}

// Where block b's scale lives: b itself in the linear grid (scale_cols ==
// nb), else the 128x4-tile swizzled index of (b / nb, b % nb).
__device__ __forceinline__ uint32_t scale_slot(const QArgs &a, const RowsArgs &g, uint32_t b) {
  if (!a.swizzled) return b;
  const uint32_t r = g.per_row.div(b), j = b - r * g.nb;
  return swizzled_slot(r, j, g.scale_tiles);
}

// Lanes a block: 2 where a block is 128 bytes of input (MX from fp32), so
// that a warp's loads span 16 lines, not 32 (the L1's tag stage, not the
// memory, was the limit with 32); else 1.
template <int DT, int F>
constexpr int lanes_of() {
  return mxb_fmt_block_cols(F) * in_t<DT>::size >= 128 ? 2 : 1;
}

// Four Over Six on a finite block whose two candidates' decode scales are
// normal: both candidates' codes and fp32 error sums, the choice by the fp32
// verdict (mxb_nvfp4_fos_verdict_sums) and, where it cannot tell (near-ties,
// tiny or overflowing sums: rare), by the shared binary64 comparison, so
// always mxb_nvfp4_fos_takes4's choice. On the device the binary64 terms
// cost three conversions an element at a quarter of the fp32 rate; the fp32
// terms cost four fp32 operations, and the encoder's sum a + m gives g.
template <bool MSE>
__device__ __forceinline__ void fos_block(const float (&v)[16], const mxb_nvfp4_ts &ts, float enc6, uint8_t &s,
                                          uint8_t s4, float enc4, uint32_t (&w)[2]) {
  const float D6 = mxb_nvfp4_dequant_scale(s, ts.A, ts.flags), D4 = mxb_nvfp4_dequant_scale(s4, ts.A, ts.flags);
  uint32_t w4[2];
  const float f6 = fos_candidate<MSE>(v, enc6, D6, w), f4 = fos_candidate<MSE>(v, enc4, D4, w4);
  int take4 = mxb_nvfp4_fos_verdict_sums(f6, f4);
  if (take4 < 0) {
    uint8_t c6[16], c4[16];
#pragma unroll
    for (int k = 0; k < 16; k++) {
      c6[k] = (uint8_t)((w[k / 8] >> (4 * (k % 8))) & 0xFu);
      c4[k] = (uint8_t)((w4[k / 8] >> (4 * (k % 8))) & 0xFu);
    }
    take4 = mxb_nvfp4_fos_takes4(v, 16, c6, s, c4, s4, &ts);
  }
  if (take4) {
    s = s4;
    w[0] = w4[0];
    w[1] = w4[1];
  }
}

// F: NVFP4 or an MX format. AMAX (NVFP4): the first pass, folding the
// admitted block amaxes into *a.amax, as the general kernel's pass does.
// With two lanes a block (H = 2), each lane loads, encodes and stores one
// half; the pair shares the amax by a shuffle and takes the same branch.
// G (grouped quantize): block b belongs to row b / nb's group (g.row_group),
// whose amax is a.amax[group]; rows of no group are neither read into an
// amax nor written. An amax a row (MXB_TENSOR_ROW_AMAX, NVFP4, no row_group)
// is G with each row its own group: a.amax[r], as the general kernel reads
// and writes it. SR (NVFP4, dense): stochastic rounding with the block's
// 16 bytes of one Philox group (rows_apply checks that every block starts
// a group), drawn as get_sr draws them for the general kernel.
// FOS (NVFP4, dense, RNE): Four Over Six; a finite block also encodes its
// amax mapped to 4 with the specialised encoder and keeps it where
// mxb_nvfp4_fos_takes4 says, as mxb_nvfp4_quantize_block does.
template <int DT, int F, bool RHT, bool AMAX, bool G, bool SR = false, bool FOS = false>
__global__ void __launch_bounds__(256) rows_kernel(QArgs a, RowsArgs g) {
  constexpr int ELEM = mxb_fmt_elem(F), B = mxb_fmt_block_cols(F), BITS = mxb_elem_bits(ELEM);
  constexpr bool NV = mxb_fmt_scale_type(F) == MXB_SCALE_UE4M3;
  constexpr int H = lanes_of<DT, F>(), HB = B / H;  // lanes a block, elements a lane
  static_assert(H == 1 || (!RHT && !AMAX), "two lanes a block: MX only");
  static_assert(!SR || (NV && !AMAX && !G), "SR: the NVFP4 encode pass of a dense tensor");
  static_assert(!FOS || (NV && !AMAX && !G && !SR), "Four Over Six: the NVFP4 RNE encode pass of a dense tensor");
  constexpr int NQ = HB / in_t<DT>::per16;  // 16-byte loads a lane and block
  constexpr int NW = HB * BITS / 32;        // code words a lane and block
  constexpr int U = NQ <= 2 ? 2 : 1;        // blocks a step: at least 64 bytes of loads in flight a lane
  const mxb_fp p = mxb_elem_fp(ELEM);
  mxb_nvfp4_ts ts = {};
  if (NV && !AMAX && !G) ts = mxb_nvfp4_tensor_scales(*a.amax, a.flags);
  if (FOS) ts.four_six = a.four_six;  // else 0: the shared block code below chooses nothing
  RhtMasks sm;
  if (RHT) sm = sign_masks(a);
  // The NVFP4 encode pass of a dense tensor (one tensor scale): the encode
  // multipliers of the 256 scale bytes (nv_enc_entry; the block's 256
  // threads one each), where each block took a reciprocal and its checks
  // (about 16 instructions a block).
  constexpr bool LUT = NV && !AMAX && !G;
  __shared__ float enc_lut[LUT ? 256 : 1];
  // SR from 16-bit input: the call's Philox constants (sr_consts) for
  // philox_g32, from its state as the kernel reads it, where each block's
  // draw derived them (fp32 input keeps that draw: 1.05 x the time with
  // these constants on an H100, against 0.94 from bf16).
  constexpr bool PG = SR && in_t<DT>::size == 2;
  __shared__ uint4 srk[PG ? 6 : 1];
  if constexpr (LUT) {
    enc_lut[threadIdx.x] = nv_enc_entry(threadIdx.x, ts);
    if (PG && threadIdx.x < 6) srk[threadIdx.x] = sr_consts(sr_seed(a), sr_offset(a), threadIdx.x);
    __syncthreads();
  }
  const uint4 *src = static_cast<const uint4 *>(a.src);
  const uint32_t t = blockIdx.x * blockDim.x + threadIdx.x, half = H == 2 ? t & 1u : 0u;
  const uint32_t pair = 3u << (threadIdx.x & 30u), stride = gridDim.x * blockDim.x / H;
  uint32_t fold = 0;
  for (uint32_t b0 = t / H; b0 < g.nblocks; b0 += U * stride) {
    uint4 q[U][NQ];
#pragma unroll
    for (int u = 0; u < U; u++)
      if (b0 + u * stride < g.nblocks) {
#pragma unroll
        for (int k = 0; k < NQ; k++)
          q[u][k] = __ldcs(src + ((size_t)(b0 + u * stride) * H + half) * NQ + k);
      }
#pragma unroll
    for (int u = 0; u < U; u++) {
      const uint32_t b = b0 + u * stride;
      if (b >= g.nblocks) break;
      int32_t grp = 0;
      if constexpr (G) {
        const uint32_t r = g.per_row.div(b);
        grp = g.row_group ? g.row_group[r] : (int32_t)r;
        if (grp < 0) continue;
        if (NV && !AMAX) ts = mxb_nvfp4_tensor_scales(a.amax[grp], a.flags);
      }
      float v[HB];
      unpack<DT, NQ>(q[u], v);
      if (RHT) transform_block(a, sm, v);
      float am = abs_max(v);
      if (H == 2) am = fmax_nan(am, __shfl_xor_sync(pair, am, 1));
      bool fast = am < __uint_as_float(MXB_F32_INF);  // false for NaN and Inf
      if constexpr (AMAX) {
        uint32_t ab = __float_as_uint(am);
        if (!fast) {
          int bad = 0;
          ab = mxb_block_amax_bits(v, B, policy_mode(a.policy), &bad);
          if (bad && a.policy == MXB_NONFINITE_NAN_BLOCK) ab = 0;
        }
        if constexpr (G) {  // one atomic for the lanes here that share a group
          const unsigned peers = __match_any_sync(__activemask(), grp);
          ab = __reduce_max_sync(peers, ab);
          if ((threadIdx.x & 31) == (unsigned)(__ffs(peers) - 1) && ab)
            atomicMax(reinterpret_cast<uint32_t *>(a.amax + grp), ab);
        } else {
          fold = max(fold, ab);
        }
        continue;
      }
      uint32_t w[NW];
      uint8_t s = 0;
      uint4 rw[1] = {};  // SR words of the block's elements
      if constexpr (PG) {  // B = 16: one group (rows_apply); no division where ld = the row's columns
        rw[0] = philox_g32(b + g.sr_g0 + (g.sr_dg ? g.per_row.div(b) * g.sr_dg : 0u), srk);
      } else if constexpr (SR) {
        const uint32_t r = g.per_row.div(b);
        rw[0] = get_sr_group(a, r, (int64_t)(b - r * g.nb) * B);
      }
      if (fast) {
        if constexpr (LUT) {  // FOS and SR are LUT instances
          uint32_t su;
          float enc;
          fast = nv_lut_scale(am, ts, enc_lut, su, enc);
          s = (uint8_t)su;
          if constexpr (FOS) {
            // The 4 candidate's byte (finite am: at most 0x7E) and multiplier,
            // NaN where its decode scale is subnormal (nv_enc_entry).
            const uint8_t s4 = mxb_nvfp4_block_scale4(am, &ts);
            const float enc4 = enc_lut[s4];
            if (fast && s4 != s && enc4 != enc4) {
              fast = false;  // the 4 candidate's scale is subnormal: the shared block code
            } else if (fast && s4 != s) {
              if (ts.four_six == MXB_FOUR_OVER_SIX_MSE)
                fos_block<true>(v, ts, enc, s, s4, enc4, w);
              else
                fos_block<false>(v, ts, enc, s, s4, enc4, w);
            } else if (fast) {
              encode_finite<MXB_ELEM_E2M1, 16>(p, v, enc, w);
            }
          } else if (fast) {
            if constexpr (SR) e2m1_sr16(v, enc, rw[0], g.k64, w);
            else encode_finite<MXB_ELEM_E2M1, 16>(p, v, enc, w);
          }
        } else if constexpr (NV) {  // grouped: a tensor scale a group
          fast = nvfp4_encode_finite(v, am, ts, s, w);
        } else {
          s = mxb_e8m0_scale(__float_as_uint(am), (mxb_scale_rule_t)a.rule, &p);
          fast = s <= g.mx_bmax;
          if (fast) encode_finite<ELEM, HB>(p, v, __uint_as_float((uint32_t)(254 - s) << 23), w);
        }
      }
      if (!fast) {  // NaN or Inf in the block, a tiny NVFP4 scale, an MX scale near 2^128
        uint8_t c[B];
        uint32_t wb[B * BITS / 32];
        if constexpr (NV) {
          int bad = 0;
          const uint32_t ab = mxb_block_amax_bits(v, B, policy_mode(a.policy), &bad);
          uint8_t rb[16];
          if (SR) sr_unpack<16>(rw, rb);
          s = mxb_nvfp4_quantize_block(v, B, ab, bad && a.policy == MXB_NONFINITE_NAN_BLOCK, &ts, SR ? rb : nullptr, c);
        } else if constexpr (H == 1) {
          s = mxb_mx_quantize_block(v, B, &p, (mxb_scale_rule_t)a.rule, (mxb_nonfinite_t)a.policy, nullptr, c);
        } else {  // the whole block, read again by each lane of the pair
          float f[B];
          load_n<DT, B>(a.src, (int64_t)b * B, B, true, f);
          s = mxb_mx_quantize_block(f, B, &p, (mxb_scale_rule_t)a.rule, (mxb_nonfinite_t)a.policy, nullptr, c);
        }
        pack_words<B, BITS>(c, wb);
#pragma unroll
        for (int k = 0; k < NW; k++) w[k] = half ? wb[NW + k] : wb[k];
      }
      store_words<NW>(a.data + (size_t)b * (B * BITS / 8) + half * (NW * 4), w);
      if (!half) a.scales[scale_slot(a, g, b)] = s;
    }
  }
  if (AMAX && !G) {
    fold = __reduce_max_sync(0xFFFFFFFFu, fold);
    if ((threadIdx.x & 31) == 0 && fold) atomicMax(reinterpret_cast<uint32_t *>(a.amax), fold);
  }
}

}  // namespace

int mx_bmax(const mxb_fp &p) {
  int b = 0;
  while (b < 253 && mxb_fp_finite_cap(&p, mxb_e8m0_decode((uint8_t)(b + 1))) == p.maxcode) b++;
  return b;
}

bool rows_apply(const mxb_format_desc *d, const mxb_quant_config_t *cfg, const QArgs &a) {
  const bool nv = d->scale_type == MXB_SCALE_UE4M3;
  if (cfg->block_2d) return false;
  // SR: NVFP4 only, each block's 16 bytes one Philox group below 2^32.
  if (cfg->rounding == MXB_ROUND_SR && !(nv && sr_runs_g32(a, a.rows, a.cols))) return false;
  if (nv ? cfg->four_over_six != 0 && cfg->rounding == MXB_ROUND_SR : (d->scale_type != MXB_SCALE_E8M0 || a.rht))
    return false;
  const int B = d->block_cols, bits = d->elem_bits;
  if (B <= 0 || d->block_rows != 1 || a.cols % B) return false;
  const int64_t nb = a.cols / B, total = a.rows * nb;
  if (total <= 0 || total >= (int64_t)1 << 31) return false;
  return a.vec_in && aligned16(a.data) && a.row_bytes == nb * B * bits / 8 && a.scale_cols == nb;
}

bool quantize_rows(const struct mxb_context *ctx, const mxb_format_desc *d, const mxb_quant_config_t *cfg,
                   int dtype, bool amax_pass, const QArgs &a, cudaStream_t st, mxb_status_t *status,
                   const char **impl, const int32_t *row_group, bool amax_only) {
  if (!rows_apply(d, cfg, a)) return false;
  const bool nv = d->scale_type == MXB_SCALE_UE4M3;
  // An amax a row: RNE, dense (SR and the grouped quantize take the general kernel).
  const bool row_amax = nv && (a.flags & MXB_TENSOR_ROW_AMAX);
  if (row_amax && (a.sr || row_group)) return false;
  if (a.four_six && (row_group || row_amax)) return false;  // Four Over Six: dense, one tensor amax
  const int B = d->block_cols;
  const int64_t nb = a.cols / B, total = a.rows * nb;
  RowsArgs g;
  g.nblocks = (uint32_t)total;
  g.nb = (uint32_t)nb;
  g.per_row = udiv31::of((uint32_t)nb);
  g.scale_tiles = (uint32_t)((nb + 3) / 4);
  g.mx_bmax = nv ? 0 : mx_bmax(mxb_elem_fp(d->elem));
  g.row_group = row_group;
  g.k64 = 0x42800000u;
  g.sr_g0 = (uint32_t)(a.sr_base / 16);
  g.sr_dg = (uint32_t)(a.sr_ld / 16) - (uint32_t)nb;
  const bool per_group = row_group || row_amax;  // the G instance
  const int T = 256;
  *status = MXB_FORMAT_SWITCH(d->format, F, [&]() -> mxb_status_t {
    constexpr int SCALE = mxb_fmt_scale_type(F);
    if constexpr ((SCALE == MXB_SCALE_UE4M3 || SCALE == MXB_SCALE_E8M0) && mxb_fmt_block_rows(F) == 1) {
      return MXB_DTYPE_SWITCH(dtype, DT, [&]() -> mxb_status_t {
        constexpr int H = lanes_of<DT, F>(), NQ = mxb_fmt_block_cols(F) / H / in_t<DT>::per16;
        constexpr int U = NQ <= 2 ? 2 : 1;
        const unsigned grid = grid_for(ctx, (total * H + U - 1) / U, T);
        if constexpr (SCALE == MXB_SCALE_UE4M3) {
          if (amax_pass) {  // grouped: the caller zeroes the valid groups' amaxes
            if (!row_group)
              MXB_TRY(cuda_status(cudaMemsetAsync(a.amax, 0, (row_amax ? (size_t)a.rows : 1) * sizeof(float), st),
                                  "cudaMemsetAsync(dst->amax)"));
            MXB_BOOL_SWITCH(a.rht != 0, RHT, [&] {
              MXB_BOOL_SWITCH(per_group, G, [&] { rows_kernel<DT, F, RHT, true, G><<<grid, T, 0, st>>>(a, g); });
            });
            MXB_TRY(launch_status("nvfp4 amax pass (rows)"));
            if (amax_only) {
              *impl = "cuda-nvfp4-amax-rows";
              return MXB_SUCCESS;
            }
          }
          MXB_BOOL_SWITCH(a.rht != 0, RHT, [&] {
            if (per_group)  // grouped, or an amax a row: RNE (the API refuses SR in the grouped quantize)
              rows_kernel<DT, F, RHT, false, true><<<grid, T, 0, st>>>(a, g);
            else if (a.four_six)  // RNE (rows_apply)
              rows_kernel<DT, F, RHT, false, false, false, true><<<grid, T, 0, st>>>(a, g);
            else
              MXB_BOOL_SWITCH(a.sr != 0, SR, [&] { rows_kernel<DT, F, RHT, false, false, SR><<<grid, T, 0, st>>>(a, g); });
          });
          *impl = row_group ? "cuda-nvfp4-grouped-quantize-rows" : "cuda-nvfp4-quantize-rows";
        } else {
          MXB_BOOL_SWITCH(row_group != nullptr, G, [&] { rows_kernel<DT, F, false, false, G><<<grid, T, 0, st>>>(a, g); });
          *impl = row_group ? "cuda-mx-grouped-quantize-rows" : "cuda-mx-quantize-rows";
        }
        return launch_status(*impl);
      });
    } else {  // not reached: the checks above let only these formats through
      return mxb_fail(MXB_ERR_INTERNAL, "%s has no row-wise quantize kernel", d->name);
    }
  });
  return true;
}

}  // namespace mxb
