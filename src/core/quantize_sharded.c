/* A tensor-parallel shard quantized with the whole tensor's amax
 * (mxb_quantize_shard; docs/DISTRIBUTED.md), the cross-rank reduction the
 * caller's. The shard's own amax comes from the quantizer's amax pass (of
 * RHT(x), NaN blocks left out, FP8's finite values), so the reduced amax is
 * bit for bit the unsharded tensor's; the second pass quantizes with it
 * supplied. */
#include "common/block.h"
#include "common/format_table.h"
#include "core/context.h"
#include "core/error.h"
#include "core/quantize.h"
#include "core/tensor.h"
#ifdef MXB_WITH_CUDA
#include "cuda/cuda_ops.h"
#endif

/* count amaxes made canonical in place (the checks done). */
static mxb_status_t make_canonical(mxb_context_t *ctx, float *amax, int64_t count, void *stream) {
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA) return mxb_cuda_amax_canonicalize(amax, count, stream);
#else
  (void)ctx;
#endif
  (void)stream;
  for (int64_t i = 0; i < count; i++) amax[i] = mxb_u2f(mxb_amax_reduce_bits(mxb_f2u(amax[i])));
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_amax_canonicalize(mxb_context_t *ctx, float *amax, int64_t count, void *stream) {
  mxb_clear_error();
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!amax) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "amax is NULL");
  MXB_TRY(mxb_check_aligned(amax, sizeof(float), "amax"));
  if (count < 1 || count > MXB_MAX_ELEMS)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "count %lld is not in 1 .. 2^40", (long long)count);
#ifndef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA) return mxb_fail(MXB_ERR_NOT_BUILT_WITH_CUDA, "the library was built without CUDA");
#endif
  MXB_TRY(make_canonical(ctx, amax, count, stream));
  mxb_set_last_impl(ctx, ctx->backend == MXB_BACKEND_CUDA ? "cuda-amax-canonicalize" : "cpu-reference");
  return MXB_SUCCESS;
}

/* Whether the call reduces an amax over the ranks, and how many (1, or the
 * rows' with nvfp4_row_amax). A caller's amax is global already; a shard of
 * whole rows owns its rows' amaxes; formats without a tensor amax have
 * nothing to reduce. */
static int64_t reduced_amaxes(const mxb_quant_config_t *cfg, const mxb_tensor_t *dst) {
  const int ts = mxb_fmt_tensor_scale(dst->format);
  if (cfg->amax_source != MXB_AMAX_COMPUTE || (ts != MXB_TSCALE_AMAX && ts != MXB_TSCALE_PLANE)) return 0;
  if (!cfg->nvfp4_row_amax) return 1;
  return mxb_quant_global_cols(cfg, dst->cols) == dst->cols ? 0 : dst->rows;
}

/* The amax pass's config: the shard's amax as mxb_quantize computes it, by
 * RNE and without the SR state (whose offset it would advance), into
 * dst->amax (NVFP4's own plane; FP8 per tensor's through amax_out). */
static mxb_quant_config_t amax_pass(const mxb_quant_config_t *cfg, const mxb_tensor_t *dst) {
  mxb_quant_config_t c = *cfg;
  c.rounding = MXB_ROUND_RNE;
  c.rng_state = NULL;
  if (mxb_fmt_tensor_scale(dst->format) == MXB_TSCALE_PLANE) c.amax_out = dst->amax;
  return c;
}

/* The shard's amax: on CUDA the quantizer's amax pass alone; the CPU
 * reference computes it while quantizing (the second pass rewrites the
 * codes). */
static mxb_status_t shard_amax(mxb_context_t *ctx, const mxb_quant_config_t *a, const mxb_format_desc *d,
                               const mxb_tensor_sizes_t *sz, mxb_dtype_t src_type, const void *src,
                               mxb_tensor_t *dst, void *workspace, void *stream) {
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA) {
    const char *impl;
    return mxb_cuda_quantize_amax(ctx, a, d, sz, src_type, src, dst, workspace, stream, &impl);
  }
