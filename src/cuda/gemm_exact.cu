// Exact-mode GEMM (NUMERICS 7): a generic path for every pair, and an
// integer tensor-core path for NVFP4 x NVFP4 and MXFP4 x MXFP4. Both give
// the CPU reference's bits.
#include "core/gemm.h"
#include "cuda/gemm_common.cuh"

namespace mxb {
namespace gemm {

// ---------------------------------------------------------------- generic
// One 16x16 output tile per block (grid-stride). Each K-block of both
// operands is decoded once into shared memory as binary64; each thread sums
// its products in ascending k (exact products, binary64 sums), rounds the
// block sum once to fp32 and adds it to its fp32 accumulator.
constexpr int GT = 16;

// Guarded (a fast path's fallback), it is the programmatic dependent of
// that path's last kernel: its launch is prepared while that kernel runs
// (its blocks start once that kernel's have exited, or triggered: cuBLASLt's
// may, and then they wait here), and it reads the flag only once that
// kernel has finished.
__global__ void __launch_bounds__(256) generic_kernel(problem p, const int *guard) {
  pdl_wait();
  if (guard && *guard == 0) return;
  load_scalars(p.out);
  __shared__ double sa[GT][MXB_GEMM_MAX_K_BLOCK + 1], sb[GT][MXB_GEMM_MAX_K_BLOCK + 1];
  const int tx = threadIdx.x % GT, ty = threadIdx.x / GT;
  const int64_t tiles_n = (p.N + GT - 1) / GT, tiles = (p.M + GT - 1) / GT * tiles_n;
  const alpha_rows alpha_t = alpha_of(p.out.alpha, p.a, p.b);
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t m0 = tile / tiles_n * GT, n0 = tile % tiles_n * GT;
    float acc = 0.0f;
    for (int64_t k0 = 0; k0 < p.K; k0 += p.L) {
      const int len = (int)min((int64_t)p.L, p.K - k0);
      __syncthreads();
      for (int i = threadIdx.x; i < GT * len; i += blockDim.x) {
        const int r = i / len, k = i % len;
        sa[r][k] = m0 + r < p.M ? decoded(p.a, m0 + r, k0 + k) : 0.0;
        sb[r][k] = n0 + r < p.N ? decoded(p.b, n0 + r, k0 + k) : 0.0;
      }
      __syncthreads();
      double s = 0.0;
      for (int k = 0; k < len; k++) s = __dadd_rn(s, __dmul_rn(sa[ty][k], sb[tx][k]));
      acc = __fadd_rn(acc, __double2float_rn(s));
    }
    if (m0 + ty < p.M && n0 + tx < p.N) store(p.out, alpha_t(m0 + ty, n0 + tx), m0 + ty, n0 + tx, acc);
  }
}

mxb_status_t run_generic(const mxb_context *ctx, const problem &p, const int *guard, cudaStream_t st) {
  int64_t tiles = (p.M + GT - 1) / GT * ((p.N + GT - 1) / GT);
  unsigned grid = grid_for(ctx, tiles * 256, 256, 8);
  MXB_TRY(cuda_status(launch_pdl(guard && pdl_enabled() && ctx->cc_major >= 9, dim3(grid), dim3(256), 0, st,
                                 generic_kernel, p, guard),
                      "cudaLaunchKernelEx(gemm generic kernel)"));
  return launch_status("gemm generic kernel");
}

// ---------------------------------------------------------------- integer route
// 2 * E2M1 is an integer in [-12, 12]: the codes become int8 and an int8 MMA
// gives each K-block's sum exactly (|sum| <= 32 * 144 < 2^13). With the
// scales s_a, s_b halved (exact), the block sum of decoded products is
//   p = isum * (s_a/2) * (s_b/2),
// and both multiplications are exact in fp32:
//   NVFP4: isum needs 13 bits, each UE4M3 scale 4 significant bits, so the
//     products need at most 21 bits (< 24); magnitudes lie in
//     [2^-20, 2^13 * 224^2], far inside the normal range.
//   MXFP4: the scales are powers of two 2^(b-128); isum * 2^(ba-128) is exact
//     and finite for ba <= 242, and the product with 2^(bb-128) is exact
//     (no bit below 2^-149, no overflow) when 107 <= ba + bb <= 370. The
//     expansion flags any scale byte outside [54, 185] (NaN excepted) and the
//     generic path serves that call instead.
// p is the reference's block sum exactly, so fmaf(isum * s_a, s_b, acc)
// rounds once, as acc + p does in the reference.
// 128 K a tile: against 64, half the barriers and address work per FFMA
// (0.92 of the time at 8192^3, H100) and no spill.
constexpr int IBM = 128, IBN = 128, IBK = 128, ISTAGES = 3;
// 16 warps of 32 x 32 (two m16 tiles by four n8 tiles): 64 + 64 registers of
// sums a thread, so the CTA fits 128 registers a thread. Four warps a
// scheduler instead of two (8 warps of 64 x 32): with two, each issuing long
// runs of independent FFMAs, "no instruction" was the largest stall; 16
// warps made 8192^3 1.34x faster on an H100 (docs/PERFORMANCE.md).
constexpr int ITHREADS = 512, IMT = 2;
constexpr int MX_LO = 54, MX_HI = 185;

struct int8_layout {
  int64_t Mp, Np, Kp, nblk_p;
  size_t a_off, b_off, sa_off, sb_off, flag_off, total;
};

static int8_layout int8_plan(const problem &p) {
  int8_layout l;
  l.Mp = (p.M + IBM - 1) / IBM * IBM;
  l.Np = (p.N + IBN - 1) / IBN * IBN;
  l.Kp = (p.K + IBK - 1) / IBK * IBK;
  l.nblk_p = l.Kp / p.L;
  l.flag_off = 0;
  l.a_off = 256;
  l.b_off = l.a_off + align256((size_t)(l.Mp * l.Kp));
  l.sa_off = l.b_off + align256((size_t)(l.Np * l.Kp));
  l.sb_off = l.sa_off + align256((size_t)(l.nblk_p * l.Mp) * 8);  // A: (s, -1.5 * 2^23 * s) pairs
  l.total = l.sb_off + align256((size_t)(l.nblk_p * l.Np) * 4);
  return l;
}

size_t int8_workspace(const problem &p) { return int8_plan(p).total; }

// The int32 accumulator starts at the bits of 1.5 * 2^23: any |sum| < 2^22
// keeps the exponent, so bits(sum + start) as fp32 minus 1.5 * 2^23 is the
// sum exactly (an integer-to-float conversion in two cheap operations).
constexpr int ACC_BIAS = 0x4B400000;
constexpr float ACC_BIAS_F = 12582912.0f;

// Codes -> 2 * E2M1 as int8 ([Rp, Kp], zero padded) and block scales, halved,
// transposed to [nblk_p, Rp] fp32 so a tile's scales are contiguous.
// pair (A): each scale s is stored with -1.5 * 2^23 * s after it (exact:
// the int8 kernel's bias correction, loaded with s by one 8-byte load).
__global__ void expand_fp4_kernel(operand o, int L, int64_t Rp, int64_t Kp, int8_t *q, float *sT, int *flag,
                                  bool pair) {
  const int64_t groups = Kp / 16, n = Rp * groups;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = i / groups, k0 = i % groups * 16;
    uint32_t w[4] = {0, 0, 0, 0};
    if (r < o.rows && k0 < o.cols) {
      const uint8_t *row = o.data + r * o.row_bytes;
#pragma unroll
      for (int j = 0; j < 16; j++) {
        const int64_t k = k0 + j;
        int v = 0;
        if (k < o.cols) {
          uint32_t c = (row[k >> 1] >> ((k & 1) * 4)) & 0xFu;
          int mag = (int)(2.0f * mxb_fp_decode(&o.fp, c & 7u));
          v = c & 8u ? -mag : mag;
        }
        w[j / 4] |= (uint32_t)(v & 0xFF) << (8 * (j % 4));
      }
    }
    *reinterpret_cast<uint4 *>(q + r * Kp + k0) = make_uint4(w[0], w[1], w[2], w[3]);
    if (k0 % L == 0) {
      const int64_t blk = k0 / L;
      float s = 0.0f;
      if (r < o.rows && k0 < o.cols) {
        uint8_t b = o.scales[scale_index(o, r, k0)];
        if (o.scale_type == MXB_SCALE_UE4M3) {
          s = mxb_ue4m3_decode(b) * 0.5f;
        } else {
          s = b == 255 ? mxb_e8m0_decode(b) : mxb_pow2f((int)b - 128);
          if (b != 255 && (b < MX_LO || b > MX_HI)) atomicOr(flag, 1);
        }
      }
      if (pair) *reinterpret_cast<float2 *>(sT + 2 * (blk * Rp + r)) = make_float2(s, __fmul_rn(-ACC_BIAS_F, s));
      else sT[blk * Rp + r] = s;
    }
  }
}

