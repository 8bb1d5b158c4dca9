// Fast 4-bit GEMM on Hopper (sm_90a): B (the weights, [N, K]) NVFP4 or MXFP4,
// A (the activations, [M, K]) BF16, or a block-scaled format whose values
// BF16 holds (NVFP4, MXFP4, MXFP8 as in W4A8, MXFP6, MXINT8, MX9/6/4)
// decoded to BF16 in the workspace first (a pass over A only, small where
// this path is taken);
// C = alpha * tsA * tsB * A B^T + beta C, with NVFP4 tensor scales read on
// the device.
//
// Hopper has no FP4 tensor cores, but a decoded 4-bit value is exact in
// BF16 (E2M1 x UE4M3: at most 6 significant bits; E2M1 x 2^k while
// 2^k <= 2^125), so BF16 wgmma on values decoded in registers loses nothing
// against dequantizing the whole weight matrix to memory first, and reads
// 4.5 bits a weight instead of 16 (plus 16 written and read again).
//
// The weights are the wgmma's A operand, from registers: C^T = B A^T, so a
// CTA owns 128 rows of B (two math warpgroups of 64) and BN rows of A (32,
// 64 or 128: BN is the wgmma's N). A producer warpgroup brings each stage
// (128 of K) into a shared-memory ring: A's BF16 tile by TMA (128-byte swizzle,
// the layout wgmma reads) and B's packed codes by TMA (64 bytes a row,
// 64-byte swizzle so the math warps' 16-byte reads of 8 rows hit 8
// different bank groups); the producer warpgroup's threads bring B's scale
// bytes by cp.async and decode them to BF16 (a row each), all counted on
// one mbarrier.
// Each math thread decodes its fragment of the stage (two rows, 64 codes
// each) to BF16 with byte permutes (an 8-entry table of the magnitudes, the
// signs moved to the top bits of the high bytes), multiplies by the
// block scale in BF16 (exact: the product fits), and issues the stage's
// eight m64nBNk16 wgmmas; the next stage is decoded into a second register
// set while they run.
//
// Exactness: an MXFP4 value 6 x 2^k overflows BF16 where the scale byte is
// 253 or 254, so a call with such a scale in B (found as the producers
// decode B's scales, or, where C must be saved before the kernel writes it,
// by a scan of the scale plane first), or a value of A the BF16 decode
// cannot hold, raises a device flag and the exact path recomputes C from a
// saved copy (gemm_dequant.cu's protocol). NaN scales decode to NaN and poison their row or column as in
// the reference.
//
// BF16 x BF16 (grouped calls only; the dense ones are cuBLASLt's): B's tile
// comes by TMA as A's does and the wgmma reads both from shared memory; one
// producer thread, no scales, no decode.
//
// Persistent CTAs (one an SM) walk (column tile, row tile, K range or
// group) units; the producer runs into the next unit's stages while the
// math warpgroups store the last one's C.
//
// Grouped GEMM (gemm_grouped.cu): the row tiles are those of a group table
// written on the device, each tile multiplying its group's rows of A by its
// expert's rows of the stacked B (from e * N) with the group's tensor
// scales, storing only its group's rows. K-grouped (weight gradients): the
// unit's group runs its stages of K (groups in whole stages) into the
// group's block of C's rows.
//
// K in whole stages (K % 128 == 0); tails in M and N read zeros and are not
// stored. Where the tiles fill at most half the SMs, K is split into up to 4
// ranges whose fp32 partial tiles are summed in range order by a second
// kernel, so the bits never depend on timing.
#include <cuda.h>

#include <cstdio>
#include <cstdlib>

#include "core/formats.h"
#include "cuda/gemm_common.cuh"
#include "cuda/ptx.cuh"
#include "cuda/tensor_map.cuh"

