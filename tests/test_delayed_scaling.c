/* FP8 per-tensor scaling from a supplied amax (delayed scaling, NUMERICS
 * 4.4): the scale is maxnormal / amax as if the tensor's amax were the
 * supplied one, elements beyond it saturate, refusals change nothing, and
 * the CUDA backend gives the CPU's bytes (the amax read in device memory). */
#include <math.h>

#include "cuda_compare.h"

enum { R = 20, C = 72 };

static const mxb_format_t k_fp8[] = {MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E5M2_TENSOR};

typedef struct out8 {
  uint8_t data[R * C];
  float scale_inv;
} out8;

/* x quantized on ctx (CPU: host pointers) with the amax computed (amax NULL)
 * or supplied. */
static mxb_status_t quantize_cpu(mxb_format_t f, const float *x, const float *amax, out8 *o) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  float a = amax ? *amax : 0.0f;
  cfg.amax_source = amax ? MXB_AMAX_FROM_TENSOR : MXB_AMAX_COMPUTE;
  mxb_tensor_t t;
  cr_assert_eq(mxb_tensor_init(&t, f, R, C, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  memset(o, 0xA5, sizeof(*o));
  t.data = o->data;
  t.scales = &o->scale_inv;
  t.amax = amax ? &a : NULL;
  mxb_status_t s = mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL);
  if (amax) cr_assert(a == *amax || (isnan(a) && isnan(*amax)), "the supplied amax was modified");
  mxb_context_destroy(ctx);
  return s;
}

static void sample(float *x, uint64_t seed) {
  mxbt_fill_normal(x, R * C, seed, 3.0f);
  x[5] = 40.0f; /* the amax */
}

