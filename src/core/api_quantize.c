/* mxb_quantize, mxb_quantize_workspace_size, mxb_dequantize, mxb_amax:
 * backend-neutral validation, then dispatch to the backend. */
#include "core/context.h"
#include "core/error.h"
#include "core/quantize.h"
#include "core/tensor.h"
#include "cpu/cpu_ops.h"
#include "cuda/cuda_ops.h"

/* What the backend adds to mxb_check_quant_config: the CPU reference
 * implements every option; another backend says what it lacks. */
static mxb_status_t backend_offers(const mxb_context_t *ctx, const mxb_quant_config_t *cfg, const mxb_format_desc *d) {
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA) return mxb_cuda_quantize_offers(cfg, d);
#else
  (void)ctx;
  (void)cfg;
  (void)d;
#endif
  return MXB_SUCCESS;
}

/* Everything mxb_quantize checks except src, before anything is written. */
mxb_status_t mxb_check_quantize(const mxb_context_t *ctx, const mxb_quant_config_t *cfg, mxb_dtype_t src_type,
                                const mxb_tensor_t *dst, mxb_tensor_sizes_t *sz, const mxb_format_desc **desc) {
  const mxb_format_desc *d = NULL;
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!cfg) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "cfg is NULL");
  if (mxb_dtype_bytes(src_type) == 0)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "src_type %d is not a valid mxb_dtype_t", (int)src_type);
  MXB_TRY(mxb_check_tensor(dst, "dst", sz, &d));
  MXB_TRY(mxb_check_quant_config(cfg, d, dst->cols));
  MXB_TRY(mxb_check_shard(cfg, dst->rows, dst->cols));
  MXB_TRY(backend_offers(ctx, cfg, d));
  /* FP8 per tensor keeps no amax plane: a supplied amax (delayed scaling)
   * is read from dst->amax all the same. */
  if (cfg->amax_source == MXB_AMAX_FROM_TENSOR && !d->has_amax) {
    if (!dst->amax)
      return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "dst->amax is NULL but cfg->amax_source says to read the amax from it");
    MXB_TRY(mxb_check_aligned(dst->amax, 4, "dst->amax"));
  }
  /* The caller's amax is host memory only on the CPU backend. */
  if (ctx->backend == MXB_BACKEND_CPU && cfg->amax_source == MXB_AMAX_FROM_TENSOR && !(*dst->amax >= 0.0f))
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "*dst->amax (%g) must be a non-negative number (or +Inf)",
                    (double)*dst->amax);
  if (desc) *desc = d;
  return MXB_SUCCESS;
}

size_t mxb_quantize_workspace(const mxb_context_t *ctx, const mxb_quant_config_t *cfg, const mxb_format_desc *d,
                              const mxb_tensor_t *dst, const mxb_tensor_sizes_t *sz) {
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA) return mxb_cuda_quantize_workspace(cfg, d, dst, sz);
#else
  (void)ctx;
  (void)cfg;
  (void)d;
  (void)dst;
  (void)sz;
#endif
  return 0; /* the CPU reference keeps its row buffers to itself */
}

void mxb_quantize_set_flags(mxb_tensor_t *dst, const mxb_quant_config_t *cfg) {
  dst->flags = mxb_quant_flags(cfg);
}

mxb_status_t mxb_quantize_checked(mxb_context_t *ctx, const mxb_quant_config_t *cfg, const mxb_format_desc *d,
                                  const mxb_tensor_sizes_t *sz, mxb_dtype_t src_type, const void *src,
                                  mxb_tensor_t *dst, void *workspace, void *stream) {
  const char *impl = "cpu-reference";
  if (ctx->backend == MXB_BACKEND_CUDA) {
#ifdef MXB_WITH_CUDA
    MXB_TRY(mxb_cuda_quantize(ctx, cfg, d, sz, src_type, src, dst, workspace, stream, &impl));
#else
    (void)d;
    (void)workspace;
    (void)stream;
    return mxb_fail(MXB_ERR_NOT_BUILT_WITH_CUDA, "the library was built without CUDA");
#endif
  } else if (cfg->rng_state) {  /* host memory here: read the state, draw, advance it */
    mxb_quant_config_t c = *cfg;
    c.seed = cfg->rng_state[0];
    c.offset = cfg->rng_state[1];
    MXB_TRY(mxb_cpu_quantize(&c, src_type, src, dst, sz));
    cfg->rng_state[1]++;
  } else {
    MXB_TRY(mxb_cpu_quantize(cfg, src_type, src, dst, sz));
  }
  mxb_quantize_set_flags(dst, cfg);
  mxb_set_last_impl(ctx, impl);
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_quantize_workspace_size(mxb_context_t *ctx, const mxb_quant_config_t *cfg,
                                                 mxb_dtype_t src_type, const mxb_tensor_t *dst, size_t *bytes) {
  mxb_clear_error();
  if (!bytes) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "bytes is NULL");
  mxb_tensor_sizes_t sz;
  const mxb_format_desc *d;
  mxb_quant_config_t full;
  MXB_TRY(mxb_quant_full_config(cfg, "cfg", &full));
  MXB_TRY(mxb_check_quantize(ctx, &full, src_type, dst, &sz, &d));
  *bytes = mxb_quantize_workspace(ctx, &full, d, dst, &sz);
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_quantize(mxb_context_t *ctx, const mxb_quant_config_t *cfg, mxb_dtype_t src_type,
                                  const void *src, mxb_tensor_t *dst, void *workspace, size_t workspace_bytes,
                                  void *stream) {
  mxb_clear_error();
  mxb_tensor_sizes_t sz;
  const mxb_format_desc *d;
  mxb_quant_config_t full;
  MXB_TRY(mxb_quant_full_config(cfg, "cfg", &full));
  cfg = &full;
  MXB_TRY(mxb_check_quantize(ctx, cfg, src_type, dst, &sz, &d));
  MXB_TRY(mxb_check_plain(src, "src", src_type, dst->rows, dst->cols));
  MXB_TRY(mxb_check_workspace(workspace, workspace_bytes, mxb_quantize_workspace(ctx, cfg, d, dst, &sz),
                              "mxb_quantize_workspace_size"));
  return mxb_quantize_checked(ctx, cfg, d, &sz, src_type, src, dst, workspace, stream);
}

/* Whether ctx's backend dequantizes format f (a valid format). */
static int dequantize_offered(const mxb_context_t *ctx, mxb_format_t f) {
  if (f == MXB_FORMAT_FP32) return 0; /* a plain GEMM operand: nothing to dequantize */
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA) return mxb_cuda_dequantize_supported(f);
#else
  (void)ctx;
#endif
  return 1;
}