namespace mxb {
namespace gemm {
namespace {

constexpr int BW = 128;            // rows of B a CTA owns
constexpr int BK = 128;            // K a stage
constexpr int THREADS = 384;       // two math warpgroups, one producer warpgroup
constexpr int PRODUCER_REGS = 56, MATH_REGS = 224;
static_assert(128 * PRODUCER_REGS + 256 * MATH_REGS <= (65536 / THREADS / 8 * 8) * THREADS, "register budget");

// B's format: NVFP4 or MXFP4 codes decoded in registers, or BF16 (grouped
// calls only: dense BF16 is cuBLASLt's) read by the wgmma from shared memory;
// W_NVX, W_MXX: NVFP4, MXFP4 in exact mode (codes decoded without their
// scales, each K-block's wgmmas promoted on their own, see exact_stage).
enum wfmt { W_NV, W_MX, W_BF16, W_NVX, W_MXX };

template <int BN, int WF>
struct w4_layout {
  static constexpr bool NV = WF == W_NV || WF == W_NVX, BF = WF == W_BF16, EX = WF == W_NVX || WF == W_MXX;
  static constexpr int X_BYTES = BN * BK * 2;             // A's BF16 tile: two boxes of BN rows x 128 bytes
  static constexpr int W_BYTES = BF ? BW * BK * 2 : BW * BK / 2;  // B's tile: BF16 as A's, or codes of 64 bytes a row
  static constexpr int S_WORDS = BF ? 0 : NV ? 2 : 1;     // B's raw scale words a row and stage (4 blocks a word)
  static constexpr int RAW_BYTES = BW * S_WORDS * 4;
  static constexpr int SC_ROW = S_WORDS * 8;              // a row's scales of the stage as BF16
  static constexpr int SC_BYTES = BW * SC_ROW;
  static constexpr int STAGE = X_BYTES + W_BYTES + RAW_BYTES + SC_BYTES;
  static constexpr int STAGES = ((227 * 1024 - 3072) / STAGE) < 12 ? ((227 * 1024 - 3072) / STAGE) : 12;
  static constexpr int W_OFF = STAGES * X_BYTES;
  static constexpr int RAW_OFF = W_OFF + STAGES * W_BYTES;
  static constexpr int SC_OFF = RAW_OFF + STAGES * RAW_BYTES;
  static constexpr int LUT_OFF = SC_OFF + STAGES * SC_BYTES;  // 256 scale bytes as bf16x2 words
  static constexpr int BAR_OFF = LUT_OFF + 1024;
  static constexpr int BYTES = BAR_OFF + 2 * STAGES * 8 + 1024;  // full, empty; + alignment slack
  static_assert(STAGES >= 3, "a ring of three or more stages");
  static_assert(BYTES <= 227 * 1024, "shared memory per block on sm_90");
};

struct w4_params {
  operand a, b;       // as the caller gave them (tensor scales; B's scale plane)
  int M, N, ksteps, kper, splits;  // grouped: M is A's rows, N an expert's rows of B
  float *part;        // splits > 1: [split][M][N] fp32 partial sums
  out_view out;
  group_rows g;       // grouped: the row tiles are the table's (g.tiles NULL: dense)
  int kgrouped;       // K split: the unit's z is the group, g.row0 / g.rows its columns in whole stages
  int gy;             // rows of tiles (grouped: a bound on the table's tiles)
  int64_t units;      // column tiles x gy x (K ranges or groups)
  const int64_t *run_if;  // run only where *run_if != 0 (NULL: always)
  int *flag;              // MXFP4 B, fast mode: raised where a scale byte is 253 or 254
};

#if MXB_SM90A
// Four E2M1 codes (x: bits 0-15, code i at bits 4i..4i+3) as BF16 pairs
// {code 0, code 1} and {code 2, code 3} times the block scale s (bf16x2).
// Magnitudes come from two 8-entry byte tables (high and low bytes of 0,
// 0.5, 1, 1.5, 2, 3, 4, 6 in BF16); the signs are the top bits of the bytes
// {x << 4, x} picked so that byte i's top bit is code i's sign, or-ed into
// the high bytes before they are interleaved with the low ones.
// SCALED false: the codes' values alone (s unused).
template <bool SCALED = true>
__device__ __forceinline__ void decode4(uint32_t x, uint32_t s, uint32_t &lo, uint32_t &hi) {
  const uint32_t sel = x & 0x7777u;
  const uint32_t sg = __byte_perm(x << 4, x, 0x5140);
  const uint32_t h = __byte_perm(0x3F3F3F00u, 0x40404040u, sel) | (sg & 0x80808080u);
  const uint32_t l = __byte_perm(0xC0800000u, 0xC0804000u, sel);
  const uint32_t vlo = __byte_perm(l, h, 0x5140), vhi = __byte_perm(l, h, 0x7362);
  if constexpr (SCALED) {
    asm("mul.rn.bf16x2 %0, %1, %2;" : "=r"(lo) : "r"(vlo), "r"(s));
    asm("mul.rn.bf16x2 %0, %1, %2;" : "=r"(hi) : "r"(vhi), "r"(s));
  } else {
    lo = vlo;
    hi = vhi;
  }
}

// This thread's A fragments of the stage's eight k16 steps: rows r and r + 8
// of the tile (16-byte chunk j of a 64-byte row sits at chunk
// j ^ ((row >> 1) & 3), the 64-byte swizzle), codes 2t, 2t + 1 (byte t of
// the step's first word) and 2t + 8, 2t + 9 (byte t of its second word).
// SCALED false (exact mode): the codes' values without the block scales.
template <bool NV, bool SCALED = true>
__device__ __forceinline__ void decode_stage(uint32_t (&a)[8][4], const uint8_t *wt, const uint8_t *sc, int r, int t) {
  const uint32_t sel = (uint32_t)t | (uint32_t)(t + 4) << 4;
  // Rows r and r + 8's block scales as BF16 (NV: 8 blocks of 16; MX: 4 of 32),
  // two to a word, decoded by the producer.
  uint32_t s0[4] = {}, s1[4] = {};
  if (SCALED && NV) {
    const uint4 v0 = *reinterpret_cast<const uint4 *>(sc + r * 16), v1 = *reinterpret_cast<const uint4 *>(sc + (r + 8) * 16);
    s0[0] = v0.x; s0[1] = v0.y; s0[2] = v0.z; s0[3] = v0.w;
    s1[0] = v1.x; s1[1] = v1.y; s1[2] = v1.z; s1[3] = v1.w;
  } else if (SCALED) {
    const uint2 v0 = *reinterpret_cast<const uint2 *>(sc + r * 8), v1 = *reinterpret_cast<const uint2 *>(sc + (r + 8) * 8);
    s0[0] = v0.x; s0[1] = v0.y; s1[0] = v1.x; s1[1] = v1.y;
    s0[2] = s0[3] = s1[2] = s1[3] = 0;
  }
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const uint4 q0 = *reinterpret_cast<const uint4 *>(wt + r * 64 + 16 * (j ^ ((r >> 1) & 3)));
    const uint4 q1 = *reinterpret_cast<const uint4 *>(wt + (r + 8) * 64 + 16 * (j ^ (((r + 8) >> 1) & 3)));
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int k = 2 * j + h;  // k16 step
      const uint32_t x0 = __byte_perm(h ? q0.z : q0.x, h ? q0.w : q0.y, sel);
      const uint32_t x1 = __byte_perm(h ? q1.z : q1.x, h ? q1.w : q1.y, sel);
      const int blk = NV ? k : k / 2;  // scale block of the step
      const uint32_t f0 = __byte_perm(s0[blk / 2], 0, blk % 2 ? 0x3232 : 0x1010);  // the scale in both halves
      const uint32_t f1 = __byte_perm(s1[blk / 2], 0, blk % 2 ? 0x3232 : 0x1010);
      decode4<SCALED>(x0, f0, a[k][0], a[k][2]);
      decode4<SCALED>(x1, f1, a[k][1], a[k][3]);
    }
  }
}

// Stages in flight on the tensor cores per math warpgroup while it decodes
// the next into another register set (measured on an H200: a third set
// and two stages in flight were slower, 79 against 70 us at M = 128).
constexpr int INFLIGHT = 1;

// One stage: wait for its bytes, decode B's fragments into a, issue the
// eight wgmmas (A's tile: two 128-byte-swizzled boxes of 64 K), and once
// the stage INFLIGHT back is done, release its slot (where it is this
// tile's: `release`).
// BF16 B: no decode, the wgmma reads the warpgroup's 64 rows of B's tile
// (two 128-byte-swizzled boxes of 64 K, as A's) from shared memory.
template <int BN, int WF>
__device__ __forceinline__ void math_stage(float (&acc)[BN / 2], uint32_t (&a)[8][4], uint8_t *smem, uint32_t g,
                                           bool release, int wg, int r, int t) {
  using L = w4_layout<BN, WF>;
  uint64_t *full = reinterpret_cast<uint64_t *>(smem + L::BAR_OFF), *empty = full + L::STAGES;
  const int st = g % L::STAGES;
  ptx::mbar_wait(&full[st], (g / L::STAGES) & 1);
  const uint8_t *wt = smem + L::W_OFF + st * L::W_BYTES;
  if constexpr (!L::BF) decode_stage<L::NV>(a, wt, smem + L::SC_OFF + st * L::SC_BYTES, r, t);
  ptx::wgmma_fence();
  const uint8_t *xt = smem + st * L::X_BYTES;
#pragma unroll
  for (int k = 0; k < 8; ++k) {
    const uint64_t db = ptx::wgmma_desc_sw128(xt + (k / 4) * (BN * 128)) + 2 * (k % 4);
    if constexpr (L::BF)
      ptx::wgmma_m64k16_bf16_ss<BN>(acc, ptx::wgmma_desc_sw128(wt + (k / 4) * (BW * 128) + wg * 64 * 128) + 2 * (k % 4),
                                    db, 1);
    else ptx::wgmma_m64k16_bf16_rs<BN>(acc, a[k], db, 1);
  }
  ptx::wgmma_commit();
  ptx::wgmma_wait<INFLIGHT>();
  if (release) ptx::mbar_arrive(&empty[(g - INFLIGHT) % L::STAGES]);
}

// Exact mode, NVFP4 x NVFP4 and MXFP4 x MXFP4 (NUMERICS 7: p = the
// K-block's sum rounded once to fp32, acc = acc + p in K order). A is
// decoded to BF16 with its block scales (e_a s_a, exact), B's codes without
// theirs (e_b), so the wgmmas of one K-block (one k16 for NVFP4's 16, two
// chained for MX's 32) sum s_a e_a e_b: products s_a times multiples of 1/4
// up to 36, every partial sum s_a times a multiple of 1/4 below 577 (NVFP4)
// or 1153 (MX), at most 16 significant bits (a UE4M3 s_a has four; an E8M0
// one is a power of two), exact in the tensor core's fp32 accumulation in
// whatever order it adds. The block's sum goes to a zeroed temporary, and
// p = s_b * tmp is exact in fp32: UE4M3 scales give at most 20 significant
// bits and magnitudes 2^-20 .. 2^27; E8M0 scale exponents are kept within
// +-58 by the caller's scan (p within 2^-118 .. 2^127), so one FFMA,
// acc = fma(tmp, s_b, acc), is the reference's rounding of acc + p.
// Each K-block is two groups of BN / 2 columns (halves of the tile), NB
// groups in flight while the oldest is promoted, in K order.
// Temporaries beside the accumulators: three of 32 registers at 128-row
// A-tiles (4-6% faster than two on NVFP4 at 8192^3, 4096^3, 2048 x 8192^2,
// 1-2% on MXFP4, on an H100; four spill), four of 16 at 64 rows.
template <int BN>
struct exact_depth {
  static constexpr int NB = BN == 128 ? 3 : 4;
};
// Group i (K-block i / 2, half i % 2) into t.
template <int BN, bool NV>
__device__ __forceinline__ void exact_issue(float (&t)[BN / 4], const uint32_t (&a)[8][4], const uint8_t *xt, int i) {
  const int kb = i / 2, half = i % 2;
  ptx::wgmma_fence();
#pragma unroll
  for (int j = 0; j < (NV ? 1 : 2); ++j) {
    const int k = NV ? kb : 2 * kb + j;  // k16 step of the stage
    const uint64_t db = ptx::wgmma_desc_sw128(xt + (k / 4) * (BN * 128) + half * (BN / 2) * 128) + 2 * (k % 4);
    ptx::wgmma_m64k16_bf16_rs<BN / 2>(t, a[k], db, j);
  }
  ptx::wgmma_commit();
}
template <int BN, int WF>
__device__ __forceinline__ void exact_stage(float (&acc)[BN / 2], uint32_t (&a)[8][4],
                                            float (&t)[exact_depth<BN>::NB][BN / 4], uint8_t *smem, uint32_t g,
                                            int r, int q) {
  using L = w4_layout<BN, WF>;
  constexpr bool NV = L::NV;
  constexpr int NB = exact_depth<BN>::NB, W = 2 * (NV ? 8 : 4);  // groups: two a K-block
  static_assert(NB <= 4, "wgmma_wait_n waits for at most 3 pending groups");
  uint64_t *full = reinterpret_cast<uint64_t *>(smem + L::BAR_OFF), *empty = full + L::STAGES;
  const int st = g % L::STAGES;
  ptx::mbar_wait(&full[st], (g / L::STAGES) & 1);
  const uint8_t *sc = smem + L::SC_OFF + st * L::SC_BYTES, *xt = smem + st * L::X_BYTES;
  decode_stage<NV, false>(a, smem + L::W_OFF + st * L::W_BYTES, sc, r, q);
  // Rows r and r + 8's block scales (8 NVFP4, 4 MX), BF16 pairs (exact, NaN kept).
  uint32_t s0[4], s1[4];
#pragma unroll
  for (int w = 0; w < L::SC_ROW / 4; ++w) {
    s0[w] = reinterpret_cast<const uint32_t *>(sc + r * L::SC_ROW)[w];
    s1[w] = reinterpret_cast<const uint32_t *>(sc + (r + 8) * L::SC_ROW)[w];
  }
#pragma unroll
  for (int i = 0; i < NB; ++i) exact_issue<BN, NV>(t[i], a, xt, i);
#pragma unroll
  for (int i = 0; i < W; ++i) {
    const int kb = i / 2, half = i % 2;
    ptx::wgmma_wait_n(NB - 1 < W - 1 - i ? NB - 1 : W - 1 - i);  // group i is complete
    float(&ti)[BN / 4] = t[i % NB];
#pragma unroll
    for (int e = 0; e < BN / 4; ++e) ptx::fence_reg(ti[e]);
    const float f0 = __uint_as_float(kb % 2 ? s0[kb / 2] & 0xFFFF0000u : s0[kb / 2] << 16);
    const float f1 = __uint_as_float(kb % 2 ? s1[kb / 2] & 0xFFFF0000u : s1[kb / 2] << 16);
    // ti[4j + h]: row r + 8 (h / 2), column 8j + 2q + h % 2 of the half.
#pragma unroll
    for (int e = 0; e < BN / 4; ++e)
      acc[half * (BN / 4) + e] = __fmaf_rn(ti[e], (e % 4) / 2 ? f1 : f0, acc[half * (BN / 4) + e]);
    if (i + NB < W) exact_issue<BN, NV>(ti, a, xt, i + NB);
  }
  ptx::mbar_arrive(&empty[st]);
}
#endif

// The tile of unit u (units: column tiles fastest, then row tiles, then the
// K range or group): rows m0 .. m_end - 1 of A, stored at C's rows from
// crow + m0; B's rows of the expert from b0 + n0; stages s0 .. s1 - 1; the
// tensor scales of its group. A grouped tile reads rows past its group's
// end (another group's, or zeros past A) into accumulator columns it never
// stores. K split: group z's stages, into C's z-th block of M rows.
// Returns false where the unit has no work (past the table's tiles, an
// invalid group).
struct w4_tile {
  int n0, m0, m_end, b0, crow, s0, s1, sp;
  operand a, b;
};
template <int BN>
__device__ __forceinline__ bool tile_of(const w4_params &p, int64_t u, w4_tile &t) {
  const int gx = (p.N + BW - 1) / BW;
  const int64_t y = u / gx % p.gy;
  t.n0 = (int)(u % gx) * BW;
  const int z = (int)(u / gx / p.gy);
  t.sp = p.kgrouped ? 0 : z;
  t.m0 = (int)y * BN;
  t.m_end = p.M;
  t.b0 = 0;
  t.crow = 0;
  t.s0 = t.sp * p.kper;
  t.s1 = min(t.s0 + p.kper, p.ksteps);
  t.a = p.a;
  t.b = p.b;
  if (p.kgrouped) {
    const int64_t k0 = p.g.row0[z];
    if (k0 < 0) return false;
    t.s0 = (int)(k0 / BK);
    t.s1 = (int)((k0 + p.g.rows[z]) / BK);
    t.crow = (int)(z * p.M);
  } else if (p.g.tiles) {
    if (y >= p.g.tiles[p.g.E]) return false;  // past the table's total
    const int64_t e = group_of_tile(p.g, y);
    t.m0 = (int)(p.g.row0[e] + (y - p.g.tiles[e]) * BN);
    t.m_end = (int)(p.g.row0[e] + p.g.rows[e]);
    t.b0 = (int)(e * p.N);
    t.b = expert_operand(p.b, e);
    t.a = group_a(p.a, p.g, e);
  }
  return true;
}

// Persistent: CTA i runs units i, i + gridDim.x, ...; the producer and the
// math warpgroups walk the same units and count their stages through the
// ring together (g), so the producer brings the next tile's first stages
// while the math warps store the last one's C.
template <int BN, int WF>
__global__ void __launch_bounds__(THREADS, 1)
    sm90_w4_kernel(const __grid_constant__ CUtensorMap tx, const __grid_constant__ CUtensorMap tw, const w4_params p) {
#if MXB_SM90A
  using L = w4_layout<BN, WF>;
  constexpr bool NV = L::NV;
  extern __shared__ uint8_t smem_raw[];
  uint8_t *smem = smem_raw + ((1024 - (ptx::smem_addr(smem_raw) & 1023)) & 1023);
  uint64_t *full = reinterpret_cast<uint64_t *>(smem + L::BAR_OFF), *empty = full + L::STAGES;
  uint32_t *lut = reinterpret_cast<uint32_t *>(smem + L::LUT_OFF);
  const int tid = threadIdx.x, wg = tid / 128, lane = tid % 32;
  // Block scales as BF16 (exact: UE4M3 values have 4 significant bits, E8M0
  // ones are powers of two from 2^-127, a BF16 subnormal; NaN stays NaN).
  for (int i = tid; i < (L::BF ? 0 : 256); i += THREADS) {
    const float f = NV ? mxb_ue4m3_decode((uint8_t)i) : mxb_e8m0_decode((uint8_t)i);
    const uint32_t h = __float_as_uint(f) >> 16;
    lut[i] = h | h << 16;
  }
  if (tid == 0) {
    for (int s = 0; s < L::STAGES; ++s) {
      ptx::mbar_init(&full[s], L::BF ? 1 : 1 + 128);  // the TMA issuer (plus the bytes), the scale decoders
      ptx::mbar_init(&empty[s], 256);    // every math thread
    }
    ptx::mbar_init_fence();
    ptx::tma_prefetch_desc(&tx);
    ptx::tma_prefetch_desc(&tw);
  }
  __syncthreads();
  // Launched as the programmatic dependent of the kernel before it (A's
  // decode, a scale scan, a group table): the setup above overlapped its
  // tail; nothing that kernel writes is read before this.
  pdl_wait();
  if (p.run_if && !*p.run_if) return;  // the whole grid leaves
  uint32_t g = 0;  // stages through the ring so far (this CTA's units)
  w4_tile t;
  if (wg == 2) {
    ptx::setmaxnreg_dec<PRODUCER_REGS>();
    const int pw = tid / 32 - 8;  // producer warp: rows 32 pw .. 32 pw + 31 of the tile's scales
    if (L::BF && (pw || lane)) return;  // BF16: no scales, one thread is the producer
    uint32_t wide = 0;  // MXFP4 scale bytes 253, 254 seen (6 x 2^k beyond BF16): 0xFF in their byte
    for (int64_t u = blockIdx.x; u < p.units; u += gridDim.x) {
      if (!tile_of<BN>(p, u, t)) continue;
      // Stage s's tiles by TMA into slot st (one thread): A's two boxes of
      // 64 K, and B's codes (64 bytes a row) or, BF16, its two boxes as A's.
      auto issue = [&](int s, int st) {
        ptx::mbar_expect_tx(&full[st], L::X_BYTES + L::W_BYTES);
        uint8_t *xt = smem + st * L::X_BYTES, *wt = smem + L::W_OFF + st * L::W_BYTES;
        ptx::tma_load_2d(xt, &tx, &full[st], s * BK, t.m0);
        ptx::tma_load_2d(xt + BN * 128, &tx, &full[st], s * BK + 64, t.m0);
        if (L::BF) {
          ptx::tma_load_2d(wt, &tw, &full[st], s * BK, t.b0 + t.n0);
          ptx::tma_load_2d(wt + BW * 128, &tw, &full[st], s * BK + 64, t.b0 + t.n0);
        } else {
          ptx::tma_load_2d(wt, &tw, &full[st], s * (BK / 2), t.b0 + t.n0);
        }
        ptx::mbar_arrive(&full[st]);
      };
      if constexpr (L::BF) {
        for (int s = t.s0; s < t.s1; ++s, ++g) {
          ptx::mbar_wait(&empty[g % L::STAGES], ((g / L::STAGES) & 1) ^ 1);
          issue(s, g % L::STAGES);
        }
      } else {
        // Scale word w (K-blocks 4w .. 4w + 3) of a row lies `step` bytes after
        // word w - 1 in either layout; each producer thread owns one row. The
        // raw words of stage s land by cp.async; D stages later (when they are
        // surely there) the thread decodes them to BF16 through the table and
        // arrives on the stage's barrier, so the math warps read ready scales.
        // (One warp decoding all 128 rows made NVFP4 calls a quarter slower.)
        constexpr int PER = L::S_WORDS, D = 2;  // words a thread and stage; decode distance
        static_assert(D < L::STAGES, "the decode of a stage precedes the wait for its slot's reuse");
        const int64_t step = p.b.swizzled ? 512 : 4;
        const uint8_t *src[PER];
#pragma unroll
        for (int i = 0; i < PER; ++i) {
          const int e = (32 * pw + lane) * PER + i, row = t.n0 + e / L::S_WORDS;
          src[i] = row < p.N ? p.b.scales + mxb_scale_index(t.b0 + row, 0, p.b.scale_cols, p.b.swizzled) +
                                   e % L::S_WORDS * step
                             : nullptr;
        }
        const uint32_t g0 = g;  // the unit's first stage in the ring
        auto decode = [&](int s) {
          const int st = (g0 + s - t.s0) % L::STAGES;
          const uint32_t *raw = reinterpret_cast<const uint32_t *>(smem + L::RAW_OFF + st * L::RAW_BYTES);
          uint8_t *sc = smem + L::SC_OFF + st * L::SC_BYTES;
#pragma unroll
          for (int i = 0; i < PER; ++i) {
            const int e = (32 * pw + lane) * PER + i;
            const uint32_t w = raw[e];
            if (WF == W_MX) wide |= __vcmpgeu4(w, 0xFDFDFDFDu) & ~__vcmpeq4(w, 0xFFFFFFFFu);
            const uint32_t lo = __byte_perm(lut[w & 0xFFu], lut[(w >> 8) & 0xFFu], 0x5410);
            const uint32_t hi = __byte_perm(lut[(w >> 16) & 0xFFu], lut[w >> 24], 0x5410);
            *reinterpret_cast<uint2 *>(sc + e / L::S_WORDS * L::SC_ROW + e % L::S_WORDS * 8) = make_uint2(lo, hi);
          }
          ptx::mbar_arrive(&full[st]);
        };
        for (int s = t.s0; s < t.s1; ++s, ++g) {
          const int st = g % L::STAGES;
          ptx::mbar_wait(&empty[st], ((g / L::STAGES) & 1) ^ 1);
          if (pw == 0 && lane == 0) issue(s, st);
          uint8_t *raw = smem + L::RAW_OFF + st * L::RAW_BYTES;
          const int64_t off = (int64_t)s * L::S_WORDS * step;
#pragma unroll
          for (int i = 0; i < PER; ++i)  // rows past N read nothing and decode zeros
            ptx::cp_async4(raw + 4 * ((32 * pw + lane) * PER + i), src[i] ? src[i] + off : p.b.scales,
                           src[i] ? 4u : 0u);
          ptx::cp_async_commit();
          if (s - t.s0 >= D) {
            ptx::cp_async_wait<D>();
            decode(s - D);
          }
        }
        ptx::cp_async_wait<0>();
        for (int s = max(t.s1 - D, t.s0); s < t.s1; ++s) decode(s);
      }
    }
    // Every scale byte of B the call uses passed through some producer's
    // decode (rows past N read as 0): the check costs no pass of its own.
    if (WF == W_MX && p.flag && wide) atomicOr(p.flag, 1);
    return;
  }
  ptx::setmaxnreg_inc<MATH_REGS>();
  const int r = wg * 64 + (tid % 128) / 32 * 16 + lane / 4, q = lane % 4;  // rows r, r + 8 of the tile
  for (int64_t u = blockIdx.x; u < p.units; u += gridDim.x) {
    if (!tile_of<BN>(p, u, t)) continue;
    float acc[BN / 2];
#pragma unroll
    for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;
    const uint32_t n = t.s1 > t.s0 ? t.s1 - t.s0 : 0;
    if constexpr (L::EX) {
      uint32_t a0[8][4];
      float tmp[exact_depth<BN>::NB][BN / 4];
#pragma unroll 1
      for (uint32_t i = 0; i < n; ++i) exact_stage<BN, WF>(acc, a0, tmp, smem, g + i, r, q);
    } else {
      uint32_t a0[8][4], a1[8][4];  // one set decoded while the other is on the tensor cores
      static_assert(INFLIGHT == 1, "two register sets");
      uint32_t i = 0;
#pragma unroll 1
      for (; i + 1 < n; i += 2) {
        math_stage<BN, WF>(acc, a0, smem, g + i, i >= INFLIGHT, wg, r, q);
        math_stage<BN, WF>(acc, a1, smem, g + i + 1, true, wg, r, q);
      }
      if (i < n) math_stage<BN, WF>(acc, a0, smem, g + i, i >= INFLIGHT, wg, r, q), ++i;
      ptx::wgmma_wait<0>();
      for (uint32_t d = i > INFLIGHT ? i - INFLIGHT : 0; d < i; ++d) ptx::mbar_arrive(&empty[(g + d) % L::STAGES]);
    }
    g += n;
    // acc[4j + h]: row n0 + r + 8 (h / 2) of B (column of C), column
    // m0 + 8j + 2q + h % 2 of the tile (row of C). A warp's store writes 8
    // consecutive columns of C in each of 4 rows: whole 32-byte sectors.
    // The output view with the scalars read (pointer mode) here, where the
    // tile is stored, not before the mainloop (see sm90_mx_fp8_gemm.cu).
    out_view o = p.out;
    load_scalars(o);
    const float at = mxb_gemm_alpha_t(o.alpha, tensor_scale(t.a), tensor_scale(t.b));
    // The common case on its own: C not read (beta 0), one K range, the
    // whole tile inside C, fp32 or bf16 C: two row pointers and the same
    // roundings as store_plain (c = alpha_t acc). The general loop below
    // re-derived each element's index and re-tested every condition, and
    // held about a sixth of the math warps' samples at M = 128 (ncu, H100).
    if (p.splits == 1 && o.beta == 0.0f && t.n0 + BW <= p.N && t.m0 + BN <= t.m_end &&
        (o.dtype == MXB_DTYPE_FP32 || o.dtype == MXB_DTYPE_BF16)) {
      const int64_t ld = o.ldc, e0 = (int64_t)(t.crow + t.m0 + 2 * q) * ld + t.n0 + r;
      if (o.dtype == MXB_DTYPE_FP32) {
        uint32_t *c = static_cast<uint32_t *>(o.c) + e0;
#pragma unroll
        for (int j = 0; j < BN / 8; ++j)
#pragma unroll
          for (int h = 0; h < 4; ++h) c[(8 * j + h % 2) * ld + 8 * (h / 2)] = mxb_gemm_out_f32(at * acc[4 * j + h]);
      } else {
        uint16_t *c = static_cast<uint16_t *>(o.c) + e0;
#pragma unroll
        for (int j = 0; j < BN / 8; ++j)
#pragma unroll
          for (int h = 0; h < 4; ++h) c[(8 * j + h % 2) * ld + 8 * (h / 2)] = mxb_gemm_out_bf16(at * acc[4 * j + h]);
      }
      continue;
    }
#pragma unroll
    for (int j = 0; j < BN / 8; ++j)
#pragma unroll
      for (int h = 0; h < 4; ++h) {
        const int nn = t.n0 + r + 8 * (h / 2), m = t.m0 + 8 * j + 2 * q + h % 2;
        if (nn >= p.N || m >= t.m_end) continue;
        if (p.splits > 1) p.part[((int64_t)t.sp * p.M + m) * p.N + nn] = acc[4 * j + h];
        else store_plain(o, at, t.crow + m, nn, acc[4 * j + h]);
      }
  }
#endif
}

// C from the split partials: summed in range order, then alpha (with the
// tensor scales), beta, and (dense calls) the bias, the activation and the
// output type: the epilogue costs no pass of its own here.
__global__ void w4_reduce(const w4_params p) {
  out_view o = p.out;
  load_scalars(o);
  const float at = mxb_gemm_alpha_t(o.alpha, tensor_scale(p.a), tensor_scale(p.b));
  const bool epi = p.out.bias || p.out.act != MXB_ACT_NONE || p.out.dtype == MXB_DTYPE_FP16;  // no aux here
  reduce_partials(p.part, p.splits, p.M, p.N, [&](int64_t m, int64_t c, float v) {
    if (epi) store(o, at, m, c, v);
    else store_plain(o, at, m, c, v);
  });
}

// Raises *flag where an E8M0 scale byte of o lies outside [lo, hi] (255 is
// NaN and decodes as NaN: never flagged). Fast mode: [0, 252], the bytes
// for which 6 x 2^k fits BF16. Exact mode: 127 +- EXACT_MX_EXP on both
// operands, where the exact kernel's block products are exact in fp32.
constexpr int EXACT_MX_EXP = 58;
__global__ void w4_scale_scan(operand o, int lo, int hi, int *flag) {
  const int64_t n = o.rows * o.scale_cols;
  bool out = false;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const uint8_t s = o.scales[mxb_scale_index(i / o.scale_cols, i % o.scale_cols, o.scale_cols, o.swizzled)];
    out |= s != 255 && (s < lo || s > hi);
  }
  if (out) atomicOr(flag, 1);
}

