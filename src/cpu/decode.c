/* Exact row decoding (binary64) shared by dequantize and the CPU GEMM, and
 * the code packing helpers. */
#include <stdlib.h>

#include "common/block.h"
#include "core/tensor.h"
#include "cpu/cpu_ops.h"
#include "cpu/decode.h"
#include "cpu/transforms.h"

void mxb_cpu_pack(const uint8_t *codes, int64_t n, int bits, uint8_t *out) {
  if (bits == 8) {
    memcpy(out, codes, (size_t)n);
    return;
  }
  if (bits == 4) { /* the common case, byte at a time */
    for (int64_t k = 0; k + 1 < n; k += 2) *out++ = (uint8_t)((codes[k] & 15u) | (uint32_t)codes[k + 1] << 4);
    if (n & 1) *out = codes[n - 1] & 15u;
    return;
  }
  uint32_t acc = 0, mask = (1u << bits) - 1u;
  int have = 0;
  for (int64_t k = 0; k < n; k++) {
    acc |= (codes[k] & mask) << have;
    have += bits;
    while (have >= 8) {
      *out++ = (uint8_t)acc;
      acc >>= 8;
      have -= 8;
    }
  }
  if (have) *out = (uint8_t)acc; /* padding bits are zero */
}

void mxb_cpu_unpack(const uint8_t *in, int64_t n, int bits, uint8_t *codes) {
  if (bits == 8) {
    memcpy(codes, in, (size_t)n);
    return;
  }
  uint32_t acc = 0, mask = (1u << bits) - 1u;
  int have = 0;
  for (int64_t k = 0; k < n; k++) {
    if (have < bits) {
      acc |= (uint32_t)*in++ << have;
      have += 8;
    }
    codes[k] = (uint8_t)(acc & mask);
    acc >>= bits;
    have -= bits;
  }
}

int64_t mxb_cpu_scale_index(const mxb_tensor_t *t, int64_t i, int64_t j, int64_t scale_cols) {
  return mxb_scale_index(i, j, scale_cols, t->scale_layout == MXB_SCALE_LAYOUT_SWIZZLED);
}

double mxb_cpu_tensor_scale(const mxb_tensor_t *t, int64_t row) {
  switch (mxb_fmt_tensor_scale(t->format)) {
    case MXB_TSCALE_AMAX: return (double)mxb_nvfp4_tensor_scale(mxb_nvfp4_amax_at(t->amax, t->flags, row), t->flags);
    case MXB_TSCALE_PLANE: return (double)((const float *)t->scales)[0];
    default: return 1.0;
  }
}

void mxb_cpu_decode_row_f64(const mxb_tensor_t *t, int64_t row, double *out) {
  const mxb_format_desc *d = mxb_format_desc_get(t->format);
  int64_t cols = t->cols;
  if (d->elem == MXB_ELEM_MIXED) {
    mxb_cpu_mor_decode_row_f64(t, row, out);
    return;
  }
  if (d->elem == MXB_ELEM_FP32 || d->elem == MXB_ELEM_BF16) {
    for (int64_t c = 0; c < cols; c++)
      out[c] = d->elem == MXB_ELEM_FP32 ? (double)((const float *)t->data)[row * cols + c]
                                        : (double)mxb_bf16_decode(((const uint16_t *)t->data)[row * cols + c]);
    return;
  }
  mxb_tensor_sizes_t sz;
  mxb_compute_sizes(t->format, t->rows, t->cols, t->scale_layout, &sz);
  int64_t scols = sz.scale_cols, bc = d->block_cols ? d->block_cols : cols;
  int64_t n = mxb_fmt_row_codes(t->format, cols);
  uint8_t stackbuf[4096], *codes = n <= 4096 ? stackbuf : malloc((size_t)n);
  if (!codes) { /* cannot happen for any tensor a caller could allocate; stay defined */
    for (int64_t c = 0; c < cols; c++) out[c] = (double)mxb_u2f(MXB_F32_QNAN);
    return;
  }
  mxb_cpu_unpack((const uint8_t *)t->data + (size_t)row * sz.row_bytes, n, d->elem_bits, codes);
  mxb_fp p = mxb_elem_fp(d->elem);
  /* a per-tensor scale is the tensor scale, applied by the caller */
  int plane = mxb_fmt_tensor_scale(t->format) == MXB_TSCALE_PLANE;
  int rs = mxb_block_shift(d->block_rows), cs = mxb_block_shift(d->block_cols);
  double lut[256];
  if (d->scale_type != MXB_SCALE_BDR)
    for (int k = 0; k < (1 << d->elem_bits); k++) lut[k] = (double)mxb_fp_decode(&p, (uint32_t)k);
  const uint8_t *s8 = (const uint8_t *)t->scales;
  for (int64_t j = 0; j < scols; j++) {
    int64_t c0 = j * bc, c1 = c0 + bc < cols ? c0 + bc : cols;
    double s = 1.0;
    switch (d->scale_type) {
      case MXB_SCALE_UE4M3: s = (double)mxb_ue4m3_decode(s8[mxb_cpu_scale_index(t, row, j, scols)]); break;
      case MXB_SCALE_E8M0: s = (double)mxb_e8m0_decode(s8[mxb_cpu_scale_index(t, row, j, scols)]); break;
      case MXB_SCALE_FP32:
      case MXB_SCALE_UE8M0:
        s = plane ? 1.0 : (double)mxb_fp8_scale_inv_load(t->scales, d->scale_type, mxb_block_index(row, c0, rs, cs, scols));
        break;
      default: break;
    }
    if (d->scale_type == MXB_SCALE_BDR) {
      int64_t k = mxb_cpu_scale_index(t, row, j, scols);
      uint8_t E = s8[k], mu = ((const uint8_t *)t->aux)[k];
      for (int64_t c = c0; c < c1; c++) out[c] = mxb_bdr_decode(codes[c], (int)(c - c0), d->bdr_m, E, mu);
    } else {
      for (int64_t c = c0; c < c1; c++) out[c] = lut[codes[c]] * s;
    }
  }
  if (codes != stackbuf) free(codes);
}
