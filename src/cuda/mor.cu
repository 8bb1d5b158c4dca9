// CUDA MoR (NUMERICS 6): the FP8 E4M3 quantization of every partition by the
// CUDA quantizer, then one thread per partition walks it in the CPU's exact
// order (row-major inside the partition) with the shared binary64
// accumulator of common/mor.h, so every decision matches the CPU bit for
// bit; a last pass writes each element as its FP8 code or its BF16 value.
#include "common/mor.h"
#include "core/mor_layout.h"
#include "core/tensor.h"
#include "cuda/cuda_ops.h"
#include "cuda/launch.cuh"
#include "cuda/load.cuh"

namespace mxb {

struct MorArgs {
  const void *src;
  const uint8_t *codes;  // the FP8 tensor [rows, cols]
  const float *sinv;     // its scale_inv per partition
  uint8_t *fp8;          // dst->aux: 1 = FP8, 0 = BF16
  float *scales;         // dst->scales
  uint16_t *out;         // dst->data
  int64_t rows, cols, br, bc, scale_rows, scale_cols;  // br, bc: the partition, "whole" resolved
  int brs, bcs;  // mxb_block_shift of the table's partition shape
  int metric;
  double tau;
};

template <int DT>
__global__ void __launch_bounds__(128) mor_decide_kernel(MorArgs a) {
  const int64_t total = a.scale_rows * a.scale_cols, stride = (int64_t)gridDim.x * blockDim.x;
  const mxb_fp p8 = mxb_fp_e4m3();
  for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += stride) {
    const int64_t i = k / a.scale_cols, j = k - i * a.scale_cols;
    const int64_t r0 = i * a.br, r1 = min(a.rows, r0 + a.br), c0 = j * a.bc, c1 = min(a.cols, c0 + a.bc);
    const float s = a.sinv[k];
    double acc[3] = {0.0, 0.0, 0.0};
    for (int64_t r = r0; r < r1; r++)
      for (int64_t c = c0; c < c1; c++) {
        const int64_t e = r * a.cols + c;
        const float q = __fmul_rn(mxb_fp_decode(&p8, __ldg(a.codes + e)), s);  // NUMERICS 4.4 dequantize
        mxb_mor_accumulate((mxb_mor_metric_t)a.metric, acc, (double)load1<DT>(a.src, e), (double)q);
      }
    const uint8_t f = mxb_mor_error((mxb_mor_metric_t)a.metric, acc) <= a.tau;  // NaN -> BF16
    a.fp8[k] = f;
    a.scales[k] = f ? s : 1.0f;
  }
}

template <int DT>
__global__ void __launch_bounds__(256) mor_write_kernel(MorArgs a) {
  const int64_t total = a.rows * a.cols, stride = (int64_t)gridDim.x * blockDim.x;
  for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t r = e / a.cols, c = e - r * a.cols;
    const int64_t k = mxb_block_index(r, c, a.brs, a.bcs, a.scale_cols);
    a.out[e] = __ldg(a.fp8 + k) ? (uint16_t)__ldg(a.codes + e) : mxb_bf16_rne_satfinite(load1<DT>(a.src, e));
  }
}

template <int DT>
void launch_mor(const struct mxb_context *ctx, const MorArgs &a, cudaStream_t st) {
  const int64_t nparts = a.scale_rows * a.scale_cols;
  mor_decide_kernel<DT><<<grid_for(ctx, nparts, 128), 128, 0, st>>>(a);
  mor_write_kernel<DT><<<grid_for(ctx, a.rows * a.cols, 256), 256, 0, st>>>(a);
}

}  // namespace mxb

using namespace mxb;

extern "C" mxb_status_t mxb_cuda_mor_quantize(struct mxb_context *ctx, const mxb_mor_config_t *cfg,
                                              mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst,
                                              void *workspace, void *stream) {
  const mxb_format_desc *d = mxb_format_desc_get(dst->format);
  // Workspace (mxb_mor_layout): FP8 codes, FP8 scale_inv, then the
  // quantizer's partition amaxes in the scratch.
  const mxb_mor_layout l = mxb_mor_layout_of(dst);
  const mxb_tensor_sizes_t &sm = l.mor;
  mxb_tensor_t t8;
  mxb_quant_config_t qc;
  mxb_mor_candidate(&l, dst, cfg, workspace, &t8, &qc);
  const char *qimpl;
  MXB_TRY(mxb_cuda_quantize(ctx, &qc, mxb_format_desc_get(l.fp8_format), &l.fp8, src_type, src, &t8,
                            static_cast<char *>(workspace) + l.scratch_at, stream, &qimpl));

  MorArgs a;
  a.src = src;
  a.codes = static_cast<const uint8_t *>(t8.data);
  a.sinv = static_cast<const float *>(t8.scales);
  a.fp8 = static_cast<uint8_t *>(dst->aux);
  a.scales = static_cast<float *>(dst->scales);
  a.out = static_cast<uint16_t *>(dst->data);
  a.rows = dst->rows;
  a.cols = dst->cols;
  a.br = d->block_rows ? d->block_rows : dst->rows;
  a.bc = d->block_cols ? d->block_cols : dst->cols;
  a.brs = mxb_block_shift(d->block_rows);
  a.bcs = mxb_block_shift(d->block_cols);
  a.scale_rows = sm.scale_rows;
  a.scale_cols = sm.scale_cols;
  a.metric = cfg->metric;
  a.tau = cfg->tau;
  if (a.rows * a.cols == 0) return MXB_SUCCESS;
  cudaStream_t st = as_stream(stream);
  MXB_DTYPE_SWITCH(src_type, DT, [&] { launch_mor<DT>(ctx, a, st); });
  return launch_status("mor kernels");
}
