// Row-wise dequantize at memory bandwidth, for the common case: NVFP4 and
// the MX formats where every row holds whole blocks, codes and output are
// 16-byte aligned and the tensor has fewer than 2^31 blocks. Every other
// case takes the general kernel of dequantize.cu.
//
// A lane decodes 16 elements (a whole NVFP4 block, half an MX block)
// indexed in 32 bits: element codes through a shared-memory table filled by
// the shared decoder, times the block's decode scale (the operations of
// mxb_nvfp4_decode / mxb_mx_decode, in their order), then rounded to the
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

namespace mxb {
namespace {

struct DRows : tensor_view {
  void *out;
  uint32_t nitems;  // 16-element runs in the tensor
  uint32_t nb;      // blocks per row
  uint32_t div_m;   // b / nb = (umulhi(b, div_m) + b) >> div_s for b < 2^31
  int div_s;
  uint32_t scale_tiles;  // swizzled scales: 4-column tiles per 128 rows
};

__device__ __forceinline__ uint32_t dscale_slot(const DRows &a, uint32_t b) {
  if (!a.swizzled) return b;
  const uint32_t r = (__umulhi(b, a.div_m) + b) >> a.div_s, j = b - r * a.nb;
  return ((r >> 7) * a.scale_tiles + (j >> 2)) * 512u + (r & 31u) * 16u + ((r >> 5) & 3u) * 4u + (j & 3u);
}

template <int F, int OT>
__global__ void __launch_bounds__(256) drows_kernel(DRows a) {
  constexpr int ELEM = mxb_fmt_elem(F), B = mxb_fmt_block_cols(F), BITS = mxb_elem_bits(ELEM);
  constexpr bool NV = mxb_fmt_scale_type(F) == MXB_SCALE_UE4M3;
  constexpr int PER = B / 16;                       // 16-element runs a block
  constexpr int CW = 16 * BITS / 32;                // code words a run: 2 (4-bit), 3 (6-bit), 4 (8-bit)
  constexpr int OW = OT == MXB_DTYPE_FP32 ? 16 : 8;  // output words a run
  const mxb_fp p = mxb_elem_fp(ELEM);
  const bool plain = p.nan_code < 0 && p.inf_code < 0 && !p.twos;  // constant-folded
  __shared__ float lut[1 << BITS];
  for (int c = threadIdx.x; c < (1 << BITS); c += blockDim.x) lut[c] = mxb_fp_decode(&p, (uint32_t)c);
  __syncthreads();
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
    } else if constexpr (CW == 4) {
      const uint4 q = __ldcs(reinterpret_cast<const uint4 *>(src));
      w[0] = q.x, w[1] = q.y, w[2] = q.z, w[3] = q.w;
    } else {
#pragma unroll
      for (int k = 0; k < CW; k++) w[k] = __ldcs(reinterpret_cast<const unsigned int *>(src) + k);
    }
    const uint8_t s = __ldg(a.scales + dscale_slot(a, b));
    const float sc = NV ? mxb_nvfp4_dequant_scale(s, A, a.flags) : mxb_e8m0_decode(s);
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
      v[k] = __fmul_rn(lut[c & ((1u << BITS) - 1u)], sc);
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

}  // namespace

bool dequantize_rows(const struct mxb_context *ctx, const mxb_format_desc *d, const tensor_view &t, int out_type,
                     void *out, cudaStream_t st, mxb_status_t *status) {
  if (d->scale_type != MXB_SCALE_UE4M3 && d->scale_type != MXB_SCALE_E8M0) return false;
  if (t.flags & MXB_TENSOR_ROW_AMAX) return false;  // an amax per row: the generic kernel
  const int B = d->block_cols, bits = d->elem_bits;
  if (d->block_rows != 1 || B % 16 || t.cols % B || bits > 8) return false;
  const int64_t nb = t.cols / B, total = t.rows * nb;
  if (total <= 0 || total * (B / 16) >= (int64_t)1 << 31) return false;
  if (!aligned16(t.data) || !aligned16(out) || t.row_bytes != nb * B * bits / 8 || t.scale_cols != nb) return false;
  DRows a;
  memset(&a, 0, sizeof(a));
  static_cast<tensor_view &>(a) = t;
  a.out = out;
  a.nitems = (uint32_t)(total * (B / 16));
  a.nb = (uint32_t)nb;
  while (((uint64_t)1 << a.div_s) < (uint64_t)nb) a.div_s++;
  a.div_m = (uint32_t)((((uint64_t)1 << 32) * (((uint64_t)1 << a.div_s) - (uint64_t)nb)) / (uint64_t)nb + 1);
  a.scale_tiles = (uint32_t)((nb + 3) / 4);
  const unsigned grid = grid_for(ctx, a.nitems, 256);
  *status = MXB_FORMAT_SWITCH(d->format, F, [&]() -> mxb_status_t {
    constexpr int SCALE = mxb_fmt_scale_type(F);
    if constexpr ((SCALE == MXB_SCALE_UE4M3 || SCALE == MXB_SCALE_E8M0) && mxb_fmt_block_rows(F) == 1 &&
                  mxb_fmt_block_cols(F) % 16 == 0) {
      MXB_DTYPE_SWITCH(out_type, OT, [&] { drows_kernel<F, OT><<<grid, 256, 0, st>>>(a); });
      return launch_status("dequantize (rows)");
    } else {  // not reached: the checks above let only these formats through
      return mxb_fail(MXB_ERR_INTERNAL, "%s has no row-wise dequantize kernel", d->name);
    }
  });
  return true;
}

}  // namespace mxb
