/* Entry points of the CUDA backend for quantize, dequantize, amax, RHT,
 * transpose and MoR. Called from src/core/api_*.c after the shared
 * validation: arguments here are already checked. Every function is
 * stream-ordered, allocates nothing and never synchronises; the API layer
 * sets the output's flags and the last implementation (mxb_set_last_impl). */
#ifndef MXB_CUDA_OPS_H
#define MXB_CUDA_OPS_H
#include "core/context.h"
#include "core/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifdef MXB_WITH_CUDA
/* max |x| over n values (NaN if any is NaN) into *amax (device memory). */
mxb_status_t mxb_cuda_amax(struct mxb_context *ctx, mxb_dtype_t type, const void *x, int64_t n,
                           float *amax, void *stream);
/* count amaxes (device memory) made canonical for the cross-rank reduction
 * (mxb_amax_reduce_bits), in place, in stream order. */
mxb_status_t mxb_cuda_amax_canonicalize(float *amax, int64_t count, void *stream);

/* MXB_SUCCESS where the CUDA quantizer implements cfg's options for format
 * d (already valid for d), else MXB_ERR_UNSUPPORTED with a detail. */
mxb_status_t mxb_cuda_quantize_offers(const mxb_quant_config_t *cfg, const mxb_format_desc *d);
/* Scratch bytes mxb_cuda_quantize needs for dst (format d, sizes s): the
 * FP8 partition amaxes and the staged RHT input. */
size_t mxb_cuda_quantize_workspace(const mxb_quant_config_t *cfg, const mxb_format_desc *d,
                                   const mxb_tensor_t *dst, const mxb_tensor_sizes_t *s);
/* Writes dst's planes (not its flags); *impl: the kernel family that ran.
 * workspace holds mxb_cuda_quantize_workspace bytes. */
mxb_status_t mxb_cuda_quantize(struct mxb_context *ctx, const mxb_quant_config_t *cfg,
                               const mxb_format_desc *d, const mxb_tensor_sizes_t *s,
                               mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst,
                               void *workspace, void *stream, const char **impl);
/* The amax mxb_cuda_quantize computes for cfg (amax_source MXB_AMAX_COMPUTE
 * for NVFP4: into dst->amax; FP8 per tensor: into cfg->amax_out), without
 * the quantize pass (the compatibility profiles quantize too). */
mxb_status_t mxb_cuda_quantize_amax(struct mxb_context *ctx, const mxb_quant_config_t *cfg,
                                    const mxb_format_desc *d, const mxb_tensor_sizes_t *s,
                                    mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst,
                                    void *workspace, void *stream, const char **impl);
/* Grouped quantize (src/core/api_grouped.c validated the call; linear
 * scales, 1-D blocks, no SR): each valid group's rows quantized as alone,
 * the groups read on the device; MXB_ERR_UNSUPPORTED (having done nothing)
 * outside the row-wise kernels' case. Workspace: the row map and groups. */
size_t mxb_cuda_grouped_quantize_workspace(int64_t rows, int64_t groups);
mxb_status_t mxb_cuda_grouped_quantize(struct mxb_context *ctx, const mxb_quant_config_t *cfg,
                                       const mxb_format_desc *d, const mxb_tensor_sizes_t *s,
                                       mxb_dtype_t src_type, const void *src, mxb_tensor_t *dst, int masked,
                                       int64_t groups, int index_bits, const void *index, int32_t *status,
                                       int64_t max_rows, void *workspace, void *stream, const char **impl);
/* mxb_quantize_pair in one pass over src where both copies are NVFP4 1x16
 * or the same MX format (RNE or SR, the d = 16 RHT or none, no Four Over
 * Six, no 2D tiles), x's rows and columns are multiples of the block and the
 * planes are 16-byte aligned: writes both copies' planes (not their flags),
 * *status and *impl, and returns 1; returns 0 (having done nothing) where it
 * does not apply. Validated arguments. */
int mxb_cuda_quantize_pair(struct mxb_context *ctx, const mxb_quant_config_t *rc, const mxb_quant_config_t *cc,
                           const mxb_format_desc *dr, const mxb_tensor_sizes_t *sr, const mxb_format_desc *dc,
                           const mxb_tensor_sizes_t *sc, mxb_dtype_t src_type, const void *src, mxb_tensor_t *row,
                           mxb_tensor_t *col, void *stream, mxb_status_t *status, const char **impl);
/* Standalone RHT (mxb_rht), and the transform itself with explicit sign
 * words (round_bf16: round the fp32 results to bf16 values). */
mxb_status_t mxb_cuda_rht(struct mxb_context *ctx, const mxb_rht_t *rht, int inverse, mxb_axis_t axis,
                          int64_t rows, int64_t cols, mxb_dtype_t in_type, const void *in,
                          mxb_dtype_t out_type, void *out, void *stream);
mxb_status_t mxb_cuda_rht_apply(struct mxb_context *ctx, const uint32_t signs[8], int d, int inverse,
                                mxb_axis_t axis, int64_t rows, int64_t cols, mxb_dtype_t in_type,
                                const void *in, mxb_dtype_t out_type, int round_bf16, void *out,
                                void *stream);
/* Whether mxb_cuda_dequantize offers format f (every format but fp32 and MoR). */
int mxb_cuda_dequantize_supported(mxb_format_t f);
/* *impl: the kernel that ran ("cuda-dequantize-rows" or "cuda-dequantize"). */
mxb_status_t mxb_cuda_dequantize(struct mxb_context *ctx, const mxb_tensor_t *src, const mxb_format_desc *d,
                                 const mxb_tensor_sizes_t *s, mxb_dtype_t dst_type, void *dst, void *stream,
                                 const char **impl);
/* dst [cols, rows] = transpose of the plain buffer src [rows, cols]. */
mxb_status_t mxb_cuda_transpose_plain(struct mxb_context *ctx, mxb_dtype_t type, int64_t rows, int64_t cols,
                                      const void *src, void *dst, void *stream);
/* out = transpose of the 2D-scaled NVFP4 or MX tensor in (codes, scales,
 * the NVFP4 amax). */
mxb_status_t mxb_cuda_transpose_2d(struct mxb_context *ctx, const mxb_tensor_t *in, mxb_tensor_t *out, void *stream);
/* MoR quantize; workspace of the size mxb_mor_workspace(dst) reports. */
mxb_status_t mxb_cuda_mor_quantize(struct mxb_context *ctx, const mxb_mor_config_t *cfg, mxb_dtype_t src_type,
                                   const void *src, mxb_tensor_t *dst, void *workspace, void *stream);
/* Proof of the specialised element encoders of common/codec.h against the
 * generic ones on the device. which: 0 E2M1 RNE, 1 E4M3 RNE, 3 E5M2 RNE,
 * 4 MXINT8 RNE, 5 and 6 the branch-free E3M2 and E2M3 encoder, each over all
 * 2^32 fp32 patterns; 7 the UE4M3 decoder over its 256 bytes; 8 and 9 the
 * hardware bf16 and fp16 conversions over every non-NaN fp32; 2 E2M1 SR over 2^24 structured patterns x all 256
 * random bytes. Returns the number of mismatches in *mismatches and the
 * smallest mismatching input (pattern, or pattern << 8 | byte for SR) in
 * *first (untouched when none). Synchronises: a test helper. */
mxb_status_t mxb_cuda_codec_check(int which, unsigned long long *mismatches, unsigned long long *first);
#endif

#ifdef __cplusplus
}
#endif
#endif
