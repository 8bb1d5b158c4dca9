// Row-wise dequantize at memory bandwidth, for the common case: NVFP4, the
// MX formats, FP8 with a scale per 1 x 128 or 128 x 128 block (fp32 or
// UE8M0) and the plain BF16 format, where every row holds whole blocks,
// codes and output are 16-byte aligned and the tensor has fewer than 2^31
// blocks. Every other case takes the general kernel of dequantize.cu.
//
// A lane decodes 16 elements (a whole NVFP4 block, half an MX block, an
// eighth of an FP8 block) indexed in 32 bits: element codes through a
// shared-memory table filled by the shared decoder, times the block's
// decode scale (the operations of mxb_nvfp4_decode / mxb_mx_decode and the
// FP8 decode, in their order; BF16 values widen exactly), then rounded to the
// output type by the hardware conversion, which equals the library's
// rounding for every non-NaN value (proven over all 2^32 inputs by the GPU
// suite), and stored by whole warps' lines through shared memory. A run with a NaN (a NaN scale or NaN code; Inf codes too, to keep
// the test cheap) takes the library's own rounding with canonical NaN, as
// the general kernel does, so every byte is the CPU reference's.
#include "common/block.h"
#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "cuda/qcommon.cuh"
#include "cuda/tensor_view.cuh"
#include "cuda/udiv.cuh"

