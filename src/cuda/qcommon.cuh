// Pieces shared by the quantize kernels: the device Philox (cuRAND's own
// function, which common/philox.h reproduces on the host), the SR bytes of
// a run of elements, code packing, and scale placement.
#ifndef MXB_CUDA_QCOMMON_CUH
#define MXB_CUDA_QCOMMON_CUH
#include <curand_philox4x32_x.h>
#include <stdint.h>

#include "common/block.h"
#include "core/formats.h"

namespace mxb {

__device__ __forceinline__ uint4 philox_group(uint64_t seed, uint64_t offset, uint64_t g) {
  return curand_Philox4x32_10(make_uint4((uint32_t)g, (uint32_t)(g >> 32), (uint32_t)offset, (uint32_t)(offset >> 32)),
                              make_uint2((uint32_t)seed, (uint32_t)(seed >> 32)));
}

__device__ __forceinline__ uint32_t word_of(uint4 w, int k) { return k == 0 ? w.x : k == 1 ? w.y : k == 2 ? w.z : w.w; }

// SR bytes of the N elements at linear indices i0 .. i0+N-1 (NUMERICS 3):
// element i uses byte (i%16)%4 of word (i%16)/4 of Philox(group i/16). When
// i0 is group-aligned (the common case) the run needs N/16 Philox calls.
template <int N>
__device__ __forceinline__ void sr_bytes(uint64_t seed, uint64_t offset, uint64_t i0, uint8_t (&r)[N]) {
  if ((i0 & 15u) == 0) {
#pragma unroll
    for (int g = 0; g < (N + 15) / 16; g++) {
      uint4 w = philox_group(seed, offset, (i0 >> 4) + g);
#pragma unroll
      for (int j = 0; j < 16 && g * 16 + j < N; j++) r[g * 16 + j] = (uint8_t)(word_of(w, j >> 2) >> (8 * (j & 3)));
    }
  } else {
    uint64_t g0 = i0 >> 4;
#pragma unroll
    for (int g = 0; g <= (N + 15) / 16; g++) {
      uint4 w = philox_group(seed, offset, g0 + g);
#pragma unroll
      for (int k = 0; k < N; k++) {
        uint64_t i = i0 + k;
        if ((i >> 4) == g0 + g) {
          int j = (int)(i & 15u);
          uint32_t wj = j < 4 ? w.x : j < 8 ? w.y : j < 12 ? w.z : w.w;
          r[k] = (uint8_t)(wj >> (8 * (j & 3)));
        }
      }
    }
  }
}

// Pack N codes of BITS bits as a little-endian bit stream (FP4: element 2k
// in the low nibble of byte k; FP6: 4 codes in 3 bytes) and store the first
// nbytes. vec: the destination is aligned for whole-word stores and all
// bytes are stored.
template <int N, int BITS>
__device__ __forceinline__ void pack_store(uint8_t *dst, const uint8_t (&c)[N], int nbytes, bool vec) {
  constexpr int NB = (N * BITS + 7) / 8;
  constexpr int NW = (NB + 3) / 4;
  uint32_t w[NW];
#pragma unroll
  for (int k = 0; k < NW; k++) w[k] = 0;
#pragma unroll
  for (int k = 0; k < N; k++) {
    const int bit = k * BITS;  // compile-time after unrolling
    w[bit / 32] |= (uint32_t)c[k] << (bit % 32);
    if (bit % 32 + BITS > 32) w[bit / 32 + 1] |= (uint32_t)c[k] >> (32 - bit % 32);
  }
  if (vec && NB % 4 == 0) {
    if (NW % 4 == 0) {
#pragma unroll
      for (int k = 0; k < NW / 4; k++)
        reinterpret_cast<uint4 *>(dst)[k] = make_uint4(w[4 * k], w[4 * k + 1], w[4 * k + 2], w[4 * k + 3]);
    } else if (NW % 2 == 0) {
#pragma unroll
      for (int k = 0; k < NW / 2; k++) reinterpret_cast<uint2 *>(dst)[k] = make_uint2(w[2 * k], w[2 * k + 1]);
    } else {
#pragma unroll
      for (int k = 0; k < NW; k++) reinterpret_cast<uint32_t *>(dst)[k] = w[k];
    }
  } else {
#pragma unroll
    for (int k = 0; k < NB; k++)
      if (k < nbytes) dst[k] = (uint8_t)(w[k / 4] >> (8 * (k % 4)));
  }
}

// Where scale (i, j) of a [scale_rows, scale_cols] grid lives.
__device__ __forceinline__ int64_t scale_at(int64_t i, int64_t j, int64_t scale_cols, bool swizzled) {
  return swizzled ? mxb_swizzle_index(i, j, scale_cols) : i * scale_cols + j;
}

}  // namespace mxb
#endif
