/* Entry points of the CUDA backend for quantize, dequantize, amax, RHT,
 * transpose and MoR. Called from src/core/api_*.c after the shared
 * validation: arguments here are already checked. Every function is
 * stream-ordered, allocates nothing, never synchronises, and sets
 * ctx->last_impl on success. */
#ifndef MXB_CUDA_OPS_H
#define MXB_CUDA_OPS_H
#include "core/context.h"
#include "core/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef MXB_WITH_CUDA
/* max |x| over n values (NaN if any is NaN) into *amax (device memory). */
mxb_status_t mxb_cuda_amax(struct mxb_context *ctx, mxb_dtype_t type, const void *x, int64_t n,
                           float *amax, void *stream);

/* Scratch bytes mxb_cuda_quantize needs (0 for every format today: the
 * NVFP4 tensor amax is accumulated in dst->amax itself). */
size_t mxb_cuda_quantize_workspace(const mxb_quant_config_t *cfg, mxb_dtype_t src_type,
                                   const mxb_tensor_t *dst);
mxb_status_t mxb_cuda_quantize(struct mxb_context *ctx, const mxb_quant_config_t *cfg,
                               mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst,
                               void *workspace, size_t workspace_bytes, void *stream);
mxb_status_t mxb_cuda_dequantize(struct mxb_context *ctx, const mxb_tensor_t *src,
                                 mxb_dtype_t dst_type, void *dst, void *stream);
#endif

#ifdef __cplusplus
}
#endif
#endif
