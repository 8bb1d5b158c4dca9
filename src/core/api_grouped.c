/* Grouped GEMM entry points (docs/GEMM.md "Grouped GEMM"): validation of the
 * layout and the stacked experts, then each backend walks the groups from the
 * index in its own memory (on CUDA, without a host sync). */
#include "core/context.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/tensor.h"
#include "cpu/gemm.h"
#ifdef MXB_WITH_CUDA
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

static mxb_status_t check_grouped(const mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc,
                                  const mxb_tensor_t *A, const mxb_tensor_t *B, grouped_shape *g) {
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (!desc) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc is NULL");
  MXB_TRY(mxb_check_struct_size(desc->struct_size, MXB_MIN_SIZE_GROUPED_GEMM_DESC, "desc",
                                "use mxb_grouped_gemm_desc_init"));
  if (desc->gemm) MXB_TRY(mxb_gemm_full_desc(desc->gemm, &g->gemm));
  else mxb_gemm_desc_init(&g->gemm);
  MXB_TRY(mxb_gemm_check_desc(&g->gemm));
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
  g->ldc = g->gemm.ldc ? g->gemm.ldc : g->N;
  if (g->ldc < g->N)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "desc->gemm->ldc (%lld) is smaller than N (%lld)", (long long)g->gemm.ldc,
                    (long long)g->N);
  const int64_t c_rows = split_k ? A->rows * E : A->rows; /* K split: E stacked [M, N] results */
  if (A->rows > MXB_MAX_ELEMS / E || g->ldc > MXB_MAX_ELEMS / c_rows)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "C of %lld x %lld rows with ldc %lld exceeds 2^40 elements",
                    (long long)(split_k ? E : 1), (long long)A->rows, (long long)g->ldc);
  if (split_k && ctx->backend != MXB_BACKEND_CPU)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "the K-grouped layout runs on the CPU backend only, so far");
  g->L = mxb_gemm_k_block(da, db);
  return MXB_SUCCESS;
}

static mxb_status_t grouped_workspace(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc, const mxb_tensor_t *A,
                                      const grouped_shape *g, size_t *bytes) {
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA) {
    *bytes = mxb_cuda_grouped_gemm_workspace_size(desc->groups);
    return MXB_SUCCESS;
  }
#else
  (void)ctx;
  (void)desc;
#endif
  *bytes = mxb_cpu_gemm_workspace_size(g->max_rows, g->N, A->cols, g->L);
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_grouped_gemm_workspace_size(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc,
                                                     const mxb_tensor_t *A, const mxb_tensor_t *B,
                                                     size_t *bytes) {
  mxb_clear_error();
  grouped_shape g;
  MXB_TRY(check_grouped(ctx, desc, A, B, &g));
  if (!bytes) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "bytes (the output pointer) is NULL");
  return grouped_workspace(ctx, desc, A, &g, bytes);
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

/* The CPU walk: each valid group is the dense product of its rows. */
static void cpu_grouped(const mxb_grouped_gemm_desc_t *desc, const grouped_shape *g, const mxb_tensor_t *A,
                        const mxb_tensor_t *B, void *C, void *workspace) {
  const size_t esize = (size_t)mxb_dtype_bytes(g->gemm.c_type);
  int32_t bad = 0;
  int64_t end = 0; /* rows before `end` belong to an earlier group */
  for (int64_t e = 0; e < desc->groups; e++) {
    int64_t start, rows;
    if (desc->layout == MXB_GROUPED_K_CONTIGUOUS) { /* columns [start, start + rows) of A and B */
      start = index_at(desc, e);
      rows = index_at(desc, e + 1) - start;
      if (start < end || rows < 0 || start + rows > A->cols) rows = -1;
      else end = start + rows;
    } else if (desc->layout == MXB_GROUPED_M_CONTIGUOUS) {
      start = index_at(desc, e);
      rows = index_at(desc, e + 1) - start;
      if (start < end || rows < 0 || start + rows > A->rows) rows = -1;
      else end = start + rows;
    } else {
      start = e * g->max_rows;
      rows = index_at(desc, e);
      if (rows < 0 || rows > g->max_rows) rows = -1;
    }
    if (rows < 0) {
      if (!bad) bad = (int32_t)(e + 1 <= INT32_MAX ? e + 1 : INT32_MAX);
      continue;
    }
    const mxb_tensor_t Be = expert(desc, B, e);
    mxb_gemm_desc_t d = g->gemm; /* the expert's bias: N values of the E x N */
    if (d.bias) d.bias = (const char *)d.bias + (size_t)(e * g->N) * (size_t)mxb_dtype_bytes(d.bias_type);
    if (desc->layout == MXB_GROUPED_K_CONTIGUOUS)
      mxb_cpu_gemm_rows_k(&d, A, 0, A->rows, &Be, 0, g->N, (char *)C + (size_t)(e * A->rows * g->ldc) * esize,
                          g->ldc, g->L, 0, workspace, 1, start, start + rows);
    else
      mxb_cpu_gemm_rows(&d, A, start, rows, &Be, e * g->N, g->N, (char *)C + (size_t)(start * g->ldc) * esize,
                        g->ldc, g->L, 0, workspace, 1);
  }
  if (desc->status) *desc->status = bad;
}

MXB_API mxb_status_t mxb_grouped_gemm(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *desc,
                                      const mxb_tensor_t *A, const mxb_tensor_t *B, void *C, void *workspace,
                                      size_t workspace_bytes, void *stream) {
  mxb_clear_error();
  grouped_shape g;
  MXB_TRY(check_grouped(ctx, desc, A, B, &g));
  MXB_TRY(mxb_gemm_check_c(&g.gemm, C));
  size_t need;
  MXB_TRY(grouped_workspace(ctx, desc, A, &g, &need));
  MXB_TRY(mxb_check_workspace(workspace, workspace_bytes, need, "mxb_grouped_gemm_workspace_size"));
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA)
    return mxb_cuda_grouped_gemm(ctx, &g.gemm, desc->layout, desc->groups, desc->index_bits, desc->index,
                                 desc->status, A, B, C, g.N, g.max_rows, g.ldc, workspace, stream);
#endif
  (void)stream;
  cpu_grouped(desc, &g, A, B, C, workspace);
  mxb_set_last_impl(ctx, "cpu-reference");
  return MXB_SUCCESS;
}