bool is_fp4(int f) { return f == MXB_FORMAT_NVFP4 || f == MXB_FORMAT_MXFP4; }

// The kernel's choices for a shape (never data): A-tile rows and K splits.
struct w4_plan {
  int bn, splits, ksteps;
  bool decode_a, guard;   // A decoded to BF16 first; the exactness flag and fallback in play
  bool exact;             // the exact kernel (W_NVX, W_MXX)
  size_t flag_off, x_off, c_off, part_off, total;
};

// MXB_SM90_W4_PLAN="bn,splits" (each -1 for the default) replaces the
// plan's choices for benchmarking; values the kernel cannot run are ignored.
// Read once, so workspace queries and calls agree.
const int *plan_override() {
  static int v[2] = {-1, -1};
  static const bool once = [] {
    const char *e = getenv("MXB_SM90_W4_PLAN");
    if (e) sscanf(e, "%d,%d", &v[0], &v[1]);
    return true;
  }();
  (void)once;
  return v;
}

// A-tile rows for `rows` rows (of the call, or of a group), or the override.
int tile_rows(int64_t rows) {
  const int ov = plan_override()[0];
  if (ov == 32 || ov == 64 || ov == 128) return ov;
  return rows <= 32 ? 32 : rows <= 64 ? 64 : 128;
}

}  // namespace

