// Typed loads of the plain input types (fp32, bf16, fp16) as fp32. The
// conversions are exact bit manipulations, so every backend sees the same
// fp32 values: bf16 is the top half of an fp32, fp16 widens exactly (NaN
// payloads kept, shifted like IEEE widening).
#ifndef MXB_CUDA_LOAD_CUH
#define MXB_CUDA_LOAD_CUH
#include <stdint.h>

#include "mxblas.h"

namespace mxb {

__device__ __forceinline__ float f16_bits_to_f32(uint32_t h) {
  uint32_t s = (h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
  uint32_t bits;
  if (e == 0x1F) {
    bits = s | 0x7F800000u | (m << 13);
  } else if (e != 0) {
    bits = s | ((e + 112u) << 23) | (m << 13);
  } else if (m == 0) {
    bits = s;
  } else {  // subnormal: normalise (m * 2^-24 is exact in fp32)
    int sh = __clz(m) - 21;  // leading zeros within the 10-bit field
    m = (m << sh) & 0x3FFu;
    bits = s | ((uint32_t)(113 - sh) << 23) | (m << 13);
  }
  return __uint_as_float(bits);
}

template <int DT>
__device__ __forceinline__ float cvt_in(uint32_t raw) {
  if (DT == MXB_DTYPE_FP32) return __uint_as_float(raw);
  if (DT == MXB_DTYPE_BF16) return __uint_as_float(raw << 16);
  return f16_bits_to_f32(raw);
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

// N consecutive elements starting at index i, of which the first n_valid
// exist (the rest read as +0). vec: the caller guarantees 16-byte alignment
// of element i and n_valid == N, so all loads are 16-byte vectors issued
// before the first use.
template <int DT, int N>
__device__ __forceinline__ void load_n(const void *base, int64_t i, int n_valid, bool vec, float (&v)[N]) {
  constexpr int P = in_t<DT>::per16;
  if (N % P == 0 && vec) {
    const uint4 *p = reinterpret_cast<const uint4 *>(static_cast<const char *>(base) + i * in_t<DT>::size);
    uint4 q[N / P > 0 ? N / P : 1];
#pragma unroll
    for (int k = 0; k < N / P; k++) q[k] = __ldg(p + k);
#pragma unroll
    for (int k = 0; k < N / P; k++) unpack16<DT>(q[k], v + k * P);
  } else {
#pragma unroll
    for (int k = 0; k < N; k++) v[k] = k < n_valid ? load1<DT>(base, i + k) : 0.0f;
  }
}

}  // namespace mxb
#endif
