/* MoR's candidate format and workspace layout, shared by both backends. */
#include "core/mor_layout.h"
#include "core/tensor.h"

#include <string.h>

#define MOR_ALIGN 256
static size_t align_up(size_t n) { return (n + MOR_ALIGN - 1) / MOR_ALIGN * MOR_ALIGN; }

mxb_format_t mxb_mor_fp8_format(const mxb_format_desc *mor) {
  for (int f = 0; f < MXB_FORMAT_COUNT; f++) {
    const mxb_format_desc *d = mxb_format_desc_get((mxb_format_t)f);
    if (d->elem == MXB_ELEM_E4M3 && d->scale_type == MXB_SCALE_FP32 && d->block_rows == mor->block_rows &&
        d->block_cols == mor->block_cols)
      return d->format;
  }
  return MXB_FORMAT_COUNT;
}

mxb_mor_layout mxb_mor_layout_of(const mxb_tensor_t *dst) {
  mxb_mor_layout l;
  l.fp8_format = mxb_mor_fp8_format(mxb_format_desc_get(dst->format));
  mxb_compute_sizes(dst->format, dst->rows, dst->cols, MXB_SCALE_LAYOUT_LINEAR, &l.mor);
  mxb_compute_sizes(l.fp8_format, dst->rows, dst->cols, MXB_SCALE_LAYOUT_LINEAR, &l.fp8);
  l.scales_at = align_up(l.fp8.data_bytes);
  l.scratch_at = l.scales_at + align_up(l.fp8.scale_bytes);
  l.row_at = l.scratch_at + align_up((size_t)(l.mor.scale_rows * l.mor.scale_cols) * 3 * sizeof(double));
  l.total = l.row_at + (size_t)dst->cols * sizeof(float);
  return l;
}

void mxb_mor_candidate(const mxb_mor_layout *l, const mxb_tensor_t *dst, const mxb_mor_config_t *cfg,
                       void *workspace, mxb_tensor_t *t8, mxb_quant_config_t *qc) {
  char *ws = (char *)workspace;
  mxb_tensor_set(t8, l->fp8_format, dst->rows, dst->cols, MXB_SCALE_LAYOUT_LINEAR);
  t8->data = ws;
  t8->scales = ws + l->scales_at;
  mxb_quant_config_defaults(qc);
  qc->fp8_pow2_scale = cfg->pow2_scale;
}
