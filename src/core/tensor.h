/* Backend-neutral validation of tensor descriptors and option structs. */
#ifndef MXB_CORE_TENSOR_H
#define MXB_CORE_TENSOR_H
#include "core/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest accepted dimension and element count (keeps every byte count and
 * index computation far from 64-bit overflow). */
#define MXB_MAX_DIM ((int64_t)1 << 31)
#define MXB_MAX_ELEMS ((int64_t)1 << 40)

/* Validate t: non-NULL, struct_size, valid format and layout, shape within
 * limits, every plane the format needs non-NULL. name appears in messages
 * ("A", "dst"). On success fills *sizes (may be NULL) and *desc (may be NULL). */
mxb_status_t mxb_check_tensor(const mxb_tensor_t *t, const char *name, mxb_tensor_sizes_t *sizes,
                              const mxb_format_desc **desc);
/* Validate a plain [rows, cols] buffer argument. */
mxb_status_t mxb_check_plain(const void *p, const char *name, mxb_dtype_t type, int64_t rows,
                             int64_t cols);
mxb_status_t mxb_check_quant_config(const mxb_quant_config_t *cfg, const mxb_format_desc *d,
                                    int64_t cols);
mxb_status_t mxb_check_rht(const mxb_rht_t *rht, int64_t len, const char *what);

#ifdef __cplusplus
}
#endif
#endif
