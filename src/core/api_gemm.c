/* GEMM entry points: backend-neutral validation and dispatch to the backend
 * (NUMERICS 7, docs/GEMM.md); the pair and K-block rules are in gemm_rules.c. */
#include "common/gemm_epilogue.h"
#include "core/context.h"
#include "core/error.h"
#include "core/gemm.h"
#include "core/quantize.h"
#include "core/tensor.h"
#include "cpu/gemm.h"
#ifdef MXB_WITH_CUDA
#include "cuda/gemm.h"
#endif

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

MXB_API mxb_status_t mxb_gemm_pair_supported(mxb_format_t a, mxb_format_t b, mxb_gemm_mode_t mode,
                                             int *supported) {
  mxb_clear_error();
  if (!supported) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "supported (the output pointer) is NULL");
  const mxb_format_desc *da = mxb_format_desc_get(a), *db = mxb_format_desc_get(b);
  if (!da) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "A format %d is not a valid mxb_format_t", (int)a);
  if (!db) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "B format %d is not a valid mxb_format_t", (int)b);
  if (mode != MXB_GEMM_EXACT && mode != MXB_GEMM_FAST)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "mode %d is not a valid mxb_gemm_mode_t", (int)mode);
  /* Answer only; the reason for a refusal stays available as the detail. */
  *supported = mxb_gemm_check_pair(da, db) == MXB_SUCCESS;
  return MXB_SUCCESS;
}

/* The backend writes aux desc->ld_aux apart: 0 resolved to N. */
static void resolve_ld_aux(mxb_gemm_desc_t *desc, int64_t N) {
  if (desc->aux && !desc->ld_aux) desc->ld_aux = N;
}

/* Everything mxb_gemm, its workspace query and plan creation have in
 * common, on the full desc; check(t, name, sizes, desc) validates one
 * operand (with or without its pointers). On success L holds the K-block
 * length. */
typedef mxb_status_t (*tensor_check)(const mxb_tensor_t *, const char *, mxb_tensor_sizes_t *,
                                     const mxb_format_desc **);
static mxb_status_t check_gemm(const mxb_context_t *ctx, const mxb_gemm_desc_t *desc, const mxb_tensor_t *A,
                               const mxb_tensor_t *B, tensor_check check, int *L) {
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  MXB_TRY(mxb_gemm_check_desc(desc));
  const mxb_format_desc *da, *db;
  MXB_TRY(check(A, "A", NULL, &da));
  MXB_TRY(check(B, "B", NULL, &db));
  if (A->cols != B->cols)
    return mxb_fail(MXB_ERR_BAD_SHAPE,
                    "A.cols (%lld) != B.cols (%lld): A is [M, K] and B is stored [N, K], both along K",
                    (long long)A->cols, (long long)B->cols);
  MXB_TRY(mxb_gemm_check_pair(da, db));
  if ((A->flags ^ B->flags) & MXB_TENSOR_RHT)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT,
                    "%s was quantized with a Hadamard transform along K and %s was not; "
                    "the product is only preserved when both operands are transformed",
                    (A->flags & MXB_TENSOR_RHT) ? "A" : "B", (A->flags & MXB_TENSOR_RHT) ? "B" : "A");
  int64_t ldc;
  MXB_TRY(mxb_gemm_resolve_ldc(desc, B->rows, "desc->ldc", &ldc));
  if (ldc > MXB_MAX_ELEMS / A->rows)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "C of %lld rows with ldc %lld exceeds 2^40 elements", (long long)A->rows,
                    (long long)ldc);
  const int64_t ld_aux = desc->ld_aux ? desc->ld_aux : B->rows;
  if (desc->aux && ld_aux < B->rows)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "desc->ld_aux (%lld) is smaller than N (%lld)", (long long)desc->ld_aux,
                    (long long)B->rows);
  if (desc->aux && ld_aux > MXB_MAX_ELEMS / A->rows)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "aux of %lld rows with ld_aux %lld exceeds 2^40 elements", (long long)A->rows,
                    (long long)ld_aux);
  *L = mxb_gemm_k_block(da, db);
  return MXB_SUCCESS;
}

