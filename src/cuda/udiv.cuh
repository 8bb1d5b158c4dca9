// Division by a divisor fixed for a launch, by a multiply: kernels that map
// a flat index to (row, column) each iteration spend no 32-bit division
// (about 20 instructions and a MUFU.RCP on the critical path) on it.
#ifndef MXB_CUDA_UDIV_CUH
#define MXB_CUDA_UDIV_CUH

#include <cstdint>

namespace mxb {

// n / d = (umulhi(n, m) + n) >> s for every n < 2^31 (the round-up method:
// s = ceil(log2 d), m = 2^32 (2^s - d) / d + 1; umulhi(n, m) <= n, so the
// sum stays below 2^32).
struct udiv31 {
  uint32_t m;
  int s;
  static udiv31 of(uint32_t d) {
    udiv31 u = {1, 0};
    while (((uint64_t)1 << u.s) < (uint64_t)d) u.s++;
    u.m = (uint32_t)((((uint64_t)1 << 32) * (((uint64_t)1 << u.s) - (uint64_t)d)) / (uint64_t)d + 1);
    return u;
  }
#ifdef __CUDACC__
  __device__ __forceinline__ uint32_t div(uint32_t n) const { return (__umulhi(n, m) + n) >> s; }
#endif
};

}  // namespace mxb

#endif
