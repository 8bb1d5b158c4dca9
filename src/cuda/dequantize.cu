// CUDA dequantize, the general kernel (NVFP4 and MX rows of whole blocks go
// to dequantize_rows.cu first): one thread per 16 elements of a row, decoding through
// the shared per-format decoders of common/block.h (same operations, same
// order as the CPU reference), then rounding to the output type. Element
// codes of up to 8 bits decode through a per-block shared-memory table
// filled by that same decoder (bit-exact by construction, one load per
// element). Where a warp's 32 blocks are one contiguous run of a row, its
// output is staged in shared memory and stored as whole coalesced lines.
#include "common/block.h"
#include "core/tensor.h"
#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "cuda/qcommon.cuh"
#include "cuda/tensor_view.cuh"

namespace mxb {

// dequantize_rows.cu: the common case at bandwidth; false where it does not
// apply (nothing launched).
bool dequantize_rows(const struct mxb_context *ctx, const mxb_format_desc *d, const tensor_view &t, int out_type,
                     void *out, cudaStream_t st, mxb_status_t *status);

// The input tensor (read only) and where and how the output is stored.
struct DArgs : tensor_view {
  void *out;
  int vec_in, vec_out;
  int coal;  // every warp's 32 blocks are contiguous and whole: stage and store coalesced
  int brs, bcs;  // FP8: mxb_block_shift of the partition shape
};

// The kernel family of a scale type.
// K_FP8B: FP8 whose scale_inv is a UE8M0 byte (decoded when fetched, then
// as K_FP8).
enum Kind { K_NVFP4, K_MX, K_BDR, K_FP8, K_FP8B, K_BF16 };
constexpr int kind_of(int scale) {
  return scale == MXB_SCALE_UE4M3 ? K_NVFP4 : scale == MXB_SCALE_E8M0 ? K_MX : scale == MXB_SCALE_BDR ? K_BDR
         : scale == MXB_SCALE_FP32 ? K_FP8 : scale == MXB_SCALE_UE8M0 ? K_FP8B : K_BF16;
}
// The formats dequantized here: every stored format but MoR (whose decisions
// the CPU reference decodes) and plain fp32 (nothing to dequantize).
constexpr bool dequant_offered(int f) { return mxb_fmt_elem(f) != MXB_ELEM_MIXED && mxb_fmt_elem(f) != MXB_ELEM_FP32; }

// NaN results are canonicalised on store (mxb_canon_nan), as on the CPU, so
// the GPU's own NaN bits never reach the output. W: 16-byte words of output
// per block (4 for fp32, 2 for 16-bit types); stage: this warp's 32 * W
// words of shared memory.
template <int OT, int W = OT == MXB_DTYPE_FP32 ? 4 : 2>
__device__ __forceinline__ void store16(const DArgs &a, int64_t i, float (&v)[16], int n, uint4 *stage) {
  uint32_t u[16];
  out_words<OT>(v, u);
  constexpr int ES = OT == MXB_DTYPE_FP32 ? 4 : 2;  // output element size
  char *o = static_cast<char *>(a.out) + i * ES;
  if (a.coal) {
    const int lane = threadIdx.x & 31;
    store_warp_run<W>(stage, reinterpret_cast<uint4 *>(o - (int64_t)lane * 16 * ES), u);
  } else if (a.vec_out && n == 16) {
#pragma unroll
    for (int c = 0; c < W; c++)
      reinterpret_cast<uint4 *>(o)[c] = make_uint4(u[4 * c], u[4 * c + 1], u[4 * c + 2], u[4 * c + 3]);
  } else if (OT == MXB_DTYPE_FP32) {
    for (int k = 0; k < n; k++) reinterpret_cast<uint32_t *>(o)[k] = u[k];
  } else {
    for (int k = 0; k < n; k++) reinterpret_cast<uint16_t *>(o)[k] = (uint16_t)(u[k / 2] >> (16 * (k % 2)));
  }
}

// The raw inputs of one block, fetched an item ahead of their use so that
// every thread keeps a load in flight while it decodes and stores: the code
// bytes (16 codes of BITS bits; 32 bytes for the BF16 format) and the scale
// bits (BDR: E in s, the microexponents in x).
struct DRaw {
  uint4 q[2];
  uint32_t s, x;
};
__device__ __forceinline__ uint32_t raw_byte(const DRaw &d, int k) {
  return (word_of(d.q[k >> 4], (k >> 2) & 3) >> (8 * (k & 3))) & 0xFFu;
}

// BC: the block length (NVFP4, MX, BDR), a multiple of the 16-element item.
template <int KIND, int BITS, int BC>
__device__ __forceinline__ DRaw fetch(const DArgs &a, int64_t r, int64_t j) {
  DRaw d;
  d.q[0] = d.q[1] = make_uint4(0, 0, 0, 0);
  d.s = d.x = 0;
  constexpr int NB = 2 * BITS;  // bytes of 16 codes
  const int64_t c0 = j * 16;
  const int n = (int)min((int64_t)16, a.cols - c0);
  const uint8_t *p = a.data + r * a.row_bytes + c0 * BITS / 8;
  const int nbytes = KIND == K_BDR ? NB : (n * BITS + 7) / 8;  // BDR rows hold whole blocks
  if (a.vec_in && n == 16 && NB == 8) {
    const uint2 u = __ldg(reinterpret_cast<const uint2 *>(p));
    d.q[0].x = u.x;
    d.q[0].y = u.y;
  } else if (a.vec_in && n == 16 && NB % 16 == 0) {
#pragma unroll
    for (int k = 0; k < NB / 16; k++) d.q[k] = __ldg(reinterpret_cast<const uint4 *>(p) + k);
  } else {
    uint32_t w[8] = {0, 0, 0, 0, 0, 0, 0, 0};
#pragma unroll
    for (int k = 0; k < NB; k++)
      if (k < nbytes) w[k / 4] |= (uint32_t)__ldg(p + k) << (8 * (k % 4));
    d.q[0] = make_uint4(w[0], w[1], w[2], w[3]);
    d.q[1] = make_uint4(w[4], w[5], w[6], w[7]);
  }
  if constexpr (KIND == K_NVFP4 || KIND == K_MX) {
    d.s = __ldg(a.scales + mxb_scale_index(r, c0 / BC, a.scale_cols, a.swizzled));
  } else if constexpr (KIND == K_BDR) {
    const int64_t k = mxb_scale_index(r, c0 / BC, a.scale_cols, false);
    d.s = __ldg(a.scales + k);
    d.x = __ldg(a.aux + k);
  } else if constexpr (KIND == K_FP8 || KIND == K_FP8B) {
    const int64_t part = mxb_block_index(r, c0, a.brs, a.bcs, a.scale_cols);
    d.s = KIND == K_FP8 ? __float_as_uint(__ldg(reinterpret_cast<const float *>(a.scales) + part))
                        : __float_as_uint(mxb_e8m0_decode(__ldg(a.scales + part)));
  }
  return d;
}

// SCALE, ELEM: the format's scale type and element encoding; BC its block
// length (0 for FP8, whose partition shape is a run-time argument, and BF16).
template <int SCALE, int ELEM, int BC, int OT>
__global__ void __launch_bounds__(256) dequant_kernel(DArgs a) {
  constexpr int KIND = kind_of(SCALE), BITS = mxb_elem_bits(ELEM);
  static_assert(BC % 16 == 0 && (KIND != K_BDR || BC == 16), "16-element items tile the blocks");
  const int64_t nb = (a.cols + 15) / 16;
  const int64_t total = a.rows * nb;
  const mxb_fp p = mxb_elem_fp(ELEM);
  const float A = KIND == K_NVFP4 ? *a.amax : 0.0f;
  // The element decode table (codes of up to 8 bits).
  constexpr bool LUT = KIND == K_NVFP4 || KIND == K_MX || KIND == K_FP8 || KIND == K_FP8B;
  __shared__ float lut[LUT ? 1 << BITS : 1];
  if (LUT) {
    for (int c = threadIdx.x; c < (1 << BITS); c += blockDim.x) lut[c] = mxb_fp_decode(&p, (uint32_t)c);
    __syncthreads();
  }
  constexpr int W = OT == MXB_DTYPE_FP32 ? 4 : 2;
  __shared__ uint4 stage_all[256 * W];
  uint4 *stage = stage_all + (threadIdx.x & ~31) * W;
  ItemWalk w(total, nb);
  DRaw nxt;
  if (w.more()) nxt = fetch<KIND, BITS, BC>(a, w.r, w.j);
  while (w.more()) {
    const int64_t r = w.r, j = w.j, c0 = j * 16;
    const int n = (int)min((int64_t)16, a.cols - c0);
    const DRaw cur = nxt;
    w.next();
    if (w.more()) nxt = fetch<KIND, BITS, BC>(a, w.r, w.j);
    float v[16];
    if (KIND == K_BF16) {
#pragma unroll
      for (int k = 0; k < 16; k++) v[k] = mxb_bf16_decode((uint16_t)(raw_byte(cur, 2 * k) | raw_byte(cur, 2 * k + 1) << 8));
    } else {
      uint8_t c[16];
#pragma unroll
      for (int k = 0; k < 16; k++) {
        const int bit = k * BITS;  // compile-time after unrolling
        const uint32_t u = raw_byte(cur, bit / 8) | (bit / 8 + 1 < 2 * BITS ? raw_byte(cur, bit / 8 + 1) << 8 : 0u);
        c[k] = (uint8_t)((u >> (bit % 8)) & ((1u << BITS) - 1u));
      }
      if (KIND == K_NVFP4) {
        // mxb_nvfp4_decode's operations, in its order: e2m1 * ((s_b * A) * (1/2688))
        const float sd = mxb_nvfp4_dequant_scale((uint8_t)cur.s, (a.flags & MXB_TENSOR_ROW_AMAX) ? a.amax[r] : A, a.flags);
#pragma unroll
        for (int k = 0; k < 16; k++) v[k] = __fmul_rn(lut[c[k]], sd);
      } else if (KIND == K_MX) {
        const float sb = mxb_e8m0_decode((uint8_t)cur.s);
#pragma unroll
        for (int k = 0; k < 16; k++) v[k] = __fmul_rn(lut[c[k]], sb);
      } else if (KIND == K_BDR) {
        const uint8_t E = (uint8_t)cur.s, mu = (uint8_t)cur.x;
#pragma unroll
        for (int k = 0; k < 16; k++)
          v[k] = E == 0xFF ? __uint_as_float(MXB_F32_QNAN) : (float)mxb_bdr_decode(c[k], k, BITS - 1, E, mu);
      } else {
        const float si = __uint_as_float(cur.s);
#pragma unroll
        for (int k = 0; k < 16; k++) v[k] = __fmul_rn(lut[c[k]], si);
      }
    }
    store16<OT>(a, r * a.cols + c0, v, n, stage);
  }
}

}  // namespace mxb

