/* GEMM with a quantized C (mxb_gemm_quantized, docs/GEMM.md "Quantized
 * output"): C's bytes are those of mxb_quantize applied to the fp32 C that
 * mxb_gemm writes with the same descriptor (alpha, bias, activation), for
 * every output format and quantize option tried; refusals write nothing;
 * the CUDA backend gives the CPU backend's bytes. */
#include <stdio.h>

#include "gemm_operands.h"

static void same_bytes(const mxbt_planes *a, const mxbt_planes *b, const char *what) {
  cr_assert(!memcmp(a->t.data, b->t.data, a->s.data_bytes), "%s: codes differ", what);
  if (a->s.scale_bytes) cr_assert(!memcmp(a->t.scales, b->t.scales, a->s.scale_bytes), "%s: scales differ", what);
  if (a->s.aux_bytes) cr_assert(!memcmp(a->t.aux, b->t.aux, a->s.aux_bytes), "%s: aux differs", what);
  if (a->s.amax_bytes) cr_assert_eq(mxbt_f2u(a->amax[0]), mxbt_f2u(b->amax[0]), "%s: amax %a, want %a", what, a->amax[0], b->amax[0]);
  cr_assert_eq(a->t.flags, b->t.flags, "%s: flags", what);
}

static mxb_status_t run_quantized(mxb_context_t *ctx, const mxb_gemm_desc_t *d, const mxb_quant_config_t *cfg,
                                  const mxb_tensor_t *A, const mxb_tensor_t *B, mxb_tensor_t *C) {
  size_t ws = 0;
  mxb_status_t st = mxb_gemm_quantized_workspace_size(ctx, d, cfg, A, B, C, &ws);
  if (st != MXB_SUCCESS) return st;
  void *w = aligned_alloc(256, (ws + 255) / 256 * 256);
  st = mxb_gemm_quantized(ctx, d, cfg, A, B, C, w, ws, NULL);
  free(w);
  return st;
}

