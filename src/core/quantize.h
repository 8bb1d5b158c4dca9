/* The validated quantize path of the API layer, shared by mxb_quantize and
 * mxb_quantize_pair so that each tensor is validated and sized once. */
#ifndef MXB_CORE_QUANTIZE_H
#define MXB_CORE_QUANTIZE_H
#include "core/context.h"
#include "core/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Everything mxb_quantize checks except src and the workspace; fills *sz
 * and *desc. */
mxb_status_t mxb_check_quantize(const mxb_context_t *ctx, const mxb_quant_config_t *cfg, mxb_dtype_t src_type,
                                const mxb_tensor_t *dst, mxb_tensor_sizes_t *sz, const mxb_format_desc **desc);
/* Workspace bytes of a validated quantization on ctx's backend. */
size_t mxb_quantize_workspace(const mxb_context_t *ctx, const mxb_quant_config_t *cfg, const mxb_format_desc *d,
                              const mxb_tensor_t *dst, const mxb_tensor_sizes_t *sz);
/* Run a validated quantization (src and workspace checked too), set
 * dst->flags and the last implementation. */
mxb_status_t mxb_quantize_checked(mxb_context_t *ctx, const mxb_quant_config_t *cfg, const mxb_format_desc *d,
                                  const mxb_tensor_sizes_t *sz, mxb_dtype_t src_type, const void *src,
                                  mxb_tensor_t *dst, void *workspace, void *stream);
/* The flags a quantization by cfg leaves on dst (2D tiles, RHT). */
void mxb_quantize_set_flags(mxb_tensor_t *dst, const mxb_quant_config_t *cfg);
#ifdef __cplusplus
}
#endif
#endif