/* The one choice of a path, for mxb_gemm (the pointers' alignment, no
 * workspace limit) and for plans (the declared alignment and limit). */
static mxb_status_t choose(mxb_context_t *ctx, const mxb_gemm_desc_t *desc, const mxb_tensor_t *A,
                           const mxb_tensor_t *B, int L, mxb_gemm_align align, size_t max_workspace,
                           mxb_gemm_choice *out) {
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA) return mxb_cuda_gemm_choose(ctx, desc, A, B, align, max_workspace, out);
#else
  (void)ctx;
  (void)align;
#endif
  /* One CPU path: the exact one, on as many threads as the limit allows. */
  const int64_t M = A->rows, N = B->rows, K = A->cols;
  /* a gated activation's pre-activations at the end of the workspace */
  const size_t scratch = mxb_cpu_gemm_gated_scratch(desc, M, N);
  int threads = max_workspace == 0 ? mxb_cpu_gemm_threads_within(M, N, K, L, 0)
                : max_workspace > scratch ? mxb_cpu_gemm_threads_within(M, N, K, L, max_workspace - scratch)
                                          : 0;
  if (!threads)
    return mxb_fail(MXB_ERR_WORKSPACE_TOO_SMALL,
                    "no CPU GEMM path fits max_workspace (%zu bytes): one thread needs %zu", max_workspace,
                    mxb_cpu_gemm_workspace_for(N, K, L, 1) + scratch);
  out->name = "cpu-reference";
  out->path = 0;
  out->threads = threads;
  out->widen = 0;
  out->workspace = mxb_cpu_gemm_workspace_for(N, K, L, threads) + scratch;
  return MXB_SUCCESS;
}

/* Runs a validated GEMM on the chosen path; the pointers meet the choice's
 * alignment and the workspace its size. */
static mxb_status_t run(mxb_context_t *ctx, const mxb_gemm_choice *ch, const mxb_gemm_desc_t *desc,
                        const mxb_tensor_t *A, const mxb_tensor_t *B, int L, void *C, void *workspace,
                        size_t workspace_bytes, void *stream) {
  int64_t ldc = desc->ldc ? desc->ldc : mxb_gemm_c_cols(desc, B->rows);
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA)
    return mxb_cuda_gemm(ctx, ch, desc, A, B, C, ldc, workspace, workspace_bytes, stream);
#endif
  (void)stream;
  (void)workspace_bytes;
  const mxb_gemm_desc_t hd = mxb_gemm_host_scalars(desc); /* pointer mode: the values now */
  desc = &hd;
  /* The CPU's fastest path is the exact one: both modes run it. */
  if (mxb_gemm_gate_act(desc->activation)) {
    const size_t scratch = mxb_cpu_gemm_gated_scratch(desc, A->rows, B->rows); /* the workspace's end */
    float *p = (float *)((unsigned char *)workspace + (ch->workspace - scratch));
    mxb_cpu_gemm_rows_gated(desc, A, 0, A->rows, B, 0, B->rows, C, ldc, L, ch->threads, workspace, p);
  } else {
    mxb_cpu_gemm(desc, A, B, C, ldc, L, ch->threads, workspace, 1);
  }
  mxb_set_last_impl(ctx, ch->name);
  return MXB_SUCCESS;
}


MXB_API mxb_status_t mxb_gemm_workspace_size(mxb_context_t *ctx, const mxb_gemm_desc_t *user_desc,
                                             const mxb_tensor_t *A, const mxb_tensor_t *B,
                                             size_t *bytes) {
  mxb_clear_error();
  int L;
  mxb_gemm_desc_t full, *desc = &full;
  MXB_TRY(mxb_gemm_full_desc(user_desc, desc));
  MXB_TRY(check_gemm(ctx, desc, A, B, mxb_check_tensor, &L));
  if (!bytes) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "bytes (the output pointer) is NULL");
  mxb_gemm_choice ch;
  MXB_TRY(choose(ctx, desc, A, B, L, mxb_gemm_pointer_align(A, B), 0, &ch));
  *bytes = ch.workspace;
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_gemm(mxb_context_t *ctx, const mxb_gemm_desc_t *user_desc, const mxb_tensor_t *A,
                              const mxb_tensor_t *B, void *C, void *workspace, size_t workspace_bytes,
                              void *stream) {
  mxb_clear_error();
  int L;
  mxb_gemm_desc_t full, *desc = &full;
  MXB_TRY(mxb_gemm_full_desc(user_desc, desc));
  MXB_TRY(check_gemm(ctx, desc, A, B, mxb_check_tensor, &L));
  MXB_TRY(mxb_gemm_check_c(desc, C));
  mxb_gemm_choice ch;
  MXB_TRY(choose(ctx, desc, A, B, L, mxb_gemm_pointer_align(A, B), 0, &ch));
  MXB_TRY(mxb_check_workspace(workspace, workspace_bytes, ch.workspace, "mxb_gemm_workspace_size"));
  resolve_ld_aux(desc, B->rows);
  return run(ctx, &ch, desc, A, B, L, C, workspace, workspace_bytes, stream);
}

