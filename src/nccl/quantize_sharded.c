/* mxb_quantize_sharded: mxb_quantize_shard (core/quantize_sharded.c) with
 * NCCL's all-reduce of the canonical amaxes. */
#include "core/error.h"
#include "mxblas_nccl.h"
#include "nccl/nccl_ops.h"

static mxb_status_t nccl_reduce(void *comm, float *amax, int64_t count, void *stream) {
  return mxb_nccl_amax_allreduce((ncclComm_t)comm, amax, count, stream);
}

MXB_API mxb_status_t mxb_quantize_sharded_workspace_size(mxb_context_t *ctx, const mxb_quant_config_t *cfg,
                                                         mxb_dtype_t src_type, const mxb_tensor_t *dst,
                                                         size_t *bytes) {
  mxb_clear_error();
  MXB_TRY(mxb_nccl_check(ctx, NULL, 0));
  return mxb_quantize_shard_workspace_size(ctx, cfg, src_type, dst, bytes);
}

MXB_API mxb_status_t mxb_quantize_sharded(mxb_context_t *ctx, ncclComm_t comm, const mxb_quant_config_t *cfg,
                                          mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst,
                                          void *workspace, size_t workspace_bytes, void *stream) {
  mxb_clear_error();
  MXB_TRY(mxb_nccl_check(ctx, comm, 1));
  MXB_TRY(mxb_quantize_shard(ctx, nccl_reduce, (void *)comm, cfg, src_type, src, dst, workspace, workspace_bytes,
                             stream));
  mxb_set_last_impl(ctx, "cuda-sharded-quantize");
  return MXB_SUCCESS;
}
