// mxb_quantize_pair for NVFP4 and the MX formats in one pass over x: the row-wise copy (x
// quantized along its rows) and the column-wise copy (x^T quantized along
// its rows, i.e. x down its columns), each with its own options: RNE or SR,
// the d = 16 RHT or none, either non-finite policy, the tensor amax supplied
// or computed (NVFP4). This is the NVFP4 training recipe's shape: gradients
// row-wise RNE for one GEMM, column-wise with the RHT and SR for the
// weight-gradient GEMM.
//
// A block of threads walks 64 x 64 tiles of x (256 threads for NVFP4's
// blocks of 16, 128 for MX's of 32). Each thread loads one block-long run
// of a tile row (16-byte loads, the next tile's in flight
// while this one is encoded), quantizes it as a row-wise block and writes it
// as fp32 to a shared tile; after a barrier it reads one 16-element run down
// a tile column and quantizes it as a column-wise block. Both copies go
// through the same block code as every other NVFP4 kernel (the specialised
// RNE encoder where the block is finite, the shared block code otherwise;
// SR bytes of the element's index in its own copy), so the bytes are those
// of two separate quantizations of x and x^T, and of the CPU reference. A
// computed amax takes one more pass, which reads x once for both copies'
// amaxes (the column-wise one of the transformed blocks): two reads of x in
// all, against four for transpose-then-quantize. 16-bit input to 8-bit MX
// codes by RNE takes pair_mx16_kernel instead (whole-sector accesses).

#include <cuda_pipeline.h>

#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "cuda/load.cuh"
#include "cuda/qcommon.cuh"
#include "cuda/quantize.cuh"
#include "cuda/udiv.cuh"

