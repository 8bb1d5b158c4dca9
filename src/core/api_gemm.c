/* GEMM entry points: backend-neutral validation and dispatch to the backend
 * (NUMERICS 7, docs/GEMM.md); the pair and K-block rules are in gemm_rules.c. */
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

/* The caller's desc with the fields its struct_size does not cover set to
 * their defaults, so that the backends read every field. */
static mxb_status_t full_desc(const mxb_gemm_desc_t *in, mxb_gemm_desc_t *out) {
  if (!in) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc is NULL");
  MXB_TRY(mxb_check_struct_size(in->struct_size, MXB_MIN_SIZE_GEMM_DESC, "desc", "use mxb_gemm_desc_init"));
  mxb_gemm_desc_init(out);
  memcpy(out, in, in->struct_size < sizeof(*out) ? in->struct_size : sizeof(*out));
  out->struct_size = sizeof(*out);
  return MXB_SUCCESS;
}

/* Everything mxb_gemm and its workspace query have in common, on the full
 * desc. On success L holds the K-block length. */
static mxb_status_t check_gemm(const mxb_context_t *ctx, const mxb_gemm_desc_t *desc, const mxb_tensor_t *A,
                               const mxb_tensor_t *B, int *L) {
  if (!ctx) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "ctx is NULL");
  if (desc->mode != MXB_GEMM_EXACT && desc->mode != MXB_GEMM_FAST)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->mode %d is not a valid mxb_gemm_mode_t", (int)desc->mode);
  if (mxb_dtype_bytes(desc->c_type) == 0)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->c_type %d is not a valid mxb_dtype_t", (int)desc->c_type);
  if (mxb_dtype_bytes(desc->bias_type) == 0)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->bias_type %d is not a valid mxb_dtype_t", (int)desc->bias_type);
  if (desc->activation < MXB_ACT_NONE || desc->activation > MXB_ACT_SILU)
    return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "desc->activation %d is not a valid mxb_activation_t",
                    (int)desc->activation);
  if ((uintptr_t)desc->bias % (uintptr_t)mxb_dtype_bytes(desc->bias_type) != 0)
    return mxb_fail(MXB_ERR_BAD_ALIGNMENT, "desc->bias (%p) is not aligned to its element size (%d bytes)",
                    desc->bias, mxb_dtype_bytes(desc->bias_type));
  const mxb_format_desc *da, *db;
  MXB_TRY(mxb_check_tensor(A, "A", NULL, &da));
  MXB_TRY(mxb_check_tensor(B, "B", NULL, &db));
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
  int64_t ldc = desc->ldc ? desc->ldc : B->rows;
  if (ldc < B->rows)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "desc->ldc (%lld) is smaller than N (%lld)", (long long)desc->ldc,
                    (long long)B->rows);
  if (ldc > MXB_MAX_ELEMS / A->rows)
    return mxb_fail(MXB_ERR_BAD_SHAPE, "C of %lld rows with ldc %lld exceeds 2^40 elements", (long long)A->rows,
                    (long long)ldc);
  *L = mxb_gemm_k_block(da, db);
  return MXB_SUCCESS;
}

/* Workspace bytes of a validated GEMM on ctx's backend. */
static mxb_status_t gemm_workspace(mxb_context_t *ctx, const mxb_gemm_desc_t *desc, const mxb_tensor_t *A,
                                   const mxb_tensor_t *B, int L, size_t *bytes) {
#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA) return mxb_cuda_gemm_workspace_size(ctx, desc, A, B, bytes);
#else
  (void)ctx;
  (void)desc;
#endif
  *bytes = mxb_cpu_gemm_workspace_size(A->rows, B->rows, A->cols, L);
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_gemm_workspace_size(mxb_context_t *ctx, const mxb_gemm_desc_t *user_desc,
                                             const mxb_tensor_t *A, const mxb_tensor_t *B,
                                             size_t *bytes) {
  mxb_clear_error();
  int L;
  mxb_gemm_desc_t full, *desc = &full;
  MXB_TRY(full_desc(user_desc, desc));
  MXB_TRY(check_gemm(ctx, desc, A, B, &L));
  if (!bytes) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "bytes (the output pointer) is NULL");
  return gemm_workspace(ctx, desc, A, B, L, bytes);
}

MXB_API mxb_status_t mxb_gemm(mxb_context_t *ctx, const mxb_gemm_desc_t *user_desc, const mxb_tensor_t *A,
                              const mxb_tensor_t *B, void *C, void *workspace, size_t workspace_bytes,
                              void *stream) {
  mxb_clear_error();
  int L;
  mxb_gemm_desc_t full, *desc = &full;
  MXB_TRY(full_desc(user_desc, desc));
  MXB_TRY(check_gemm(ctx, desc, A, B, &L));
  if (!C) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "C is NULL");
  size_t esize = (size_t)mxb_dtype_bytes(desc->c_type);
  if ((uintptr_t)C % esize != 0)
    return mxb_fail(MXB_ERR_BAD_ALIGNMENT, "C (%p) is not aligned to its element size (%zu bytes)", C, esize);
  int64_t ldc = desc->ldc ? desc->ldc : B->rows;
  size_t need;
  MXB_TRY(gemm_workspace(ctx, desc, A, B, L, &need));
  MXB_TRY(mxb_check_workspace(workspace, workspace_bytes, need, "mxb_gemm_workspace_size"));

#ifdef MXB_WITH_CUDA
  if (ctx->backend == MXB_BACKEND_CUDA)
    return mxb_cuda_gemm(ctx, desc, A, B, C, ldc, workspace, workspace_bytes, stream);
#endif
  (void)stream;

  /* The CPU's fastest path is the exact one: both modes run it. */
  mxb_cpu_gemm(desc, A, B, C, ldc, L, workspace, 1);
  mxb_set_last_impl(ctx, "cpu-reference");
  return MXB_SUCCESS;
}