namespace mxb {
namespace {

struct DRows : tensor_view {
  void *out;
  uint32_t nitems;  // 16-element runs in the tensor
  uint32_t nb;      // blocks per row
  udiv31 per_row;   // b / nb, b < 2^31
  uint32_t scale_tiles;  // swizzled scales: 4-column tiles per 128 rows
  int brs;               // FP8: log2 of the block's rows (0 or 7)
};

__device__ __forceinline__ uint32_t dscale_slot(const DRows &a, uint32_t b) {
  if (!a.swizzled) return b;
  const uint32_t r = a.per_row.div(b), j = b - r * a.nb;
  return swizzled_slot(r, j, a.scale_tiles);
}

// The block's decode scale: the operations of the general kernel's fetch.
template <int SCALE>
__device__ __forceinline__ float block_scale(const DRows &a, uint32_t b, float A) {
  if constexpr (SCALE == MXB_SCALE_UE4M3) {
    return mxb_nvfp4_dequant_scale(__ldg(a.scales + dscale_slot(a, b)), A, a.flags);
  } else if constexpr (SCALE == MXB_SCALE_E8M0) {
    return mxb_e8m0_decode(__ldg(a.scales + dscale_slot(a, b)));
  } else if constexpr (mxb_fp8_scale_type(SCALE)) {  // 1 x 128 blocks: scale b; 128 x 128: its row's block
    uint32_t k = b;
    if (a.brs) {
      const uint32_t r = a.per_row.div(b);
      k = (r >> a.brs) * a.nb + (b - r * a.nb);
    }
    return SCALE == MXB_SCALE_FP32 ? __ldg(reinterpret_cast<const float *>(a.scales) + k)
                                   : mxb_e8m0_decode(__ldg(a.scales + k));
  } else {
    return 1.0f;  // BF16: no scale
  }
}

template <int F, int OT>
__global__ void __launch_bounds__(256) drows_kernel(DRows a) {
  constexpr int ELEM = mxb_fmt_elem(F), SCALE = mxb_fmt_scale_type(F), BITS = mxb_elem_bits(ELEM);
  constexpr bool NV = SCALE == MXB_SCALE_UE4M3, BF = ELEM == MXB_ELEM_BF16;
  constexpr int B = BF ? 16 : mxb_fmt_block_cols(F);  // BF16: runs of 16 stand for blocks
  constexpr int PER = B / 16;                       // 16-element runs a block
  constexpr int CW = 16 * BITS / 32;                // code words a run: 2 (4-bit), 3 (6-bit), 4 (8-bit), 8 (BF16)
  constexpr int OW = OT == MXB_DTYPE_FP32 ? 16 : 8;  // output words a run
  const mxb_fp p = mxb_elem_fp(ELEM);
  const bool plain = p.nan_code < 0 && p.inf_code < 0 && !p.twos && !BF;  // constant-folded
  constexpr int LUT = BF ? 1 : 1 << BITS;
  __shared__ float lut[LUT];
  if (!BF) {
    for (int c = threadIdx.x; c < LUT; c += blockDim.x) lut[c] = mxb_fp_decode(&p, (uint32_t)c);
    __syncthreads();
  }
  const float A = NV ? *a.amax : 0.0f;
  constexpr int W = OW / 4;  // 16-byte chunks of output a run
  __shared__ uint4 stage_all[256 * W];
  uint4 *stage = stage_all + (threadIdx.x & ~31u) * W;
  const uint32_t stride = gridDim.x * blockDim.x;
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < a.nitems; i += stride) {
    const uint32_t b = i / PER;
    uint32_t w[CW];
    const uint8_t *src = a.data + (size_t)i * (CW * 4);
    if constexpr (CW == 2) {
      const uint2 q = __ldcs(reinterpret_cast<const uint2 *>(src));
      w[0] = q.x, w[1] = q.y;
    } else if constexpr (CW % 4 == 0) {
#pragma unroll
      for (int k = 0; k < CW / 4; k++) {
        const uint4 q = __ldcs(reinterpret_cast<const uint4 *>(src) + k);
        w[4 * k] = q.x, w[4 * k + 1] = q.y, w[4 * k + 2] = q.z, w[4 * k + 3] = q.w;
      }
    } else {
#pragma unroll
      for (int k = 0; k < CW; k++) w[k] = __ldcs(reinterpret_cast<const unsigned int *>(src) + k);
    }
    const float sc = block_scale<SCALE>(a, b, A);
    // chk: NaN where a value may be NaN or infinite. Elements without NaN or
    // Inf codes and of at most maxval in magnitude (E2M1, FP6) take it from
    // the scale, once a run: maxval * sc finite bounds every |code * sc|
    // (rounding is monotonic); others from each value.
    float v[16], chk = plain ? __fmul_rn(__fmul_rn(p.maxval, sc), 0.0f) : 0.0f;
#pragma unroll
    for (int k = 0; k < 16; k++) {
      const int bit = k * BITS;  // compile-time after unrolling
      uint32_t c = w[bit / 32] >> (bit % 32);
      if (bit % 32 + BITS > 32) c |= w[bit / 32 + 1] << (32 - bit % 32);
      if (BF) v[k] = __uint_as_float(c << 16);  // mxb_bf16_decode
      else v[k] = __fmul_rn(lut[c & ((1u << BITS) - 1u)], sc);
      if (!plain) chk = __fmaf_rn(v[k], 0.0f, chk);
    }
    uint32_t o[16];
    if (chk == 0.0f) {
#pragma unroll
      for (int k = 0; k < OW; k++)
        o[k] = OT == MXB_DTYPE_FP32 ? __float_as_uint(v[k]) : cvt16x2<OT>(v[2 * k], v[2 * k + 1]);
    } else {  // the general kernel's rounding: canonical NaN, the library's rounding
      out_words<OT>(v, o);
    }
    uint4 *dst = reinterpret_cast<uint4 *>(static_cast<char *>(a.out) + (size_t)i * (OW * 4));
    const uint32_t lane = threadIdx.x & 31u;
    if (i - lane + 31u < a.nitems) {  // the warp's 32 runs are one contiguous stretch of output
      store_warp_run<W>(stage, dst - lane * W, o);
    } else {
#pragma unroll
      for (int c = 0; c < W; c++) __stcs(dst + c, make_uint4(o[4 * c], o[4 * c + 1], o[4 * c + 2], o[4 * c + 3]));
    }
  }
}

// BDR (MX9, MX6, MX4): a lane decodes one 16-element block, its 2 * BITS
// bytes read as aligned words (from the word holding its first byte, the
// last block's tail byte by byte) and shifted into place. Each value is
// lut[code] * 2^q with q = E - 126 - m for its pair, one less where the
// pair's microexponent bit is set: lut holds +-M exactly (mxb_bdr_decode with
// q = 0), and the product is exact in fp32 (q >= -134 and M < 2^m keep every
// value a multiple of 2^-149 below 2^128), so it is the binary64 value of
// mxb_bdr_decode, which the general kernel rounds to fp32 exactly. A NaN
// block (E = 0xFF) takes the general kernel's NaN through out_words.
template <int F, int OT>
__global__ void __launch_bounds__(256) bdr_rows_kernel(DRows a, uint32_t total_bytes) {
  constexpr int ELEM = mxb_fmt_elem(F), BITS = mxb_elem_bits(ELEM), M = BITS - 1;
  constexpr int NB = 2 * BITS;                      // bytes a block
  constexpr int NWD = NB % 4 ? (NB + 5) / 4 : NB / 4;  // words covering a block from a word boundary
  constexpr int OW = OT == MXB_DTYPE_FP32 ? 16 : 8, W = OW / 4;
  __shared__ float lut[1 << BITS];
  for (int c = threadIdx.x; c < (1 << BITS); c += blockDim.x) lut[c] = (float)mxb_bdr_decode((uint8_t)c, 0, M, 126 + M, 0);
  __syncthreads();
  __shared__ uint4 stage_all[256 * W];
  uint4 *stage = stage_all + (threadIdx.x & ~31u) * W;
  const uint32_t stride = gridDim.x * blockDim.x;
  for (uint32_t b = blockIdx.x * blockDim.x + threadIdx.x; b < a.nitems; b += stride) {
    const uint32_t byte0 = b * NB, o = byte0 & 3u, base = byte0 - o;
    uint32_t w[NWD + 1];
    w[NWD] = 0;
    if (base + 4 * NWD <= total_bytes) {
#pragma unroll
      for (int k = 0; k < NWD; k++) w[k] = __ldcs(reinterpret_cast<const unsigned int *>(a.data + base) + k);
    } else {
#pragma unroll
      for (int k = 0; k < NWD; k++) {
        w[k] = 0;
#pragma unroll
        for (int y = 0; y < 4; y++)
          if (base + 4 * k + y < total_bytes) w[k] |= (uint32_t)a.data[base + 4 * k + y] << (8 * y);
      }
    }
    uint32_t cw[NWD];
#pragma unroll
    for (int k = 0; k < NWD; k++) cw[k] = __funnelshift_r(w[k], w[k + 1], 8 * o);
    const uint8_t E = __ldg(a.scales + b), mu = __ldg(a.aux + b);
    const float f0 = E == 0xFF ? __uint_as_float(MXB_F32_QNAN) : mxb_pow2f((int)E - 126 - M);
    const float f1 = f0 * 0.5f;  // exact: f0 >= 2^-133
    float v[16];
#pragma unroll
    for (int k = 0; k < 16; k++) {
      const int bit = k * BITS;  // compile-time after unrolling
      uint32_t c = cw[bit / 32] >> (bit % 32);
      if (bit % 32 + BITS > 32) c |= cw[bit / 32 + 1] << (32 - bit % 32);
      v[k] = __fmul_rn(lut[c & ((1u << BITS) - 1u)], (mu >> (k / 2)) & 1u ? f1 : f0);
    }
    uint32_t out[16];
    if (E != 0xFF) {
#pragma unroll
      for (int k = 0; k < OW; k++)
        out[k] = OT == MXB_DTYPE_FP32 ? __float_as_uint(v[k]) : cvt16x2<OT>(v[2 * k], v[2 * k + 1]);
    } else {
      out_words<OT>(v, out);
    }
    uint4 *dst = reinterpret_cast<uint4 *>(static_cast<char *>(a.out) + (size_t)b * (OW * 4));
    const uint32_t lane = threadIdx.x & 31u;
    if (b - lane + 31u < a.nitems) {
      store_warp_run<W>(stage, dst - lane * W, out);
    } else {
#pragma unroll
      for (int c = 0; c < W; c++) __stcs(dst + c, make_uint4(out[4 * c], out[4 * c + 1], out[4 * c + 2], out[4 * c + 3]));
    }
  }
}

// BDR rows of whole blocks (cols a multiple of 16), linear scales one a block.
bool bdr_rows(const struct mxb_context *ctx, const mxb_format_desc *d, const tensor_view &t, int out_type, void *out,
              cudaStream_t st, mxb_status_t *status) {
  const int64_t nb = t.cols / 16, total = t.rows * nb;
  if (t.cols % 16 || d->block_cols != 16 || total <= 0 || total * 2 * d->elem_bits >= (int64_t)1 << 32) return false;
  if (!aligned16(t.data) || !aligned16(out) || t.row_bytes != nb * 2 * d->elem_bits || t.scale_cols != nb || t.swizzled)
    return false;
  DRows a;
  memset(&a, 0, sizeof(a));
  static_cast<tensor_view &>(a) = t;
  a.out = out;
  a.nitems = (uint32_t)total;
  const uint32_t bytes = (uint32_t)(total * 2 * d->elem_bits);
  const unsigned grid = grid_for(ctx, a.nitems, 256);
  *status = MXB_FORMAT_SWITCH(d->format, F, [&]() -> mxb_status_t {
    if constexpr (mxb_fmt_scale_type(F) == MXB_SCALE_BDR && mxb_fmt_block_cols(F) == 16) {
      MXB_DTYPE_SWITCH(out_type, OT, [&] { bdr_rows_kernel<F, OT><<<grid, 256, 0, st>>>(a, bytes); });
      return launch_status("dequantize (BDR rows)");
    } else {  // not reached: the caller passes BDR formats only
      return mxb_fail(MXB_ERR_INTERNAL, "%s has no row-wise dequantize kernel", d->name);
    }
  });
  return true;
}

}  // namespace

