/* Core API: version, status strings, format table, sizes, context. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/codec.h"
#include "core/formats.h"
#include "mxblas.h"

Test(core, version) {
  cr_assert_eq(mxb_version_number(), MXB_VERSION_NUMBER);
  cr_assert_str_eq(mxb_version_string(), "0.2.0");
  cr_assert_not_null(strstr(mxb_build_info(), "cuda="));
}

Test(core, status_strings_are_distinct) {
  for (int a = 0; a <= MXB_ERR_INTERNAL; a++)
    for (int b = a + 1; b <= MXB_ERR_INTERNAL; b++)
      cr_assert_str_neq(mxb_status_string((mxb_status_t)a), mxb_status_string((mxb_status_t)b));
}

Test(core, format_table_round_trips_names) {
  for (int f = 0; f < MXB_FORMAT_COUNT; f++) {
    mxb_format_info_t info = {.struct_size = sizeof(info)};
    cr_assert_eq(mxb_format_info((mxb_format_t)f, &info), MXB_SUCCESS);
    cr_assert_eq((int)info.format, f);
    mxb_format_t back;
    cr_assert_eq(mxb_format_from_name(info.name, &back), MXB_SUCCESS);
    cr_assert_eq((int)back, f);
  }
  mxb_format_info_t info = {.struct_size = sizeof(info)};
  /* Element and scale names come from the library's own tables. */
  cr_assert_eq(mxb_format_info(MXB_FORMAT_NVFP4, &info), MXB_SUCCESS);
  cr_assert_str_eq(info.elem_name, "e2m1");
  cr_assert_str_eq(info.scale_name, "ue4m3");
  cr_assert_eq(mxb_format_info(MXB_FORMAT_MX6, &info), MXB_SUCCESS);
  cr_assert_str_eq(info.elem_name, "sm5");
  cr_assert_str_eq(info.scale_name, "bdr");
  cr_assert_eq(mxb_format_info(MXB_FORMAT_BF16, &info), MXB_SUCCESS);
  cr_assert_str_eq(info.scale_name, "none");
  cr_assert_eq(mxb_format_info(MXB_FORMAT_MOR_1x128, &info), MXB_SUCCESS);
  cr_assert_str_eq(info.elem_name, "e4m3|bf16");
  cr_assert_eq(mxb_format_info(MXB_FORMAT_COUNT, &info), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_neq(strlen(mxb_last_error_detail()), 0);
  mxb_format_t f;
  cr_assert_eq(mxb_format_from_name("nvfp5", &f), MXB_ERR_INVALID_ARGUMENT);
}

/* The compile-time traits are the table's rows, and the block indexing they
 * feed (shifts) agrees with division: every block dimension is a power of
 * two or spans its dimension. */
Test(core, format_traits_follow_the_table) {
  for (int f = 0; f < MXB_FORMAT_COUNT; f++) {
    const mxb_format_desc *d = mxb_format_desc_get((mxb_format_t)f);
    cr_assert_eq(mxb_fmt_elem(f), (int)d->elem);
    cr_assert_eq(mxb_fmt_elem_bits(f), d->elem_bits);
    cr_assert_eq(mxb_fmt_scale_type(f), (int)d->scale_type);
    cr_assert_eq(mxb_fmt_has_amax(f), d->has_amax);
    const int dims[2] = {d->block_rows, d->block_cols};
    for (int k = 0; k < 2; k++) {
      const int b = dims[k];
      cr_assert(b >= 0 && (b & (b - 1)) == 0, "%s: block dimension %d is not a power of two", d->name, b);
      for (int64_t x = 0; x < 300; x += 7)
        cr_assert_eq(x >> mxb_block_shift(b), b ? x / b : 0, "%s: block of %lld", d->name, (long long)x);
      cr_assert_eq((int64_t)((int64_t)1 << 31) >> mxb_block_shift(b), b ? ((int64_t)1 << 31) / b : 0);
    }
    if (d->scale_type != MXB_SCALE_BDR) cr_assert_eq(mxb_fmt_row_codes(f, 75), 75);
  }
  cr_assert_eq(mxb_fmt_row_codes(MXB_FORMAT_MX6, 75), 80); /* whole 16-element blocks */
  cr_assert_eq(mxb_fmt_tensor_scale(MXB_FORMAT_NVFP4), MXB_TSCALE_AMAX);
  cr_assert_eq(mxb_fmt_tensor_scale(MXB_FORMAT_FP8_E5M2_TENSOR), MXB_TSCALE_PLANE);
  cr_assert_eq(mxb_fmt_tensor_scale(MXB_FORMAT_FP8_E4M3_1x128), MXB_TSCALE_NONE);
  cr_assert_eq(mxb_fmt_tensor_scale(MXB_FORMAT_MOR_TENSOR), MXB_TSCALE_NONE);
  cr_assert_eq(mxb_fmt_tensor_scale(MXB_FORMAT_MXFP8_E4M3), MXB_TSCALE_NONE);
  mxb_fp e4m3 = mxb_elem_fp(MXB_ELEM_E4M3);
  cr_assert_eq(e4m3.maxval, 448.0f);
  cr_assert_eq(e4m3.maxcode, 0x7Eu);
}

