// Decode-size GEMM (fast mode): M <= 16 activations (BF16, or any
// block-scaled format whose values BF16 holds: NVFP4, MX, ...) times 4-bit
// weights (NVFP4 or MXFP4, B [N, K], plain row-major layout). Memory-bound on the
// packed weights: each weight byte is read once with 16-byte loads, decoded
// in registers to BF16 and fed to mma.sync m16n8k16 with fp32 accumulation.
// A lane holds one step of its weights (two 16-byte pieces per n-tile) and
// reloads each piece as soon as its words are decoded; the scale bytes are
// loaded a whole step ahead.
//
// Decoding. An E2M1 code s.e1e0.m placed at BF16 bits 15 and 8..6 is the
// BF16 value x * 2^-126 (code 0.5 becomes a subnormal): a mask, a multiply
// and a mask a pair of codes (e2m1x8_scaled). Multiplying by the block scale
// times 2^63 gives x * s * 2^-63 (exact: at most 5 significant bits,
// normal), and the activations are staged multiplied by 2^63 (exact), so
// every product the tensor cores form is exactly a_k * b_k, as the
// fast-mode bound needs. Inputs where that is not exact (|a| >= 2^64, an A
// value BF16 cannot hold, or an MX scale of B outside 2^-69..2^64) raise a
// flag and those outputs are computed in exact mode.
//
// Layout of the work. A first, small kernel writes A times 2^63 (exact; a
// block-scaled A is decoded to BF16 on the way, its tensor scale left to
// the epilogue's alpha) to the workspace in the order of the MMA fragments
// (below), so the main kernel's warps are independent: each reads its A
// fragments with 16-byte loads (from L2: A is at most 16 x K BF16) and no
// block stages anything.
// The main kernel is launched as the staging kernel's programmatic
// dependent (sm_90): its first weight loads start while A is staged.
// A warp takes 32 rows of B (4 n-tiles of 8 rows) and a K range of whole
// 256-column steps; a block's 8 warps are wk K ranges of 8/wk row groups,
// and sum their partial results through shared memory in ascending K range
// order: no partial sums in memory, no counters, the same bits on every run.
//
// In step c, lane (g, t) of a warp reads two pieces of 32 codes (16 bytes
// each) of row g of each n-tile, at codes 32t and 128 + 32t of the step, so
// each load instruction of the warp reads 64 contiguous bytes (two whole
// sectors) of 8 rows. Words 0-3 of the lane are piece 0, words 4-7 piece 1.
// The MMA's k slots are a permutation of the physical k (the same for A and
// B, so the dot products are unchanged): word w holds codes 8w'..8w'+7 of
// its piece; the MMA of half h takes codes {2h, 2h+4} of the word as slots
// {2t, 2t+1} and {2h+1, 2h+5} as slots {2t+8, 2t+9}. The staged A holds, for
// each (step, word, half), the 32 lanes' fragments
// {A[g][lo], A[g+8][lo], A[g][hi], A[g+8][hi]} as 512 contiguous bytes.
//
// At M <= 8 (SW) the operands of the MMA are exchanged: two n-tiles of
// weights (16 rows: n-tile 2i's row g and 2i+1's as rows g and g + 8) are
// its A operand, in the same k slots, and the activations its B operand
// (tokens as the 8 columns), so each MMA covers 16 weight rows instead of
// 8 (half the MMAs) and each lane loads only {A[g][lo], A[g][hi]}: 256
// bytes a (step, word, half), half the bytes of activations.
#include <cuda_bf16.h>

#include <cstdlib>
#include <type_traits>

#include "cuda/gemm_common.cuh"

