// CUDA quantize, the general kernels (the common case of NVFP4 and MX rows
// of whole blocks goes to quantize_rows.cu first): one thread per scale
// block (its length from the format table),
// the shared per-block code of common/block.h inlined, so every byte matches
// the CPU reference. Loads and stores are 16-byte vectors where the row
// layout allows; tails and odd shapes take a scalar path through the same
// block code. The NVFP4 tensor amax (when computed) and the FP8 partition
// amaxes come from a first pass over the input; nothing is allocated and
// nothing synchronises.
#include "common/rht.h"
#include "core/tensor.h"
#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "cuda/load.cuh"
#include "cuda/qcommon.cuh"
#include "cuda/quantize.cuh"
#include "cuda/tensor_view.cuh"

namespace mxb {

// Read the n valid values of the block at (r, c0), transformed by the RHT
// (d = 16, fused) when asked.
template <int DT, int N>
__device__ __forceinline__ void load_block(const QArgs &a, const RhtMasks &sm, int64_t r, int64_t c0, int n,
                                           float (&v)[N]) {
  load_n<DT, N>(a.src, r * a.cols + c0, n, a.vec_in && n == N, v);
  transform_block(a, sm, v);
}

// ---- NVFP4 1x16 and 16x16 ---------------------------------------------------
// 1D: thread t quantizes block (t / nb, t % nb). 2D: each half-warp owns one
// 16x16 tile, lane l its row l; the tile amax is a 16-lane max.
// AMAX_ONLY: the first pass, folding the admitted block amaxes into *amax.
// SR and Four Over Six (FOS) are template parameters: the Philox state and
// the second candidate scale would otherwise raise the register count (and
// cut the occupancy) of the plain RNE kernel too. Kernels with either are
// held to 3 blocks of 256 per SM (80 registers) without Four Over Six, 2
// with it; the plain kernel to 3. Left free the kernel took 170 registers,
// one block per SM, and ran at 0.46 (fp32) / 0.38 (bf16) of copy bandwidth
// against 0.68 / 0.48 at 2 blocks (measured on an H200; PERFORMANCE.md).
template <int DT, bool TWO_D, bool AMAX_ONLY, bool SR, bool FOS>
__global__ void __launch_bounds__(256, FOS ? 2 : 3) nvfp4_kernel(QArgs a) {
  constexpr int B = mxb_fmt_block_cols(MXB_FORMAT_NVFP4);
  static_assert(B == 16, "a 2D tile is B rows of B: one half-warp, lane l its row l");
  const int64_t nb = (a.cols + B - 1) / B;
  // 2D: whole warps stay in the loop together (the tile shuffles need every
  // lane); lanes past the last tile see rows >= a.rows and idle.
  const int64_t total = TWO_D ? ((a.rows + B - 1) / B * nb * B + 31) / 32 * 32 : a.rows * nb;
  // 2D: the walk is over tiles; a lane's row in its tile never changes (the
  // stride is a multiple of B).
  ItemWalk w = TWO_D ? ItemWalk(total / B, nb, B) : ItemWalk(total, nb);
  const RhtMasks sm = sign_masks(a);
  mxb_nvfp4_ts ts;
  if (!AMAX_ONLY) {  // the tensor's (rows with an amax each take theirs below)
    ts = mxb_nvfp4_tensor_scales(*a.amax, a.flags);
    ts.four_six = FOS ? a.four_six : 0;  // a constant 0 drops the second candidate
  }
  uint32_t fold = 0;
  // 16-bit inputs: the next item's loads are issued before the current
  // item's work, so every thread keeps its loads in flight while it computes
  // (fp32 blocks already bring twice the bytes per thread; their registers
  // are better spent on occupancy).
  constexpr bool PF = in_t<DT>::size == 2;
  RawBlock<DT, B> nxt;
  int64_t nr = 0, nj = 0;  // the next item's row and block (r >= a.rows: an idle 2D lane)
  auto prefetch = [&]() {  // the item at the walk's position
    if (!w.more()) return false;
    nr = TWO_D ? w.r * B + (threadIdx.x & (B - 1)) : w.r;
    nj = w.j;
    const bool vec = PF && a.vec_in && nr < a.rows && a.cols - nj * B >= B;
    if (vec) raw_load<DT, B>(a.src, nr * a.cols + nj * B, nxt);
    return vec;
  };
  bool nvec = prefetch();
  while (w.more()) {
    const int64_t r = nr, j = nj;
    w.next();
    const bool live = r < a.rows;
    const int64_t c0 = j * B;
    const int n = live ? (int)min((int64_t)B, a.cols - c0) : 0;
    float v[B];
    if (nvec) {
      const RawBlock<DT, B> cur = nxt;
      nvec = prefetch();
      raw_unpack<DT, B>(cur, v);
    } else {
      nvec = prefetch();
      load_n<DT, B>(a.src, (live ? r : 0) * a.cols + c0, n, !PF && a.vec_in && n == B, v);
    }
    transform_block(a, sm, v);
    uint4 rw[B / 16];  // SR words: Philox runs while the loads are in flight
    uint8_t rb[B];
    if (SR) {
      get_sr_words<B>(a, r, c0, rw);
      sr_unpack<B>(rw, rb);  // for the shared block code; the specialised encoder takes the words
    }
    int bad = 0;
    // Every block, tails included, passes the compile-time length: the
    // shared loops unroll and the block stays in registers (a run-time
    // length puts it on the stack). A tail's missing elements load as +0,
    // which changes no amax and encodes to the zero padding codes.
    uint32_t ab = mxb_block_amax_bits(v, B, policy_mode(a.policy), &bad);
    if (TWO_D) {  // tile amax and NaN flag over the B lanes of this half-warp
#pragma unroll
      for (int o = B / 2; o > 0; o >>= 1) {
        ab = max(ab, __shfl_xor_sync(0xFFFFFFFFu, ab, o));
        bad |= __shfl_xor_sync(0xFFFFFFFFu, bad, o);
      }
    }
    const bool nan_block = bad && a.policy == MXB_NONFINITE_NAN_BLOCK;
    const bool row_amax = !TWO_D && (a.flags & MXB_TENSOR_ROW_AMAX);  // one amax a row (1D only)
    if (AMAX_ONLY) {
      const uint32_t m = nan_block ? 0u : ab;  // NaN blocks stay out of the amax
      if (!row_amax) {
        fold = max(fold, m);
      } else {
        // One atomic per row a warp: the walk gives consecutive lanes
        // consecutive blocks, so a warp's lanes share one or two rows.
        const unsigned grp = __match_any_sync(__activemask(), (unsigned long long)r);
        const uint32_t gm = __reduce_max_sync(grp, m);
        if (live && gm && (threadIdx.x & 31) == (unsigned)(__ffs(grp) - 1))
          atomicMax(reinterpret_cast<uint32_t *>(a.amax) + r, gm);
      }
      continue;
    }
    uint8_t s2d = 0xFF;  // 2D Four Over Six: the tile's choice (0xFF: the standard block below)
    uint8_t codes[B] = {};
    if constexpr (TWO_D && FOS) {
      // Four Over Six on 16x16 tiles (NUMERICS 4.1.1): every lane of the
      // half-warp, idle ones too (error 0), takes its row's errors at 6 and
      // at 4; the butterfly over the 16 lanes sums them in the order of
      // mxb_nvfp4_tile_error, so every lane holds the same sums and the
      // tile takes s4 iff its sum is smaller. ab and bad are the tile's.
      mxb_nvfp4_ts t0 = ts;
      t0.four_six = 0;
      const float a_b = __uint_as_float(ab);
      const uint8_t s6 = mxb_nvfp4_block_scale(a_b, &t0), s4 = mxb_nvfp4_block_scale4(a_b, &t0);
      // RNE on a finite tile whose two decode scales are normal (all of it
      // the tile's, so the branches are the half-warp's): the rows' fp32
      // error sums, summed by the same butterfly, decide where
      // mxb_nvfp4_fos_verdict_sums can tell (the tile's sums are within 22u
      // of their exact values: 16 terms a row, then 4 additions).
      const float d6 = mxb_ue4m3_decode(s6) * ts.S_dec, d4 = mxb_ue4m3_decode(s4) * ts.S_dec;
      if (!SR && !nan_block && s4 != s6 && ab < MXB_F32_INF && !nv_subnormal(d6) && !nv_subnormal(d4)) {
        const float D6 = mxb_nvfp4_dequant_scale(s6, ts.A, ts.flags), D4 = mxb_nvfp4_dequant_scale(s4, ts.A, ts.flags);
        const float e6 = nv_enc_of(d6), e4 = nv_enc_of(d4);
        float f6, f4;
        uint32_t w[2];  // codes: the fp32 sums alone first (fewer live registers), then the chosen candidate's
        if (ts.four_six == MXB_FOUR_OVER_SIX_MSE) {
          f6 = fos_candidate<true>(v, e6, D6, w);
          f4 = fos_candidate<true>(v, e4, D4, w);
        } else {
          f6 = fos_candidate<false>(v, e6, D6, w);
          f4 = fos_candidate<false>(v, e4, D4, w);
        }
        if (!live) f6 = f4 = 0.0f;
        const unsigned half = 0xFFFFu << (threadIdx.x & 16);
#pragma unroll
        for (int o = B / 2; o > 0; o >>= 1) {
          f6 = __fadd_rn(f6, __shfl_xor_sync(half, f6, o));
          f4 = __fadd_rn(f4, __shfl_xor_sync(half, f4, o));
        }
        const int take4 = mxb_nvfp4_fos_verdict_sums(f6, f4);
        if (take4 >= 0) {
          if (!live) continue;
          const uint8_t sc = take4 ? s4 : s6;
          encode_finite<MXB_ELEM_E2M1, 16>(mxb_elem_fp(MXB_ELEM_E2M1), v, take4 ? e4 : e6, w);
          if (n == B && a.vec_out) {
            *reinterpret_cast<uint2 *>(a.data + r * a.row_bytes + j * 8) = make_uint2(w[0], w[1]);
          } else {
#pragma unroll
            for (int k = 0; k < B; k++) codes[k] = (uint8_t)((w[k / 8] >> (4 * (k % 8))) & 0xFu);
            pack_store<B, 4>(a.data + r * a.row_bytes + j * 8, codes, (n * 4 + 7) / 8, false);
          }
          a.scales[mxb_scale_index(r, j, a.scale_cols, a.swizzled)] = sc;
          continue;
        }
      }
      if (!nan_block && s4 != s6) {  // the binary64 sums
        uint8_t c4[B] = {};
        mxb_nvfp4_encode_block(v, B, s6, &t0, SR ? rb : nullptr, codes);
        mxb_nvfp4_encode_block(v, B, s4, &t0, SR ? rb : nullptr, c4);
        double e6 = live ? mxb_nvfp4_block_error(v, B, codes, s6, &ts) : 0.0;
        double e4 = live ? mxb_nvfp4_block_error(v, B, c4, s4, &ts) : 0.0;
        const unsigned half = 0xFFFFu << (threadIdx.x & 16);  // this tile's lanes (the branch is the tile's)
#pragma unroll
        for (int o = B / 2; o > 0; o >>= 1) {
          e6 = __dadd_rn(e6, __shfl_xor_sync(half, e6, o));
          e4 = __dadd_rn(e4, __shfl_xor_sync(half, e4, o));
        }
        s2d = e4 < e6 ? s4 : s6;
        if (s2d == s4)
#pragma unroll
          for (int k = 0; k < B; k++) codes[k] = c4[k];
      }
    }
    if (!live) continue;
    if (row_amax) {  // the row's own tensor scales
      ts = mxb_nvfp4_tensor_scales(a.amax[r], a.flags);
      ts.four_six = FOS ? a.four_six : 0;
    }
    constexpr int BITS = mxb_fmt_elem_bits(MXB_FORMAT_NVFP4);
    if (SR && !FOS && n == B && a.vec_out && ab < MXB_F32_INF && !nan_block) {
      // SR, a whole block whose values are finite (its own; ab, the block's
      // or the 2D tile's amax, admits no NaN): the specialised SR encoder
      // (8% faster on an H200; for RNE, which the row-wise kernels take in
      // 1D, this path made 2D fp32 input 7% slower, so it is SR only).
      float am = abs_max(v);
      uint32_t w[2];
      uint8_t s;
      if (am < __uint_as_float(MXB_F32_INF) && nvfp4_encode_finite_sr(v, __uint_as_float(ab), ts, rw[0], s, w)) {
        *reinterpret_cast<uint2 *>(a.data + r * a.row_bytes + j * (B * BITS / 8)) = make_uint2(w[0], w[1]);
        a.scales[mxb_scale_index(r, j, a.scale_cols, a.swizzled)] = s;
        continue;
      }
    }
    uint8_t s = s2d;
    if (s == 0xFF) s = mxb_nvfp4_quantize_block(v, B, ab, nan_block, &ts, SR ? rb : nullptr, codes);
    pack_store<B, BITS>(a.data + r * a.row_bytes + j * (B * BITS / 8), codes, (n * BITS + 7) / 8, a.vec_out && n == B);
    a.scales[mxb_scale_index(r, j, a.scale_cols, a.swizzled)] = s;
  }
  if (AMAX_ONLY) {
    fold = __reduce_max_sync(0xFFFFFFFFu, fold);
    if ((threadIdx.x & 31) == 0 && fold) atomicMax(reinterpret_cast<uint32_t *>(a.amax), fold);
  }
}

// ---- MX (1 x BC blocks, E8M0 scales; 2D: 32 x 32 tiles) -----------------------
// 1D: thread t quantizes block (t / nb, t % nb). 2D: each warp owns one
// 32x32 tile, lane l its row l; the tile amax and NaN flag are warp
// reductions, and every row's block takes the tile's scale (NUMERICS 4.2).
template <int DT, int ELEM, int BC, bool SR, bool TWO_D>
__global__ void __launch_bounds__(256) mx_kernel(QArgs a) {
  static_assert(!TWO_D || BC == 32, "a 2D tile is BC rows of BC: one warp, lane l its row l");
  const int64_t nb = (a.cols + BC - 1) / BC;
  // 2D: the walk is over tiles, whole warps together (lanes past the last
  // row idle but still take part in the reductions).
  const int64_t total = TWO_D ? (a.rows + BC - 1) / BC * nb : a.rows * nb;
  const RhtMasks sm = sign_masks(a);
  const mxb_fp p = mxb_elem_fp(ELEM);
  constexpr int BITS = mxb_elem_bits(ELEM);
  for (ItemWalk w = TWO_D ? ItemWalk(total, nb, BC) : ItemWalk(total, nb); w.more(); w.next()) {
    const int64_t r = TWO_D ? w.r * BC + (threadIdx.x & (BC - 1)) : w.r, j = w.j;
    const bool live = r < a.rows;
    const int64_t c0 = j * BC;
    const int n = live ? (int)min((int64_t)BC, a.cols - c0) : 0;
    float v[BC];
    load_block<DT, BC>(a, sm, live ? r : 0, c0, n, v);
    uint8_t rb[BC], codes[BC] = {};
    if (SR && live) get_sr<BC>(a, r, c0, rb);
    // compile-time length for tails too (missing elements are +0, see nvfp4_kernel)
    uint8_t s;
    if (TWO_D) {
      int bad = 0;
      uint32_t ab = mxb_block_amax_bits(v, BC, policy_mode(a.policy), &bad);  // +0 for idle lanes
#pragma unroll
      for (int o = BC / 2; o > 0; o >>= 1) {
        ab = max(ab, __shfl_xor_sync(0xFFFFFFFFu, ab, o));
        bad |= __shfl_xor_sync(0xFFFFFFFFu, bad, o);
      }
      if (!live) continue;
      s = mxb_mx_quantize_block_amax(v, BC, ab, bad && a.policy == MXB_NONFINITE_NAN_BLOCK, &p,
                                     (mxb_scale_rule_t)a.rule, SR ? rb : nullptr, codes);
    } else {
      s = mxb_mx_quantize_block(v, BC, &p, (mxb_scale_rule_t)a.rule, (mxb_nonfinite_t)a.policy, SR ? rb : nullptr,
                                codes);
    }
    pack_store<BC, BITS>(a.data + r * a.row_bytes + j * (BC * BITS / 8), codes, (n * BITS + 7) / 8,
                         a.vec_out && n == BC);
    a.scales[mxb_scale_index(r, j, a.scale_cols, a.swizzled)] = s;
  }
}

// ---- MX9 / MX6 / MX4 (1 x BC blocks, shared exponent + microexponents) -------
template <int DT, int ELEM, int BC>
__global__ void __launch_bounds__(256) bdr_kernel(QArgs a) {
  constexpr int BITS = mxb_elem_bits(ELEM), M = BITS - 1;  // sign-magnitude codes
  const int64_t nb = (a.cols + BC - 1) / BC;
  const int64_t total = a.rows * nb;
  const RhtMasks sm = sign_masks(a);
  for (ItemWalk w(total, nb); w.more(); w.next()) {
    const int64_t r = w.r, j = w.j;
    const int64_t c0 = j * BC;
    const int n = (int)min((int64_t)BC, a.cols - c0);
    float v[BC];
    load_block<DT, BC>(a, sm, r, c0, n, v);
    uint8_t *dst = a.data + r * a.row_bytes + j * (BC * BITS / 8);
    const int64_t si = mxb_scale_index(r, j, a.scale_cols, false);
    if constexpr (BC == 16) {
      // A whole block of finite values with E > m: the specialised encoder
      // (proven equal to the shared block code, tests/test_codec_special.c),
      // its bytes stored as whole words where they are aligned.
      uint32_t w[5] = {0, 0, 0, 0, 0};
      uint8_t E, mu;
      if (n == BC && mxb_bdr_encode_finite(v, M, &E, &mu, w)) {
        store_code_bytes<BC * BITS / 8>(dst, w);
        a.scales[si] = E;
        a.aux[si] = mu;
        continue;
      }
    }
    uint8_t codes[BC], mu;
#pragma unroll
    for (int k = 0; k < BC; k++) codes[k] = 0;  // a tail block's padding codes are zero
    uint8_t E = mxb_bdr_quantize_block(v, BC, M, (mxb_nonfinite_t)a.policy, &mu, codes);  // tails: +0 padding
    // every block's code bytes are stored whole (the row holds whole blocks)
    pack_store<BC, BITS>(dst, codes, BC * BITS / 8, a.vec_out);
    a.scales[si] = E;
    a.aux[si] = mu;
  }
}

// ---- BF16 ---------------------------------------------------------------------
template <int DT>
__global__ void __launch_bounds__(256) bf16_kernel(QArgs a) {
  const int64_t nb = (a.cols + 15) / 16;
  const int64_t total = a.rows * nb;
  const RhtMasks sm = sign_masks(a);
  for (ItemWalk w(total, nb); w.more(); w.next()) {
    const int64_t r = w.r, j = w.j;
    const int64_t c0 = j * 16;
    const int n = (int)min((int64_t)16, a.cols - c0);
    float v[16];
    load_block<DT, 16>(a, sm, r, c0, n, v);
    if (a.rht) {  // the RHT's NaN bits reach this output: canonical, as on the CPU
#pragma unroll
      for (int k = 0; k < 16; k++) v[k] = mxb_canon_nan(v[k]);
    }
    uint16_t h[16];
#pragma unroll
    for (int k = 0; k < 16; k++) h[k] = mxb_bf16_rne_satfinite(v[k]);
    uint16_t *dst = reinterpret_cast<uint16_t *>(a.data + r * a.row_bytes) + c0;
    if (a.vec_out && n == 16) {
      uint32_t w[8];
#pragma unroll
      for (int k = 0; k < 8; k++) w[k] = (uint32_t)h[2 * k] | ((uint32_t)h[2 * k + 1] << 16);
      reinterpret_cast<uint4 *>(dst)[0] = make_uint4(w[0], w[1], w[2], w[3]);
      reinterpret_cast<uint4 *>(dst)[1] = make_uint4(w[4], w[5], w[6], w[7]);
    } else {
#pragma unroll
      for (int k = 0; k < 16; k++)
        if (k < n) dst[k] = h[k];
    }
  }
}

// ---- FP8 with fp32 scales (per tensor, 1x128, 128x128) or UE8M0 bytes ------------
// Pass 1 (AMAX_ONLY) folds each 16-element run's finite amax into its
// partition's slot; pass 2 encodes with the partition's scale. The thread
// holding a partition's first element writes its scale_inv.
template <int DT, int ELEM, bool AMAX_ONLY, bool SR>
__global__ void __launch_bounds__(256) fp8_kernel(QArgs a) {
  const int64_t nb = (a.cols + 15) / 16;
  const int64_t total = a.rows * nb;
  const RhtMasks sm = sign_masks(a);
  const mxb_fp p = mxb_elem_fp(ELEM);
  for (ItemWalk w(total, nb); w.more(); w.next()) {
    const int64_t r = w.r, j = w.j;
    const int64_t c0 = j * 16;
    const int n = (int)min((int64_t)16, a.cols - c0);
    const int64_t part = mxb_block_index(r, c0, a.brs, a.bcs, a.scale_cols);
    float v[16];
    load_block<DT, 16>(a, sm, r, c0, n, v);
    if (AMAX_ONLY) {
      int bad = 0;
      uint32_t ab = mxb_block_amax_bits(v, 16, MXB_AMAX_FINITE, &bad);  // tails: +0 padding
      if (ab) atomicMax(a.part_amax + part, ab);
      continue;
    }
    const float scale = mxb_fp8_scale(__ldg(a.part_amax + part), &p, a.pow2);
    const uint32_t cap = mxb_fp8_cap(&p, scale);
    uint8_t rb[16], codes[16] = {};
    if (SR) get_sr<16>(a, r, c0, rb);
#pragma unroll
    for (int k = 0; k < 16; k++) codes[k] = mxb_fp8_encode_scaled(&p, v[k], scale, cap, SR ? rb[k] : -1);
    pack_store<16, 8>(a.data + r * a.row_bytes + c0, codes, n, a.vec_out && n == 16);
    const bool first = (a.br ? (r & (a.br - 1)) == 0 : r == 0) && (a.bc ? (c0 & (a.bc - 1)) == 0 : c0 == 0);
    if (first) mxb_fp8_scale_inv_store(a.scales, a.fp8_scale, part, scale);
  }
}

// FP8 with 1 x 128 partitions (DeepSeek-V3's activations) in one pass, where
// every row holds whole partitions and accesses are 16-byte aligned: eight
// consecutive lanes hold a partition, sixteen values each (a warp's 32 items
// never straddle a partition: rows have a multiple of 8 items), its amax by
// three exchanges; codes by the hardware conversion where the lane's values
// are finite and the scale needs no cap, else by the shared per-element
// encoder; sixteen bytes a store; the partition's first lane writes the
// scale. The same functions as fp8_kernel's two passes (the unsigned max of
// the finite |x| bits, mxb_fp8_scale, mxb_fp8_cap, the encoder, proven equal
// to the hardware conversion), so the same bytes from one read of the input.
template <int DT, int ELEM>
__global__ void __launch_bounds__(256) fp8_rows_kernel(QArgs a) {
  const int64_t nb = a.cols / 16;
  const RhtMasks sm = sign_masks(a);
  const mxb_fp p = mxb_elem_fp(ELEM);
  const unsigned group = 0xFFu << (threadIdx.x & 24);  // the lanes of this lane's partition
  for (ItemWalk w(a.rows * nb, nb); w.more(); w.next()) {
    const int64_t r = w.r, c0 = w.j * 16;
    float v[16];
    load_n<DT, 16>(a.src, r * a.cols + c0, 16, true, v);
    transform_block(a, sm, v);
    int bad = 0;
    uint32_t ab = mxb_block_amax_bits(v, 16, MXB_AMAX_FINITE, &bad);
#pragma unroll
    for (int o = 1; o < 8; o <<= 1) ab = max(ab, __shfl_xor_sync(group, ab, o));
    const float scale = mxb_fp8_scale(ab, &p, a.pow2);
    const uint32_t cap = mxb_fp8_cap(&p, scale);
    uint32_t wd[4];
    if (!bad && cap >= p.maxcode) {
      encode_finite<ELEM, 16>(p, v, scale, wd);
    } else {
      uint8_t codes[16];
#pragma unroll
      for (int k = 0; k < 16; k++) codes[k] = mxb_fp8_encode_scaled(&p, v[k], scale, cap, -1);
      pack_words<16, 8>(codes, wd);
    }
    store_words<4>(a.data + r * a.row_bytes + c0, wd);
    if ((w.j & 7) == 0) mxb_fp8_scale_inv_store(a.scales, a.fp8_scale, mxb_block_index(r, c0, a.brs, a.bcs, a.scale_cols), scale);
  }
}
// Whether fp8_rows_kernel takes the call: 1 x 128 partitions computed from
// the data (no SR, no amax reported), whole partitions in every row, 16-byte
// aligned input and codes.
bool fp8_rows_apply(const mxb_quant_config_t *cfg, const QArgs &a, bool amax_only) {
  return !amax_only && a.br == 1 && a.bc == 128 && a.cols % 128 == 0 && !a.sr && cfg->amax_source == MXB_AMAX_COMPUTE &&
         !cfg->amax_out && a.vec_in && a.vec_out;
}

}  // namespace mxb