Test(core, sizes) {
  mxb_tensor_sizes_t s = {.struct_size = sizeof(s)};
  cr_assert_eq(mxb_tensor_sizes(MXB_FORMAT_NVFP4, 3, 33, MXB_SCALE_LAYOUT_LINEAR, &s), MXB_SUCCESS);
  cr_assert_eq(s.row_bytes, 17);
  cr_assert_eq(s.data_bytes, 51);
  cr_assert_eq(s.scale_cols, 3);
  cr_assert_eq(s.scale_bytes, 9);
  cr_assert_eq(s.amax_bytes, 4);
  cr_assert_eq(mxb_tensor_sizes(MXB_FORMAT_NVFP4, 3, 33, MXB_SCALE_LAYOUT_SWIZZLED, &s), MXB_SUCCESS);
  cr_assert_eq(s.scale_bytes, 128 * 4);
  cr_assert_eq(mxb_tensor_sizes(MXB_FORMAT_MXFP6_E3M2, 2, 5, MXB_SCALE_LAYOUT_LINEAR, &s), MXB_SUCCESS);
  cr_assert_eq(s.row_bytes, 4); /* 30 bits */
  cr_assert_eq(mxb_tensor_sizes(MXB_FORMAT_MX6, 1, 32, MXB_SCALE_LAYOUT_LINEAR, &s), MXB_SUCCESS);
  cr_assert_eq(s.row_bytes + s.scale_bytes + s.aux_bytes, 24); /* 12 bytes per 16 elements */
  cr_assert_eq(mxb_tensor_sizes(MXB_FORMAT_FP8_E4M3_128x128, 129, 257, MXB_SCALE_LAYOUT_LINEAR, &s), MXB_SUCCESS);
  cr_assert_eq(s.scale_bytes, 2 * 3 * 4);
  cr_assert_eq(mxb_tensor_sizes(MXB_FORMAT_MX9, 1, 16, MXB_SCALE_LAYOUT_SWIZZLED, &s), MXB_ERR_UNSUPPORTED);
  cr_assert_eq(mxb_tensor_sizes(MXB_FORMAT_NVFP4, 0, 16, MXB_SCALE_LAYOUT_LINEAR, &s), MXB_ERR_BAD_SHAPE);
  cr_assert_eq(mxb_tensor_sizes(MXB_FORMAT_NVFP4, (int64_t)1 << 40, 16, MXB_SCALE_LAYOUT_LINEAR, &s),
               MXB_ERR_BAD_SHAPE);
  cr_assert_eq(mxb_tensor_sizes(MXB_FORMAT_NVFP4, 16, 16, MXB_SCALE_LAYOUT_LINEAR, NULL), MXB_ERR_INVALID_ARGUMENT);
}

Test(core, context_cpu) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_backend_t b;
  cr_assert_eq(mxb_context_backend(ctx, &b), MXB_SUCCESS);
  cr_assert_eq(b, MXB_BACKEND_CPU);
  cr_assert_str_eq(mxb_context_last_impl(ctx), "none");
  cr_assert_eq(mxb_context_destroy(ctx), MXB_SUCCESS);
  cr_assert_eq(mxb_context_create((mxb_backend_t)7, 0, &ctx), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, NULL), MXB_ERR_INVALID_ARGUMENT);
}

Test(core, context_cuda_without_device_is_a_status) {
  int n = -1;
  cr_assert_eq(mxb_cuda_device_count(&n), MXB_SUCCESS);
  cr_assert_geq(n, 0);
  mxb_context_t *ctx = NULL;
  mxb_status_t s = mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx);
  if (n == 0) {
    cr_assert(s == MXB_ERR_NO_DEVICE || s == MXB_ERR_NOT_BUILT_WITH_CUDA);
    cr_assert_null(ctx);
    cr_assert_neq(strlen(mxb_last_error_detail()), 0);
  } else {
    cr_assert_eq(s, MXB_SUCCESS);
    mxb_context_destroy(ctx);
    cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, n + 3, &ctx), MXB_ERR_NO_DEVICE);
  }
}
