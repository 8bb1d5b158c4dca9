/* MoR's format logic shared by both backends (NUMERICS 6): the FP8 E4M3
 * candidate format of each MoR format, and the workspace layout that
 * mxb_mor_workspace_size reports and both backends use. */
#ifndef MXB_CORE_MOR_LAYOUT_H
#define MXB_CORE_MOR_LAYOUT_H
#include "core/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The FP8 E4M3 fp32-scale format whose blocks are the partitions of the
 * MoR format mor (MXB_FORMAT_COUNT if none: the table lacks one). */
mxb_format_t mxb_mor_fp8_format(const mxb_format_desc *mor);

/* Workspace: the FP8 candidate's codes, then its scale_inv per partition,
 * then the backend's scratch: on the CPU one binary64 accumulator triple
 * per partition and one fp32 input row; on CUDA the quantizer's partition
 * amaxes (4 bytes per partition, less than the CPU's 24). */
typedef struct mxb_mor_layout {
  mxb_tensor_sizes_t mor, fp8; /* sizes of dst and of the candidate */
  mxb_format_t fp8_format;
  size_t scales_at, scratch_at, row_at, total;
} mxb_mor_layout;
/* dst: a validated MoR tensor. */
mxb_mor_layout mxb_mor_layout_of(const mxb_tensor_t *dst);

/* The candidate tensor t8 (planes in workspace) and the quantize config of
 * a MoR call with config cfg. */
void mxb_mor_candidate(const mxb_mor_layout *l, const mxb_tensor_t *dst, const mxb_mor_config_t *cfg,
                       void *workspace, mxb_tensor_t *t8, mxb_quant_config_t *qc);

#ifdef __cplusplus
}
#endif
#endif
