// Pieces shared by the quantize kernels: the device Philox (cuRAND's own
// function, which common/philox.h reproduces on the host), the SR bytes of
// a run of elements, code packing, and the grid-stride item walk.
#ifndef MXB_CUDA_QCOMMON_CUH
#define MXB_CUDA_QCOMMON_CUH
#include <curand_philox4x32_x.h>
#include <stdint.h>

#include "common/block.h"
#include "core/formats.h"
#include "cuda/tensor_view.cuh"

namespace mxb {

__device__ __forceinline__ uint4 philox_group(uint64_t seed, uint64_t offset, uint64_t g) {
  return curand_Philox4x32_10(make_uint4((uint32_t)g, (uint32_t)(g >> 32), (uint32_t)offset, (uint32_t)(offset >> 32)),
                              make_uint2((uint32_t)seed, (uint32_t)(seed >> 32)));
}

// philox_group(seed, offset, g) for a group g < 2^32 (counter (g, 0,
// offset), key seed), for kernels that draw many groups of one (seed,
// offset): philox_g32 takes the call's constants k (sr_consts, computed once
// a block), the first round's words that depend on the offset and seed alone
// (counter word 1 is 0) and the keys of rounds 2-10, which
// curand_Philox4x32_10 derives from the seed in every call.
constexpr uint32_t PH_M0 = 0xD2511F53u, PH_M1 = 0xCD9E8D57u, PH_W0 = 0x9E3779B9u, PH_W1 = 0xBB67AE85u;
// Word t (0..5) of the constants: {hi(M1 o.lo) ^ s.lo, lo(M1 o.lo), o.hi ^ s.hi, 0}, then the key pairs
// (s.lo + r W0, s.hi + r W1) of rounds r + 1 = 2..10, two a word.
__device__ __forceinline__ uint4 sr_consts(uint64_t seed, uint64_t offset, int t) {
  const uint32_t s0 = (uint32_t)seed, s1 = (uint32_t)(seed >> 32), o0 = (uint32_t)offset, o1 = (uint32_t)(offset >> 32);
  if (t == 0) return make_uint4(__umulhi(PH_M1, o0) ^ s0, PH_M1 * o0, o1 ^ s1, 0u);
  const uint32_t r = 2 * t - 1;  // rounds r + 1 and r + 2 (r + 2 = 11: unused)
  return make_uint4(s0 + r * PH_W0, s1 + r * PH_W1, s0 + (r + 1) * PH_W0, s1 + (r + 1) * PH_W1);
}
__device__ __forceinline__ uint4 philox_g32(uint32_t g, const uint4 (&k)[6]) {
  const uint4 k0 = k[0];
  uint32_t x = k0.x, y = k0.y, z = __umulhi(PH_M0, g) ^ k0.z, w = PH_M0 * g;  // round 1
#pragma unroll
  for (int r = 1; r < 10; r++) {
    const uint4 kk = k[(r + 1) / 2];
    const uint32_t kx = (r & 1) ? kk.x : kk.z, ky = (r & 1) ? kk.y : kk.w;
    const uint32_t hi0 = __umulhi(PH_M0, x), lo0 = PH_M0 * x, hi1 = __umulhi(PH_M1, z), lo1 = PH_M1 * z;
    x = hi1 ^ y ^ kx;
    y = lo1;
    z = hi0 ^ w ^ ky;
    w = lo0;
  }
  return make_uint4(x, y, z, w);
}

// The 128x4-tile swizzled index (NUMERICS 4.1, mxb_scale_index's layout)
// of the scale of block column j in block row r, `tiles` 4-column tiles per
// 128 rows, in the 32-bit arithmetic of the row-wise kernels.
__device__ __forceinline__ uint32_t swizzled_slot(uint32_t r, uint32_t j, uint32_t tiles) {
  return ((r >> 7) * tiles + (j >> 2)) * 512u + (r & 31u) * 16u + ((r >> 5) & 3u) * 4u + (j & 3u);
}

// Where scale (r, j) of v's grid lives, in either layout, as mxb_scale_index
// places it, in 32-bit arithmetic: for grids of fewer than 2^32 bytes (the
// launcher checks), where the 64-bit mxb_scale_index widens every product.
__device__ __forceinline__ uint32_t scale_slot32(const tensor_view &v, uint32_t r, uint32_t j) {
  const uint32_t cols = (uint32_t)v.scale_cols;
  return v.swizzled ? swizzled_slot(r, j, (cols + 3u) >> 2) : r * cols + j;
}

__device__ __forceinline__ uint32_t word_of(uint4 w, int k) { return k == 0 ? w.x : k == 1 ? w.y : k == 2 ? w.z : w.w; }

// Word k (0..7) of the pair w0:w1.
__device__ __forceinline__ uint32_t word8(uint4 w0, uint4 w1, unsigned k) {
  const uint4 w = k < 4 ? w0 : w1;
  return word_of(w, (int)(k & 3));
}

// The 16 SR bytes of the elements at linear indices i0 .. i0+15 (NUMERICS 3:
// element i uses byte (i%16)%4 of word (i%16)/4 of Philox(group i/16)), as
// four words holding element j in byte j%4 of word j/4. A run that starts
// inside a group (rows whose length is not a multiple of 16) takes bytes
// o .. o+15 of two consecutive groups, o = i0 % 16.
__device__ __forceinline__ uint4 sr_words(uint64_t seed, uint64_t offset, uint64_t i0) {
  const uint4 w0 = philox_group(seed, offset, i0 >> 4);
  const unsigned o = (unsigned)(i0 & 15u);
  if (o == 0) return w0;
  const uint4 w1 = philox_group(seed, offset, (i0 >> 4) + 1);
  const unsigned q = o >> 2, sh = 8 * (o & 3);
  uint32_t out[4];
#pragma unroll
  for (int k = 0; k < 4; k++)  // words q+k and q+k+1 of w0:w1, chosen by selects (no run-time array index)
    out[k] = __funnelshift_r(word8(w0, w1, q + k), word8(w0, w1, q + k + 1), sh);
  return make_uint4(out[0], out[1], out[2], out[3]);
}

// The SR words of the N elements (N a multiple of 16) starting at linear
// index i0, a uint4 (sr_words) for each 16; sr_unpack: their bytes.
template <int N>
__device__ __forceinline__ void sr_words_n(uint64_t seed, uint64_t offset, uint64_t i0, uint4 (&w)[N / 16]) {
#pragma unroll
  for (int g = 0; g < N / 16; g++) w[g] = sr_words(seed, offset, i0 + 16 * g);
}
template <int N>
__device__ __forceinline__ void sr_unpack(const uint4 (&w)[N / 16], uint8_t (&r)[N]) {
#pragma unroll
  for (int j = 0; j < N; j++) r[j] = (uint8_t)(word_of(w[j >> 4], (j >> 2) & 3) >> (8 * (j & 3)));
}
// Element k's byte of SR words w in bits 14..21 (other bits are left
// over), as mxb_e2m1_encode_sr_nonnan_rb14 takes it: one shift of the
// word instead of extracting the byte and shifting it.
// k: a constant once unrolled.
__device__ __forceinline__ uint32_t sr_rb14(const uint4 &w, int k) {
  const int sh = 14 - 8 * (k & 3);
  const uint32_t x = word_of(w, (k >> 2) & 3);
  return sh >= 0 ? x << sh : x >> -sh;
}

// Pack N codes of BITS bits as a little-endian bit stream (FP4: element 2k
// in the low nibble of byte k; FP6: 4 codes in 3 bytes) into words, and
// (pack_store) store the first nbytes. vec: the destination is aligned for
// whole-word stores and all bytes are stored.
template <int N, int BITS>
__device__ __forceinline__ void pack_words(const uint8_t (&c)[N], uint32_t (&w)[((N * BITS + 7) / 8 + 3) / 4]) {
  constexpr int NW = ((N * BITS + 7) / 8 + 3) / 4;
#pragma unroll
  for (int k = 0; k < NW; k++) w[k] = 0;
#pragma unroll
  for (int k = 0; k < N; k++) {
    const int bit = k * BITS;  // compile-time after unrolling
    w[bit / 32] |= (uint32_t)c[k] << (bit % 32);
    if (bit % 32 + BITS > 32) w[bit / 32 + 1] |= (uint32_t)c[k] >> (32 - bit % 32);
  }
}
template <int N, int BITS>
__device__ __forceinline__ void pack_store(uint8_t *dst, const uint8_t (&c)[N], int nbytes, bool vec) {
  constexpr int NB = (N * BITS + 7) / 8;
  constexpr int NW = (NB + 3) / 4;
  uint32_t w[NW];
  pack_words<N, BITS>(c, w);
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

// NB bytes of a little-endian bit stream w (w[NB / 4 + 1] readable) at dst,
// as 16-byte, 4-byte and 2-byte stores as dst's alignment allows (bytes
// where dst is odd): BDR blocks of 6 and 10 bytes start at even offsets.
template <int NB>
__device__ __forceinline__ void store_code_bytes(uint8_t *dst, const uint32_t *w) {
  const uint32_t mis = (uint32_t)reinterpret_cast<uintptr_t>(dst) & 15u;
  if (NB % 16 == 0 && mis == 0) {
#pragma unroll
    for (int k = 0; k < NB / 16; k++)
      reinterpret_cast<uint4 *>(dst)[k] = make_uint4(w[4 * k], w[4 * k + 1], w[4 * k + 2], w[4 * k + 3]);
  } else if (mis % 4 == 0) {
#pragma unroll
    for (int k = 0; k < NB / 4; k++) reinterpret_cast<uint32_t *>(dst)[k] = w[k];
    if (NB % 4 == 2) *reinterpret_cast<uint16_t *>(dst + NB - 2) = (uint16_t)w[NB / 4];
  } else if (mis % 2 == 0) {  // a 2-byte head, then whole words of the stream shifted by 16
    *reinterpret_cast<uint16_t *>(dst) = (uint16_t)w[0];
#pragma unroll
    for (int k = 0; k < (NB - 2) / 4; k++) reinterpret_cast<uint32_t *>(dst + 2)[k] = __funnelshift_r(w[k], w[k + 1], 16);
    if ((NB - 2) % 4 == 2) *reinterpret_cast<uint16_t *>(dst + NB - 2) = (uint16_t)(w[(NB - 2) / 4] >> 16);
  } else {
#pragma unroll
    for (int k = 0; k < NB; k++) dst[k] = (uint8_t)(w[k / 4] >> (8 * (k % 4)));
  }
}

// 16 decoded values as words of the output type OT (fp32: one a word;
// bf16, fp16: two, the lower index in the low half), NaN canonical
// (mxb_canon_nan) and rounded as the CPU reference rounds.
template <int OT>
__device__ __forceinline__ void out_words(const float (&v)[16], uint32_t (&u)[16]) {
#pragma unroll
  for (int k = 0; k < 16; k++) {
    const float x = mxb_canon_nan(v[k]);
    if (OT == MXB_DTYPE_FP32) u[k] = __float_as_uint(x);
    else if (k % 2 == 0) u[k / 2] = OT == MXB_DTYPE_BF16 ? mxb_bf16_rne(x) : mxb_fp16_rne(x);
    else u[k / 2] |= (uint32_t)(OT == MXB_DTYPE_BF16 ? mxb_bf16_rne(x) : mxb_fp16_rne(x)) << 16;
  }
}

// Two values as one word of a 16-bit output type (lo in the low half),
// rounded by the hardware: equal to the library's rounding for every
// non-NaN value (proven over all 2^32 inputs by the GPU suite).
template <int OT>
__device__ __forceinline__ uint32_t cvt16x2(float lo, float hi) {
  uint32_t r;
  if (OT == MXB_DTYPE_BF16) asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  else asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(r) : "f"(hi), "f"(lo));
  return r;
}

// A warp's output when its 32 lanes' runs of W 16-byte chunks are one
// contiguous stretch starting at run: staged in this warp's 32 * W chunks of
// shared memory and stored as whole lines. Lane L's chunk c goes to slot
// L * W + (c ^ ((L / (8 / W)) % W)): the XOR keeps each 8-lane phase of the
// 16-byte writes on distinct banks, and the reads (lane by lane along the
// stretch) are conflict-free. Every lane of the warp calls it. STREAM:
// evict-first stores (outputs nobody reads soon); otherwise ordinary ones.
template <int W, bool STREAM = true>
__device__ __forceinline__ void store_warp_run(uint4 *stage, uint4 *run, const uint32_t (&u)[16]) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int c = 0; c < W; c++)
    stage[lane * W + (c ^ ((lane / (8 / W)) % W))] = make_uint4(u[4 * c], u[4 * c + 1], u[4 * c + 2], u[4 * c + 3]);
  __syncwarp();
