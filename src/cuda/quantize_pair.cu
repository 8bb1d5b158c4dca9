// mxb_quantize_pair for NVFP4 in one pass over x: the row-wise copy (x
// quantized along its rows) and the column-wise copy (x^T quantized along
// its rows, i.e. x down its columns), each with its own options: RNE or SR,
// the d = 16 RHT or none, either non-finite policy, the tensor amax supplied
// or computed. This is the NVFP4 training recipe's shape: gradients
// row-wise RNE for one GEMM, column-wise with the RHT and SR for the
// weight-gradient GEMM.
//
// A block of 256 threads walks 64 x 64 tiles of x. Each thread loads one
// 16-element run of a tile row (16-byte loads, the next tile's in flight
// while this one is encoded), quantizes it as a row-wise block and writes it
// as fp32 to a shared tile; after a barrier it reads one 16-element run down
// a tile column and quantizes it as a column-wise block. Both copies go
// through the same block code as every other NVFP4 kernel (the specialised
// RNE encoder where the block is finite, the shared block code otherwise;
// SR bytes of the element's index in its own copy), so the bytes are those
// of two separate quantizations of x and x^T, and of the CPU reference. A
// computed amax takes one more pass, which reads x once for both copies'
// amaxes (the column-wise one of the transformed blocks): two reads of x in
// all, against four for transpose-then-quantize.
#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "cuda/load.cuh"
#include "cuda/qcommon.cuh"
#include "cuda/quantize.cuh"

