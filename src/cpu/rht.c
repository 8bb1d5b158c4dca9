/* CPU reference of the standalone RHT (NUMERICS 5): gather each aligned chunk
 * of d values along the axis, transform it with the shared chunk code, and
 * round it to the output type. */
#include "cpu/transforms.h"
#include "common/rht.h"
#include "cpu/cpu_ops.h"

#include <string.h>

mxb_status_t mxb_cpu_rht(const mxb_rht_t *rht, int inverse, mxb_axis_t axis, int64_t rows, int64_t cols,
                         mxb_dtype_t in_type, const void *in, mxb_dtype_t out_type, void *out) {
  int d = rht->size;
  uint32_t signs[8];
  if (rht->sign_source == MXB_SIGNS_SEED)
    mxb_rht_signs_from_seed(rht->sign_seed, d, signs);
  else
    memcpy(signs, rht->sign_mask, sizeof(signs));
  /* element (k, j) of chunk k: stride along the axis */
  int64_t lines = axis == MXB_AXIS_COLS ? rows : cols;
  int64_t len = axis == MXB_AXIS_COLS ? cols : rows;
  int64_t along = axis == MXB_AXIS_COLS ? 1 : cols, across = axis == MXB_AXIS_COLS ? cols : 1;
  int widen_bf16 = rht->bf16_output && out_type == MXB_DTYPE_FP32;
  float v[256];
  for (int64_t l = 0; l < lines; l++)
    for (int64_t c0 = 0; c0 < len; c0 += d) {
      int64_t base = l * across + c0 * along;
      if (along == 1)
        mxb_cpu_load(in_type, in, base, d, v);
      else
        for (int j = 0; j < d; j++) mxb_cpu_load(in_type, in, base + j * along, 1, v + j);
      mxb_rht_chunk(v, d, signs, inverse);
      if (widen_bf16) /* bf16 values held in fp32 (TE-compatible rounding) */
        for (int j = 0; j < d; j++) v[j] = mxb_bf16_decode(mxb_bf16_rne(v[j]));
      if (along == 1)
        mxb_cpu_store(out_type, v, d, out, base);
      else
        for (int j = 0; j < d; j++) mxb_cpu_store(out_type, v + j, 1, out, base + j * along);
    }
  return MXB_SUCCESS;
}