__device__ __forceinline__ uint32_t smem_u32(const void *p) {
  return (uint32_t)__cvta_generic_to_shared(p);
}
__device__ __forceinline__ void cp_async16(void *dst, const void *src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_u32(dst)), "l"(src));
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
__device__ __forceinline__ void ldsm_x4(uint32_t addr, uint32_t &r0, uint32_t &r1, uint32_t &r2, uint32_t &r3) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3) : "r"(addr));
}
__device__ __forceinline__ void mma_s8_k16(int (&d)[4], uint32_t a0, uint32_t a1, uint32_t b0) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};\n"
               : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3]) : "r"(a0), "r"(a1), "r"(b0));
}
// Rows of IBK = 128 bytes; 16-byte chunks XOR-swizzled by the row's low
// three bits so ldmatrix (8 rows at one chunk) and the 16-byte cp.async
// stores are conflict-free.
__device__ __forceinline__ int swz(int row, int chunk) { return row * IBK + ((chunk ^ (row & 7)) << 4); }

template <int BL>
struct int8_smem {
  static constexpr int NB = IBK / BL;  // K-blocks per K-tile
  int8_t a[ISTAGES][IBM * IBK];
  int8_t b[ISTAGES][IBN * IBK];
  float sa[ISTAGES][NB][2 * IBM];  // (s, -1.5 * 2^23 * s) a row
  float sb[ISTAGES][NB][IBN];
};

