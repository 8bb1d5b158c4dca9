// CUDA GEMM dispatch: picks the path from the formats, the shape, the mode
// and the device (never from data), sizes its workspace and runs it.
//
//   exact mode  NVFP4 x NVFP4, MXFP4 x MXFP4     cuda-exact-int8-mma
//               every other pair                 cuda-exact-generic
//   fast mode   NVFP4 x NVFP4, swizzled, cc 10.x cuda-fast-cublaslt-nvfp4-sm100
//               MXFP8 x MXFP8, swizzled, cc 10.x cuda-fast-cublaslt-mxfp8-sm100
//               MXFP8 x MXFP8, cc 9.0, K % 16,   cuda-fast-sm90-mx-fp8-wgmma
//                 M or N <= 128
//               BF16 x BF16                      cuda-fast-cublaslt-bf16
//               FP8 per tensor (not E5M2 x E5M2) cuda-fast-cublaslt-fp8
//               FP8 E4M3 1x128 / 128x128 blocks  cuda-fast-cublaslt-fp8
//               BF16 x 4-bit weights, M <= 16    cuda-fast-decode-m16 (K % 64 == 0)
//               NVFP4, MX, BDR, BF16, other FP8  cuda-fast-dequant-cublaslt-bf16
//               the rest (FP32, MoR)             cuda-exact-generic
#include "core/gemm.h"
#include "core/tensor.h"
#include "cuda/gemm.h"
#include "cuda/gemm_common.cuh"

