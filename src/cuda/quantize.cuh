// What the quantize kernels share: their arguments, the fused RHT (d = 16)
// and the block amax mode of the non-finite policies; and the row-wise
// kernels at bandwidth (quantize_rows.cu) that quantize.cu hands the common
// case to.
#ifndef MXB_CUDA_QUANTIZE_CUH
#define MXB_CUDA_QUANTIZE_CUH
#include <cuda_runtime.h>

#include "common/block.h"
#include "common/rht.h"
#include "core/formats.h"
#include "cuda/tensor_view.cuh"

struct mxb_context;

namespace mxb {

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
  int brs, bcs;  // their mxb_block_shift
  int rht, rht_bf16;
  uint32_t signs[8];
  int vec_in;  // 16-byte loads: src aligned and every row starts aligned
  int vec_out; // whole-word code stores: data aligned and row_bytes a multiple of the block's bytes
};

// The forward RHT of NUMERICS 5 (d = 16) for the quantizers: signs as a
// sign-bit XOR with masks made once per thread (sign_masks), then the shared
// butterflies and norm. The shared chunk's final NaN canonicalisation is
// left to the one output that stores NaN bits (BF16): every other encoder
// maps a NaN to its NaN code, NaN block or +max whatever the NaN's sign and
// payload, and amaxes admit no NaN, so the quantized bytes are the same.
struct RhtMasks {
  uint32_t m[16];
};
__device__ __forceinline__ RhtMasks sign_masks(const QArgs &a) {
  RhtMasks s;
#pragma unroll
  for (int k = 0; k < 16; k++) s.m[k] = ((a.signs[0] >> k) & 1u) << 31;
  return s;
}
__device__ __forceinline__ void rht16_quant(float *v, const RhtMasks &s) {
#pragma unroll
  for (int k = 0; k < 16; k++) v[k] = __uint_as_float(__float_as_uint(v[k]) ^ s.m[k]);
  mxb_rht_butterflies(v, 16);
  const float norm = mxb_rht_norm(16);
#pragma unroll
  for (int k = 0; k < 16; k++) v[k] *= norm;
}

// The fused RHT (d = 16) of a loaded block, when asked.
template <int N>
__device__ __forceinline__ void transform_block(const QArgs &a, const RhtMasks &sm, float (&v)[N]) {
  if (a.rht) {
#pragma unroll
    for (int k = 0; k < N; k += 16) rht16_quant(v + k, sm);
    if (a.rht_bf16) {
#pragma unroll
      for (int k = 0; k < N; k++) v[k] = mxb_bf16_decode(mxb_bf16_rne(v[k]));
    }
  }
}

// The block amax mode of the NVFP4 and MX non-finite policies.
__device__ __forceinline__ mxb_amax_mode policy_mode(int policy) {
  return policy == MXB_NONFINITE_SATURATE ? MXB_AMAX_SKIP_NAN : MXB_AMAX_NAN_BLOCK;
}

// The row-wise fast path: NVFP4 1x16 (RNE, no Four Over Six, the fused RHT
// allowed) and the MX formats (RNE) where every row holds whole blocks,
// input and codes are 16-byte aligned and the tensor has fewer than 2^31
// blocks. Returns false (having launched nothing) where it does not apply;
// amax_pass: run the NVFP4 tensor-amax pass first.
bool quantize_rows(const struct mxb_context *ctx, const mxb_format_desc *d, const mxb_quant_config_t *cfg,
                   int dtype, bool amax_pass, const QArgs &a, cudaStream_t st, mxb_status_t *status, const char **impl);

}  // namespace mxb
#endif
