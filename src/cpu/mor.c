/* CPU reference of MoR (NUMERICS 6): quantize every partition to FP8 E4M3
 * with the FP8-with-fp32-scales quantizer of the same partition shape, measure
 * the error of each partition in binary64, keep FP8 where err <= tau and store
 * BF16 elsewhere. The workspace holds the FP8 tensor, one accumulator
 * triple per partition and one input row, so dst is written only once every
 * decision is made. */
#include "common/codec.h"
#include "common/mor.h"
#include "core/error.h"
#include "core/mor_layout.h"
#include "core/tensor.h"
#include "cpu/cpu_ops.h"
#include "cpu/transforms.h"

#include <math.h>
#include <string.h>

static int64_t partition_of(const mxb_format_desc *d, int64_t scale_cols, int64_t r, int64_t c) {
  return mxb_block_index(r, c, mxb_block_shift(d->block_rows), mxb_block_shift(d->block_cols), scale_cols);
}

mxb_status_t mxb_cpu_mor_quantize(const mxb_mor_config_t *cfg, mxb_dtype_t src_type,
                                  const void *src, mxb_tensor_t *dst, void *workspace) {
  const mxb_format_desc *d = mxb_format_desc_get(dst->format);
  mxb_mor_layout l = mxb_mor_layout_of(dst);
  char *ws = (char *)workspace;
  mxb_tensor_t t8;
  mxb_quant_config_t qc;
  /* The FP8 candidate through the CPU quantizer itself: the MoR call is
   * validated already, and the internal tensor lives in the workspace. */
  mxb_mor_candidate(&l, dst, cfg, workspace, &t8, &qc);
  MXB_TRY(mxb_cpu_quantize(&qc, src_type, src, &t8, &l.fp8));

  int64_t rows = dst->rows, cols = dst->cols, sc = l.mor.scale_cols;
  int64_t nparts = l.mor.scale_rows * sc;
  double *acc = (double *)(ws + l.scratch_at);
  memset(acc, 0, (size_t)nparts * 3 * sizeof(double));
  const uint8_t *codes = (const uint8_t *)t8.data;
  const float *sinv = (const float *)t8.scales;
  float *x = (float *)(ws + l.row_at), e4m3[256];
  mxb_fp p8 = mxb_fp_e4m3();
  for (int k = 0; k < 256; k++) e4m3[k] = mxb_fp_decode(&p8, (uint32_t)k);
  for (int64_t r = 0; r < rows; r++) {
    mxb_cpu_load(src_type, src, r * cols, cols, x);
    for (int64_t c = 0; c < cols; c++) {
      int64_t k = partition_of(d, sc, r, c);
      float q = e4m3[codes[r * cols + c]] * sinv[k]; /* NUMERICS 4.4 dequantize */
      mxb_mor_accumulate(cfg->metric, acc + 3 * k, (double)x[c], (double)q);
    }
  }

  uint8_t *fp8 = (uint8_t *)dst->aux;
  float *scales = (float *)dst->scales;
  for (int64_t k = 0; k < nparts; k++) {
    fp8[k] = mxb_mor_error(cfg->metric, acc + 3 * k) <= cfg->tau; /* NaN -> BF16 */
    scales[k] = fp8[k] ? sinv[k] : 1.0f;
  }
  uint16_t *out = (uint16_t *)dst->data;
  for (int64_t r = 0; r < rows; r++) {
    mxb_cpu_load(src_type, src, r * cols, cols, x);
    for (int64_t c = 0; c < cols; c++)
      out[r * cols + c] = fp8[partition_of(d, sc, r, c)] ? codes[r * cols + c] : mxb_bf16_rne_satfinite(x[c]);
  }
  return MXB_SUCCESS;
}

void mxb_cpu_mor_decode_row_f64(const mxb_tensor_t *t, int64_t r, double *out) {
  const mxb_format_desc *d = mxb_format_desc_get(t->format);
  int64_t sc = mxb_scale_cols(d, t->cols);
  const uint16_t *row = (const uint16_t *)t->data + r * t->cols;
  const uint8_t *fp8 = (const uint8_t *)t->aux;
  const float *scales = (const float *)t->scales;
  mxb_fp e4m3 = mxb_fp_e4m3();
  for (int64_t c = 0; c < t->cols; c++) {
    int64_t k = partition_of(d, sc, r, c);
    /* E4M3 (4 significant bits) times an fp32 scale is exact in binary64 */
    out[c] = fp8[k] ? (double)mxb_fp_decode(&e4m3, row[c] & 0xFFu) * (double)scales[k]
                    : (double)mxb_bf16_decode(row[c]);
  }
}

double mxb_cpu_mor_fp8_fraction(const mxb_tensor_t *t) {
  const mxb_format_desc *d = mxb_format_desc_get(t->format);
  int64_t sr = mxb_scale_rows(d, t->rows), sc = mxb_scale_cols(d, t->cols);
  int64_t br = d->block_rows ? d->block_rows : t->rows, bc = d->block_cols ? d->block_cols : t->cols;
  const uint8_t *fp8 = (const uint8_t *)t->aux;
  double n = 0;
  for (int64_t i = 0; i < sr; i++)
    for (int64_t j = 0; j < sc; j++)
      if (fp8[i * sc + j]) {
        int64_t h = (i + 1) * br < t->rows ? br : t->rows - i * br;
        int64_t w = (j + 1) * bc < t->cols ? bc : t->cols - j * bc;
        n += (double)(h * w);
      }
  return n / ((double)t->rows * (double)t->cols);
}