MXB_API mxb_status_t mxb_quantize_supported(mxb_context_t *ctx, const mxb_quant_config_t *cfg,
                                            mxb_format_t format, int *supported) {
  mxb_clear_error();
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!supported) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "supported is NULL");
  const mxb_format_desc *d = mxb_format_desc_get(format);
  if (!d) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "format %d is not a valid mxb_format_t", (int)format);
  mxb_quant_config_t full;
  if (cfg) MXB_TRY(mxb_quant_full_config(cfg, "cfg", &full));
  else mxb_quant_config_defaults(&full);
  cfg = &full;
  /* The options' own checks (no shape: 0 columns are a multiple of every
   * RHT size); what remains is whether the format offers them. */
  mxb_status_t st = mxb_check_quant_config(cfg, d, 0);
  if (st == MXB_SUCCESS) st = backend_offers(ctx, cfg, d);
  if (st == MXB_ERR_UNSUPPORTED && cfg->rht.enabled) MXB_TRY(mxb_check_rht(&cfg->rht, 0, "cols"));
  if (st != MXB_SUCCESS && st != MXB_ERR_UNSUPPORTED) return st;
  *supported = st == MXB_SUCCESS;
  mxb_clear_error();
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_dequantize_supported(mxb_context_t *ctx, mxb_format_t format, int *supported) {
  mxb_clear_error();
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!supported) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "supported is NULL");
  if (!mxb_format_desc_get(format))
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "format %d is not a valid mxb_format_t", (int)format);
  *supported = dequantize_offered(ctx, format);
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_dequantize(mxb_context_t *ctx, const mxb_tensor_t *src, mxb_dtype_t dst_type, void *dst,
                                    void *stream) {
  (void)stream;
  mxb_clear_error();
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  const mxb_format_desc *d = NULL;
  mxb_tensor_sizes_t sz;
  MXB_TRY(mxb_check_tensor(src, "src", &sz, &d));
  if (d->format == MXB_FORMAT_FP32)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "fp32 is a plain GEMM operand, there is nothing to dequantize");
  MXB_TRY(mxb_check_plain(dst, "dst", dst_type, src->rows, src->cols));
  if (!dequantize_offered(ctx, d->format))
    return mxb_fail(MXB_ERR_UNSUPPORTED, "dequantize of %s is not offered on the %s backend", d->name,
                    ctx->backend == MXB_BACKEND_CUDA ? "CUDA" : "CPU");
  if (ctx->backend == MXB_BACKEND_CUDA) {
#ifdef MXB_WITH_CUDA
    const char *impl = "cuda-dequantize";
    MXB_TRY(mxb_cuda_dequantize(ctx, src, d, &sz, dst_type, dst, stream, &impl));
    mxb_set_last_impl(ctx, impl);
    return MXB_SUCCESS;
#else
    return mxb_fail(MXB_ERR_NOT_BUILT_WITH_CUDA, "the library was built without CUDA");
#endif
  }
  MXB_TRY(mxb_cpu_dequantize(src, dst_type, dst));
  mxb_set_last_impl(ctx, "cpu-reference");
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_amax(mxb_context_t *ctx, mxb_dtype_t type, const void *x, int64_t n, float *amax,
                              void *stream) {
  (void)stream;
  mxb_clear_error();
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!amax) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "amax is NULL");
  if (!x) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "x is NULL");
  if (mxb_dtype_bytes(type) == 0) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "type %d is not a valid mxb_dtype_t", (int)type);
  if (n <= 0 || n > MXB_MAX_ELEMS)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "n (%lld) must be in [1, 2^40]", (long long)n);
  MXB_TRY(mxb_check_aligned(x, (size_t)mxb_dtype_bytes(type), "x"));
  MXB_TRY(mxb_check_aligned(amax, sizeof(float), "amax"));
  if (ctx->backend == MXB_BACKEND_CUDA) {
#ifdef MXB_WITH_CUDA
    MXB_TRY(mxb_cuda_amax(ctx, type, x, n, amax, stream));
    mxb_set_last_impl(ctx, "cuda-amax");
    return MXB_SUCCESS;
#else
    return mxb_fail(MXB_ERR_NOT_BUILT_WITH_CUDA, "the library was built without CUDA");
#endif
  }
  *amax = mxb_cpu_amax(type, x, n);
  mxb_set_last_impl(ctx, "cpu-reference");
  return MXB_SUCCESS;
}