// Every NVFP4 value is exact in BF16; other block-scaled A (extreme scales)
// and MXFP4 B (scale bytes 253, 254) may not be.
bool sm90_w4_may_fall_back(const problem &p) {
  return (p.a.format != MXB_FORMAT_BF16 && p.a.format != MXB_FORMAT_NVFP4) || p.b.format == MXB_FORMAT_MXFP4;
}

// A-tile rows for `rows_hint` rows of A (a group's, or M); the exact
// kernel's are 64 or 128 (its wgmmas are halves of the tile).
int sm90_w4_tile_rows(int64_t rows_hint, bool exact) {
  const int t = tile_rows(rows_hint);
  return exact && t < 64 ? 64 : t;
}

namespace {
// grouped: rows_hint >= 0, the rows of a group as the shape suggests; no K
// split (the groups fill the SMs, or the call is small). exact: the exact
// kernel (NVFP4 x NVFP4, MXFP4 x MXFP4): A-tiles of 64 or 128 rows (its
// wgmmas are halves of the tile), no K split (acc is one sum in K order).
w4_plan plan_of(const mxb_context *ctx, const problem &p, int64_t rows_hint = -1, bool exact = false) {
  const int *ov = plan_override();
  const bool grouped = rows_hint >= 0;
  w4_plan w;
  w.bn = sm90_w4_tile_rows(grouped ? rows_hint : p.M, exact);
  w.ksteps = (int)(p.K / BK);
  const int64_t sms = ctx->sm_count > 0 ? ctx->sm_count : 132, col_tiles = (p.N + BW - 1) / BW;
  // 128-row A tiles that fill at most half the SMs (65 .. 128 rows of A)
  // become two 64-row tiles instead of two K ranges: no partial sums, and
  // each weight decoded twice costs less than the second range's pipeline
  // fill and reduction. Measured on an H100 at N = K = 8192, M = 128 (us,
  // cuBLASLt BF16 56.8): BF16 x NVFP4 weights 58.3 against 66.0, NVFP4 x
  // NVFP4 61.7 against 73.5, W4A8 72.7 against 83.3. At M = 64 the same
  // trade (32-row tiles against two K ranges of 64-row ones) lost: 50.8
  // against 45.6, so 64-row tiles keep their split.
  if (!grouped && ov[0] < 0 && w.bn == 128 && p.M <= 128 && col_tiles * 2 <= sms) w.bn = 64;
  const int64_t tiles = col_tiles * ((p.M + w.bn - 1) / w.bn);
  int64_t sp = tiles * 2 <= sms ? sms / tiles : 1;
  sp = sp < 4 ? sp : 4;
  sp = sp < w.ksteps / 4 ? sp : w.ksteps / 4;  // ranges of 4 stages or more
  if (ov[1] >= 1 && ov[1] <= 4 && ov[1] <= w.ksteps) sp = ov[1];
  w.splits = sp > 1 && !grouped && !exact ? (int)sp : 1;
  w.exact = exact;
  w.decode_a = p.a.format != MXB_FORMAT_BF16;
  w.guard = sm90_w4_may_fall_back(p);
  w.flag_off = 0;
  w.x_off = 256;
  w.c_off = w.x_off + (w.decode_a ? align256((size_t)p.M * (size_t)p.K * 2) : 0);
  w.part_off = w.c_off + (w.guard ? align256(saved_c_bytes(p)) : 0);
  w.total = w.part_off + (w.splits > 1 ? align256((size_t)w.splits * (size_t)p.M * (size_t)p.N * 4) : 0);
  return w;
}

// gr: a grouped call (M-grouped: the row tiles are the table's, gr->upper
// of them at most; K split: the units run over its groups), else NULL.
template <int BN, int WF>
mxb_status_t launch(const mxb_context *ctx, const problem &p, const w4_plan &w, const uint16_t *x, int64_t x_stride,
                    float *part, int *flag, const grouped_run *gr, cudaStream_t st) {
  using L = w4_layout<BN, WF>;
  CUtensorMap tx, tw;
  MXB_TRY(tensor_map_2d(&tx, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, x, (uint64_t)p.K, (uint64_t)p.M, (uint64_t)x_stride, 64,
                        BN, CU_TENSOR_MAP_SWIZZLE_128B));
  if (L::BF)
    MXB_TRY(tensor_map_2d(&tw, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, p.b.data, (uint64_t)p.K, (uint64_t)p.b.rows,
                          (uint64_t)p.b.row_bytes, 64, BW, CU_TENSOR_MAP_SWIZZLE_128B));
  else
    MXB_TRY(tensor_map_2d(&tw, CU_TENSOR_MAP_DATA_TYPE_UINT8, p.b.data, (uint64_t)(p.K / 2), (uint64_t)p.b.rows,
                          (uint64_t)p.b.row_bytes, BK / 2, BW, CU_TENSOR_MAP_SWIZZLE_64B));
  w4_params k;
  k.a = p.a;
  k.b = p.b;
  k.M = (int)p.M;
  k.N = (int)p.N;
  k.ksteps = w.ksteps;
  k.splits = w.splits;
  k.kper = (w.ksteps + w.splits - 1) / w.splits;
  k.part = part;
  k.flag = flag;
  k.out = p.out;
  k.g = gr ? gr->g : group_rows{nullptr, nullptr, nullptr, 0, false};
  k.kgrouped = gr ? gr->kgrouped : 0;
  k.run_if = gr ? gr->run_if : nullptr;
  MXB_TRY((allow_dynamic_smem<sm90_w4_kernel<BN, WF>>(ctx->device, L::BYTES)));
  const bool kg = gr && gr->kgrouped;
  k.gy = (int)(gr && !kg ? gr->upper : (p.M + BN - 1) / BN);
  k.units = (p.N + BW - 1) / BW * k.gy * (kg ? gr->g.E : w.splits);
  const int64_t sms = ctx->sm_count > 0 ? ctx->sm_count : 132;  // one CTA an SM (shared memory)
  MXB_TRY(cuda_status(launch_pdl(pdl_enabled(), dim3((unsigned)(k.units < sms ? k.units : sms)), dim3(THREADS),
                                 L::BYTES, st, sm90_w4_kernel<BN, WF>, tx, tw, k),
                      "cudaLaunchKernelEx(sm90_w4_kernel)"));
  MXB_TRY(launch_status("sm90_w4_kernel"));
  if (w.splits == 1) return MXB_SUCCESS;
  w4_reduce<<<reduce_blocks(p.M, p.N, 256, 2048), 256, 0, st>>>(k);
  return launch_status("w4_reduce");
}

template <int WF>
mxb_status_t launch_bn(const mxb_context *ctx, const problem &p, const w4_plan &w, const uint16_t *x,
                       int64_t x_stride, float *part, int *flag, const grouped_run *gr, cudaStream_t st) {
  if constexpr (WF != W_NVX && WF != W_MXX)  // the exact plan's tiles have 64 rows or more
    if (w.bn == 32) return launch<32, WF>(ctx, p, w, x, x_stride, part, flag, gr, st);
  if (w.bn == 64) return launch<64, WF>(ctx, p, w, x, x_stride, part, flag, gr, st);
  return launch<128, WF>(ctx, p, w, x, x_stride, part, flag, gr, st);
}

bool built_for_sm90a() {
  static const bool ok = [] {
    cudaFuncAttributes a;
    return cudaFuncGetAttributes(&a, sm90_w4_kernel<128, W_NV>) == cudaSuccess && a.binaryVersion == 90 &&
           a.ptxVersion >= 90;
  }();
  return ok;
}

}  // namespace