using namespace mxb;

namespace {

size_t round256(size_t b) { return (b + 255) / 256 * 256; }

// Workspace layout: [FP8 partition amaxes][RHT staging buffer, fp32].
size_t fp8_part_bytes(const mxb_format_desc *d, const mxb_tensor_sizes_t *s) {
  return mxb_fp8_scale_type(d->scale_type) ? round256((size_t)(s->scale_rows * s->scale_cols) * 4) : 0;
}
// The RHT is fused (in registers) for d = 16; larger chunks are transformed
// into the workspace first.
bool rht_staged(const mxb_quant_config_t *cfg) { return cfg->rht.enabled && cfg->rht.size != 16; }

// One kernel family per scale type; element, block length and the other
// template arguments come from the format's row of the table, so formats
// that share them share one instance.
// FP8 per tensor, supplied amax: the one partition's amax bits are its
// magnitude's, read in stream order (the CPU reference does the same).
__global__ void fp8_supplied_amax(uint32_t *part_amax, const float *amax) {
  part_amax[0] = __float_as_uint(*amax) & MXB_F32_ABS;
}


// amax_only: the amax pass alone (a shard's amax, mxb_quantize_shard).
template <int DT>
mxb_status_t launch_format(const struct mxb_context *ctx, const mxb_format_desc *d, const mxb_quant_config_t *cfg,
                           QArgs &a, cudaStream_t st, const char **impl, bool amax_only) {
  const int T = 256;
  return MXB_FORMAT_SWITCH(d->format, F, [&]() -> mxb_status_t {
    constexpr int SCALE = mxb_fmt_scale_type(F), ELEM = mxb_fmt_elem(F), BC = mxb_fmt_block_cols(F);
    const int64_t nb16 = a.rows * ((a.cols + 15) / 16);  // 16-element items (FP8, BF16)
    if constexpr (SCALE == MXB_SCALE_UE4M3 || SCALE == MXB_SCALE_E8M0) {  // the common case at bandwidth
      mxb_status_t rs;
      if (quantize_rows(ctx, d, cfg, DT, cfg->amax_source == MXB_AMAX_COMPUTE, a, st, &rs, impl, nullptr, amax_only))
        return rs;
    }
    if constexpr (SCALE == MXB_SCALE_UE4M3) {
      const bool two_d = cfg->block_2d != 0;
      const int64_t items = two_d ? (a.rows + BC - 1) / BC * ((a.cols + BC - 1) / BC) * BC : a.rows * ((a.cols + BC - 1) / BC);
      const unsigned g = grid_for(ctx, items, T);
      if (cfg->amax_source == MXB_AMAX_COMPUTE) {
        const size_t namax = cfg->nvfp4_row_amax ? (size_t)a.rows : 1;  // one a row: rows values
        MXB_TRY(cuda_status(cudaMemsetAsync(a.amax, 0, namax * sizeof(float), st), "cudaMemsetAsync(dst->amax)"));
        MXB_BOOL_SWITCH(two_d, TWO_D, [&] { nvfp4_kernel<DT, TWO_D, true, false, false><<<g, T, 0, st>>>(a); });
        MXB_TRY(launch_status("nvfp4 amax pass"));
        if (amax_only) {
          *impl = "cuda-nvfp4-amax";
          return MXB_SUCCESS;
        }
      }
      if (two_d && nvfp4_2d_apply(cfg, a)) {
        *impl = "cuda-nvfp4-2d-quantize-rows";
        return nvfp4_2d_launch(ctx, DT, a, st);
      }
      if (two_d)
        MXB_BOOL_SWITCH(a.sr, SR, [&] {
          MXB_BOOL_SWITCH(a.four_six != 0, FOS, [&] { nvfp4_kernel<DT, true, false, SR, FOS><<<g, T, 0, st>>>(a); });
        });
      else
        MXB_BOOL_SWITCH(a.sr, SR, [&] {
          MXB_BOOL_SWITCH(a.four_six != 0, FOS, [&] { nvfp4_kernel<DT, false, false, SR, FOS><<<g, T, 0, st>>>(a); });
        });
      *impl = two_d ? "cuda-nvfp4-2d-quantize" : "cuda-nvfp4-quantize";
    } else if constexpr (SCALE == MXB_SCALE_E8M0) {
      const int64_t nb = (a.cols + BC - 1) / BC;
      if constexpr (BC == 32) {
        if (cfg->block_2d) {
          const unsigned g = grid_for(ctx, (a.rows + BC - 1) / BC * nb * BC, T);
          MXB_BOOL_SWITCH(a.sr, SR, [&] { mx_kernel<DT, ELEM, BC, SR, true><<<g, T, 0, st>>>(a); });
          *impl = "cuda-mx-2d-quantize";
          return launch_status(*impl);
        }
      }
      const unsigned g = grid_for(ctx, a.rows * nb, T);
      MXB_BOOL_SWITCH(a.sr, SR, [&] { mx_kernel<DT, ELEM, BC, SR, false><<<g, T, 0, st>>>(a); });
      *impl = "cuda-mx-quantize";
    } else if constexpr (SCALE == MXB_SCALE_BDR) {
      bdr_kernel<DT, ELEM, BC><<<grid_for(ctx, a.rows * ((a.cols + BC - 1) / BC), T), T, 0, st>>>(a);
      *impl = "cuda-bdr-quantize";
    } else if constexpr (mxb_fp8_scale_type(SCALE) && ELEM != MXB_ELEM_MIXED) {
      const unsigned g = grid_for(ctx, nb16, T);
      if (fp8_rows_apply(cfg, a, amax_only)) {
        fp8_rows_kernel<DT, ELEM><<<g, T, 0, st>>>(a);
        *impl = "cuda-fp8-quantize-rows";
        return launch_status(*impl);
      }
      const size_t nparts = (size_t)(mxb_scale_rows(d, a.rows) * mxb_scale_cols(d, a.cols));
      // The partitions' amaxes, unless a supplied amax alone sets the scale;
      // per tensor, cfg->amax_out gets the computed one either way (mxblas.h).
      if (cfg->amax_source == MXB_AMAX_COMPUTE || cfg->amax_out) {
        MXB_TRY(cuda_status(cudaMemsetAsync(a.part_amax, 0, nparts * 4, st), "cudaMemsetAsync(workspace)"));
        fp8_kernel<DT, ELEM, true, false><<<g, T, 0, st>>>(a);
        if (cfg->amax_out)
          MXB_TRY(cuda_status(cudaMemcpyAsync(cfg->amax_out, a.part_amax, 4, cudaMemcpyDeviceToDevice, st),
                              "cudaMemcpyAsync(cfg->amax_out)"));
        if (amax_only) {
          *impl = "cuda-fp8-amax";
          return launch_status(*impl);
        }
      }
      if (cfg->amax_source == MXB_AMAX_FROM_TENSOR)  // per tensor, delayed scaling: the caller's amax
        fp8_supplied_amax<<<1, 1, 0, st>>>(a.part_amax, a.amax);
      MXB_BOOL_SWITCH(a.sr, SR, [&] { fp8_kernel<DT, ELEM, false, SR><<<g, T, 0, st>>>(a); });
      *impl = "cuda-fp8-quantize";
    } else if constexpr (ELEM == MXB_ELEM_BF16) {
      bf16_kernel<DT><<<grid_for(ctx, nb16, T), T, 0, st>>>(a);
      *impl = "cuda-bf16-quantize";
    } else {  // fp32 and MoR: refused by the API layer before this point
      return mxb_fail(MXB_ERR_INTERNAL, "%s is not produced by the CUDA quantizer", d->name);
    }
    return launch_status(*impl);
  });
}

}  // namespace