/* The two calls the quantized output stands for. */
static void two_calls(mxb_context_t *ctx, const mxb_gemm_desc_t *d, const mxb_quant_config_t *cfg,
                      const mxb_tensor_t *A, const mxb_tensor_t *B, mxb_tensor_t *C) {
  mxb_gemm_desc_t d32 = *d;
  d32.c_type = MXB_DTYPE_FP32;
  float *c = malloc(sizeof(float) * (size_t)(A->rows * B->rows));
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d32, A, B, &ws), MXB_SUCCESS);
  void *w = malloc(ws ? ws : 1);
  cr_assert_eq(mxb_gemm(ctx, &d32, A, B, c, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  free(w);
  cr_assert_eq(mxb_quantize_workspace_size(ctx, cfg, MXB_DTYPE_FP32, C, &ws), MXB_SUCCESS);
  w = malloc(ws ? ws : 1);
  cr_assert_eq(mxb_quantize(ctx, cfg, MXB_DTYPE_FP32, c, C, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  free(w);
  free(c);
}

Test(gemm_quantized, c_is_the_quantized_fp32_product) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  const int64_t M = 40, N = 96, K = 160;
  mxbt_pair p;
  mxbt_pair_make(&p, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 3, 0);
  float bias[96];
  for (int n = 0; n < N; n++) bias[n] = 0.01f * (float)(n % 13) - 0.05f;
  static const mxb_format_t outs[] = {MXB_FORMAT_NVFP4,       MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4,
                                      MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_BF16};
  for (size_t f = 0; f < sizeof outs / sizeof outs[0]; f++)
    for (int opt = 0; opt < 4; opt++) {
      mxb_gemm_desc_t d;
      mxb_gemm_desc_init(&d);
      d.alpha = opt == 1 ? -0.75f : 1.0f;
      if (opt >= 2) {
        d.bias = bias;
        d.activation = opt == 2 ? MXB_ACT_GELU_TANH : MXB_ACT_SILU;
      }
      d.c_type = MXB_DTYPE_BF16; /* not used: the quantizer reads the fp32 values */
      mxb_quant_config_t cfg;
      mxb_quant_config_init(&cfg);
      const int nvfp4 = outs[f] == MXB_FORMAT_NVFP4, sr_ok = outs[f] != MXB_FORMAT_BF16;
      if (opt == 1 && sr_ok) {
        cfg.rounding = MXB_ROUND_SR; /* fixed seed: the same bits both ways */
        cfg.seed = 99;
        cfg.offset = 3;
      }
      if (opt == 3 && nvfp4) cfg.four_over_six = MXB_FOUR_OVER_SIX_MSE;
      if (opt == 2 && nvfp4) cfg.rht.enabled = 1;
      mxbt_planes got, want;
      mxbt_planes_make(&got, outs[f], M, N, MXB_SCALE_LAYOUT_LINEAR);
      mxbt_planes_make(&want, outs[f], M, N, MXB_SCALE_LAYOUT_LINEAR);
      cr_assert_eq(run_quantized(ctx, &d, &cfg, &p.A.h, &p.B.h, &got.t), MXB_SUCCESS, "%s",
                   mxb_last_error_detail());
      two_calls(ctx, &d, &cfg, &p.A.h, &p.B.h, &want.t);
      char what[96];
      snprintf(what, sizeof what, "%s, option %d", mxbt_format_name(outs[f]), opt);
      same_bytes(&got, &want, what);
      mxbt_planes_free(&got);
      mxbt_planes_free(&want);
    }
  /* NVFP4 from a supplied amax (a previous step's): C->amax is read, not computed */
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.amax_source = MXB_AMAX_FROM_TENSOR;
  mxbt_planes got, want;
  mxbt_planes_make(&got, MXB_FORMAT_NVFP4, M, N, MXB_SCALE_LAYOUT_LINEAR);
  mxbt_planes_make(&want, MXB_FORMAT_NVFP4, M, N, MXB_SCALE_LAYOUT_LINEAR);
  got.amax[0] = want.amax[0] = 3.0f;
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  cr_assert_eq(run_quantized(ctx, &d, &cfg, &p.A.h, &p.B.h, &got.t), MXB_SUCCESS, "%s", mxb_last_error_detail());
  two_calls(ctx, &d, &cfg, &p.A.h, &p.B.h, &want.t);
  same_bytes(&got, &want, "nvfp4, supplied amax");
  cr_assert_eq(got.amax[0], 3.0f);
  /* cfg NULL: the defaults */
  cr_assert_eq(run_quantized(ctx, &d, NULL, &p.A.h, &p.B.h, &got.t), MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxb_quant_config_init(&cfg);
  two_calls(ctx, &d, &cfg, &p.A.h, &p.B.h, &want.t);
  same_bytes(&got, &want, "nvfp4, default config");
  mxbt_planes_free(&got);
  mxbt_planes_free(&want);
  mxbt_pair_free(&p);
  mxb_context_destroy(ctx);
}

/* A gated activation: C is [M, N/2], the quantized gated product. */
Test(gemm_quantized, gated_activation) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  const int64_t M = 24, N = 128, K = 96;
  mxbt_pair p;
  mxbt_pair_make(&p, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 5, 0);
  static const mxb_format_t outs[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3};
  for (size_t f = 0; f < 2; f++) {
    mxb_gemm_desc_t d;
    mxb_gemm_desc_init(&d);
    d.activation = MXB_ACT_SWIGLU;
    mxb_quant_config_t cfg;
    mxb_quant_config_init(&cfg);
    mxbt_planes got, want;
    mxbt_planes_make(&got, outs[f], M, N / 2, MXB_SCALE_LAYOUT_LINEAR);
    mxbt_planes_make(&want, outs[f], M, N / 2, MXB_SCALE_LAYOUT_LINEAR);
    cr_assert_eq(run_quantized(ctx, &d, &cfg, &p.A.h, &p.B.h, &got.t), MXB_SUCCESS, "%s", mxb_last_error_detail());
    two_calls(ctx, &d, &cfg, &p.A.h, &p.B.h, &want.t);
    same_bytes(&got, &want, mxbt_format_name(outs[f]));
    /* C of the ungated shape is refused */
    mxbt_planes bad;
    mxbt_planes_make(&bad, outs[f], M, N, MXB_SCALE_LAYOUT_LINEAR);
    cr_assert_eq(run_quantized(ctx, &d, &cfg, &p.A.h, &p.B.h, &bad.t), MXB_ERR_BAD_SHAPE);
    cr_assert(strstr(mxb_last_error_detail(), "gated"), "%s", mxb_last_error_detail());
    mxbt_planes_free(&bad);
    mxbt_planes_free(&got);
    mxbt_planes_free(&want);
  }
  mxbt_pair_free(&p);
  mxb_context_destroy(ctx);
}

/* FP8 per tensor with a supplied scale (delayed scaling) and the output's
 * own amax written out (cfg.amax_out): the bytes of the two calls, the scale
 * from the supplied amax, and amax_out the largest |C| of the product. */
Test(gemm_quantized, fp8_supplied_scale_and_output_amax) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  const int64_t M = 16, N = 64, K = 96;
  mxbt_pair p;
  mxbt_pair_make(&p, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 7, 0);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.activation = MXB_ACT_RELU;
  float c[16 * 64];
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &p.A.h, &p.B.h, &ws), MXB_SUCCESS);
  void *w = malloc(ws ? ws : 1);
  cr_assert_eq(mxb_gemm(ctx, &d, &p.A.h, &p.B.h, c, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  free(w);
  float top = 0.0f;
  for (int i = 0; i < M * N; i++) top = fabsf(c[i]) > top ? fabsf(c[i]) : top;
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.amax_source = MXB_AMAX_FROM_TENSOR;
  float supplied = 0.5f * top, out_got = -1.0f, out_want = -1.0f;
  mxbt_planes got, want;
  mxbt_planes_make(&got, MXB_FORMAT_FP8_E4M3_TENSOR, M, N, MXB_SCALE_LAYOUT_LINEAR);
  mxbt_planes_make(&want, MXB_FORMAT_FP8_E4M3_TENSOR, M, N, MXB_SCALE_LAYOUT_LINEAR);
  got.t.amax = &supplied;
  want.t.amax = &supplied;
  cfg.amax_out = &out_got;
  cr_assert_eq(run_quantized(ctx, &d, &cfg, &p.A.h, &p.B.h, &got.t), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cfg.amax_out = &out_want;
  two_calls(ctx, &d, &cfg, &p.A.h, &p.B.h, &want.t);
  same_bytes(&got, &want, "fp8 per tensor, supplied scale");
  cr_assert_eq(((float *)got.t.scales)[0], 1.0f / (448.0f / supplied), "the scale comes from the supplied amax");
  cr_assert(out_got == top && out_want == top, "amax_out %a / %a, want %a", (double)out_got, (double)out_want,
            (double)top);
  mxbt_planes_free(&got);
  mxbt_planes_free(&want);
  mxbt_pair_free(&p);
  mxb_context_destroy(ctx);
}

/* Each refusal says why and leaves C and the workspace as they were. */
Test(gemm_quantized, refusals_write_nothing) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  const int64_t M = 8, N = 32, K = 64;
  mxbt_pair p;
  mxbt_pair_make(&p, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 4, 0);
  mxbt_planes c, wrong;
  mxbt_planes_make(&c, MXB_FORMAT_MXFP8_E4M3, M, N, MXB_SCALE_LAYOUT_LINEAR);
  mxbt_planes_make(&wrong, MXB_FORMAT_MXFP8_E4M3, M, N + 32, MXB_SCALE_LAYOUT_LINEAR);
  mxb_gemm_desc_t ok;
  mxb_gemm_desc_init(&ok);
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_quantized_workspace_size(ctx, &ok, NULL, &p.A.h, &p.B.h, &c.t, &ws), MXB_SUCCESS);
  void *w = aligned_alloc(256, (ws + 255) / 256 * 256);
  memset(w, 0x5A, ws);
  mxb_gemm_desc_t beta = ok, ldc = ok;
  beta.beta = 1.0f;
  ldc.ldc = N + 1;
  mxb_quant_config_t fos;
  mxb_quant_config_init(&fos);
  fos.four_over_six = MXB_FOUR_OVER_SIX_MAE; /* NVFP4 only */
  struct {
    const mxb_gemm_desc_t *d;
    const mxb_quant_config_t *cfg;
    mxb_tensor_t *C;
    size_t ws;
    mxb_status_t want;
    const char *says;
  } cases[] = {
      {&beta, NULL, &c.t, ws, MXB_ERR_INVALID_ARGUMENT, "beta"},
      {&ldc, NULL, &c.t, ws, MXB_ERR_BAD_SHAPE, "ldc"},
      {&ok, NULL, &wrong.t, ws, MXB_ERR_BAD_SHAPE, "the product is"},
      {&ok, &fos, &c.t, ws, MXB_ERR_UNSUPPORTED, "Four Over Six"},
      {&ok, NULL, &c.t, ws - 1, MXB_ERR_WORKSPACE_TOO_SMALL, "workspace"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    mxb_status_t st = mxb_gemm_quantized(ctx, cases[k].d, cases[k].cfg, &p.A.h, &p.B.h, cases[k].C, w, cases[k].ws,
                                         NULL);
    cr_assert_eq(st, cases[k].want, "case %zu: %s (%s)", k, mxb_status_string(st), mxb_last_error_detail());
    cr_assert(strstr(mxb_last_error_detail(), cases[k].says) != NULL, "case %zu: %s", k, mxb_last_error_detail());
    for (size_t i = 0; i < c.s.data_bytes; i++) cr_assert_eq(((uint8_t *)c.t.data)[i], 0xA5, "case %zu wrote C", k);
    for (size_t i = 0; i < ws; i++) cr_assert_eq(((uint8_t *)w)[i], 0x5A, "case %zu wrote the workspace", k);
  }
  free(w);
  mxbt_planes_free(&c);
  mxbt_planes_free(&wrong);
  mxbt_pair_free(&p);
  mxb_context_destroy(ctx);
}

/* The CUDA backend refuses it, so far, and says so. */
#ifdef MXB_WITH_CUDA
/* The CUDA call on device copies of C's host planes (poisoned), read back. */
static void run_on_device(mxb_context_t *ctx, const mxb_gemm_desc_t *d, const mxb_quant_config_t *cfg,
                          const mxb_tensor_t *A, const mxb_tensor_t *B, mxbt_planes *C) {
  mxb_tensor_t t = C->t;
  t.data = mxbt_dev_from_host(C->t.data, C->s.data_bytes);
  t.scales = C->s.scale_bytes ? mxbt_dev_from_host(C->t.scales, C->s.scale_bytes) : NULL;
  t.aux = C->s.aux_bytes ? mxbt_dev_from_host(C->t.aux, C->s.aux_bytes) : NULL;
  t.amax = mxbt_dev_from_host(C->amax, sizeof C->amax);
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_quantized_workspace_size(ctx, d, cfg, A, B, &t, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = mxbt_dev_alloc(ws);
  mxbt_dev_poison(w, ws);
  cr_assert_eq(mxb_gemm_quantized(ctx, d, cfg, A, B, &t, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess);
  mxbt_to_host(C->t.data, t.data, C->s.data_bytes);
  mxbt_to_host(C->t.scales, t.scales, C->s.scale_bytes);
  mxbt_to_host(C->t.aux, t.aux, C->s.aux_bytes);
  mxbt_to_host(C->amax, t.amax, sizeof C->amax);
  C->t.flags = t.flags;
  mxbt_dev_free(w);
  mxbt_dev_free(t.data);
  mxbt_dev_free(t.scales);
  mxbt_dev_free(t.aux);
  mxbt_dev_free(t.amax);
}
#endif

/* On the CUDA backend (exact GEMM, then the CUDA quantizer) C's bytes are
 * the CPU backend's: every output format, alpha, bias with an activation,
 * stochastic rounding with a fixed seed, RHT and Four Over Six for NVFP4,
 * a supplied NVFP4 amax. */
Test(gemm_quantized, cuda_gives_the_cpu_bytes) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *cpu, *gpu;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &cpu), MXB_SUCCESS);
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &gpu), MXB_SUCCESS, "%s", mxb_last_error_detail());
  const int64_t M = 40, N = 96, K = 160;
  mxbt_pair p;
  mxbt_pair_make(&p, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 7, 1);
  float bias[96];
  for (int n = 0; n < N; n++) bias[n] = 0.02f * (float)(n % 11) - 0.1f;
  float *dbias = mxbt_dev_from_host(bias, sizeof bias);
  static const mxb_format_t outs[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4,
                                      MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_BF16};
  for (size_t f = 0; f < sizeof outs / sizeof outs[0]; f++)
    for (int opt = 0; opt < 5; opt++) {
      mxb_gemm_desc_t d;
      mxb_gemm_desc_init(&d);
      d.alpha = opt == 1 ? -0.75f : 1.0f;
      if (opt == 2 || opt == 3) d.activation = opt == 2 ? MXB_ACT_GELU_TANH : MXB_ACT_SILU;
      mxb_quant_config_t cfg;
      mxb_quant_config_init(&cfg);
      const int nvfp4 = outs[f] == MXB_FORMAT_NVFP4;
      if (opt == 1 && outs[f] != MXB_FORMAT_BF16) {
        cfg.rounding = MXB_ROUND_SR;
        cfg.seed = 1234;
        cfg.offset = 5;
      }
      if (opt == 2 && nvfp4) cfg.rht.enabled = 1;
      if (opt == 3 && nvfp4) cfg.four_over_six = MXB_FOUR_OVER_SIX_MSE;
      if (opt == 4 && nvfp4) cfg.amax_source = MXB_AMAX_FROM_TENSOR;
      mxbt_planes got, want;
      mxbt_planes_make(&got, outs[f], M, N, MXB_SCALE_LAYOUT_LINEAR);
      mxbt_planes_make(&want, outs[f], M, N, MXB_SCALE_LAYOUT_LINEAR);
      got.amax[0] = want.amax[0] = 2.5f; /* read where the amax is supplied */
      d.bias = opt == 2 || opt == 3 ? bias : NULL;
      cr_assert_eq(run_quantized(cpu, &d, &cfg, &p.A.h, &p.B.h, &want.t), MXB_SUCCESS, "%s", mxb_last_error_detail());
      d.bias = opt == 2 || opt == 3 ? dbias : NULL;
      run_on_device(gpu, &d, &cfg, &p.A.d, &p.B.d, &got);
      char what[96];
      snprintf(what, sizeof what, "%s, option %d (cuda %s)", mxbt_format_name(outs[f]), opt, mxb_context_last_impl(gpu));
      same_bytes(&got, &want, what);
      mxbt_planes_free(&got);
      mxbt_planes_free(&want);
    }
  mxbt_dev_free(dbias);
  mxbt_pair_free(&p);
  mxb_context_destroy(cpu);
  mxb_context_destroy(gpu);
#endif
}
