// Grouped quantize on CUDA (docs/GEMM.md "Grouped quantize"): the routed
// activations of a Mixture-of-Experts layer in one call, with the groups
// read on the device. A one-thread prep kernel validates the groups (the
// grouped GEMM's rule, groups.cuh), writes the status word and each valid
// group's rows, and zeroes the amaxes the call computes; a fill kernel maps
// each row to its group (-1: no group's); the row-wise kernels of
// quantize_rows.cu then take each block's group from its row: NVFP4's
// tensor scale is the group's amax (computed in a first pass, one atomic
// for the lanes of a warp that share a group), rows of no group are not
// written. So each group's bytes are those of quantizing its rows alone,
// as on the CPU.
#include "cuda/cuda_ops.h"
#include "cuda/groups.cuh"
#include "cuda/launch.cuh"
#include "cuda/load.cuh"
#include "cuda/qcommon.cuh"
#include "cuda/quantize.cuh"

namespace mxb {
namespace {

// span[2e], span[2e + 1]: group e's first row and rows (rows 0 for a bad
// group, which the fill skips). zero_amax: the computed amaxes of the valid
// groups, zeroed (a bad group's is not written, as on the CPU).
__global__ void gq_prep(const void *index, int bits, int masked, int64_t E, int64_t rows, int64_t max_rows,
                        int64_t *span, float *zero_amax, int32_t *status) {
  if (threadIdx.x || blockIdx.x) return;
  int32_t bad = 0;
  int64_t end = 0;
  for (int64_t e = 0; e < E; e++) {
    int64_t start, n = group_span(index, bits, masked, e, rows, max_rows, &end, &start);
    if (n < 0) {
      if (!bad) bad = bad_group_status(e);
      n = 0;
    } else if (zero_amax) {
      zero_amax[e] = 0.0f;
    }
    span[2 * e] = start;
    span[2 * e + 1] = n;
  }
  if (status) *status = bad;
}

// row_group[r] = e for the rows of group e (blockIdx.x); the rest stay -1.
__global__ void gq_fill(const int64_t *span, int32_t *row_group) {
  const int64_t e = blockIdx.x, start = span[2 * e], n = span[2 * e + 1];
  for (int64_t i = blockIdx.y * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.y * blockDim.x)
    row_group[start + i] = (int32_t)e;
}

size_t span_bytes(int64_t E) { return ((size_t)E * 16 + 255) / 256 * 256; }

}  // namespace
}  // namespace mxb

using namespace mxb;

extern "C" size_t mxb_cuda_grouped_quantize_workspace(int64_t rows, int64_t groups) {
  return span_bytes(groups) + ((size_t)rows * 4 + 255) / 256 * 256 + 256 - MXB_WORKSPACE_ALIGNMENT;
}

extern "C" mxb_status_t mxb_cuda_grouped_quantize(struct mxb_context *ctx, const mxb_quant_config_t *cfg,
                                                  const mxb_format_desc *d, const mxb_tensor_sizes_t *s,
                                                  mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst,
                                                  int masked, int64_t groups, int index_bits, const void *index,
                                                  int32_t *status, int64_t max_rows, void *workspace, void *stream,
                                                  const char **impl) {
  cudaStream_t st = as_stream(stream);
  QArgs a = make_qargs(cfg, d, s, dst);
  a.src = src;
  a.rht = cfg->rht.enabled;
  a.vec_in = aligned16(src) && (a.cols * (int64_t)mxb_dtype_bytes(src_type)) % 16 == 0;
  a.vec_out = aligned16(a.data) && a.row_bytes % 16 == 0;
  if ((cfg->rht.enabled && cfg->rht.size != 16) || cfg->four_over_six || !rows_apply(d, cfg, a))
    return mxb_fail(MXB_ERR_UNSUPPORTED,
                    "grouped quantize on CUDA takes NVFP4 (RNE, the d = 16 RHT or none) and the MX formats (RNE) "
                    "with rows of whole blocks, 16-byte aligned input rows and codes, so far");
  char *ws = static_cast<char *>(workspace) + (256 - (uintptr_t)workspace % 256) % 256;
  int64_t *span = reinterpret_cast<int64_t *>(ws);
  int32_t *row_group = reinterpret_cast<int32_t *>(ws + span_bytes(groups));
  const bool amax_pass = d->scale_type == MXB_SCALE_UE4M3 && cfg->amax_source == MXB_AMAX_COMPUTE;
  gq_prep<<<1, 32, 0, st>>>(index, index_bits, masked, groups, dst->rows, max_rows, span,
                            amax_pass ? dst->amax : nullptr, status);
  MXB_TRY(launch_status("grouped quantize prep kernel"));
  if (dst->rows == 0) return MXB_SUCCESS;
  MXB_TRY(cuda_status(cudaMemsetAsync(row_group, 0xFF, (size_t)dst->rows * 4, st), "cudaMemsetAsync(row map)"));
  const int64_t per = masked ? max_rows : dst->rows;  // rows of a group at most
  const dim3 grid((unsigned)groups, (unsigned)((per + 255) / 256 < 64 ? (per + 255) / 256 : 64));
  gq_fill<<<grid, 256, 0, st>>>(span, row_group);
  MXB_TRY(launch_status("grouped quantize row map"));
  mxb_status_t rs = MXB_SUCCESS;
  quantize_rows(ctx, d, cfg, src_type, amax_pass, a, st, &rs, impl, row_group);
  return rs;
}
