/* FP8 with power-of-two scales (fp8_pow2_scale) is the UE8M0 scaling of
 * DeepGEMM's Hopper recipe, exactly: every stored scale_inv is the smallest
 * power of two s with amax / s <= maxnormal (the real-number rule, which
 * DeepGEMM's fp32 log2 approximates), 1 for an all-zero block, and a value
 * a UE8M0 byte holds. Checked against a binary64 search, with amaxes placed
 * one ulp either side of maxnormal times a power of two, for 1x128 and
 * 128x128 blocks and per tensor, E4M3 and E5M2, on the CPU and (with a GPU)
 * CUDA. */
#include <math.h>

#include "cuda_compare.h"

enum { R = 256, C = 512 };

static const mxb_format_t k_formats[] = {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E5M2_1x128,
                                         MXB_FORMAT_FP8_E4M3_128x128, MXB_FORMAT_FP8_E5M2_128x128,
                                         MXB_FORMAT_FP8_E4M3_TENSOR};

/* Normal values at a scale of their own per row, and in some rows an amax
 * of maxnormal * 2^k nudged by -1, 0 or +1 ulp. */
static void sample(float *x, double maxnormal) {
  uint64_t s = 77;
  for (int r = 0; r < R; r++) {
    const float g = ldexpf(1.0f, (int)(mxbt_next(&s) % 60) - 30);
    for (int c = 0; c < C; c++) x[r * C + c] = g * mxbt_normal(&s);
    if (r % 3 == 0) {
      const uint32_t u = mxbt_f2u((float)ldexp(maxnormal, (int)(mxbt_next(&s) % 40) - 20));
      x[r * C + (int)(mxbt_next(&s) % C)] = mxbt_u2f(u + (uint32_t)(mxbt_next(&s) % 3) - 1u);
    }
  }
  for (int c = 0; c < C; c++) x[5 * C + c] = 0.0f; /* an all-zero row */
}

/* The smallest power of two s with amax / s <= maxnormal (1 for amax 0). */
static double smallest_scale(double amax, double maxnormal) {
  if (amax == 0.0) return 1.0;
  int e = (int)ceil(log2(amax / maxnormal));
  while (amax / ldexp(1.0, e) > maxnormal) e++;
  while (amax / ldexp(1.0, e - 1) <= maxnormal) e--;
  return ldexp(1.0, e);
}

static void check(mxb_context_t *ctx, int gpu) {
  for (size_t i = 0; i < sizeof(k_formats) / sizeof(k_formats[0]); i++) {
    const mxb_format_t f = k_formats[i];
    mxb_format_info_t info = {.struct_size = sizeof(info)};
    cr_assert_eq(mxb_format_info(f, &info), MXB_SUCCESS);
    float *x = malloc((size_t)R * C * sizeof(float));
    sample(x, info.elem_max);
    mxb_tensor_t t;
    mxb_tensor_sizes_t sz = {.struct_size = sizeof(sz)};
    cr_assert_eq(mxb_tensor_init(&t, f, R, C, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
    cr_assert_eq(mxb_tensor_sizes(f, R, C, MXB_SCALE_LAYOUT_LINEAR, &sz), MXB_SUCCESS);
    float *scales = malloc(sz.scale_bytes);
    uint8_t *data = malloc(sz.data_bytes);
    mxb_quant_config_t cfg;
    mxb_quant_config_init(&cfg);
    cfg.fp8_pow2_scale = 1;
    if (!gpu) {
      t.data = data;
      t.scales = scales;
      cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_SUCCESS, "%s",
                   mxb_last_error_detail());
    } else {
#ifdef MXB_WITH_CUDA
      void *dx = mxbt_dev_from_host(x, (size_t)R * C * sizeof(float)), *dws = NULL;
      t.data = mxbt_dev_alloc(sz.data_bytes);
      t.scales = mxbt_dev_alloc(sz.scale_bytes);
      size_t ws = 0;
      cr_assert_eq(mxb_quantize_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, &t, &ws), MXB_SUCCESS);
      if (ws) dws = mxbt_dev_alloc(ws);
      cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, dx, &t, dws, ws, NULL), MXB_SUCCESS, "%s",
                   mxb_last_error_detail());
      mxbt_to_host(scales, t.scales, sz.scale_bytes);
      mxbt_dev_free(t.data);
      mxbt_dev_free(t.scales);
      mxbt_dev_free(dx);
      mxbt_dev_free(dws);
#endif
    }
    const int64_t br = info.block_rows ? info.block_rows : R, bc = info.block_cols ? info.block_cols : C;
    for (int64_t i0 = 0; i0 < sz.scale_rows; i0++)
      for (int64_t j0 = 0; j0 < sz.scale_cols; j0++) {
        double amax = 0.0;
        for (int64_t r = i0 * br; r < (i0 + 1) * br && r < R; r++)
          for (int64_t c = j0 * bc; c < (j0 + 1) * bc && c < C; c++) amax = fmax(amax, fabs((double)x[r * C + c]));
        const float got = scales[i0 * sz.scale_cols + j0];
        const double want = smallest_scale(amax, info.elem_max);
        cr_assert_eq((double)got, want, "%s %s: block (%lld, %lld), amax %a: scale_inv %a, not %a", gpu ? "cuda" : "cpu",
                     info.name, (long long)i0, (long long)j0, amax, (double)got, want);
        int e;
        cr_assert(frexpf(got, &e) == 0.5f && e - 1 >= -127 && e - 1 <= 127, "%a is not a UE8M0 value", (double)got);
      }
    free(x);
    free(scales);
    free(data);
  }
}

Test(fp8_ue8m0, pow2_scales_are_the_smallest_power_of_two_on_the_cpu) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  check(ctx, 0);
  mxb_context_destroy(ctx);
}

Test(fp8_ue8m0, pow2_scales_are_the_smallest_power_of_two_on_cuda) {
  MXBT_REQUIRE_GPU();
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx), MXB_SUCCESS);
  check(ctx, 1);
  mxb_context_destroy(ctx);
}