namespace mxb {
namespace gemm {

constexpr int DTHREADS = 256, DWARPS = 8, DNT = 4;  // a warp: 4 n-tiles of 8 rows
constexpr int WROWS = DNT * 8;                      // 32 rows of B a warp
constexpr int DPIECE = 32;                          // codes per 16-byte load
constexpr int DSTEP = 8 * DPIECE;                   // k per step (4 lanes x 2 pieces)
constexpr uint32_t POW2_63_X2 = 0x5F005F00u;        // BF16 2^63 in both halves
constexpr int MX_SCALE_LO = 58, MX_SCALE_HI = 191;  // E8M0 bytes the decode keeps exact

struct decode_plan {
  int64_t steps, kpad;  // 256-column steps of K; K padded to whole steps
  int wk, kw;           // K ranges a block (warps a row group), steps a range
  int64_t blocks, stage_blocks;
  size_t flags_off, bytes;  // staged A, then one flag per staging block
};

// K ranges: up to 8 a block, so a block of 8 warps covers 32 rows of B when
// K has at least 8 steps (256 blocks at N = 8192: one wave of two blocks an
// SM on an H200).
static decode_plan make_plan(const problem &p) {
  decode_plan d;
  d.steps = (p.K + DSTEP - 1) / DSTEP;
  d.kpad = d.steps * DSTEP;
  d.wk = d.steps >= 8 ? 8 : d.steps >= 4 ? 4 : d.steps >= 2 ? 2 : 1;
  d.kw = (int)((d.steps + d.wk - 1) / d.wk);
  const int64_t rows = (int64_t)(DWARPS / d.wk) * WROWS;
  d.blocks = (p.N + rows - 1) / rows;
  // One 8-column vector a thread, or (a block-scaled A) a value a thread.
  d.stage_blocks = (p.a.format == MXB_FORMAT_BF16 ? 1 : 8) * 16 * (d.kpad / 8) / DTHREADS;
  d.flags_off = align256((size_t)32 * d.kpad);
  d.bytes = d.flags_off + (size_t)d.stage_blocks * sizeof(int);
  return d;
}

size_t decode_workspace(const mxb_context *, const problem &p) { return make_plan(p).bytes; }

// Eight E2M1 codes (code i at bits 4i) -> four BF16 pairs of x * 2^-126:
// r[0] = {code 0, code 4}, r[1] = {1, 5}, r[2] = {2, 6}, r[3] = {3, 7}.
// A code s.e1e0.m isolated at bits 0-3 of a half and multiplied by 0x1040
// lands twice, at bits 6-9 and 12-15 (no carries: the copies do not
// overlap); keeping bits 6-8 and 15 leaves it at BF16 bits 15 and 8..6.
// Three instructions a pair: mask, IMAD, mask.
__device__ __forceinline__ void e2m1x8_scaled(uint32_t w, uint32_t (&r)[4]) {
  constexpr uint32_t KEEP = 0x81C081C0u;
  const uint32_t hi = w >> 8;  // codes 2, 3, 6, 7 where 0, 1, 4, 5 were
  r[0] = ((w & 0x000F000Fu) * 0x1040u) & KEEP;
  r[1] = ((w & 0x00F000F0u) * 0x0104u) & KEEP;
  r[2] = ((hi & 0x000F000Fu) * 0x1040u) & KEEP;
  r[3] = ((hi & 0x00F000F0u) * 0x0104u) & KEEP;
}

__device__ __forceinline__ uint32_t bf16x2_mul(uint32_t x, uint32_t y) {
  __nv_bfloat162 a = *reinterpret_cast<__nv_bfloat162 *>(&x), b = *reinterpret_cast<__nv_bfloat162 *>(&y);
  __nv_bfloat162 r = __hmul2(a, b);
  return *reinterpret_cast<uint32_t *>(&r);
}

__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint4 &a, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma_bf16(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         const uint2 &b) {
  mma_bf16(d, make_uint4(a0, a1, a2, a3), b.x, b.y);
}

// A's staged fragments. Not __ldg: a read-only load may be hoisted above
// griddepcontrol.wait (the compiler did so), reading A before the staging
// kernel has written it; an asm volatile load stays after it.
__device__ __forceinline__ uint4 ld_staged(const uint4 *p) {
  uint4 v;
  asm volatile("ld.global.v4.u32 {%0,%1,%2,%3}, [%4];\n" : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
  return v;
}
__device__ __forceinline__ uint2 ld_staged(const uint2 *p) {
  uint2 v;
  asm volatile("ld.global.v2.u32 {%0,%1}, [%2];\n" : "=r"(v.x), "=r"(v.y) : "l"(p));
  return v;
}

// Streamed once: keep the weights out of L1.
__device__ __forceinline__ uint4 ld_stream(const void *p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// Bit 15 or 31 set where a half of x is a finite BF16 at or above 2^64
// (exponent field e in 191..254): (e + 65) << 7 reaches bit 15 for
// e >= 191, and bit 13 too only for e = 255 (Inf, NaN). No carry crosses
// the halves (at most 0xA000 each).
__device__ __forceinline__ uint32_t bf16x2_too_large(uint32_t x) {
  const uint32_t u = (x & 0x7F807F80u) + 0x20802080u;
  return u & ~(u << 2) & 0x80008000u;
}

// Exact mode (NUMERICS 7) for outputs [0, M) x [n_begin, n_end): the rare
// inputs the BF16 decode cannot represent exactly.
__device__ void exact_outputs(const problem &p, const alpha_rows &alpha_t, int64_t n_begin, int64_t n_end) {
  const int64_t cols = n_end - n_begin;
  for (int64_t i = threadIdx.x; i < p.M * cols; i += blockDim.x) {
    const int64_t m = i / cols, n = n_begin + i % cols;
    float acc = 0.0f;
    for (int64_t k0 = 0; k0 < p.K; k0 += p.L) {
      const int64_t k1 = min(p.K, k0 + p.L);
      double s = 0.0;
      for (int64_t k = k0; k < k1; k++) s = __dadd_rn(s, __dmul_rn(decoded(p.a, m, k), decoded(p.b, n, k)));
      acc = __fadd_rn(acc, __double2float_rn(s));
    }
    store(p.out, alpha_t(m, n), m, n, acc);
  }
}

// A decoded value v (any format whose values BF16 holds: element times
// block scale, tensor scale left to the epilogue) as BF16 v * 2^63; *big
// set where that is not exact or |v| >= 2^64 (the BF16 rule above). NaN
// and Inf pass through, as they do from BF16 A.
__device__ __forceinline__ uint32_t bf16_times_2p63(double v, uint32_t *big) {
  const double s = v * 0x1p63;  // exact in binary64
  const float f = (float)s;
  const uint32_t u = __float_as_uint(f);
  if (v != v) return 0x7FC0u;
  const bool finite = fabs(v) < HUGE_VAL;
  if (finite && (fabs(v) >= 0x1p64 || (double)f != s || (u & 0xFFFFu) != 0)) *big = 1;
  return u >> 16;
}

// A[0:16, 0:kpad] times 2^63 in the fragment order described above (rows
// >= M and k >= K as zeros), one 8-column vector a thread (a BF16 A) or a
// group of 8 lanes (a block-scaled A, decoded a value a lane through the
// shared codecs: 8 times the threads, as each decode is a chain of
// dependent loads); flags[block] = 1 where some |A| >= 2^64 in the block's
// vectors (or a decoded value BF16 cannot hold exactly).
template <bool BF16A, bool SW>
__global__ void __launch_bounds__(DTHREADS) stage_a_kernel(problem p, int64_t kpad, uint32_t *ap, int *flags) {
  pdl_launch_dependents();  // the main kernel may start its weight loads
  const int64_t nv = kpad / 8, j = (int64_t)blockIdx.x * DTHREADS + threadIdx.x, i = BF16A ? j : j >> 3;
  const int r = (int)(i / nv);
  const int64_t kv = i - r * nv;
  uint32_t a0, a1, a2, a3, big = 0;
  if (BF16A) {
    const uint4 v = r < p.M && 8 * kv < p.K
                        ? __ldg(reinterpret_cast<const uint4 *>(p.a.data + r * p.a.row_bytes + 16 * kv))
                        : make_uint4(0, 0, 0, 0);
    big = bf16x2_too_large(v.x) | bf16x2_too_large(v.y) | bf16x2_too_large(v.z) | bf16x2_too_large(v.w);
    a0 = bf16x2_mul(v.x, POW2_63_X2);
    a1 = bf16x2_mul(v.y, POW2_63_X2);
    a2 = bf16x2_mul(v.z, POW2_63_X2);
    a3 = bf16x2_mul(v.w, POW2_63_X2);
  } else {
    const int e = (int)(j & 7), lane = threadIdx.x & 31;
    const int64_t k = 8 * kv + e;
    const uint32_t h = bf16_times_2p63(r < p.M && k < p.K ? decoded(p.a, r, k) : 0.0, &big);
    uint32_t x[8];
#pragma unroll
    for (int q = 0; q < 8; q++) x[q] = __shfl_sync(0xFFFFFFFFu, h, (lane & ~7) | q);
    a0 = x[0] | x[1] << 16;
    a1 = x[2] | x[3] << 16;
    a2 = x[4] | x[5] << 16;
    a3 = x[6] | x[7] << 16;
  }
  // Vector kv: step kv / 32; within it piece (kv / 16) % 2, lane t = (kv / 4)
  // % 4 of the MMA, word 4 * piece + kv % 4. Row r: lane group g = r % 8,
  // fragment slot r / 8 (+ 2 for the second pair of k slots).
  const int64_t c = kv >> 5;
  const int piece = (int)(kv >> 4) & 1, t = (int)(kv >> 2) & 3, w = 4 * piece + (int)(kv & 3);
  // SW: rows 0-7 only, {lo, hi} a lane (8 bytes), 256 bytes a half.
  const int64_t l = (c * 8 + w) * 2 * 32 + (r & 7) * 4 + t;
  uint32_t *d = SW ? ap + l * 2 : ap + l * 4 + (r >> 3);
  const int hs = SW ? 64 : 128, hi = SW ? 1 : 2;  // words to half 1; to the slots 2t + 8
  if ((BF16A || (j & 7) == 0) && (!SW || r < 8)) {
    d[0] = __byte_perm(a0, a2, 0x5410);        // half 0, slots 2t..: codes 0, 4
    d[hi] = __byte_perm(a0, a2, 0x7632);       // half 0, slots 2t+8..: codes 1, 5
    d[hs] = __byte_perm(a1, a3, 0x5410);       // half 1: codes 2, 6
    d[hs + hi] = __byte_perm(a1, a3, 0x7632);  // half 1: codes 3, 7
  }
  const int any = __syncthreads_or(big != 0);
  if (threadIdx.x == 0) flags[blockIdx.x] = any;
}

// A UE4M3 byte b as the BF16 pair s(b) * 2^63 (NVFP4's scale table).
__device__ __forceinline__ uint32_t ue4m3_pair(uint8_t b) {
  const float s = mxb_ue4m3_decode(b) * 0x1p63f;
  const uint32_t h = __float_as_uint(s) >> 16;  // exact: at most 4 significant bits
  return h | (h << 16);
}

// An E8M0 byte e as the BF16 pair 2^(e - 127) * 2^63 (exponent field e + 63;
// the byte is zero-extended): one IMAD. Valid for the bytes the decode keeps
// (MX_SCALE_LO .. MX_SCALE_HI); others raise the exact-mode flag.
__device__ __forceinline__ uint32_t e8m0_pair(uint32_t e) { return e * 0x00800080u + 0x1F801F80u; }

// Nonzero where the E8M0 bytes at bits 0 and 16 of v lie outside
// [MX_SCALE_LO, MX_SCALE_HI] = [58, 191]: b + 198 carries into bit 8 iff
// b >= 58, b + 64 iff b >= 192; a byte is kept iff exactly one carries.
__device__ __forceinline__ uint32_t e8m0x2_out_of_range(uint32_t v) {
  static_assert(MX_SCALE_LO == 58 && MX_SCALE_HI == 191, "the carries below encode these bounds");
  return ~((v + 0x00C600C6u) ^ (v + 0x00400040u)) & 0x01000100u;
}

template <bool NV, bool SW>
__global__ void __launch_bounds__(DTHREADS, 2)
    decode_kernel(problem p, const uint32_t *ap, const int *aflags, int nflags, int wk, int kw) {
  __shared__ uint32_t scale_lut[256];
  __shared__ float red[DWARPS][4 * DNT][32];  // partial results: [warp][4 j + e][lane]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  const int wr = warp / wk, kr = warp % wk, groups = DWARPS / wk;
  const int64_t n_block = (int64_t)blockIdx.x * groups * WROWS, n_warp = n_block + wr * WROWS;
  const int steps = (int)((p.K + DSTEP - 1) / DSTEP);
  const int c0 = kr * kw, c1 = min(steps, c0 + kw);  // this warp's steps
  constexpr int SPB = NV ? DPIECE / 16 : DPIECE / 32;  // scale bytes per piece

  // Row pointers of this lane's n-tiles, at its piece of the current step
  // (advanced by a step's 128 bytes of codes as the loads go). Rows past N
  // read row 0 (their outputs are never stored).
  const uint8_t *brow[DNT], *srow[DNT];
  bool valid[DNT];
#pragma unroll
  for (int j = 0; j < DNT; j++) {
    const int64_t n = n_warp + j * 8 + g;
    valid[j] = n < p.N;
    const int64_t kk = (int64_t)c0 * DSTEP + t * DPIECE, nn = valid[j] ? n : 0;
    brow[j] = p.b.data + nn * p.b.row_bytes + kk / 2;
    srow[j] = p.b.scales + nn * p.b.scale_cols + kk / (NV ? 16 : 32);
  }
  // Piece h of step c: a 16-byte load per n-tile (piece 1 is 64 bytes after
  // piece 0), reloaded as soon as the step's words in it are decoded, so a
  // piece's loads fly during half a step of arithmetic. The step's scale
  // bytes (2 + 2 NVFP4, 1 + 1 MX) are loaded a whole step ahead, into
  // sc[j][piece]. In the last, partial step of K, pieces past K read the
  // first piece of the warp's first step instead (inside K: K is a multiple
  // of 64), with scales 1.0: A is 0 there, so those finite products add
  // nothing.
  auto in_k = [&](int c, int h) { return (int64_t)c * DSTEP + (4 * h + t) * DPIECE < p.K; };
  uint4 q[DNT][2];
  uint32_t sc[DNT][2];
  auto load_codes = [&](int c, int h) {
    const int64_t off = in_k(c, h) ? 4 * h * (DPIECE / 2) : -(int64_t)(c - c0) * (DSTEP / 2) - t * (DPIECE / 2);
#pragma unroll
    for (int j = 0; j < DNT; j++) {
      q[j][h] = ld_stream(brow[j] + off);
      if (h) brow[j] += DSTEP / 2;
    }
  };
  auto load_scales = [&](int c) {
    const uint32_t one = NV ? 0x3838u : 0x7Fu;  // scale 1.0 (UE4M3 0x38 twice, E8M0 0x7F)
    const bool in0 = in_k(c, 0), in1 = in_k(c, 1);
#pragma unroll
    for (int j = 0; j < DNT; j++) {
      const uint8_t *s = srow[j];
      sc[j][0] = !in0 ? one : NV ? (uint32_t)__ldg(reinterpret_cast<const uint16_t *>(s)) : (uint32_t)__ldg(s);
      s += 4 * SPB;
      sc[j][1] = !in1 ? one : NV ? (uint32_t)__ldg(reinterpret_cast<const uint16_t *>(s)) : (uint32_t)__ldg(s);
      srow[j] += 8 * SPB;
    }
  };
  // A's fragments of word w of the current step (af): two 16-byte loads,
  // issued right after the previous word's MMAs, so they fly during this
  // word's decoding.
  // SW: {lo, hi} of row g only (uint2 units), else the four words (uint4).
  using frag = typename std::conditional<SW, uint2, uint4>::type;
  const frag *af = reinterpret_cast<const frag *>(ap) + (int64_t)c0 * 8 * 2 * 32 + lane;
  auto load_a = [&](int w, frag(&a)[2]) {
    a[0] = ld_staged(af + w * 64);
    a[1] = ld_staged(af + w * 64 + 32);
  };
  if (c0 < c1) {
    load_codes(c0, 0);
    load_codes(c0, 1);
    load_scales(c0);
  }
  if (NV)
    for (int i = threadIdx.x; i < 256; i += DTHREADS) scale_lut[i] = ue4m3_pair((uint8_t)i);
  __syncthreads();
  // Launched as a programmatic dependent of the staging kernel: everything
  // above overlaps it; the staged A and its flags are read only after this.
  pdl_wait();

  float acc[DNT][4] = {};  // SW: acc[0..DNT/2) only
  uint32_t out_of_range = 0;  // MX scale bytes outside the exact range (bits 8, 24)
  frag a[2];
  if (c0 < c1) load_a(0, a);
  for (int c = c0; c < c1; c++) {
    // The step's scale pairs: NVFP4 one per 16 codes (two words), MX one
    // per piece (four words). Then the next step's scale bytes.
    uint32_t sp[DNT][NV ? 4 : 2];
#pragma unroll
    for (int j = 0; j < DNT; j++) {
      if (NV) {
#pragma unroll
        for (int b = 0; b < 4; b++) sp[j][b] = scale_lut[__byte_perm(sc[j][b >> 1], 0, 0x4440 + (b & 1))];
      } else {
        out_of_range |= valid[j] ? e8m0x2_out_of_range(sc[j][0] | sc[j][1] << 16) : 0u;
        sp[j][0] = e8m0_pair(sc[j][0]);
        sp[j][1] = e8m0_pair(sc[j][1]);
      }
    }
    if (c + 1 < c1) load_scales(c + 1);
#pragma unroll
    for (int w = 0; w < 8; w++) {
      uint32_t r[DNT][4];
#pragma unroll
      for (int j = 0; j < DNT; j++) {
        const uint4 &v = q[j][w >> 2];
        const uint32_t word = (w & 3) == 0 ? v.x : (w & 3) == 1 ? v.y : (w & 3) == 2 ? v.z : v.w;
        const uint32_t s = sp[j][NV ? w >> 1 : w >> 2];
        e2m1x8_scaled(word, r[j]);
#pragma unroll
        for (int e = 0; e < 4; e++) r[j][e] = bf16x2_mul(r[j][e], s);
      }
      if ((w & 3) == 3 && c + 1 < c1) load_codes(c + 1, w >> 2);
#pragma unroll
      for (int h = 0; h < 2; h++) {
        if constexpr (SW) {
#pragma unroll
          for (int i = 0; i < DNT / 2; i++)
            mma_bf16(acc[i], r[2 * i][2 * h], r[2 * i + 1][2 * h], r[2 * i][2 * h + 1], r[2 * i + 1][2 * h + 1], a[h]);
        } else {
#pragma unroll
          for (int j = 0; j < DNT; j++) mma_bf16(acc[j], a[h], r[j][2 * h], r[j][2 * h + 1]);
        }
      }
      if (w < 7) load_a(w + 1, a);
      else if (c + 1 < c1) load_a(8, a);  // the next step's word 0
    }
    af += 8 * 2 * 32;
  }

  // The block's partial results, summed over its K ranges in ascending
  // order; or, where an input left the exact range, exact mode. SW: the
  // first DNT / 2 accumulators' 8 values a lane.
  constexpr int NR = SW ? 2 * DNT : 4 * DNT;
#pragma unroll
  for (int j = 0; j < NR / 4; j++)
#pragma unroll
    for (int e = 0; e < 4; e++) red[warp][4 * j + e][lane] = acc[j][e];
  bool bad = out_of_range != 0;
  for (int i = threadIdx.x; i < nflags; i += DTHREADS) bad |= aflags[i] != 0;
  load_scalars(p.out);
  const alpha_rows alpha_t = alpha_of(p.out.alpha, p.a, p.b);
  const int64_t n_end = min(p.N, n_block + groups * WROWS);
  if (__syncthreads_or(bad)) {
    exact_outputs(p, alpha_t, n_block, n_end);
    return;
  }
  for (int i = threadIdx.x; i < groups * NR * 32; i += DTHREADS) {
    const int grp = i / (NR * 32), je = (i >> 5) % NR, l = i & 31;
    float v = 0.0f;  // from +0, as the exact path does
    for (int k = 0; k < wk; k++) v = __fadd_rn(v, red[grp * wk + k][je][l]);
    // Fragment value e of tile j: SW, rows g (n-tile 2j + e / 2) and
    // columns 2t + e % 2 (tokens); else rows 2t + e % 2 of n-tile j
    // (weights) and columns g + 8 (e / 2) (tokens).
    const int64_t m = SW ? 2 * (l & 3) + (je & 1) : (l >> 2) + (je & 2) * 4;
    const int64_t n = n_block + grp * WROWS +
                      (SW ? (2 * (je >> 2) + ((je >> 1) & 1)) * 8 + (l >> 2) : (je >> 2) * 8 + 2 * (l & 3) + (je & 1));
    if (m < p.M && n < p.N) store(p.out, alpha_t(m, n), m, n, v);
  }
}

// MXB_GEMM_PDL=0 (measurement only; MXB_DECODE_PDL, its earlier name, is
// read too) launches the decode kernel, the sm_90a 4-bit kernel and the
// guarded exact fallback after the kernel before them has finished, as
// ordinary launches.
bool pdl_enabled() {
  static const bool v = [] {
    const char *e = getenv("MXB_GEMM_PDL");
    if (!e) e = getenv("MXB_DECODE_PDL");
    return !(e && e[0] == '0');
  }();
  return v;
}

// MXB_DECODE_SWAP=0 (measurement only) keeps the weights as the MMA's B
// operand at M <= 8.
static bool swap_enabled() {
  static const bool v = [] {
    const char *e = getenv("MXB_DECODE_SWAP");
    return !(e && e[0] == '0');
  }();
  return v;
}

mxb_status_t run_decode(const mxb_context *ctx, const problem &p, void *ws, cudaStream_t st) {
  const decode_plan d = make_plan(p);
  uint32_t *ap = static_cast<uint32_t *>(ws);
  int *flags = reinterpret_cast<int *>(static_cast<char *>(ws) + d.flags_off);
  const bool sw = p.M <= 8 && swap_enabled();
  auto stage = p.a.format == MXB_FORMAT_BF16 ? (sw ? stage_a_kernel<true, true> : stage_a_kernel<true, false>)
                                             : (sw ? stage_a_kernel<false, true> : stage_a_kernel<false, false>);
  stage<<<(unsigned)d.stage_blocks, DTHREADS, 0, st>>>(p, d.kpad, ap, flags);
  MXB_TRY(launch_status("gemm decode: A staging kernel"));
  const bool nv = p.b.scale_type == MXB_SCALE_UE4M3;
  auto kernel = nv ? (sw ? decode_kernel<true, true> : decode_kernel<true, false>)
                   : (sw ? decode_kernel<false, true> : decode_kernel<false, false>);
  // A programmatic dependent launch: the main kernel's blocks start while
  // the staging kernel runs (sm_90 and later; an ordinary launch before).
  const int nflags = (int)d.stage_blocks;
  MXB_TRY(cuda_status(launch_pdl(pdl_enabled() && ctx->cc_major >= 9, dim3((unsigned)d.blocks), dim3(DTHREADS), 0,
                                 st, kernel, p, (const uint32_t *)ap, (const int *)flags, nflags, d.wk, d.kw),
                      "cudaLaunchKernelEx(gemm decode kernel)"));
  return launch_status("gemm decode kernel");
}

}  // namespace gemm
}  // namespace mxb