// K in whole stages; 16-byte aligned rows for TMA; compute capability 9.0
// with the sm_90a build.
static bool shape_applies(const mxb_context *ctx, const problem &p) {
  return ctx->cc_major == 9 && ctx->cc_minor == 0 && p.K > 0 && p.K % BK == 0 && p.align.data >= 16 &&
         p.b.row_bytes % 16 == 0 && (p.a.format != MXB_FORMAT_BF16 || p.a.row_bytes % 16 == 0) && p.M < (1 << 30) &&
         p.N < (1 << 30) && built_for_sm90a();
}

// B NVFP4 or MXFP4 with its scale words 4-byte aligned (linear rows of
// whole words, or the swizzled layout); A BF16 or decoded to it.
bool sm90_w4_applies(const mxb_context *ctx, const problem &p) {
  const bool pair = is_fp4(p.b.format) && (p.a.format == MXB_FORMAT_BF16 || bf16_holds_decoded(p.a.format));
  const bool scales = p.align.scales >= 4 && (p.b.swizzled || p.b.scale_cols % 4 == 0);
  return pair && scales && shape_applies(ctx, p);
}

// Exact mode, NVFP4 x NVFP4 or MXFP4 x MXFP4 (one tensor scale each: the
// caller's test): the exact kernel (W_NVX, W_MXX) on the 4-bit kernel's
// conditions. MXFP4 calls with scales beyond 2^+-58 recompute C on the
// exact generic path (the device flag).
bool sm90_w4_exact_applies(const mxb_context *ctx, const problem &p) {
  return is_fp4(p.a.format) && p.a.format == p.b.format && sm90_w4_applies(ctx, p);
}

