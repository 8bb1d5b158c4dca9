// mxb_amax_allreduce: the global amax of a sharded tensor, NaN-propagating,
// through the caller's NCCL communicator (include/mxblas_nccl.h).
//
// NCCL's float MAX does not say what a NaN does, so the reduction runs on
// the bit patterns: an amax is non-negative or NaN, and for non-negative
// floats unsigned integer order is value order, with every NaN pattern
// (0x7F800001 and up) above +Inf. Making each amax canonical first (-0 as
// +0, every NaN and every negative value as 0x7FC00000:
// mxb_cuda_amax_canonicalize) leaves one NaN pattern, so the result's bits
// do not depend on which rank held which NaN.
#include <cuda_runtime.h>
#include <nccl.h>

#include "core/context.h"
#include "core/error.h"
#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "mxblas_nccl.h"
#include "nccl/nccl_ops.h"

namespace {
mxb_status_t nccl_status(ncclResult_t r, const char *what) {
  if (r == ncclSuccess) return MXB_SUCCESS;
  return mxb_fail(MXB_ERR_CUDA, "%s: %s (NCCL %d)", what, ncclGetErrorString(r), (int)r);
}
}  // namespace

extern "C" mxb_status_t mxb_nccl_check(const mxb_context_t *ctx, ncclComm_t comm, int need_comm) {
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (ctx->backend != MXB_BACKEND_CUDA)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "the NCCL component runs on CUDA contexts only (ctx is a CPU context)");
  if (need_comm && !comm) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "comm is NULL");
  return MXB_SUCCESS;
}

extern "C" mxb_status_t mxb_nccl_amax_allreduce(ncclComm_t comm, float *amax, int64_t count, void *stream) {
  return nccl_status(ncclAllReduce(amax, amax, (size_t)count, ncclUint32, ncclMax, comm, mxb::as_stream(stream)),
                     "ncclAllReduce");
}

MXB_API mxb_status_t mxb_amax_allreduce(mxb_context_t *ctx, ncclComm_t comm, float *amax, int64_t count,
                                        void *stream) {
  mxb_clear_error();
  MXB_TRY(mxb_nccl_check(ctx, comm, 1));
  if (!amax) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "amax is NULL");
  if ((uintptr_t)amax % 4) return mxb_fail(MXB_ERR_BAD_ALIGNMENT, "amax %p is not 4-byte aligned", (void *)amax);
  if (count < 1 || count > ((int64_t)1 << 40))
    return mxb_fail(MXB_ERR_BAD_SHAPE, "count %lld is not in 1 .. 2^40", (long long)count);
  MXB_TRY(mxb_cuda_amax_canonicalize(amax, count, stream));
  MXB_TRY(mxb_nccl_amax_allreduce(comm, amax, count, stream));
  mxb_set_last_impl(ctx, "cuda-nccl-amax-allreduce");
  return MXB_SUCCESS;
}
