/* mxb_rht: validation and dispatch of the standalone random Hadamard transform. */
#include "core/context.h"
#include "core/error.h"
#include "core/tensor.h"
#include "cpu/transforms.h"
#include "cuda/cuda_ops.h"

#include <stdint.h>

MXB_API mxb_status_t mxb_rht(mxb_context_t *ctx, const mxb_rht_t *rht, int inverse, mxb_axis_t axis,
                             int64_t rows, int64_t cols, mxb_dtype_t in_type, const void *in,
                             mxb_dtype_t out_type, void *out, void *stream) {
  (void)stream;
  mxb_clear_error();
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!rht) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "rht is NULL");
  if (inverse != 0 && inverse != 1)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "inverse is %d, expected 0 (forward) or 1 (inverse)", inverse);
  if (axis != MXB_AXIS_COLS && axis != MXB_AXIS_ROWS)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "axis %d is not a valid mxb_axis_t", (int)axis);
  MXB_TRY(mxb_check_plain(in, "in", in_type, rows, cols));
  MXB_TRY(mxb_check_plain(out, "out", out_type, rows, cols));
  if (out_type != MXB_DTYPE_FP32 && out_type != MXB_DTYPE_BF16)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "RHT output type %d is not offered (fp32 or bf16)", (int)out_type);
  MXB_TRY(mxb_check_rht(rht, axis == MXB_AXIS_COLS ? cols : rows, axis == MXB_AXIS_COLS ? "cols" : "rows"));
  /* In place is fine (each chunk is read whole before it is written); any
   * other overlap would read values already transformed. */
  uintptr_t ib = (uintptr_t)in, ob = (uintptr_t)out;
  uintptr_t ie = ib + (uintptr_t)(rows * cols) * (size_t)mxb_dtype_bytes(in_type);
  uintptr_t oe = ob + (uintptr_t)(rows * cols) * (size_t)mxb_dtype_bytes(out_type);
  if (ib < oe && ob < ie && !(ib == ob && in_type == out_type))
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "in and out overlap (only in == out with equal types is allowed)");
  const char *impl = "cpu-reference";
  if (ctx->backend == MXB_BACKEND_CUDA) {
#ifdef MXB_WITH_CUDA
    MXB_TRY(mxb_cuda_rht(ctx, rht, inverse, axis, rows, cols, in_type, in, out_type, out, stream));
    impl = "cuda-rht";
#else
    return mxb_fail(MXB_ERR_NOT_BUILT_WITH_CUDA, "the library was built without CUDA");
#endif
  } else {
    MXB_TRY(mxb_cpu_rht(rht, inverse, axis, rows, cols, in_type, in, out_type, out));
  }
  mxb_set_last_impl(ctx, impl);
  return MXB_SUCCESS;
}
