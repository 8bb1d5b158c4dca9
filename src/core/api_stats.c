/* mxb_error_stats: validation, then the CPU statistics (host tensors only). */
#include "core/error.h"
#include "core/tensor.h"
#include "cpu/cpu_ops.h"

MXB_API mxb_status_t mxb_error_stats(const float *x, const mxb_tensor_t *q, mxb_error_stats_t *stats) {
  mxb_clear_error();
  if (!x) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "x is NULL");
  if (!stats) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "stats is NULL");
  MXB_TRY(mxb_check_struct_size(stats->struct_size, MXB_MIN_SIZE_ERROR_STATS, "stats",
                                "set it to sizeof(mxb_error_stats_t)"));
  mxb_tensor_sizes_t sz;
  const mxb_format_desc *d;
  MXB_TRY(mxb_check_tensor(q, "q", &sz, &d));
  MXB_TRY(mxb_check_aligned(x, sizeof(float), "x"));
  if (d->format == MXB_FORMAT_FP32)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "q is plain fp32: there is nothing quantized to compare");
  mxb_error_stats_t s;
  MXB_TRY(mxb_cpu_error_stats(x, q, d, &sz, &s));
  mxb_struct_out(stats, &s, sizeof(s));
  return MXB_SUCCESS;
}
