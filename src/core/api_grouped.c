/* Grouped GEMM entry points (docs/GEMM.md "Grouped GEMM"): validation of the
 * layout and the stacked experts, then each backend walks the groups from the
 * index in its own memory (on CUDA, without a host sync). */
#include "common/gemm_epilogue.h"
#include "core/context.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/quantize.h"
#include "core/tensor.h"
#include "cpu/gemm.h"
#ifdef MXB_WITH_CUDA
#include "cuda/cuda_ops.h"
#include "cuda/gemm.h"
#endif

#include <stdint.h>
#include <string.h>

/* What a validated grouped call needs: the GEMM descriptor in force, the
 * K-block, N per expert, rows a group may hold and C's leading dimension. */
typedef struct grouped_shape {
  mxb_gemm_desc_t gemm;
  int L;
  int64_t N, max_rows, ldc;
} grouped_shape;

/* The group description's own fields (layout, groups, index, status). */
static mxb_status_t check_groups(const mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc) {
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!desc) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc is NULL");
  MXB_TRY(mxb_check_struct_size(desc->struct_size, MXB_MIN_SIZE_GROUPED_GEMM_DESC, "desc",
                                "use mxb_grouped_gemm_desc_init"));
  if (desc->layout != MXB_GROUPED_M_CONTIGUOUS && desc->layout != MXB_GROUPED_M_MASKED &&
      desc->layout != MXB_GROUPED_K_CONTIGUOUS)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->layout %d is not a valid mxb_grouped_layout_t",
                    (int)desc->layout);
  const int64_t E = desc->groups;
  if (E < 1 || E > MXB_MAX_GROUPS)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->groups (%lld) is not in 1 .. %d", (long long)E,
                    MXB_MAX_GROUPS);
  if (desc->index_bits != 32 && desc->index_bits != 64)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->index_bits (%d) is neither 32 nor 64", desc->index_bits);
  if (!desc->index) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->index (the group offsets or counts) is NULL");
  if ((uintptr_t)desc->index % (size_t)(desc->index_bits / 8))
    return mxb_fail(MXB_ERR_BAD_ALIGNMENT, "desc->index (%p) is not aligned to %d bytes", desc->index,
                    desc->index_bits / 8);
  if ((uintptr_t)desc->status % 4)
    return mxb_fail(MXB_ERR_BAD_ALIGNMENT, "desc->status (%p) is not 4-byte aligned", (void *)desc->status);
  return MXB_SUCCESS;
}

/* desc->a_group_scales where the caller's struct has it. */
static int a_group_scales(const mxb_grouped_gemm_desc_t *desc) {
  return desc->struct_size >= MXB_FIELD_END(mxb_grouped_gemm_desc_t, a_group_scales) && desc->a_group_scales;
}

