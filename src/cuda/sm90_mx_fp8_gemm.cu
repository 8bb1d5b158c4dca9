// Fast MX GEMM on Hopper's FP8 tensor cores (sm_90a): MXFP8 x MXFP8, E4M3 and
// E5M2 in every combination, and MXFP4 x MXFP8 (W4A8, either side; the
// MXFP4 operand is widened to E4M3 codes, exactly, in shared memory at
// decode shapes and into the workspace elsewhere),
// C = alpha * A * B^T + beta * C.
//
// A persistent grid (one CTA per SM) walks 128 x BN tiles of C (BN = 128, or
// 64 where 128 would leave SMs idle, 256 for FP8 with 128 x 128 blocks of B
// where those fill the SMs; split-K where tiles fill at most half the
// SMs). A producer warpgroup brings A and B tiles
// (128 K-bytes a stage) into a 5-stage (8 at decode shapes, 4 for 256
// columns) shared-memory ring with TMA and
// decode their E8M0 block scales to fp32 next to them; two math warpgroups
// each own half of the tile's columns and all its rows, as two 64-row
// subtiles (with FP8 block scales on 128 x 128 tiles, each owns 64 rows
// and all the columns instead: stage_rows). The MX block of 32 is one wgmma K step: every K-block is
// multiplied into a zeroed temporary (FP8 products exact, accumulated by the
// tensor core) and promoted with one rounding,
//     acc = fma(tmp, 2^(ea + eb), acc),
// in K order; one subtile is promoted while the other is on the tensor cores.
// The promotion is one FMUL and one FFMA per accumulator and K-block: two
// warp instructions per 32 x 32 products, so instruction issue (4 a cycle)
// caps the kernel at half the FP8 tensor rate, the BF16 peak (docs/GEMM.md).
// The factor 2^(ea + eb) is an exact product of two decoded scales while
// ea + eb stays inside fp32 (2^-149 .. 2^127); the producers flag K-blocks
// of a tile with a scale outside 2^-74 .. 2^63, and those stages are promoted
// in binary64 instead (same order). A NaN scale (0xFF) decodes to NaN and
// makes its row or column NaN, as in the reference.
//
// Grouped GEMM (gemm_grouped.cu), never with A and B exchanged or K split
// in ranges. M-grouped: the row tiles are those of the group table written
// on the device (read when the kernel runs), each unit multiplying its
// group's rows of A by its expert's rows of the stacked B (from e * N) and
// storing only its group's rows. K-grouped (weight gradients): units of
// (group, tile of C), each running its group's stages of K (groups in whole
// stages) into its group's block of C's rows.
#include <cuda.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "core/formats.h"
#include "cuda/gemm_common.cuh"
#include "cuda/ptx.cuh"
#include "cuda/tensor_map.cuh"

