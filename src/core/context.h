/* The context: which backend serves calls, plus that backend's state. After
 * mxb_context_create nothing in it changes until mxb_context_destroy, so
 * threads may share it: what changes per call lives in the calling thread
 * (the last implementation, mxb_set_last_impl) or behind a lock (the CUDA
 * GEMM's cuBLASLt plan cache in cuda_state). */
#ifndef MXB_CORE_CONTEXT_H
#define MXB_CORE_CONTEXT_H
#include "mxblas.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mxb_context {
  mxb_backend_t backend;
  int device;
  uint64_t id;             /* unique over the process's lifetime: keys mxb_set_last_impl */
  /* CUDA backend only (filled by mxb_cuda_context_init) */
  int sm_count;
  int cc_major, cc_minor;
  size_t l2_bytes;
  size_t smem_optin;       /* max dynamic shared memory per block */
  void *cuda_state;        /* owned by src/cuda (cuBLASLt handle, ...) */
  /* MXB_CUDA_GEMM_PATH at creation: a GEMM path to take wherever it can
   * serve the call, even where the registry would prefer another (for
   * benchmarks and tests; empty: the registry's choice). */
  char gemm_path[64];
};

/* Record impl (a static string) as the implementation that served the
 * calling thread's last successful call, made on ctx. */
void mxb_set_last_impl(const struct mxb_context *ctx, const char *impl);

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
