/* The format table as descriptors (expanded from src/common/format_table.h)
 * and the format entry points: info, lookup by name, dtype sizes. */
#include "core/formats.h"
#include "core/error.h"
#include "core/tensor.h"

#include <string.h>

/* The rows of src/common/format_table.h. */
#define ELEM_ROW(id, name, bits, eb, mb, bias, emax, max) {MXB_ELEM_##id, name, bits, eb, mb, bias, emax, max},
static const mxb_elem_desc k_elems[MXB_ELEM_COUNT] = {MXB_ELEM_TABLE(ELEM_ROW)};
#undef ELEM_ROW

#define FORMAT_ROW(id, name, elem, bits, br, bc, scale, amax, m, sw) \
  {MXB_FORMAT_##id, name, MXB_ELEM_##elem, bits, br, bc, MXB_SCALE_##scale, amax, m, sw},
static const mxb_format_desc k_formats[MXB_FORMAT_COUNT] = {MXB_FORMAT_TABLE(FORMAT_ROW)};
#undef FORMAT_ROW

#define SCALE_NAME(id, name, bytes, aux) name,
static const char *const k_scale_names[] = {MXB_SCALE_TABLE(SCALE_NAME)};
#undef SCALE_NAME

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

MXB_API size_t mxb_dtype_size(mxb_dtype_t t) { return (size_t)mxb_dtype_bytes(t); }