namespace mxb {
namespace gemm {
namespace {

constexpr int BM = 128, BK = 128, KB_STAGE = BK / 32;
constexpr int THREADS = 384;  // two math warpgroups, one producer warpgroup
// Registers per thread after setmaxnreg. The CTA starts with 168 a thread
// (the launch bound); reallocation moves registers inside that allocation, so
// the total must stay within it or setmaxnreg.inc waits forever.
constexpr int PRODUCER_REGS = 88, MATH_REGS = 208;
// 256-column tiles (FP8 with 128 x 128 blocks of B): 128 accumulators and a
// 64-register temporary a math thread, so the producers give up more.
constexpr int PRODUCER_REGS_256 = 56, MATH_REGS_256 = 224;
static_assert(KB_STAGE == 4, "the math loop walks four K-blocks a stage");
static_assert(128 * PRODUCER_REGS + 256 * MATH_REGS <= (65536 / THREADS / 8 * 8) * THREADS, "register budget");
static_assert(128 * PRODUCER_REGS_256 + 256 * MATH_REGS_256 <= (65536 / THREADS / 8 * 8) * THREADS, "register budget");

template <int BN>
struct layout {
  // Ring depth: 8 stages for 32-column tiles (decode shapes, memory-bound;
  // W4A8's loads run 6 stages ahead of the widening), else 5 (measured on an
  // H200: 7 stages of 128 x 64 tiles were no faster at M = 128).
  static constexpr int STAGES = BN == 32 ? 8 : BN == 256 ? 4 : 5;
  static constexpr int A_BYTES = BM * BK, B_BYTES = BN * BK;
  // B scales are stored per lane quad (lane % 4 picks columns 8j + 2q + h),
  // padded so the four quads of a warp read different banks.
  static constexpr int FB_STRIDE = BN / 4 + 4;
  static constexpr int SFA = KB_STAGE * BM, SFB = KB_STAGE * 4 * FB_STRIDE;  // floats a stage
  static constexpr int B_OFF = STAGES * A_BYTES;  // A tiles from offset 0
  static constexpr int SFA_OFF = B_OFF + STAGES * B_BYTES;
  static constexpr int SFB_OFF = SFA_OFF + STAGES * SFA * 4;
  // Raw scale words (4 K-blocks of a row or column) of each stage, fetched
  // PF stages ahead by cp.async: A's rows, then B's columns.
  static constexpr int RAW_OFF = SFB_OFF + STAGES * SFB * 4;
  static constexpr int FLAG_OFF = RAW_OFF + STAGES * (BM + BN) * 4;
  // Wide-range flags: one word a stage and producer warp, bit kb set where a
  // scale of K-block kb lies outside [2^-74, 2^63].
  static constexpr int BAR_OFF = FLAG_OFF + STAGES * 4 * 4;
  static constexpr int BYTES = BAR_OFF + 3 * STAGES * 8 + 1024;  // full, empty, loaded; + alignment slack
  static_assert(BYTES <= 227 * 1024, "shared memory per block on sm_90");
};

struct mx_params {
  const uint8_t *sa, *sb;  // E8M0 scale planes
  int64_t sa_cols, sb_cols;
  int sa_swz, sb_swz, sa_vec, sb_vec;  // vec: linear rows of whole 4-byte words
  int sa_brows, sb_brows;  // B128: rows a scale covers (1 or 128)
  int M, N, nkb, ksteps, tiles_m, tiles_n;  // grouped: M is A's rows, N an expert's rows of B
  int b_rows;  // rows of the B operand the producers read (N; grouped: the stacked experts' E * N)
  int splits, kper;  // K split in `splits` ranges of kper stages (the last may be shorter)
  float *part;       // splits > 1: the ranges' fp32 partial tiles, [split][M][N]
  int swap;  // the kernel computes C^T = B A^T (A and B exchanged): store transposed
  int pairs;  // C takes two adjacent columns as one aligned store (not swapped, even ldc, aligned C)
  out_view out;
  group_rows g;  // grouped: the table's row tiles (of BM rows) replace tiles_m (g.tiles NULL: dense)
  int kgrouped;  // K split: g.row0 / g.rows are each group's columns of A and B, in whole stages
  const int64_t *run_if;  // run only where *run_if != 0 (NULL: always)
};

// A work unit's tile: A's rows [m0, m_end) of it are stored, at C's rows
// from crow + m0; C's columns from n0; B's rows loaded from bn0 (grouped:
// the expert's); stages [s0, s1) of K.
struct unit_tile {
  int m0, m_end, n0, bn0, crow, s0, s1;
};

// MXFP4 operands (E2M1 codes, the same E8M0 scales per 32) are rewritten as
// E4M3 codes first: every E2M1 value is an E4M3 value, so the kernel sees
// the same numbers. One thread turns 16 codes (8 bytes, low nibble first)
// into 16 bytes: a byte permute looks the magnitude up in an 8-entry table
// (0, 0.5, 1, 1.5, 2, 3, 4, 6 as E4M3) and a second one places the sign.
__device__ __forceinline__ uint32_t e2m1x4_to_e4m3x4(uint32_t nibbles) {
  const uint32_t mag = __byte_perm(0x3C383000u, 0x4C484440u, nibbles & 0x7777u);
  const uint32_t sign = __byte_perm(0x00008000u, 0u, (nibbles >> 3) & 0x1111u);
  return mag | sign;
}
#if MXB_SM90A
// Tiles in groups of 8 tile rows, column by column inside a group, so the
// CTAs in flight share A and B tiles in L2.
__device__ __forceinline__ void tile_of(int id, int tiles_m, int tiles_n, int &tm, int &tn) {
  const int per_group = 8 * tiles_n, first = id / per_group * 8;
  const int rows = min(tiles_m - first, 8), in = id % per_group;
  tm = first + in % rows;
  tn = in / rows;
}

// Row tiles of the call: M-grouped, the table's total (written on the
// device by the prep kernel, read when the kernel runs).
__device__ __forceinline__ int row_tiles(const mx_params &p) {
  return p.g.tiles && !p.kgrouped ? (int)p.g.tiles[p.g.E] : p.tiles_m;
}
// Work units: (tile, K range) pairs; K split: (group, tile) pairs.
__device__ __forceinline__ int units_of(const mx_params &p, int tiles_m) {
  return tiles_m * p.tiles_n * (p.kgrouped ? (int)p.g.E : p.splits);
}
// Work unit u's tile. M-grouped: row tile tm of the table is a tile of its
// group's rows (reading past the group's end into other rows of A, whose
// results are not stored) times its expert's rows of the stacked B. K
// split: group e's stages of the tile, stored in C's e-th block of M rows
// (an invalid group's not at all).
__device__ __forceinline__ unit_tile unit_of(const mx_params &p, int u, int tiles_m, int bn) {
  const int per = tiles_m * p.tiles_n;
  int tm, tn;
  tile_of(p.kgrouped ? u % per : u / p.splits, tiles_m, p.tiles_n, tm, tn);
  const int s0 = p.kgrouped ? 0 : u % p.splits * p.kper;
  unit_tile t{tm * BM, p.M, tn * bn, tn * bn, 0, s0, min(s0 + p.kper, p.ksteps)};
  if (p.kgrouped) {
    const int64_t e = u / per, k0 = p.g.row0[e];
    t.crow = (int)(e * p.M);
    t.s0 = k0 < 0 ? 0 : (int)(k0 / BK);
    t.s1 = k0 < 0 ? 0 : (int)((k0 + p.g.rows[e]) / BK);
    if (k0 < 0) t.m_end = 0;
  } else if (p.g.tiles) {
    const int64_t e = group_of_tile(p.g, tm);
    t.m0 = (int)(p.g.row0[e] + (tm - p.g.tiles[e]) * BM);
    t.m_end = (int)(p.g.row0[e] + p.g.rows[e]);
    t.bn0 = (int)(e * p.N) + t.n0;
  }
  return t;
}

// The E8M0 scales of K-blocks kg0 .. kg0 + 3 of row r as one little-endian
// word, from byte loads that stay inside a linear row (the path for planes
// whose rows are not whole aligned words).
__device__ __forceinline__ uint32_t scale_word_bytes(const uint8_t *plane, int64_t r, int kg0, int64_t cols) {
  const uint8_t *q = plane + r * cols + kg0;
  uint32_t w = 0;
#pragma unroll
  for (int j = 0; j < 4; ++j)
    if (kg0 + j < cols) w |= (uint32_t)q[j] << (8 * j);
  return w;
}

// FP4: the kernel's A operand is MXFP4 (weights at decode shapes, A and B
// exchanged), brought in packed by TMA (64 bytes a row and stage) into the
// upper half of its tile slot and
// widened in place by the four producer warps into the E4M3 layout the
// tensor map's 128-byte swizzle would have written: 16-byte chunk c of row r
// at chunk c ^ (r % 8). One input chunk (32 codes, one K-block) becomes the
// output chunks 2c and 2c + 1. All 128 threads read their chunks, meet at a
// named barrier, then write (the slot is overwritten in place).
template <int ROWS>
__device__ __forceinline__ void widen_fp4(uint8_t *tile, int pt) {
  constexpr int UNITS = ROWS * 4 / 128;  // input chunks a thread
  uint4 in[UNITS];
#pragma unroll
  for (int j = 0; j < UNITS; ++j) {
    const int u = pt + 128 * j;
    in[j] = reinterpret_cast<const uint4 *>(tile + ROWS * 64)[u];  // row u / 4, chunk u % 4
  }
  ptx::bar_sync(1, 128);
#pragma unroll
  for (int j = 0; j < UNITS; ++j) {
    const int u = pt + 128 * j, r = u / 4, c = u % 4;
    uint4 lo, hi;
    lo.x = e2m1x4_to_e4m3x4(in[j].x);
    lo.y = e2m1x4_to_e4m3x4(in[j].x >> 16);
    lo.z = e2m1x4_to_e4m3x4(in[j].y);
    lo.w = e2m1x4_to_e4m3x4(in[j].y >> 16);
    hi.x = e2m1x4_to_e4m3x4(in[j].z);
    hi.y = e2m1x4_to_e4m3x4(in[j].z >> 16);
    hi.z = e2m1x4_to_e4m3x4(in[j].w);
    hi.w = e2m1x4_to_e4m3x4(in[j].w >> 16);
    uint4 *row = reinterpret_cast<uint4 *>(tile + r * 128);
    row[(2 * c) ^ (r % 8)] = lo;
    row[(2 * c + 1) ^ (r % 8)] = hi;
  }
  ptx::fence_proxy_async();  // the wgmmas read these bytes through the async proxy
}

// Producer warps 8 .. 11: warp 8 issues the TMA loads of both tiles; warps
// 8 and 9 decode the two halves of A's rows, 10 and 11 of B's. Scale words
// (4 K-blocks of a row: 4 consecutive bytes in both layouts, swizzled planes
// padded to whole 128 x 4 tiles) are fetched PF stages ahead into a
// shared-memory ring by cp.async (a global load takes about a microsecond
// under full HBM load) on small tiles, and a stage ahead into registers on
// 128-column tiles (load_words). The per-stage work is kept short (row
// pointers fixed per tile, a branch-free decode): the producers'
// instruction latency, not the memory, set the pace at small M.
constexpr uint32_t F32_QNAN_BITS = 0x7FC00000u;

template <int ROWS>
struct scale_rows {  // this lane's rows of the warp's half of a tile
  static constexpr int HALF = ROWS / 2, PER = (HALF + 31) / 32;
  const uint8_t *ptr[PER];  // the row's word for K-blocks 0 .. 3 (vec planes)
  bool ok[PER];             // the row exists (and the lane has one)
  int row[PER];             // row inside the tile
};

template <int ROWS>
__device__ __forceinline__ void fetch_scales(uint32_t *slot, const scale_rows<ROWS> &R, const uint8_t *plane,
                                             int64_t step, int r0, int kg0, int64_t cols, int vec, int s,
                                             int lane) {
#pragma unroll
  for (int i = 0; i < scale_rows<ROWS>::PER; ++i) {
    if (lane + 32 * i >= scale_rows<ROWS>::HALF) break;
    uint32_t *dst = slot + R.row[i];
    if (vec) ptx::cp_async4(dst, R.ok[i] ? R.ptr[i] + s * step : plane, R.ok[i] ? 4u : 0u);
    else *dst = R.ok[i] ? scale_word_bytes(plane, r0 + R.row[i], kg0, cols) : 0u;
  }
  ptx::cp_async_commit();  // one group a stage, also when empty, so the count stays uniform
}

// The same words into registers (REG producers): one ordinary load a lane
// and row. cp.async from rows scattered over the scale plane writes shared
// memory one lane at a time (32 wavefronts an instruction, measured), a
// third of the shared-memory wavefronts of the 128-column kernel.
template <int ROWS>
__device__ __forceinline__ void load_words(uint32_t (&w)[scale_rows<ROWS>::PER], const scale_rows<ROWS> &R,
                                           const uint8_t *plane, int64_t step, int r0, int kg0, int64_t cols, int vec,
                                           int s, int lane) {
#pragma unroll
  for (int i = 0; i < scale_rows<ROWS>::PER; ++i) {
    if (lane + 32 * i >= scale_rows<ROWS>::HALF) break;
    w[i] = !R.ok[i] ? 0u
           : vec    ? __ldg(reinterpret_cast<const unsigned int *>(R.ptr[i] + s * step))
                    : scale_word_bytes(plane, r0 + R.row[i], kg0, cols);
  }
}

// B128 (FP8 with fp32 scales per 1 x 128 or 128 x 128 block): one fp32
// scale a row and stage, stored as K-block 0's (the math promotes once a
// stage); flagged where it lies outside [2^-63, 2^63), so that the product
// of two scales is a normal fp32 number or the stage is promoted in binary64.
template <int BN, int ROWS, bool FP4, bool B128>
__device__ __forceinline__ void produce(uint8_t *smem, const CUtensorMap *ta, const CUtensorMap *tb,
                                        const mx_params &p, int m0, int n0, int lane, bool is_a, int half,
                                        int s0, int s1, uint32_t g0) {
  using L = layout<BN>;
  using SR = scale_rows<ROWS>;
  constexpr int STAGES = L::STAGES, PF = STAGES - 1;
  // FP4: the producers wait for each stage's packed tile before widening
  // it, so the TMA loads run AHEAD stages in front of them (else one stage
  // would be in flight at a time). AHEAD leaves one slot of slack: the load
  // of stage s + AHEAD waits for the math warps to release stage s - 2, not
  // s - 1, so widening stage s overlaps the math on stage s - 1. Otherwise
  // the producers never wait for the bytes, and each stage's load is issued
  // in its own iteration.
  constexpr int AHEAD = FP4 ? STAGES - 2 : 0;
  static_assert(!FP4 || AHEAD >= 1, "FP4 needs a ring of three or more stages");
  uint64_t *full = reinterpret_cast<uint64_t *>(smem + L::BAR_OFF), *empty = full + STAGES, *loaded = empty + STAGES;
  const uint8_t *plane = is_a ? p.sa : p.sb;
  const int r0 = is_a ? m0 : n0, nrows = is_a ? p.M : p.b_rows, swz = is_a ? p.sa_swz : p.sb_swz;
  const int vec = is_a ? p.sa_vec : p.sb_vec;
  const int64_t cols = is_a ? p.sa_cols : p.sb_cols, step = swz ? 512 : 4;  // bytes a stage further on
  uint32_t *raw = reinterpret_cast<uint32_t *>(smem + L::RAW_OFF) + (is_a ? 0 : STAGES * BM);
  const bool issuer = is_a && half == 0 && lane == 0;
  // The TMA loads of stage s (the issuer lane), into a slot the math warps
  // have released. FP4: they land on `loaded` (the producers widen A first),
  // A packed in the upper half of its slot.
  auto load = [&](int s) {
    const uint32_t g = g0 + (s - s0);
    const int st = g % STAGES;
    uint64_t *bar = FP4 ? &loaded[st] : &full[st];
    ptx::mbar_expect_tx(bar, (FP4 ? L::A_BYTES / 2 : L::A_BYTES) + L::B_BYTES);
    ptx::tma_load_2d(smem + st * L::A_BYTES + (FP4 ? L::A_BYTES / 2 : 0), ta, bar, s * (FP4 ? BK / 2 : BK), m0);
    ptx::tma_load_2d(smem + L::B_OFF + st * L::B_BYTES, tb, bar, s * BK, n0);
    if (FP4) ptx::mbar_arrive(bar);
  };
  SR R;
#pragma unroll
  for (int i = 0; i < SR::PER; ++i) {
    R.row[i] = half * SR::HALF + lane + 32 * i;
    R.ok[i] = lane + 32 * i < SR::HALF && r0 + R.row[i] < nrows;
    const int64_t row = r0 + R.row[i];
    R.ptr[i] = plane + (!R.ok[i] ? 0
                        : B128  ? 4 * (row / (is_a ? p.sa_brows : p.sb_brows) * cols)
                        : vec   ? mxb_scale_index(row, 0, cols, swz)
                                : 0);
  }
  // REG (128-column tiles, large shapes): the words of stage s + 1 are
  // loaded into registers while stage s is decoded; elsewhere (small tiles,
  // where the producers' latency sets the pace) they come PF stages ahead
  // through the shared-memory ring.
  constexpr bool REG = BN >= 128 && !FP4;
  uint32_t nxt[SR::PER] = {}, cur[SR::PER] = {};
  if (REG && s0 < s1) load_words<ROWS>(nxt, R, plane, step, r0, s0 * KB_STAGE, cols, vec, s0, lane);
#pragma unroll 1
  for (int j = 0; j < PF && !REG; ++j) {
    const int s = s0 + j;
    if (s < s1) fetch_scales<ROWS>(raw + j * ROWS, R, plane, step, r0, s * KB_STAGE, cols, vec, s, lane);
    else ptx::cp_async_commit();
  }
  int next = s0;  // the issuer's next stage to load
  float *sf = reinterpret_cast<float *>(smem + (is_a ? L::SFA_OFF : L::SFB_OFF));
  int *flag = reinterpret_cast<int *>(smem + L::FLAG_OFF) + (is_a ? half : 2 + half);
#pragma unroll 1
  for (int s = s0; s < s1; ++s) {
    // Ring slot (s - s0) % STAGES; slot (s - s0 + PF) % STAGES held stage
    // s - 1, which this lane has read.
    const int slot = (s - s0) % STAGES;
    if (REG) {
    } else if (s + PF < s1) {
      fetch_scales<ROWS>(raw + (s - s0 + PF) % STAGES * ROWS, R, plane, step, r0, (s + PF) * KB_STAGE, cols, vec,
                         s + PF, lane);
    } else {
      ptx::cp_async_commit();
    }
    const uint32_t g = g0 + (s - s0);
    const int st = g % STAGES;
    if (FP4 && issuer)  // the loads run ahead, each into a released slot
#pragma unroll 1
      for (; next <= s + AHEAD && next < s1; ++next) {
        const uint32_t gn = g0 + (next - s0);
        ptx::mbar_wait(&empty[gn % STAGES], ((gn / STAGES) & 1) ^ 1);
        load(next);
      }
    ptx::mbar_wait(&empty[st], ((g / STAGES) & 1) ^ 1);
    // Otherwise this stage's loads, after the whole warp has seen its slot
    // released (measured on an H200: issuing them from lane 0 before the
    // warp's wait made the kernel 12-27% slower at large shapes).
    if (!FP4 && issuer) load(s);
    if (REG) {  // stage s's words (loaded an iteration ago), then stage s + 1's
#pragma unroll
      for (int i = 0; i < SR::PER; ++i) cur[i] = nxt[i];
      if (s + 1 < s1) load_words<ROWS>(nxt, R, plane, step, r0, (s + 1) * KB_STAGE, cols, vec, s + 1, lane);
    } else {
      ptx::cp_async_wait<PF>();  // stage s's words are here
    }
    const int nvalid = p.nkb - s * KB_STAGE;  // K-blocks of this stage inside K
    uint32_t wide = 0;                        // bit kb: a scale of K-block kb outside [2^-74, 2^63]
    float *dst = sf + st * (is_a ? L::SFA : L::SFB);
#pragma unroll
    for (int i = 0; i < SR::PER; ++i) {
      if (lane + 32 * i >= SR::HALF) break;
      const int r = R.row[i];
      const uint32_t w = REG ? cur[i] : raw[slot * ROWS + r];
      const int at = is_a ? r : ((r % 8) / 2) * L::FB_STRIDE + (r / 8) * 2 + r % 2;
      if (B128) {
        const uint32_t e = (w >> 23) & 0xFFu;  // 0xFF: Inf or NaN, which propagate as in the reference
        dst[at] = __uint_as_float(R.ok[i] ? w : 0u);
        wide |= (uint32_t)(R.ok[i] && e != 255 && (e < 127 - 63 || e > 127 + 62));
      } else {
#pragma unroll
        for (int kb = 0; kb < KB_STAGE; ++kb) {
          const uint32_t b = (w >> (8 * kb)) & 0xFFu;
          const bool ok = R.ok[i] && kb < nvalid;
          uint32_t bits = b ? b << 23 : 0x00400000u;  // E8M0 decode: 2^(b - 127); 0xFF is NaN
          bits = b == 255 ? F32_QNAN_BITS : bits;
          dst[kb * (is_a ? BM : 4 * L::FB_STRIDE) + at] = __uint_as_float(ok ? bits : 0u);
          wide |= (uint32_t)(ok && b != 255 && (b < 127 - 74 || b > 127 + 63)) << kb;
        }
      }
    }
    wide = __reduce_or_sync(~0u, wide);
    if (lane == 0) flag[st * 4] = (int)wide;
    if (FP4) {
      ptx::mbar_wait(&loaded[st], (g / STAGES) & 1);
      const int pt = (is_a ? half : 2 + half) * 32 + lane;
      widen_fp4<BM>(smem + st * L::A_BYTES, pt);
    }
    ptx::mbar_arrive(&full[st]);  // every lane: its scale stores (and widened codes) are released
  }
}

// Warpgroup w owns columns [w * WN, (w + 1) * WN) of the tile and all its
// 128 rows, as two 64-row subtiles (U = 0, 1): a B scale it loads serves four
// rows, and its two temporaries (one per subtile) fit beside the
// accumulators without spilling.
template <int BN>
struct kscales {  // one K-block's scales of this thread
  float fa[4];       // rows r, r + 8, r + 64, r + 72
  float fb[BN / 8];  // columns 8j + 2q + h of the warpgroup's WN = BN / 2
};

template <int BN>
__device__ __forceinline__ void load_scales(kscales<BN> &s, const uint8_t *smem, int st, int kb, int r, int q,
                                            int wg) {
  using L = layout<BN>;
  const float *sfa = reinterpret_cast<const float *>(smem + L::SFA_OFF) + st * L::SFA + kb * BM;
  s.fa[0] = sfa[r];
  s.fa[1] = sfa[r + 8];
  s.fa[2] = sfa[r + 64];
  s.fa[3] = sfa[r + 72];
  const float4 *sfb = reinterpret_cast<const float4 *>(reinterpret_cast<const float *>(smem + L::SFB_OFF) +
                                                       st * L::SFB + (kb * 4 + q) * L::FB_STRIDE + wg * (BN / 8));
#pragma unroll
  for (int v = 0; v < BN / 32; ++v) {
    const float4 f = sfb[v];
    s.fb[4 * v] = f.x;
    s.fb[4 * v + 1] = f.y;
    s.fb[4 * v + 2] = f.z;
    s.fb[4 * v + 3] = f.w;
  }
}

// acc(subtile U) += tmp * 2^(ea + eb): the thread's elements 4j + h are row
// r + 64U + (h / 2) * 8, column 8j + 2q + h % 2. WIDE: the stage has a
// K-block with scales outside 2^-74 .. 2^63; flagged K-blocks are promoted in
// binary64.
template <int BN, int U, bool WIDE>
__device__ __forceinline__ void promote(float (&acc)[BN / 2], const float (&tmp)[BN / 4], const kscales<BN> &s,
                                        const uint8_t *smem, int st, int kb) {
  using L = layout<BN>;
  constexpr int OFF = U * BN / 4;
  const float fa0 = s.fa[2 * U], fa1 = s.fa[2 * U + 1];
  bool slow = false;
  if (WIDE) {
    const int4 f = reinterpret_cast<const int4 *>(smem + L::FLAG_OFF)[st];
    slow = ((f.x | f.y | f.z | f.w) >> kb) & 1;
  }
  if (!slow) {
#pragma unroll
    for (int j = 0; j < BN / 16; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int i = 4 * j + h;
        const float fb = s.fb[2 * j + h];
        acc[OFF + i] = __fmaf_rn(tmp[i], __fmul_rn(fa0, fb), acc[OFF + i]);
        acc[OFF + i + 2] = __fmaf_rn(tmp[i + 2], __fmul_rn(fa1, fb), acc[OFF + i + 2]);
      }
  } else {  // ea + eb outside fp32 for some pair of this tile: binary64
#pragma unroll
    for (int j = 0; j < BN / 16; ++j)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int i = 4 * j + h;
        const double fb = s.fb[2 * j + h];
        acc[OFF + i] = __double2float_rn(__fma_rn((double)tmp[i], (double)fa0 * fb, (double)acc[OFF + i]));
        acc[OFF + i + 2] =
            __double2float_rn(__fma_rn((double)tmp[i + 2], (double)fa1 * fb, (double)acc[OFF + i + 2]));
      }
  }
}

// Multiplies K-block kb of stage st, subtile U, into d (zeroed first) without
// waiting.
template <int BN, int KIND, int U>
__device__ __forceinline__ void issue(float (&d)[BN / 4], const uint8_t *smem, int st, int kb, int wg,
                                      int accumulate = 0) {
  using L = layout<BN>;
  const uint64_t da = ptx::wgmma_desc_sw128(smem + st * L::A_BYTES + U * 64 * BK) + kb * 2;
  const uint64_t db = ptx::wgmma_desc_sw128(smem + L::B_OFF + st * L::B_BYTES + wg * (BN / 2) * BK) + kb * 2;
#pragma unroll
  for (int i = 0; i < BN / 4; ++i) ptx::fence_reg(d[i]);
  ptx::wgmma_fence();
  ptx::wgmma_m64k32_fp8<BN / 2, KIND>(d, da, db, accumulate);
  ptx::wgmma_commit();
#pragma unroll
  for (int i = 0; i < BN / 4; ++i) ptx::fence_reg(d[i]);
}


template <int BN>
__device__ __forceinline__ void fence_all(float (&d)[BN / 4]) {
#pragma unroll
  for (int i = 0; i < BN / 4; ++i) ptx::fence_reg(d[i]);
}

// wgmma groups in flight per math warpgroup: as many temporaries as fit
// beside the accumulators (small tiles need more in flight to cover the
// wgmma latency).
template <int BN>
struct depth {
  static constexpr int NB = BN == 128 ? 2 : 4;
};

// The eight wgmmas of stage st, i = 2 kb + U (K-block kb, subtile U), each
// into temporary i % NB; NB are in flight while the oldest is promoted, in K
// order. No wgmma is in flight when the stage ends: the compiler serializes
// every wgmma of a loop that carries one across its back edge.
template <int BN, int KIND>
__device__ __forceinline__ void issue_i(float (&d)[BN / 4], const uint8_t *smem, int st, int i, int wg) {
  if (i % 2 == 0) issue<BN, KIND, 0>(d, smem, st, i / 2, wg);
  else issue<BN, KIND, 1>(d, smem, st, i / 2, wg);
}
template <int BN, int KIND>
__device__ __forceinline__ void stage(float (&acc)[BN / 2], float (&t)[depth<BN>::NB][BN / 4], uint8_t *smem, int st,
                                      int wg, int r, int q) {
  constexpr int NB = depth<BN>::NB, W = 2 * KB_STAGE;
  static_assert(NB <= 4, "wgmma_wait_n waits for at most 3 pending groups");
  // Scales of K-block kb + 1 are loaded before waiting for K-block kb (the
  // waits order shared-memory accesses), so their latency is hidden.
  kscales<BN> s[2];
  load_scales<BN>(s[0], smem, st, 0, r, q, wg);
#pragma unroll
  for (int i = 0; i < NB; ++i) issue_i<BN, KIND>(t[i], smem, st, i, wg);
#pragma unroll
  for (int i = 0; i < W; ++i) {
    const int kb = i / 2;
    if (i % 2 == 0 && kb + 1 < KB_STAGE) load_scales<BN>(s[(kb + 1) % 2], smem, st, kb + 1, r, q, wg);
    ptx::wgmma_wait_n(NB - 1 < W - 1 - i ? NB - 1 : W - 1 - i);  // wgmma i is complete
    fence_all<BN>(t[i % NB]);
    if (i % 2 == 0) promote<BN, 0, false>(acc, t[i % NB], s[kb % 2], smem, st, kb);
    else promote<BN, 1, false>(acc, t[i % NB], s[kb % 2], smem, st, kb);
    if (i + NB < W) issue_i<BN, KIND>(t[i % NB], smem, st, i + NB, wg);
  }
}

// A stage with wide-range scales, one wgmma at a time.
template <int BN, int KIND>
__device__ __forceinline__ void stage_wide(float (&acc)[BN / 2], float (&ta)[BN / 4], uint8_t *smem, int st, int wg,
                                           int r, int q) {
#pragma unroll
  for (int kb = 0; kb < KB_STAGE; ++kb) {
    kscales<BN> s;
    load_scales<BN>(s, smem, st, kb, r, q, wg);
    issue<BN, KIND, 0>(ta, smem, st, kb, wg);
    ptx::wgmma_wait<0>();
    fence_all<BN>(ta);
    promote<BN, 0, true>(acc, ta, s, smem, st, kb);
    issue<BN, KIND, 1>(ta, smem, st, kb, wg);
    ptx::wgmma_wait<0>();
    fence_all<BN>(ta);
    promote<BN, 1, true>(acc, ta, s, smem, st, kb);
  }
}

// B128: a stage is one scale block in K, so each subtile's four K-steps
// accumulate in the tensor core (128 products, as DeepSeek-V3's recipe and
// cuBLASLt's block scaling) and are promoted once,
//     acc = fma(tmp, sa * sb, acc),
// the scale product rounded to fp32 (the FP8 row of docs/GEMM.md's bounds);
// WIDE: stages flagged by the producers are promoted in binary64.
template <int BN, int KIND, int U>
__device__ __forceinline__ void issue_block(float (&d)[BN / 4], const uint8_t *smem, int st, int wg) {
#pragma unroll
  for (int kb = 0; kb < KB_STAGE; ++kb) issue<BN, KIND, U>(d, smem, st, kb, wg, kb > 0);
}
template <int BN, int KIND, bool WIDE>
__device__ __forceinline__ void stage_block(float (&acc)[BN / 2], float (&t)[depth<BN>::NB][BN / 4], uint8_t *smem,
                                            int st, int wg, int r, int q) {
  kscales<BN> s;
  load_scales<BN>(s, smem, st, 0, r, q, wg);
  issue_block<BN, KIND, 0>(t[0], smem, st, wg);
  if (!WIDE) issue_block<BN, KIND, 1>(t[1], smem, st, wg);
  if (WIDE) ptx::wgmma_wait<0>();
  else ptx::wgmma_wait<KB_STAGE>();  // subtile 0's four groups are complete
  fence_all<BN>(t[0]);
  promote<BN, 0, WIDE>(acc, t[0], s, smem, st, 0);
  if (WIDE) issue_block<BN, KIND, 1>(t[1], smem, st, wg);
  ptx::wgmma_wait<0>();
  fence_all<BN>(t[1]);
  promote<BN, 1, WIDE>(acc, t[1], s, smem, st, 0);
}

// Whether some K-block of stage st has scales outside 2^-74 .. 2^63.
template <int BN>
__device__ __forceinline__ bool wide_stage(const uint8_t *smem, int st) {
  const int4 f = reinterpret_cast<const int4 *>(smem + layout<BN>::FLAG_OFF)[st];
  return (f.x | f.y | f.z | f.w) != 0;
}

// A 64 x 8J subtile of C from a math warpgroup's registers: acc[4j + h] is
// row m0 + r + 8 (h / 2), column n0 + 8j + 2q + h % 2. Adjacent columns go
// out as one 8-byte (fp32) or 4-byte (bf16) store where C allows it: a warp
// then writes whole 32-byte sectors, and half the stores and index
// arithmetic of one store an element.
template <int J>
__device__ __forceinline__ void store_subtile(const mx_params &p, const out_view &o, float at, const float *acc,
                                              int m0, int m_end, int crow, int n0, int r, int q, int sp) {
  const bool f32 = o.dtype == MXB_DTYPE_FP32;
  // The common case on its own: C not read (beta 0), one K range, pairs
  // stored as one word, the subtile's columns inside N. One row pointer a
  // row and the same roundings as below (c = alpha_t acc); the general loop
  // re-derived each pair's index and tested every condition again, and the
  // store took about a quarter of the math warps' time at 4096^3 (FP8 block
  // scales, 32 stages a tile; ncu on an H100).
  if (p.splits == 1 && p.pairs && o.beta == 0.0f && n0 + 8 * J <= p.N) {
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      const int m = m0 + r + 8 * hr;
      if (m >= m_end) continue;
      const int64_t row = (int64_t)(crow + m) * o.ldc + n0 + 2 * q;
      if (f32) {
        uint2 *c = reinterpret_cast<uint2 *>(static_cast<float *>(o.c) + row);
#pragma unroll
        for (int j = 0; j < J; ++j)
          c[4 * j] = make_uint2(mxb_gemm_out_f32(at * acc[4 * j + 2 * hr]), mxb_gemm_out_f32(at * acc[4 * j + 2 * hr + 1]));
      } else {
        uint32_t *c = reinterpret_cast<uint32_t *>(static_cast<uint16_t *>(o.c) + row);
#pragma unroll
        for (int j = 0; j < J; ++j)
          c[4 * j] = (uint32_t)mxb_gemm_out_bf16(at * acc[4 * j + 2 * hr]) |
                     (uint32_t)mxb_gemm_out_bf16(at * acc[4 * j + 2 * hr + 1]) << 16;
      }
    }
    return;
  }
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    const int m = m0 + r + 8 * hr;
    if (m >= m_end) continue;
#pragma unroll
    for (int j = 0; j < J; ++j) {
      const int n = n0 + 8 * j + 2 * q;
      const float v0 = acc[4 * j + 2 * hr], v1 = acc[4 * j + 2 * hr + 1];
      if (n >= p.N) continue;
      if (p.splits > 1) {
        float *part = p.part + ((int64_t)sp * p.M + m) * p.N + n;
        part[0] = v0;
        if (n + 1 < p.N) part[1] = v1;
      } else if (p.pairs && n + 1 < p.N) {
        const int64_t i = (int64_t)(crow + m) * o.ldc + n;
        float c0 = 0.0f, c1 = 0.0f;
        if (o.beta != 0.0f) {
          if (f32) {
            c0 = static_cast<const float *>(o.c_in)[i];
            c1 = static_cast<const float *>(o.c_in)[i + 1];
          } else {
            c0 = mxb_bf16_decode(static_cast<const uint16_t *>(o.c_in)[i]);
            c1 = mxb_bf16_decode(static_cast<const uint16_t *>(o.c_in)[i + 1]);
          }
        }
        c0 = mxb_gemm_combine(at, v0, o.beta, c0);
        c1 = mxb_gemm_combine(at, v1, o.beta, c1);
        if (f32) *reinterpret_cast<uint2 *>(static_cast<float *>(o.c) + i) = make_uint2(mxb_gemm_out_f32(c0), mxb_gemm_out_f32(c1));
        else
          *reinterpret_cast<uint32_t *>(static_cast<uint16_t *>(o.c) + i) =
              (uint32_t)mxb_gemm_out_bf16(c0) | (uint32_t)mxb_gemm_out_bf16(c1) << 16;
      } else {
        store_plain(o, at, p.swap ? n : crow + m, p.swap ? m : n, v0);
        if (n + 1 < p.N) store_plain(o, at, p.swap ? n + 1 : crow + m, p.swap ? m : n + 1, v1);
      }
    }
  }
}

