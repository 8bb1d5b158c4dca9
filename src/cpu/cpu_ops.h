/* CPU reference of quantize, dequantize, amax and error statistics, called
 * from src/core/api_*.c after the shared validation (arguments here are
 * already checked), plus the row helpers they share. */
#ifndef MXB_CPU_OPS_H
#define MXB_CPU_OPS_H
#include "core/formats.h"

#ifdef __cplusplus
extern "C" {
#ifdef __cplusplus
}
#endif
#endif

/* dst planes, shape and format already validated (sz = its sizes). */
mxb_status_t mxb_cpu_quantize(const mxb_quant_config_t *cfg, mxb_dtype_t src_type, const void *src,
                              mxb_tensor_t *dst, const mxb_tensor_sizes_t *sz);
mxb_status_t mxb_cpu_dequantize(const mxb_tensor_t *src, mxb_dtype_t dst_type, void *dst);
/* Error statistics of q (format d, sizes sz) against its fp32 input x
 * (NUMERICS 8), the whole struct filled. */
mxb_status_t mxb_cpu_error_stats(const float *x, const mxb_tensor_t *q, const mxb_format_desc *d,
                                 const mxb_tensor_sizes_t *sz, mxb_error_stats_t *out);
/* max |x| over n values, NaN if any is NaN. */
float mxb_cpu_amax(mxb_dtype_t type, const void *x, int64_t n);

/* n values of a plain buffer starting at element `at`, as fp32. */
void mxb_cpu_load(mxb_dtype_t type, const void *src, int64_t at, int64_t n, float *out);
/* n fp32 values stored at element `at` of a plain buffer (RNE to bf16/fp16). */
void mxb_cpu_store(mxb_dtype_t type, const float *in, int64_t n, void *dst, int64_t at);
/* Codes of `bits` bits as a little-endian bit stream (code k at bits
 * [k*bits, (k+1)*bits)); FP4 low nibble first, FP6 4 codes in 3 bytes. */
void mxb_cpu_pack(const uint8_t *codes, int64_t n, int bits, uint8_t *out);
void mxb_cpu_unpack(const uint8_t *in, int64_t n, int bits, uint8_t *codes);
/* Index of scale (i, j) in the tensor's scale plane. */
int64_t mxb_cpu_scale_index(const mxb_tensor_t *t, int64_t i, int64_t j, int64_t scale_cols);

#ifdef __cplusplus
}
#endif
#endif
