/* The one table that describes every format (shared by all backends). */
#ifndef MXB_CORE_FORMATS_H
#define MXB_CORE_FORMATS_H
#include "mxblas.h"
#include "common/hd.h"

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

/* Block counts along each dimension (a block dimension of 0 spans it). */
int64_t mxb_scale_rows(const mxb_format_desc *d, int64_t rows);
int64_t mxb_scale_cols(const mxb_format_desc *d, int64_t cols);

/* Index of scale (i, j) in the 128x4-tile swizzled layout (NUMERICS 4.1),
 * for a logical scale grid with scale_cols columns. Shared with the CUDA
 * kernels, hence MXB_HD. */
MXB_HD int64_t mxb_swizzle_index(int64_t i, int64_t j, int64_t scale_cols) {
  int64_t padded_cols = (scale_cols + 3) / 4 * 4;
  int64_t tile = (i / 128) * (padded_cols / 4) + j / 4;
  return tile * 512 + (i % 32) * 16 + ((i % 128) / 32) * 4 + (j % 4);
}

#ifdef __cplusplus
}
#endif
#endif