/* ------------------------------------------------------- quantized output */
/* A validated quantized-output call: the inner fp32 GEMM and its path, the
 * quantizer's config, C's format and sizes, and the workspace layout (the
 * fp32 C first, then the GEMM's, then the quantizer's, each 256-aligned). */
typedef struct qgemm {
  mxb_gemm_desc_t d32;
  mxb_quant_config_t cfg;
  const mxb_format_desc *fmt;
  mxb_tensor_sizes_t sz;
  mxb_gemm_choice ch;
  int L;
  size_t c_bytes, gemm_bytes, total;
} qgemm;

static mxb_status_t check_qgemm(mxb_context_t *ctx, const mxb_gemm_desc_t *user_desc, const mxb_quant_config_t *cfg,
                                const mxb_tensor_t *A, const mxb_tensor_t *B, const mxb_tensor_t *C, qgemm *q) {
  MXB_TRY(mxb_gemm_full_desc(user_desc, &q->d32));
  if (q->d32.aux)
    return mxb_fail(MXB_ERR_UNSUPPORTED, "the pre-activation output (aux) with a quantized C is not offered so far");
  if (q->d32.beta != 0.0f)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->beta (%g) must be 0: a quantized C is not read",
                    (double)q->d32.beta);
  if (q->d32.beta_ptr)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->beta_ptr must be NULL: a quantized C is not read");
  if (B && q->d32.ldc != 0 && q->d32.ldc != mxb_gemm_c_cols(&q->d32, B->rows))
    return mxb_fail(MXB_ERR_BAD_SHAPE,
                    "desc->ldc (%lld) must be 0 or C's %lld columns: a quantized C has its own layout",
                    (long long)q->d32.ldc, (long long)mxb_gemm_c_cols(&q->d32, B->rows));
  q->d32.c_type = MXB_DTYPE_FP32;
  q->d32.ldc = 0;
  MXB_TRY(check_gemm(ctx, &q->d32, A, B, mxb_check_tensor, &q->L));
  MXB_TRY(mxb_quant_full_config_or_default(cfg, &q->cfg));
  MXB_TRY(mxb_check_quantize(ctx, &q->cfg, MXB_DTYPE_FP32, C, &q->sz, &q->fmt));
  const int64_t cols = mxb_gemm_c_cols(&q->d32, B->rows);
  if (C->rows != A->rows || C->cols != cols)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "C is [%lld, %lld]; the product%s is [%lld, %lld]", (long long)C->rows,
                    (long long)C->cols, cols != B->rows ? " after the gated activation" : "", (long long)A->rows,
                    (long long)cols);
  MXB_TRY(choose(ctx, &q->d32, A, B, q->L, mxb_gemm_pointer_align(A, B), 0, &q->ch));
  q->c_bytes = mxb_round256((size_t)(A->rows * cols) * sizeof(float));
  q->gemm_bytes = mxb_round256(q->ch.workspace);
  q->total = q->c_bytes + q->gemm_bytes + mxb_quantize_workspace(ctx, &q->cfg, q->fmt, C, &q->sz);
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_gemm_quantized_workspace_size(mxb_context_t *ctx, const mxb_gemm_desc_t *desc,
                                                       const mxb_quant_config_t *cfg, const mxb_tensor_t *A,
                                                       const mxb_tensor_t *B, const mxb_tensor_t *C, size_t *bytes) {
  mxb_clear_error();
  qgemm q;
  MXB_TRY(check_qgemm(ctx, desc, cfg, A, B, C, &q));
  if (!bytes) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "bytes (the output pointer) is NULL");
  *bytes = q.total;
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_gemm_quantized(mxb_context_t *ctx, const mxb_gemm_desc_t *desc, const mxb_quant_config_t *cfg,
                                        const mxb_tensor_t *A, const mxb_tensor_t *B, mxb_tensor_t *C,
                                        void *workspace, size_t workspace_bytes, void *stream) {
  mxb_clear_error();
  qgemm q;
  MXB_TRY(check_qgemm(ctx, desc, cfg, A, B, C, &q));
  MXB_TRY(mxb_check_workspace(workspace, workspace_bytes, q.total, "mxb_gemm_quantized_workspace_size"));
  unsigned char *w = (unsigned char *)workspace;
  float *c32 = (float *)w;
  MXB_TRY(run(ctx, &q.ch, &q.d32, A, B, q.L, c32, w + q.c_bytes, q.gemm_bytes, stream));
  return mxb_quantize_checked(ctx, &q.cfg, q.fmt, &q.sz, MXB_DTYPE_FP32, c32, C, w + q.c_bytes + q.gemm_bytes,
                              stream);
}

