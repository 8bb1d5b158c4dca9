/* Exact transpose of a 2D-scaled tensor (NVFP4, NUMERICS 4.1: 16x16 tiles;
 * MX, 4.2: 32x32 tiles): a tile's scale and codes do not depend on the
 * orientation, so the transpose moves codes and scale bytes and requantizes
 * nothing. */
#include "core/tensor.h"
#include "cpu/cpu_ops.h"
#include "cpu/transforms.h"

#include <string.h>

/* Code c of a row stored as a little-endian stream of `bits` per element. */
static uint32_t code_at(const uint8_t *row, int64_t c, int bits) {
  const int64_t bit = c * bits;
  uint32_t v = row[bit >> 3];
  if ((bit & 7) + bits > 8) v |= (uint32_t)row[(bit >> 3) + 1] << 8;
  return (v >> (bit & 7)) & ((1u << bits) - 1u);
}
static void put_code(uint8_t *row, int64_t c, int bits, uint32_t code) {
  const int64_t bit = c * bits;
  const uint32_t v = code << (bit & 7);
  row[bit >> 3] |= (uint8_t)v;
  if ((bit & 7) + bits > 8) row[(bit >> 3) + 1] |= (uint8_t)(v >> 8);
}

mxb_status_t mxb_cpu_transpose_2d(const mxb_tensor_t *in, mxb_tensor_t *out) {
  mxb_tensor_sizes_t si, so;
  mxb_compute_sizes(in->format, in->rows, in->cols, in->scale_layout, &si);
  mxb_compute_sizes(out->format, out->rows, out->cols, out->scale_layout, &so);
  const int bits = mxb_format_desc_get(in->format)->elem_bits;
  const uint8_t *ic = (const uint8_t *)in->data;
  uint8_t *oc = (uint8_t *)out->data;
  memset(oc, 0, so.data_bytes); /* padding bits are zero */
  for (int64_t r = 0; r < out->rows; r++)
    for (int64_t c = 0; c < out->cols; c++)
      put_code(oc + r * (int64_t)so.row_bytes, c, bits, code_at(ic + c * (int64_t)si.row_bytes, r, bits));

  /* Scale (r, j) of out serves out rows r, cols tj..tj+t-1: the tile that
   * in stores at its row tj, scale column r/t (t x t tiles, t the block). */
  const int64_t t = mxb_fmt_block_cols(in->format);
  const uint8_t *is = (const uint8_t *)in->scales;
  uint8_t *os = (uint8_t *)out->scales;
  memset(os, 0, so.scale_bytes); /* swizzle padding is zero */
  for (int64_t r = 0; r < so.scale_rows; r++)
    for (int64_t j = 0; j < so.scale_cols; j++)
      os[mxb_cpu_scale_index(out, r, j, so.scale_cols)] = is[mxb_cpu_scale_index(in, t * j, r / t, si.scale_cols)];
  if (si.amax_bytes) *out->amax = *in->amax;
  return MXB_SUCCESS;
}

void mxb_cpu_transpose_plain(mxb_dtype_t type, int64_t rows, int64_t cols, const void *src, void *dst) {
  size_t es = (size_t)mxb_dtype_bytes(type);
  const char *s = (const char *)src;
  char *d = (char *)dst;
  /* 32x32 tiles keep both sides in cache */
  for (int64_t r0 = 0; r0 < rows; r0 += 32)
    for (int64_t c0 = 0; c0 < cols; c0 += 32)
      for (int64_t r = r0; r < rows && r < r0 + 32; r++)
        for (int64_t c = c0; c < cols && c < c0 + 32; c++)
          memcpy(d + (size_t)(c * rows + r) * es, s + (size_t)(r * cols + c) * es, es);
}
