// Decode-size GEMM (fast mode): M <= 16 BF16 activations times 4-bit weights
// (NVFP4 or MXFP4, B [N, K], plain row-major layout). Memory-bound on the
// packed weights: each weight byte is read once with 16-byte loads (two per
// lane and n-tile in flight while the previous step is multiplied), decoded
// in registers to BF16 and fed to mma.sync m16n8k16 with fp32 accumulation.
//
// Decoding. An E2M1 code s.e1e0.m placed at BF16 bits 15 and 8..6 is the
// BF16 value x * 2^-126 (code 0.5 becomes a subnormal), so a code costs a few
// shifts and masks instead of a table. Multiplying by the block scale times
// 2^63 gives x * s * 2^-63 (exact: at most 5 significant bits, normal), and
// the activations are staged multiplied by 2^63 (exact), so every product
// the tensor cores form is exactly a_k * b_k, as the fast-mode bound needs.
// Inputs where that is not exact (|a| >= 2^64, or an MX scale outside
// 2^-69..2^64) raise a flag and those outputs are computed in exact mode.
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

// Slices sized so that about two blocks per SM run at once.
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
__device__ __forceinline__ void e2m1x8_scaled(uint32_t w, uint32_t (&r)[4]) {
  constexpr uint32_t MAG = 0x01C001C0u, SIGN = 0x80008000u;
  r[0] = ((w << 6) & MAG) | ((w << 12) & SIGN);
  r[1] = ((w << 2) & MAG) | ((w << 8) & SIGN);
  r[2] = ((w >> 2) & MAG) | ((w << 4) & SIGN);
  r[3] = ((w >> 6) & MAG) | (w & SIGN);
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

// Finite BF16 at or above 2^64 in either half (exponent field 191..254).
__device__ __forceinline__ bool bf16x2_too_large(uint32_t x) {
  const uint32_t e0 = (x >> 7) & 0xFFu, e1 = (x >> 23) & 0xFFu;
  return (e0 >= 191u && e0 != 255u) || (e1 >= 191u && e1 != 255u);
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
__device__ bool stage_a(const problem &p, int64_t k0, int klen, int steps, int stride, uint32_t *sa) {
  const int nvec = steps * DSTEP / 8;  // 16-byte vectors per row
  bool big = false;
  for (int i0 = threadIdx.x; i0 < 16 * nvec; i0 += 8 * DTHREADS) {
    uint4 v[8];
#pragma unroll
    for (int u = 0; u < 8; u++) {
      const int i = i0 + u * DTHREADS, r = i / nvec, kv = i - r * nvec;
      v[u] = i < 16 * nvec && r < p.M && 8 * kv < klen
                 ? __ldg(reinterpret_cast<const uint4 *>(p.a.data + r * p.a.row_bytes + (k0 + 8 * kv) * 2))
                 : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < 8; u++) {
      const int i = i0 + u * DTHREADS, r = i / nvec, kv = i - r * nvec;
      if (i >= 16 * nvec) break;
      big |= bf16x2_too_large(v[u].x) | bf16x2_too_large(v[u].y) | bf16x2_too_large(v[u].z) |
             bf16x2_too_large(v[u].w);
      const uint32_t x = bf16x2_mul(v[u].x, POW2_63_X2), y = bf16x2_mul(v[u].y, POW2_63_X2),
                     z = bf16x2_mul(v[u].z, POW2_63_X2), w = bf16x2_mul(v[u].w, POW2_63_X2);
      // Vector kv: step kv / 32; within it piece (kv / 16) % 2, lane
      // (kv / 4) % 4, word 4 * piece + kv % 4.
      const int c = kv >> 5, piece = (kv >> 4) & 1, ln = (kv >> 2) & 3, word = 4 * piece + (kv & 3), hi = r >> 3;
      uint32_t *d = sa + (r & 7) * stride + (((c * 8 + word) * 2) * 4 + ln) * 4 + hi;
      d[0] = __byte_perm(x, z, 0x5410);       // half 0, slots 2t..: codes 0, 4
      d[2] = __byte_perm(x, z, 0x7632);       // half 0, slots 2t+8..: codes 1, 5
      d[16] = __byte_perm(y, w, 0x5410);      // half 1: codes 2, 6
      d[18] = __byte_perm(y, w, 0x7632);      // half 1: codes 3, 7
    }
  }
  return big;
}

template <bool NV>
__device__ __forceinline__ uint32_t scale_pair(uint8_t b) {
  const float s = (NV ? mxb_ue4m3_decode(b) : mxb_e8m0_decode(b)) * 0x1p63f;
  const uint32_t h = __float_as_uint(s) >> 16;  // exact: at most 4 significant bits
  return h | (h << 16);
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

  // Row pointers of this lane's n-tiles, at its first unit. Rows past N
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
  // Step c: two 16-byte loads per n-tile and the pieces' scale bytes (2 + 2
  // NVFP4, 1 + 1 MX). In the slice's last, partial step, pieces past the
  // slice read the slice's first piece instead, with scales 1.0: A is 0
  // there, so those finite products add nothing. (The scales are replaced
  // where they are used, not here: a select right after the load would wait
  // for it.)
  const int full = klen / DSTEP;
  auto in_slice = [&](int c, int piece) { return c < full || c * DSTEP + (4 * piece + t) * DPIECE < klen; };
  uint4 q[DNT][2];
  uint32_t sc[DNT][2];
  auto load = [&](int c, uint4(&qq)[DNT][2], uint32_t(&ss)[DNT][2]) {
    int off[2];  // in pieces, from this lane's first piece
#pragma unroll
    for (int h = 0; h < 2; h++) off[h] = in_slice(c, h) ? 8 * c + 4 * h : -t;
#pragma unroll
    for (int j = 0; j < DNT; j++) {
      const uint8_t *s0 = srow[j] + off[0] * (DPIECE / (NV ? 16 : 32)), *s1 = srow[j] + off[1] * (DPIECE / (NV ? 16 : 32));
      qq[j][0] = ld_stream(brow[j] + off[0] * (DPIECE / 2));
      qq[j][1] = ld_stream(brow[j] + off[1] * (DPIECE / 2));
      ss[j][0] = NV ? __ldg(reinterpret_cast<const uint16_t *>(s0)) : __ldg(s0);
      ss[j][1] = NV ? __ldg(reinterpret_cast<const uint16_t *>(s1)) : __ldg(s1);
    }
  };
  load(0, q, sc);  // in flight while A is staged

  for (int i = threadIdx.x; i < 256; i += DTHREADS) scale_lut[i] = scale_pair<NV>((uint8_t)i);
  bool bad = stage_a(p, k0, klen, steps, stride, sa);
  __syncthreads();

  float acc[DNT][4] = {};
  const uint32_t *a_row = sa + g * stride + t * 4;
  auto compute = [&](int c, const uint4(&qq)[DNT][2], const uint32_t(&ss_raw)[DNT][2]) {
    // Scale bytes of pieces past the slice: 1.0 (UE4M3 0x38, E8M0 0x7F).
    const uint32_t one = NV ? 0x3838u : 0x7Fu, sh = NV ? 16 : 8;
    const bool in0 = in_slice(c, 0), in1 = in_slice(c, 1);
    uint32_t ss[DNT];
#pragma unroll
    for (int j = 0; j < DNT; j++) ss[j] = (in0 ? ss_raw[j][0] : one) | (in1 ? ss_raw[j][1] : one) << sh;
    if (!NV)
#pragma unroll
      for (int j = 0; j < DNT; j++) {
        const uint32_t b0 = ss[j] & 0xFFu, b1 = (ss[j] >> 8) & 0xFFu;
        bad |= valid[j] && (b0 < MX_SCALE_LO || b0 > MX_SCALE_HI || b1 < MX_SCALE_LO || b1 > MX_SCALE_HI);
      }
#pragma unroll
    for (int w = 0; w < 8; w++) {
      uint32_t r[DNT][4];
#pragma unroll
      for (int j = 0; j < DNT; j++) {
        const uint4 &v = qq[j][w >> 2];
        const uint32_t word = (w & 3) == 0 ? v.x : (w & 3) == 1 ? v.y : (w & 3) == 2 ? v.z : v.w;
        const uint32_t s = scale_lut[(ss[j] >> (8 * (NV ? w >> 1 : w >> 2))) & 0xFFu];
        e2m1x8_scaled(word, r[j]);
#pragma unroll
        for (int e = 0; e < 4; e++) r[j][e] = bf16x2_mul(r[j][e], s);
      }
#pragma unroll
      for (int h = 0; h < 2; h++) {
        const uint4 a = *reinterpret_cast<const uint4 *>(a_row + ((c * 8 + w) * 2 + h) * 16);
#pragma unroll
        for (int j = 0; j < DNT; j++) mma_bf16(acc[j], a, r[j][2 * h], r[j][2 * h + 1]);
      }
    }
  };
  // Two register buffers in turn: the next step's loads fly during this
  // step's arithmetic.
  uint4 q2[DNT][2];
  uint32_t sc2[DNT][2];
  for (int c = 0; c < steps; c += 2) {
    if (c + 1 < steps) load(c + 1, q2, sc2);
    compute(c, q, sc);
    if (c + 1 == steps) break;
    if (c + 2 < steps) load(c + 2, q, sc);
    compute(c + 1, q2, sc2);
  }

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
