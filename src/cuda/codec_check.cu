// Device proof that the specialised element encoders of common/codec.h give
// the generic encoder's bits: exhaustive over fp32 for RNE (E2M1, also in its
// finite-block form, the E4M3 and E5M2 hardware conversions, MXINT8, and the
// branch-free minifloat encoder for the FP6 types as the device compiles
// it), the UE4M3 scale decoder over its 256 bytes, the hardware bf16 and
// fp16 conversions of dequantize against the library's rounding (non-NaN
// inputs), all 256 random bytes over a structured 2^24-pattern set for SR.
// Used by the GPU tests.
#include "common/codec.h"
#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "cuda/load.cuh"
#include "cuda/qcommon.cuh"
#include "cuda/quantize.cuh"

namespace mxb {

// The SR input set: every sign, exponent and top 15 mantissa bits; the low
// 8 mantissa bits from a hash, so every rounding neighbourhood is visited.
__device__ __forceinline__ uint32_t sr_pattern(uint32_t i) {
  uint32_t h = i * 0x9E3779B1u;
  return (i << 8) | (h >> 24);
}

__global__ void codec_check_kernel(int which, unsigned long long *count, unsigned long long *first) {
  const mxb_fp e2m1 = mxb_elem_fp(MXB_ELEM_E2M1), e4m3 = mxb_elem_fp(MXB_ELEM_E4M3), e5m2 = mxb_elem_fp(MXB_ELEM_E5M2),
               int8 = mxb_elem_fp(MXB_ELEM_INT8), e3m2 = mxb_elem_fp(MXB_ELEM_E3M2), e2m3 = mxb_elem_fp(MXB_ELEM_E2M3);
  const uint64_t total = 1ull << 32, stride = (uint64_t)gridDim.x * blockDim.x;
  unsigned long long bad = 0, lo = ~0ull;
  for (uint64_t t = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
    bool diff;
    if (which == 2) {
      const float x = __uint_as_float(sr_pattern((uint32_t)(t >> 8)));
      const uint32_t r = (uint32_t)(t & 0xFF);
      const uint32_t want = mxb_fp_encode_sr_generic(&e2m1, x, r);
      diff = mxb_e2m1_encode_sr(x, r) != want || (x == x && mxb_e2m1_encode_sr_nonnan(x, r) != want);
    } else {
      const float x = __uint_as_float((uint32_t)t);
      switch (which) {
        case 0: {  // and the finite-block form the row-wise kernels use
          const uint32_t want = mxb_fp_encode_rne_generic(&e2m1, x);
          float grid = 0.0f;
          diff = mxb_e2m1_encode_rne(x) != want ||
                 (x == x && (mxb_e2m1_encode_rne_nonnan_grid(x, &grid) != want ||
                             __float_as_uint(grid) != __float_as_uint(fabsf(mxb_e2m1_decode(want)))));
          break;
        }
        case 10: {  // e2m1_rne_words: x at all 16 positions, then with the signs of a pattern
          if (x != x) {
            diff = false;
            break;
          }
          const uint32_t pos = mxb_fp_encode_rne_generic(&e2m1, x), neg = mxb_fp_encode_rne_generic(&e2m1, -x);
          float v[16];
          uint32_t w[2];
          for (int k = 0; k < 16; k++) v[k] = x;
          e2m1_rne_words<16>(v, 1.0f, w);
          diff = w[0] != pos * 0x11111111u || w[1] != pos * 0x11111111u;
          constexpr uint32_t FLIP = 0x6996u;  // positions whose value is -x
          for (int k = 0; k < 16; k++) v[k] = FLIP >> k & 1u ? -x : x;
          e2m1_rne_words<16>(v, 1.0f, w);
          for (int k = 0; k < 16; k++) diff |= (w[k / 8] >> (4 * (k % 8)) & 0xFu) != (FLIP >> k & 1u ? neg : pos);
          break;
        }
        case 1: diff = mxb_e4m3_encode_rne(x) != mxb_fp_encode_rne_generic(&e4m3, x); break;
        case 3: diff = mxb_e5m2_encode_rne(x) != mxb_fp_encode_rne_generic(&e5m2, x); break;
        case 4: diff = mxb_int8_encode_rne(x) != mxb_fp_encode_rne_generic(&int8, x); break;
        case 7: {  // the UE4M3 scale decoder (hardware conversion) against the generic decoder, bytes 0..255
          const uint8_t b = (uint8_t)t;
          const float g = (b & 0x80u) || b == 0x7Fu ? __uint_as_float(MXB_F32_QNAN) : mxb_fp_decode(&e4m3, b);
          diff = t < 256 && __float_as_uint(mxb_ue4m3_decode(b)) != __float_as_uint(g);
          break;
        }
        case 8: {  // the bf16 and fp16 output conversions of dequantize, for every non-NaN input
          uint32_t h;
          asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(h) : "f"(0.0f), "f"(x));
          diff = x == x && (h & 0xFFFFu) != mxb_bf16_rne(x);
          break;
        }
        case 9: {
          uint32_t h;
          asm("cvt.rn.f16x2.f32 %0, %1, %2;" : "=r"(h) : "f"(0.0f), "f"(x));
          diff = x == x && (h & 0xFFFFu) != mxb_fp16_rne(x);
          break;
        }
        case 5: diff = mxb_fp_encode_rne_minifloat(&e3m2, x) != mxb_fp_encode_rne_generic(&e3m2, x); break;
        default: diff = mxb_fp_encode_rne_minifloat(&e2m3, x) != mxb_fp_encode_rne_generic(&e2m3, x); break;
      }
    }
    if (diff) {
      bad++;
      lo = min(lo, (unsigned long long)t);
    }
  }
  if (bad) {
    atomicAdd(count, bad);
    atomicMin(first, lo);
  }
}

}  // namespace mxb

extern "C" mxb_status_t mxb_cuda_codec_check(int which, unsigned long long *mismatches, unsigned long long *first) {
  unsigned long long *d = nullptr, h[2] = {0, ~0ull};
  MXB_TRY(mxb::cuda_status(cudaMalloc(&d, sizeof(h)), "cudaMalloc"));
  cudaError_t e = cudaMemcpy(d, h, sizeof(h), cudaMemcpyHostToDevice);
  if (e == cudaSuccess) {
    mxb::codec_check_kernel<<<132 * 16, 256>>>(which, d, d + 1);
    e = cudaGetLastError();
  }
  if (e == cudaSuccess) e = cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost);
  cudaFree(d);
  MXB_TRY(mxb::cuda_status(e, "codec_check_kernel"));
  *mismatches = h[0];
  if (h[0]) *first = h[1];
  return MXB_SUCCESS;
}
