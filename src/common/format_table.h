/* The format table: one row per element encoding and one per format. Every
 * format fact is written here once and expanded (X-macros) into the host
 * tables of src/core/formats.c and into the compile-time traits below, which
 * the CPU reference and the CUDA kernels use alike (block shapes, element
 * parameters, scale kind, tensor-scale rule, block indexing). */
#ifndef MXB_COMMON_FORMAT_TABLE_H
#define MXB_COMMON_FORMAT_TABLE_H
#include <stdint.h>

#include "common/hd.h"
#include "mxblas.h"

/* Element encodings (NUMERICS 1): X(id, name, bits, ebits, mbits, bias, emax,
 * max). INT8/SM*: mbits is the magnitude width, ebits 0. */
#define MXB_ELEM_TABLE(X)                                             \
  X(E2M1, "e2m1", 4, 2, 1, 1, 2, 6.0)                                 \
  X(E2M3, "e2m3", 6, 2, 3, 1, 2, 7.5)                                 \
  X(E3M2, "e3m2", 6, 3, 2, 3, 4, 28.0)                                \
  X(E4M3, "e4m3", 8, 4, 3, 7, 8, 448.0)                               \
  X(E5M2, "e5m2", 8, 5, 2, 15, 15, 57344.0)                           \
  X(INT8, "int8", 8, 0, 6, 0, 0, 127.0 / 64.0)                        \
  X(SM8, "sm8", 8, 0, 7, 0, 0, 127.0)                                 \
  X(SM5, "sm5", 5, 0, 4, 0, 0, 15.0)                                  \
  X(SM3, "sm3", 3, 0, 2, 0, 0, 3.0)                                   \
  X(BF16, "bf16", 16, 8, 7, 127, 127, 3.3895313892515355e38)          \
  X(FP32, "fp32", 32, 8, 23, 127, 127, 3.4028234663852886e38)         \
  X(MIXED, "e4m3|bf16", 16, 0, 0, 0, 0, 3.3895313892515355e38)

/* Formats: X(id, name, elem, bits, block_rows, block_cols, scale, amax, bdr_m,
 * swizzle). bits: stored bits per element code; a block dimension of 0 spans
 * the whole dimension (every other block dimension is a power of two);
 * amax: the tensor carries an NVFP4 tensor amax; bdr_m: BDR magnitude bits;
 * swizzle: the scale layout may be MXB_SCALE_LAYOUT_SWIZZLED. */
#define MXB_FORMAT_TABLE(X)                                                       \
  X(FP32, "fp32", FP32, 32, 1, 1, NONE, 0, 0, 0)                                  \
  X(BF16, "bf16", BF16, 16, 1, 1, NONE, 0, 0, 0)                                  \
  X(NVFP4, "nvfp4", E2M1, 4, 1, 16, UE4M3, 1, 0, 1)                               \
  X(MXFP8_E4M3, "mxfp8_e4m3", E4M3, 8, 1, 32, E8M0, 0, 0, 1)                      \
  X(MXFP8_E5M2, "mxfp8_e5m2", E5M2, 8, 1, 32, E8M0, 0, 0, 1)                      \
  X(MXFP6_E3M2, "mxfp6_e3m2", E3M2, 6, 1, 32, E8M0, 0, 0, 1)                      \
  X(MXFP6_E2M3, "mxfp6_e2m3", E2M3, 6, 1, 32, E8M0, 0, 0, 1)                      \
  X(MXFP4, "mxfp4", E2M1, 4, 1, 32, E8M0, 0, 0, 1)                                \
  X(MXINT8, "mxint8", INT8, 8, 1, 32, E8M0, 0, 0, 1)                              \
  X(MX9, "mx9", SM8, 8, 1, 16, BDR, 0, 7, 0)                                      \
  X(MX6, "mx6", SM5, 5, 1, 16, BDR, 0, 4, 0)                                      \
  X(MX4, "mx4", SM3, 3, 1, 16, BDR, 0, 2, 0)                                      \
  X(FP8_E4M3_TENSOR, "fp8_e4m3", E4M3, 8, 0, 0, FP32, 0, 0, 0)                    \
  X(FP8_E5M2_TENSOR, "fp8_e5m2", E5M2, 8, 0, 0, FP32, 0, 0, 0)                    \
  X(FP8_E4M3_1x128, "fp8_e4m3_1x128", E4M3, 8, 1, 128, FP32, 0, 0, 0)             \
  X(FP8_E5M2_1x128, "fp8_e5m2_1x128", E5M2, 8, 1, 128, FP32, 0, 0, 0)             \
  X(FP8_E4M3_128x128, "fp8_e4m3_128x128", E4M3, 8, 128, 128, FP32, 0, 0, 0)       \
  X(FP8_E5M2_128x128, "fp8_e5m2_128x128", E5M2, 8, 128, 128, FP32, 0, 0, 0)       \
  X(MOR_TENSOR, "mor", MIXED, 16, 0, 0, FP32, 0, 0, 0)                            \
  X(MOR_128x128, "mor_128x128", MIXED, 16, 128, 128, FP32, 0, 0, 0)               \
  X(MOR_1x128, "mor_1x128", MIXED, 16, 1, 128, FP32, 0, 0, 0)                    \
  X(FP8_E4M3_1x128_UE8M0, "fp8_e4m3_1x128_ue8m0", E4M3, 8, 1, 128, UE8M0, 0, 0, 0) \
  X(FP8_E5M2_1x128_UE8M0, "fp8_e5m2_1x128_ue8m0", E5M2, 8, 1, 128, UE8M0, 0, 0, 0) \
  X(FP8_E4M3_128x128_UE8M0, "fp8_e4m3_128x128_ue8m0", E4M3, 8, 128, 128, UE8M0, 0, 0, 0) \
  X(FP8_E5M2_128x128_UE8M0, "fp8_e5m2_128x128_ue8m0", E5M2, 8, 128, 128, UE8M0, 0, 0, 0)