// B128 on 128 x 128 tiles: each math warpgroup owns 64 rows and all 128
// columns, so a stage is four m64n128k32 wgmmas chained in the tensor core
// and one promotion,
//     acc = fma(tmp, sa * sb, acc)
// (the same products, order and roundings as stage_block). A warpgroup
// waits for its own wgmmas before promoting.
// UNI: B's scales are 128 x 128 blocks, one for the whole tile, so the
// factor is one product a row and the promotion one FFMA an accumulator
// (measured on an H200, 8192^3: 1809 us with a product per column, 1538 us
// with one a row).
// On 128 x 256 tiles (UNI only) the warpgroup owns all 256 columns as two
// such 128-column halves c, each promoted before the next is issued (one
// temporary): 48 KB a stage for 8.4 MFLOP against 32 KB for 4.2, measured
// on an H100 at 8192^3 0.91-0.93 of the 128 x 128 kernel's time.
template <int BN, int KIND, bool WIDE, bool UNI>
__device__ __forceinline__ void stage_rows(float (&acc)[64], float (&t)[64], const uint8_t *smem, int st, int wg,
                                           int r, int q, int c = 0) {
  static_assert(BN == 128 || (BN == 256 && UNI), "128 columns, or two halves of one B block each");
  using L = layout<BN>;
  const uint64_t da = ptx::wgmma_desc_sw128(smem + st * L::A_BYTES + wg * 64 * BK);
  const uint64_t db = ptx::wgmma_desc_sw128(smem + L::B_OFF + st * L::B_BYTES + c * 128 * BK);
  // The stage's scales (rows r and r + 8 of this warpgroup's 64, columns
  // 8j + 2q + h), loaded first so that they are in registers when the
  // wgmmas complete.
  const float *sfa = reinterpret_cast<const float *>(smem + L::SFA_OFF) + st * L::SFA + wg * 64;
  const float fa0 = sfa[r], fa1 = sfa[r + 8];
  // Column 8j + 2q + h's scale sits at quad q's entry 2j + h: half c's
  // block scale is column 128c + 2q's, entry 32c.
  const float4 *sfb = reinterpret_cast<const float4 *>(reinterpret_cast<const float *>(smem + L::SFB_OFF) +
                                                       st * L::SFB + q * L::FB_STRIDE + 32 * c);
  float fb[32];
#pragma unroll
  for (int v = 0; v < (UNI ? 1 : 8); ++v) {
    const float4 f = sfb[v];
    fb[4 * v] = f.x;
    fb[4 * v + 1] = f.y;
    fb[4 * v + 2] = f.z;
    fb[4 * v + 3] = f.w;
  }
#pragma unroll
  for (int i = 0; i < 64; ++i) ptx::fence_reg(t[i]);
  ptx::wgmma_fence();
#pragma unroll
  for (int kb = 0; kb < KB_STAGE; ++kb) ptx::wgmma_m64k32_fp8<128, KIND>(t, da + kb * 2, db + kb * 2, kb > 0);
  ptx::wgmma_commit();
  const float f0 = __fmul_rn(fa0, fb[0]), f1 = __fmul_rn(fa1, fb[0]);  // UNI
  ptx::wgmma_wait<0>();
#pragma unroll
  for (int i = 0; i < 64; ++i) ptx::fence_reg(t[i]);
#pragma unroll
  for (int j = 0; j < 16; ++j)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int i = 4 * j + h;
      if (!WIDE && UNI) {
        acc[i] = __fmaf_rn(t[i], f0, acc[i]);
        acc[i + 2] = __fmaf_rn(t[i + 2], f1, acc[i + 2]);
      } else if (!WIDE) {
        acc[i] = __fmaf_rn(t[i], __fmul_rn(fa0, fb[2 * j + h]), acc[i]);
        acc[i + 2] = __fmaf_rn(t[i + 2], __fmul_rn(fa1, fb[2 * j + h]), acc[i + 2]);
      } else {  // a scale outside 2^-63 .. 2^63 in this stage: binary64
        const double f = fb[UNI ? 0 : 2 * j + h];
        acc[i] = __double2float_rn(__fma_rn((double)t[i], (double)fa0 * f, (double)acc[i]));
        acc[i + 2] = __double2float_rn(__fma_rn((double)t[i + 2], (double)fa1 * f, (double)acc[i + 2]));
      }
    }
}
#endif  // MXB_SM90A