// The grouped calls also take BF16 x BF16 (B read by the wgmma from shared
// memory): cuBLASLt has no grouped GEMM whose sizes stay on the device.
static bool grouped_pair_applies(const mxb_context *ctx, const problem &p) {
  const bool bf16 = p.a.format == MXB_FORMAT_BF16 && p.b.format == MXB_FORMAT_BF16;
  return bf16 ? shape_applies(ctx, p) : sm90_w4_applies(ctx, p);
}

// Measured on an H200 (docs/PERFORMANCE.md). The registry offers M <= 16
// to the decode kernel first; what it cannot take (swizzled B scales, K not
// in whole 64-column pieces) is still faster here than dequantized.
bool sm90_w4_preferred(const mxb_context *, const problem &p) { return p.M <= 1024; }

// A bias, an activation or fp16 C: with K split, the reduce kernel finishes
// C; otherwise the kernel writes the plain product (to C itself for fp32 C,
// else to an fp32 intermediate after the plan's workspace) and the epilogue
// step finishes it (gemm_epilogue.cu). The registry hands the pre-activation
// output and gated activations to its own step.
static bool own_step(const problem &p, const w4_plan &w) { return has_epilogue(p.out) && w.splits == 1; }

static size_t workspace_of(const mxb_context *ctx, const problem &p, bool exact) {
  const w4_plan w = plan_of(ctx, p, -1, exact);
  return w.total + (own_step(p, w) ? lt_epilogue_bytes(p) : 0);
}
size_t sm90_w4_workspace(const mxb_context *ctx, const problem &p) { return workspace_of(ctx, p, false); }
size_t sm90_w4_exact_workspace(const mxb_context *ctx, const problem &p) { return workspace_of(ctx, p, true); }

