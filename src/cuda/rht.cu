// Random Hadamard transform on the GPU: one thread per chunk of d values,
// the shared chunk transform of common/rht.h (same butterflies, same order
// as the CPU). Along cols a chunk is contiguous (16-byte loads for d = 16;
// chunks of 64 and more are a warp's: rht_warp_kernel); along rows adjacent
// threads take adjacent columns, so loads coalesce.
#include "common/rht.h"
#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "cuda/load.cuh"

namespace mxb {

struct RhtArgs {
  const void *in;
  void *out;
  int64_t rows, cols;
  int axis, inverse, out_bf16, round_bf16, vec;
  uint32_t signs[8];
};

// Output element i: bf16, or fp32 (rounded through bf16 where asked).
__device__ __forceinline__ void put_out(const RhtArgs &a, int64_t i, float v) {
  if (a.out_bf16) static_cast<uint16_t *>(a.out)[i] = mxb_bf16_rne(v);
  else static_cast<float *>(a.out)[i] = a.round_bf16 ? mxb_bf16_decode(mxb_bf16_rne(v)) : v;
}

template <int DT, int D>
__global__ void __launch_bounds__(256) rht_kernel(RhtArgs a) {
  const bool along_cols = a.axis == MXB_AXIS_COLS;
  const int64_t per_line = along_cols ? a.cols / D : a.rows / D;   // chunks per row (cols) or per column (rows)
  const int64_t total = per_line * (along_cols ? a.rows : a.cols);
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
    int64_t base, step;
    if (along_cols) {
      base = t * D;  // chunks tile each row exactly
      step = 1;
    } else {
      int64_t c = t % a.cols, k = t / a.cols;
      base = k * D * a.cols + c;
      step = a.cols;
    }
    float v[D];
    if (along_cols) {
      load_n<DT, D>(a.in, base, D, a.vec != 0, v);
    } else {
#pragma unroll
      for (int j = 0; j < D; j++) v[j] = load1<DT>(a.in, base + j * step);
    }
    mxb_rht_chunk(v, D, a.signs, a.inverse);
#pragma unroll
    for (int j = 0; j < D; j++) {
      put_out(a, base + j * step, v[j]);
    }
  }
}

// Chunks of D >= 64 along cols: a warp a chunk, lane L holding its elements
// L + 32 r (r < n = D / 32), so no thread keeps D values in registers (one
// thread a chunk of 256 spilled 0.6-1.2 KB a thread) and every load and
// store of the warp covers 32 consecutive elements (lanes holding n
// consecutive elements stored 4 bytes a lane into 32 sectors at once). The
// same operations as mxb_rht_chunk, in its order: the signs (bit j of the
// mask for element j: bit L of word r), then the butterflies h = 1, 2, 4,
// ...: across lanes L and L ^ h for h < 32, the lane of element j (bit h
// clear) forming a + b and the lane of j + h forming a - b from its
// partner's value a and its own b, the very sums of the chunk code; within
// a lane (elements r and r + h / 32) above; then the norm, the inverse's
// signs and the canonical NaN.
template <int DT, int D>
__global__ void __launch_bounds__(256) rht_warp_kernel(RhtArgs a) {
  constexpr int N = D / 32;
  const int lane = threadIdx.x & 31;
  const int64_t total = a.rows * (a.cols / D);
  const int64_t stride = (int64_t)gridDim.x * (blockDim.x / 32);
  uint32_t m = 0;  // bit r: element lane + 32 r is negated
#pragma unroll
  for (int r = 0; r < N; r++) m |= ((a.signs[r] >> lane) & 1u) << r;
  const float s = mxb_rht_norm(D);
  for (int64_t t = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; t < total; t += stride) {
    const int64_t base = t * D + lane;  // chunks tile each row exactly
    float v[N];
#pragma unroll
    for (int r = 0; r < N; r++) v[r] = load1<DT>(a.in, base + 32 * r);
    if (!a.inverse) {
#pragma unroll
      for (int r = 0; r < N; r++)
        if ((m >> r) & 1u) v[r] = -v[r];
    }
#pragma unroll
    for (int h = 1; h < 32; h <<= 1) {
      const float sg = (lane & h) ? -1.0f : 1.0f;  // p - v or v + p, as one fmaf (the product is exact)
#pragma unroll
      for (int r = 0; r < N; r++) {
        const float p = __shfl_xor_sync(0xFFFFFFFFu, v[r], h);
        v[r] = __fmaf_rn(v[r], sg, p);
      }
    }
    mxb_rht_butterflies(v, N);  // the stages h = 32 q: elements r and r + q of each lane
#pragma unroll
    for (int r = 0; r < N; r++) {
      v[r] *= s;
      if (a.inverse && ((m >> r) & 1u)) v[r] = -v[r];
      v[r] = mxb_canon_nan(v[r]);
      put_out(a, base + 32 * r, v[r]);
    }
  }
}