namespace mxb {
namespace {

constexpr int TILE = 64;  // 64 x 64 elements: one block of each copy per thread (NVFP4: 256 threads, MX: 128)

struct PairArgs {
  uint32_t tiles_c, ntiles;  // tiles along a row of x, and in all
  udiv31 tile_row;           // id / tiles_c: the tile row of tile id
  int amax_r, amax_c;        // NVFP4 amax pass: fold this copy's amax
  int bmax;                  // MX: the largest scale byte the specialised encoders take (mx_bmax)
  float rq[16];              // pair_nvfp4_kernel: the column copy's d = 16 RHT signs times 1/4 (rht16_quarter)
  uint32_t k64;              // pair_nvfp4_kernel: 0x42800000 (sr_r512_byte)
};

// One block of format F (NVFP4 or MX): its scale and code words (SR: rw
// holds the block's SR words, rb their bytes). Finite blocks by RNE take the
// specialised encoders (NVFP4 by SR too), every other block the shared
// block code.
template <int F, bool SR>
__device__ __forceinline__ uint8_t encode_block(const QArgs &a, const mxb_nvfp4_ts &ts, int bmax,
                                                const float (&v)[mxb_fmt_block_cols(F)],
                                                const uint4 (&rw)[mxb_fmt_block_cols(F) / 16],
                                                const uint8_t (&rb)[mxb_fmt_block_cols(F)],
                                                uint32_t (&w)[mxb_fmt_block_cols(F) * mxb_fmt_elem_bits(F) / 32]) {
  constexpr int B = mxb_fmt_block_cols(F), ELEM = mxb_fmt_elem(F), BITS = mxb_elem_bits(ELEM);
  const mxb_fp p = mxb_elem_fp(ELEM);
  float am = abs_max(v);
  const bool finite = am < __uint_as_float(MXB_F32_INF);
  uint8_t s;
  uint8_t c[B];
  if constexpr (mxb_fmt_scale_type(F) == MXB_SCALE_UE4M3) {
    bool fast = finite;
    if constexpr (SR) fast = fast && nvfp4_encode_finite_sr(v, am, ts, rw[0], s, w);
    else fast = fast && nvfp4_encode_finite(v, am, ts, s, w);
    if (fast) return s;
    int bad = 0;
    const uint32_t ab = mxb_block_amax_bits(v, B, policy_mode(a.policy), &bad);
    s = mxb_nvfp4_quantize_block(v, B, ab, bad && a.policy == MXB_NONFINITE_NAN_BLOCK, &ts, SR ? rb : nullptr, c);
  } else {
    if (!SR && finite) {
      s = mxb_e8m0_scale(__float_as_uint(am), (mxb_scale_rule_t)a.rule, &p);
      if (s <= bmax) {
        encode_finite<ELEM, B>(p, v, __uint_as_float((uint32_t)(254 - s) << 23), w);
        return s;
      }
    }
    s = mxb_mx_quantize_block(v, B, &p, (mxb_scale_rule_t)a.rule, (mxb_nonfinite_t)a.policy, SR ? rb : nullptr, c);
  }
  pack_words<B, BITS>(c, w);
  return s;
}

// The NVFP4 amax pass's fold of one block, as the other NVFP4 kernels fold it.
__device__ __forceinline__ void fold_block(int policy, const float (&v)[16], uint32_t &fold) {
  int bad = 0;
  const uint32_t ab = mxb_block_amax_bits(v, 16, policy_mode(policy), &bad);
  if (!(bad && policy == MXB_NONFINITE_NAN_BLOCK)) fold = max(fold, ab);
}

// Quantize block j of row r of copy a (transformed already): its code words
// in w, its scale byte returned; code_block also stores the words.
template <int F, bool SR>
__device__ __forceinline__ uint8_t code_words(const QArgs &a, const mxb_nvfp4_ts &ts, int bmax, int64_t r, int64_t j,
                                              const float (&v)[mxb_fmt_block_cols(F)],
                                              uint32_t (&w)[mxb_fmt_block_cols(F) * mxb_fmt_elem_bits(F) / 32]) {
  constexpr int B = mxb_fmt_block_cols(F);
  uint4 rw[B / 16];
  uint8_t rb[B];
  if (SR) {
    get_sr_words<B>(a, r, B * j, rw);
    sr_unpack<B>(rw, rb);
  }
  return encode_block<F, SR>(a, ts, bmax, v, rw, rb, w);
}
template <int F, bool SR>
__device__ __forceinline__ uint8_t code_block(const QArgs &a, const mxb_nvfp4_ts &ts, int bmax, int64_t r, int64_t j,
                                              const float (&v)[mxb_fmt_block_cols(F)]) {
  constexpr int NW = mxb_fmt_block_cols(F) * mxb_fmt_elem_bits(F) / 32;
  uint32_t w[NW];
  const uint8_t s = code_words<F, SR>(a, ts, bmax, r, j, v, w);
  store_words<NW>(a.data + r * a.row_bytes + j * (NW * 4), w);
  return s;
}

// Quantize block j of row r of copy a (or fold its amax) and store it.
template <int F, bool AMAX, bool SR>
__device__ __forceinline__ void put_block(const QArgs &a, const RhtMasks &sm, const mxb_nvfp4_ts &ts, int bmax,
                                          int64_t r, int64_t j, float (&v)[mxb_fmt_block_cols(F)], bool fold_it,
                                          uint32_t &fold) {
  transform_block(a, sm, v);
  if constexpr (AMAX) {
    if (fold_it) fold_block(a.policy, v, fold);
    return;
  }
  a.scales[scale_slot32(a, r, j)] = code_block<F, SR>(a, ts, bmax, r, j, v);
}

// The scale bytes of blocks j (s0) and j + 1 (s1) of row r, j even: one
// 16-bit store where the pair is aligned (adjacent in both layouts: a
// swizzled tile keeps a row's four K-blocks together); n: how many exist.
__device__ __forceinline__ void store_scale_pair(const QArgs &a, int64_t r, int64_t j, uint8_t s0, uint8_t s1, int n) {
  uint8_t *q = a.scales + scale_slot32(a, r, j);
  if (n == 2 && ((uintptr_t)q & 1u) == 0) {
    *reinterpret_cast<uint16_t *>(q) = (uint16_t)(s0 | s1 << 8);
  } else {
    if (n >= 1) *q = s0;
    if (n >= 2) a.scales[scale_slot32(a, r, j + 1)] = s1;
  }
}

// r: the row-wise copy [R, C] (its src is x); c: the column-wise copy [C, R].
// AMAX: the NVFP4 amax pass.
template <int DT, int F, bool AMAX, bool SRR, bool SRC>
__global__ void __launch_bounds__(TILE * TILE / mxb_fmt_block_cols(F)) pair_kernel(QArgs r, QArgs c, PairArgs g) {
  constexpr int B = mxb_fmt_block_cols(F), PER = TILE / B;  // blocks a tile row
  __shared__ float tile[TILE][TILE + 1];                    // +1: the column reads hit 32 banks
  const int rr = threadIdx.x / PER, cb = threadIdx.x % PER;  // row side: tile row rr, B columns from B cb
  const int cc = threadIdx.x % TILE, rg = threadIdx.x / TILE;  // column side: tile column cc, B rows from B rg
  const RhtMasks smr = sign_masks(r), smc = sign_masks(c);
  mxb_nvfp4_ts tsr = {}, tsc = {};
  if (mxb_fmt_scale_type(F) == MXB_SCALE_UE4M3 && !AMAX) {
    tsr = mxb_nvfp4_tensor_scales(*r.amax, r.flags);
    tsc = mxb_nvfp4_tensor_scales(*c.amax, c.flags);
  }
  const int64_t R = r.rows, C = r.cols;
  uint32_t fold_r = 0, fold_c = 0;
  RawBlock<DT, B> nxt;
  auto fetch = [&](uint32_t id) {  // this thread's row run of tile id, if it lies in x
    if (id >= g.ntiles) return false;
    const uint32_t tr = g.tile_row.div(id);
    const int64_t row = (int64_t)tr * TILE + rr, col = (int64_t)(id - tr * g.tiles_c) * TILE + B * cb;
    if (row >= R || col >= C) return false;
    raw_load<DT, B>(r.src, row * C + col, nxt);
    return true;
  };
  bool nvalid = fetch(blockIdx.x);
  for (uint32_t id = blockIdx.x; id < g.ntiles; id += gridDim.x) {
    const uint32_t tr = g.tile_row.div(id);
    const int64_t r0 = (int64_t)tr * TILE, c0 = (int64_t)(id - tr * g.tiles_c) * TILE;
    float v[B];
    const bool valid = nvalid;
    if (valid) raw_unpack<DT, B>(nxt, v);
    else
#pragma unroll
      for (int k = 0; k < B; k++) v[k] = 0.0f;
    nvalid = fetch(id + gridDim.x);  // in flight while this tile is encoded
#pragma unroll
    for (int k = 0; k < B; k++) tile[rr][B * cb + k] = v[k];
    if (valid) put_block<F, AMAX, SRR>(r, smr, tsr, g.bmax, r0 + rr, c0 / B + cb, v, g.amax_r, fold_r);
    __syncthreads();
    const int64_t xc = c0 + cc, xr = r0 + B * rg;
    if (xc < C && xr < R) {
      float u[B];
#pragma unroll
      for (int k = 0; k < B; k++) u[k] = tile[B * rg + k][cc];
      put_block<F, AMAX, SRC>(c, smc, tsc, g.bmax, xc, xr / B, u, g.amax_c, fold_c);
    }
    __syncthreads();
  }
  if (AMAX) {
    fold_r = __reduce_max_sync(0xFFFFFFFFu, fold_r);
    fold_c = __reduce_max_sync(0xFFFFFFFFu, fold_c);
    if ((threadIdx.x & 31) == 0 && fold_r) atomicMax(reinterpret_cast<uint32_t *>(r.amax), fold_r);
    if ((threadIdx.x & 31) == 0 && fold_c) atomicMax(reinterpret_cast<uint32_t *>(c.amax), fold_c);
  }
}

// The largest of the non-NaN magnitudes among the W-bit values of w (the
// saturate policy's fold of a block holding a NaN), as |x| bits: magnitudes
// order as their bits, so a NaN is any magnitude above inf's.
template <int W>
__device__ __forceinline__ uint32_t max_not_nan(const uint32_t (&w)[4], uint32_t inf) {
  constexpr uint32_t ABS = W == 32 ? 0x7FFFFFFFu : 0x7FFFu;
  uint32_t m = 0;
#pragma unroll
  for (int k = 0; k < 128 / W; k++) {
    const uint32_t a = (w[k * W / 32] >> (W * k % 32)) & ABS;
    m = max(m, a > inf ? 0u : a);
  }
  return m;
}

// The NVFP4 pair's amax pass where the row-wise copy has no RHT (the
// recipe's gradients). pair_kernel's pass takes a tile through shared
// memory and was issue bound (20.8 instructions an element of bf16 x at
// 8192^2, H100); here a lane keeps 16 rows x P columns of x in registers (one
// 16-byte load a row: P = 8 for 16-bit input, 4 for fp32), so each column
// block (16 rows of one column) is the lane's own and takes the column
// copy's transform and fold as pair_kernel's do, and a row block (16
// columns) is the P-column runs of 16 / P adjacent lanes, folded by
// shuffles. A fold is a max, free of order: the same amax bits.
template <int DT>
__global__ void __launch_bounds__(256, 2) pair_amax_kernel(QArgs r, QArgs c, PairArgs g) {
  constexpr int P = in_t<DT>::per16, L = 16 / P;  // columns a lane; lanes a row block
  const RhtMasks &smc = sign_masks(c);
  const uint32_t lane = threadIdx.x % 32;
  const int64_t C = r.cols;
  const uint32_t warps = gridDim.x * (blockDim.x / 32);
  uint32_t fold_r = 0, fold_c = 0;
  // Warp tile t: rows 16 (t / tiles_c) .. + 15, columns 32 P (t % tiles_c) ..
  for (uint32_t t = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; t < g.ntiles; t += warps) {
    const uint32_t tr = g.tile_row.div(t);
    const int64_t r0 = (int64_t)tr * 16, col = (int64_t)(t - tr * g.tiles_c) * (32 * P) + lane * P;
    // C % 16 == 0: the lanes of a row block are all in x or all past it
    // (those read zeros, which fold to nothing, and still shuffle).
    const bool in = col < C;
    uint4 q[16];
#pragma unroll
    for (int i = 0; i < 16; i++)
      q[i] = in ? __ldg(reinterpret_cast<const uint4 *>(static_cast<const char *>(r.src) +
                                                        ((r0 + i) * C + col) * in_t<DT>::size))
                : make_uint4(0u, 0u, 0u, 0u);
    if (g.amax_c) {
#pragma unroll
      for (int j = 0; j < P; j++) {
        float u[16];
#pragma unroll
        for (int i = 0; i < 16; i++) {
          const uint32_t w[4] = {q[i].x, q[i].y, q[i].z, q[i].w};
          u[i] = DT == MXB_DTYPE_FP32 ? __uint_as_float(w[j]) : cvt_in<DT>(j % 2 ? w[j / 2] >> 16 : w[j / 2] & 0xFFFFu);
        }
        transform_block(c, smc, u);
        fold_block(c.policy, u, fold_c);
      }
    }
    if (g.amax_r) {
      // fold_block's result for a block of |x| bits m (all) and s (those
      // not NaN): NaN-block policy m where it is finite, else nothing;
      // saturate s. A lane's m is a max of |x| bits, for 16-bit input
      // two halves an instruction (the magnitudes order as their bits, and
      // widening keeps that order); s is taken again, value by value, only
      // where the lane holds a NaN.
      const bool sat = r.policy == MXB_NONFINITE_SATURATE;
#pragma unroll
      for (int i = 0; i < 16; i++) {
        const uint32_t w[4] = {q[i].x, q[i].y, q[i].z, q[i].w};
        uint32_t m;
        if constexpr (DT == MXB_DTYPE_FP32) {
          m = max(max(w[0] & 0x7FFFFFFFu, w[1] & 0x7FFFFFFFu), max(w[2] & 0x7FFFFFFFu, w[3] & 0x7FFFFFFFu));
          if (sat && m > 0x7F800000u) m = max_not_nan<32>(w, 0x7F800000u);
        } else {
          constexpr uint32_t INF16 = DT == MXB_DTYPE_BF16 ? 0x7F80u : 0x7C00u;
          const uint32_t h = __vmaxu2(__vmaxu2(w[0] & 0x7FFF7FFFu, w[1] & 0x7FFF7FFFu),
                                      __vmaxu2(w[2] & 0x7FFF7FFFu, w[3] & 0x7FFF7FFFu));
          uint32_t m16 = max(h & 0xFFFFu, h >> 16);
          if (sat && m16 > INF16) m16 = max_not_nan<16>(w, INF16);
          m = __float_as_uint(cvt_in<DT>(m16));
        }
#pragma unroll
        for (int d = 1; d < L; d *= 2) m = max(m, __shfl_xor_sync(0xFFFFFFFFu, m, d));
        if (sat || m < 0x7F800000u) fold_r = max(fold_r, m);
      }
    }
  }
  fold_r = __reduce_max_sync(0xFFFFFFFFu, fold_r);
  fold_c = __reduce_max_sync(0xFFFFFFFFu, fold_c);
  if (lane == 0 && fold_r) atomicMax(reinterpret_cast<uint32_t *>(r.amax), fold_r);
  if (lane == 0 && fold_c) atomicMax(reinterpret_cast<uint32_t *>(c.amax), fold_c);
}

// ---- The NVFP4 recipe's pair: row-wise RNE, column-wise SR ----
// The configuration the recipe runs (gradients: row-wise RNE for one GEMM,
// column-wise with the RHT and SR for the weight-gradient GEMM) has its own
// kernel, pair_kernel's walk with the work a tile needs cut down (it is
// issue bound: 58 instructions an element of x at 80 registers, H100): the
// tile coordinates stepped by the grid instead of divided out, the fast
// paths' scale and encoders specialised to finite blocks (below), for
// 16-bit input the RHT's 1/4 taken into its first stage. The bytes are
// those of pair_kernel (and so of the CPU reference): every block that the
// specialised code does not cover exactly goes through the same block code
// as before. fp32 input runs it at two blocks an SM (114 registers; three
// spilled): 266 -> 177 us at 8192^2 against pair_kernel on an H100.
//
// The fast NVFP4 scale and encoders the kernel uses (nv_lut_scale,
// e2m1_rne_words, e2m1_sr16) are in quantize.cuh, shared with the row-wise kernel.


// The d = 16 RHT of 16-bit input with its 1/4 in the first stage: a pair
// (a, b) gives fmaf(b, +-s/4, a * s'/4), where rht16_quant takes
// fmaf(b, +-s, a * s') and multiplies the result by 1/4 at the end. For
// 16-bit input every value of either is a multiple of 2^-133, so a * s'/4
// is exact, a sum is exact where it is subnormal, and elsewhere rounding
// commutes with the factor 4: each value here is exactly 1/4 of
// rht16_quant's, as long as none of rht16_quant's overflows. It does not
// where the result's amax is below 2^120 (the inputs are then below about
// 2^122, the sums below 2^126); an overflow here (an Inf or NaN result)
// or a larger amax takes the caller to transform_block.
__device__ __forceinline__ void rht16_quarter(float (&v)[16], const float (&q)[16]) {
#pragma unroll
  for (int k = 0; k < 16; k += 2) {
    const float a = v[k] * q[k];
    v[k] = fmaf(v[k + 1], q[k + 1], a);
    v[k + 1] = fmaf(v[k + 1], -q[k + 1], a);
  }
  mxb_rht_butterflies_from(v, 16, 2);
}

// pair_nvfp4_kernel's tile: row r's 64 values at 16-byte chunks 20 r + 5 cb
// + 2 j (values 16 cb + 4 j .. + 3; cb, j = 0..3), the rows' chunks
// interleaved without overlap (a row uses chunks 0, 2, 4-7, 9-12, 14-17,
// 19, 21 of its 20 and the next's first unused one). Thread t of the row
// side (tile row t / 4, cb = t % 4) stores its run as four 16-byte stores
// at chunk 5 t + 2 j: a quarter warp's store (rows 2i, 2i + 1) covers
// chunks 0-7 mod 8, all 32 banks once; a warp's read of 32 columns of one
// row (cb 0, 1 or 2, 3) also hits each bank once. vt_col: the float of
// column col in its row (rows VT_ROW floats apart).
constexpr int VT_ROW = 80;
__device__ __forceinline__ int vt_col(int col) { return 4 * (5 * (col >> 4) + 2 * ((col >> 2) & 3)) + (col & 3); }

// r: the row-wise copy [R, C] (its src is x); c: the column-wise copy [C, R].
// RHT: c.rht (a branch in the loop cost 16 register moves a tile).
template <int DT, bool RHT>
__global__ void __launch_bounds__(TILE * TILE / 16, in_t<DT>::size == 2 ? 3 : 2)
    pair_nvfp4_kernel(QArgs r, QArgs c, PairArgs g) {
  constexpr int F = MXB_FORMAT_NVFP4, B = 16, PER = TILE / B;
  // 16-bit input: the RHT's 1/4 in its first stage (rht16_quarter, exact
  // there); fp32 input: the RHT as every kernel takes it (transform_block).
  constexpr bool H16 = in_t<DT>::size == 2;
  __shared__ __align__(16) float tile[TILE * VT_ROW + 8];  // vt_col: the last row's chunks reach 21
  // A column-copy row's four blocks of a tile (32 bytes of codes, 4 scale
  // bytes) come from four warps. In a whole tile they are staged here, 8
  // code words and the 4 scale bytes a row (9 words: conflict-free writes),
  // and each row goes out as two 16-byte stores and one 4-byte store, whole
  // sectors, where each thread's own 8- and 1-byte stores touched a sector
  // each (partial tiles: those stores).
  __shared__ uint32_t cst[TILE][9];
  // The column copy's SR constants (sr_consts), from its state as the
  // kernel reads it, for philox_g32; first read after the loop's first
  // barrier.
  __shared__ uint4 srk[6];
  if (threadIdx.x < 6) srk[threadIdx.x] = sr_consts(sr_seed(c), sr_offset(c), threadIdx.x);
  // The encode multipliers of the 256 scale bytes (nv_enc_entry), for the
  // row-wise copy's tensor scales [0] and the column-wise copy's [1].
  __shared__ float enc_lut[2][256];
  const int rr = threadIdx.x / PER, cb = threadIdx.x % PER;  // row side: tile row rr, B columns from B cb
  const int cc = threadIdx.x % TILE, rg = threadIdx.x / TILE;  // column side: tile column cc, B rows from B rg
  const RhtMasks &smr = sign_masks(r), &smc = sign_masks(c);
  const mxb_nvfp4_ts tsr = mxb_nvfp4_tensor_scales(*r.amax, r.flags), tsc = mxb_nvfp4_tensor_scales(*c.amax, c.flags);
  static_assert(TILE * TILE / 16 == 256, "a thread an entry of enc_lut");
  enc_lut[0][threadIdx.x] = nv_enc_entry(threadIdx.x, tsr);
  enc_lut[1][threadIdx.x] = nv_enc_entry(threadIdx.x, tsc);
  __syncthreads();
  // R * C < 2^35 and both at least 16: each below 2^31, and below 2^32 every
  // row and column index of a tile that the walk reaches.
  const uint32_t R = (uint32_t)r.rows, C = (uint32_t)r.cols;
  // This iteration's tile (tr, tc) moves on by (dr, dc) with one carry: no
  // division in the loop.
  const uint32_t dr = gridDim.x / g.tiles_c, dc = gridDim.x % g.tiles_c;
  uint32_t tr = blockIdx.x / g.tiles_c, tc = blockIdx.x % g.tiles_c;
  RawBlock<DT, B> nxt;
  // This thread's row run of tile (tr, tc), if it lies in x (tiles past the
  // last lie below row R).
  auto fetch = [&](uint32_t ftr, uint32_t ftc) {
    const uint32_t row = ftr * TILE + rr, col = ftc * TILE + B * cb;
    if (row >= R || col >= C) return false;
    raw_load<DT, B>(r.src, (int64_t)row * C + col, nxt);
    return true;
  };
  // The Philox group of this thread's column block, ((c0 + cc) ld + base +
  // r0 + B rg) / 16 as get_sr_words takes it: the caller checks that ld
  // and base are multiples of 16 (each run starts a group), base >= 0 and
  // every group below 2^32.
  const uint32_t L16 = (uint32_t)(c.sr_ld >> 4), b16 = (uint32_t)(c.sr_base >> 4) + rg;
  bool nvalid = fetch(tr, tc);
  for (uint32_t id = blockIdx.x; id < g.ntiles; id += gridDim.x) {
    const uint32_t r0 = tr * TILE, c0 = tc * TILE;
    uint32_t ntr = tr + dr, ntc = tc + dc;
    if (ntc >= g.tiles_c) ntc -= g.tiles_c, ntr++;
    const bool valid = nvalid;
    float v[B];
    if (valid) raw_unpack<DT, B>(nxt, v);
    nvalid = fetch(ntr, ntc);  // in flight while this tile is encoded
    // Runs outside x write nothing: no column block inside x reads them.
    if (valid) {
#pragma unroll
      for (int k = 0; k < B / 4; k++)  // tile row rr, columns B cb ..: vt_col
        reinterpret_cast<float4 *>(tile + 20 * threadIdx.x)[2 * k] =
            make_float4(v[4 * k], v[4 * k + 1], v[4 * k + 2], v[4 * k + 3]);
      const uint32_t row = r0 + rr, j = c0 / B + cb;
      transform_block(r, smr, v);
      float am = abs_max(v);
      uint32_t w[2], s;
      float enc;
      if (am < __uint_as_float(MXB_F32_INF) && nv_lut_scale(am, tsr, enc_lut[0], s, enc)) {
        e2m1_rne_words<16>(v, enc, w);
      } else {
        const uint4 rw[1] = {};
        const uint8_t rb[B] = {};
        s = encode_block<F, false>(r, tsr, 0, v, rw, rb, w);
      }
      store_words<2>(r.data + (int64_t)row * r.row_bytes + j * 8, w);
      r.scales[scale_slot32(r, row, j)] = (uint8_t)s;
    }
    __syncthreads();
    const uint32_t xc = c0 + cc, xr = r0 + B * rg;
    const bool staged = c.vec_out && r0 + TILE <= R && c0 + TILE <= C;  // the same for the whole block
    if (staged || (xc < C && xr < R)) {
      float u[B];
#pragma unroll
      for (int k = 0; k < B; k++) u[k] = tile[(B * rg + k) * VT_ROW + vt_col(cc)];
      const uint4 rw[1] = {philox_g32(xc * L16 + b16 + (r0 >> 4), srk)};
      if (RHT) {
        if constexpr (H16) {
          rht16_quarter(u, g.rq);
          if (c.rht_bf16) round_bf16(u);
        } else {
          transform_block(c, smc, u);
        }
      }
      float am = abs_max(u);
      uint32_t w[2], s;
      float enc;
      if (am < (H16 ? 0x1p120f : __uint_as_float(MXB_F32_INF)) && nv_lut_scale(am, tsc, enc_lut[1], s, enc)) {
        e2m1_sr16(u, enc, rw[0], g.k64, w);
      } else {  // the block as pair_kernel takes it (fp32: u is that already)
        if constexpr (H16) {
#pragma unroll
          for (int k = 0; k < B; k++) u[k] = tile[(B * rg + k) * VT_ROW + vt_col(cc)];
          transform_block(c, smc, u);
        }
        uint8_t rb[B];
        sr_unpack<B>(rw, rb);
        s = encode_block<F, true>(c, tsc, 0, u, rw, rb, w);
      }
      if (staged) {
        cst[cc][2 * rg] = w[0];
        cst[cc][2 * rg + 1] = w[1];
        reinterpret_cast<uint8_t *>(&cst[cc][8])[rg] = (uint8_t)s;
      } else {
        store_words<2>(c.data + (int64_t)xc * c.row_bytes + (xr / B) * 8, w);
        c.scales[scale_slot32(c, xc, xr / B)] = (uint8_t)s;
      }
    }
    if (staged) {
      __syncthreads();
      if (threadIdx.x < 2 * TILE) {
        const uint32_t row = threadIdx.x >> 1, half = threadIdx.x & 1;
        uint8_t *d = c.data + (int64_t)(c0 + row) * c.row_bytes + (r0 / B) * 8 + 16 * half;
        *reinterpret_cast<uint4 *>(d) =
            make_uint4(cst[row][4 * half], cst[row][4 * half + 1], cst[row][4 * half + 2], cst[row][4 * half + 3]);
        if (!half) {
          uint8_t *q = c.scales + scale_slot32(c, c0 + row, r0 / B);
          const uint32_t sw = cst[row][8];
          if (((uintptr_t)q & 3u) == 0) *reinterpret_cast<uint32_t *>(q) = sw;
          else
#pragma unroll
            for (int k = 0; k < 4; k++) q[k] = (uint8_t)(sw >> (8 * k));
        }
      }
    }
    __syncthreads();
    tr = ntr, tc = ntc;
  }
}

// The MX pair for 16-bit input by RNE without the RHT (the MXFP8 training
// recipe's shape; 8-bit elements), in 64 x 128 tiles of the raw values, 256
// threads. Global accesses cover whole sectors and lines: a block of 32
// values is held by two adjacent lanes, sixteen values each (the block amax
// by one exchange), so a row's 128 codes of a tile are one 128-byte store
// of eight lanes, a column-wise row's 64 codes one of four, and a row's four
// scale bytes one 32-bit store. The tiles come by cp.async into two shared
// buffers (the next tile lands while this one is encoded), swizzled in
// 16-byte chunks (mx_swz): lane l of warp w copies chunks l % 8 and
// l % 8 + 8 of tile rows 4w + l / 8 and 32 + 4w + l / 8, and encodes chunks
// 2 (l % 8) and 2 (l % 8) + 1 of the same rows; on the column side thread t
// reads sixteen rows of columns 2 (t / 4), 2 (t / 4) + 1 (one 32-bit word a
// row, free of bank conflicts), rows 32 ((t / 2) % 2) + 16 (t % 2) onward.
// Four blocks an SM (64 registers) and a grid of one wave. Measured on an
// H200 (MXFP8, bf16 8192 x 8192, docs/PERFORMANCE.md): 178 us with the
// 64 x 64 fp32 tile, 119-123 us with four lanes a block, 113-119 us here.
// Other paths keep pair_kernel: fp32 input, the RHT, SR (SR bytes come in
// 16-element groups), and 4- and 6-bit elements (MXFP4 measured slower in
// the four- and two-lane layouts: 173-180 and 146 against 132 us).
constexpr int MR = 64, MC = 128, MT = 256, MB = 4;
__device__ __forceinline__ int mx_swz(int row) { return 2 * ((row >> 4) & 3); }

// Non-finite values or a scale the specialised encoder does not take: the
// shared block code on this lane's N values with the block's amax (the
// integer max of the group's admitted amaxes, their non-finite flags or-ed),
// the same bytes as on the whole block. grp: the lanes of the block.
template <int F, int N>
__device__ __forceinline__ uint8_t codeN_slow(const QArgs &a, const float (&v)[N], unsigned grp,
                                              uint32_t (&w)[N * mxb_fmt_elem_bits(F) / 32]) {
  constexpr int ELEM = mxb_fmt_elem(F), BITS = mxb_elem_bits(ELEM);
  const mxb_fp p = mxb_elem_fp(ELEM);
  int bad = 0;
  uint32_t ab = mxb_block_amax_bits(
      v, N, a.policy == MXB_NONFINITE_SATURATE ? MXB_AMAX_SKIP_NAN : MXB_AMAX_NAN_BLOCK, &bad);
#pragma unroll
  for (int x = 1; x < 32 / N; x *= 2) {
    ab = max(ab, __shfl_xor_sync(grp, ab, x));
    bad |= __shfl_xor_sync(grp, bad, x);
  }
  uint8_t c[N];
  const uint8_t s = mxb_mx_quantize_block_amax(v, N, ab, bad && a.policy == MXB_NONFINITE_NAN_BLOCK, &p,
                                               (mxb_scale_rule_t)a.rule, nullptr, c);
  pack_words<N, BITS>(c, w);
  return s;
}

// One block's N values of this lane (32 / N adjacent lanes a block): the
// codes as words, the scale byte as returned.
template <int F, int N>
__device__ __forceinline__ uint8_t codeN(const QArgs &a, int bmax, const float (&v)[N],
                                         uint32_t (&w)[N * mxb_fmt_elem_bits(F) / 32]) {
  constexpr int ELEM = mxb_fmt_elem(F);
  const mxb_fp p = mxb_elem_fp(ELEM);
  float am = abs_max(v);
  // fmax_nan keeps a NaN, so the group's lanes agree on whether the block is finite.
#pragma unroll
  for (int x = 1; x < 32 / N; x *= 2) am = fmax_nan(am, __shfl_xor_sync(0xFFFFFFFFu, am, x));
  uint8_t s = 0;
  bool fast = am < __uint_as_float(MXB_F32_INF);
  if (fast) {
    s = mxb_e8m0_scale(__float_as_uint(am), (mxb_scale_rule_t)a.rule, &p);
    fast = s <= bmax;
  }
  if (fast) {
    encode_finite<ELEM, N>(p, v, __uint_as_float((uint32_t)(254 - s) << 23), w);
    return s;
  }
  const unsigned lane = threadIdx.x & 31u, g = 32u / N;
  return codeN_slow<F, N>(a, v, ((1u << g) - 1u) << (lane & ~(g - 1u)), w);
}

template <int DT, int F>
__global__ void __launch_bounds__(MT, MB) pair_mx16_kernel(QArgs r, QArgs c, PairArgs g) {
  constexpr int B = 32, N = 16, BITS = mxb_fmt_elem_bits(F), NW = N * BITS / 32;
  static_assert(mxb_fmt_block_cols(F) == B && DT != MXB_DTYPE_FP32 && N * BITS % 32 == 0,
                "MX blocks of 32, 16-bit input, whole code words for a lane's values");
  __shared__ uint4 tile[2][MR][MC / 8];  // two tiles: the next one lands while this one is encoded
  const int t = threadIdx.x, w = t / 32, l = t % 32;
  const int c8 = l % 8;  // row side: chunks 2 c8, 2 c8 + 1 of rows rowof(i) (copies: c8, c8 + 8)
  const int p = t / 4, k = (t / 2) % 2, half = t % 2;  // column side: columns 2p, 2p + 1, rows 32k + 16 half ..
  auto rowof = [&](int i) { return 32 * i + 4 * w + l / 8; };
  const int64_t R = r.rows, C = r.cols;
  // This thread's four chunks of tile id into buffer b by cp.async (zeros
  // outside x), one commit group a tile.
  auto fetch = [&](uint32_t id, int b) {
    const uint32_t tr = g.tile_row.div(id);
    const int64_t r0 = (int64_t)tr * MR, c0 = (int64_t)(id - tr * g.tiles_c) * MC;
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const int tr = rowof(i), ch = c8 + 8 * h;
        const int64_t row = r0 + tr, col = c0 + 8 * ch;
        const bool in = id < g.ntiles && row < R && col < C;
        const uint16_t *src = static_cast<const uint16_t *>(r.src) + (in ? row * C + col : 0);
        __pipeline_memcpy_async(&tile[b][tr][ch ^ mx_swz(tr)], src, 16, in ? 0 : 16);
      }
    __pipeline_commit();
  };
  fetch(blockIdx.x, 0);
  int b = 0;
  for (uint32_t id = blockIdx.x; id < g.ntiles; id += gridDim.x, b ^= 1) {
    const uint32_t tr = g.tile_row.div(id);
    const int64_t r0 = (int64_t)tr * MR, c0 = (int64_t)(id - tr * g.tiles_c) * MC;
    fetch(id + gridDim.x, b ^ 1);  // buffer b ^ 1 was released by the last iteration's closing barrier
    __pipeline_wait_prior(1);      // this thread's copies of tile id have landed
    __syncthreads();               // and every thread's
#pragma unroll
    for (int i = 0; i < 2; i++) {
      const int tr = rowof(i);
      const int64_t row = r0 + tr, col = c0 + 16 * c8;
      // Lanes c8 >= 4 read their two chunks in the other order, so that each
      // load's eight chunks of a row lie in different banks.
      const int sw = c8 >> 2;
      const uint4 qa = tile[b][tr][(2 * c8 + sw) ^ mx_swz(tr)], qb = tile[b][tr][(2 * c8 + 1 - sw) ^ mx_swz(tr)];
      float v[N];
      unpack16<DT>(sw ? qb : qa, v);
      unpack16<DT>(sw ? qa : qb, v + 8);
      uint32_t cw[NW];
      const uint8_t s = codeN<F, N>(r, g.bmax, v, cw);  // every lane: the block's exchange
      if (row < R && col < C) store_words<NW>(r.data + row * r.row_bytes + col * BITS / 8, cw);
      // Lanes c8 = 0, 2, 4, 6 hold the row's blocks 0-3.
      const int base = l & ~7;
      const uint32_t s1 = __shfl_sync(0xFFFFFFFFu, s, base + 2), s2 = __shfl_sync(0xFFFFFFFFu, s, base + 4),
                     s3 = __shfl_sync(0xFFFFFFFFu, s, base + 6);
      if (c8 == 0 && row < R) {
        const int64_t j0 = c0 / B;
        const int n = C - c0 >= 4 * B ? 4 : (int)((C - c0) / B);
        uint8_t *dst = r.scales + scale_slot32(r, row, j0);
        const uint8_t b4[4] = {s, (uint8_t)s1, (uint8_t)s2, (uint8_t)s3};
        if (n == 4 && ((uintptr_t)dst & 3u) == 0)
          *reinterpret_cast<uint32_t *>(dst) = b4[0] | (uint32_t)b4[1] << 8 | (uint32_t)b4[2] << 16 | (uint32_t)b4[3] << 24;
        else
          for (int q = 0; q < n; q++) r.scales[scale_slot32(r, row, j0 + q)] = b4[q];
      }
    }
    const uint32_t *tw = reinterpret_cast<const uint32_t *>(&tile[b][0][0]);
    const int64_t xc = c0 + 2 * p, xr = r0 + B * k + N * half;  // C is a multiple of 32: xc < C means xc + 1 < C
    uint32_t wd[N];
#pragma unroll
    for (int e = 0; e < N; e++) {
      const int row = B * k + N * half + e;
      wd[e] = tw[row * (MC / 2) + ((p / 4) ^ mx_swz(row)) * 4 + p % 4];
    }
    uint8_t s[2];
#pragma unroll
    for (int h = 0; h < 2; h++) {
      float u[N];
#pragma unroll
      for (int e = 0; e < N; e++) u[e] = cvt_in<DT>(h ? wd[e] >> 16 : wd[e] & 0xFFFFu);
      uint32_t cw[NW];
      s[h] = codeN<F, N>(c, g.bmax, u, cw);
      if (xc < C && xr < R) store_words<NW>(c.data + (xc + h) * c.row_bytes + xr * BITS / 8, cw);
    }
    // Lane (k = 0, half) stores column 2p + half's scales of both row blocks.
    const uint32_t o0 = __shfl_xor_sync(0xFFFFFFFFu, s[0], 2), o1 = __shfl_xor_sync(0xFFFFFFFFu, s[1], 2);
    if (k == 0 && xc < C) {
      const int64_t j0 = r0 / B;  // even: tiles start at multiples of 64 rows
      store_scale_pair(c, xc + half, j0, s[half], (uint8_t)(half ? o1 : o0), r0 + B < R ? 2 : 1);
    }
    __syncthreads();  // buffer b is free for the fetch two tiles on
  }
  __pipeline_wait_prior(0);
}

bool rht_fused(const mxb_quant_config_t *cfg) { return !cfg->rht.enabled || cfg->rht.size == 16; }

}  // namespace

