/* mxb_transpose_quantized: validation and dispatch. */
#include "core/context.h"
#include "core/error.h"
#include "core/tensor.h"
#include "cuda/cuda_ops.h"
#include "cpu/transforms.h"

MXB_API mxb_status_t mxb_transpose_quantized(mxb_context_t *ctx, const mxb_tensor_t *in,
                                             mxb_tensor_t *out, void *stream) {
  (void)stream; /* used by the CUDA backend only */
  mxb_clear_error();
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  MXB_TRY(mxb_check_tensor(in, "in", NULL, NULL));
  MXB_TRY(mxb_check_tensor(out, "out", NULL, NULL));
  const mxb_format_desc *d = mxb_format_desc_get(in->format);
  const int mx = d->scale_type == MXB_SCALE_E8M0 && d->block_rows == 1;
  if (in->format != MXB_FORMAT_NVFP4 && !mx)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "in is %s: an exact transpose exists for 2D-scaled NVFP4 and MX only",
                    d->name);
  if (!(in->flags & MXB_TENSOR_SCALED_2D))
    return mxb_fail(MXB_ERR_UNSUPPORTED,
                    "in was not quantized with 2D (%dx%d) scaling (flags lack MXB_TENSOR_SCALED_2D): "
                    "its transpose needs requantizing; quantize with cfg->block_2d = 1",
                    d->block_cols, d->block_cols);
  if (in->flags & MXB_TENSOR_RHT)
    return mxb_fail(MXB_ERR_UNSUPPORTED,
                    "in holds RHT values along its cols; its transpose would be transformed along rows");
  if (out->format != in->format)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "out is %s, expected %s (in's format)", mxb_format_desc_get(out->format)->name,
                    d->name);
  if (out->rows != in->cols || out->cols != in->rows)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "out is [%lld, %lld], expected [%lld, %lld] (the transpose of in)",
                    (long long)out->rows, (long long)out->cols, (long long)in->cols, (long long)in->rows);
  if (out->data == in->data || out->scales == in->scales)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "out shares a plane with in (the transpose is not in place)");
  const char *impl = "cpu-reference";
  if (ctx->backend == MXB_BACKEND_CUDA) {
#ifdef MXB_WITH_CUDA
    MXB_TRY(mxb_cuda_transpose_2d(ctx, in, out, stream));
    impl = mx ? "cuda-transpose-mx-2d" : "cuda-transpose-nvfp4-2d";
#else
    return mxb_fail(MXB_ERR_NOT_BUILT_WITH_CUDA, "the library was built without CUDA");
#endif
  } else {
    MXB_TRY(mxb_cpu_transpose_2d(in, out));
  }
  out->flags = in->flags;
  mxb_set_last_impl(ctx, impl);
  return MXB_SUCCESS;
}