static mxb_status_t check_grouped(const mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc,
                                  const mxb_tensor_t *A, const mxb_tensor_t *B, grouped_shape *g) {
  MXB_TRY(check_groups(ctx, desc));
  if (desc->gemm) MXB_TRY(mxb_gemm_full_desc(desc->gemm, &g->gemm));
  else mxb_gemm_desc_init(&g->gemm);
  MXB_TRY(mxb_gemm_check_desc(&g->gemm));
  if (g->gemm.aux && desc->layout == MXB_GROUPED_K_CONTIGUOUS)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "the pre-activation output (aux) takes the M layouts (the K split writes "
                                         "weight gradients, which no activation follows)");
  const int gated = mxb_gemm_gate_act(g->gemm.activation) != 0;
  if (gated && desc->layout == MXB_GROUPED_K_CONTIGUOUS)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "gated activations in the grouped GEMM take the M layouts (the K split "
                                         "writes weight gradients, which no activation follows)");
  const int64_t E = desc->groups;
  const mxb_format_desc *da, *db;
  MXB_TRY(mxb_check_tensor(A, "A", NULL, &da));
  MXB_TRY(mxb_check_tensor(B, "B", NULL, &db));
  if (A->cols != B->cols)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "A.cols (%lld) != B.cols (%lld): both are stored along K",
                    (long long)A->cols, (long long)B->cols);
  MXB_TRY(mxb_gemm_check_pair(da, db));
  if ((A->flags ^ B->flags) & MXB_TENSOR_RHT)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "one of A and B was quantized with a Hadamard transform along K "
                                              "and the other was not");
  if ((A->flags | B->flags) & MXB_TENSOR_ROW_AMAX)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "%s has a tensor amax per row (MXB_TENSOR_ROW_AMAX): the grouped GEMM takes "
                    "one a tensor or one a group so far", (A->flags & MXB_TENSOR_ROW_AMAX) ? "A" : "B");
  const int split_k = desc->layout == MXB_GROUPED_K_CONTIGUOUS;
  if (!split_k && B->rows % E)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "B.rows (%lld) is not groups (%lld) times N: B stacks the experts [E * N, K]",
                    (long long)B->rows, (long long)E);
  g->N = split_k ? B->rows : B->rows / E;
  /* Experts must not share a 2-D scale block. */
  if (!split_k && db->block_rows > 1 && g->N % db->block_rows)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "N (%lld) is not a multiple of %s's %d-row scale blocks: experts would share "
                                       "a block", (long long)g->N, db->name, db->block_rows);
  if (desc->layout == MXB_GROUPED_M_MASKED && A->rows % E)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "A.rows (%lld) is not groups (%lld) times max_m: the masked layout is "
                                       "[E * max_m, K]", (long long)A->rows, (long long)E);
  g->max_rows = desc->layout == MXB_GROUPED_M_MASKED ? A->rows / E : A->rows;
  MXB_TRY(mxb_gemm_resolve_ldc(&g->gemm, g->N, "desc->gemm->ldc", &g->ldc));
  if (g->gemm.aux) { /* [M, N] like the product, every group's rows where C has them; 0 means N */
    if (!g->gemm.ld_aux) g->gemm.ld_aux = g->N;
    if (g->gemm.ld_aux < g->N)
      return mxb_fail(MXB_ERR_BAD_SHAPE, "desc->gemm->ld_aux (%lld) is smaller than N (%lld)",
                      (long long)g->gemm.ld_aux, (long long)g->N);
    if (A->rows && g->gemm.ld_aux > MXB_MAX_ELEMS / A->rows)
      return mxb_fail(MXB_ERR_BAD_SHAPE, "aux of %lld rows with ld_aux %lld exceeds 2^40 elements",
                      (long long)A->rows, (long long)g->gemm.ld_aux);
  }
  const int64_t c_rows = split_k ? A->rows * E : A->rows; /* K split: E stacked [M, N] results */
  if (A->rows > MXB_MAX_ELEMS / E || g->ldc > MXB_MAX_ELEMS / c_rows)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "C of %lld x %lld rows with ldc %lld exceeds 2^40 elements",
                    (long long)(split_k ? E : 1), (long long)A->rows, (long long)g->ldc);
  if (a_group_scales(desc)) {
    if (split_k)
      return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->a_group_scales applies to the M layouts: with K split, A "
                                                "has one tensor scale");
    if (mxb_fmt_tensor_scale(A->format) != MXB_TSCALE_AMAX)
      return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->a_group_scales: A (%s) has no tensor amax to take per group",
                      da->name);
  }
  g->L = mxb_gemm_k_block(da, db);
  return MXB_SUCCESS;
}

static mxb_status_t grouped_workspace(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc, const mxb_tensor_t *A,
                                      const mxb_tensor_t *B, const grouped_shape *g, size_t *bytes) {
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA) {
    *bytes = mxb_cuda_grouped_gemm_workspace_size(ctx, &g->gemm, desc->layout, desc->groups, A, B, g->N,
                                                  g->max_rows, g->ldc);
    return MXB_SUCCESS;
  }
