// A quantized tensor as the CUDA kernels see it: its planes and geometry.
#ifndef MXB_CUDA_TENSOR_VIEW_CUH
#define MXB_CUDA_TENSOR_VIEW_CUH
#include <stdint.h>
#include <string.h>

#include "mxblas.h"

namespace mxb {

// The fields every kernel argument that describes a stored tensor shares
// (GEMM operands, the quantizers' output, dequantize's input), so they are
// filled in one place. Passed by value inside the kernel's own arguments.
// The pointers are writable because the quantizers write through them;
// readers only read.
struct tensor_view {
  uint8_t *data, *scales, *aux;
  float *amax;  // NVFP4 tensor amax (device)
  int64_t rows, cols, row_bytes, scale_cols;
  int swizzled;  // scales in the 128x4-tile layout (NUMERICS 4.1)
  uint32_t flags;  // the tensor's MXB_TENSOR_* flags (NVFP4: its E4M3 bound)
};

// The view of t; s: its plane sizes (mxb_compute_sizes), which the caller
// already has.
static inline tensor_view make_view(const mxb_tensor_t *t, const mxb_tensor_sizes_t &s) {
  tensor_view v;
  memset(&v, 0, sizeof(v));  // padding too: the view is copied byte for byte into kernel arguments
  v.data = static_cast<uint8_t *>(t->data);
  v.scales = static_cast<uint8_t *>(t->scales);
  v.aux = static_cast<uint8_t *>(t->aux);
  v.amax = t->amax;
  v.rows = t->rows;
  v.cols = t->cols;
  v.row_bytes = (int64_t)s.row_bytes;
  v.scale_cols = s.scale_cols;
  v.swizzled = t->scale_layout == MXB_SCALE_LAYOUT_SWIZZLED;
  v.flags = t->flags;
  return v;
}

}  // namespace mxb
#endif
