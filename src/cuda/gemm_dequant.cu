// Fast mode by exact dequantization: both operands are decoded to BF16 in the
// workspace (element times block scale; tensor scales left out), then one
// cuBLASLt BF16 GEMM with fp32 accumulation, the tensor scales folded into a
// device-side alpha (no host synchronisation).
//
// Every decoded product is exact in BF16 when the value fits: E2M1 x UE4M3
// always does; MX elements x 2^k, BDR elements and BF16 do unless a block
// scale is extreme (beyond about 2^+-120). The dequantization checks every
// value; if one is not exactly representable it raises a device flag and the
// generic exact path recomputes the call from a saved copy of C, so the
// result always stays within the documented bound.
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>

#include "cuda/gemm_common.cuh"
#include "cuda/qcommon.cuh"

namespace mxb {
namespace gemm {

struct dq_layout {
  int64_t Kld;  // K rounded up to 16 elements (whole 16-byte vectors per row)
  size_t flag_off, alpha_off, a_off, b_off, c_off, lt_off, total;
};

static dq_layout dq_plan(const problem &p) {
  dq_layout l;
  l.Kld = (p.K + 15) / 16 * 16;
  l.flag_off = 0;
  l.alpha_off = 256;
  l.a_off = l.alpha_off + align256((size_t)(p.N + 1) * 4);
  l.b_off = l.a_off + align256((size_t)(p.M * l.Kld) * 2);
  l.c_off = l.b_off + align256((size_t)(p.N * l.Kld) * 2);
  l.lt_off = l.c_off + align256(saved_c_bytes(p));
  l.total = l.lt_off + lt_workspace_bytes();
  return l;
}

size_t dequant_workspace(const problem &p) { return dq_plan(p).total; }

// 8 consecutive elements per thread, one 16-byte store.
__global__ void dequant_bf16_kernel(operand o, int64_t Kld, uint16_t *out, int *flag) {
  pdl_launch_dependents();  // the GEMM kernel may start its setup
  const int64_t groups = Kld / 8, n = o.rows * groups;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t r = i / groups, k0 = i % groups * 8;
    uint32_t w[4] = {0, 0, 0, 0};
    bool inexact = false;
#pragma unroll
    for (int j = 0; j < 8; j++) {
      if (k0 + j >= o.cols) break;
      const double v = decoded(o, r, k0 + j);
      const float f = __double2float_rn(v);
      const uint16_t h = mxb_bf16_rne(f);
      if (v == v && (double)mxb_bf16_decode(h) != v) inexact = true;
      w[j / 2] |= (uint32_t)h << (16 * (j % 2));
    }
    if (inexact && !(o.scale_type == MXB_SCALE_FP32 && o.block_cols)) atomicOr(flag, 1);
    *reinterpret_cast<uint4 *>(out + r * Kld + k0) = make_uint4(w[0], w[1], w[2], w[3]);
  }
}

// Scale bytes s for which every finite element value times the decoded scale
// is exact in fp32 and a normal (or zero) BF16 value: bit s % 32 of word
// s / 32. Decided on the host from the format's decoders, so the kernel needs
// no per-element test in blocks with such a scale (all but extreme or NaN
// scales).
struct exact_scales {
  uint32_t bits[8];
};

static exact_scales exact_scales_of(int elem, int scale_type) {
  const mxb_fp fp = mxb_elem_fp(elem);
  exact_scales e = {};
  for (int s = 0; s < 256; s++) {
    const double sc = scale_type == MXB_SCALE_UE4M3 ? (double)mxb_ue4m3_decode((uint8_t)s)
                                                    : (double)mxb_e8m0_decode((uint8_t)s);
    bool ok = sc == sc;
    for (uint32_t c = 0; ok && c < (1u << mxb_elem_bits(elem)); c++) {
      const double x = (double)mxb_fp_decode(&fp, c);
      if (!(x - x == 0.0)) continue;  // NaN and Inf codes are tested in the kernel
      const double v = x * sc;        // exact in binary64
      const float f = (float)v;
      ok = (double)f == v && (v == 0.0 || (fabs(v) >= 0x1p-126 && fabs(v) < 0x1p128)) &&
           (double)mxb_bf16_decode(mxb_bf16_rne(f)) == v;
    }
    if (ok) e.bits[s / 32] |= 1u << (s % 32);
  }
  return e;
}

// Once per process for every element type of 4 or 8 bits and both scale types.
static const exact_scales &exact_scales_for(const operand &o) {
  struct table {
    exact_scales t[MXB_ELEM_COUNT][2];
  };
  static const table all = [] {
    table x = {};
    for (int e = 0; e < MXB_ELEM_COUNT; e++)
      if (mxb_elem_bits(e) == 4 || mxb_elem_bits(e) == 8)
        for (int k = 0; k < 2; k++) x.t[e][k] = exact_scales_of(e, k ? MXB_SCALE_UE4M3 : MXB_SCALE_E8M0);
    return x;
  }();
  return all.t[o.elem][o.scale_type == MXB_SCALE_UE4M3];
}

// The common block-scaled operands (4- or 8-bit elements, one UE4M3 or E8M0
// scale a block: NVFP4, MXFP4, MXFP8, MXINT8) at memory bandwidth: a lane
// takes 16 elements, decodes them through a shared-memory table times the
// block scale and converts pairs by the hardware (exact there); each warp's
// 1 KB of output is stored as whole lines. Blocks whose scale is not in
// `ex`, and 8-bit runs holding a NaN or infinite code, take the per-element
// test (a value BF16 cannot hold exactly raises the flag) and the library's
// rounding, as the general kernel does: the same bits either way.
template <int BITS, bool NV>
__global__ void __launch_bounds__(256) dequant_blocks_kernel(operand o, exact_scales ex, int64_t Kld, uint16_t *out,
                                                             int *flag) {
  pdl_launch_dependents();  // the GEMM kernel may start its setup
  constexpr int CW = BITS / 2;  // code words of 16 elements
  __shared__ float lut[1 << BITS];
  __shared__ uint4 stage_all[256 * 2];
  for (int i = threadIdx.x; i < (1 << BITS); i += blockDim.x) lut[i] = mxb_fp_decode(&o.fp, (uint32_t)i);
  __syncthreads();
  uint4 *stage = stage_all + (threadIdx.x & ~31u) * 2;
  const int lane = threadIdx.x & 31, shift = mxb_block_shift(o.block_cols);
  const int64_t runs = Kld / 16, stride = (int64_t)gridDim.x * blockDim.x;
  bool inexact = false;
  for (int64_t r = blockIdx.y; r < o.rows; r += gridDim.y) {
    const uint8_t *row = o.data + r * o.row_bytes;
    uint4 *orow = reinterpret_cast<uint4 *>(out + r * Kld);
    // Whole warps walk the row together (the staged store needs every lane).
    for (int64_t g0 = blockIdx.x * (int64_t)blockDim.x + (threadIdx.x & ~31); g0 < runs; g0 += stride) {
      const int64_t g = g0 + lane;
      uint32_t u[16] = {};
      if (g < runs) {
        uint32_t w[CW];
        if (BITS == 4) {
          const uint2 q = __ldcs(reinterpret_cast<const uint2 *>(row + g * 8));
          w[0] = q.x, w[CW - 1] = q.y;
        } else {
          const uint4 q = __ldcs(reinterpret_cast<const uint4 *>(row + g * 16));
          w[0] = q.x, w[1 % CW] = q.y, w[2 % CW] = q.z, w[3 % CW] = q.w;
        }
        const uint32_t s = o.scales[mxb_scale_index(r, (g * 16) >> shift, o.scale_cols, o.swizzled)];
        const float sc = NV ? mxb_ue4m3_decode((uint8_t)s) : mxb_e8m0_decode((uint8_t)s);
        float v[16], chk = 0.0f;
#pragma unroll
        for (int k = 0; k < 16; k++) {
          const float e = lut[(w[k * BITS / 32] >> ((k * BITS) % 32)) & ((1u << BITS) - 1u)];
          v[k] = __fmul_rn(e, sc);
          if (BITS == 8) chk = __fmaf_rn(e, 0.0f, chk);  // NaN where a code is NaN or infinite
        }
        if ((ex.bits[s >> 5] >> (s & 31)) & 1u && chk == 0.0f) {
#pragma unroll
          for (int k = 0; k < 8; k++) u[k] = cvt16x2<MXB_DTYPE_BF16>(v[2 * k], v[2 * k + 1]);
        } else {
#pragma unroll
          for (int k = 0; k < 16; k++) {
            const float e = lut[(w[k * BITS / 32] >> ((k * BITS) % 32)) & ((1u << BITS) - 1u)];
            const uint32_t b = __float_as_uint(v[k]), a = b & 0x7FFFFFFFu;
            if (a < 0x7F800000u && ((b & 0xFFFFu) || (a < 0x00800000u && e != 0.0f && sc != 0.0f))) inexact = true;
            if (a == 0x7F800000u && isfinite(e) && isfinite(sc)) inexact = true;
            u[k / 2] |= (uint32_t)mxb_bf16_rne(v[k]) << (16 * (k % 2));
          }
        }
      }
      if (g0 + 31 < runs) {
        store_warp_run<2, false>(stage, orow + 2 * g0, u);
      } else if (g < runs) {
        orow[2 * g] = make_uint4(u[0], u[1], u[2], u[3]);
        orow[2 * g + 1] = make_uint4(u[4], u[5], u[6], u[7]);
      }
    }
  }
  if (inexact) atomicOr(flag, 1);
}

// The common operands (FP4 / 8-bit elements with UE4M3 or E8M0 scales, FP8
// with fp32 or UE8M0 scales, and BF16), 16 elements per thread: the block
// scale is decoded once per group, elements through a table, one fp32
// product each (exact unless it leaves the normal range, which is flagged
// along with any value BF16 cannot hold; FP8 with fp32 block scales is
// rounded instead).
template <int BITS>
__global__ void dequant_fast_kernel(operand o, int64_t Kld, uint16_t *out, int *flag) {
  pdl_launch_dependents();  // the GEMM kernel may start its setup
  __shared__ float lut[BITS == 16 ? 1 : 1 << BITS];
  if (BITS != 16)
    for (int i = threadIdx.x; i < (1 << BITS); i += blockDim.x) lut[i] = mxb_fp_decode(&o.fp, (uint32_t)i);
  __syncthreads();
  const int64_t groups = Kld / 16;
  const int shift = mxb_block_shift(o.block_cols);  // 63 for FP8 per tensor, which reads no block scale
  const int rshift = mxb_block_shift(o.block_rows);
  // FP8 with fp32 block scales: q * scale needs up to 28 bits and is rounded
  // to BF16 (within the FP8 bound of docs/GEMM.md); everything else must be exact.
  const bool round_ok = o.scale_type == MXB_SCALE_FP32 && o.block_cols != 0;
  bool inexact = false;
  for (int64_t r = blockIdx.y; r < o.rows; r += gridDim.y) {
    const uint8_t *row = o.data + r * o.row_bytes;
    for (int64_t g = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; g < groups; g += (int64_t)gridDim.x * blockDim.x) {
      const int64_t k0 = g * 16;
      uint32_t w[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      if (k0 < o.cols) {
        if (BITS == 16) {
          const uint4 *src = reinterpret_cast<const uint4 *>(row + 2 * k0);
          const uint4 x = __ldg(src), y = __ldg(src + 1);
          w[0] = x.x; w[1] = x.y; w[2] = x.z; w[3] = x.w; w[4] = y.x; w[5] = y.y; w[6] = y.z; w[7] = y.w;
        } else {
          float sc = 1.0f;  // FP8 per tensor: the scale is a tensor scale (alpha)
          if (mxb_fp8_scale_type(o.scale_type)) {
            if (o.block_cols)
              sc = mxb_fp8_scale_inv_load(o.scales, o.scale_type, mxb_block_index(r, k0, rshift, shift, o.scale_cols));
          } else {
            const uint8_t sb = o.scales[r * o.scale_cols + (k0 >> shift)];
            sc = o.scale_type == MXB_SCALE_UE4M3 ? mxb_ue4m3_decode(sb) : mxb_e8m0_decode(sb);
          }
          uint32_t cw[4];
          if (BITS == 4) {
            const uint2 x = __ldg(reinterpret_cast<const uint2 *>(row + k0 / 2));
            cw[0] = x.x; cw[1] = x.y;
          } else {
            const uint4 x = __ldg(reinterpret_cast<const uint4 *>(row + k0));
            cw[0] = x.x; cw[1] = x.y; cw[2] = x.z; cw[3] = x.w;
          }
#pragma unroll
          for (int j = 0; j < 16; j++) {
            if (k0 + j >= o.cols) break;
            const uint32_t c = (cw[j * BITS / 32] >> ((j * BITS) % 32)) & ((1u << BITS) - 1u);
            const float e = lut[c], v = e * sc;
            const uint32_t u = __float_as_uint(v), a = u & 0x7FFFFFFFu;
            if (a < 0x7F800000u && ((u & 0xFFFFu) || (a < 0x00800000u && e != 0.0f && sc != 0.0f))) inexact = true;
            if (a == 0x7F800000u && isfinite(e) && isfinite(sc)) inexact = true;
            w[j / 2] |= (uint32_t)mxb_bf16_rne(v) << (16 * (j % 2));
          }
        }
      }
      uint4 *dst = reinterpret_cast<uint4 *>(out + r * Kld + k0);
      dst[0] = make_uint4(w[0], w[1], w[2], w[3]);
      dst[1] = make_uint4(w[4], w[5], w[6], w[7]);
    }
  }
  if (inexact && !round_ok) atomicOr(flag, 1);
}

static bool blocks_dequant_ok(const operand &o) {
  return !((uintptr_t)o.data & 15u) && o.cols % 16 == 0 && o.block_rows == 1 && o.block_cols % 16 == 0 &&
         (o.elem_bits == 4 || o.elem_bits == 8) && (o.scale_type == MXB_SCALE_UE4M3 || o.scale_type == MXB_SCALE_E8M0);
}

bool bf16_holds_decoded(int format) {
  const int st = mxb_format_desc_get((mxb_format_t)format)->scale_type;
  return st == MXB_SCALE_UE4M3 || st == MXB_SCALE_E8M0 || st == MXB_SCALE_BDR;
}

static bool fast_dequant_ok(const operand &o) {
  if (((uintptr_t)o.data & 15u) || o.cols % 16) return false;
  if (o.elem == MXB_ELEM_BF16) return true;
  return (o.elem_bits == 4 || o.elem_bits == 8) && !o.swizzled &&
         (o.scale_type == MXB_SCALE_UE4M3 || o.scale_type == MXB_SCALE_E8M0 ||
          (mxb_fp8_scale_type(o.scale_type) && o.elem != MXB_ELEM_MIXED));
}

mxb_status_t dequant_bf16(const mxb_context *ctx, const operand &o, int64_t Kld, uint16_t *out, int *flag,
                          cudaStream_t st) {
  const int64_t want = (int64_t)(ctx->sm_count > 0 ? ctx->sm_count : 132) * 8;
  if (blocks_dequant_ok(o)) {  // a block of 256 lanes covers 4096 columns
    const int64_t xb = (Kld / 16 + 255) / 256, yb = std::min<int64_t>({std::max<int64_t>(want / xb, 1), o.rows, 65535});
    const dim3 grid((unsigned)xb, (unsigned)yb);
    const exact_scales &ex = exact_scales_for(o);
    const bool nv = o.scale_type == MXB_SCALE_UE4M3;
    if (o.elem_bits == 4) (nv ? dequant_blocks_kernel<4, true> : dequant_blocks_kernel<4, false>)<<<grid, 256, 0, st>>>(o, ex, Kld, out, flag);
    else dequant_blocks_kernel<8, false><<<grid, 256, 0, st>>>(o, ex, Kld, out, flag);
    return launch_status("gemm dequant kernel");
  }
  if (!fast_dequant_ok(o)) {
    dequant_bf16_kernel<<<grid_for(ctx, o.rows * (Kld / 8), 256), 256, 0, st>>>(o, Kld, out, flag);
    return launch_status("gemm dequant kernel");
  }
  const int64_t groups = Kld / 16, xb = (groups + 255) / 256;
  int64_t yb = want / xb < 1 ? 1 : want / xb;
  if (yb > o.rows) yb = o.rows;
  if (yb > 65535) yb = 65535;
  const dim3 grid((unsigned)xb, (unsigned)yb);
  if (o.elem == MXB_ELEM_BF16) dequant_fast_kernel<16><<<grid, 256, 0, st>>>(o, Kld, out, flag);
  else if (o.elem_bits == 4) dequant_fast_kernel<4><<<grid, 256, 0, st>>>(o, Kld, out, flag);
  else dequant_fast_kernel<8><<<grid, 256, 0, st>>>(o, Kld, out, flag);
  return launch_status("gemm dequant kernel");
}

// Saves C before the fast path overwrites it, only when the fallback will need it.
__global__ void save_c_kernel(const int *flag, const uint8_t *c, uint8_t *copy, size_t bytes) {
  if (*flag == 0) return;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < bytes; i += (size_t)gridDim.x * blockDim.x)
    copy[i] = c[i];
}

size_t saved_c_bytes(const problem &p) {
  return may_read_c(p.out) ? (size_t)((p.M - 1) * p.out.ldc + p.N) * (size_t)mxb_dtype_bytes(p.out.dtype) : 0;
}

mxb_status_t save_c_if_flagged(const mxb_context *ctx, const problem &p, const int *flag, void *copy,
                               problem *fallback, cudaStream_t st) {
  *fallback = p;
  const size_t bytes = saved_c_bytes(p);
  if (!bytes) return MXB_SUCCESS;
  save_c_kernel<<<grid_for(ctx, (int64_t)bytes, 256), 256, 0, st>>>(flag, static_cast<const uint8_t *>(p.out.c),
                                                                     static_cast<uint8_t *>(copy), bytes);
  fallback->out.c_in = copy;
  return launch_status("gemm save-C kernel");
}

mxb_status_t run_dequant(mxb_context *ctx, const problem &p, void *ws, size_t ws_bytes, cudaStream_t st) {
  (void)ws_bytes;
  const dq_layout l = dq_plan(p);
  char *w = static_cast<char *>(ws);
  int *flag = reinterpret_cast<int *>(w + l.flag_off);
  float *alpha_vec = reinterpret_cast<float *>(w + l.alpha_off);
  uint16_t *A16 = reinterpret_cast<uint16_t *>(w + l.a_off), *B16 = reinterpret_cast<uint16_t *>(w + l.b_off);
  const bool dev_alpha =  // alpha (and beta) from the device: tensor scales folded in, or pointer mode
      has_tensor_scale(p.a) || has_tensor_scale(p.b) || dev_scalars(p.out);
  const lt_operand a = {A16, CUDA_R_16BF, l.Kld, -1, nullptr}, b = {B16, CUDA_R_16BF, l.Kld, -1, nullptr};
  // cuBLASLt's plan before any kernel: where it has no algorithm (a bias
  // epilogue it refuses, say) the call fails before A and B are decoded,
  // and the caller's retry without it decodes them once.
  MXB_TRY(lt_matmul_ready(ctx, p, a, b, dev_alpha ? alpha_vec : nullptr, lt_workspace_bytes()));
  MXB_TRY(cuda_status(cudaMemsetAsync(flag, 0, sizeof(int), st), "cudaMemsetAsync(gemm flag)"));
  MXB_TRY(dequant_bf16(ctx, p.a, l.Kld, A16, flag, st));
  MXB_TRY(dequant_bf16(ctx, p.b, l.Kld, B16, flag, st));
  if (dev_alpha) MXB_TRY(lt_scalars(ctx, p, true, alpha_vec, st));
  problem fb;
  MXB_TRY(save_c_if_flagged(ctx, p, flag, w + l.c_off, &fb, st));
  MXB_TRY(lt_matmul(ctx, p, a, b, dev_alpha ? alpha_vec : nullptr, w + l.lt_off, lt_workspace_bytes(), st));
  return run_generic(ctx, fb, flag, st);
}

}  // namespace gemm
}  // namespace mxb
