// Decode-size GEMM (fast mode): M <= 16 BF16 activations times 4-bit weights
// (NVFP4 or MXFP4, B [N, K], plain row-major layout). Memory-bound on the
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
// fast-mode bound needs. Inputs where that is not exact (|a| >= 2^64, or an
// MX scale outside 2^-69..2^64) raise a flag and those outputs are computed
// in exact mode.
//
// Layout of the work. A block takes 256 rows of B (8 warps x 4 n-tiles of 8
// rows) and a K-slice of 256 * steps columns. In step c, lane (g, t) of a
// warp reads two pieces of 32 codes (16 bytes each) of row g of each n-tile,
// at codes 32t and 128 + 32t of the step, so each load instruction of the
// warp reads 64 contiguous bytes (two whole sectors) of 8 rows. Words 0-3
// of the lane are piece 0, words 4-7 piece 1. The MMA's k slots are a
// permutation of the physical k (the same for A and B, so the dot products
// are unchanged): word w holds codes 8w'..8w'+7 of its piece; the MMA of
// half h takes codes {2h, 2h+4} of the word as slots {2t, 2t+1} and
// {2h+1, 2h+5} as slots {2t+8, 2t+9}. A is staged in shared memory in
// exactly that order, one 16-byte load per MMA:
// {A[g][lo], A[g+8][lo], A[g][hi], A[g+8][hi]}.
//
// Split K: partial sums go to the workspace; the last block of each 256-row
// slice to finish (an atomic counter) sums them in ascending slice order,
// so the result does not depend on the order in which blocks run.
#include <cuda_bf16.h>

#include "cuda/gemm_common.cuh"

