// Plumbing shared by the CUDA kernels: status from CUDA errors, the stream
// argument, grid sizing, and typed loads of the plain input types.
#ifndef MXB_CUDA_LAUNCH_CUH
#define MXB_CUDA_LAUNCH_CUH
#include <cuda_runtime.h>
#include <stdint.h>

#include "core/context.h"
#include "core/error.h"

namespace mxb {

static inline cudaStream_t as_stream(void *s) { return static_cast<cudaStream_t>(s); }

// Turn a CUDA error into MXB_ERR_CUDA with the runtime's own words.
static inline mxb_status_t cuda_status(cudaError_t e, const char *what) {
  if (e == cudaSuccess) return MXB_SUCCESS;
  return mxb_fail(MXB_ERR_CUDA, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

// After a launch: configuration errors show up here, without synchronising.
static inline mxb_status_t launch_status(const char *kernel) {
  return cuda_status(cudaGetLastError(), kernel);
}

// Blocks for a grid-stride kernel over `items` work items: enough to fill
// every SM several times over, never more than the work needs.
static inline unsigned grid_for(const struct mxb_context *ctx, int64_t items, int threads,
                                int per_sm = 8) {
  int64_t need = (items + threads - 1) / threads;
  int64_t cap = (int64_t)(ctx->sm_count > 0 ? ctx->sm_count : 132) * per_sm;
  int64_t g = need < cap ? need : cap;
  return (unsigned)(g < 1 ? 1 : g);
}

static inline bool aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

}  // namespace mxb
#endif
