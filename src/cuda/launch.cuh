// Plumbing shared by the CUDA kernels: status from CUDA errors, the stream
// argument, grid sizing, and the switches that turn run-time choices (a
// flag, a format, an input type) into template arguments.
#ifndef MXB_CUDA_LAUNCH_CUH
#define MXB_CUDA_LAUNCH_CUH
#include <cuda_runtime.h>
#include <stdint.h>

#include <atomic>
#include <type_traits>
#include <utility>

#include "common/format_table.h"
#include "core/context.h"
#include "core/error.h"

namespace mxb {

static inline cudaStream_t as_stream(void *s) { return static_cast<cudaStream_t>(s); }

// Programmatic dependent launch (sm_90 and later): a kernel lets the next
// kernel on the stream, launched with
// cudaLaunchAttributeProgrammaticStreamSerialization, start once all its
// blocks have begun; that kernel waits in pdl_wait until this one has
// finished and its writes are visible. Both are no-ops for an ordinary
// launch and below sm_90. Loads that must follow pdl_wait are ordinary or
// volatile ones: the compiler may hoist a read-only (__ldg) load above it.
__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

// Launches kernel(args...) as the programmatic dependent of the kernel
// before it on st where pdl is set (its blocks may start once that kernel's
// have all begun; the kernel waits in pdl_wait), else as an ordinary launch.
template <typename... Params, typename... Args>
static inline cudaError_t launch_pdl(bool pdl, dim3 grid, dim3 block, size_t smem, cudaStream_t st,
                                     void (*kernel)(Params...), Args &&...args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = st;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = pdl ? 1 : 0;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}

// Turn a CUDA error into MXB_ERR_CUDA with the runtime's own words.
static inline mxb_status_t cuda_status(cudaError_t e, const char *what) {
  if (e == cudaSuccess) return MXB_SUCCESS;
  return mxb_fail(MXB_ERR_CUDA, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

// After a launch: configuration errors show up here, without synchronising.
static inline mxb_status_t launch_status(const char *kernel) {
  return cuda_status(cudaGetLastError(), kernel);
}

// Dynamic shared memory above 48 KB is opted into per kernel and device
// (cudaFuncSetAttribute): made once per kernel and device (0..63; others on
// every launch) rather than on every launch, which keeps a host call off the
// path of small, latency-bound GEMMs.
template <auto Kernel>
mxb_status_t allow_dynamic_smem(int device, int bytes) {
  static std::atomic<uint64_t> done{0};
  const uint64_t bit = device >= 0 && device < 64 ? 1ull << device : 0;
  if (bit && (done.load(std::memory_order_relaxed) & bit)) return MXB_SUCCESS;
  MXB_TRY(cuda_status(cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes),
                      "cudaFuncSetAttribute(dynamic shared memory)"));
  done.fetch_or(bit, std::memory_order_relaxed);  // idempotent: racing threads both set it
  return MXB_SUCCESS;
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

// Run-time value to compile-time constant: the lambda (the last argument)
// runs with NAME a constexpr of that value, e.g.
//   MXB_BOOL_SWITCH(a.sr, SR, [&] { kernel<SR><<<g, t>>>(a); });
// Template instances exist only for the values a body is reached with.
#define MXB_BOOL_SWITCH(COND, NAME, ...)     \
  [&] {                                      \
    if (COND) {                              \
      static constexpr bool NAME = true;     \
      return __VA_ARGS__();                  \
    } else {                                 \
      static constexpr bool NAME = false;    \
      return __VA_ARGS__();                  \
    }                                        \
  }()

// The plain input types (mxb_dtype_t): FP32, BF16, and FP16 for any other value.
#define MXB_DTYPE_SWITCH(TYPE, NAME, ...)                 \
  [&] {                                                   \
    if ((TYPE) == MXB_DTYPE_FP32) {                       \
      static constexpr int NAME = MXB_DTYPE_FP32;         \
      return __VA_ARGS__();                               \
    } else if ((TYPE) == MXB_DTYPE_BF16) {                \
      static constexpr int NAME = MXB_DTYPE_BF16;         \
      return __VA_ARGS__();                               \
    } else {                                              \
      static constexpr int NAME = MXB_DTYPE_FP16;         \
      return __VA_ARGS__();                               \
    }                                                     \
  }()

// Every row of the format table (common/format_table.h); the body reads
// the format's traits from NAME with if constexpr. A value outside the
// table runs the body with MXB_FORMAT_COUNT, whose traits are the defaults.
template <class Fn>
static inline auto format_switch(int f, Fn &&fn) {
  switch (f) {
#define MXB_FORMAT_CASE_(id, ...) \
  case MXB_FORMAT_##id: return fn(std::integral_constant<int, MXB_FORMAT_##id>());
    MXB_FORMAT_TABLE(MXB_FORMAT_CASE_)
#undef MXB_FORMAT_CASE_
    default: return fn(std::integral_constant<int, MXB_FORMAT_COUNT>());
  }
}
#define MXB_FORMAT_SWITCH(FORMAT, NAME, ...)                  \
  ::mxb::format_switch((FORMAT), [&](auto NAME##_constant) {  \
    static constexpr int NAME = decltype(NAME##_constant)::value; \
    return __VA_ARGS__();                                     \
  })

}  // namespace mxb
#endif