/* ------------------------------------------------------------------ plans */
struct mxb_gemm_plan {
  mxb_context_t *ctx;
  mxb_gemm_desc_t desc;
  mxb_tensor_t A, B; /* formats, shapes, layouts and flags; no pointers */
  size_t alignment;  /* declared by the caller */
  int L;
  mxb_gemm_choice choice;
};

/* The flags a path depends on: the Hadamard transform, an amax per row. */
#define PLAN_FLAGS (MXB_TENSOR_RHT | MXB_TENSOR_ROW_AMAX)

/* The operand as the plan keeps it: what the path depends on, no pointers. */
static mxb_tensor_t shape_of(const mxb_tensor_t *t) {
  mxb_tensor_t s;
  mxb_tensor_set(&s, t->format, t->rows, t->cols, t->scale_layout);
  s.flags = t->flags & PLAN_FLAGS;
  return s;
}

MXB_API mxb_status_t mxb_gemm_plan_create(mxb_context_t *ctx, const mxb_gemm_desc_t *user_desc, const mxb_tensor_t *A,
                                          const mxb_tensor_t *B, const mxb_gemm_plan_prefs_t *prefs,
                                          mxb_gemm_plan_t **plan) {
  mxb_clear_error();
  int L;
  mxb_gemm_desc_t full, *desc = &full;
  MXB_TRY(mxb_gemm_full_desc(user_desc, desc));
  MXB_TRY(check_gemm(ctx, desc, A, B, mxb_check_tensor_shape, &L));
  /* Fields beyond the caller's struct_size keep their defaults. */
  mxb_gemm_plan_prefs_t pr;
  mxb_gemm_plan_prefs_init(&pr);
  if (prefs) {
    MXB_TRY(mxb_check_struct_size(prefs->struct_size, MXB_MIN_SIZE_GEMM_PLAN_PREFS, "prefs",
                                  "use mxb_gemm_plan_prefs_init"));
    memcpy(&pr, prefs, prefs->struct_size < sizeof(pr) ? prefs->struct_size : sizeof(pr));
  }
  struct mxb_gemm_plan p = {ctx, {0}, shape_of(A), shape_of(B), pr.alignment, L, {0}};
  p.desc = full; /* bias pointer and activation included: every execution uses them */
  resolve_ld_aux(&p.desc, B->rows);
  if (pr.alignment == 0 || (pr.alignment & (pr.alignment - 1)))
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "prefs->alignment (%zu) is not a power of two", pr.alignment);
  if (!plan) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "plan (the output pointer) is NULL");
  /* Paths need at most MXB_GEMM_MAX_ALIGN; a larger promise says no more. */
  const size_t al = pr.alignment < MXB_GEMM_MAX_ALIGN ? pr.alignment : MXB_GEMM_MAX_ALIGN;
  MXB_TRY(choose(ctx, &p.desc, &p.A, &p.B, L, (mxb_gemm_align){al, al}, pr.max_workspace, &p.choice));
  struct mxb_gemm_plan *out = malloc(sizeof(*out));
  if (!out) return mxb_fail(MXB_ERR_ALLOC, "could not allocate the plan");
  *out = p;
  *plan = out;
  return MXB_SUCCESS;
}