#else
  (void)ctx;
  (void)desc;
  (void)B;
#endif
  /* a gated activation: each group's pre-activations after the GEMM's workspace */
  *bytes = mxb_cpu_gemm_workspace_size(g->max_rows, g->N, A->cols, g->L) +
           mxb_cpu_gemm_gated_scratch(&g->gemm, g->max_rows, g->N);
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_grouped_gemm_workspace_size(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc,
                                                     const mxb_tensor_t *A, const mxb_tensor_t *B,
                                                     size_t *bytes) {
  mxb_clear_error();
  grouped_shape g;
  MXB_TRY(check_grouped(ctx, desc, A, B, &g));
  if (!bytes) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "bytes (the output pointer) is NULL");
  return grouped_workspace(ctx, desc, A, B, &g, bytes);
}

/* Expert e of the stack as a tensor over the same planes: rows keep their
 * index in B, the tensor scale is the expert's own (K split: B is shared). */
static mxb_tensor_t expert(const mxb_grouped_gemm_desc_t *desc, const mxb_tensor_t *B, int64_t e) {
  mxb_tensor_t t = *B;
  if (desc->layout == MXB_GROUPED_K_CONTIGUOUS) return t;
  switch (mxb_fmt_tensor_scale(B->format)) {
    case MXB_TSCALE_AMAX: t.amax = B->amax + e; break;
    case MXB_TSCALE_PLANE: t.scales = (float *)B->scales + e; break;
    default: break;
  }
  return t;
}

static int64_t index_at(const mxb_grouped_gemm_desc_t *desc, int64_t i) {
  return desc->index_bits == 64 ? ((const int64_t *)desc->index)[i] : (int64_t)((const int32_t *)desc->index)[i];
}

/* Group e's span [*start, *start + n) along the grouped dimension, `limit`
 * long (masked: max_rows a group), returning n, or -1 for a bad group;
 * *end keeps the contiguous layouts' order (a valid group starts at or
 * after the end of every earlier valid one). */
static int64_t group_span(const mxb_grouped_gemm_desc_t *desc, int64_t e, int64_t limit, int64_t max_rows,
                          int64_t *end, int64_t *start) {
  int64_t n;
  if (desc->layout == MXB_GROUPED_M_MASKED) {
    *start = e * max_rows;
    n = index_at(desc, e);
    return n < 0 || n > max_rows ? -1 : n;
  }
  *start = index_at(desc, e);
  n = index_at(desc, e + 1) - *start;
  if (*start < *end || n < 0 || *start + n > limit) return -1;
  *end = *start + n;
  return n;
}

