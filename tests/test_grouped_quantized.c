/* The grouped GEMM with a quantized C (mxb_grouped_gemm_quantized): the
 * bytes of mxb_grouped_gemm into fp32 then mxb_grouped_quantize of its
 * groups' rows, for NVFP4 (an amax per group), MXFP8 and MXFP4 outputs,
 * with a SwiGLU epilogue and each expert's bias, contiguous and masked
 * groups; rows no group owns untouched; refusals write nothing. On a GPU the
 * same on CUDA, and in exact mode CUDA's bytes are the CPU's. */
#include <stdio.h>

#include "common/gemm_epilogue.h"
#include "gemm_operands.h"

enum { E = 3, N = 64, K = 64, M = 27, W = N / 2 };

static const int32_t k_off[E + 1] = {1, 9, 9, 24}; /* group 1 empty; rows 0 and 24 .. 26 in no group */
static const int32_t k_counts[E] = {5, 0, 8};       /* masked: max_m = M / E = 9 */

typedef struct fixture {
  mxbt_operand A, B; /* B: the E experts stacked, [E * N, K] */
  float bias[E * N];
} fixture;

static void fixture_make(fixture *f) {
  float *xa = mxbt_gemm_input(M, K, 91, MXBT_IN_NORMAL, 0), *xb = mxbt_gemm_input(E * N, K, 92, MXBT_IN_NORMAL, 1);
  mxbt_operand_make(&f->A, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_LINEAR, M, K, xa);
  mxbt_operand_make(&f->B, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_LINEAR, E * N, K, xb);
  uint64_t s = 5;
  for (int i = 0; i < E * N; i++) f->bias[i] = mxbt_normal(&s);
  free(xa);
  free(xb);
}

static mxb_grouped_gemm_desc_t groups(const mxb_gemm_desc_t *d, int masked, const void *index) {
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.gemm = d;
  g.groups = E;
  g.layout = masked ? MXB_GROUPED_M_MASKED : MXB_GROUPED_M_CONTIGUOUS;
  g.index = index;
  return g;
}

static void *aligned_ws(size_t bytes) { return aligned_alloc(256, (bytes + 255) / 256 * 256 + 256); }

static void same_planes(const mxbt_planes *a, const mxbt_planes *b, const char *what) {
  cr_assert(!memcmp(a->t.data, b->t.data, a->s.data_bytes), "%s: codes differ", what);
  if (a->s.scale_bytes) cr_assert(!memcmp(a->t.scales, b->t.scales, a->s.scale_bytes), "%s: scales differ", what);
  for (int e = 0; e < E; e++)
    cr_assert_eq(mxbt_f2u(a->amax[e]), mxbt_f2u(b->amax[e]), "%s: amax %d: 0x%08x, 0x%08x", what, e,
                 mxbt_f2u(a->amax[e]), mxbt_f2u(b->amax[e]));
  cr_assert_eq(a->t.flags, b->t.flags, "%s: flags", what);
}