namespace mxb {
namespace gemm {

constexpr int DTHREADS = 256, DWARPS = 8, DNT = 4;  // 8 warps x 4 n-tiles of 8 rows
constexpr int DROWS = DWARPS * DNT * 8;             // 256 rows of B per block
constexpr int DPIECE = 32;                          // codes per 16-byte load
constexpr int DSTEP = 8 * DPIECE;                   // k per step (4 lanes x 2 pieces)
constexpr int DMAX_STEPS = 5;                       // k per block <= 1280: staged A < 48 KB
constexpr uint32_t POW2_63_X2 = 0x5F005F00u;        // BF16 2^63 in both halves
constexpr int MX_SCALE_LO = 58, MX_SCALE_HI = 191;  // E8M0 bytes the decode keeps exact

// Row stride of the partial sums: whole 16-byte vectors.
__host__ __device__ __forceinline__ int64_t part_ld(int64_t n) { return (n + 3) & ~(int64_t)3; }

struct decode_plan {
  int64_t blocks_n, slices, slice_k;
  size_t part_off, bytes;  // partial sums at part_off; 0 bytes when K is not split
};

// Slices sized so that about two blocks per SM run at once (a second, partial
// wave of blocks measured slower than longer slices on an H200).
static decode_plan make_plan(const mxb_context *ctx, const problem &p) {
  decode_plan d;
  d.blocks_n = (p.N + DROWS - 1) / DROWS;
  const int64_t steps = (p.K + DSTEP - 1) / DSTEP, want = 2 * (int64_t)(ctx->sm_count > 0 ? ctx->sm_count : 132);
  int64_t per = (steps * d.blocks_n + want - 1) / want;
  per = per < 1 ? 1 : per > DMAX_STEPS ? DMAX_STEPS : per;
  d.slices = (steps + per - 1) / per;
  d.slice_k = per * DSTEP;
  d.part_off = align256((size_t)d.blocks_n * 2 * sizeof(int));
  d.bytes = d.slices > 1 ? d.part_off + (size_t)(d.slices * p.M * part_ld(p.N)) * sizeof(float) : 0;
  return d;
}

size_t decode_workspace(const mxb_context *ctx, const problem &p) { return make_plan(ctx, p).bytes; }

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
__device__ void exact_outputs(const problem &p, float alpha_t, int64_t n_begin, int64_t n_end) {
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
    store(p.out, alpha_t, m, n, acc);
  }
}

// A[0:16, k0:k0+klen] times 2^63 into the MMA order described above (rows
// >= M and k >= klen as zeros). Returns true if some |A| >= 2^64.
//
// A step of A is 16 rows x 32 vectors of 8 k. Thread x takes, in every half
// step u (16 vectors of each row), the vector of row r and index kv0 given by
// its bits (low first: the row's high bit, the MMA lane (2), the row's low
// bit, the word's low bit, the row's bits 1-2, the word's high bit), so its
// vector u is 16 u vectors (256 bytes) further along the same row and 128
// words further in shared memory: the addresses are computed once. The 32
// lanes of a shared-memory store cover 16 banks (stride = 16 mod 32 words).
__device__ bool stage_a(const problem &p, int64_t k0, int klen, int steps, int stride, uint32_t *sa) {
  const int x = threadIdx.x, hi = x & 1, ln = x >> 1 & 3, r = hi << 3 | (x >> 3 & 1) | (x >> 4 & 6);
  const int q = (x >> 4 & 1) | (x >> 6 & 2), kv0 = ln << 2 | q;
  const int units = (klen / 8 - kv0 + 15) / 16;  // vectors of this thread inside the slice
  const uint8_t *src = p.a.data + r * p.a.row_bytes + (k0 + 8 * kv0) * 2;
  uint32_t *d = sa + (r & 7) * stride + (q * 8 + ln) * 4 + hi;
  const bool row = r < p.M;
  uint32_t big = 0;
  constexpr int BATCH = DMAX_STEPS;  // loads in flight before the first is used
#pragma unroll
  for (int u0 = 0; u0 < 2 * DMAX_STEPS; u0 += BATCH) {
    if (u0 >= 2 * steps) break;
    uint4 vs[BATCH];
#pragma unroll
    for (int i = 0; i < BATCH; i++)
      vs[i] = row && u0 + i < units ? __ldg(reinterpret_cast<const uint4 *>(src + 256 * (u0 + i))) : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int i = 0; i < BATCH; i++) {
      const int u = u0 + i;
      if (u >= 2 * steps) break;
      const uint4 v = vs[i];
      big |= bf16x2_too_large(v.x) | bf16x2_too_large(v.y) | bf16x2_too_large(v.z) | bf16x2_too_large(v.w);
      const uint32_t a0 = bf16x2_mul(v.x, POW2_63_X2), a1 = bf16x2_mul(v.y, POW2_63_X2),
                     a2 = bf16x2_mul(v.z, POW2_63_X2), a3 = bf16x2_mul(v.w, POW2_63_X2);
      uint32_t *e = d + 128 * u;
      e[0] = __byte_perm(a0, a2, 0x5410);   // half 0, slots 2t..: codes 0, 4
      e[2] = __byte_perm(a0, a2, 0x7632);   // half 0, slots 2t+8..: codes 1, 5
      e[16] = __byte_perm(a1, a3, 0x5410);  // half 1: codes 2, 6
      e[18] = __byte_perm(a1, a3, 0x7632);  // half 1: codes 3, 7
    }
  }
  return big != 0;
}