// Persistent: CTA b computes work units b, b + gridDim.x, ...; a unit is a
// tile and one of p.splits K ranges (split-K where tiles alone would leave
// SMs idle: the ranges' partial tiles go to p.part and reduce_splits sums
// them in range order, so the bits never depend on timing). Stage g (counted
// across this CTA's units) lives in slot g % L::STAGES with phase
// (g / L::STAGES) & 1, for producer and consumers alike.
template <int BN, int KIND, bool FP4, bool B128>
__global__ void __launch_bounds__(THREADS, 1)
    sm90_mx_fp8_kernel(const __grid_constant__ CUtensorMap ta, const __grid_constant__ CUtensorMap tb,
                       const mx_params p) {
#if MXB_SM90A
  using L = layout<BN>;
  extern __shared__ uint8_t smem_raw[];
  // Aligned by pointer arithmetic on the shared array, so the compiler keeps
  // shared-memory loads (not generic ones) for the scales.
  uint8_t *smem = smem_raw + ((1024 - (ptx::smem_addr(smem_raw) & 1023)) & 1023);
  uint64_t *full = reinterpret_cast<uint64_t *>(smem + L::BAR_OFF), *empty = full + L::STAGES;
  const int tid = threadIdx.x, wg = tid / 128, lane = tid % 32;
  if (p.run_if && *p.run_if == 0) return;
  const int tiles_m = row_tiles(p), units = units_of(p, tiles_m);
  if (tid == 0) {
    for (int s = 0; s < L::STAGES; ++s) {
      ptx::mbar_init(&full[s], 128);  // the producer warps' lanes (plus the TMA bytes)
      ptx::mbar_init(&empty[s], 256);  // every math thread
      ptx::mbar_init(&empty[L::STAGES + s], 1);  // `loaded` (FP4): the TMA issuer (plus the bytes)
    }
    ptx::mbar_init_fence();
    ptx::tma_prefetch_desc(&ta);
    ptx::tma_prefetch_desc(&tb);
  }
  __syncthreads();
  if (wg == 2) {
    ptx::setmaxnreg_dec<BN == 256 ? PRODUCER_REGS_256 : PRODUCER_REGS>();
    const int w = tid / 32 - 8;  // producer warp 0 .. 3
    uint32_t g = 0;
    for (int u = blockIdx.x; u < units; u += gridDim.x) {
      const unit_tile ut = unit_of(p, u, tiles_m, BN);
      const int s0 = ut.s0, s1 = ut.s1;
      if (w < 2) produce<BN, BM, FP4, B128>(smem, &ta, &tb, p, ut.m0, ut.bn0, lane, true, w, s0, s1, g);
      else produce<BN, BN, FP4, B128>(smem, &ta, &tb, p, ut.m0, ut.bn0, lane, false, w - 2, s0, s1, g);
      g += max(s1 - s0, 0);
    }
    return;
  }
  ptx::setmaxnreg_inc<BN == 256 ? MATH_REGS_256 : MATH_REGS>();
  const int r = (tid % 128) / 32 * 16 + lane / 4, q = lane % 4;
  // Each tile's C from the output view with the scalars read (pointer mode)
  // where it is stored, so that no copy of the view lives through the
  // mainloop (the math warps' registers are the kernel's limit).
  auto out_now = [&p] {
    out_view o = p.out;
    load_scalars(o);
    return o;
  };
  if constexpr (B128 && BN >= 128) {  // warpgroups own rows (stage_rows)
    float acc[BN / 2], t[64];
    uint32_t g = 0;
    for (int u = blockIdx.x; u < units; u += gridDim.x) {
      const unit_tile ut = unit_of(p, u, tiles_m, BN);
      const int m0 = ut.m0 + wg * 64, n0 = ut.n0, sp = u % p.splits;
      const int s0 = ut.s0, s1 = ut.s1;
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;
#pragma unroll 1
      for (int s = s0; s < s1; ++s, ++g) {
        const int st = g % L::STAGES;
        ptx::mbar_wait(&full[st], (g / L::STAGES) & 1);
        const bool wide = wide_stage<BN>(smem, st);
        if constexpr (BN == 256) {  // B's blocks 128 x 128 (the plan's condition)
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            float(&half)[64] = *reinterpret_cast<float(*)[64]>(acc + 64 * c);
            if (wide) stage_rows<BN, KIND, true, true>(half, t, smem, st, wg, r, q, c);
            else stage_rows<BN, KIND, false, true>(half, t, smem, st, wg, r, q, c);
          }
        } else if (p.sb_brows == 128) {
          if (wide) stage_rows<BN, KIND, true, true>(acc, t, smem, st, wg, r, q);
          else stage_rows<BN, KIND, false, true>(acc, t, smem, st, wg, r, q);
        } else if (wide) {
          stage_rows<BN, KIND, true, false>(acc, t, smem, st, wg, r, q);
        } else {
          stage_rows<BN, KIND, false, false>(acc, t, smem, st, wg, r, q);
        }
        ptx::mbar_arrive(&empty[st]);
      }
      const out_view o = out_now();
      const float at = mxb_gemm_alpha_t(o.alpha, 1.0f, 1.0f);
#pragma unroll
      for (int h = 0; h < BN / 128; ++h)
        store_subtile<16>(p, o, at, acc + 64 * h, m0, ut.m_end, ut.crow, n0 + 128 * h, r, q, sp);
    }
    return;
  } else {  // (not compiled for 256 columns, which only the branch above takes)
    float acc[BN / 2], tmp[depth<BN>::NB][BN / 4];
    uint32_t g = 0;
    for (int u = blockIdx.x; u < units; u += gridDim.x) {
      const unit_tile ut = unit_of(p, u, tiles_m, BN);
      const int m0 = ut.m0, n0 = ut.n0, sp = u % p.splits;
      const int s0 = ut.s0, s1 = ut.s1;
#pragma unroll
      for (int i = 0; i < BN / 2; ++i) acc[i] = 0.0f;
#pragma unroll 1
      for (int s = s0; s < s1; ++s, ++g) {
        const int st = g % L::STAGES;
        ptx::mbar_wait(&full[st], (g / L::STAGES) & 1);
        if (B128) {
          if (wide_stage<BN>(smem, st)) stage_block<BN, KIND, true>(acc, tmp, smem, st, wg, r, q);
          else stage_block<BN, KIND, false>(acc, tmp, smem, st, wg, r, q);
        } else if (wide_stage<BN>(smem, st)) {
          stage_wide<BN, KIND>(acc, tmp[0], smem, st, wg, r, q);
        } else {
          stage<BN, KIND>(acc, tmp, smem, st, wg, r, q);
        }
        // This thread is done with the stage (tiles and scales): each math
        // thread arrives, so each releases its own shared-memory reads.
        ptx::mbar_arrive(&empty[st]);
      }
      const out_view o = out_now();
      const float at = mxb_gemm_alpha_t(o.alpha, 1.0f, 1.0f);
#pragma unroll
      for (int sub = 0; sub < 2; ++sub)
        store_subtile<BN / 16>(p, o, at, acc + sub * (BN / 4), m0 + 64 * sub, ut.m_end, ut.crow, n0 + wg * (BN / 2),
                               r, q, sp);
    }
  }
