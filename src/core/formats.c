#include "core/formats.h"
#include "core/error.h"
#include "core/tensor.h"

#include <string.h>

/* One row per element encoding: NUMERICS 1. */
static const mxb_elem_desc k_elems[MXB_ELEM_COUNT] = {
  /* elem           name     bits eb mb bias emax max */
  {MXB_ELEM_E2M1,  "e2m1",   4,  2, 1,  1,  2,  6.0},
  {MXB_ELEM_E2M3,  "e2m3",   6,  2, 3,  1,  2,  7.5},
  {MXB_ELEM_E3M2,  "e3m2",   6,  3, 2,  3,  4,  28.0},
  {MXB_ELEM_E4M3,  "e4m3",   8,  4, 3,  7,  8,  448.0},
  {MXB_ELEM_E5M2,  "e5m2",   8,  5, 2,  15, 15, 57344.0},
  {MXB_ELEM_INT8,  "int8",   8,  0, 6,  0,  0,  127.0 / 64.0},
  {MXB_ELEM_SM8,   "sm8",    8,  0, 7,  0,  0,  127.0},
  {MXB_ELEM_SM5,   "sm5",    5,  0, 4,  0,  0,  15.0},
  {MXB_ELEM_SM3,   "sm3",    3,  0, 2,  0,  0,  3.0},
  {MXB_ELEM_BF16,  "bf16",   16, 8, 7,  127, 127, 3.3895313892515355e38},
  {MXB_ELEM_FP32,  "fp32",   32, 8, 23, 127, 127, 3.4028234663852886e38},
  {MXB_ELEM_MIXED, "e4m3|bf16", 16, 0, 0, 0, 0, 3.3895313892515355e38},
};

/* One row per format. Adding a format touches this table and its codec. */
static const mxb_format_desc k_formats[MXB_FORMAT_COUNT] = {
  /* format                      name               elem           bits brow bcol scale            amax m sw */
  {MXB_FORMAT_FP32,            "fp32",            MXB_ELEM_FP32, 32, 1, 1,   MXB_SCALE_NONE,  0, 0, 0},
  {MXB_FORMAT_BF16,            "bf16",            MXB_ELEM_BF16, 16, 1, 1,   MXB_SCALE_NONE,  0, 0, 0},
  {MXB_FORMAT_NVFP4,           "nvfp4",           MXB_ELEM_E2M1, 4,  1, 16,  MXB_SCALE_UE4M3, 1, 0, 1},
  {MXB_FORMAT_MXFP8_E4M3,      "mxfp8_e4m3",      MXB_ELEM_E4M3, 8,  1, 32,  MXB_SCALE_E8M0,  0, 0, 1},
  {MXB_FORMAT_MXFP8_E5M2,      "mxfp8_e5m2",      MXB_ELEM_E5M2, 8,  1, 32,  MXB_SCALE_E8M0,  0, 0, 1},
  {MXB_FORMAT_MXFP6_E3M2,      "mxfp6_e3m2",      MXB_ELEM_E3M2, 6,  1, 32,  MXB_SCALE_E8M0,  0, 0, 1},
  {MXB_FORMAT_MXFP6_E2M3,      "mxfp6_e2m3",      MXB_ELEM_E2M3, 6,  1, 32,  MXB_SCALE_E8M0,  0, 0, 1},
  {MXB_FORMAT_MXFP4,           "mxfp4",           MXB_ELEM_E2M1, 4,  1, 32,  MXB_SCALE_E8M0,  0, 0, 1},
  {MXB_FORMAT_MXINT8,          "mxint8",          MXB_ELEM_INT8, 8,  1, 32,  MXB_SCALE_E8M0,  0, 0, 1},
  {MXB_FORMAT_MX9,             "mx9",             MXB_ELEM_SM8,  8,  1, 16,  MXB_SCALE_BDR,   0, 7, 0},
  {MXB_FORMAT_MX6,             "mx6",             MXB_ELEM_SM5,  5,  1, 16,  MXB_SCALE_BDR,   0, 4, 0},
  {MXB_FORMAT_MX4,             "mx4",             MXB_ELEM_SM3,  3,  1, 16,  MXB_SCALE_BDR,   0, 2, 0},
  {MXB_FORMAT_FP8_E4M3_TENSOR, "fp8_e4m3",        MXB_ELEM_E4M3, 8,  0, 0,   MXB_SCALE_FP32,  0, 0, 0},
  {MXB_FORMAT_FP8_E5M2_TENSOR, "fp8_e5m2",        MXB_ELEM_E5M2, 8,  0, 0,   MXB_SCALE_FP32,  0, 0, 0},
  {MXB_FORMAT_FP8_E4M3_1x128,  "fp8_e4m3_1x128",  MXB_ELEM_E4M3, 8,  1, 128, MXB_SCALE_FP32,  0, 0, 0},
  {MXB_FORMAT_FP8_E5M2_1x128,  "fp8_e5m2_1x128",  MXB_ELEM_E5M2, 8,  1, 128, MXB_SCALE_FP32,  0, 0, 0},
  {MXB_FORMAT_FP8_E4M3_128x128,"fp8_e4m3_128x128",MXB_ELEM_E4M3, 8,  128, 128, MXB_SCALE_FP32, 0, 0, 0},
  {MXB_FORMAT_FP8_E5M2_128x128,"fp8_e5m2_128x128",MXB_ELEM_E5M2, 8,  128, 128, MXB_SCALE_FP32, 0, 0, 0},
  {MXB_FORMAT_MOR_TENSOR,      "mor",             MXB_ELEM_MIXED, 16, 0, 0,  MXB_SCALE_FP32,  0, 0, 0},
  {MXB_FORMAT_MOR_128x128,     "mor_128x128",     MXB_ELEM_MIXED, 16, 128, 128, MXB_SCALE_FP32, 0, 0, 0},
  {MXB_FORMAT_MOR_1x128,       "mor_1x128",       MXB_ELEM_MIXED, 16, 1, 128, MXB_SCALE_FP32,  0, 0, 0},
};