template <bool NV>
__device__ __forceinline__ uint32_t scale_pair(uint8_t b) {
  const float s = (NV ? mxb_ue4m3_decode(b) : mxb_e8m0_decode(b)) * 0x1p63f;
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

template <bool NV>
__global__ void __launch_bounds__(DTHREADS, 2) decode_kernel(problem p, int64_t slice_k, float *part, int *sync) {
  extern __shared__ __align__(16) uint32_t sa[];
  __shared__ uint32_t scale_lut[256];
  __shared__ int s_last;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  const int64_t k0 = (int64_t)blockIdx.y * slice_k, n_block = (int64_t)blockIdx.x * DROWS;
  const int klen = (int)min(slice_k, p.K - k0), steps = (klen + DSTEP - 1) / DSTEP;
  const int stride = steps * DSTEP + 16;  // words per pair of A rows (+16: no bank conflicts)
  constexpr int SPB = NV ? DPIECE / 16 : DPIECE / 32;  // scale bytes per piece

  // Row pointers of this lane's n-tiles, at its piece of the current step
  // (advanced by a step's 128 bytes of codes as the loads go). Rows past N
  // read row 0 (their outputs are never stored).
  const uint8_t *brow[DNT], *srow[DNT];
  bool valid[DNT];
#pragma unroll
  for (int j = 0; j < DNT; j++) {
    const int64_t n = n_block + (warp * DNT + j) * 8 + g;
    valid[j] = n < p.N;
    const int64_t kk = k0 + t * DPIECE, nn = valid[j] ? n : 0;
    brow[j] = p.b.data + nn * p.b.row_bytes + kk / 2;
    srow[j] = p.b.scales + nn * p.b.scale_cols + kk / (NV ? 16 : 32);
  }
  // Piece h of step c: a 16-byte load per n-tile (piece 1 is 64 bytes after
  // piece 0), reloaded as soon as the step's words in it are decoded, so a
  // piece's loads fly during half a step of arithmetic. The step's scale
  // bytes (2 + 2 NVFP4, 1 + 1 MX) are loaded a whole step ahead, into
  // sc[j][piece]. In the slice's last, partial step, pieces past the slice
  // read the slice's first piece instead, with scales 1.0: A is 0 there, so
  // those finite products add nothing.
  const int full = klen / DSTEP;
  auto in_slice = [&](int c, int h) { return c < full || c * DSTEP + (4 * h + t) * DPIECE < klen; };
  uint4 q[DNT][2];
  uint32_t sc[DNT][2];
  auto load_codes = [&](int c, int h) {
    const int64_t off = in_slice(c, h) ? 4 * h * (DPIECE / 2) : -(int64_t)c * (DSTEP / 2) - t * (DPIECE / 2);
#pragma unroll
    for (int j = 0; j < DNT; j++) {
      q[j][h] = ld_stream(brow[j] + off);
      if (h) brow[j] += DSTEP / 2;
    }
  };
  auto load_scales = [&](int c) {
    const uint32_t one = NV ? 0x3838u : 0x7Fu;  // scale 1.0 (UE4M3 0x38 twice, E8M0 0x7F)
    const bool in0 = in_slice(c, 0), in1 = in_slice(c, 1);
#pragma unroll
    for (int j = 0; j < DNT; j++) {
      const uint8_t *s = srow[j];
      sc[j][0] = !in0 ? one : NV ? (uint32_t)__ldg(reinterpret_cast<const uint16_t *>(s)) : (uint32_t)__ldg(s);
      s += 4 * SPB;
      sc[j][1] = !in1 ? one : NV ? (uint32_t)__ldg(reinterpret_cast<const uint16_t *>(s)) : (uint32_t)__ldg(s);
      srow[j] += 8 * SPB;
    }
  };
  load_codes(0, 0);  // in flight while A is staged
  load_codes(0, 1);
  load_scales(0);

  if (NV)
    for (int i = threadIdx.x; i < 256; i += DTHREADS) scale_lut[i] = scale_pair<NV>((uint8_t)i);
  bool bad = stage_a(p, k0, klen, steps, stride, sa);
  __syncthreads();

  float acc[DNT][4] = {};
  const uint32_t *a_row = sa + g * stride + t * 4;
  uint32_t out_of_range = 0;  // MX scale bytes outside the exact range (bits 8, 24)
  for (int c = 0; c < steps; c++) {
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
    if (c + 1 < steps) load_scales(c + 1);
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
      if ((w & 3) == 3 && c + 1 < steps) load_codes(c + 1, w >> 2);
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const uint4 a = *reinterpret_cast<const uint4 *>(a_row + ((c * 8 + w) * 2 + h) * 16);
#pragma unroll
        for (int j = 0; j < DNT; j++) mma_bf16(acc[j], a, r[j][2 * h], r[j][2 * h + 1]);
      }
    }
  }
  bad |= out_of_range != 0;

  const float alpha_t = mxb_gemm_alpha_t(p.out.alpha, tensor_scale(p.a), tensor_scale(p.b));
  const int64_t n_end = min(p.N, n_block + DROWS);
  auto each_output = [&](auto f) {  // acc[j][e] is C[m][n]
#pragma unroll
    for (int j = 0; j < DNT; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int64_t m = g + (e >> 1) * 8, n = n_block + (warp * DNT + j) * 8 + 2 * t + (e & 1);
        if (m < p.M && n < p.N) f(m, n, acc[j][e]);
      }
  };
  if (gridDim.y == 1) {  // K not split: this block owns its outputs
    if (__syncthreads_or(bad)) exact_outputs(p, alpha_t, n_block, n_end);
    else each_output([&](int64_t m, int64_t n, float v) { store(p.out, alpha_t, m, n, v); });
    return;
  }
  each_output([&](int64_t m, int64_t n, float v) { part[((int64_t)blockIdx.y * p.M + m) * part_ld(p.N) + n] = v; });
  // The barrier orders the block's partial sums before thread 0's fence,
  // which (cumulative) publishes them before the count: one fence a block.
  int *count = sync + 2 * blockIdx.x, *flag = count + 1;
  const bool any_bad = __syncthreads_or(bad);
  if (threadIdx.x == 0) {
    __threadfence();
    if (any_bad) atomicOr(flag, 1);
    s_last = atomicAdd(count, 1) == (int)gridDim.y - 1;
  }
  __syncthreads();
  if (!s_last) return;
  __threadfence();
  if (atomicAdd(flag, 0)) {
    exact_outputs(p, alpha_t, n_block, n_end);
    return;
  }
  // Partial sums in ascending slice order, from +0 as the exact path does;
  // four outputs and up to eight slices per load batch.
  const int64_t quads = (n_end - n_block + 3) / 4, ldp = part_ld(p.N), plane = p.M * ldp;
  const int slices = (int)gridDim.y;
  for (int64_t i = threadIdx.x; i < p.M * quads; i += DTHREADS) {
    const int64_t m = i / quads, n = n_block + 4 * (i % quads);
    const float *src = part + m * ldp + n;
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int z0 = 0; z0 < slices; z0 += 8) {
      float4 v[8];
#pragma unroll
      for (int u = 0; u < 8; u++)
        v[u] = z0 + u < slices ? __ldcg(reinterpret_cast<const float4 *>(src + (z0 + u) * plane)) : make_float4(0, 0, 0, 0);
#pragma unroll
      for (int u = 0; u < 8; u++)
        if (z0 + u < slices) {
          s[0] = __fadd_rn(s[0], v[u].x);
          s[1] = __fadd_rn(s[1], v[u].y);
          s[2] = __fadd_rn(s[2], v[u].z);
          s[3] = __fadd_rn(s[3], v[u].w);
        }
    }