/* The CPU walk: each valid group is the dense product of its rows. */
static void cpu_grouped(const mxb_grouped_gemm_desc_t *desc, const grouped_shape *g, const mxb_tensor_t *A,
                        const mxb_tensor_t *B, void *C, void *workspace) {
  const size_t esize = (size_t)mxb_dtype_bytes(g->gemm.c_type);
  int32_t bad = 0;
  int64_t end = 0; /* rows before `end` belong to an earlier group */
  float *scratch = (float *)((unsigned char *)workspace + /* a gated activation's, after the GEMM's workspace */
                             mxb_cpu_gemm_workspace_size(g->max_rows, g->N, A->cols, g->L));
  const mxb_gemm_desc_t hd = mxb_gemm_host_scalars(&g->gemm); /* pointer mode: read once, for every group */
  for (int64_t e = 0; e < desc->groups; e++) {
    int64_t start; /* K split: columns [start, start + rows) of A and B; else rows of A */
    const int64_t rows = group_span(desc, e, desc->layout == MXB_GROUPED_K_CONTIGUOUS ? A->cols : A->rows,
                                    g->max_rows, &end, &start);
    if (rows < 0) {
      if (!bad) bad = (int32_t)(e + 1 <= INT32_MAX ? e + 1 : INT32_MAX);
      continue;
    }
    const mxb_tensor_t Be = expert(desc, B, e);
    mxb_tensor_t Ae = *A; /* group e's tensor amax, with a_group_scales */
    if (a_group_scales(desc)) Ae.amax = A->amax + e;
    mxb_gemm_desc_t d = hd; /* the expert's bias: N values of the E x N */
    if (d.bias) d.bias = (const char *)d.bias + (size_t)(e * g->N) * (size_t)mxb_dtype_bytes(d.bias_type);
    char *Ce = (char *)C + (size_t)(start * g->ldc) * esize;
    if (d.aux) d.aux = (char *)d.aux + (size_t)(start * d.ld_aux) * esize; /* the group's rows (M layouts) */
    if (desc->layout == MXB_GROUPED_K_CONTIGUOUS)
      mxb_cpu_gemm_rows_k(&d, &Ae, 0, A->rows, &Be, 0, g->N, (char *)C + (size_t)(e * A->rows * g->ldc) * esize,
                          g->ldc, g->L, 0, workspace, 1, start, start + rows);
    else if (mxb_gemm_gate_act(d.activation))
      mxb_cpu_gemm_rows_gated(&d, &Ae, start, rows, &Be, e * g->N, g->N, Ce, g->ldc, g->L, 0, workspace, scratch);
    else
      mxb_cpu_gemm_rows(&d, &Ae, start, rows, &Be, e * g->N, g->N, Ce, g->ldc, g->L, 0, workspace, 1);
  }
  if (desc->status) *desc->status = bad;
}

/* A validated grouped GEMM on ctx's backend. */
static mxb_status_t run_grouped(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc, const grouped_shape *g,
                                const mxb_tensor_t *A, const mxb_tensor_t *B, void *C, void *workspace, void *stream) {
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA)
    return mxb_cuda_grouped_gemm(ctx, &g->gemm, desc->layout, desc->groups, desc->index_bits, desc->index,
                                 desc->status, A, B, C, g->N, g->max_rows, g->ldc, a_group_scales(desc), workspace,
                                 stream);
#endif
  (void)stream;
  cpu_grouped(desc, g, A, B, C, workspace);
  mxb_set_last_impl(ctx, "cpu-reference");
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_grouped_gemm(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc,
                                      const mxb_tensor_t *A, const mxb_tensor_t *B, void *C, void *workspace,
                                      size_t workspace_bytes, void *stream) {
  mxb_clear_error();
  grouped_shape g;
  MXB_TRY(check_grouped(ctx, desc, A, B, &g));
  MXB_TRY(mxb_gemm_check_c(&g.gemm, C));
  size_t need;
  MXB_TRY(grouped_workspace(ctx, desc, A, B, &g, &need));
  MXB_TRY(mxb_check_workspace(workspace, workspace_bytes, need, "mxb_grouped_gemm_workspace_size"));
  return run_grouped(ctx, desc, &g, A, B, C, workspace, stream);
}

/* ------------------------------------------------------- grouped quantize */
/* A validated grouped quantize: the config, dst's format and sizes, and the
 * bytes one row takes in each plane (the planes are rows of equal length). */
typedef struct gquant {
  mxb_quant_config_t cfg;
  const mxb_format_desc *fmt;
  mxb_tensor_sizes_t sz;
  size_t row_data, row_scales, row_aux, src_row;
  int64_t max_rows;
} gquant;