#pragma unroll
  for (int k = 0; k < W; k++) {
    const int p = k * 32 + lane, L = p / W, c = p % W;
    const uint4 v = stage[L * W + (c ^ ((L / (8 / W)) % W))];
    if (STREAM) __stcs(run + p, v);
    else run[p] = v;
  }
  __syncwarp();
}

// Grid-stride walk over the items of a row-major [rows, nb] grid: thread
// start, start + stride, ... The (row, block) pair is stepped by a constant
// (stride / nb, stride % nb) with one carry, so the division runs once per
// thread instead of once per item (a 64-bit division is a long sequence,
// a 32-bit one still goes through the slow conversion/reciprocal pipe).
struct ItemWalk {
  int64_t t, total, stride, nb, r, j, dr, dj;
  __device__ __forceinline__ ItemWalk(int64_t total_, int64_t nb_)
      : t((int64_t)blockIdx.x * blockDim.x + threadIdx.x),
        total(total_),
        stride((int64_t)gridDim.x * blockDim.x),
        nb(nb_) {
    init();
  }
  // A walk over groups of G consecutive items (G divides the block size):
  // item t belongs to group t / G.
  __device__ __forceinline__ ItemWalk(int64_t total_, int64_t nb_, int G)
      : t(((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / G),
        total(total_),
        stride((int64_t)gridDim.x * blockDim.x / G),
        nb(nb_) {
    init();
  }
  __device__ __forceinline__ void init() {
    r = t / nb;
    j = t - r * nb;
    dr = stride / nb;
    dj = stride - dr * nb;
  }
  __device__ __forceinline__ bool more() const { return t < total; }
  __device__ __forceinline__ void next() {
    t += stride;
    r += dr;
    j += dj;
    if (j >= nb) {
      j -= nb;
      r++;
    }
  }
};

}  // namespace mxb
#endif
