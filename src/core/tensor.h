/* Backend-neutral validation of tensor descriptors and option structs. */
#ifndef MXB_CORE_TENSOR_H
#define MXB_CORE_TENSOR_H
#include <stddef.h>

#include "core/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest accepted dimension and element count (keeps every byte count and
 * index computation far from 64-bit overflow). */
#define MXB_MAX_DIM ((int64_t)1 << 31)
#define MXB_MAX_ELEMS ((int64_t)1 << 40)

/* The end of field f of struct T: the struct_size of a layout whose last
 * field is f. */
#define MXB_FIELD_END(T, f) (offsetof(T, f) + sizeof(((T *)0)->f))

/* The smallest struct_size of each public struct: the end of its last field
 * in the first release (0.1). Later releases append fields and keep these,
 * so callers built against an older header keep working: an input field
 * beyond the caller's struct_size takes its default, an output field beyond
 * it is not written. */
#define MXB_MIN_SIZE_TENSOR MXB_FIELD_END(mxb_tensor_t, flags)
#define MXB_MIN_SIZE_TENSOR_SIZES MXB_FIELD_END(mxb_tensor_sizes_t, scale_cols)
#define MXB_MIN_SIZE_FORMAT_INFO MXB_FIELD_END(mxb_format_info_t, elem_max)
#define MXB_MIN_SIZE_QUANT_CONFIG MXB_FIELD_END(mxb_quant_config_t, rht)
#define MXB_MIN_SIZE_MOR_CONFIG MXB_FIELD_END(mxb_mor_config_t, pow2_scale)
#define MXB_MIN_SIZE_GEMM_DESC MXB_FIELD_END(mxb_gemm_desc_t, ldc)
#define MXB_MIN_SIZE_GROUPED_GEMM_DESC MXB_FIELD_END(mxb_grouped_gemm_desc_t, status)
#define MXB_MIN_SIZE_GEMM_PLAN_PREFS MXB_FIELD_END(mxb_gemm_plan_prefs_t, max_workspace)
#define MXB_MIN_SIZE_ERROR_STATS MXB_FIELD_END(mxb_error_stats_t, scale_code_hist)

/* MXB_ERR_INVALID_ARGUMENT unless struct_size >= min_size; the message names
 * name->struct_size and says how to set it (how). Used for input and output
 * structs alike. */
mxb_status_t mxb_check_struct_size(size_t struct_size, size_t min_size, const char *name, const char *how);
/* Write the output struct src (src_size bytes, struct_size first) to dst,
 * whose struct_size the caller set and mxb_check_struct_size accepted: only
 * the bytes both sizes cover are written, dst->struct_size is kept. */
void mxb_struct_out(void *dst, const void *src, size_t src_size);

/* mxb_tensor_sizes without the caller's struct_size: validates the arguments
 * and fills the whole of *s (the library's own callers). */
mxb_status_t mxb_compute_sizes(mxb_format_t format, int64_t rows, int64_t cols, mxb_scale_layout_t layout,
                               mxb_tensor_sizes_t *s);

/* *t = a descriptor of the given shape with no planes (mxb_tensor_init
 * without validation: the library's own, already valid, tensors). */
void mxb_tensor_set(mxb_tensor_t *t, mxb_format_t format, int64_t rows, int64_t cols, mxb_scale_layout_t layout);
/* *cfg = the defaults of mxb_quant_config_init. */
void mxb_quant_config_defaults(mxb_quant_config_t *cfg);
/* The bytes of a caller's struct of struct_size that hold whole fields: the
 * largest of ends[0..n) (the ends of its fields, ascending) within
 * struct_size. A struct_size that ends inside a field leaves that field to
 * its default. */
size_t mxb_whole_fields(size_t struct_size, const size_t *ends, size_t n);
/* *out = the caller's config *in with every field beyond in->struct_size at
 * its default (the API entry points pass this full copy on, so the library
 * never reads past the caller's struct). */
mxb_status_t mxb_quant_full_config(const mxb_quant_config_t *in, const char *name, mxb_quant_config_t *out);
/* The same where a NULL config means the defaults (entry points whose
 * config is optional). */
mxb_status_t mxb_quant_full_config_or_default(const mxb_quant_config_t *in, mxb_quant_config_t *out);

/* The first half of mxb_check_tensor: t non-NULL, struct_size, format,
 * layout and shape; the pointers are not looked at (GEMM plans). */
mxb_status_t mxb_check_tensor_shape(const mxb_tensor_t *t, const char *name, mxb_tensor_sizes_t *sizes,
                                    const mxb_format_desc **desc);
/* Validate t: non-NULL, struct_size, valid format and layout, shape within
 * limits, every plane the format needs non-NULL and aligned to its elements. name appears in messages
 * ("A", "dst"). On success fills *sizes (may be NULL) and *desc (may be NULL). */
mxb_status_t mxb_check_tensor(const mxb_tensor_t *t, const char *name, mxb_tensor_sizes_t *sizes,
                              const mxb_format_desc **desc);
/* The workspace rule shared by every entry point that takes one: a non-NULL
 * workspace is MXB_WORKSPACE_ALIGNMENT-aligned (else MXB_ERR_BAD_ALIGNMENT),
 * and holds at least need bytes (else MXB_ERR_WORKSPACE_TOO_SMALL); NULL is
 * fine when need is 0. query names the matching *_workspace_size. */
mxb_status_t mxb_check_workspace(const void *workspace, size_t workspace_bytes, size_t need, const char *query);
/* n rounded up to 256 bytes: where one part of a workspace ends and the next starts. */
static inline size_t mxb_round256(size_t n) { return (n + 255) / 256 * 256; }
/* MXB_ERR_BAD_ALIGNMENT unless p (named name) is aligned to align bytes, the
 * size of the elements it holds. */
mxb_status_t mxb_check_aligned(const void *p, size_t align, const char *name);
/* Validate a plain [rows, cols] buffer argument (non-NULL, valid type, shape
 * within limits, aligned to its element size). */
mxb_status_t mxb_check_plain(const void *p, const char *name, mxb_dtype_t type, int64_t rows,
                             int64_t cols);
mxb_status_t mxb_check_quant_config(const mxb_quant_config_t *cfg, const mxb_format_desc *d,
                                    int64_t cols);
mxb_status_t mxb_check_rht(const mxb_rht_t *rht, int64_t len, const char *what);
/* The flags a tensor quantized with the (checked) cfg carries: 2D, RHT, the
 * NVFP4 E4M3 bound 256. The kernels read the bound from them too. */
uint32_t mxb_quant_flags(const mxb_quant_config_t *cfg);
/* The columns of the tensor dst is a shard of (cfg->global_cols, 0 meaning
 * cols), and the check of cfg's shard origin for a [rows, cols] dst: inside
 * that tensor, every element's index below 2^62. */
int64_t mxb_quant_global_cols(const mxb_quant_config_t *cfg, int64_t cols);
mxb_status_t mxb_check_shard(const mxb_quant_config_t *cfg, int64_t rows, int64_t cols);
/* The profile's name in docs/COMPAT.md and the CLI ("mxblas", "te", ...; "?" outside the enum). */
const char *mxb_compat_name(mxb_compat_t c);

#ifdef __cplusplus
}
#endif
#endif
