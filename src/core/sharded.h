/* The sharded quantize of include/mxblas_nccl.h with the cross-rank amax
 * reduction passed in, so that the same code runs over NCCL and, in the
 * tests, over ranks simulated by threads on the CPU backend. */
#ifndef MXB_CORE_SHARDED_H
#define MXB_CORE_SHARDED_H
#include "mxblas.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reduce count amaxes in place (backend memory) to their maximum over the
 * ranks, NaN-propagating (mxb_amax_reduce_bits), on stream. */
typedef mxb_status_t (*mxb_amax_reduce_fn)(void *arg, float *amax, int64_t count, void *stream);

mxb_status_t mxb_quantize_sharded_size(mxb_context_t *ctx, const mxb_quant_config_t *cfg, mxb_dtype_t src_type,
                                       const mxb_tensor_t *dst, size_t *bytes);
mxb_status_t mxb_quantize_sharded_with(mxb_context_t *ctx, mxb_amax_reduce_fn reduce, void *arg,
                                       const mxb_quant_config_t *cfg, mxb_dtype_t src_type, const void *src,
                                       mxb_tensor_t *dst, void *workspace, size_t workspace_bytes, void *stream);

#ifdef __cplusplus
}
#endif
#endif