Test(grouped_gemm_quantized, the_bytes_of_the_grouped_gemm_then_the_grouped_quantize) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  fixture f;
  fixture_make(&f);
  static const mxb_format_t outs[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4};
  static const mxb_activation_t acts[] = {MXB_ACT_SWIGLU, MXB_ACT_GELU_TANH, MXB_ACT_NONE};
  int runs = 0;
  for (int masked = 0; masked < 2; masked++)
    for (size_t o = 0; o < sizeof outs / sizeof outs[0]; o++) {
      const mxb_activation_t act = acts[o];
      const int64_t cols = mxb_gemm_gate_act(act) ? W : N;
      mxb_gemm_desc_t d;
      mxb_gemm_desc_init(&d);
      d.alpha = 0.75f;
      d.bias = f.bias;
      d.activation = act;
      const mxb_grouped_gemm_desc_t g = groups(&d, masked, masked ? (const void *)k_counts : (const void *)k_off);
      mxb_quant_config_t cfg;
      mxb_quant_config_init(&cfg);
      /* the two calls */
      size_t ws = 0;
      cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &g, &f.A.h, &f.B.h, &ws), MXB_SUCCESS, "%s",
                   mxb_last_error_detail());
      void *w = aligned_ws(ws);
      float *c32 = malloc(sizeof(float) * (size_t)(M * cols));
      for (int64_t i = 0; i < M * cols; i++) c32[i] = NAN; /* rows no group owns must not be read */
      cr_assert_eq(mxb_grouped_gemm(ctx, &g, &f.A.h, &f.B.h, c32, w, ws, NULL), MXB_SUCCESS, "%s",
                   mxb_last_error_detail());
      mxbt_planes want, got;
      mxbt_planes_make(&want, outs[o], M, cols, MXB_SCALE_LAYOUT_LINEAR);
      mxbt_planes_make(&got, outs[o], M, cols, MXB_SCALE_LAYOUT_LINEAR);
      cr_assert_eq(mxb_grouped_quantize(ctx, &g, &cfg, MXB_DTYPE_FP32, c32, &want.t, NULL, 0, NULL), MXB_SUCCESS,
                   "%s", mxb_last_error_detail());
      /* the one call */
      size_t qws = 0;
      cr_assert_eq(mxb_grouped_gemm_quantized_workspace_size(ctx, &g, &cfg, &f.A.h, &f.B.h, &got.t, &qws),
                   MXB_SUCCESS, "%s", mxb_last_error_detail());
      void *qw = aligned_ws(qws);
      cr_assert_eq(mxb_grouped_gemm_quantized(ctx, &g, &cfg, &f.A.h, &f.B.h, &got.t, qw, qws, NULL), MXB_SUCCESS,
                   "%s", mxb_last_error_detail());
      char what[96];
      snprintf(what, sizeof what, "%s, act %d, %s", mxbt_format_name(outs[o]), (int)act, masked ? "masked" : "contiguous");
      same_planes(&want, &got, what);
      /* rows no group owns keep their poison */
      const int64_t row0 = masked ? 5 : 0; /* contiguous: row 0; masked: row 5 (past group 0's count) */
      for (size_t b = 0; b < got.s.row_bytes; b++)
        cr_assert_eq(((uint8_t *)got.t.data)[row0 * (int64_t)got.s.row_bytes + (int64_t)b], 0xA5, "%s: row %lld written",
                     what, (long long)row0);
      mxbt_planes_free(&want);
      mxbt_planes_free(&got);
      free(qw);
      free(c32);
      free(w);
      runs++;
    }
  cr_assert_eq(runs, 6);
  mxbt_operand_free(&f.A);
  mxbt_operand_free(&f.B);
  mxb_context_destroy(ctx);
}

Test(grouped_gemm_quantized, refusals_write_nothing) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  fixture f;
  fixture_make(&f);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  mxb_grouped_gemm_desc_t g = groups(&d, 0, k_off);
  mxbt_planes q;
  mxbt_planes_make(&q, MXB_FORMAT_MXFP8_E4M3, M, N, MXB_SCALE_LAYOUT_LINEAR);
  static float big[M * N * 4];
  size_t bytes = 0;
  /* beta != 0 (C is not read), ldc other than C's columns, aux, the K split, SR, a wrong C shape */
  d.beta = 1.0f;
  cr_assert_eq(mxb_grouped_gemm_quantized_workspace_size(ctx, &g, NULL, &f.A.h, &f.B.h, &q.t, &bytes),
               MXB_ERR_INVALID_ARGUMENT, "%s", mxb_last_error_detail());
  d.beta = 0.0f;
  d.ldc = N + 1;
  cr_assert_eq(mxb_grouped_gemm_quantized_workspace_size(ctx, &g, NULL, &f.A.h, &f.B.h, &q.t, &bytes),
               MXB_ERR_BAD_SHAPE, "%s", mxb_last_error_detail());
  d.ldc = 0;
  d.aux = big;
  cr_assert_eq(mxb_grouped_gemm_quantized(ctx, &g, NULL, &f.A.h, &f.B.h, &q.t, big, sizeof big, NULL),
               MXB_ERR_UNSUPPORTED, "%s", mxb_last_error_detail());
  d.aux = NULL;
  g.layout = MXB_GROUPED_K_CONTIGUOUS;
  cr_assert_eq(mxb_grouped_gemm_quantized(ctx, &g, NULL, &f.A.h, &f.B.h, &q.t, big, sizeof big, NULL),
               MXB_ERR_UNSUPPORTED, "%s", mxb_last_error_detail());
  g.layout = MXB_GROUPED_M_CONTIGUOUS;
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.rounding = MXB_ROUND_SR; /* the grouped quantize defines no SR */
  cr_assert_eq(mxb_grouped_gemm_quantized(ctx, &g, &cfg, &f.A.h, &f.B.h, &q.t, big, sizeof big, NULL),
               MXB_ERR_UNSUPPORTED, "%s", mxb_last_error_detail());
  d.activation = MXB_ACT_SWIGLU; /* C must be [M, N/2] */
  cr_assert_eq(mxb_grouped_gemm_quantized(ctx, &g, NULL, &f.A.h, &f.B.h, &q.t, big, sizeof big, NULL),
               MXB_ERR_BAD_SHAPE, "%s", mxb_last_error_detail());
  d.activation = MXB_ACT_NONE;
  cr_assert_eq(mxb_grouped_gemm_quantized(ctx, &g, NULL, &f.A.h, &f.B.h, &q.t, big, 64, NULL),
               MXB_ERR_WORKSPACE_TOO_SMALL, "%s", mxb_last_error_detail());
  for (size_t b = 0; b < q.s.data_bytes; b++) cr_assert_eq(((uint8_t *)q.t.data)[b], 0xA5, "a refusal wrote C");
  mxbt_planes_free(&q);
  mxbt_operand_free(&f.A);
  mxbt_operand_free(&f.B);
  mxb_context_destroy(ctx);
}