namespace {
// Everything but the exact fallback: *guard is the flag it runs under (NULL: none).
mxb_status_t run_w4(const mxb_context *ctx, const problem &p, const w4_plan &w, const grouped_run *gr, void *ws,
                    cudaStream_t st, const int **guard, problem *fb) {
  char *base = static_cast<char *>(ws);
  int *flag = reinterpret_cast<int *>(base + w.flag_off);
  *guard = nullptr;
  *fb = p;
  // The flag is read only where a value may be inexact (guard); elsewhere
  // the decode of A may still set it, unread.
  if (w.guard) MXB_TRY(cuda_status(cudaMemsetAsync(flag, 0, sizeof(int), st), "cudaMemsetAsync(gemm flag)"));
  const uint16_t *x = static_cast<const uint16_t *>(static_cast<const void *>(p.a.data));
  int64_t x_stride = p.a.row_bytes;
  if (w.decode_a) {
    uint16_t *x16 = reinterpret_cast<uint16_t *>(base + w.x_off);
    MXB_TRY(dequant_bf16(ctx, p.a, p.K, x16, flag, st));
    x = x16;
    x_stride = p.K * 2;
  }
  // MXFP4 B in fast mode: the kernel's scale decode raises the flag itself
  // (no pass of its own: 6.4 of 67.7 us at M = 128, N = K = 8192 on an
  // H100); a scan first only where C must be saved before the kernel
  // overwrites it, which needs the flag before. Exact mode scans both
  // operands for its own range.
  const bool scan_first = p.b.format == MXB_FORMAT_MXFP4 && (w.exact || saved_c_bytes(p) > 0);
  if (scan_first) {
    const int lo = w.exact ? 127 - EXACT_MX_EXP : 0, hi = w.exact ? 127 + EXACT_MX_EXP : 252;
    auto scan = [&](const operand &o) {
      w4_scale_scan<<<grid_for(ctx, o.rows * o.scale_cols, 256), 256, 0, st>>>(o, lo, hi, flag);
      return launch_status("w4_scale_scan");
    };
    MXB_TRY(scan(p.b));
    if (w.exact) MXB_TRY(scan(p.a));  // fast mode: A's decode raises the flag itself
  }
  if (w.guard) MXB_TRY(save_c_if_flagged(ctx, p, flag, base + w.c_off, fb, st));
  float *part = reinterpret_cast<float *>(base + w.part_off);
  if (w.exact && p.b.format == MXB_FORMAT_NVFP4) MXB_TRY(launch_bn<W_NVX>(ctx, p, w, x, x_stride, part, flag, gr, st));
  else if (w.exact) MXB_TRY(launch_bn<W_MXX>(ctx, p, w, x, x_stride, part, flag, gr, st));
  else if (p.b.format == MXB_FORMAT_NVFP4) MXB_TRY(launch_bn<W_NV>(ctx, p, w, x, x_stride, part, flag, gr, st));
  else if (p.b.format == MXB_FORMAT_MXFP4) MXB_TRY(launch_bn<W_MX>(ctx, p, w, x, x_stride, part, flag, gr, st));
  else MXB_TRY(launch_bn<W_BF16>(ctx, p, w, x, x_stride, part, flag, gr, st));
  if (w.guard) *guard = flag;
  return MXB_SUCCESS;
}
}  // namespace

