/* The format and element descriptors, expanded from the table of
 * src/common/format_table.h (shared by all backends). */
#ifndef MXB_CORE_FORMATS_H
#define MXB_CORE_FORMATS_H
#include "common/codec.h"
#include "common/format_table.h"
#include "mxblas.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mxb_format_desc {
  mxb_format_t format;
  const char *name;
  mxb_elem_t elem;
  int elem_bits;        /* stored bits per element code */
  int block_rows;       /* 0 = whole dimension */
  int block_cols;       /* 0 = whole dimension */
  mxb_scale_type_t scale_type;
  int has_amax;         /* NVFP4 tensor amax */
  int bdr_m;            /* BDR magnitude bits (7, 4, 2), else 0 */
  int swizzle_ok;       /* scale layout may be MXB_SCALE_LAYOUT_SWIZZLED */
} mxb_format_desc;

/* NULL when f is not a valid format. */
const mxb_format_desc *mxb_format_desc_get(mxb_format_t f);

/* Element parameters: exponent and mantissa bits, bias, largest finite
 * value. INT8/SM*: mbits is the magnitude width, ebits 0. */
typedef struct mxb_elem_desc {
  mxb_elem_t elem;
  const char *name;
  int bits, ebits, mbits, bias, emax;
  double max_value;
} mxb_elem_desc;
const mxb_elem_desc *mxb_elem_desc_get(mxb_elem_t e);
/* The codec parameters of an element descriptor (mxb_elem_fp). */
MXB_HD mxb_fp mxb_fp_from_desc(const mxb_elem_desc *d) { return mxb_elem_fp(d->elem); }

/* Block counts along each dimension (a block dimension of 0 spans it). */
int64_t mxb_scale_rows(const mxb_format_desc *d, int64_t rows);
int64_t mxb_scale_cols(const mxb_format_desc *d, int64_t cols);

#ifdef __cplusplus
}
#endif
#endif
