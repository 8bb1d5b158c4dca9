// Typed loads of the plain input types (fp32, bf16, fp16) as fp32, through
// the shared decoders of common/codec.h so every backend sees the same fp32
// values.
#ifndef MXB_CUDA_LOAD_CUH
#define MXB_CUDA_LOAD_CUH
#include <stdint.h>

#include "common/codec.h"
#include "mxblas.h"

namespace mxb {

template <int DT>
__device__ __forceinline__ float cvt_in(uint32_t raw) {
  if (DT == MXB_DTYPE_FP32) return __uint_as_float(raw);
  if (DT == MXB_DTYPE_BF16) return mxb_bf16_decode((uint16_t)raw);
  return mxb_fp16_decode((uint16_t)raw);
}

template <int DT>
struct in_t {
  static constexpr int size = DT == MXB_DTYPE_FP32 ? 4 : 2;
  static constexpr int per16 = 16 / size;  // elements per 16-byte vector
};

// One element at index i.
template <int DT>
__device__ __forceinline__ float load1(const void *base, int64_t i) {
  if (DT == MXB_DTYPE_FP32) return __ldg(static_cast<const float *>(base) + i);
  return cvt_in<DT>(__ldg(static_cast<const unsigned short *>(base) + i));
}

// Unpack one 16-byte vector into per16 floats.
template <int DT>
__device__ __forceinline__ void unpack16(uint4 q, float *v) {
  if (DT == MXB_DTYPE_FP32) {
    v[0] = __uint_as_float(q.x); v[1] = __uint_as_float(q.y);
    v[2] = __uint_as_float(q.z); v[3] = __uint_as_float(q.w);
  } else {
    uint32_t w[4] = {q.x, q.y, q.z, q.w};
#pragma unroll
    for (int k = 0; k < 4; k++) {
      v[2 * k] = cvt_in<DT>(w[k] & 0xFFFFu);
      v[2 * k + 1] = cvt_in<DT>(w[k] >> 16);
    }
  }
}

// The 16-byte vectors of N consecutive elements, held raw so that a kernel
// can issue the loads of its next block before working on the current one.
template <int DT, int N>
struct RawBlock {
  static constexpr int P = in_t<DT>::per16;
  uint4 q[N / P > 0 ? N / P : 1];
};
// Loads starting at element i (16-byte aligned, N a multiple of per16).
template <int DT, int N>
__device__ __forceinline__ void raw_load(const void *base, int64_t i, RawBlock<DT, N> &b) {
  const uint4 *p = reinterpret_cast<const uint4 *>(static_cast<const char *>(base) + i * in_t<DT>::size);
#pragma unroll
  for (int k = 0; k < N / RawBlock<DT, N>::P; k++) b.q[k] = __ldg(p + k);
}
template <int DT, int N>
__device__ __forceinline__ void raw_unpack(const RawBlock<DT, N> &b, float (&v)[N]) {
  constexpr int P = RawBlock<DT, N>::P;
#pragma unroll
  for (int k = 0; k < N / P; k++) unpack16<DT>(b.q[k], v + k * P);
}

// N consecutive elements starting at index i, of which the first n_valid
// exist (the rest read as +0). vec: the caller guarantees 16-byte alignment
// of element i and n_valid == N, so all loads are 16-byte vectors issued
// before the first use.
template <int DT, int N>
__device__ __forceinline__ void load_n(const void *base, int64_t i, int n_valid, bool vec, float (&v)[N]) {
  if (N % in_t<DT>::per16 == 0 && vec) {
    RawBlock<DT, N> b;
    raw_load<DT, N>(base, i, b);
    raw_unpack<DT, N>(b, v);
  } else {
#pragma unroll
    for (int k = 0; k < N; k++) v[k] = k < n_valid ? load1<DT>(base, i + k) : 0.0f;
  }
}

}  // namespace mxb
#endif
