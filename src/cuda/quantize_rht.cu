// NVFP4 with an RHT of d = 32..256 along the rows, transformed and quantized
// in one kernel, for the common case: RNE, 1 x 16 blocks, one tensor amax
// (supplied; or computed by a first pass of the same kernel that transforms
// and folds the block amaxes without writing), rows of whole chunks, 16-byte
// aligned input and codes. Every other case keeps the staged path of
// quantize.cu (the transform into an fp32 workspace, then the quantizer):
// three passes over memory, two of them at 4 bytes an element.
//
// A chunk of d values is held by d / 16 lanes, lane k of it holding
// elements 16k .. 16k + 15, one NVFP4 block: the butterflies h = 1 .. 8 are
// a lane's own, h = 16 .. d / 2 pair lane k with lane k ^ (h / 16) (one
// shuffle a value and stage), and a lane encodes its block into two code
// words and writes its scale byte (with 8 values a lane, a block was two
// lanes: one more shuffle stage, the amax exchanged and the scale computed
// by both; measured in docs/PERFORMANCE.md). The operations are those of
// mxb_rht_chunk in its order (signs, butterflies h ascending, each pair's
// a + b and a - b, the norm, the optional bf16 rounding), so the values,
// and the codes the row-wise kernel's rules give them, are the staged
// path's: a block whose amax is finite and whose decode scale is normal by
// the specialised encoder, any other block by the shared block code. The
// NaN canonicalisation of the transform is left out: every NaN maps to the
// same NaN block.
#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "cuda/load.cuh"
#include "cuda/qcommon.cuh"
#include "cuda/quantize.cuh"

