/* mxblas NCCL component (optional: libmxblas_nccl, built where NCCL is
 * found; docs/DISTRIBUTED.md). Tensor-parallel quantization: every rank
 * quantizes its shard with the amax of the whole tensor, so the shards hold
 * the bytes of the unsharded tensor. The caller owns the communicator (the
 * library never creates one) and the stream; nothing here allocates,
 * synchronises the host or breaks CUDA-graph capture (NCCL's own capture
 * rules apply). CUDA contexts only. */
#ifndef MXBLAS_NCCL_H
#define MXBLAS_NCCL_H
#include <nccl.h>

#include "mxblas.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reduce count amaxes (device memory, in place) to their maximum over comm's
 * ranks, on stream, by the library's amax rule: NaN if any rank's is NaN
 * (NaN propagates, unlike a float MAX), -0 as +0; a negative value, which no
 * amax is, reduces as NaN. Each amax is first made canonical (+0 for -0,
 * 0x7FC00000 for every NaN and negative value), then the bit patterns are
 * reduced as unsigned 32-bit integers with ncclMax: for non-negative floats
 * integer order is value order and the canonical NaN is above +Inf. count:
 * 1 (a tensor amax) or rows (per-row amaxes, nvfp4_row_amax). NCCL's errors
 * are MXB_ERR_CUDA with NCCL's message; amax is left unchanged when a check
 * fails before anything runs. */
MXB_API mxb_status_t mxb_amax_allreduce(mxb_context_t *ctx, ncclComm_t comm, float *amax, int64_t count,
                                        void *stream);

/* Quantize this rank's shard dst of a larger tensor (its place given by
 * cfg->global_row0, global_col0, global_cols, which SR reads) with the amax
 * of the whole tensor, as mxb_quantize would with that amax supplied: this
 * is mxb_quantize_shard (mxblas.h) with NCCL's all-reduce.
 * - NVFP4 (1D or 2D, with or without RHT) and FP8 per tensor with
 *   cfg->amax_source MXB_AMAX_COMPUTE: the shard's amax (of RHT(x) with the
 *   RHT) is computed into dst->amax, reduced over comm by
 *   mxb_amax_allreduce, then the shard is quantized with it. FP8 per tensor
 *   keeps no amax plane of its own: dst->amax must point to one device float
 *   that receives the global amax.
 * - NVFP4 with nvfp4_row_amax: a shard holding whole rows (global_cols 0 or
 *   dst->cols) needs no reduction; a column shard reduces the rows' amaxes.
 * - With MXB_AMAX_FROM_TENSOR (the caller's amax, already global) and for
 *   formats without a tensor amax (MX, FP8 blocks, BF16): mxb_quantize
 *   itself, comm not used.
 * With the RHT or a row amax on a column shard the amax comes from a
 * quantize pass of its own (the codes it writes are overwritten): two
 * passes over the input, as mxb_quantize's computed amax already takes
 * one. The workspace is the query's (MXB_WORKSPACE_ALIGNMENT aligned). */
MXB_API mxb_status_t mxb_quantize_sharded_workspace_size(mxb_context_t *ctx, const mxb_quant_config_t *cfg,
                                                         mxb_dtype_t src_type, const mxb_tensor_t *dst,
                                                         size_t *bytes);
MXB_API mxb_status_t mxb_quantize_sharded(mxb_context_t *ctx, ncclComm_t comm, const mxb_quant_config_t *cfg,
                                          mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst,
                                          void *workspace, size_t workspace_bytes, void *stream);

#ifdef __cplusplus
}
#endif
#endif