namespace mxb {
namespace gemm {

enum path_t { P_NONE, P_GENERIC, P_INT8, P_DEQUANT, P_DECODE, P_LT_BF16, P_LT_FP8, P_LT_NVFP4, P_LT_MXFP8, P_SM90_MX };

static const char *path_name(path_t p) {
  switch (p) {
    case P_GENERIC: return "cuda-exact-generic";
    case P_INT8: return "cuda-exact-int8-mma";
    case P_DEQUANT: return "cuda-fast-dequant-cublaslt-bf16";
    case P_DECODE: return "cuda-fast-decode-m16";
    case P_LT_BF16: return "cuda-fast-cublaslt-bf16";
    case P_LT_FP8: return "cuda-fast-cublaslt-fp8";
    case P_LT_NVFP4: return "cuda-fast-cublaslt-nvfp4-sm100";
    case P_LT_MXFP8: return "cuda-fast-cublaslt-mxfp8-sm100";
    case P_SM90_MX: return "cuda-fast-sm90-mx-fp8-wgmma";
    default: return "cuda-none";
  }
}

operand make_operand(const mxb_tensor_t *t) {
  operand o;
  memset(&o, 0, sizeof(o));
  const mxb_format_desc *d = mxb_format_desc_get(t->format);
  mxb_tensor_sizes_t s;
  mxb_compute_sizes(t->format, t->rows, t->cols, t->scale_layout, &s);
  o.data = static_cast<const uint8_t *>(t->data);
  o.scales = static_cast<const uint8_t *>(t->scales);
  o.aux = static_cast<const uint8_t *>(t->aux);
  o.amax = t->amax;
  o.rows = t->rows;
  o.cols = t->cols;
  o.row_bytes = (int64_t)s.row_bytes;
  o.scale_cols = s.scale_cols;
  o.elem = d->elem;
  o.elem_bits = d->elem_bits;
  o.block_rows = d->block_rows;
  o.block_cols = d->block_cols;
  o.scale_type = d->scale_type;
  o.bdr_m = d->bdr_m;
  o.swizzled = t->scale_layout == MXB_SCALE_LAYOUT_SWIZZLED;
  o.format = t->format;
  o.fp = d->elem == MXB_ELEM_MIXED ? mxb_fp_e4m3() : mxb_fp_from_desc(mxb_elem_desc_get(d->elem));
  return o;
}

static bool is_fp8_tensor(int f) { return f == MXB_FORMAT_FP8_E4M3_TENSOR || f == MXB_FORMAT_FP8_E5M2_TENSOR; }
// The block-scaled FP8 pairs cuBLASLt runs on Hopper: E4M3 only, not both 128x128.
static bool lt_fp8_blocks(int fa, int fb) {
  const bool a1 = fa == MXB_FORMAT_FP8_E4M3_1x128, a2 = fa == MXB_FORMAT_FP8_E4M3_128x128;
  const bool b1 = fb == MXB_FORMAT_FP8_E4M3_1x128, b2 = fb == MXB_FORMAT_FP8_E4M3_128x128;
  return (a1 || a2) && (b1 || b2) && !(a2 && b2);
}
static bool is_fp4(int f) { return f == MXB_FORMAT_NVFP4 || f == MXB_FORMAT_MXFP4; }
// Formats the dequantize path takes: BF16 holds their decoded values exactly
// (within scale limits the dequantization checks), except FP8 with fp32
// block scales, whose values it rounds (within the FP8 bound).
static bool bf16_dequant(int f) {
  const mxb_format_desc *d = mxb_format_desc_get((mxb_format_t)f);
  return f == MXB_FORMAT_BF16 || d->scale_type == MXB_SCALE_UE4M3 || d->scale_type == MXB_SCALE_E8M0 ||
         d->scale_type == MXB_SCALE_BDR || (d->scale_type == MXB_SCALE_FP32 && d->elem != MXB_ELEM_MIXED);
}

static problem make_problem(const mxb_gemm_desc_t *desc, const mxb_tensor_t *A, const mxb_tensor_t *B, void *C,
                            int64_t ldc);

static path_t choose(const mxb_context *ctx, const mxb_gemm_desc_t *desc, const mxb_tensor_t *A,
                     const mxb_tensor_t *B) {
  const int fa = A->format, fb = B->format;
  const int64_t M = A->rows, K = A->cols;
  if (K == 0) return P_GENERIC;
  if (desc->mode == MXB_GEMM_EXACT) return (fa == fb && is_fp4(fa)) ? P_INT8 : P_GENERIC;
  if (blockscaled_ok(ctx, A, B)) return fa == MXB_FORMAT_NVFP4 ? P_LT_NVFP4 : P_LT_MXFP8;
  if (sm90_mx_fp8_applies(ctx, make_problem(desc, A, B, nullptr, 0))) return P_SM90_MX;
  if (fa == MXB_FORMAT_BF16 && fb == MXB_FORMAT_BF16) return P_LT_BF16;
  if (is_fp8_tensor(fa) && is_fp8_tensor(fb) && K % 16 == 0 &&
      !(fa == MXB_FORMAT_FP8_E5M2_TENSOR && fb == MXB_FORMAT_FP8_E5M2_TENSOR) && ctx->cc_major >= 9)
    return P_LT_FP8;
  if (lt_fp8_blocks(fa, fb) && K % 16 == 0 && ctx->cc_major == 9) return P_LT_FP8;
  // Decode kernel: 16-byte loads of A and B rows, 2-byte loads of NVFP4 scales.
  if (M <= 16 && fa == MXB_FORMAT_BF16 && is_fp4(fb) && K % 64 == 0 && aligned16(B->data) &&
      aligned16(A->data) && (fb == MXB_FORMAT_MXFP4 || ((uintptr_t)B->scales & 1u) == 0) &&
      B->scale_layout == MXB_SCALE_LAYOUT_LINEAR)
    return P_DECODE;
  if (bf16_dequant(fa) && bf16_dequant(fb)) return P_DEQUANT;
  return P_GENERIC;
}

static problem make_problem(const mxb_gemm_desc_t *desc, const mxb_tensor_t *A, const mxb_tensor_t *B, void *C,
                            int64_t ldc) {
  problem p;
  p.a = make_operand(A);
  p.b = make_operand(B);
  p.M = A->rows;
  p.N = B->rows;
  p.K = A->cols;
  p.L = mxb_gemm_k_block(mxb_format_desc_get(A->format), mxb_format_desc_get(B->format));
  p.out.c = C;
  p.out.c_in = C;
  p.out.ldc = ldc;
  p.out.bf16 = desc->c_type == MXB_DTYPE_BF16;
  p.out.alpha = desc->alpha;
  p.out.beta = desc->beta;
  return p;
}

static size_t workspace_for(const mxb_context *ctx, path_t path, const problem &p) {
  switch (path) {
    case P_INT8: return int8_workspace(p);
    case P_DEQUANT: return dequant_workspace(p);
    case P_DECODE: return decode_workspace(ctx, p);
    case P_LT_BF16: return lt_native_workspace(p);
    case P_LT_FP8:
    case P_LT_NVFP4:
    case P_LT_MXFP8: {  // block-scaled operands fall back to the dequantize path where cuBLASLt has no algorithm
      const size_t lt = path == P_LT_FP8 ? lt_native_workspace(p) : blockscaled_workspace(p);
      const size_t dq = p.a.block_cols ? dequant_workspace(p) : 0;
      return lt > dq ? lt : dq;
    }
    default: return 0;
  }
}

static mxb_status_t check_arch(const mxb_context *ctx) {
  // Kernels are built for sm_90a and as compute_80 PTX (mma.sync, ldmatrix, cp.async).
  if (ctx->cc_major < 8)
    return mxb_fail(MXB_ERR_ARCH_UNSUPPORTED,
                    "the CUDA GEMM needs compute capability 8.0 or newer (device %d has %d.%d)", ctx->device,
                    ctx->cc_major, ctx->cc_minor);
  return MXB_SUCCESS;
}

}  // namespace gemm
}  // namespace mxb

