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

#include "cuda/gemm_common.cuh"

namespace mxb {
namespace gemm {

struct dq_layout {
  int64_t Kld;  // K rounded up to 8 elements (16-byte rows for cuBLASLt)
  size_t flag_off, alpha_off, a_off, b_off, c_off, lt_off, total;
};

static dq_layout dq_plan(const problem &p) {
  dq_layout l;
  l.Kld = (p.K + 7) / 8 * 8;
  l.flag_off = 0;
  l.alpha_off = 256;
  l.a_off = l.alpha_off + align256((size_t)(p.N + 1) * 4);
  l.b_off = l.a_off + align256((size_t)(p.M * l.Kld) * 2);
  l.c_off = l.b_off + align256((size_t)(p.N * l.Kld) * 2);
  size_t c_bytes = p.out.beta != 0.0f ? (size_t)((p.M - 1) * p.out.ldc + p.N) * (p.out.bf16 ? 2 : 4) : 0;
  l.lt_off = l.c_off + align256(c_bytes);
  l.total = l.lt_off + lt_workspace_bytes();
  return l;
}

size_t dequant_workspace(const problem &p) { return dq_plan(p).total; }

// 8 consecutive elements per thread, one 16-byte store.
__global__ void dequant_bf16_kernel(operand o, int64_t Kld, uint16_t *out, int *flag) {
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
    if (inexact) atomicOr(flag, 1);
    *reinterpret_cast<uint4 *>(out + r * Kld + k0) = make_uint4(w[0], w[1], w[2], w[3]);
  }
}

// alpha * (tsA * tsB) for every output column (cuBLASLt's per-row alpha of
// D^T), then beta.
__global__ void alpha_kernel(operand a, operand b, float alpha, float beta, int64_t n, float *out) {
  const float v = mxb_gemm_alpha_t(alpha, tensor_scale(a), tensor_scale(b));
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i <= n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = i < n ? v : beta;
}

// Saves C before cuBLASLt overwrites it, only when the fallback will need it.
__global__ void save_c_kernel(const int *flag, const uint8_t *c, uint8_t *copy, size_t bytes) {
  if (*flag == 0) return;
  for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < bytes; i += (size_t)gridDim.x * blockDim.x)
    copy[i] = c[i];
}

mxb_status_t run_dequant(mxb_context *ctx, const problem &p, void *ws, size_t ws_bytes, cudaStream_t st) {
  (void)ws_bytes;
  const dq_layout l = dq_plan(p);
  char *w = static_cast<char *>(ws);
  int *flag = reinterpret_cast<int *>(w + l.flag_off);
  float *alpha_vec = reinterpret_cast<float *>(w + l.alpha_off);
  uint16_t *A16 = reinterpret_cast<uint16_t *>(w + l.a_off), *B16 = reinterpret_cast<uint16_t *>(w + l.b_off);
  MXB_TRY(cuda_status(cudaMemsetAsync(flag, 0, sizeof(int), st), "cudaMemsetAsync(gemm flag)"));
  dequant_bf16_kernel<<<grid_for(ctx, p.M * (l.Kld / 8), 256), 256, 0, st>>>(p.a, l.Kld, A16, flag);
  MXB_TRY(launch_status("gemm dequant kernel"));
  dequant_bf16_kernel<<<grid_for(ctx, p.N * (l.Kld / 8), 256), 256, 0, st>>>(p.b, l.Kld, B16, flag);
  MXB_TRY(launch_status("gemm dequant kernel"));
  const bool tensor_scaled = p.a.format == MXB_FORMAT_NVFP4 || p.b.format == MXB_FORMAT_NVFP4;
  if (tensor_scaled) {
    alpha_kernel<<<grid_for(ctx, p.N + 1, 256), 256, 0, st>>>(p.a, p.b, p.out.alpha, p.out.beta, p.N, alpha_vec);
    MXB_TRY(launch_status("gemm alpha kernel"));
  }
  problem fb = p;
  if (p.out.beta != 0.0f) {
    const size_t bytes = (size_t)((p.M - 1) * p.out.ldc + p.N) * (p.out.bf16 ? 2 : 4);
    save_c_kernel<<<grid_for(ctx, (int64_t)bytes, 256), 256, 0, st>>>(flag, static_cast<const uint8_t *>(p.out.c),
                                                                       reinterpret_cast<uint8_t *>(w + l.c_off), bytes);
    MXB_TRY(launch_status("gemm save-C kernel"));
    fb.out.c_in = w + l.c_off;
  }
  lt_operand a = {A16, CUDA_R_16BF, l.Kld, -1, nullptr}, b = {B16, CUDA_R_16BF, l.Kld, -1, nullptr};
  MXB_TRY(lt_matmul(ctx, p, a, b, tensor_scaled ? alpha_vec : nullptr, w + l.lt_off, lt_workspace_bytes(), st));
  return run_generic(ctx, fb, flag, st);
}

}  // namespace gemm
}  // namespace mxb