template <typename T>
__device__ __forceinline__ void fill(T (&x)[IMT][4][4], T v) {
#pragma unroll
  for (int i = 0; i < IMT * 16; i++) x[i / 16][(i / 4) % 4][i % 4] = v;
}

template <int BL>
__global__ void __launch_bounds__(ITHREADS, 1)
    int8_kernel(const int8_t *__restrict__ A8, const int8_t *__restrict__ B8, const float *__restrict__ sAT,
                const float *__restrict__ sBT, int64_t Mp, int64_t Np, int64_t Kp, problem p, const int *flag) {
  if (*flag) return;
  constexpr int NB = IBK / BL, SUB = BL / 16;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  int8_smem<BL> &sm = *reinterpret_cast<int8_smem<BL> *>(smem_raw);
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int wm = warp >> 2, wn = warp & 3;  // 4 x 4 warps, 32 x 32 each
  const int64_t m0 = (int64_t)blockIdx.y * IBM, n0 = (int64_t)blockIdx.x * IBN;
  const int KT = (int)(Kp / IBK);

  auto load = [&](int stage, int kt) {
    const int64_t kb = (int64_t)kt * IBK;
#pragma unroll
    for (int it = 0; it < IBM * IBK / 16 / ITHREADS; it++) {
      const int c = tid + it * ITHREADS, row = c / (IBK / 16), ch = c % (IBK / 16);
      cp_async16(&sm.a[stage][swz(row, ch)], A8 + (m0 + row) * Kp + kb + ch * 16);
      cp_async16(&sm.b[stage][swz(row, ch)], B8 + (n0 + row) * Kp + kb + ch * 16);
    }
    const int64_t blk0 = (int64_t)kt * NB;
    static_assert(NB * 64 <= ITHREADS, "a 16-byte piece of A's scale pairs a thread");
    if (tid < NB * 64) {  // A's (s, -1.5 * 2^23 * s) pairs: 2 rows a piece
      const int blk = tid >> 6, part = tid & 63;
      cp_async16(&sm.sa[stage][blk][part * 4], sAT + 2 * ((blk0 + blk) * Mp + m0) + part * 4);
    }
    if (tid < NB * 32) {
      const int blk = tid >> 5, part = tid & 31;
      cp_async16(&sm.sb[stage][blk][part * 4], sBT + (blk0 + blk) * Np + n0 + part * 4);
    }
  };

  float acc[IMT][4][4];
  fill(acc, 0.0f);

#pragma unroll
  for (int s = 0; s < ISTAGES - 1; s++) {
    if (s < KT) load(s, s);
    cp_commit();
  }
  const int g = lane >> 2, t = lane & 3, q = lane >> 3, rr = lane & 7;
  for (int kt = 0; kt < KT; kt++) {
    cp_wait<ISTAGES - 2>();
    __syncthreads();
    if (kt + ISTAGES - 1 < KT) load((kt + ISTAGES - 1) % ISTAGES, kt + ISTAGES - 1);
    cp_commit();
    const int stage = kt % ISTAGES;
    const uint32_t abase = smem_u32(sm.a[stage]), bbase = smem_u32(sm.b[stage]);
#pragma unroll
    for (int blk = 0; blk < NB; blk++) {
      int d[IMT][4][4];
      fill(d, ACC_BIAS);
#pragma unroll
      for (int sub = 0; sub < SUB; sub++) {
        const int ch = blk * SUB + sub;
        uint32_t a[IMT][2], b[4];
#pragma unroll
        for (int i = 0; i < IMT; i += 2) {
          const int row = wm * (16 * IMT) + (i + (q >> 1)) * 16 + (q & 1) * 8 + rr;
          ldsm_x4(abase + swz(row, ch), a[i][0], a[i][1], a[i + 1][0], a[i + 1][1]);
        }
        {
          const int row = wn * 32 + q * 8 + rr;
          ldsm_x4(bbase + swz(row, ch), b[0], b[1], b[2], b[3]);
        }
#pragma unroll
        for (int i = 0; i < IMT; i++)
#pragma unroll
          for (int j = 0; j < 4; j++) mma_s8_k16(d[i][j], a[i][0], a[i][1], b[j]);
      }
      float ra[IMT][2], na[IMT][2], rb[4][2];
#pragma unroll
      for (int i = 0; i < IMT; i++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
          const float2 v = *reinterpret_cast<const float2 *>(&sm.sa[stage][blk][2 * (wm * (16 * IMT) + i * 16 + g + 8 * h)]);
          ra[i][h] = v.x;
          na[i][h] = v.y;
        }
#pragma unroll
      for (int j = 0; j < 4; j++) {
        rb[j][0] = sm.sb[stage][blk][wn * 32 + j * 8 + 2 * t];
        rb[j][1] = sm.sb[stage][blk][wn * 32 + j * 8 + 2 * t + 1];
      }
      // isum * s_a as one fmaf of the biased sum's bits: (isum + 1.5 * 2^23) *
      // s_a - 1.5 * 2^23 * s_a, where 1.5 * 2^23 * s_a is exact (s_a is 0,
      // NaN or has at most 4 significant bits in [2^-74, 2^57]) and so is the
      // result (see above): the product of the unbiased sum, one instruction
      // fewer an accumulator. (A zero s_a gives +0 where the product may be
      // -0: acc starts at +0 and a sum that rounds to zero is +0, so acc
      // never holds -0 and adding either zero leaves it unchanged.) na, the
      // -1.5 * 2^23 * s_a term, was computed by the expansion kernel.
#pragma unroll
      for (int i = 0; i < IMT; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
          for (int e = 0; e < 4; e++) {
            const float f = __fmaf_rn(__int_as_float(d[i][j][e]), ra[i][e >> 1], na[i][e >> 1]);
            acc[i][j][e] = __fmaf_rn(f, rb[j][e & 1], acc[i][j][e]);
          }
    }
  }
  cp_wait<0>();

  load_scalars(p.out);
  const alpha_rows alpha_t = alpha_of(p.out.alpha, p.a, p.b);
#pragma unroll
  for (int i = 0; i < IMT; i++)
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int64_t m = m0 + wm * (16 * IMT) + i * 16 + g + (e >> 1) * 8;
        const int64_t n = n0 + wn * 32 + j * 8 + 2 * t + (e & 1);
        if (m < p.M && n < p.N) store(p.out, alpha_t(m, n), m, n, acc[i][j][e]);
      }
}

