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

/* K-block length L for the pair: the larger of the two block lengths along
 * K (16, 32 or 128); 32 when neither operand is block-scaled along K. */
int mxb_gemm_k_block(const mxb_format_desc *a, const mxb_format_desc *b);

/* MXB_SUCCESS when (a, b) is a supported pair, else MXB_ERR_UNSUPPORTED with
 * both format names in the detail message. */
mxb_status_t mxb_gemm_check_pair(const mxb_format_desc *a, const mxb_format_desc *b);

#ifdef __cplusplus
}
#endif
#endif