bool dequantize_rows(const struct mxb_context *ctx, const mxb_format_desc *d, const tensor_view &t, int out_type,
                     void *out, cudaStream_t st, mxb_status_t *status) {
  if (d->scale_type == MXB_SCALE_BDR) return bdr_rows(ctx, d, t, out_type, out, st, status);
  const bool bf = d->format == MXB_FORMAT_BF16, fp8 = mxb_fp8_scale_type(d->scale_type) && d->elem_bits == 8;
  if (d->scale_type != MXB_SCALE_UE4M3 && d->scale_type != MXB_SCALE_E8M0 && !fp8 && !bf) return false;
  if (t.flags & MXB_TENSOR_ROW_AMAX) return false;  // an amax per row: the generic kernel
  const int B = bf ? 16 : d->block_cols, bits = d->elem_bits;
  // Blocks of one row (FP8: of 1 or 128 rows), whole in every row.
  if (B <= 0 || B % 16 || t.cols % B || (bits > 8 && !bf)) return false;
  if (d->block_rows != 1 && !(fp8 && d->block_rows == 128) && !bf) return false;
  const int64_t nb = t.cols / B, total = t.rows * nb;
  if (total <= 0 || total * (B / 16) >= (int64_t)1 << 31) return false;
  if (!aligned16(t.data) || !aligned16(out) || t.row_bytes != nb * B * bits / 8 || (!bf && t.scale_cols != nb))
    return false;
  DRows a;
  memset(&a, 0, sizeof(a));
  static_cast<tensor_view &>(a) = t;
  a.out = out;
  a.nitems = (uint32_t)(total * (B / 16));
  a.nb = (uint32_t)nb;
  a.per_row = udiv31::of((uint32_t)nb);
  a.scale_tiles = (uint32_t)((nb + 3) / 4);
  a.brs = fp8 && d->block_rows == 128 ? 7 : 0;
  const unsigned grid = grid_for(ctx, a.nitems, 256);
  *status = MXB_FORMAT_SWITCH(d->format, F, [&]() -> mxb_status_t {
    constexpr int SCALE = mxb_fmt_scale_type(F), BR = mxb_fmt_block_rows(F), BC = mxb_fmt_block_cols(F);
    constexpr bool FP8 = mxb_fp8_scale_type(SCALE) && mxb_fmt_elem_bits(F) == 8 && (BR == 1 || BR == 128);
    if constexpr (F == MXB_FORMAT_BF16 ||
                  ((SCALE == MXB_SCALE_UE4M3 || SCALE == MXB_SCALE_E8M0 || FP8) && BC > 0 && BC % 16 == 0 &&
                   (BR == 1 || FP8))) {
      MXB_DTYPE_SWITCH(out_type, OT, [&] { drows_kernel<F, OT><<<grid, 256, 0, st>>>(a); });
      return launch_status("dequantize (rows)");
    } else {  // not reached: the checks above let only these formats through
      return mxb_fail(MXB_ERR_INTERNAL, "%s has no row-wise dequantize kernel", d->name);
    }
  });
  return true;
}

}  // namespace mxb
