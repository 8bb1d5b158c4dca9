/* Exact decoding of quantized rows for the CPU GEMM reference (NUMERICS 7). */
#ifndef MXB_CPU_DECODE_H
#define MXB_CPU_DECODE_H
#include "core/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Row `row` of t as decoded element values times their block scale, without
 * tensor scales, exact in binary64; NaN for the elements of NaN blocks.
 * out has t->cols entries. */
void mxb_cpu_decode_row_f64(const mxb_tensor_t *t, int64_t row, double *out);
/* The tensor scale of t's row `row`: NVFP4 mxb_nvfp4_tensor_scale(A) in fp32
 * (A the row's own with MXB_TENSOR_ROW_AMAX); FP8 per-tensor its scale_inv;
 * 1 otherwise. */
double mxb_cpu_tensor_scale(const mxb_tensor_t *t, int64_t row);

#ifdef __cplusplus
}
#endif
#endif
