/* CPU reference of the training-recipe transforms: RHT, the 2D NVFP4
 * transpose, the row/column pair and MoR. Called from src/core/api_*.c after
 * the shared validation: arguments here are already checked. */
#ifndef MXB_CPU_TRANSFORMS_H
#define MXB_CPU_TRANSFORMS_H
#include "core/context.h"
#include "core/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Standalone RHT of a dense [rows, cols] buffer (NUMERICS 5). in and out may
 * be the same buffer when in_type == out_type. */
mxb_status_t mxb_cpu_rht(const mxb_rht_t *rht, int inverse, mxb_axis_t axis, int64_t rows,
                         int64_t cols, mxb_dtype_t in_type, const void *in, mxb_dtype_t out_type,
                         void *out);

/* out = transpose of the 2D-scaled NVFP4 or MX tensor in (codes, scales,
 * NVFP4's amax). */
mxb_status_t mxb_cpu_transpose_2d(const mxb_tensor_t *in, mxb_tensor_t *out);

/* Dense transpose of a [rows, cols] plain buffer into dst [cols, rows]. */
void mxb_cpu_transpose_plain(mxb_dtype_t type, int64_t rows, int64_t cols, const void *src, void *dst);

/* MoR (dst's planes, not its flags); workspace laid out as mxb_mor_layout_of(dst). */
mxb_status_t mxb_cpu_mor_quantize(const mxb_mor_config_t *cfg,
                                  mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst,
                                  void *workspace);
/* Decode row r of a MoR tensor into out[cols] (binary64, exact values). */
void mxb_cpu_mor_decode_row_f64(const mxb_tensor_t *t, int64_t r, double *out);
/* Fraction of the elements that lie in FP8 partitions (aux already checked). */
double mxb_cpu_mor_fp8_fraction(const mxb_tensor_t *t);

#ifdef __cplusplus
}
#endif
#endif