#endif
}

// C from the split partials: sum in range order, then alpha, beta and the
// output type as the single-range epilogue applies them.
__global__ void reduce_splits(const mx_params p) {
  out_view o = p.out;
  load_scalars(o);
  const float at = mxb_gemm_alpha_t(o.alpha, 1.0f, 1.0f);
  reduce_partials(p.part, p.splits, p.M, p.N,
                  [&](int64_t m, int64_t c, float v) { store_plain(o, at, p.swap ? c : m, p.swap ? m : c, v); });
}

// Row-major [rows, K] bytes, boxes of box_rows x 128 bytes, 128-byte swizzle;
// an MXFP4 operand (packed, K / 2 bytes a row): boxes of box_rows x 64 bytes
// as they are (widened in shared memory).
mxb_status_t tensor_map(CUtensorMap *m, const operand &o, int box_rows) {
  const bool fp4 = o.format == MXB_FORMAT_MXFP4;
  return tensor_map_2d(m, CU_TENSOR_MAP_DATA_TYPE_UINT8, o.data, (uint64_t)(fp4 ? (o.cols + 1) / 2 : o.cols),
                       (uint64_t)o.rows, (uint64_t)o.row_bytes, fp4 ? BK / 2u : BK, (uint32_t)box_rows,
                       fp4 ? CU_TENSOR_MAP_SWIZZLE_NONE : CU_TENSOR_MAP_SWIZZLE_128B);
}

