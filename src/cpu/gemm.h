/* CPU reference GEMM (NUMERICS 7, exact mode). */
#ifndef MXB_CPU_GEMM_H
#define MXB_CPU_GEMM_H
#include <stddef.h>
#include <stdint.h>

#include "mxblas.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Workspace bytes for an M x N x K product with K-block length L on
 * `threads` threads (N x K: B's shape) ... */
size_t mxb_cpu_gemm_workspace_for(int64_t N, int64_t K, int L, int threads);
/* ... and on the default count: MXBLAS_NUM_THREADS and the size of the
 * work, at the time of the call (the GEMM must then see the same count). */
size_t mxb_cpu_gemm_workspace_size(int64_t M, int64_t N, int64_t K, int L);
/* The most threads, at most the default count, whose workspace fits
 * max_bytes (0: no limit); 0 when not even one thread's does. */
int mxb_cpu_gemm_threads_within(int64_t M, int64_t N, int64_t K, int L, size_t max_bytes);

/* C = alpha * A * B^T + beta * C on validated arguments (ldc resolved, L from
 * mxb_gemm_k_block, threads > 0 or 0 for the default count, workspace at
 * least mxb_cpu_gemm_workspace_for that count). Every thread count gives
 * the same bits.
 * int_sums = 0 forces the plain binary64 block sums everywhere; 1 lets blocks
 * whose sums are provably exact use integer arithmetic (same bits, faster). */
void mxb_cpu_gemm(const mxb_gemm_desc_t *desc, const mxb_tensor_t *A, const mxb_tensor_t *B, void *C,
                  int64_t ldc, int L, int threads, void *workspace, int int_sums);

/* The same for rows [a0, a0 + M) of A and [b0, b0 + N) of B: C points at
 * the output of A's row a0 (so C's row i is A's row a0 + i). With threads 0
 * the workspace is mxb_cpu_gemm_workspace_size of at least this M, N and K. */
void mxb_cpu_gemm_rows(const mxb_gemm_desc_t *desc, const mxb_tensor_t *A, int64_t a0, int64_t M,
                       const mxb_tensor_t *B, int64_t b0, int64_t N, void *C, int64_t ldc, int L, int threads,
                       void *workspace, int int_sums);

/* A gated desc->activation (MXB_ACT_SWIGLU ...) needs, beside the GEMM's
 * workspace, the fp32 pre-activations of its M rows: [M, N] floats (64-byte
 * rounded); 0 for any other activation. */
size_t mxb_cpu_gemm_gated_scratch(const mxb_gemm_desc_t *desc, int64_t M, int64_t N);
/* mxb_cpu_gemm_rows with a gated activation: the pre-activations (combine
 * and bias, fp32) into scratch (mxb_cpu_gemm_gated_scratch bytes), into
 * desc->aux too when set (desc->ld_aux resolved), then C [M, N/2] (ldc
 * apart) = act(gate) * value, rounded to desc->c_type. */
void mxb_cpu_gemm_rows_gated(const mxb_gemm_desc_t *desc, const mxb_tensor_t *A, int64_t a0, int64_t M,
                             const mxb_tensor_t *B, int64_t b0, int64_t N, void *C, int64_t ldc, int L, int threads,
                             void *workspace, float *scratch);

/* The same over the columns [k0, k1) of A and B only (0 <= k0 <= k1 <= K):
 * the elements outside are absent, as if their codes decoded to +0 (the
 * K-blocks and their order are those of the whole product; a block wholly
 * outside adds +0). [0, K) is mxb_cpu_gemm_rows. */
void mxb_cpu_gemm_rows_k(const mxb_gemm_desc_t *desc, const mxb_tensor_t *A, int64_t a0, int64_t M,
                         const mxb_tensor_t *B, int64_t b0, int64_t N, void *C, int64_t ldc, int L, int threads,
                         void *workspace, int int_sums, int64_t k0, int64_t k1);

/* mxb_activation and mxb_gemm_gated (common/gemm_epilogue.h) built with FMA
 * instructions (activation_fma.c): call only where the CPU has FMA. */
float mxb_cpu_activation_fma(int act, float x);
float mxb_cpu_gated_fma(int act, float g, float v);

#ifdef __cplusplus
}
#endif
#endif