namespace mxb {
namespace {

constexpr int TILE = 64;  // 64 x 64 elements: one block of each copy per thread

struct PairArgs {
  uint32_t tiles_c, ntiles;  // tiles along a row of x, and in all
  int amax_r, amax_c;        // amax pass: fold this copy's amax
};

// One NVFP4 block of 16 values: its scale and code words (SR: rb holds the
// block's SR bytes).
template <bool SR>
__device__ __forceinline__ uint8_t nvfp4_block(const float (&v)[16], const mxb_nvfp4_ts &ts, int policy,
                                               const uint8_t (&rb)[16], uint32_t (&w)[2]) {
  float am = 0.0f;
#pragma unroll
  for (int k = 0; k < 16; k++) am = fmax_nan(am, fabsf(v[k]));
  uint8_t s;
  bool fast = am < __uint_as_float(MXB_F32_INF);
  if constexpr (SR) fast = fast && nvfp4_encode_finite_sr(v, am, ts, rb, s, w);
  else fast = fast && nvfp4_encode_finite(v, am, ts, s, w);
  if (fast) return s;
  int bad = 0;
  const uint32_t ab = mxb_block_amax_bits(v, 16, policy_mode(policy), &bad);
  uint8_t c[16];
  s = mxb_nvfp4_quantize_block(v, 16, ab, bad && policy == MXB_NONFINITE_NAN_BLOCK, &ts, SR ? rb : nullptr, c);
  pack_words<16, 4>(c, w);
  return s;
}

// The amax pass's fold of one block, as the other NVFP4 kernels fold it.
__device__ __forceinline__ void fold_block(int policy, const float (&v)[16], uint32_t &fold) {
  int bad = 0;
  const uint32_t ab = mxb_block_amax_bits(v, 16, policy_mode(policy), &bad);
  if (!(bad && policy == MXB_NONFINITE_NAN_BLOCK)) fold = max(fold, ab);
}

// Quantize block j of row r of copy a (or fold its amax) and store it.
template <bool AMAX, bool SR>
__device__ __forceinline__ void put_block(const QArgs &a, const RhtMasks &sm, const mxb_nvfp4_ts &ts, int64_t r,
                                          int64_t j, float (&v)[16], bool fold_it, uint32_t &fold) {
  transform_block(a, sm, v);
  if (AMAX) {
    if (fold_it) fold_block(a.policy, v, fold);
    return;
  }
  uint8_t rb[16];
  if (SR) get_sr<16>(a, r, 16 * j, rb);
  uint32_t w[2];
  const uint8_t s = nvfp4_block<SR>(v, ts, a.policy, rb, w);
  __stcs(reinterpret_cast<uint2 *>(a.data + r * a.row_bytes + j * 8), make_uint2(w[0], w[1]));
  a.scales[mxb_scale_index(r, j, a.scale_cols, a.swizzled)] = s;
}

// r: the row-wise copy [R, C] (its src is x); c: the column-wise copy [C, R].
template <int DT, bool AMAX, bool SRR, bool SRC>
__global__ void __launch_bounds__(256) pair_kernel(QArgs r, QArgs c, PairArgs g) {
  __shared__ float tile[TILE][TILE + 1];  // +1: the column reads hit 32 banks
  const int rr = threadIdx.x >> 2, cb = threadIdx.x & 3;   // row side: tile row rr, 16 columns from 16 cb
  const int cc = threadIdx.x & 63, rg = threadIdx.x >> 6;  // column side: tile column cc, 16 rows from 16 rg
  const RhtMasks smr = sign_masks(r), smc = sign_masks(c);
  mxb_nvfp4_ts tsr = {}, tsc = {};
  if (!AMAX) {
    tsr = mxb_nvfp4_tensor_scales(*r.amax);
    tsc = mxb_nvfp4_tensor_scales(*c.amax);
  }
  const int64_t R = r.rows, C = r.cols;
  uint32_t fold_r = 0, fold_c = 0;
  RawBlock<DT, 16> nxt;
  auto fetch = [&](uint32_t id) {  // this thread's row run of tile id, if it lies in x
    if (id >= g.ntiles) return false;
    const int64_t row = (int64_t)(id / g.tiles_c) * TILE + rr, col = (int64_t)(id % g.tiles_c) * TILE + 16 * cb;
    if (row >= R || col >= C) return false;
    raw_load<DT, 16>(r.src, row * C + col, nxt);
    return true;
  };
  bool nvalid = fetch(blockIdx.x);
  for (uint32_t id = blockIdx.x; id < g.ntiles; id += gridDim.x) {
    const int64_t r0 = (int64_t)(id / g.tiles_c) * TILE, c0 = (int64_t)(id % g.tiles_c) * TILE;
    float v[16];
    const bool valid = nvalid;
    if (valid) raw_unpack<DT, 16>(nxt, v);
    else
#pragma unroll
      for (int k = 0; k < 16; k++) v[k] = 0.0f;
    nvalid = fetch(id + gridDim.x);  // in flight while this tile is encoded
#pragma unroll
    for (int k = 0; k < 16; k++) tile[rr][16 * cb + k] = v[k];
    if (valid) put_block<AMAX, SRR>(r, smr, tsr, r0 + rr, (c0 >> 4) + cb, v, g.amax_r, fold_r);
    __syncthreads();
    const int64_t xc = c0 + cc, xr = r0 + 16 * rg;
    if (xc < C && xr < R) {
      float u[16];
#pragma unroll
      for (int k = 0; k < 16; k++) u[k] = tile[16 * rg + k][cc];
      put_block<AMAX, SRC>(c, smc, tsc, xc, xr >> 4, u, g.amax_c, fold_c);
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

bool rht_fused(const mxb_quant_config_t *cfg) { return !cfg->rht.enabled || cfg->rht.size == 16; }

}  // namespace

extern "C" int mxb_cuda_quantize_pair(struct mxb_context *ctx, const mxb_quant_config_t *rc,
                                      const mxb_quant_config_t *cc, const mxb_format_desc *dr,
                                      const mxb_tensor_sizes_t *sr, const mxb_format_desc *dc,
                                      const mxb_tensor_sizes_t *sc, mxb_dtype_t src_type, const void *src,
                                      mxb_tensor_t *row, mxb_tensor_t *col, void *stream, mxb_status_t *status) {
  const int64_t R = row->rows, C = row->cols;
  if (dr->format != MXB_FORMAT_NVFP4 || dc->format != MXB_FORMAT_NVFP4) return 0;
  if (rc->block_2d || cc->block_2d || rc->four_over_six || cc->four_over_six || !rht_fused(rc) || !rht_fused(cc))
    return 0;
  if (R % 16 || C % 16 || R * C / 16 >= (int64_t)1 << 31 || !aligned16(src)) return 0;
  if (((uintptr_t)row->data | (uintptr_t)col->data) & 7u || (int64_t)sr->row_bytes != C / 2 ||
      (int64_t)sc->row_bytes != R / 2)
    return 0;
  cudaStream_t st = as_stream(stream);
  QArgs a = make_qargs(rc, dr, sr, row), b = make_qargs(cc, dc, sc, col);
  a.src = src;
  a.rht = rc->rht.enabled;
  b.rht = cc->rht.enabled;
  b.rng_add = cc->rng_state && cc->rng_state == rc->rng_state;  // drawn after the row-wise copy's
  PairArgs g;
  g.tiles_c = (uint32_t)((C + TILE - 1) / TILE);
  g.ntiles = (uint32_t)((R + TILE - 1) / TILE) * g.tiles_c;
  g.amax_r = rc->amax_source == MXB_AMAX_COMPUTE;
  g.amax_c = cc->amax_source == MXB_AMAX_COMPUTE;
  const unsigned grid = grid_for(ctx, g.ntiles, 1);
  *status = [&]() -> mxb_status_t {
    // The padding of a swizzled scale grid is zero, as on the CPU.
    if (a.swizzled) MXB_TRY(cuda_status(cudaMemsetAsync(a.scales, 0, sr->scale_bytes, st), "cudaMemsetAsync(scales)"));
    if (b.swizzled) MXB_TRY(cuda_status(cudaMemsetAsync(b.scales, 0, sc->scale_bytes, st), "cudaMemsetAsync(scales)"));
    if (g.amax_r) MXB_TRY(cuda_status(cudaMemsetAsync(a.amax, 0, sizeof(float), st), "cudaMemsetAsync(rowwise->amax)"));
    if (g.amax_c) MXB_TRY(cuda_status(cudaMemsetAsync(b.amax, 0, sizeof(float), st), "cudaMemsetAsync(colwise->amax)"));
    return MXB_DTYPE_SWITCH(src_type, DT, [&]() -> mxb_status_t {
      if (g.amax_r || g.amax_c) {
        pair_kernel<DT, true, false, false><<<grid, 256, 0, st>>>(a, b, g);
        MXB_TRY(launch_status("nvfp4 pair amax pass"));
      }
      MXB_BOOL_SWITCH(a.sr != 0, SRR, [&] {
        MXB_BOOL_SWITCH(b.sr != 0, SRC, [&] { pair_kernel<DT, false, SRR, SRC><<<grid, 256, 0, st>>>(a, b, g); });
      });
      MXB_TRY(launch_status("nvfp4 pair"));
      // The SR states move on after the kernels that read them, in stream
      // order (graph-safe): by two where both copies share one.
      if (rc->rng_state) advance_rng<<<1, 1, 0, st>>>(rc->rng_state, b.rng_add ? 2 : 1);
      if (cc->rng_state && !b.rng_add) advance_rng<<<1, 1, 0, st>>>(cc->rng_state, 1);
      return launch_status("SR state advance");
    });
  }();
  return 1;
}

}  // namespace mxb