MXB_API const char *mxb_gemm_plan_path(const mxb_gemm_plan_t *plan) { return plan ? plan->choice.name : "none"; }

MXB_API mxb_status_t mxb_gemm_plan_workspace_size(const mxb_gemm_plan_t *plan, size_t *bytes) {
  mxb_clear_error();
  if (!plan) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "plan is NULL");
  if (!bytes) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "bytes (the output pointer) is NULL");
  *bytes = plan->choice.workspace;
  return MXB_SUCCESS;
}

/* t (validated, pointers included) against the plan's operand `want`. */
static mxb_status_t check_planned(const mxb_tensor_t *t, const mxb_tensor_t *want, size_t alignment,
                                  const char *name) {
  if (t->format != want->format)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "%s->format is %s; the plan was made for %s", name,
                    mxb_format_desc_get(t->format)->name, mxb_format_desc_get(want->format)->name);
  if (t->rows != want->rows || t->cols != want->cols)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "%s is [%lld, %lld]; the plan was made for [%lld, %lld]", name,
                    (long long)t->rows, (long long)t->cols, (long long)want->rows, (long long)want->cols);
  if (t->scale_layout != want->scale_layout)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "%s->scale_layout (%d) differs from the plan's (%d)", name,
                    (int)t->scale_layout, (int)want->scale_layout);
  if ((t->flags ^ want->flags) & MXB_TENSOR_RHT)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "%s %s a Hadamard transform; the plan was made for one that %s", name,
                    (t->flags & MXB_TENSOR_RHT) ? "carries" : "lacks",
                    (want->flags & MXB_TENSOR_RHT) ? "does" : "does not");
  if ((t->flags ^ want->flags) & MXB_TENSOR_ROW_AMAX)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "%s %s an amax per row (MXB_TENSOR_ROW_AMAX); the plan was made for "
                    "one that %s", name, (t->flags & MXB_TENSOR_ROW_AMAX) ? "has" : "lacks",
                    (want->flags & MXB_TENSOR_ROW_AMAX) ? "does" : "does not");
  if ((uintptr_t)t->data % alignment)
    return mxb_fail(MXB_ERR_BAD_ALIGNMENT, "%s->data (%p) is not aligned to the plan's declared %zu bytes", name,
                    t->data, alignment);
  if (mxb_gemm_has_scales(t) && (uintptr_t)t->scales % alignment)
    return mxb_fail(MXB_ERR_BAD_ALIGNMENT, "%s->scales (%p) is not aligned to the plan's declared %zu bytes", name,
                    t->scales, alignment);
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_gemm_plan_execute(const mxb_gemm_plan_t *plan, const mxb_tensor_t *A,
                                           const mxb_tensor_t *B, void *C, void *workspace,
                                           size_t workspace_bytes, void *stream) {
  mxb_clear_error();
  if (!plan) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "plan is NULL");
  MXB_TRY(mxb_check_tensor(A, "A", NULL, NULL));
  MXB_TRY(mxb_check_tensor(B, "B", NULL, NULL));
  MXB_TRY(check_planned(A, &plan->A, plan->alignment, "A"));
  MXB_TRY(check_planned(B, &plan->B, plan->alignment, "B"));
  MXB_TRY(mxb_gemm_check_c(&plan->desc, C));
  MXB_TRY(mxb_check_workspace(workspace, workspace_bytes, plan->choice.workspace, "mxb_gemm_plan_workspace_size"));
  return run(plan->ctx, &plan->choice, &plan->desc, A, B, plan->L, C, workspace, workspace_bytes, stream);
}

MXB_API mxb_status_t mxb_gemm_plan_destroy(mxb_gemm_plan_t *plan) {
  mxb_clear_error();
  free(plan);
  return MXB_SUCCESS;
}