// The kernel's view of a call, from its shape and formats (never its data):
// operands exchanged or not, tile width, K ranges.
struct plan {
  int swap, bn, splits;
  int fused;  // an MXFP4 operand widened in shared memory (no E4M3 copy)
  int64_t M, N;  // C as the kernel computes it (C^T where swap)
};

// gr: a grouped call, else NULL.
template <int BN, int KIND, bool FP4, bool B128 = false>
mxb_status_t launch(const mxb_context *ctx, const problem &p, const plan &pl, float *part, const grouped_run *gr,
                    cudaStream_t st) {
  const int swap = pl.swap, splits = pl.splits;
  CUtensorMap ta, tb;
  MXB_TRY(tensor_map(&ta, p.a, BM));
  MXB_TRY(tensor_map(&tb, p.b, BN));
  mx_params k;
  k.sa = p.a.scales;
  k.sb = p.b.scales;
  k.sa_cols = p.a.scale_cols;
  k.sb_cols = p.b.scale_cols;
  k.sa_swz = p.a.swizzled;
  k.sb_swz = p.b.swizzled;
  // B128: one fp32 word a row and stage (fp32-aligned planes, applies()).
  k.sa_vec = B128 || ((p.a.swizzled || p.a.scale_cols % 4 == 0) && ((uintptr_t)p.a.scales & 3u) == 0);
  k.sb_vec = B128 || ((p.b.swizzled || p.b.scale_cols % 4 == 0) && ((uintptr_t)p.b.scales & 3u) == 0);
  k.sa_brows = p.a.block_rows;
  k.sb_brows = p.b.block_rows;
  k.M = (int)p.M;
  k.N = (int)p.N;
  k.nkb = (int)((p.K + 31) / 32);
  k.ksteps = (int)((p.K + BK - 1) / BK);
  k.tiles_m = (int)((p.M + BM - 1) / BM);
  k.tiles_n = (int)((p.N + BN - 1) / BN);
  k.b_rows = (int)p.b.rows;
  k.g = gr ? gr->g : group_rows{nullptr, nullptr, nullptr, 0, false};
  k.kgrouped = gr ? gr->kgrouped : 0;
  k.run_if = gr ? gr->run_if : nullptr;
  k.swap = swap;
  k.splits = splits;
  k.kper = (k.ksteps + splits - 1) / splits;
  k.part = part;
  k.out = p.out;
  const uintptr_t align = p.out.dtype == MXB_DTYPE_FP32 ? 8 : 4;
  k.pairs = !swap && p.out.ldc % 2 == 0 && (uintptr_t)p.out.c % align == 0;
  auto kernel = sm90_mx_fp8_kernel<BN, KIND, FP4, B128>;
  MXB_TRY((allow_dynamic_smem<sm90_mx_fp8_kernel<BN, KIND, FP4, B128>>(ctx->device, layout<BN>::BYTES)));
  const bool kg = gr && gr->kgrouped;
  const int64_t units = (gr && !kg ? gr->upper : k.tiles_m) * k.tiles_n * (kg ? gr->g.E : splits);
  const int sms = ctx->sm_count > 0 ? ctx->sm_count : 132;
  kernel<<<units < sms ? (int)units : sms, THREADS, layout<BN>::BYTES, st>>>(ta, tb, k);
  MXB_TRY(launch_status("sm90_mx_fp8_kernel"));
  if (splits == 1) return MXB_SUCCESS;
  reduce_splits<<<reduce_blocks(p.M, p.N, 256, 1024), 256, 0, st>>>(k);
  return launch_status("reduce_splits");
}