static mxb_status_t check_gquant(const mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *groups,
                                 const mxb_quant_config_t *cfg, mxb_dtype_t src_type, const mxb_tensor_t *dst,
                                 gquant *q) {
  MXB_TRY(check_groups(ctx, groups));
  if (groups->layout == MXB_GROUPED_K_CONTIGUOUS)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "grouped quantize takes the M layouts (groups of rows), not the K split");
  MXB_TRY(mxb_quant_full_config_or_default(cfg, &q->cfg));
  MXB_TRY(mxb_check_quantize(ctx, &q->cfg, src_type, dst, &q->sz, &q->fmt));
  const int64_t E = groups->groups;
  if (q->fmt->block_rows > 1 || q->cfg.block_2d)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "%s with %s: a scale block would span groups of rows", q->fmt->name,
                    q->cfg.block_2d ? "2D tiles" : "its 2-D blocks");
  if (dst->scale_layout != MXB_SCALE_LAYOUT_LINEAR)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "dst's swizzled scale tiles would span groups of rows: use the linear layout");
  const int ts = mxb_fmt_tensor_scale(dst->format);
  if (ts != MXB_TSCALE_NONE && ts != MXB_TSCALE_AMAX)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "%s keeps one scale for the tensor: grouped quantize gives per-group "
                                         "tensor scales to NVFP4 only", q->fmt->name);
  if (q->cfg.rounding == MXB_ROUND_SR)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "stochastic rounding draws by the element's place in the tensor; grouped "
                                         "quantize does not define it yet");
  if (q->cfg.compat)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "compatibility profiles are mxb_quantize's, not the grouped quantize's");
  if (q->cfg.global_row0 || q->cfg.global_col0 || q->cfg.global_cols)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "a shard origin (cfg->global_*) is mxb_quantize's, not the grouped quantize's");
  if (q->cfg.nvfp4_row_amax)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "grouped quantize gives NVFP4 an amax a group; an amax per row is "
                                         "mxb_quantize's (nvfp4_row_amax)");
  if (groups->layout == MXB_GROUPED_M_MASKED && dst->rows % E)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "dst.rows (%lld) is not groups (%lld) times max_m", (long long)dst->rows,
                    (long long)E);
  q->max_rows = groups->layout == MXB_GROUPED_M_MASKED ? dst->rows / E : dst->rows;
  mxb_tensor_sizes_t one = {.struct_size = sizeof(one)};
  MXB_TRY(mxb_tensor_sizes(dst->format, 1, dst->cols, dst->scale_layout, &one));
  q->row_data = one.data_bytes;
  q->row_scales = one.scale_bytes;
  q->row_aux = one.aux_bytes;
  if (q->sz.data_bytes != q->row_data * (size_t)dst->rows || q->sz.scale_bytes != q->row_scales * (size_t)dst->rows ||
      q->sz.aux_bytes != q->row_aux * (size_t)dst->rows)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "%s's planes are not rows of equal length", q->fmt->name);
  q->src_row = (size_t)dst->cols * (size_t)mxb_dtype_bytes(src_type);
  /* a supplied amax per group, read on the host (CUDA: device memory, read there) */
  if (ctx->backend == MXB_BACKEND_CPU && q->cfg.amax_source == MXB_AMAX_FROM_TENSOR && ts == MXB_TSCALE_AMAX)
    for (int64_t e = 0; e < E; e++)
      if (!(dst->amax[e] >= 0.0f))
        return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "dst->amax[%lld] (%g) must be a non-negative number (or +Inf)",
                        (long long)e, (double)dst->amax[e]);
  return MXB_SUCCESS;
}

/* Workspace bytes of a validated grouped quantize. */
static size_t gquant_workspace(const mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *groups,
                               const mxb_tensor_t *dst) {
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA) return mxb_cuda_grouped_quantize_workspace(dst->rows, groups->groups);
#else
  (void)ctx;
  (void)groups;
  (void)dst;
#endif
  return 0; /* the CPU reference keeps its row buffers to itself */
}