namespace mxb {
namespace {

struct RhtFuse {
  uint32_t nchunks;  // chunks of d in the tensor
  uint32_t nb;       // blocks a row
  uint32_t scale_tiles;  // swizzled scales: 4-column tiles per 128 rows
  float norm;        // mxb_rht_norm(d)
};

// D: the transform's length; AMAX: the first pass (block amaxes folded
// into *a.amax, nothing written).
template <int DT, int D, bool AMAX>
__global__ void __launch_bounds__(256) rht_nvfp4_kernel(QArgs a, RhtFuse g) {
  constexpr int V = 16, L = D / V;  // values a lane (one block), lanes a chunk
  const int lane = threadIdx.x & 31, k = lane % L;  // k: this lane's block of its chunk
  const uint32_t per_warp = 32 / L;
  const uint32_t stride = gridDim.x * (blockDim.x / 32) * per_warp;
  // The signs merged into the first butterfly stage, as rht16_quant does:
  // a pair (a, b) at (2m, 2m + 1) gives fmaf(b, +-s, a') and
  // fmaf(b, -+s, a'), a' = a with its sign bit flipped by sm[m], +-s the
  // sign of b as a float (exact products: the chunk code's a + b and a - b
  // of the signed values). Element Vk + i's sign is bit (Vk + i) % 32 of
  // word (Vk + i) / 32.
  const uint32_t neg = (a.signs[V * k / 32] >> (V * k % 32)) & ((1u << V) - 1u);
  uint32_t sm[V / 2];
  float sb[V / 2];
#pragma unroll
  for (int m = 0; m < V / 2; m++) {
    sm[m] = ((neg >> (2 * m)) & 1u) << 31;
    sb[m] = ((neg >> (2 * m + 1)) & 1u) ? -1.0f : 1.0f;
  }
  mxb_nvfp4_ts ts = {};
  if (!AMAX) ts = mxb_nvfp4_tensor_scales(*a.amax, a.flags);
  // The encode multipliers of the 256 scale bytes (nv_enc_entry, a thread
  // each), where each block took a reciprocal.
  __shared__ float enc_lut[AMAX ? 1 : 256];
  if constexpr (!AMAX) {
    enc_lut[threadIdx.x] = nv_enc_entry(threadIdx.x, ts);
    __syncthreads();
  }
  const mxb_fp p = mxb_elem_fp(MXB_ELEM_E2M1);
  uint32_t fold = 0;
  // The walk is the warp's (its chunks c0 .. c0 + per_warp - 1), so every
  // lane takes every shuffle; lanes past the last chunk transform zeros and
  // store nothing.
  for (uint32_t c0 = (blockIdx.x * blockDim.x + threadIdx.x) / 32 * per_warp; c0 < g.nchunks; c0 += stride) {
    const uint32_t c = c0 + lane / L;
    const bool live = c < g.nchunks;
    const uint32_t e0 = c * (uint32_t)D + (uint32_t)V * k;  // the lane's first element (the tensor has fewer than 2^31)
    RawBlock<DT, V> raw = {};
    if (live) raw_load<DT, V>(a.src, e0, raw);
    float v[V];
    raw_unpack<DT, V>(raw, v);
#pragma unroll
    for (int m = 0; m < V / 2; m++) {
      const float x = __uint_as_float(__float_as_uint(v[2 * m]) ^ sm[m]);
      v[2 * m] = __fmaf_rn(v[2 * m + 1], sb[m], x);
      v[2 * m + 1] = __fmaf_rn(v[2 * m + 1], -sb[m], x);
    }
    mxb_rht_butterflies_from(v, V, 2);
#pragma unroll
    for (int h = 1; h < L; h <<= 1) {
      // p - v (lane with bit h) or v + p, as one fmaf: the product is exact,
      // so each is the chunk code's a - b or a + b.
      const float sg = (k & h) ? -1.0f : 1.0f;
#pragma unroll
      for (int i = 0; i < V; i++) v[i] = __fmaf_rn(v[i], sg, __shfl_xor_sync(0xFFFFFFFFu, v[i], h));
    }
#pragma unroll
    for (int i = 0; i < V; i++) v[i] *= g.norm;
    if (a.rht_bf16) round_bf16(v);
    float am = abs_max(v);
    if (!live) continue;
    bool fast = am < __uint_as_float(MXB_F32_INF);  // false for NaN and Inf
    uint8_t s = 0;
    uint32_t w[V / 8] = {};
    if (fast && !AMAX) {
      uint32_t su;
      float enc;
      fast = nv_lut_scale(am, ts, enc_lut, su, enc);
      s = (uint8_t)su;
      if (fast) encode_finite<MXB_ELEM_E2M1, V>(p, v, enc, w);
    }
    if (AMAX && fast) {
      fold = max(fold, __float_as_uint(am));
      continue;
    }
    if (!fast) {  // the shared block code on the block's 16 values
      int bad = 0;
      const uint32_t ab = mxb_block_amax_bits(v, 16, policy_mode(a.policy), &bad);
      const bool nan_block = bad && a.policy == MXB_NONFINITE_NAN_BLOCK;
      if constexpr (AMAX) {
        fold = max(fold, nan_block ? 0u : ab);
        continue;
      } else {
        uint8_t cc[16];
        s = mxb_nvfp4_quantize_block(v, 16, ab, nan_block, &ts, nullptr, cc);
#pragma unroll
        for (int j = 0; j < 2; j++) {
          w[j] = 0;
#pragma unroll
          for (int i = 0; i < 8; i++) w[j] |= (uint32_t)cc[8 * j + i] << (4 * i);
        }
      }
    }
    if constexpr (!AMAX) {
      // Dense rows: element e at byte e / 2.
      __stcs(reinterpret_cast<uint2 *>(a.data) + e0 / 16, make_uint2(w[0], w[1]));
      const uint32_t blk = e0 / 16;
      uint32_t slot = blk;
      if (a.swizzled) {
        const uint32_t r = blk / g.nb, j = blk - r * g.nb;
        slot = swizzled_slot(r, j, g.scale_tiles);
      }
      a.scales[slot] = s;
    }
  }
  if constexpr (AMAX) {
    fold = __reduce_max_sync(0xFFFFFFFFu, fold);
    if (lane == 0 && fold) atomicMax(reinterpret_cast<uint32_t *>(a.amax), fold);
  }
}

template <int DT, int D>
void launch(const struct mxb_context *ctx, const QArgs &a, const RhtFuse &g, bool amax, cudaStream_t st) {
  const unsigned grid = grid_for(ctx, (int64_t)g.nchunks * (D / 16), 256);
  if (amax) rht_nvfp4_kernel<DT, D, true><<<grid, 256, 0, st>>>(a, g);
  else rht_nvfp4_kernel<DT, D, false><<<grid, 256, 0, st>>>(a, g);
}

}  // namespace

bool quantize_rht_fused(const struct mxb_context *ctx, const mxb_format_desc *d, const mxb_quant_config_t *cfg,
                        int dtype, const QArgs &a, cudaStream_t st, mxb_status_t *status, const char **impl, bool amax_only) {
  const int D = cfg->rht.size;
  if (d->format != MXB_FORMAT_NVFP4 || !cfg->rht.enabled || (D != 32 && D != 64 && D != 128 && D != 256)) return false;
  if (cfg->block_2d || cfg->rounding != MXB_ROUND_RNE || cfg->four_over_six || cfg->compat ||
      cfg->nvfp4_row_amax || (a.flags & MXB_TENSOR_ROW_AMAX))
    return false;
  if (a.cols % D || a.rows <= 0 || a.rows * a.cols >= ((int64_t)1 << 31)) return false;
  if (!aligned16(a.src) || (a.cols * (int64_t)mxb_dtype_bytes(dtype)) % 16 || !aligned16(a.data) ||
      a.row_bytes != a.cols / 2 || a.scale_cols != a.cols / 16)
    return false;
  RhtFuse g;
  g.nchunks = (uint32_t)(a.rows * a.cols / D);
  g.nb = (uint32_t)(a.cols / 16);
  g.scale_tiles = (g.nb + 3) / 4;
  g.norm = mxb_rht_norm(D);
  const bool compute = cfg->amax_source == MXB_AMAX_COMPUTE;
  *status = [&]() -> mxb_status_t {
    return MXB_DTYPE_SWITCH(dtype, DT, [&]() -> mxb_status_t {
      for (int pass = compute ? 0 : 1; pass < (amax_only ? 1 : 2); pass++) {
        if (pass == 0) MXB_TRY(cuda_status(cudaMemsetAsync(a.amax, 0, sizeof(float), st), "cudaMemsetAsync(dst->amax)"));
        switch (D) {
          case 32: launch<DT, 32>(ctx, a, g, pass == 0, st); break;
          case 64: launch<DT, 64>(ctx, a, g, pass == 0, st); break;
          case 128: launch<DT, 128>(ctx, a, g, pass == 0, st); break;
          default: launch<DT, 256>(ctx, a, g, pass == 0, st); break;
        }
        MXB_TRY(launch_status(pass == 0 ? "nvfp4 amax pass (fused RHT)" : "nvfp4 quantize (fused RHT)"));
      }
      *impl = amax_only ? "cuda-nvfp4-amax-rht-fused" : "cuda-nvfp4-quantize-rht-fused";
      return MXB_SUCCESS;
    });
  }();
  return true;
}

}  // namespace mxb
