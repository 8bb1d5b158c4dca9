/* MoR entry points: validation and dispatch (NUMERICS 6). */
#include "core/context.h"
#include "core/error.h"
#include "core/mor_layout.h"
#include "core/tensor.h"
#include "cuda/cuda_ops.h"
#include "cpu/transforms.h"

#include <math.h>

static mxb_status_t check_mor_tensor(const mxb_tensor_t *t, const char *name, const mxb_format_desc **desc) {
  const mxb_format_desc *d;
  MXB_TRY(mxb_check_tensor(t, name, NULL, &d));
  if (d->elem != MXB_ELEM_MIXED)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "%s->format is %s, expected mor, mor_128x128 or mor_1x128", name, d->name);
  if (desc) *desc = d;
  return MXB_SUCCESS;
}

static mxb_status_t check_mor(mxb_context_t *ctx, const mxb_mor_config_t *cfg, mxb_dtype_t src_type,
                              const mxb_tensor_t *dst) {
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!cfg) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg is NULL");
  MXB_TRY(mxb_check_struct_size(cfg->struct_size, MXB_MIN_SIZE_MOR_CONFIG, "cfg", "use mxb_mor_config_init"));
  if (cfg->metric != MXB_MOR_METRIC_REL_L2 && cfg->metric != MXB_MOR_METRIC_MAX_REL &&
      cfg->metric != MXB_MOR_METRIC_MEAN_REL)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg->metric %d is not a valid mxb_mor_metric_t", (int)cfg->metric);
  if (!(cfg->tau >= 0) || isinf(cfg->tau))
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg->tau (%g) must be finite and >= 0", cfg->tau);
  if (cfg->pow2_scale != 0 && cfg->pow2_scale != 1)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg->pow2_scale is %d, expected 0 or 1", cfg->pow2_scale);
  if (mxb_dtype_bytes(src_type) == 0)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "src type %d is not a valid mxb_dtype_t", (int)src_type);
  return check_mor_tensor(dst, "dst", NULL);
}

MXB_API mxb_status_t mxb_mor_workspace_size(mxb_context_t *ctx, const mxb_mor_config_t *cfg, mxb_dtype_t src_type,
                                            const mxb_tensor_t *dst, size_t *bytes) {
  mxb_clear_error();
  if (!bytes) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "bytes is NULL");
  MXB_TRY(check_mor(ctx, cfg, src_type, dst));
  *bytes = mxb_mor_layout_of(dst).total;
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_mor_quantize(mxb_context_t *ctx, const mxb_mor_config_t *cfg, mxb_dtype_t src_type,
                                      const void *src, mxb_tensor_t *dst, void *workspace, size_t workspace_bytes,
                                      void *stream) {
  (void)stream; /* used by the CUDA backend only */
  mxb_clear_error();
  MXB_TRY(check_mor(ctx, cfg, src_type, dst));
  MXB_TRY(mxb_check_plain(src, "src", src_type, dst->rows, dst->cols));
  MXB_TRY(mxb_check_workspace(workspace, workspace_bytes, mxb_mor_layout_of(dst).total, "mxb_mor_workspace_size"));
  const char *impl = "cpu-reference";
  if (ctx->backend == MXB_BACKEND_CUDA) {
#ifdef MXB_WITH_CUDA
    MXB_TRY(mxb_cuda_mor_quantize(ctx, cfg, src_type, src, dst, workspace, stream));
    impl = "cuda-mor";
#else
    return mxb_fail(MXB_ERR_NOT_BUILT_WITH_CUDA, "the library was built without CUDA");
#endif
  } else {
    MXB_TRY(mxb_cpu_mor_quantize(cfg, src_type, src, dst, workspace));
  }
  dst->flags = 0;
  mxb_set_last_impl(ctx, impl);
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_mor_fp8_fraction(const mxb_tensor_t *mor_host, double *fraction) {
  mxb_clear_error();
  if (!fraction) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "fraction is NULL");
  mxb_tensor_sizes_t s;
  MXB_TRY(check_mor_tensor(mor_host, "mor_host", NULL));
  mxb_compute_sizes(mor_host->format, mor_host->rows, mor_host->cols, mor_host->scale_layout, &s);
  const uint8_t *aux = (const uint8_t *)mor_host->aux;
  for (size_t k = 0; k < s.aux_bytes; k++)
    if (aux[k] > 1)
      return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "mor_host->aux[%zu] is %u, not a MoR decision (1 = FP8, 0 = BF16)", k,
                      (unsigned)aux[k]);
  *fraction = mxb_cpu_mor_fp8_fraction(mor_host);
  return MXB_SUCCESS;
}