#pragma unroll
    for (int e = 0; e < 4; e++)
      if (n + e < n_end) store(p.out, alpha_t, m, n + e, s[e]);
  }
}

mxb_status_t run_decode(const mxb_context *ctx, const problem &p, void *ws, cudaStream_t st) {
  const decode_plan d = make_plan(ctx, p);
  int *sync = static_cast<int *>(ws);
  float *part = d.bytes ? reinterpret_cast<float *>(static_cast<char *>(ws) + d.part_off) : nullptr;
  if (d.slices > 1)
    MXB_TRY(cuda_status(cudaMemsetAsync(sync, 0, (size_t)d.blocks_n * 2 * sizeof(int), st), "cudaMemsetAsync(gemm counters)"));
  const int steps = (int)(d.slice_k / DSTEP);
  const size_t smem = (size_t)8 * (steps * DSTEP + 16) * sizeof(uint32_t);
  auto kernel = p.b.scale_type == MXB_SCALE_UE4M3 ? decode_kernel<true> : decode_kernel<false>;
  dim3 grid((unsigned)d.blocks_n, (unsigned)d.slices);
  kernel<<<grid, DTHREADS, smem, st>>>(p, d.slice_k, part, sync);
  return launch_status("gemm decode kernel");
}

}  // namespace gemm
}  // namespace mxb
