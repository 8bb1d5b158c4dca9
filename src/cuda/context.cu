// CUDA backend state: device properties read once at context creation.
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/context.h"
#include "core/error.h"
#include "cuda/gemm.h"

extern "C" mxb_status_t mxb_cuda_count_devices(int *count) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    n = 0;  // no driver or no device: report zero, not an error
  }
  *count = n;
  return MXB_SUCCESS;
}

extern "C" mxb_status_t mxb_cuda_context_init(struct mxb_context *ctx) {
  int n = 0;
  mxb_cuda_count_devices(&n);
  if (n == 0) return mxb_fail(MXB_ERR_NO_DEVICE, "no CUDA device is available");
  if (ctx->device < 0 || ctx->device >= n)
    return mxb_fail(MXB_ERR_NO_DEVICE, "device %d is out of range (%d devices)", ctx->device, n);
  cudaDeviceProp p;
  cudaError_t e = cudaGetDeviceProperties(&p, ctx->device);
  if (e != cudaSuccess) return mxb_fail(MXB_ERR_CUDA, "cudaGetDeviceProperties: %s", cudaGetErrorString(e));
  ctx->sm_count = p.multiProcessorCount;
  ctx->cc_major = p.major;
  ctx->cc_minor = p.minor;
  ctx->l2_bytes = (size_t)p.l2CacheSize;
  ctx->smem_optin = (size_t)p.sharedMemPerBlockOptin;
  ctx->cuda_state = nullptr;
  const char *path = getenv("MXB_CUDA_GEMM_PATH");
  snprintf(ctx->gemm_path, sizeof(ctx->gemm_path), "%s", path ? path : "");
  // The GEMM's cuBLASLt handle is made here, never in the hot path.
  mxb_status_t s = mxb_cuda_gemm_state_init(ctx);
  if (s != MXB_SUCCESS) mxb_cuda_gemm_state_fini(ctx);
  return s;
}

extern "C" void mxb_cuda_context_fini(struct mxb_context *ctx) { mxb_cuda_gemm_state_fini(ctx); }