MXB_API mxb_status_t mxb_grouped_quantize_workspace_size(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *groups,
                                                         const mxb_quant_config_t *cfg, mxb_dtype_t src_type,
                                                         const mxb_tensor_t *dst, size_t *bytes) {
  mxb_clear_error();
  gquant q;
  MXB_TRY(check_gquant(ctx, groups, cfg, src_type, dst, &q));
  if (!bytes) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "bytes (the output pointer) is NULL");
  *bytes = gquant_workspace(ctx, groups, dst);
  return MXB_SUCCESS;
}

/* A validated grouped quantize on ctx's backend. */
static mxb_status_t run_gquant(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *groups, const gquant *q,
                               mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst, void *workspace,
                               void *stream) {
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA) {
    const char *impl = NULL;
    MXB_TRY(mxb_cuda_grouped_quantize(ctx, &q->cfg, q->fmt, &q->sz, src_type, src, dst,
                                      groups->layout == MXB_GROUPED_M_MASKED, groups->groups, groups->index_bits,
                                      groups->index, groups->status, q->max_rows, workspace, stream, &impl));
    dst->flags = mxb_quant_flags(&q->cfg);
    mxb_set_last_impl(ctx, impl);
    return MXB_SUCCESS;
  }
#endif
  (void)workspace;
  const int amax_per_group = mxb_fmt_tensor_scale(dst->format) == MXB_TSCALE_AMAX;
  int32_t bad = 0;
  int64_t end = 0;
  for (int64_t e = 0; e < groups->groups; e++) {
    int64_t start;
    const int64_t rows = group_span(groups, e, dst->rows, q->max_rows, &end, &start);
    if (rows < 0) {
      if (!bad) bad = (int32_t)(e + 1 <= INT32_MAX ? e + 1 : INT32_MAX);
      continue;
    }
    if (rows == 0) { /* no values: a computed amax of an empty group is 0 */
      if (amax_per_group && q->cfg.amax_source != MXB_AMAX_FROM_TENSOR) dst->amax[e] = 0.0f;
      continue;
    }
    /* rows [start, start + rows) of dst, as a tensor of their own */
    mxb_tensor_t sub = *dst;
    sub.rows = rows;
    sub.data = (unsigned char *)dst->data + (size_t)start * q->row_data;
    sub.scales = q->row_scales ? (unsigned char *)dst->scales + (size_t)start * q->row_scales : dst->scales;
    sub.aux = q->row_aux ? (unsigned char *)dst->aux + (size_t)start * q->row_aux : dst->aux;
    sub.amax = amax_per_group ? dst->amax + e : dst->amax;
    mxb_tensor_sizes_t ssz = {.struct_size = sizeof(ssz)};
    MXB_TRY(mxb_tensor_sizes(dst->format, rows, dst->cols, dst->scale_layout, &ssz));
    MXB_TRY(mxb_quantize_checked(ctx, &q->cfg, q->fmt, &ssz, src_type, (const unsigned char *)src + (size_t)start * q->src_row,
                                 &sub, NULL, stream));
  }
  dst->flags = mxb_quant_flags(&q->cfg);
  if (groups->status) *groups->status = bad;
  mxb_set_last_impl(ctx, "cpu-reference");
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_grouped_quantize(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *groups,
                                          const mxb_quant_config_t *cfg, mxb_dtype_t src_type, const void *src,
                                          mxb_tensor_t *dst, void *workspace, size_t workspace_bytes, void *stream) {
  mxb_clear_error();
  gquant q;
  MXB_TRY(check_gquant(ctx, groups, cfg, src_type, dst, &q));
  if (!src) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "src is NULL");
  MXB_TRY(mxb_check_workspace(workspace, workspace_bytes, gquant_workspace(ctx, groups, dst),
                              "mxb_grouped_quantize_workspace_size"));
  return run_gquant(ctx, groups, &q, src_type, src, dst, workspace, stream);
}

/* ------------------------------------------------ grouped GEMM, quantized C */
/* The grouped GEMM into an fp32 C in the workspace, then the grouped quantize
 * of its groups' rows (docs/GEMM.md): the bytes of the two calls. */