/* Scale types, in enum order: X(id, name, bytes, aux). bytes: per scale
 * entry; aux: one aux byte per entry (the BDR microexponents). */
#define MXB_SCALE_TABLE(X) \
  X(NONE, "none", 0, 0)    \
  X(UE4M3, "ue4m3", 1, 0)  \
  X(E8M0, "e8m0", 1, 0)    \
  X(BDR, "bdr", 1, 1)      \
  X(FP32, "fp32", 4, 0)    \
  X(UE8M0, "ue8m0", 1, 0)

/* ---- compile-time traits ------------------------------------------------ */
/* Constant-folded wherever the format or element is a constant (a kernel's
 * template argument), so kernels take block lengths and element parameters
 * from here, never from literals. */
#if defined(__CUDACC__)
#define MXB_HDC static constexpr __host__ __device__ __forceinline__
#elif defined(__cplusplus)
#define MXB_HDC static constexpr inline
#else
#define MXB_HDC static inline
#endif

/* One accessor per column, a switch over the rows. */
#define MXB_ELEM_COL_(id, name, bits, eb, mb, bias, emax, max) case MXB_ELEM_##id: return bits;
MXB_HDC int mxb_elem_bits(int e) {
  switch (e) { MXB_ELEM_TABLE(MXB_ELEM_COL_) default: return 0; }
}
#undef MXB_ELEM_COL_

#define MXB_FMT_ELEM_(id, n, elem, b, br, bc, sc, am, m, sw) case MXB_FORMAT_##id: return MXB_ELEM_##elem;
#define MXB_FMT_BITS_(id, n, elem, b, br, bc, sc, am, m, sw) case MXB_FORMAT_##id: return b;
#define MXB_FMT_BROWS_(id, n, elem, b, br, bc, sc, am, m, sw) case MXB_FORMAT_##id: return br;
#define MXB_FMT_BCOLS_(id, n, elem, b, br, bc, sc, am, m, sw) case MXB_FORMAT_##id: return bc;
#define MXB_FMT_SCALE_(id, n, elem, b, br, bc, sc, am, m, sw) case MXB_FORMAT_##id: return MXB_SCALE_##sc;
#define MXB_FMT_AMAX_(id, n, elem, b, br, bc, sc, am, m, sw) case MXB_FORMAT_##id: return am;
MXB_HDC int mxb_fmt_elem(int f) {
  switch (f) { MXB_FORMAT_TABLE(MXB_FMT_ELEM_) default: return MXB_ELEM_COUNT; }
}
MXB_HDC int mxb_fmt_elem_bits(int f) {
  switch (f) { MXB_FORMAT_TABLE(MXB_FMT_BITS_) default: return 0; }
}
MXB_HDC int mxb_fmt_block_rows(int f) {
  switch (f) { MXB_FORMAT_TABLE(MXB_FMT_BROWS_) default: return 0; }
}
MXB_HDC int mxb_fmt_block_cols(int f) {
  switch (f) { MXB_FORMAT_TABLE(MXB_FMT_BCOLS_) default: return 0; }
}
MXB_HDC int mxb_fmt_scale_type(int f) {
  switch (f) { MXB_FORMAT_TABLE(MXB_FMT_SCALE_) default: return MXB_SCALE_NONE; }
}
MXB_HDC int mxb_fmt_has_amax(int f) {
  switch (f) { MXB_FORMAT_TABLE(MXB_FMT_AMAX_) default: return 0; }
}
#define MXB_SCALE_BYTES_(id, name, bytes, aux) case MXB_SCALE_##id: return bytes;
#define MXB_SCALE_AUX_(id, name, bytes, aux) case MXB_SCALE_##id: return aux;
/* Bytes of one scale entry of scale type s, and of its aux entry. */
MXB_HDC int mxb_scale_entry_bytes(int s) {
  switch (s) { MXB_SCALE_TABLE(MXB_SCALE_BYTES_) default: return 0; }
}
MXB_HDC int mxb_scale_aux_bytes(int s) {
  switch (s) { MXB_SCALE_TABLE(MXB_SCALE_AUX_) default: return 0; }
}
#undef MXB_SCALE_BYTES_
#undef MXB_SCALE_AUX_
#undef MXB_FMT_ELEM_
#undef MXB_FMT_BITS_
#undef MXB_FMT_BROWS_
#undef MXB_FMT_BCOLS_
#undef MXB_FMT_SCALE_
#undef MXB_FMT_AMAX_

