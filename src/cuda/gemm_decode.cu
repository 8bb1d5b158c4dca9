// Decode-size GEMM (fast mode): M <= 16 BF16 activations times 4-bit weights
// (NVFP4 or MXFP4, B [N, K]). Memory-bound on the packed weights, so each
// weight byte is read once, decoded in registers to BF16 (E2M1 x block scale
// is exact in BF16) and fed to mma.sync m16n8k16 with fp32 accumulation.
//
// Each lane loads 16 contiguous bytes (32 codes) of one weight row. The MMA's
// k slots are a permutation of the physical k (the same for A and B, so the
// dot products are unchanged): slots {2t, 2t+1, 2t+8, 2t+9} of step s are
// physical k = 32t + 4s + {0, 1, 2, 3}. A is staged in shared memory in that
// order. K is split across blocks; partial sums are reduced in a fixed order.
#include <cuda_bf16.h>

#include "cuda/gemm_common.cuh"

namespace mxb {
namespace gemm {

constexpr int DK_CHUNK = 128;                  // k per warp step (4 lanes x 32)
constexpr int DK_SLICE = 1024;                 // k per block
constexpr int DP = DK_SLICE / 2 + 2;           // smem row stride in words (+2: no bank conflicts)
constexpr int DWARPS = 4, DTILES = 4;          // 4 warps x 4 n-tiles of 8 = 128 rows per block

static int64_t decode_slices(const problem &p) { return (p.K + DK_SLICE - 1) / DK_SLICE; }

size_t decode_workspace(const mxb_context *ctx, const problem &p) {
  (void)ctx;
  return 256 + align256((size_t)(decode_slices(p) * p.M * p.N) * 4);
}

// E2M1 magnitude -> BF16 bits, low and high bytes, selected by prmt.
constexpr uint32_t E2M1_LO0 = 0xC0800000u, E2M1_LO1 = 0xC0804000u;
constexpr uint32_t E2M1_HI0 = 0x3F3F3F00u, E2M1_HI1 = 0x40404040u;

// Four codes (16 bits, code 0 lowest) -> two bf16x2: {c0, c1}, {c2, c3}.
__device__ __forceinline__ void e2m1x4_to_bf16(uint32_t v, uint32_t &b0, uint32_t &b1) {
  const uint32_t sel = v & 0x7777u;
  const uint32_t lo = __byte_perm(E2M1_LO0, E2M1_LO1, sel), hi = __byte_perm(E2M1_HI0, E2M1_HI1, sel);
  b0 = __byte_perm(lo, hi, 0x5140) | ((v << 12) & 0x8000u) | ((v << 24) & 0x80000000u);
  b1 = __byte_perm(lo, hi, 0x7362) | ((v << 4) & 0x8000u) | ((v << 16) & 0x80000000u);
}

__device__ __forceinline__ uint32_t bf16x2_mul(uint32_t x, uint32_t y) {
  __nv_bfloat162 a = *reinterpret_cast<__nv_bfloat162 *>(&x), b = *reinterpret_cast<__nv_bfloat162 *>(&y);
  __nv_bfloat162 r = __hmul2(a, b);
  return *reinterpret_cast<uint32_t *>(&r);
}

__device__ __forceinline__ void mma_bf16(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                         uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Word index of A[r][k] (k within the slice) in the permuted shared layout.
__device__ __forceinline__ int a_word(int r, int k) {
  const int c = k / DK_CHUNK, kk = k % DK_CHUNK, t = kk / 32, w = (kk % 32) / 2;
  return r * DP + c * 64 + 16 * t + ((w + 8 * (t >> 1)) & 15);
}

// Block scale byte -> BF16 bits in both halves (UE4M3 and E8M0 are exact in BF16).
__device__ __forceinline__ uint32_t scale_pair(float s) {
  const uint32_t h = __float_as_uint(s) >> 16;
  return h | (h << 16);
}

__global__ void __launch_bounds__(DWARPS * 32) decode_kernel(problem p, float *part, int *flag) {
  __shared__ __align__(16) uint32_t sa[16 * DP];
  __shared__ uint32_t scale_lut[256];
  const bool nv = p.b.scale_type == MXB_SCALE_UE4M3;
  for (int i = threadIdx.x; i < 256; i += blockDim.x)
    scale_lut[i] = scale_pair(nv ? mxb_ue4m3_decode((uint8_t)i) : mxb_e8m0_decode((uint8_t)i));
  const int64_t k0 = (int64_t)blockIdx.y * DK_SLICE;
  const int klen = (int)min((int64_t)DK_SLICE, p.K - k0);
  // Stage A[0:16, k0:k0+klen] (rows >= M as zeros), permuted: 8 elements
  // (16 bytes) per load, four loads in flight per thread; 8 consecutive k
  // stay 4 consecutive words in the permuted layout.
  const int vec_n = klen / 8;  // 16-byte vectors per row
  for (int i0 = threadIdx.x; i0 < 16 * vec_n; i0 += 4 * blockDim.x) {
    uint4 v[4];
#pragma unroll
    for (int u = 0; u < 4; u++) {
      const int i = i0 + u * blockDim.x, r = i / vec_n, kv = i - r * vec_n;
      v[u] = i < 16 * vec_n && r < p.M
                 ? __ldg(reinterpret_cast<const uint4 *>(p.a.data + r * p.a.row_bytes + (k0 + 8 * kv) * 2))
                 : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < 4; u++) {
      const int i = i0 + u * blockDim.x, r = i / vec_n, kv = i - r * vec_n;
      if (i < 16 * vec_n) {
        uint2 *dst = reinterpret_cast<uint2 *>(&sa[a_word(r, 8 * kv)]);
        dst[0] = make_uint2(v[u].x, v[u].y);
        dst[1] = make_uint2(v[u].z, v[u].w);
      }
    }
  }
  __syncthreads();
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, t = lane & 3;
  const int64_t nbase = ((int64_t)blockIdx.x * DWARPS + warp) * DTILES * 8;
  const int shift = nv ? 4 : 5;
  const uint8_t *brow[DTILES], *srow[DTILES];
  bool valid[DTILES];
#pragma unroll
  for (int j = 0; j < DTILES; j++) {
    const int64_t n = nbase + j * 8 + g;
    valid[j] = n < p.N;
    brow[j] = p.b.data + (valid[j] ? n : 0) * p.b.row_bytes;
    srow[j] = p.b.scales + (valid[j] ? n : 0) * p.b.scale_cols;
  }
  float acc[DTILES][4] = {};
  uint4 q[DTILES];
  uint8_t sb[DTILES][2];
  auto load = [&](int c) {
    const int64_t kc = k0 + c * DK_CHUNK + 32 * t;  // this lane's first k
#pragma unroll
    for (int j = 0; j < DTILES; j++) {
      q[j] = valid[j] ? __ldg(reinterpret_cast<const uint4 *>(brow[j] + kc / 2)) : make_uint4(0, 0, 0, 0);
      sb[j][0] = valid[j] ? srow[j][kc >> shift] : 0;
      sb[j][1] = valid[j] && nv ? srow[j][(kc + 16) >> shift] : sb[j][0];
    }
  };
  const int nchunks = klen / DK_CHUNK;
  load(0);
  for (int c = 0; c < nchunks; c++) {
    uint4 cq[DTILES];
    uint32_t s0[DTILES], s1[DTILES];
#pragma unroll
    for (int j = 0; j < DTILES; j++) {
      cq[j] = q[j];
      s0[j] = scale_lut[sb[j][0]];
      s1[j] = scale_lut[sb[j][1]];
      // 6 x 2^126 and above overflow BF16: the exact path serves the call.
      if (!nv && (sb[j][0] == 253 || sb[j][0] == 254)) atomicOr(flag, 1);
    }
    if (c + 1 < nchunks) load(c + 1);  // next chunk's loads in flight during this one's math
#pragma unroll
    for (int s = 0; s < 8; s++) {
      const int wbase = c * 64 + 16 * t + ((2 * s + 8 * (t >> 1)) & 15);
      const uint2 lo = *reinterpret_cast<const uint2 *>(&sa[g * DP + wbase]);
      const uint2 hi = *reinterpret_cast<const uint2 *>(&sa[(g + 8) * DP + wbase]);
#pragma unroll
      for (int j = 0; j < DTILES; j++) {
        const uint32_t word = s < 2 ? cq[j].x : s < 4 ? cq[j].y : s < 6 ? cq[j].z : cq[j].w;
        uint32_t b0, b1;
        e2m1x4_to_bf16((word >> (16 * (s & 1))) & 0xFFFFu, b0, b1);
        const uint32_t sc = s < 4 ? s0[j] : s1[j];
        mma_bf16(acc[j], lo.x, hi.x, lo.y, hi.y, bf16x2_mul(b0, sc), bf16x2_mul(b1, sc));
      }
    }
  }
#pragma unroll
  for (int j = 0; j < DTILES; j++)
#pragma unroll
    for (int e = 0; e < 4; e++) {
      const int64_t m = g + (e >> 1) * 8, n = nbase + j * 8 + 2 * t + (e & 1);
      if (m < p.M && n < p.N) part[((int64_t)blockIdx.y * p.M + m) * p.N + n] = acc[j][e];
    }
}

// Partial sums in ascending slice order, then the shared epilogue. Skipped
// when the weights' scales left BF16's range (the generic path runs instead).
__global__ void decode_reduce_kernel(problem p, const float *part, int64_t slices, const int *flag) {
  if (*flag) return;
  const float alpha_t = mxb_gemm_alpha_t(p.out.alpha, tensor_scale(p.a), tensor_scale(p.b));
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < p.M * p.N; i += (int64_t)gridDim.x * blockDim.x) {
    float s = 0.0f;
    for (int64_t z = 0; z < slices; z++) s = __fadd_rn(s, part[z * p.M * p.N + i]);
    store(p.out, alpha_t, i / p.N, i % p.N, s);
  }
}

mxb_status_t run_decode(const mxb_context *ctx, const problem &p, void *ws, cudaStream_t st) {
  int *flag = static_cast<int *>(ws);
  float *part = reinterpret_cast<float *>(static_cast<char *>(ws) + 256);
  const int64_t slices = decode_slices(p);
  MXB_TRY(cuda_status(cudaMemsetAsync(flag, 0, sizeof(int), st), "cudaMemsetAsync(gemm flag)"));
  dim3 grid((unsigned)((p.N + DWARPS * DTILES * 8 - 1) / (DWARPS * DTILES * 8)), (unsigned)slices);
  decode_kernel<<<grid, DWARPS * 32, 0, st>>>(p, part, flag);
  MXB_TRY(launch_status("gemm decode kernel"));
  decode_reduce_kernel<<<grid_for(ctx, p.M * p.N, 256), 256, 0, st>>>(p, part, slices, flag);
  MXB_TRY(launch_status("gemm decode reduce kernel"));
  return run_generic(ctx, p, flag, st);
}

}  // namespace gemm
}  // namespace mxb