typedef struct gqgemm {
  grouped_shape g;
  gquant q;
  size_t c_bytes, gemm_bytes, total;
} gqgemm;

static mxb_status_t check_gqgemm(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc, const mxb_quant_config_t *cfg,
                                 const mxb_tensor_t *A, const mxb_tensor_t *B, const mxb_tensor_t *C,
                                 mxb_grouped_gemm_desc_t *d32, gqgemm *s) {
  if (!desc) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc is NULL");
  if (desc->layout == MXB_GROUPED_K_CONTIGUOUS)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "a quantized C takes the M layouts (groups of rows quantized as the grouped "
                                         "quantize does), not the K split");
  MXB_TRY(check_grouped(ctx, desc, A, B, &s->g));
  mxb_gemm_desc_t *d = &s->g.gemm;
  if (d->aux)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "the pre-activation output (aux) with a quantized C is not offered so far");
  if (d->beta != 0.0f)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->gemm->beta (%g) must be 0: a quantized C is not read",
                    (double)d->beta);
  if (d->beta_ptr)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->gemm->beta_ptr must be NULL: a quantized C is not read");
  const int64_t cols = mxb_gemm_c_cols(d, s->g.N);
  if (s->g.ldc != cols)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "desc->gemm->ldc (%lld) must be 0 or C's %lld columns: a quantized C has its "
                                       "own layout", (long long)d->ldc, (long long)cols);
  d->c_type = MXB_DTYPE_FP32;
  if (!C) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "C is NULL");
  if (C->rows != A->rows || C->cols != cols)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "C is [%lld, %lld]; the product%s is [%lld, %lld]", (long long)C->rows,
                    (long long)C->cols, cols != s->g.N ? " after the gated activation" : "", (long long)A->rows,
                    (long long)cols);
  MXB_TRY(check_gquant(ctx, desc, cfg, MXB_DTYPE_FP32, C, &s->q));
  *d32 = *desc;
  d32->gemm = d;
  size_t gw;
  MXB_TRY(grouped_workspace(ctx, d32, A, B, &s->g, &gw));
  s->c_bytes = mxb_round256((size_t)(A->rows * cols) * sizeof(float));
  s->gemm_bytes = mxb_round256(gw);
  s->total = s->c_bytes + s->gemm_bytes + gquant_workspace(ctx, desc, C);
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_grouped_gemm_quantized_workspace_size(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc,
                                                               const mxb_quant_config_t *cfg, const mxb_tensor_t *A,
                                                               const mxb_tensor_t *B, const mxb_tensor_t *C,
                                                               size_t *bytes) {
  mxb_clear_error();
  gqgemm s;
  mxb_grouped_gemm_desc_t d32;
  MXB_TRY(check_gqgemm(ctx, desc, cfg, A, B, C, &d32, &s));
  if (!bytes) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "bytes (the output pointer) is NULL");
  *bytes = s.total;
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_grouped_gemm_quantized(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc,
                                                const mxb_quant_config_t *cfg, const mxb_tensor_t *A,
                                                const mxb_tensor_t *B, mxb_tensor_t *C, void *workspace,
                                                size_t workspace_bytes, void *stream) {
  mxb_clear_error();
  gqgemm s;
  mxb_grouped_gemm_desc_t d32;
  MXB_TRY(check_gqgemm(ctx, desc, cfg, A, B, C, &d32, &s));
  MXB_TRY(mxb_check_workspace(workspace, workspace_bytes, s.total, "mxb_grouped_gemm_quantized_workspace_size"));
  unsigned char *w = (unsigned char *)workspace;
  MXB_TRY(run_grouped(ctx, &d32, &s.g, A, B, w, w + s.c_bytes, stream));
  return run_gquant(ctx, desc, &s.q, MXB_DTYPE_FP32, w, C, w + s.c_bytes + s.gemm_bytes, stream);
}