template <int DT>
void launch_rht(const mxb_context *ctx, int64_t rows, int64_t cols, cudaStream_t st, int d, const RhtArgs &a) {
  const unsigned g = grid_for(ctx, rows * cols / d, 256);
  if (d >= 64 && a.axis == MXB_AXIS_COLS) {  // a warp a chunk: 32 threads for each of the chunks
    const unsigned gw = grid_for(ctx, rows * cols / d * 32, 256);
    if (d == 64) rht_warp_kernel<DT, 64><<<gw, 256, 0, st>>>(a);
    else if (d == 128) rht_warp_kernel<DT, 128><<<gw, 256, 0, st>>>(a);
    else rht_warp_kernel<DT, 256><<<gw, 256, 0, st>>>(a);
    return;
  }
  switch (d) {
    case 16: rht_kernel<DT, 16><<<g, 256, 0, st>>>(a); break;
    case 32: rht_kernel<DT, 32><<<g, 256, 0, st>>>(a); break;
    case 64: rht_kernel<DT, 64><<<g, 256, 0, st>>>(a); break;
    case 128: rht_kernel<DT, 128><<<g, 256, 0, st>>>(a); break;
    default: rht_kernel<DT, 256><<<g, 256, 0, st>>>(a); break;
  }
}

}  // namespace mxb

using namespace mxb;

extern "C" mxb_status_t mxb_cuda_rht_apply(struct mxb_context *ctx, const uint32_t signs[8], int d, int inverse,
                                           mxb_axis_t axis, int64_t rows, int64_t cols, mxb_dtype_t in_type,
                                           const void *in, mxb_dtype_t out_type, int round_bf16, void *out,
                                           void *stream) {
  RhtArgs a;
  memset(&a, 0, sizeof(a));
  a.in = in;
  a.out = out;
  a.rows = rows;
  a.cols = cols;
  a.axis = axis;
  a.inverse = inverse;
  a.out_bf16 = out_type == MXB_DTYPE_BF16;
  a.round_bf16 = round_bf16 || a.out_bf16;
  a.vec = aligned16(in) && (cols * (int64_t)mxb_dtype_bytes(in_type)) % 16 == 0;
  memcpy(a.signs, signs, sizeof(a.signs));
  cudaStream_t st = as_stream(stream);
  switch (in_type) {
    case MXB_DTYPE_FP32: launch_rht<MXB_DTYPE_FP32>(ctx, rows, cols, st, d, a); break;
    case MXB_DTYPE_BF16: launch_rht<MXB_DTYPE_BF16>(ctx, rows, cols, st, d, a); break;
    default: launch_rht<MXB_DTYPE_FP16>(ctx, rows, cols, st, d, a); break;
  }
  return launch_status("rht_kernel");
}

extern "C" mxb_status_t mxb_cuda_rht(struct mxb_context *ctx, const mxb_rht_t *rht, int inverse, mxb_axis_t axis,
                                     int64_t rows, int64_t cols, mxb_dtype_t in_type, const void *in,
                                     mxb_dtype_t out_type, void *out, void *stream) {
  uint32_t signs[8];
  if (rht->sign_source == MXB_SIGNS_SEED) mxb_rht_signs_from_seed(rht->sign_seed, rht->size, signs);
  else memcpy(signs, rht->sign_mask, sizeof(signs));
  return mxb_cuda_rht_apply(ctx, signs, rht->size, inverse, axis, rows, cols, in_type, in, out_type,
                            rht->bf16_output, out, stream);
}