Test(delayed_scaling, supplied_amax_sets_the_scale) {
  float x[R * C];
  sample(x, 3);
  for (size_t k = 0; k < 2; k++) {
    const mxb_format_t f = k_fp8[k];
    out8 computed, given;
    cr_assert_eq(quantize_cpu(f, x, NULL, &computed), MXB_SUCCESS);
    const float amax = 40.0f; /* the tensor's own amax: the same bytes */
    cr_assert_eq(quantize_cpu(f, x, &amax, &given), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert(!memcmp(&computed, &given, sizeof(given)), "format %d: the tensor's own amax", (int)f);
    /* a stale, smaller amax: scale_inv = amax / maxnormal, the largest values saturate */
    const float small = 10.0f, maxnormal = f == MXB_FORMAT_FP8_E4M3_TENSOR ? 448.0f : 57344.0f;
    cr_assert_eq(quantize_cpu(f, x, &small, &given), MXB_SUCCESS);
    cr_assert_eq(given.scale_inv, 1.0f / (maxnormal / small));
    const uint8_t top = f == MXB_FORMAT_FP8_E4M3_TENSOR ? 0x7E : 0x7B;
    cr_assert_eq(given.data[5], top, "format %d: 40 saturates to the largest code with amax 10", (int)f);
    /* zero and +Inf give scale 1 (NUMERICS 4.4) */
    const float zero = 0.0f, inf = INFINITY;
    cr_assert_eq(quantize_cpu(f, x, &zero, &given), MXB_SUCCESS);
    cr_assert_eq(given.scale_inv, 1.0f);
    cr_assert_eq(quantize_cpu(f, x, &inf, &given), MXB_SUCCESS);
    cr_assert_eq(given.scale_inv, 1.0f);
  }
}

/* cfg.amax_out gets the amax of the finite values whatever sets the scale
 * (delayed scaling records the current amax while quantizing with an older
 * one); formats other than FP8 per tensor refuse it, as they do a
 * misaligned pointer, writing nothing. */
Test(delayed_scaling, amax_out_records_the_current_amax) {
  float x[R * C];
  sample(x, 6);
  x[11] = NAN;
  x[12] = -INFINITY;
  for (size_t k = 0; k < 2; k++) {
    const float stale = 10.0f;
    out8 plain, recorded;
    cr_assert_eq(quantize_cpu(k_fp8[k], x, &stale, &plain), MXB_SUCCESS);
    mxb_context_t *ctx = NULL;
    cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
    for (int supplied = 0; supplied < 2; supplied++) {
      mxb_quant_config_t cfg;
      mxb_quant_config_init(&cfg);
      float a = stale, out = -1.0f;
      cfg.amax_source = supplied ? MXB_AMAX_FROM_TENSOR : MXB_AMAX_COMPUTE;
      cfg.amax_out = &out;
      mxb_tensor_t t;
      cr_assert_eq(mxb_tensor_init(&t, k_fp8[k], R, C, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
      memset(&recorded, 0xA5, sizeof(recorded));
      t.data = recorded.data;
      t.scales = &recorded.scale_inv;
      t.amax = supplied ? &a : NULL;
      cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_SUCCESS, "%s",
                   mxb_last_error_detail());
      cr_assert_eq(out, 40.0f, "format %d, supplied %d: amax_out %a", (int)k_fp8[k], supplied, (double)out);
      if (supplied) cr_assert(!memcmp(&plain, &recorded, sizeof(plain)), "amax_out changed the bytes");
    }
    mxb_context_destroy(ctx);
  }
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  float slot[2] = {-1.0f, -1.0f};
  cfg.amax_out = slot;
  int ok = 1;
  cr_assert_eq(mxb_quantize_supported(ctx, &cfg, MXB_FORMAT_NVFP4, &ok), MXB_SUCCESS);
  cr_assert_eq(ok, 0, "NVFP4's amax is dst->amax: amax_out is refused");
  cr_assert_eq(mxb_quantize_supported(ctx, &cfg, MXB_FORMAT_FP8_E4M3_1x128, &ok), MXB_SUCCESS);
  cr_assert_eq(ok, 0, "FP8 blocks have no single amax");
  cfg.amax_out = (float *)((char *)slot + 2);
  out8 o;
  memset(&o, 0xA5, sizeof(o));
  mxb_tensor_t t;
  cr_assert_eq(mxb_tensor_init(&t, MXB_FORMAT_FP8_E4M3_TENSOR, R, C, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  t.data = o.data;
  t.scales = &o.scale_inv;
  cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_BAD_ALIGNMENT);
  for (size_t i = 0; i < sizeof(o.data); i++) cr_assert_eq(o.data[i], 0xA5);
  cr_assert(slot[0] == -1.0f && slot[1] == -1.0f);
  mxb_context_destroy(ctx);
}

Test(delayed_scaling, refusals_change_nothing) {
  float x[R * C];
  sample(x, 4);
  const float nan_amax = NAN, neg = -2.0f;
  out8 o;
  cr_assert_eq(quantize_cpu(MXB_FORMAT_FP8_E4M3_TENSOR, x, &nan_amax, &o), MXB_ERR_INVALID_ARGUMENT);
  for (size_t i = 0; i < sizeof(o.data); i++) cr_assert_eq(o.data[i], 0xA5);
  cr_assert_eq(quantize_cpu(MXB_FORMAT_FP8_E4M3_TENSOR, x, &neg, &o), MXB_ERR_INVALID_ARGUMENT);
  for (size_t i = 0; i < sizeof(o.data); i++) cr_assert_eq(o.data[i], 0xA5);
  /* no place to read it from */
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.amax_source = MXB_AMAX_FROM_TENSOR;
  mxb_tensor_t t;
  cr_assert_eq(mxb_tensor_init(&t, MXB_FORMAT_FP8_E4M3_TENSOR, R, C, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  t.data = o.data;
  t.scales = &o.scale_inv;
  cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_ERR_INVALID_ARGUMENT);
  /* FP8 blocks have one scale per block: no single amax to supply */
  mxb_tensor_t b;
  uint8_t data[R * C];
  float scales[R * 1];
  float a = 1.0f;
  cr_assert_eq(mxb_tensor_init(&b, MXB_FORMAT_FP8_E4M3_1x128, R, C, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  b.data = data;
  b.scales = scales;
  b.amax = &a;
  cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &b, NULL, 0, NULL), MXB_ERR_UNSUPPORTED);
  mxb_context_destroy(ctx);
}

Test(delayed_scaling, cuda_gives_the_cpu_bytes) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  float x[R * C];
  sample(x, 5);
  x[7] = NAN; /* non-finite values are kept element by element */
  x[9] = -INFINITY;
  float *dx = mxbt_dev_from_host(x, sizeof(x));
  cmp_ctx cc = cmp_open();
  const float amaxes[] = {40.0f, 10.0f, 0.0f, INFINITY, 1e-30f, 3e38f};
  for (size_t k = 0; k < 2; k++)
    for (size_t i = 0; i < sizeof(amaxes) / sizeof(amaxes[0]); i++) {
      const mxb_format_t f = k_fp8[k];
      cmp_tensor ct; /* .h: the CPU's planes, .d: the device's */
      cmp_tensor_alloc(&ct, f, R, C, MXB_SCALE_LAYOUT_LINEAR);
      /* FP8 per tensor keeps no amax plane; the supplied amax is read from
       * dst->amax all the same (host memory on the CPU, device on CUDA) */
      cr_assert_eq(ct.sz.amax_bytes, 0u);
      float ha = amaxes[i];
      float *da = mxbt_dev_from_host(&amaxes[i], 4);
      ct.h.amax = &ha;
      ct.d.amax = da;
      mxb_quant_config_t cfg;
      mxb_quant_config_init(&cfg);
      cfg.amax_source = MXB_AMAX_FROM_TENSOR;
      float out_h = -1.0f, out_g = -1.0f, *out_d = mxbt_dev_from_host(&out_g, 4); /* the current amax, recorded */
      cfg.amax_out = &out_h;
      cr_assert_eq(mxb_quantize(cc.cpu, &cfg, MXB_DTYPE_FP32, x, &ct.h, NULL, 0, NULL), MXB_SUCCESS);
      cfg.amax_out = out_d;
      size_t ws = 0;
      cr_assert_eq(mxb_quantize_workspace_size(cc.gpu, &cfg, MXB_DTYPE_FP32, &ct.d, &ws), MXB_SUCCESS);
      void *w = mxbt_dev_alloc(ws);
      cr_assert_eq(mxb_quantize(cc.gpu, &cfg, MXB_DTYPE_FP32, dx, &ct.d, w, ws, NULL), MXB_SUCCESS, "%s",
                   mxb_last_error_detail());
      mxbt_to_host(&out_g, out_d, 4);
      mxbt_dev_free(out_d);
      cr_assert(out_h == 40.0f && mxbt_f2u(out_g) == mxbt_f2u(out_h), "amax_out: cpu %a, cuda %a, want 40",
                (double)out_h, (double)out_g);
      char what[64];
      snprintf(what, sizeof what, "format %d amax %g", (int)f, (double)amaxes[i]);
      cmp_tensor_check(&ct, what); /* codes, scale_inv and flags */
      float back;
      mxbt_to_host(&back, da, 4);
      cr_assert(mxbt_f2u(ha) == mxbt_f2u(amaxes[i]) && mxbt_f2u(back) == mxbt_f2u(amaxes[i]),
                "the supplied amax was modified");
      ct.h.amax = ct.d.amax = NULL; /* not the harness's to free */
      mxbt_dev_free(da);
      mxbt_dev_free(w);
      cmp_tensor_free(&ct);
    }
  cmp_close(&cc);
  mxbt_dev_free(dx);
#endif
}