// Every quantize option runs on CUDA.
extern "C" mxb_status_t mxb_cuda_quantize_offers(const mxb_quant_config_t *cfg, const mxb_format_desc *d) {
  (void)cfg;
  (void)d;
  return MXB_SUCCESS;
}

extern "C" size_t mxb_cuda_quantize_workspace(const mxb_quant_config_t *cfg, const mxb_format_desc *d,
                                              const mxb_tensor_t *dst, const mxb_tensor_sizes_t *s) {
  size_t ws = fp8_part_bytes(d, s);
  if (rht_staged(cfg)) ws += round256((size_t)(dst->rows * dst->cols) * 4);
  return ws;
}

namespace mxb {
__global__ void advance_rng(uint64_t *state, int n) { state[1] += (uint64_t)n; }

QArgs make_qargs(const mxb_quant_config_t *cfg, const mxb_format_desc *d, const mxb_tensor_sizes_t *s,
                 mxb_tensor_t *dst) {
  QArgs a;
  memset(&a, 0, sizeof(a));
  static_cast<tensor_view &>(a) = make_view(dst, *s);
  a.flags = mxb_quant_flags(cfg);  // the flags dst gets once quantized
  a.sr = cfg->rounding == MXB_ROUND_SR;
  a.seed = cfg->seed;
  a.offset = cfg->offset;
  a.rng = cfg->rng_state;
  a.sr_ld = mxb_quant_global_cols(cfg, a.cols);
  a.sr_base = mxb_sr_base(cfg->global_row0, cfg->global_col0, a.sr_ld);
  a.rule = cfg->scale_rule;
  a.policy = cfg->nonfinite;
  a.pow2 = mxb_fp8_pow2(d->scale_type, cfg->fp8_pow2_scale);
  a.fp8_scale = d->scale_type;
  a.four_six = (int)cfg->four_over_six;
  a.br = d->block_rows;
  a.bc = d->block_cols;
  a.brs = mxb_block_shift(a.br);
  a.bcs = mxb_block_shift(a.bc);
  if (cfg->rht.enabled) {
    if (cfg->rht.sign_source == MXB_SIGNS_SEED) mxb_rht_signs_from_seed(cfg->rht.sign_seed, cfg->rht.size, a.signs);
    else memcpy(a.signs, cfg->rht.sign_mask, sizeof(a.signs));
    rht16_masks(a.signs, a.rht16);
    a.rht_bf16 = cfg->rht.bf16_output;
  }
  return a;
}
}  // namespace mxb