using namespace mxb;
using namespace mxb::gemm;

// The paths lay their scratch out on 256-byte boundaries (cuBLASLt requires
// a 256-byte aligned workspace) while callers only promise
// MXB_WORKSPACE_ALIGNMENT: the query adds the slack to reach the first
// 256-byte boundary, where the call starts.
constexpr size_t WS_ALIGN = 256;
static size_t with_slack(size_t need) { return need ? need + WS_ALIGN - MXB_WORKSPACE_ALIGNMENT : 0; }

extern "C" mxb_status_t mxb_cuda_gemm_workspace_size(struct mxb_context *ctx, const mxb_gemm_desc_t *desc,
                                                     const mxb_tensor_t *A, const mxb_tensor_t *B, size_t *bytes) {
  MXB_TRY(check_arch(ctx));
  const int64_t ldc = desc->ldc ? desc->ldc : B->rows;
  const problem p = make_problem(desc, A, B, nullptr, ldc);
  *bytes = (p.M == 0 || p.N == 0) ? 0 : with_slack(workspace_for(ctx, choose(ctx, desc, A, B), p));
  return MXB_SUCCESS;
}

extern "C" mxb_status_t mxb_cuda_gemm(struct mxb_context *ctx, const mxb_gemm_desc_t *desc, const mxb_tensor_t *A,
                                      const mxb_tensor_t *B, void *C, int64_t ldc, void *workspace,
                                      size_t workspace_bytes, void *stream) {
  MXB_TRY(check_arch(ctx));
  const path_t path = choose(ctx, desc, A, B);
  problem p = make_problem(desc, A, B, C, ldc);
  if (p.M == 0 || p.N == 0) {
    mxb_set_last_impl(ctx, path_name(path));
    return MXB_SUCCESS;
  }
  // The caller's workspace passed mxb_check_workspace against with_slack(need).
  const size_t need = workspace_for(ctx, path, p);
  if (need > 0) {
    const size_t skip = (WS_ALIGN - (uintptr_t)workspace % WS_ALIGN) % WS_ALIGN;
    workspace = static_cast<char *>(workspace) + skip;
    workspace_bytes -= skip;
  }
  const cudaStream_t st = as_stream(stream);
  mxb_status_t s;
  path_t ran = path;
  switch (path) {
    case P_INT8: s = run_int8(ctx, p, workspace, st); break;
    case P_DEQUANT: s = run_dequant(ctx, p, workspace, workspace_bytes, st); break;
    case P_DECODE: s = run_decode(ctx, p, workspace, st); break;
    case P_SM90_MX: s = run_sm90_mx_fp8(ctx, p, st); break;
    case P_LT_BF16:
    case P_LT_FP8:
    case P_LT_NVFP4:
    case P_LT_MXFP8:
      s = path == P_LT_NVFP4 || path == P_LT_MXFP8 ? run_blockscaled(ctx, p, A, B, workspace, st)
                                                   : run_lt_native(ctx, p, A, B, workspace, workspace_bytes, st);
      if (s == MXB_ERR_UNSUPPORTED) {  // no cuBLASLt algorithm for this shape or pair
        mxb_clear_error();
        if (p.a.block_cols) {
          ran = P_DEQUANT;
          s = run_dequant(ctx, p, workspace, workspace_bytes, st);
        } else {
          ran = P_GENERIC;
          s = run_generic(ctx, p, nullptr, st);
        }
      }
      break;
    default: s = run_generic(ctx, p, nullptr, st); break;
  }
  if (s == MXB_SUCCESS) mxb_set_last_impl(ctx, path_name(ran));
  return s;
}