mxb_status_t int8_init() {
  cudaError_t e = cudaFuncSetAttribute(int8_kernel<16>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       (int)sizeof(int8_smem<16>));
  if (e == cudaSuccess)
    e = cudaFuncSetAttribute(int8_kernel<32>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             (int)sizeof(int8_smem<32>));
  return cuda_status(e, "cudaFuncSetAttribute(gemm int8 kernel)");
}

mxb_status_t run_int8(const mxb_context *ctx, const problem &p, void *ws, cudaStream_t st) {
  const int8_layout l = int8_plan(p);
  char *w = static_cast<char *>(ws);
  int *flag = reinterpret_cast<int *>(w + l.flag_off);
  int8_t *A8 = reinterpret_cast<int8_t *>(w + l.a_off), *B8 = reinterpret_cast<int8_t *>(w + l.b_off);
  float *sAT = reinterpret_cast<float *>(w + l.sa_off), *sBT = reinterpret_cast<float *>(w + l.sb_off);
  MXB_TRY(cuda_status(cudaMemsetAsync(flag, 0, sizeof(int), st), "cudaMemsetAsync(gemm flag)"));
  expand_fp4_kernel<<<grid_for(ctx, l.Mp * (l.Kp / 16), 256), 256, 0, st>>>(p.a, p.L, l.Mp, l.Kp, A8, sAT, flag, true);
  MXB_TRY(launch_status("gemm fp4 expand kernel"));
  expand_fp4_kernel<<<grid_for(ctx, l.Np * (l.Kp / 16), 256), 256, 0, st>>>(p.b, p.L, l.Np, l.Kp, B8, sBT, flag, false);
  MXB_TRY(launch_status("gemm fp4 expand kernel"));
  dim3 grid((unsigned)(l.Np / IBN), (unsigned)(l.Mp / IBM));
  if (p.L == 16)
    int8_kernel<16><<<grid, ITHREADS, sizeof(int8_smem<16>), st>>>(A8, B8, sAT, sBT, l.Mp, l.Np, l.Kp, p, flag);
  else
    int8_kernel<32><<<grid, ITHREADS, sizeof(int8_smem<32>), st>>>(A8, B8, sAT, sBT, l.Mp, l.Np, l.Kp, p, flag);
  MXB_TRY(launch_status("gemm int8 kernel"));
  // Scales outside the proven range: the generic path computes this call.
  return run_generic(ctx, p, flag, st);
}

}  // namespace gemm
}  // namespace mxb
