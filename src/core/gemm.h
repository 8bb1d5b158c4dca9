/* GEMM rules shared by every backend: supported pairs and the K-block length
 * of NUMERICS 7. */
#ifndef MXB_CORE_GEMM_H
#define MXB_CORE_GEMM_H
#include "core/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest K-block length the rule can produce (FP8/MoR 1x128 blocks). */
#define MXB_GEMM_MAX_K_BLOCK 128

/* What is known of A's and B's pointers when a path is chosen: each data
 * pointer is aligned to `data` bytes, each scales pointer (of a format with
 * scales) to `scales` bytes; powers of two, at most MXB_GEMM_MAX_ALIGN. A
 * plan takes both from the caller's declared alignment; mxb_gemm from the
 * pointers themselves. Paths read the alignment here, never the pointers. */
#define MXB_GEMM_MAX_ALIGN 256
typedef struct mxb_gemm_align {
  size_t data, scales;
} mxb_gemm_align;

/* The alignment A's and B's pointers have (mxb_gemm, the grouped GEMM and
 * their workspace queries). */
mxb_gemm_align mxb_gemm_pointer_align(const mxb_tensor_t *A, const mxb_tensor_t *B);
/* Whether t's format has a scales plane (its scales pointer matters). */
int mxb_gemm_has_scales(const mxb_tensor_t *t);

/* The path a backend chose for a GEMM (from formats, shapes, layouts, mode,
 * alignment, device and a workspace limit; never from data). */
typedef struct mxb_gemm_choice {
  const char *name;  /* as mxb_context_last_impl names it */
  size_t workspace;  /* bytes the caller provides (MXB_WORKSPACE_ALIGNMENT aligned) */
  int path;          /* CUDA: the registry row */
  int threads;       /* CPU: threads the call runs on */
  int widen;         /* CUDA: UE8M0 scale bytes widened to fp32 first (the row runs the fp32-scale twins) */
} mxb_gemm_choice;

/* K-block length L for the pair: the larger of the two block lengths along
 * K (16, 32 or 128); 32 when neither operand is block-scaled along K. */
int mxb_gemm_k_block(const mxb_format_desc *a, const mxb_format_desc *b);

/* MXB_SUCCESS when (a, b) is a supported pair, else MXB_ERR_UNSUPPORTED with
 * both format names in the detail message. */
mxb_status_t mxb_gemm_check_pair(const mxb_format_desc *a, const mxb_format_desc *b);

/* in with the fields its struct_size does not cover set to their defaults
 * (mxb_gemm_desc_init), so that the backends read every field. */
mxb_status_t mxb_gemm_full_desc(const mxb_gemm_desc_t *in, mxb_gemm_desc_t *out);
/* C non-NULL and aligned to its element type. */
mxb_status_t mxb_gemm_check_c(const mxb_gemm_desc_t *desc, const void *C);
/* Mode, C type, bias type and alignment, activation of a full desc. */
mxb_status_t mxb_gemm_check_desc(const mxb_gemm_desc_t *desc);
/* C's columns for a product with N columns: N, or N/2 with a gated
 * activation (MXB_ACT_SWIGLU ...). */
int64_t mxb_gemm_c_cols(const mxb_gemm_desc_t *desc, int64_t N);
/* desc with alpha and beta read from alpha_ptr / beta_ptr where set (host
 * memory: the CPU backend, at execution) and the pointers cleared. */
mxb_gemm_desc_t mxb_gemm_host_scalars(const mxb_gemm_desc_t *desc);
/* C's row stride for N product columns (desc->ldc, 0 meaning C's columns),
 * checked: N even with a gated activation, the stride at least C's columns.
 * name: how the caller calls desc->ldc in messages. */
mxb_status_t mxb_gemm_resolve_ldc(const mxb_gemm_desc_t *desc, int64_t N, const char *name, int64_t *ldc);

#ifdef __cplusplus
}
#endif
#endif