/* CUDA: the one call's bytes are the two calls' on the GPU, and in exact
 * mode the CPU's. */
Test(grouped_gemm_quantized, cuda_gives_the_cpu_bytes) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *cpu, *gpu;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &cpu), MXB_SUCCESS);
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &gpu), MXB_SUCCESS, "%s", mxb_last_error_detail());
  fixture f;
  fixture_make(&f);
  mxbt_operand_upload(&f.A);
  mxbt_operand_upload(&f.B);
  float *bias_d = mxbt_dev_from_host(f.bias, sizeof f.bias);
  int32_t *off_d = mxbt_dev_from_host(k_off, sizeof k_off);
  static const mxb_format_t outs[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3};
  for (size_t o = 0; o < 2; o++) {
    mxb_gemm_desc_t d;
    mxb_gemm_desc_init(&d);
    d.bias = f.bias;
    d.activation = MXB_ACT_SWIGLU;
    mxb_grouped_gemm_desc_t g = groups(&d, 0, k_off);
    mxbt_planes want, got;
    mxbt_planes_make(&want, outs[o], M, W, MXB_SCALE_LAYOUT_LINEAR);
    mxbt_planes_make(&got, outs[o], M, W, MXB_SCALE_LAYOUT_LINEAR);
    size_t ws = 0;
    cr_assert_eq(mxb_grouped_gemm_quantized_workspace_size(cpu, &g, NULL, &f.A.h, &f.B.h, &want.t, &ws), MXB_SUCCESS);
    void *w = aligned_ws(ws);
    cr_assert_eq(mxb_grouped_gemm_quantized(cpu, &g, NULL, &f.A.h, &f.B.h, &want.t, w, ws, NULL), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    free(w);
    /* the GPU: planes on the device, poisoned like the host's */
    mxb_tensor_t t = got.t;
    t.data = mxbt_dev_from_host(got.t.data, got.s.data_bytes);
    t.scales = mxbt_dev_from_host(got.t.scales, got.s.scale_bytes);
    t.amax = mxbt_dev_from_host(got.amax, sizeof got.amax);
    d.bias = bias_d;
    g.index = off_d;
    cr_assert_eq(mxb_grouped_gemm_quantized_workspace_size(gpu, &g, NULL, &f.A.d, &f.B.d, &t, &ws), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    void *wd = mxbt_dev_alloc(ws);
    cr_assert_eq(mxb_grouped_gemm_quantized(gpu, &g, NULL, &f.A.d, &f.B.d, &t, wd, ws, NULL), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    mxbt_dev_sync();
    mxbt_to_host(got.t.data, t.data, got.s.data_bytes);
    mxbt_to_host(got.t.scales, t.scales, got.s.scale_bytes);
    mxbt_to_host(got.amax, t.amax, sizeof got.amax);
    got.t.flags = t.flags;
    same_planes(&want, &got, mxbt_format_name(outs[o]));
    mxbt_dev_free(wd);
    mxbt_dev_free(t.data);
    mxbt_dev_free(t.scales);
    mxbt_dev_free(t.amax);
    mxbt_planes_free(&want);
    mxbt_planes_free(&got);
  }
  mxbt_dev_free(bias_d);
  mxbt_dev_free(off_d);
  mxbt_operand_free(&f.A);
  mxbt_operand_free(&f.B);
  mxb_context_destroy(gpu);
  mxb_context_destroy(cpu);
#endif
}