// Whether the kernels were built for sm_90a (not JIT-compiled from the
// compute_80 PTX, which has no wgmma).
bool built_for_sm90a() {
  static const bool ok = [] {
    cudaFuncAttributes a;
    return cudaFuncGetAttributes(&a, sm90_mx_fp8_kernel<128, 0, false, false>) == cudaSuccess && a.binaryVersion == 90 &&
           a.ptxVersion >= 90;
  }();
  return ok;
}

bool is_mxfp8(int f) { return f == MXB_FORMAT_MXFP8_E4M3 || f == MXB_FORMAT_MXFP8_E5M2; }
// FP8 E4M3 with one fp32 scale per 1 x 128 or 128 x 128 block.
bool is_fp8_block(int f) { return f == MXB_FORMAT_FP8_E4M3_1x128 || f == MXB_FORMAT_FP8_E4M3_128x128; }

__global__ void e2m1_to_e4m3_kernel(const uint8_t *src, int64_t src_row_bytes, uint8_t *dst, int64_t rows, int64_t K) {
  const int64_t per_row = K / 16, n = rows * per_row;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = i / per_row, c = i % per_row;
    const uint2 in = *reinterpret_cast<const uint2 *>(src + r * src_row_bytes + c * 8);
    uint4 out;
    out.x = e2m1x4_to_e4m3x4(in.x);
    out.y = e2m1x4_to_e4m3x4(in.x >> 16);
    out.z = e2m1x4_to_e4m3x4(in.y);
    out.w = e2m1x4_to_e4m3x4(in.y >> 16);
    *reinterpret_cast<uint4 *>(dst + r * K + c * 16) = out;
  }
}

bool is_fp4_operand(const operand &o) { return o.format == MXB_FORMAT_MXFP4; }
size_t e4m3_bytes(const operand &o, int64_t K) {  // the E4M3 copy of an MXFP4 operand, 256-byte rounded
  return is_fp4_operand(o) ? ((size_t)o.rows * (size_t)K + 255) / 256 * 256 : 0;
}
// The operand as the kernel reads it: an MXFP4 one from its E4M3 copy at dst.
mxb_status_t as_e4m3(const operand &o, int64_t K, uint8_t *dst, cudaStream_t st, operand *out) {
  *out = o;
  if (!is_fp4_operand(o)) return MXB_SUCCESS;
  const int64_t n = o.rows * (K / 16);
  const int blocks = (int)(n / 256 + 1 < 4096 ? n / 256 + 1 : 4096);
  e2m1_to_e4m3_kernel<<<blocks, 256, 0, st>>>(o.data, o.row_bytes, dst, o.rows, K);
  MXB_TRY(launch_status("e2m1_to_e4m3_kernel"));
  out->data = dst;
  out->row_bytes = K;
  out->cols = K;
  out->format = MXB_FORMAT_MXFP8_E4M3;
  return MXB_SUCCESS;
}

// MXB_SM90_MX_PLAN="swap,bn,splits,fused" (each -1 for the default) replaces
// the plan's choices for benchmarking; values the kernel cannot run are
// ignored. Read once, so workspace queries and calls agree.
const int *plan_override() {
  static int v[4] = {-1, -1, -1, -1};
  static const bool once = [] {
    const char *e = getenv("MXB_SM90_MX_PLAN");
    if (e) sscanf(e, "%d,%d,%d,%d", &v[0], &v[1], &v[2], &v[3]);
    return true;
  }();
  (void)once;
  return v;
}
plan plan_of(const mxb_context *ctx, const problem &p) {
  const int *ov = plan_override();
  plan pl;
  // A few rows of A (activations at decode time): exchange the operands, so
  // the 128-row side of a tile runs over B's rows and the promotion does not
  // spend itself on rows past M; the tile is then 128 x 32.
  pl.swap = ov[0] == 0 || ov[0] == 1 ? ov[0] : p.M <= 32 && p.N > p.M;
  pl.M = pl.swap ? p.N : p.M;
  pl.N = pl.swap ? p.M : p.N;
  // 128-column tiles unless they leave SMs idle (small M or N): then 64.
  // Measured on an H200 at M = 128, N = K = 8192: 128 x 64 tiles 84 us,
  // 128 x 128 tiles split in two K ranges 92 us (the same with A and B
  // exchanged: 106 us), unsplit 163 us.
  const int64_t sms = ctx->sm_count > 0 ? ctx->sm_count : 132, tiles_m = (pl.M + BM - 1) / BM;
  pl.bn = pl.N <= 32 ? 32 : tiles_m * ((pl.N + 127) / 128) < sms ? 64 : 128;
  // FP8 with 128 x 128 blocks of B (one scale a 128-column half) and
  // enough 128 x 256 tiles to fill the SMs: 256 columns (a quarter less
  // tile feed a FLOP; measured on an H100, 0.90-0.93 of the 128 x 128
  // tiles' time at 8192^3, 4096^3 and 2048 x 8192^2).
  const bool b256 = !pl.swap && is_fp8_block(p.a.format) && p.b.format == MXB_FORMAT_FP8_E4M3_128x128;
  if (b256 && tiles_m * ((pl.N + 255) / 256) >= sms) pl.bn = 256;
  if (ov[1] == 32 || ov[1] == 64 || ov[1] == 128 || (ov[1] == 256 && b256)) pl.bn = ov[1];
  // Split-K where the tiles fill at most half the SMs: at M = 16, N = 8192
  // the 64 tiles would leave 68 SMs idle and the rest short of bytes in
  // flight. Each range keeps at least 8 stages (1024 of K).
  const int64_t tiles = tiles_m * ((pl.N + pl.bn - 1) / pl.bn), ksteps = (p.K + BK - 1) / BK;
  int64_t sp = tiles * 2 <= sms ? sms / tiles : 1;
  sp = sp < 4 ? sp : 4;
  sp = sp < ksteps / 8 ? sp : ksteps / 8;
  if (ov[2] >= 1 && ov[2] <= 4 && ov[2] <= ksteps) sp = ov[2];
  pl.splits = sp > 1 ? (int)sp : 1;
  // MXFP4 weights x MXFP8 E4M3 activations at decode shapes (32-column
  // tiles, the weights on the kernel's A side), packed rows of whole 16-byte
  // units (TMA strides): the weights are widened inside the kernel.
  // Elsewhere they are rewritten as E4M3 codes in the workspace first: the
  // widening then costs the producers more than the extra pass (measured on
  // an H200: 0.42 against 0.54 of BF16 at 8192^3; at M = 128 with A and B
  // exchanged, 128 x 128 tiles in two K ranges, 123 us against 110 us).
  const operand &ka = pl.swap ? p.b : p.a, &kb = pl.swap ? p.a : p.b;
  const bool can_fuse = is_fp4_operand(ka) && kb.format == MXB_FORMAT_MXFP8_E4M3 && ka.row_bytes % 16 == 0;
  pl.fused = can_fuse && pl.bn == 32 && ov[3] != 0;
  return pl;
}
size_t part_bytes(const plan &pl) {
  return pl.splits > 1 ? ((size_t)pl.splits * (size_t)pl.M * (size_t)pl.N * 4 + 255) / 256 * 256 : 0;
}
}  // namespace

