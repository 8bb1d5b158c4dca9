/* What the NCCL component's files share (src/nccl). */
#ifndef MXB_NCCL_OPS_H
#define MXB_NCCL_OPS_H
#include <nccl.h>

#include "core/context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* MXB_ERR_INVALID_ARGUMENT / UNSUPPORTED unless ctx is a CUDA context (and,
 * with need_comm, comm is set). */
mxb_status_t mxb_nccl_check(const mxb_context_t *ctx, ncclComm_t comm, int need_comm);
/* NCCL's uint32 MAX all-reduce of count canonical amaxes, in place. */
mxb_status_t mxb_nccl_amax_allreduce(ncclComm_t comm, float *amax, int64_t count, void *stream);

#ifdef __cplusplus
}
#endif
#endif
