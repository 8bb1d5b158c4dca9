/* Entry points of the CUDA GEMM (NUMERICS 7). Called from src/core/api_gemm.c
 * after the shared validation: descriptors, shapes, the pair and ldc are
 * already checked. Stream-ordered, no allocation, no synchronisation; safe to
 * capture in a CUDA graph. On success mxb_set_last_impl names the path that ran. */
#ifndef MXB_CUDA_GEMM_H
#define MXB_CUDA_GEMM_H
#include "core/context.h"
#include "core/gemm.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef MXB_WITH_CUDA
/* The path for these arguments (A's and B's pointers are not read: align
 * says what the call will have), and its workspace with the slack the call
 * needs to reach a 256-byte boundary. max_workspace: skip paths needing more
 * (0: no limit); the closing exact path needs none. */
mxb_status_t mxb_cuda_gemm_choose(struct mxb_context *ctx, const mxb_gemm_desc_t *desc,
                                  const mxb_tensor_t *A, const mxb_tensor_t *B, mxb_gemm_align align,
                                  size_t max_workspace, mxb_gemm_choice *out);
/* C = alpha * A * B^T + beta * C on the chosen path; ldc resolved (>= N);
 * the pointers meet the choice's alignment, the workspace holds
 * choice->workspace bytes and is MXB_WORKSPACE_ALIGNMENT aligned (all
 * checked by the caller). */
mxb_status_t mxb_cuda_gemm(struct mxb_context *ctx, const mxb_gemm_choice *choice, const mxb_gemm_desc_t *desc,
                           const mxb_tensor_t *A, const mxb_tensor_t *B, void *C, int64_t ldc,
                           void *workspace, size_t workspace_bytes, void *stream);

/* Grouped GEMM (src/core/api_grouped.c validated everything; desc is the
 * GEMM descriptor in force, N per expert, ldc resolved). The index and
 * status live in device memory and are read there. */
size_t mxb_cuda_grouped_gemm_workspace_size(struct mxb_context *ctx, const mxb_gemm_desc_t *desc, int layout,
                                            int64_t groups, const mxb_tensor_t *A, const mxb_tensor_t *B,
                                            int64_t N, int64_t max_rows, int64_t ldc);
/* a_groups: A's tensor amax is one a group (desc->a_group_scales). */
mxb_status_t mxb_cuda_grouped_gemm(struct mxb_context *ctx, const mxb_gemm_desc_t *desc, int layout,
                                   int64_t groups, int index_bits, const void *index, int32_t *status,
                                   const mxb_tensor_t *A, const mxb_tensor_t *B, void *C, int64_t N,
                                   int64_t max_rows, int64_t ldc, int a_groups, void *workspace, void *stream);

/* cuBLASLt handle kept in ctx->cuda_state (created with the context). */
mxb_status_t mxb_cuda_gemm_state_init(struct mxb_context *ctx);
void mxb_cuda_gemm_state_fini(struct mxb_context *ctx);
#endif

#ifdef __cplusplus
}
#endif
#endif