/* Scale types holding an FP8 partition's scale_inv: fp32, or (UE8M0) its
 * power of two as one E8M0 byte. A UE8M0 scale is always rounded down to a
 * power of two (mxb_fp8_scale's pow2), so the byte holds it exactly. */
MXB_HDC int mxb_fp8_scale_type(int scale_type) {
  return scale_type == MXB_SCALE_FP32 || scale_type == MXB_SCALE_UE8M0;
}
MXB_HDC int mxb_fp8_pow2(int scale_type, int fp8_pow2_scale) {
  return scale_type == MXB_SCALE_UE8M0 || fp8_pow2_scale;
}

/* The tensor-wide scale of a format (NUMERICS 7 step 3), the one rule the
 * dequantizers and both GEMMs read: NVFP4's amax (used / 2688), or, for a
 * per-tensor fp32-scale format (one block spanning the tensor, not MoR),
 * the single scale_inv of its scale plane. */
typedef enum mxb_tensor_scale_kind {
  MXB_TSCALE_NONE = 0,
  MXB_TSCALE_AMAX = 1,  /* *amax, through mxb_nvfp4_tensor_scale */
  MXB_TSCALE_PLANE = 2  /* ((float *)scales)[0] */
} mxb_tensor_scale_kind;
/* The rule on a format's columns (for code that holds them at run time)... */
MXB_HDC int mxb_tensor_scale_rule(int scale_type, int has_amax, int block_rows, int block_cols, int elem) {
  return has_amax ? MXB_TSCALE_AMAX
         : scale_type == MXB_SCALE_FP32 && block_rows == 0 && block_cols == 0 && elem != MXB_ELEM_MIXED
             ? MXB_TSCALE_PLANE
             : MXB_TSCALE_NONE;
}
/* ... and on the format itself. */
MXB_HDC int mxb_fmt_tensor_scale(int f) {
  return mxb_tensor_scale_rule(mxb_fmt_scale_type(f), mxb_fmt_has_amax(f), mxb_fmt_block_rows(f),
                               mxb_fmt_block_cols(f), mxb_fmt_elem(f));
}

/* Element codes stored per row of cols elements: BDR rows hold whole blocks
 * (a tail block's codes are padded with zeros); every other format packs
 * exactly cols codes. */
MXB_HDC int64_t mxb_fmt_row_codes(int f, int64_t cols) {
  return mxb_fmt_scale_type(f) == MXB_SCALE_BDR
             ? (cols + mxb_fmt_block_cols(f) - 1) / mxb_fmt_block_cols(f) * mxb_fmt_block_cols(f)
             : cols;
}

/* Bytes of one element of a plain buffer type (0: not an mxb_dtype_t). */
MXB_HDC int mxb_dtype_bytes(int t) {
  return t == MXB_DTYPE_FP32 ? 4 : t == MXB_DTYPE_BF16 || t == MXB_DTYPE_FP16 ? 2 : 0;
}

/* ---- block indexing ------------------------------------------------------ */
/* Block dimensions are powers of two, so the block holding index x along a
 * dimension is x >> shift: shift = log2(block), or 63 for a block spanning
 * the dimension (every index is below 2^31, so x >> 63 is 0). */
MXB_HDC int mxb_block_shift(int block) {
  int s = 0;
  while (block > 1) {
    block >>= 1;
    s++;
  }
  return block ? s : 63;
}
/* Index of the scale of element (r, c) in a linear (row-major) scale grid
 * with scale_cols columns; rs, cs: mxb_block_shift of the block dimensions. */
MXB_HD int64_t mxb_block_index(int64_t r, int64_t c, int rs, int cs, int64_t scale_cols) {
  return (r >> rs) * scale_cols + (c >> cs);
}
/* Index of scale (i, j) in the 128x4-tile swizzled layout (NUMERICS 4.1),
 * for a logical scale grid with scale_cols columns. */
MXB_HD int64_t mxb_swizzle_index(int64_t i, int64_t j, int64_t scale_cols) {
  int64_t padded_cols = (scale_cols + 3) / 4 * 4;
  int64_t tile = (i / 128) * (padded_cols / 4) + j / 4;
  return tile * 512 + (i % 32) * 16 + ((i % 128) / 32) * 4 + (j % 4);
}
/* Where scale (i, j) of a grid with scale_cols columns lives, in either layout. */
MXB_HD int64_t mxb_scale_index(int64_t i, int64_t j, int64_t scale_cols, int swizzled) {
  return swizzled ? mxb_swizzle_index(i, j, scale_cols) : i * scale_cols + j;
}

#endif