extern "C" int mxb_cuda_quantize_pair(struct mxb_context *ctx, const mxb_quant_config_t *rc,
                                      const mxb_quant_config_t *cc, const mxb_format_desc *dr,
                                      const mxb_tensor_sizes_t *sr, const mxb_format_desc *dc,
                                      const mxb_tensor_sizes_t *sc, mxb_dtype_t src_type, const void *src,
                                      mxb_tensor_t *row, mxb_tensor_t *col, void *stream, mxb_status_t *status,
                                      const char **impl) {
  const int64_t R = row->rows, C = row->cols;
  const bool nv = dr->format == MXB_FORMAT_NVFP4;
  const int B = dr->block_cols, bits = dr->elem_bits;
  if (dc->format != dr->format || dr->block_rows != 1 || B != (nv ? 16 : 32)) return 0;
  if (!nv && dr->scale_type != MXB_SCALE_E8M0) return 0;
  if (rc->block_2d || cc->block_2d || rc->four_over_six || cc->four_over_six || rc->nvfp4_row_amax ||
      cc->nvfp4_row_amax || !rht_fused(rc) || !rht_fused(cc))
    return 0;
  if (R % B || C % B || R * C / B >= (int64_t)1 << 31 || !aligned16(src)) return 0;
  if (!aligned16(row->data) || !aligned16(col->data) || (int64_t)sr->row_bytes != C * bits / 8 ||
      (int64_t)sc->row_bytes != R * bits / 8)
    return 0;
  if (sr->scale_bytes >> 32 || sc->scale_bytes >> 32) return 0;  // scale_slot32 (a swizzled grid's padding)
  cudaStream_t st = as_stream(stream);
  QArgs a = make_qargs(rc, dr, sr, row), b = make_qargs(cc, dc, sc, col);
  a.src = src;
  a.rht = rc->rht.enabled;
  b.rht = cc->rht.enabled;
  b.rng_add = cc->rng_state && cc->rng_state == rc->rng_state;  // drawn after the row-wise copy's
  b.vec_out = sc->row_bytes % 16 == 0;  // the column copy's staged 16-byte stores (its data is aligned)
  PairArgs g;
  g.tiles_c = (uint32_t)((C + TILE - 1) / TILE);
  g.ntiles = (uint32_t)((R + TILE - 1) / TILE) * g.tiles_c;
  g.tile_row = udiv31::of(g.tiles_c);
  g.amax_r = nv && rc->amax_source == MXB_AMAX_COMPUTE;
  g.amax_c = nv && cc->amax_source == MXB_AMAX_COMPUTE;
  g.bmax = nv ? 0 : mx_bmax(mxb_elem_fp(dr->elem));
  for (int k = 0; k < 16; k++) g.rq[k] = (b.signs[0] >> k & 1u) ? -0.25f : 0.25f;
  g.k64 = 0x42800000u;
  // pair_nvfp4_kernel (philox_g32): each column block's SR run starts a
  // Philox group, at a non-negative index below 2^36 (every whole tensor; a
  // shard where its place keeps the column copy's rows on groups).
  const bool sr_groups = sr_runs_g32(b, C, R);
  const unsigned grid = grid_for(ctx, g.ntiles, 1), T = TILE * TILE / B;
  *impl = nv ? "cuda-nvfp4-pair" : "cuda-mx-pair";
  *status = [&]() -> mxb_status_t {
    // The padding of a swizzled scale grid is zero, as on the CPU.
    if (a.swizzled) MXB_TRY(cuda_status(cudaMemsetAsync(a.scales, 0, sr->scale_bytes, st), "cudaMemsetAsync(scales)"));
    if (b.swizzled) MXB_TRY(cuda_status(cudaMemsetAsync(b.scales, 0, sc->scale_bytes, st), "cudaMemsetAsync(scales)"));
    if (g.amax_r) MXB_TRY(cuda_status(cudaMemsetAsync(a.amax, 0, sizeof(float), st), "cudaMemsetAsync(rowwise->amax)"));
    if (g.amax_c) MXB_TRY(cuda_status(cudaMemsetAsync(b.amax, 0, sizeof(float), st), "cudaMemsetAsync(colwise->amax)"));
    MXB_TRY(MXB_FORMAT_SWITCH(dr->format, F, [&]() -> mxb_status_t {
      constexpr int SCALE = mxb_fmt_scale_type(F), BF = mxb_fmt_block_cols(F);
      if constexpr ((SCALE == MXB_SCALE_UE4M3 && BF == 16) || (SCALE == MXB_SCALE_E8M0 && BF == 32)) {
        return MXB_DTYPE_SWITCH(src_type, DT, [&]() -> mxb_status_t {
          if constexpr (SCALE == MXB_SCALE_UE4M3) {
            if (g.amax_r || g.amax_c) {
              if (!a.rht) {  // x in registers: 16 rows x one 16-byte run a lane
                PairArgs ga = g;
                ga.tiles_c = (uint32_t)((C + 32 * in_t<DT>::per16 - 1) / (32 * in_t<DT>::per16));
                ga.ntiles = (uint32_t)(R / 16) * ga.tiles_c;
                ga.tile_row = udiv31::of(ga.tiles_c);
                pair_amax_kernel<DT><<<grid_for(ctx, ga.ntiles, 8), 256, 0, st>>>(a, b, ga);
              } else {
                pair_kernel<DT, F, true, false, false><<<grid, T, 0, st>>>(a, b, g);
              }
              MXB_TRY(launch_status("nvfp4 pair amax pass"));
            }
          }
          if constexpr (SCALE == MXB_SCALE_E8M0 && DT != MXB_DTYPE_FP32 && mxb_fmt_elem_bits(F) == 8) {
            if (!a.rht && !b.rht && !a.sr && !b.sr) {
              PairArgs g16 = g;
              g16.tiles_c = (uint32_t)((C + MC - 1) / MC);
              g16.ntiles = (uint32_t)((R + MR - 1) / MR) * g16.tiles_c;
              g16.tile_row = udiv31::of(g16.tiles_c);
              pair_mx16_kernel<DT, F><<<grid_for(ctx, g16.ntiles, 1, MB), MT, 0, st>>>(a, b, g16);
              return launch_status(*impl);
            }
          }
          MXB_BOOL_SWITCH(a.sr != 0, SRR, [&] {
            MXB_BOOL_SWITCH(b.sr != 0, SRC, [&] {
              if constexpr (SCALE == MXB_SCALE_UE4M3 && !SRR && SRC) {
                if (sr_groups) {
                  if (b.rht) pair_nvfp4_kernel<DT, true><<<grid, T, 0, st>>>(a, b, g);
                  else pair_nvfp4_kernel<DT, false><<<grid, T, 0, st>>>(a, b, g);
                  return;
                }
              }
              pair_kernel<DT, F, false, SRR, SRC><<<grid, T, 0, st>>>(a, b, g);
            });
          });
          return launch_status(*impl);
        });
      } else {  // not reached: the checks above let only these formats through
        return mxb_fail(MXB_ERR_INTERNAL, "%s has no one-pass pair kernel", dr->name);
      }
    }));
    // The SR states move on after the kernels that read them, in stream
    // order (graph-safe): by two where both copies share one.
    if (rc->rng_state) advance_rng<<<1, 1, 0, st>>>(rc->rng_state, b.rng_add ? 2 : 1);
    if (cc->rng_state && !b.rng_add) advance_rng<<<1, 1, 0, st>>>(cc->rng_state, 1);
    return launch_status("SR state advance");
  }();
  return 1;
}

}  // namespace mxb