using namespace mxb;

extern "C" int mxb_cuda_dequantize_supported(mxb_format_t f) {
  return MXB_FORMAT_SWITCH(f, F, [&] { return F < MXB_FORMAT_COUNT && dequant_offered(F); });
}

extern "C" mxb_status_t mxb_cuda_dequantize(struct mxb_context *ctx, const mxb_tensor_t *src, const mxb_format_desc *d,
                                            const mxb_tensor_sizes_t *s, mxb_dtype_t dst_type, void *dst,
                                            void *stream, const char **impl) {
  DArgs a;
  memset(&a, 0, sizeof(a));
  static_cast<tensor_view &>(a) = make_view(src, *s);
  a.out = dst;
  a.brs = mxb_block_shift(d->block_rows);
  a.bcs = mxb_block_shift(d->block_cols);
  a.vec_in = aligned16(src->data) && s->row_bytes % 16 == 0;
  a.vec_out = aligned16(dst) && (src->cols * (int64_t)mxb_dtype_bytes(dst_type)) % 16 == 0;
  // Warp runs: t and the stride are multiples of 32, so with 32 | blocks per
  // row every warp's blocks are 32 whole, consecutive blocks of one row.
  a.coal = a.vec_out && src->cols % (32 * 16) == 0;
  const unsigned g = grid_for(ctx, src->rows * ((src->cols + 15) / 16), 256);
  cudaStream_t st = as_stream(stream);
  mxb_status_t rs;
  *impl = "cuda-dequantize-rows";
  if (dequantize_rows(ctx, d, a, dst_type, dst, st, &rs)) return rs;
  *impl = "cuda-dequantize";
  return MXB_FORMAT_SWITCH(d->format, F, [&]() -> mxb_status_t {
    constexpr int SCALE = mxb_fmt_scale_type(F), ELEM = mxb_fmt_elem(F);
    // FP8 partitions and BF16 are read without a compile-time block length,
    // so the formats that share an element share one instance.
    constexpr int BC = mxb_fp8_scale_type(SCALE) || SCALE == MXB_SCALE_NONE ? 0 : mxb_fmt_block_cols(F);
    if constexpr (dequant_offered(F) && F < MXB_FORMAT_COUNT) {
      MXB_DTYPE_SWITCH(dst_type, OT, [&] { dequant_kernel<SCALE, ELEM, BC, OT><<<g, 256, 0, st>>>(a); });
      return launch_status("dequant_kernel");
    } else {
      return mxb_fail(MXB_ERR_UNSUPPORTED, "dequantize of %s is not offered on the CUDA backend", d->name);
    }
  });
}