static mxb_status_t run_dense(const mxb_context *ctx, const problem &p, bool exact, void *ws, cudaStream_t st) {
  const w4_plan w = plan_of(ctx, p, -1, exact);
  const bool step = own_step(p, w);
  // The plain problem's plan needs no more workspace than p's (no C copy
  // where C is the fp32 intermediate), so the intermediate follows p's.
  const problem q = step ? lt_epilogue_problem(p, static_cast<char *>(ws) + w.total) : p;
  const int *guard;
  problem fb;
  MXB_TRY(run_w4(ctx, q, plan_of(ctx, q, -1, exact), nullptr, ws, st, &guard, &fb));
  if (guard) MXB_TRY(run_generic(ctx, fb, guard, st));
  return step ? run_lt_epilogue(ctx, p, q, st) : MXB_SUCCESS;
}
mxb_status_t run_sm90_w4(const mxb_context *ctx, const problem &p, void *ws, cudaStream_t st) {
  return run_dense(ctx, p, false, ws, st);
}
mxb_status_t run_sm90_w4_exact(const mxb_context *ctx, const problem &p, void *ws, cudaStream_t st) {
  return run_dense(ctx, p, true, ws, st);
}

// Grouped: the dense conditions on A's rows and an expert's N, plain C (the
// full epilogue in this kernel's store would cost it speed, see store_plain),
// and a bound on the table's row tiles that keeps the units' indices small.
bool sm90_w4_grouped_applies(const mxb_context *ctx, const problem &p, int64_t upper_tiles) {
  return grouped_pair_applies(ctx, p) && !has_epilogue(p.out) && upper_tiles > 0 && upper_tiles <= 65535 &&
         (int64_t)p.b.rows < (1 << 30);
}
size_t sm90_w4_grouped_workspace(const mxb_context *ctx, const problem &p, int64_t rows_hint, bool exact) {
  return plan_of(ctx, p, rows_hint, exact).total;
}
mxb_status_t run_sm90_w4_grouped(const mxb_context *ctx, const problem &p, const group_rows &g, int64_t rows_hint,
                                 int64_t upper_tiles, bool exact, void *ws, cudaStream_t st, const int **guard,
                                 problem *fallback) {
  const grouped_run gr{g, upper_tiles, 0, nullptr};
  return run_w4(ctx, p, plan_of(ctx, p, rows_hint, exact), &gr, ws, st, guard, fallback);
}

// K split: NVFP4 weights times BF16 or NVFP4 (every value exact in BF16, so
// no exactness fallback), or BF16 x BF16; plain C, groups in whole stages
// (*run_if).
bool sm90_w4_kgrouped_applies(const mxb_context *ctx, const problem &p, int64_t E) {
  return grouped_pair_applies(ctx, p) && !has_epilogue(p.out) && !sm90_w4_may_fall_back(p) && E > 0 && E <= 65535 &&
         E * p.M < ((int64_t)1 << 30);
}
size_t sm90_w4_kgrouped_workspace(const mxb_context *ctx, const problem &p) { return plan_of(ctx, p, p.M).total; }
mxb_status_t run_sm90_w4_kgrouped(const mxb_context *ctx, const problem &p, const group_rows &g, const int64_t *run_if,
                                  void *ws, cudaStream_t st) {
  const grouped_run gr{g, 0, 1, run_if};
  const int *guard;
  problem fb;
  return run_w4(ctx, p, plan_of(ctx, p, p.M), &gr, ws, st, &guard, &fb);
}

}  // namespace gemm
}  // namespace mxb