namespace {
mxb_status_t quantize(struct mxb_context *ctx, const mxb_quant_config_t *cfg, const mxb_format_desc *d,
                      const mxb_tensor_sizes_t *s, mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst,
                      void *workspace, void *stream, const char **impl, bool amax_only) {
  cudaStream_t st = as_stream(stream);
  QArgs a = make_qargs(cfg, d, s, dst);
  a.part_amax = static_cast<uint32_t *>(workspace);
  a.src = src;
  mxb_dtype_t dt = src_type;
  // The padding of a swizzled scale grid is zero, as on the CPU.
  if (a.swizzled && !amax_only) MXB_TRY(cuda_status(cudaMemsetAsync(a.scales, 0, s->scale_bytes, st), "cudaMemsetAsync(scales)"));
  mxb_status_t fused = MXB_SUCCESS;
  const bool rht_large = rht_staged(cfg);  // d > 16: fused where it can be, else staged
  if (rht_large && quantize_rht_fused(ctx, d, cfg, src_type, a, st, &fused, impl, amax_only)) {
    MXB_TRY(fused);  // transformed and quantized in one kernel (quantize_rht.cu)
  } else {
    if (rht_large) {  // transform into the workspace, then quantize that fp32 copy
      float *staged = reinterpret_cast<float *>(static_cast<char *>(workspace) + fp8_part_bytes(d, s));
      MXB_TRY(mxb_cuda_rht_apply(ctx, a.signs, cfg->rht.size, 0, MXB_AXIS_COLS, a.rows, a.cols, src_type, src,
                                 MXB_DTYPE_FP32, cfg->rht.bf16_output, staged, stream));
      a.src = staged;
      dt = MXB_DTYPE_FP32;
    } else {
      a.rht = cfg->rht.enabled;
    }
    a.vec_in = aligned16(a.src) && (a.cols * (int64_t)mxb_dtype_bytes(dt)) % 16 == 0;
    a.vec_out = aligned16(a.data) && a.row_bytes % 16 == 0;
    if (cfg->compat) return quantize_compat(ctx, d, cfg, dt, a, st, impl);  // RNE only: no SR state to advance
    MXB_TRY(MXB_DTYPE_SWITCH(dt, DT, [&] { return launch_format<DT>(ctx, d, cfg, a, st, impl, amax_only); }));
  }
  if (cfg->rng_state && !amax_only) {  // after the kernels that read it, in stream order (graph-safe)
    advance_rng<<<1, 1, 0, st>>>(cfg->rng_state, 1);
    MXB_TRY(launch_status("SR state advance"));
  }
  return MXB_SUCCESS;
}
}  // namespace

extern "C" mxb_status_t mxb_cuda_quantize(struct mxb_context *ctx, const mxb_quant_config_t *cfg,
                                          const mxb_format_desc *d, const mxb_tensor_sizes_t *s,
                                          mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst,
                                          void *workspace, void *stream, const char **impl) {
  return quantize(ctx, cfg, d, s, src_type, src, dst, workspace, stream, impl, false);
}

// The compatibility profiles' kernel has no separate amax pass: it quantizes
// (the codes are written again by the call that follows).
extern "C" mxb_status_t mxb_cuda_quantize_amax(struct mxb_context *ctx, const mxb_quant_config_t *cfg,
                                               const mxb_format_desc *d, const mxb_tensor_sizes_t *s,
                                               mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst,
                                               void *workspace, void *stream, const char **impl) {
  return quantize(ctx, cfg, d, s, src_type, src, dst, workspace, stream, impl, true);
}
