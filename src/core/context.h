/* The context: which backend serves calls, plus that backend's state. */
#ifndef MXB_CORE_CONTEXT_H
#define MXB_CORE_CONTEXT_H
#include "mxblas.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mxb_context {
  mxb_backend_t backend;
  int device;
  const char *last_impl;   /* static string naming the implementation that ran */
  /* CUDA backend only (filled by mxb_cuda_context_init) */
  int sm_count;
  int cc_major, cc_minor;
  size_t l2_bytes;
  size_t smem_optin;       /* max dynamic shared memory per block */
  void *cuda_state;        /* owned by src/cuda (cuBLASLt handle, ...) */
};

#ifdef MXB_WITH_CUDA
/* Implemented in src/cuda/context.cu. */
mxb_status_t mxb_cuda_context_init(struct mxb_context *ctx);
void mxb_cuda_context_fini(struct mxb_context *ctx);
mxb_status_t mxb_cuda_count_devices(int *count);
#endif

#ifdef __cplusplus
}
#endif
#endif
