// amax: max |x| over a plain buffer, NaN if any element is NaN.
// Each thread folds |x| as integer bits (for non-negative floats integer
// order is value order, and every NaN is above +Inf), a block reduces in
// shared memory, and one atomicMax per block lands in *amax, which a
// stream-ordered memset cleared first. Max is order-free, so the result is
// the same bits whatever the schedule.
#include "common/block.h"
#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "cuda/load.cuh"

namespace mxb {

// NaN results are returned as the canonical quiet NaN so that the bits do
// not depend on which NaN payload won the integer max.
__device__ __forceinline__ uint32_t canonical_abs_bits(uint32_t m) { return m > 0x7F800000u ? 0x7FC00000u : m; }

template <int DT>
__global__ void __launch_bounds__(256) amax_kernel(const void *x, int64_t n, bool vec, uint32_t *out) {
  constexpr int P = in_t<DT>::per16;
  constexpr int U = 4;  // 16-byte vectors in flight per thread
  uint32_t m = 0;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (vec) {
    const int64_t nvec = n / P;
    const uint4 *p = static_cast<const uint4 *>(x);
    for (int64_t base = t; base < nvec; base += stride * U) {
      uint4 q[U];
#pragma unroll
      for (int u = 0; u < U; u++) {
        int64_t k = base + (int64_t)u * stride;
        q[u] = k < nvec ? __ldg(p + k) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int u = 0; u < U; u++) {
        float v[P];
        unpack16<DT>(q[u], v);
#pragma unroll
        for (int j = 0; j < P; j++) m = max(m, __float_as_uint(v[j]) & 0x7FFFFFFFu);
      }
    }
    for (int64_t i = nvec * P + t; i < n; i += stride) m = max(m, __float_as_uint(load1<DT>(x, i)) & 0x7FFFFFFFu);
  } else {
    for (int64_t i = t; i < n; i += stride) m = max(m, __float_as_uint(load1<DT>(x, i)) & 0x7FFFFFFFu);
  }
  m = __reduce_max_sync(0xFFFFFFFFu, m);
  __shared__ uint32_t warp_max[8];
  if ((threadIdx.x & 31) == 0) warp_max[threadIdx.x >> 5] = m;
  __syncthreads();
  if (threadIdx.x < 32) {
    m = threadIdx.x < (blockDim.x >> 5) ? warp_max[threadIdx.x] : 0u;
    m = __reduce_max_sync(0xFFFFFFFFu, m);
    if (threadIdx.x == 0 && m != 0) atomicMax(out, canonical_abs_bits(m));
  }
}

}  // namespace mxb

using namespace mxb;

extern "C" mxb_status_t mxb_cuda_amax(struct mxb_context *ctx, mxb_dtype_t type, const void *x, int64_t n,
                                      float *amax, void *stream) {
  cudaStream_t s = as_stream(stream);
  MXB_TRY(cuda_status(cudaMemsetAsync(amax, 0, sizeof(float), s), "cudaMemsetAsync(amax)"));
  const int threads = 256;
  bool vec = aligned16(x);
  int64_t per_thread = vec ? 64 : 1;  // elements a thread handles per pass
  unsigned grid = grid_for(ctx, (n + per_thread - 1) / per_thread, threads);
  uint32_t *out = reinterpret_cast<uint32_t *>(amax);
  MXB_DTYPE_SWITCH(type, DT, [&] { amax_kernel<DT><<<grid, threads, 0, s>>>(x, n, vec, out); });
  return launch_status("amax_kernel");
}

namespace {
__global__ void canonical_amax_kernel(uint32_t *a, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    a[i] = mxb_amax_reduce_bits(a[i]);
}
}  // namespace

extern "C" mxb_status_t mxb_cuda_amax_canonicalize(float *amax, int64_t count, void *stream) {
  const int64_t blocks = (count + 255) / 256;
  canonical_amax_kernel<<<(unsigned)(blocks < 1024 ? blocks : 1024), 256, 0, as_stream(stream)>>>(
      reinterpret_cast<uint32_t *>(amax), count);
  return launch_status("canonical_amax_kernel");
}