// MXFP8 x MXFP8 in any element mix, MXFP4 weights x MXFP8 activations
// (either side; MXFP4 x MXFP4 takes the BF16 paths), and FP8 E4M3 with
// 1 x 128 or 128 x 128 fp32 block scales on each side (fp32-aligned planes).
bool sm90_mx_fp8_applies(const mxb_context *ctx, const problem &p) {
  const bool fa8 = is_mxfp8(p.a.format), fb8 = is_mxfp8(p.b.format);
  const bool blocks = is_fp8_block(p.a.format) && is_fp8_block(p.b.format) && p.align.scales >= 4;
  const bool pair = (fa8 && fb8) || (fa8 && is_fp4_operand(p.b)) || (is_fp4_operand(p.a) && fb8) || blocks;
  return ctx->cc_major == 9 && ctx->cc_minor == 0 && pair && p.K % 16 == 0 && p.M < (1 << 30) && p.N < (1 << 30) &&
         p.align.data >= 16 && built_for_sm90a();
}

// MXFP4 operands' E4M3 copies, then the split partials.
size_t sm90_mx_fp8_workspace(const mxb_context *ctx, const problem &p) {
  const plan pl = plan_of(ctx, p);
  return (pl.fused ? 0 : e4m3_bytes(p.a, p.K) + e4m3_bytes(p.b, p.K)) + part_bytes(pl);
}

// Measured on an H200 (docs/PERFORMANCE.md): the kernel beats dequantizing
// to BF16 plus cuBLASLt where one side of C is small; with FP8 block scales
// it beats cuBLASLt's block scaling at decode shapes, and 128 x 128 blocks
// on both sides (no cuBLASLt algorithm: the alternative is dequantizing) at
// every shape measured (8192^3: 1192 against 1615 us; M = 128: 48 against
// 192 us).
bool sm90_mx_fp8_preferred(const mxb_context *, const problem &p) {
  if (p.a.format == MXB_FORMAT_FP8_E4M3_128x128 && p.b.format == MXB_FORMAT_FP8_E4M3_128x128) return true;
  if (is_fp8_block(p.a.format)) return p.M <= 32 || p.N <= 32;
  return p.M <= 128 || p.N <= 128;
}

namespace {
template <int BN>
mxb_status_t launch_kind(const mxb_context *ctx, const problem &p, const plan &pl, float *part, const grouped_run *gr,
                         cudaStream_t st) {
  const int kind = (p.a.format == MXB_FORMAT_MXFP8_E5M2) | (p.b.format == MXB_FORMAT_MXFP8_E5M2) << 1;
  switch (kind) {
    case 0: return launch<BN, 0, false>(ctx, p, pl, part, gr, st);
    case 1: return launch<BN, 1, false>(ctx, p, pl, part, gr, st);
    case 2: return launch<BN, 2, false>(ctx, p, pl, part, gr, st);
    default: return launch<BN, 3, false>(ctx, p, pl, part, gr, st);
  }
}

// The call under plan pl: MXFP4 operands widened to E4M3 in the workspace
// (unless the kernel widens them), A and B exchanged where planned, the
// kernel for the tile width and formats.
mxb_status_t run_plan(const mxb_context *ctx, const problem &p, const plan &pl, void *ws, const grouped_run *gr,
                      cudaStream_t st) {
  problem q = p;
  uint8_t *w = static_cast<uint8_t *>(ws);
  if (!pl.fused) {
    MXB_TRY(as_e4m3(p.a, p.K, w, st, &q.a));
    MXB_TRY(as_e4m3(p.b, p.K, w + e4m3_bytes(p.a, p.K), st, &q.b));
    w += e4m3_bytes(p.a, p.K) + e4m3_bytes(p.b, p.K);
  }
  float *part = reinterpret_cast<float *>(w);
  if (pl.swap) {
    std::swap(q.a, q.b);
    std::swap(q.M, q.N);
  }
  if (pl.fused) return launch<32, 0, true>(ctx, q, pl, part, gr, st);
  if (is_fp8_block(q.a.format)) {
    if (pl.bn == 32) return launch<32, 0, false, true>(ctx, q, pl, part, gr, st);
    if (pl.bn == 64) return launch<64, 0, false, true>(ctx, q, pl, part, gr, st);
    if (pl.bn == 256) return launch<256, 0, false, true>(ctx, q, pl, part, gr, st);
    return launch<128, 0, false, true>(ctx, q, pl, part, gr, st);
  }
  if (pl.bn == 32) return launch_kind<32>(ctx, q, pl, part, gr, st);
  if (pl.bn == 64) return launch_kind<64>(ctx, q, pl, part, gr, st);
  return launch_kind<128>(ctx, q, pl, part, gr, st);
}

// Grouped: A and B never exchanged, no K split, no widening in the kernel;
// 64-column tiles where 128 would leave SMs idle (upper_tiles: the row
// tiles the table can hold, from the shape).
plan grouped_plan(const mxb_context *ctx, const problem &p, int64_t upper_tiles) {
  const int64_t sms = ctx->sm_count > 0 ? ctx->sm_count : 132;
  plan pl;
  pl.swap = 0;
  pl.splits = 1;
  pl.fused = 0;
  pl.M = p.M;
  pl.N = p.N;
  pl.bn = p.N <= 32 ? 32 : upper_tiles * ((p.N + 127) / 128) < sms ? 64 : 128;
  return pl;
}
}  // namespace

mxb_status_t run_sm90_mx_fp8(const mxb_context *ctx, const problem &p, void *ws, cudaStream_t st) {
  return run_plan(ctx, p, plan_of(ctx, p), ws, nullptr, st);
}

// Grouped (gemm_grouped.cu): the dense conditions on A's rows and an
// expert's N, plain C, 128 x 128 B blocks whole inside each expert (the
// tile's one scale), and unit counts in range.
bool sm90_mx_grouped_applies(const mxb_context *ctx, const problem &p, int64_t upper_tiles) {
  return sm90_mx_fp8_applies(ctx, p) && !has_epilogue(p.out) && upper_tiles > 0 &&
         upper_tiles * ((p.N + 31) / 32) < ((int64_t)1 << 30) && p.b.rows < ((int64_t)1 << 30) &&
         (p.b.format != MXB_FORMAT_FP8_E4M3_128x128 || p.N % 128 == 0);
}
int sm90_mx_grouped_tile() { return BM; }
size_t sm90_mx_grouped_workspace(const problem &p) { return e4m3_bytes(p.a, p.K) + e4m3_bytes(p.b, p.K); }
mxb_status_t run_sm90_mx_grouped(const mxb_context *ctx, const problem &p, const group_rows &g, int64_t upper_tiles,
                                 void *ws, cudaStream_t st) {
  const grouped_run gr{g, upper_tiles, 0, nullptr};
  return run_plan(ctx, p, grouped_plan(ctx, p, upper_tiles), ws, &gr, st);
}

// K split: units of (group, tile), E times the tiles of C; each group's
// columns in whole 128-column stages, which the caller's flag *run_if
// (written on the device) vouches for.
bool sm90_mx_kgrouped_applies(const mxb_context *ctx, const problem &p, int64_t E) {
  return sm90_mx_fp8_applies(ctx, p) && !has_epilogue(p.out) && E > 0 &&
         E * ((p.M + BM - 1) / BM) * ((p.N + 31) / 32) < ((int64_t)1 << 30) && E * p.M < ((int64_t)1 << 30);
}
size_t sm90_mx_kgrouped_workspace(const problem &p) { return e4m3_bytes(p.a, p.K) + e4m3_bytes(p.b, p.K); }
mxb_status_t run_sm90_mx_kgrouped(const mxb_context *ctx, const problem &p, const group_rows &g, const int64_t *run_if,
                                  void *ws, cudaStream_t st) {
  // Tiles as for a dense call of E times as many rows (never exchanged, no split).
  const grouped_run gr{g, 0, 1, run_if};
  plan pl = grouped_plan(ctx, p, g.E * ((p.M + BM - 1) / BM));
  return run_plan(ctx, p, pl, ws, &gr, st);
}

}  // namespace gemm
}  // namespace mxb
