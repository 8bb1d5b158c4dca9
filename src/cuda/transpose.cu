// CUDA transposes: the dense transpose of a plain input (for the row-wise /
// column-wise pair) and the exact transpose of a 2D-scaled NVFP4 or MX
// tensor (codes and scale bytes move; nothing is requantized, NUMERICS 4.1,
// 4.2).
#include "core/tensor.h"
#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "cuda/qcommon.cuh"

namespace mxb {

// 32x32 tiles through shared memory: both the reads and the writes coalesce.
// The +1 column keeps the column reads free of bank conflicts.
template <typename T>
__global__ void __launch_bounds__(256) transpose_plain_kernel(const T *__restrict__ src, T *__restrict__ dst,
                                                              int64_t rows, int64_t cols) {
  __shared__ T tile[32][33];
  const int64_t r0 = (int64_t)blockIdx.y * 32, c0 = (int64_t)blockIdx.x * 32;
  for (int k = threadIdx.y; k < 32; k += 8) {
    int64_t r = r0 + k, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[k][threadIdx.x] = src[r * cols + c];
  }
  __syncthreads();
  for (int k = threadIdx.y; k < 32; k += 8) {
    int64_t c = c0 + k, r = r0 + threadIdx.x;  // dst is [cols, rows]
    if (r < rows && c < cols) dst[c * rows + r] = tile[threadIdx.x][k];
  }
}

struct TArgs {
  const uint8_t *in_data, *in_scales;
  uint8_t *out_data, *out_scales;
  int64_t out_rows, out_cols, in_row_bytes, out_row_bytes, in_scale_cols, out_scale_rows, out_scale_cols;
  int in_swz, out_swz;
  int bits, block;  // code width (4, 6 or 8) and the square tile's side
};

// Code k (bits wide, a little-endian bit stream) of a row; bits <= 8, so it
// spans at most two bytes, and the second is read only when it does.
__device__ __forceinline__ uint32_t code_in(const uint8_t *row, int64_t k, int bits) {
  const int64_t bit = k * bits;
  uint32_t v = __ldg(row + (bit >> 3));
  if ((bit & 7) + bits > 8) v |= (uint32_t)__ldg(row + (bit >> 3) + 1) << 8;
  return (v >> (bit & 7)) & ((1u << bits) - 1u);
}

// Output byte (r, b) holds the bits [8b, 8b + 8) of out row r: the codes of
// out columns c whose bits overlap it, each in row c of in at column r;
// padding bits stay zero.
__global__ void __launch_bounds__(256) transpose_codes(TArgs a) {
  const int64_t total = a.out_rows * a.out_row_bytes, stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
    const int64_t r = t / a.out_row_bytes, b = t - r * a.out_row_bytes;
    uint32_t v = 0;
    for (int64_t c = 8 * b / a.bits; c <= (8 * b + 7) / a.bits && c < a.out_cols; c++) {
      const int64_t sh = c * a.bits - 8 * b;  // the code's first bit, relative to the byte's
      const uint32_t code = code_in(a.in_data + c * a.in_row_bytes, r, a.bits);
      v |= sh >= 0 ? code << sh : code >> -sh;
    }
    a.out_data[t] = (uint8_t)v;
  }
}

// Out scale (r, j) serves out rows r, cols B*j..B*j+B-1: the tile that in
// stores at its row B*j, scale column r/B (B x B tiles, B the block).
__global__ void __launch_bounds__(256) transpose_scales(TArgs a) {
  const int64_t total = a.out_scale_rows * a.out_scale_cols, stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < total; t += stride) {
    const int64_t r = t / a.out_scale_cols, j = t - r * a.out_scale_cols;
    a.out_scales[mxb_scale_index(r, j, a.out_scale_cols, a.out_swz)] =
        __ldg(a.in_scales + mxb_scale_index(a.block * j, r / a.block, a.in_scale_cols, a.in_swz));
  }
}

}  // namespace mxb

using namespace mxb;

extern "C" mxb_status_t mxb_cuda_transpose_plain(struct mxb_context *ctx, mxb_dtype_t type, int64_t rows, int64_t cols,
                                                 const void *src, void *dst, void *stream) {
  (void)ctx;
  if (rows == 0 || cols == 0) return MXB_SUCCESS;
  if ((cols + 31) / 32 > 0x7FFFFFFF || (rows + 31) / 32 > 65535)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "the CUDA transpose supports at most %d rows (got %lld)", 65535 * 32,
                    (long long)rows);
  dim3 grid((unsigned)((cols + 31) / 32), (unsigned)((rows + 31) / 32)), block(32, 8);
  cudaStream_t st = as_stream(stream);
  if (mxb_dtype_bytes(type) == 4)
    transpose_plain_kernel<uint32_t><<<grid, block, 0, st>>>(static_cast<const uint32_t *>(src),
                                                              static_cast<uint32_t *>(dst), rows, cols);
  else
    transpose_plain_kernel<uint16_t><<<grid, block, 0, st>>>(static_cast<const uint16_t *>(src),
                                                              static_cast<uint16_t *>(dst), rows, cols);
  return launch_status("transpose_plain_kernel");
}

extern "C" mxb_status_t mxb_cuda_transpose_2d(struct mxb_context *ctx, const mxb_tensor_t *in, mxb_tensor_t *out,
                                              void *stream) {
  mxb_tensor_sizes_t si, so;
  MXB_TRY(mxb_compute_sizes(in->format, in->rows, in->cols, in->scale_layout, &si));
  MXB_TRY(mxb_compute_sizes(out->format, out->rows, out->cols, out->scale_layout, &so));
  TArgs a;
  a.in_data = static_cast<const uint8_t *>(in->data);
  a.in_scales = static_cast<const uint8_t *>(in->scales);
  a.out_data = static_cast<uint8_t *>(out->data);
  a.out_scales = static_cast<uint8_t *>(out->scales);
  a.out_rows = out->rows;
  a.out_cols = out->cols;
  a.in_row_bytes = (int64_t)si.row_bytes;
  a.out_row_bytes = (int64_t)so.row_bytes;
  a.in_scale_cols = si.scale_cols;
  a.out_scale_rows = so.scale_rows;
  a.out_scale_cols = so.scale_cols;
  a.in_swz = in->scale_layout == MXB_SCALE_LAYOUT_SWIZZLED;
  a.out_swz = out->scale_layout == MXB_SCALE_LAYOUT_SWIZZLED;
  a.bits = mxb_format_desc_get(in->format)->elem_bits;
  a.block = mxb_fmt_block_cols(in->format);
  cudaStream_t st = as_stream(stream);
  // the swizzled grid's padding is zero, as on the CPU
  if (a.out_swz) MXB_TRY(cuda_status(cudaMemsetAsync(out->scales, 0, so.scale_bytes, st), "cudaMemsetAsync(out->scales)"));
  if (so.data_bytes) transpose_codes<<<grid_for(ctx, (int64_t)so.data_bytes, 256), 256, 0, st>>>(a);
  MXB_TRY(launch_status("transpose_codes"));
  if (so.scale_rows * so.scale_cols != 0)
    transpose_scales<<<grid_for(ctx, so.scale_rows * so.scale_cols, 256), 256, 0, st>>>(a);
  MXB_TRY(launch_status("transpose_scales"));
  if (si.amax_bytes)
    MXB_TRY(cuda_status(cudaMemcpyAsync(out->amax, in->amax, sizeof(float), cudaMemcpyDeviceToDevice, st),
                        "cudaMemcpyAsync(out->amax)"));
  return MXB_SUCCESS;
}