/* Names of mxb_scale_type_t, in enum order. */
static const char *const k_scale_names[] = {"none", "ue4m3", "e8m0", "bdr", "fp32"};

const mxb_format_desc *mxb_format_desc_get(mxb_format_t f) {
  if ((int)f < 0 || (int)f >= MXB_FORMAT_COUNT) return NULL;
  return &k_formats[f];
}

const mxb_elem_desc *mxb_elem_desc_get(mxb_elem_t e) {
  if ((int)e < 0 || (int)e >= MXB_ELEM_COUNT) return NULL;
  return &k_elems[e];
}

int64_t mxb_scale_rows(const mxb_format_desc *d, int64_t rows) {
  if (d->scale_type == MXB_SCALE_NONE) return 0;
  return d->block_rows == 0 ? 1 : (rows + d->block_rows - 1) / d->block_rows;
}

int64_t mxb_scale_cols(const mxb_format_desc *d, int64_t cols) {
  if (d->scale_type == MXB_SCALE_NONE) return 0;
  return d->block_cols == 0 ? 1 : (cols + d->block_cols - 1) / d->block_cols;
}

MXB_API mxb_status_t mxb_format_info(mxb_format_t format, mxb_format_info_t *info) {
  mxb_clear_error();
  const mxb_format_desc *d = mxb_format_desc_get(format);
  if (!info) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "info is NULL");
  MXB_TRY(mxb_check_struct_size(info->struct_size, MXB_MIN_SIZE_FORMAT_INFO, "info",
                                "set it to sizeof(mxb_format_info_t)"));
  if (!d) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "format %d is not a valid mxb_format_t", (int)format);
  mxb_format_info_t i;
  memset(&i, 0, sizeof(i));
  i.struct_size = sizeof(i);
  i.format = format;
  i.name = d->name;
  i.elem = d->elem;
  i.elem_bits = d->elem_bits;
  i.block_rows = d->block_rows;
  i.block_cols = d->block_cols;
  i.scale_type = d->scale_type;
  i.has_tensor_amax = d->has_amax;
  i.elem_max = mxb_elem_desc_get(d->elem)->max_value;
  i.elem_name = mxb_elem_desc_get(d->elem)->name;
  i.scale_name = k_scale_names[d->scale_type];
  mxb_struct_out(info, &i, sizeof(i));
  return MXB_SUCCESS;
}

MXB_API mxb_status_t mxb_format_from_name(const char *name, mxb_format_t *format) {
  mxb_clear_error();
  if (!name || !format) return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "name or format is NULL");
  for (int i = 0; i < MXB_FORMAT_COUNT; i++) {
    if (strcmp(k_formats[i].name, name) == 0) {
      *format = k_formats[i].format;
      return MXB_SUCCESS;
    }
  }
  return mxb_fail(MXB_ERR_INVALID_ARGUMENT, "unknown format name '%s'", name);
}

MXB_API size_t mxb_dtype_size(mxb_dtype_t t) {
  switch (t) {
    case MXB_DTYPE_FP32: return 4;
    case MXB_DTYPE_BF16: return 2;
    case MXB_DTYPE_FP16: return 2;
  }
  return 0;
}