#endif
  return mxb_quantize_checked(ctx, a, d, sz, src_type, src, dst, workspace, stream);
}

static mxb_quant_config_t supplied(const mxb_quant_config_t *cfg) {
  mxb_quant_config_t c = *cfg;
  c.amax_source = MXB_AMAX_FROM_TENSOR; /* the caller's amax_out, if any, gets the shard's own amax */
  return c;
}

/* Validation and the workspace both passes need. */
static mxb_status_t check_shard(mxb_context_t *ctx, const mxb_quant_config_t *cfg, mxb_dtype_t src_type,
                                const mxb_tensor_t *dst, int64_t *count, const mxb_format_desc **d,
                                mxb_tensor_sizes_t *sz, size_t *bytes) {
  MXB_TRY(mxb_check_quantize(ctx, cfg, src_type, dst, sz, d));
  *count = reduced_amaxes(cfg, dst);
  *bytes = mxb_quantize_workspace(ctx, cfg, *d, dst, sz);
  if (!*count) return MXB_SUCCESS;
  if (!dst->amax)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "dst->amax is NULL: a %s shard needs a float for the global amax",
                    (*d)->name);
  MXB_TRY(mxb_check_aligned(dst->amax, 4, "dst->amax"));
  const mxb_quant_config_t a = amax_pass(cfg, dst), s = supplied(cfg);
  const size_t wa = mxb_quantize_workspace(ctx, &a, *d, dst, sz), ws = mxb_quantize_workspace(ctx, &s, *d, dst, sz);
  *bytes = wa > ws ? wa : ws;
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_quantize_shard_workspace_size(mxb_context_t *ctx, const mxb_quant_config_t *cfg,
                                                       mxb_dtype_t src_type, const mxb_tensor_t *dst,
                                                       size_t *bytes) {
  mxb_clear_error();
  if (!bytes) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "bytes is NULL");
  mxb_quant_config_t full;
  MXB_TRY(mxb_quant_full_config(cfg, "cfg", &full));
  int64_t count;
  const mxb_format_desc *d;
  mxb_tensor_sizes_t sz;
  return check_shard(ctx, &full, src_type, dst, &count, &d, &sz, bytes);
}

MXB_API mxb_status_t mxb_quantize_shard(mxb_context_t *ctx, mxb_amax_reduce_fn reduce, void *arg,
                                        const mxb_quant_config_t *cfg, mxb_dtype_t src_type, const void *src,
                                        mxb_tensor_t *dst, void *workspace, size_t workspace_bytes, void *stream) {
  mxb_clear_error();
  mxb_quant_config_t full;
  MXB_TRY(mxb_quant_full_config(cfg, "cfg", &full));
  int64_t count;
  const mxb_format_desc *d;
  mxb_tensor_sizes_t sz;
  size_t need;
  MXB_TRY(check_shard(ctx, &full, src_type, dst, &count, &d, &sz, &need));
  if (count && !reduce) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "reduce is NULL but %s's amax must be reduced", d->name);
  MXB_TRY(mxb_check_plain(src, "src", src_type, dst->rows, dst->cols));
  MXB_TRY(mxb_check_workspace(workspace, workspace_bytes, need, "mxb_quantize_shard_workspace_size"));
  if (!count) return mxb_quantize_checked(ctx, &full, d, &sz, src_type, src, dst, workspace, stream);
  const mxb_quant_config_t a = amax_pass(&full, dst), s = supplied(&full);
  MXB_TRY(shard_amax(ctx, &a, d, &sz, src_type, src, dst, workspace, stream));
  MXB_TRY(make_canonical(ctx, dst->amax, count, stream));
  MXB_TRY(reduce(arg, dst->amax, count, stream));
  MXB_TRY(mxb_quantize_checked(ctx, &s, d, &sz, src_type, src, dst, workspace, stream));
  mxb_set_last_impl(ctx, ctx->backend == MXB_BACKEND_CUDA ? "cuda-shard-quantize" : "cpu-reference");
  return MXB_SUCCESS;
}
