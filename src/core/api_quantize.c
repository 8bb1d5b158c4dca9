/* mxb_quantize, mxb_quantize_workspace_size, mxb_dequantize, mxb_amax:
 * backend-neutral validation, then dispatch to the backend. */
#include "core/context.h"
#include "core/error.h"
#include "core/tensor.h"
#include "cpu/cpu_ops.h"
#include "cuda/cuda_ops.h"

/* Everything mxb_quantize checks except src, before anything is written. */
static mxb_status_t check_quantize(mxb_context_t *ctx, const mxb_quant_config_t *cfg, mxb_dtype_t src_type,
                                   const mxb_tensor_t *dst, mxb_tensor_sizes_t *sz) {
  const mxb_format_desc *d = NULL;
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!cfg) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg is NULL");
  if (mxb_dtype_size(src_type) == 0)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "src_type %d is not a valid mxb_dtype_t", (int)src_type);
  MXB_TRY(mxb_check_tensor(dst, "dst", sz, &d));
  MXB_TRY(mxb_check_quant_config(cfg, d, dst->cols));
  /* The caller's amax is host memory only on the CPU backend. */
  if (ctx->backend == MXB_BACKEND_CPU && d->has_amax && cfg->amax_source == MXB_AMAX_FROM_TENSOR &&
      !(*dst->amax >= 0.0f))
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "*dst->amax (%g) must be a non-negative number (or +Inf)",
                    (double)*dst->amax);
  return MXB_SUCCESS;
}

/* Workspace bytes of a validated quantization on ctx's backend. */
static size_t quantize_workspace(const mxb_context_t *ctx, const mxb_quant_config_t *cfg, mxb_dtype_t src_type,
                                 const mxb_tensor_t *dst) {
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA) return mxb_cuda_quantize_workspace(cfg, src_type, dst);
#else
  (void)ctx;
  (void)cfg;
  (void)src_type;
  (void)dst;
#endif
  return 0; /* the CPU reference keeps its row buffers to itself */
}

MXB_API mxb_status_t mxb_quantize_workspace_size(mxb_context_t *ctx, const mxb_quant_config_t *cfg,
                                                 mxb_dtype_t src_type, const mxb_tensor_t *dst, size_t *bytes) {
  mxb_clear_error();
  if (!bytes) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "bytes is NULL");
  mxb_tensor_sizes_t sz;
  MXB_TRY(check_quantize(ctx, cfg, src_type, dst, &sz));
  *bytes = quantize_workspace(ctx, cfg, src_type, dst);
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_quantize(mxb_context_t *ctx, const mxb_quant_config_t *cfg, mxb_dtype_t src_type,
                                  const void *src, mxb_tensor_t *dst, void *workspace, size_t workspace_bytes,
                                  void *stream) {
  (void)stream;
  mxb_clear_error();
  mxb_tensor_sizes_t sz;
  MXB_TRY(check_quantize(ctx, cfg, src_type, dst, &sz));
  MXB_TRY(mxb_check_plain(src, "src", src_type, dst->rows, dst->cols));
  MXB_TRY(mxb_check_workspace(workspace, workspace_bytes, quantize_workspace(ctx, cfg, src_type, dst),
                              "mxb_quantize_workspace_size"));
  if (ctx->backend == MXB_BACKEND_CUDA) {
#ifdef MXB_WITH_CUDA
    return mxb_cuda_quantize(ctx, cfg, src_type, src, dst, workspace, workspace_bytes, stream);
#else
    return mxb_fail(MXB_ERR_NOT_BUILT_WITH_CUDA, "the library was built without CUDA");
#endif
  }
  MXB_TRY(mxb_cpu_quantize(cfg, src_type, src, dst, &sz));
  dst->flags = (cfg->block_2d ? MXB_TENSOR_SCALED_2D : 0u) | (cfg->rht.enabled ? MXB_TENSOR_RHT : 0u);
  mxb_set_last_impl(ctx, "cpu-reference");
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_dequantize(mxb_context_t *ctx, const mxb_tensor_t *src, mxb_dtype_t dst_type, void *dst,
                                    void *stream) {
  (void)stream;
  mxb_clear_error();
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  const mxb_format_desc *d = NULL;
  MXB_TRY(mxb_check_tensor(src, "src", NULL, &d));
  if (d->format == MXB_FORMAT_FP32)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "fp32 is a plain GEMM operand, there is nothing to dequantize");
  MXB_TRY(mxb_check_plain(dst, "dst", dst_type, src->rows, src->cols));
  if (ctx->backend == MXB_BACKEND_CUDA) {
#ifdef MXB_WITH_CUDA
    return mxb_cuda_dequantize(ctx, src, dst_type, dst, stream);
#else
    return mxb_fail(MXB_ERR_NOT_BUILT_WITH_CUDA, "the library was built without CUDA");
#endif
  }
  MXB_TRY(mxb_cpu_dequantize(src, dst_type, dst));
  mxb_set_last_impl(ctx, "cpu-reference");
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_amax(mxb_context_t *ctx, mxb_dtype_t type, const void *x, int64_t n, float *amax,
                              void *stream) {
  (void)stream;
  mxb_clear_error();
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!amax) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "amax is NULL");
  if (!x) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "x is NULL");
  if (mxb_dtype_size(type) == 0) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "type %d is not a valid mxb_dtype_t", (int)type);
  if (n <= 0 || n > MXB_MAX_ELEMS)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "n (%lld) must be in [1, 2^40]", (long long)n);
  MXB_TRY(mxb_check_aligned(x, mxb_dtype_size(type), "x"));
  MXB_TRY(mxb_check_aligned(amax, sizeof(float), "amax"));
  if (ctx->backend == MXB_BACKEND_CUDA) {
#ifdef MXB_WITH_CUDA
    return mxb_cuda_amax(ctx, type, x, n, amax, stream);
#else
    return mxb_fail(MXB_ERR_NOT_BUILT_WITH_CUDA, "the library was built without CUDA");
#endif
  }
  *amax = mxb_cpu_amax(type, x, n);
  mxb_set_last_impl(ctx, "cpu-reference");
  return MXB_SUCCESS;
}
