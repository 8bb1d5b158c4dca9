// Fast mode on Blackwell (compute capability 10.x) through cuBLASLt's 1D
// block-scaled modes: NVFP4 x NVFP4 (E2M1 data, VEC16_UE4M3 scales) and
// MXFP8 x MXFP8 (E4M3/E5M2 data, VEC32_UE8M0 scales). The operands go to
// cuBLASLt as they are stored: the swizzled scale layout (NUMERICS 4.1) is
// the 128x4-tile layout cuBLASLt reads, so nothing is copied. The NVFP4
// tensor scales (amax / 2688) are folded into a device-side alpha, as on the
// dequantize path, so the call never synchronises with the host.
//
// Host code only: it compiles into every
// CUDA build whatever the gencode, and the dispatch sends nothing here unless
// the device reports compute capability 10.x.
#include <cublasLt.h>

#include "cuda/gemm_common.cuh"

namespace mxb {
namespace gemm {

static bool is_mxfp8(int f) { return f == MXB_FORMAT_MXFP8_E4M3 || f == MXB_FORMAT_MXFP8_E5M2; }

bool blockscaled_ok(const mxb_context *ctx, const problem &p) {
  if (ctx->cc_major != 10) return false;
  const int fa = p.a.format, fb = p.b.format;
  const bool nv = fa == MXB_FORMAT_NVFP4 && fb == MXB_FORMAT_NVFP4;
  // E5M2 x E5M2 is the one FP8 pair cuBLASLt has no kernel for.
  const bool mx = is_mxfp8(fa) && is_mxfp8(fb) && !(fa == MXB_FORMAT_MXFP8_E5M2 && fb == MXB_FORMAT_MXFP8_E5M2);
  if (!nv && !mx) return false;
  if (!p.a.swizzled || !p.b.swizzled) return false;
  // K a whole number of 128x4 scale tiles (64 NVFP4 / 128 MXFP8 elements):
  // cuBLASLt then never reads the tiles' padding columns, and every row
  // starts 16-byte aligned, as its FP4/FP8 kernels require.
  if (p.K % (nv ? 64 : 128)) return false;
  return p.align.data >= 16 && p.align.scales >= 16;
}

// alpha * (tsA * tsB) and beta as device scalars (lt_scalars) where a
// tensor scale or pointer mode asks for them.
static bool needs_scalars(const problem &p) { return has_tensor_scale(p.a) || dev_scalars(p.out); }

size_t blockscaled_workspace(const problem &p) {
  return lt_workspace_bytes() + (needs_scalars(p) ? align256((size_t)(p.N + 1) * 4) : 0);
}

static lt_operand blockscaled_operand(const mxb_tensor_t *t, const operand &o, int64_t K) {
  const bool fp4 = o.format == MXB_FORMAT_NVFP4;
  lt_operand l;
  l.ptr = t->data;
  l.dtype = fp4 ? CUDA_R_4F_E2M1 : o.elem == MXB_ELEM_E5M2 ? CUDA_R_8F_E5M2 : CUDA_R_8F_E4M3;
  l.ld = K;  // elements
  l.scale_mode = fp4 ? CUBLASLT_MATMUL_MATRIX_SCALE_VEC16_UE4M3 : CUBLASLT_MATMUL_MATRIX_SCALE_VEC32_UE8M0;
  l.scale = t->scales;
  return l;
}

mxb_status_t run_blockscaled(mxb_context *ctx, const problem &p, const mxb_tensor_t *A, const mxb_tensor_t *B,
                             void *ws, cudaStream_t st) {
  const lt_operand a = blockscaled_operand(A, p.a, p.K), b = blockscaled_operand(B, p.b, p.K);
  // NVFP4: both operands carry an amax
  float *alpha_dev =
      needs_scalars(p) ? reinterpret_cast<float *>(static_cast<char *>(ws) + lt_workspace_bytes()) : nullptr;
  MXB_TRY(lt_matmul_ready(ctx, p, a, b, alpha_dev, lt_workspace_bytes()));  // before any kernel runs
  if (alpha_dev) MXB_TRY(lt_scalars(ctx, p, true, alpha_dev, st));
  return lt_matmul(ctx, p, a, b, alpha_dev, ws, lt_workspace_bytes(), st);
}

}  // namespace gemm
}  // namespace mxb
