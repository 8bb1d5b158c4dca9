// TMA tensor maps (cuTensorMapEncodeTiled, a driver entry point reached
// through the runtime, so the library links no libcuda) for the sm_90a GEMM
// kernels.
#ifndef MXB_CUDA_TENSOR_MAP_CUH
#define MXB_CUDA_TENSOR_MAP_CUH
#include <cuda.h>
#include <cuda_runtime.h>

#include "core/error.h"

namespace mxb {
namespace gemm {

typedef CUresult (*encode_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *, const cuuint64_t *,
                              const cuuint64_t *, const cuuint32_t *, const cuuint32_t *, CUtensorMapInterleave,
                              CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

inline encode_fn tensor_map_encoder() {
  static encode_fn fn = [] {
    void *f = nullptr;
    cudaDriverEntryPointQueryResult q;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q) != cudaSuccess ||
        q != cudaDriverEntryPointSuccess)
      f = nullptr;
    return reinterpret_cast<encode_fn>(f);
  }();
  return fn;
}

// A row-major 2D tensor [rows, inner] of `type` with rows `stride` bytes
// apart, read in boxes of box_rows x box_inner; elements out of range read
// as zeros.
inline mxb_status_t tensor_map_2d(CUtensorMap *m, CUtensorMapDataType type, const void *base, uint64_t inner,
                                  uint64_t rows, uint64_t stride, uint32_t box_inner, uint32_t box_rows,
                                  CUtensorMapSwizzle swizzle) {
  encode_fn enc = tensor_map_encoder();
  if (!enc) return mxb_fail(MXB_ERR_CUDA, "the driver has no cuTensorMapEncodeTiled");
  const cuuint64_t dims[2] = {inner, rows}, strides[1] = {stride};
  const cuuint32_t box[2] = {box_inner, box_rows}, step[2] = {1, 1};
  const CUresult r = enc(m, type, 2, const_cast<void *>(base), dims, strides, box, step, CU_TENSOR_MAP_INTERLEAVE_NONE,
                         swizzle, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) return mxb_fail(MXB_ERR_CUDA, "cuTensorMapEncodeTiled failed (%d)", (int)r);
  return MXB_SUCCESS;
}

}  // namespace gemm
}  // namespace mxb
#endif
