/* GEMM pointer mode (desc->alpha_ptr, beta_ptr): the bytes of the call with
 * alpha and beta by value, on every backend and (CUDA) every path; C left
 * unread where the beta read is 0; a plan and a captured CUDA graph read
 * the current values at each execution; the rules refuse what cannot hold. */
#include <math.h>
#include <stdio.h>

#include "gemm_operands.h"

/* C as the call finds it: normal values, or NaN everywhere. */
static void *make_c(mxb_dtype_t t, int64_t M, int64_t N, int nan_fill, uint64_t seed) {
  const size_t es = (size_t)mxb_dtype_size(t);
  unsigned char *c = malloc((size_t)(M * N) * es);
  uint64_t s = seed;
  for (int64_t i = 0; i < M * N; i++) {
    const float v = nan_fill ? NAN : mxbt_normal(&s);
    if (t == MXB_DTYPE_FP32) memcpy(c + 4 * i, &v, 4);
    else {
      const uint16_t h = (uint16_t)(mxbt_f2u(v) >> 16); /* bf16 (the tests' C types) */
      memcpy(c + 2 * i, &h, 2);
    }
  }
  return c;
}

/* ----------------------------------------------------------------- CPU */

static void cpu_run(mxb_context_t *ctx, const mxb_gemm_desc_t *d, const mxbt_operand *A, const mxbt_operand *B,
                    void *C) {
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, d, &A->h, &B->h, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = malloc(ws ? ws : 1);
  cr_assert_eq(mxb_gemm(ctx, d, &A->h, &B->h, C, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  free(w);
}

Test(gemm_pointer_mode, cpu_matches_values) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  const mxb_format_t pairs[][2] = {{MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4},
                                   {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4},
                                   {MXB_FORMAT_BF16, MXB_FORMAT_FP8_E4M3_TENSOR}};
  const float scalars[][2] = {{1.5f, 0.5f}, {-0.75f, 0.0f}, {3.0f, -2.0f}};
  const int64_t M = 17, N = 24, K = 96;
  for (int p = 0; p < 3; p++)
    for (int s = 0; s < 3; s++)
      for (int which = 1; which < 4; which++) { /* alpha by pointer, beta by pointer, both */
        mxbt_pair op;
        mxbt_pair_make(&op, pairs[p][0], pairs[p][1], MXB_SCALE_LAYOUT_LINEAR, M, N, K, 11 + p, 0);
        const int nan_c = scalars[s][1] == 0.0f;
        void *c1 = make_c(MXB_DTYPE_FP32, M, N, nan_c, 5), *c2 = make_c(MXB_DTYPE_FP32, M, N, nan_c, 5);
        mxb_gemm_desc_t dv = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, scalars[s][0], scalars[s][1], 0);
        cpu_run(ctx, &dv, &op.A, &op.B, c1);
        /* the by-value fields hold other values: the pointers win */
        mxb_gemm_desc_t dp = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, which & 1 ? 7.0f : scalars[s][0],
                                            which & 2 ? 9.0f : scalars[s][1], 0);
        const float a = scalars[s][0], b = scalars[s][1];
        if (which & 1) dp.alpha_ptr = &a;
        if (which & 2) dp.beta_ptr = &b;
        cpu_run(ctx, &dp, &op.A, &op.B, c2);
        cr_assert_eq(memcmp(c1, c2, (size_t)(M * N) * 4), 0, "pair %d scalars %d pointers %d: bytes differ", p, s,
                     which);
        if (nan_c)
          for (int64_t i = 0; i < M * N; i++) cr_assert(!isnan(((float *)c2)[i]), "beta 0 read C at %lld", (long long)i);
        free(c1);
        free(c2);
        mxbt_pair_free(&op);
      }
  mxb_context_destroy(ctx);
}

/* A plan keeps the pointers and reads the values at every execution. */
Test(gemm_pointer_mode, cpu_plan_reads_each_execution) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  const int64_t M = 8, N = 16, K = 64;
  mxbt_pair op;
  mxbt_pair_make(&op, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 3, 0);
  float alpha = 1.0f, beta = 0.0f;
  mxb_gemm_desc_t dp = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  dp.alpha_ptr = &alpha;
  dp.beta_ptr = &beta;
  mxb_gemm_plan_t *plan;
  cr_assert_eq(mxb_gemm_plan_create(ctx, &dp, &op.A.h, &op.B.h, NULL, &plan), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_plan_workspace_size(plan, &ws), MXB_SUCCESS);
  void *w = malloc(ws ? ws : 1);
  const float values[][2] = {{1.0f, 0.0f}, {-2.5f, 0.0f}, {0.5f, 1.0f}};
  for (int v = 0; v < 3; v++) {
    alpha = values[v][0];
    beta = values[v][1];
    float *c1 = make_c(MXB_DTYPE_FP32, M, N, 0, 9 + v), *c2 = make_c(MXB_DTYPE_FP32, M, N, 0, 9 + v);
    cr_assert_eq(mxb_gemm_plan_execute(plan, &op.A.h, &op.B.h, c2, w, ws, NULL), MXB_SUCCESS);
    mxb_gemm_desc_t dv = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, alpha, beta, 0);
    cpu_run(ctx, &dv, &op.A, &op.B, c1);
    cr_assert_eq(memcmp(c1, c2, (size_t)(M * N) * 4), 0, "execution %d: the plan did not read the new values", v);
    free(c1);
    free(c2);
  }
  free(w);
  mxb_gemm_plan_destroy(plan);
  mxbt_pair_free(&op);
  mxb_context_destroy(ctx);
}

/* Refused: beta_ptr where C is not read (gated activation, quantized C),
 * misaligned pointers; nothing written. */
Test(gemm_pointer_mode, rules_refuse_and_write_nothing) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  const int64_t M = 4, N = 8, K = 32;
  mxbt_pair op;
  mxbt_pair_make(&op, MXB_FORMAT_BF16, MXB_FORMAT_BF16, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 7, 0);
  float C[32], before[32], one = 1.0f;
  for (int i = 0; i < 32; i++) C[i] = before[i] = (float)i;
  size_t ws = 0;
  unsigned char w[1 << 16];

  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  d.activation = MXB_ACT_SWIGLU;
  d.beta_ptr = &one;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &op.A.h, &op.B.h, &ws), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_gemm(ctx, &d, &op.A.h, &op.B.h, C, w, sizeof(w), NULL), MXB_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(mxb_last_error_detail(), "beta_ptr") != NULL, "%s", mxb_last_error_detail());

  d = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  float raw[2]; /* 4-byte aligned: raw + 1 or 2 bytes is not */
  d.alpha_ptr = (const float *)((const char *)raw + 1);
  cr_assert_eq(mxb_gemm(ctx, &d, &op.A.h, &op.B.h, C, w, sizeof(w), NULL), MXB_ERR_BAD_ALIGNMENT);
  cr_assert(strstr(mxb_last_error_detail(), "alpha_ptr") != NULL, "%s", mxb_last_error_detail());
  d.alpha_ptr = NULL;
  d.beta_ptr = (const float *)((const char *)raw + 2);
  cr_assert_eq(mxb_gemm(ctx, &d, &op.A.h, &op.B.h, C, w, sizeof(w), NULL), MXB_ERR_BAD_ALIGNMENT);
  cr_assert(strstr(mxb_last_error_detail(), "beta_ptr") != NULL, "%s", mxb_last_error_detail());

  /* a quantized C is never read */
  mxbt_planes q;
  mxbt_planes_make(&q, MXB_FORMAT_MXFP8_E4M3, M, N, MXB_SCALE_LAYOUT_LINEAR);
  d = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  d.beta_ptr = &one;
  cr_assert_eq(mxb_gemm_quantized_workspace_size(ctx, &d, NULL, &op.A.h, &op.B.h, &q.t, &ws),
               MXB_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(mxb_last_error_detail(), "beta_ptr") != NULL, "%s", mxb_last_error_detail());
  for (size_t i = 0; i < q.s.data_bytes; i++) cr_assert_eq(((unsigned char *)q.t.data)[i], 0xA5);
  mxbt_planes_free(&q);

  cr_assert_eq(memcmp(C, before, sizeof(C)), 0, "a refused call wrote C");
  mxbt_pair_free(&op);
  mxb_context_destroy(ctx);
}

/* ---------------------------------------------------------------- CUDA */
#ifdef MXB_WITH_CUDA
/* One call on the GPU from host C; the path that ran. env_path: the path
 * forced through MXB_CUDA_GEMM_PATH (a context made for it), or NULL. */
static const char *gpu_run(const char *env_path, const mxb_gemm_desc_t *d, const mxbt_operand *A,
                           const mxbt_operand *B, void *C, size_t cb, char *ran, size_t ran_len) {
  if (env_path) setenv("MXB_CUDA_GEMM_PATH", env_path, 1);
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx), MXB_SUCCESS, "%s", mxb_last_error_detail());
  if (env_path) unsetenv("MXB_CUDA_GEMM_PATH");
  void *dc = mxbt_dev_from_host(C, cb);
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, d, &A->d, &B->d, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = ws ? mxbt_dev_alloc(ws) : NULL;
  if (w) mxbt_dev_poison(w, ws);
  cr_assert_eq(mxb_gemm(ctx, d, &A->d, &B->d, dc, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxbt_dev_sync();
  mxbt_to_host(C, dc, cb);
  snprintf(ran, ran_len, "%s", mxb_context_last_impl(ctx));
  mxbt_dev_free(w);
  mxbt_dev_free(dc);
  mxb_context_destroy(ctx);
  return ran;
}

/* Whether this device is the sm_90 the sm_90a kernels run on. */
static int is_sm90(void) {
  int dev = 0;
  struct cudaDeviceProp p;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&p, dev) != cudaSuccess) return 0;
  return p.major == 9 && p.minor == 0;
}

typedef struct {
  mxb_format_t fa, fb;
  mxb_gemm_mode_t mode;
  int64_t M, N, K;
  mxb_dtype_t ct;
  int epilogue; /* a bias and ReLU (the paths' epilogue steps) */
  const char *path; /* forced and expected (sm_90); NULL: the registry's choice */
} pm_case;
#endif

Test(gemm_pointer_mode, cuda_every_path_matches_values) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  const pm_case cases[] = {
      {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E5M2, MXB_GEMM_EXACT, 33, 40, 96, MXB_DTYPE_FP32, 0, "cuda-exact-generic"},
      {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_GEMM_EXACT, 64, 72, 256, MXB_DTYPE_FP32, 0, "cuda-exact-int8-mma"},
      {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_GEMM_EXACT, 64, 72, 256, MXB_DTYPE_BF16, 1,
       "cuda-exact-sm90-fp4-wgmma"}, /* its epilogue step */
      {MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, MXB_GEMM_FAST, 8, 256, 512, MXB_DTYPE_FP32, 0, "cuda-fast-decode-m16"},
      {MXB_FORMAT_BF16, MXB_FORMAT_MXFP4, MXB_GEMM_FAST, 3, 256, 512, MXB_DTYPE_BF16, 1, "cuda-fast-decode-m16"},
      {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_GEMM_FAST, 96, 256, 512, MXB_DTYPE_FP32, 0, "cuda-fast-sm90-w4-bf16-wgmma"},
      {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_GEMM_FAST, 128, 256, 4096, MXB_DTYPE_BF16, 1,
       "cuda-fast-sm90-w4-bf16-wgmma"}, /* K split: the reduce kernel's epilogue */
      {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_GEMM_FAST, 96, 256, 512, MXB_DTYPE_BF16, 0,
       "cuda-fast-sm90-mx-fp8-wgmma"},
      {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_GEMM_FAST, 128, 128, 8192, MXB_DTYPE_FP32, 0,
       "cuda-fast-sm90-mx-fp8-wgmma"}, /* K split */
      {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_GEMM_FAST, 96, 256, 512, MXB_DTYPE_FP32, 1,
       "cuda-fast-sm90-mx-fp8-wgmma"}, /* its epilogue step */
      {MXB_FORMAT_BF16, MXB_FORMAT_BF16, MXB_GEMM_FAST, 64, 128, 256, MXB_DTYPE_FP32, 0, "cuda-fast-cublaslt-bf16"},
      {MXB_FORMAT_BF16, MXB_FORMAT_BF16, MXB_GEMM_FAST, 64, 128, 256, MXB_DTYPE_BF16, 1, "cuda-fast-cublaslt-bf16"},
      {MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E4M3_TENSOR, MXB_GEMM_FAST, 64, 128, 256, MXB_DTYPE_FP32, 0,
       "cuda-fast-cublaslt-fp8"},
      {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128, MXB_GEMM_FAST, 64, 256, 512, MXB_DTYPE_BF16, 0, NULL},
      {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_GEMM_FAST, 64, 128, 256, MXB_DTYPE_FP32, 0,
       "cuda-fast-dequant-cublaslt-bf16"},
      {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP6_E2M3, MXB_GEMM_FAST, 64, 128, 256, MXB_DTYPE_BF16, 1,
       "cuda-fast-dequant-cublaslt-bf16"},
  };
  const float scalars[][2] = {{1.5f, 0.5f}, {-0.75f, 0.0f}};
  const int sm90 = is_sm90();
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    const pm_case *k = &cases[c];
    mxbt_pair op;
    mxbt_pair_make(&op, k->fa, k->fb, MXB_SCALE_LAYOUT_LINEAR, k->M, k->N, k->K, 21 + c, 1);
    float bias[256];
    for (int i = 0; i < 256; i++) bias[i] = 0.25f * (float)(i % 7) - 0.5f;
    void *dbias = mxbt_dev_from_host(bias, sizeof(bias));
    const size_t cb = (size_t)(k->M * k->N) * (size_t)mxb_dtype_size(k->ct);
    for (int s = 0; s < 2; s++) {
      const float alpha = scalars[s][0], beta = scalars[s][1];
      const int nan_c = beta == 0.0f;
      void *c1 = make_c(k->ct, k->M, k->N, nan_c, 40 + c), *c2 = make_c(k->ct, k->M, k->N, nan_c, 40 + c);
      mxb_gemm_desc_t dv = mxbt_gemm_desc(k->mode, k->ct, alpha, beta, 0);
      if (k->epilogue) {
        dv.bias = dbias;
        dv.activation = MXB_ACT_RELU;
      }
      mxb_gemm_desc_t dp = dv;
      dp.alpha = 7.0f; /* ignored: the pointers win */
      dp.beta = 9.0f;
      float *ds = mxbt_dev_from_host(scalars[s], sizeof(scalars[s]));
      dp.alpha_ptr = ds;
      dp.beta_ptr = ds + 1;
      const char *want = sm90 ? k->path : NULL;
      char r1[64], r2[64];
      gpu_run(want, &dv, &op.A, &op.B, c1, cb, r1, sizeof(r1));
      gpu_run(want, &dp, &op.A, &op.B, c2, cb, r2, sizeof(r2));
      if (want) cr_assert_str_eq(r1, want, "case %zu: %s ran", c, r1);
      cr_assert_str_eq(r1, r2, "case %zu: values on %s, pointers on %s", c, r1, r2);
      cr_assert_eq(memcmp(c1, c2, cb), 0, "case %zu (%s, alpha %g beta %g): pointer mode's bytes differ", c, r1,
                   (double)alpha, (double)beta);
      if (nan_c && k->ct == MXB_DTYPE_FP32)
        for (int64_t i = 0; i < k->M * k->N; i++)
          cr_assert(!isnan(((float *)c2)[i]), "case %zu (%s): beta 0 on the device read C", c, r2);
      mxbt_dev_free(ds);
      free(c1);
      free(c2);
    }
    mxbt_dev_free(dbias);
    mxbt_pair_free(&op);
  }
#endif
}

/* Captured once, replayed with new values written to the scalars between
 * replays: each replay gives the by-value call's bytes for the values it
 * found (the cuBLASLt path, the sm_90a MX kernel, the decode kernel). */
Test(gemm_pointer_mode, cuda_graph_replays_read_current_values) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  const pm_case cases[] = {
      {MXB_FORMAT_BF16, MXB_FORMAT_BF16, MXB_GEMM_FAST, 64, 128, 256, MXB_DTYPE_FP32, 0, NULL},
      {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_GEMM_FAST, 96, 256, 512, MXB_DTYPE_FP32, 0, NULL},
      {MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, MXB_GEMM_FAST, 8, 256, 512, MXB_DTYPE_FP32, 0, NULL},
      {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_GEMM_EXACT, 32, 64, 256, MXB_DTYPE_FP32, 0, NULL},
  };
  const float values[][2] = {{1.0f, 0.0f}, {-3.0f, 0.0f}, {0.5f, 2.0f}};
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    const pm_case *k = &cases[c];
    mxbt_pair op;
    mxbt_pair_make(&op, k->fa, k->fb, MXB_SCALE_LAYOUT_LINEAR, k->M, k->N, k->K, 61 + c, 1);
    mxb_context_t *ctx;
    cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx), MXB_SUCCESS);
    const size_t cb = (size_t)(k->M * k->N) * 4;
    float *ds = mxbt_dev_alloc(2 * sizeof(float));
    mxb_gemm_desc_t dp = mxbt_gemm_desc(k->mode, k->ct, 1.0f, 0.0f, 0);
    dp.alpha_ptr = ds;
    dp.beta_ptr = ds + 1;
    size_t ws = 0;
    cr_assert_eq(mxb_gemm_workspace_size(ctx, &dp, &op.A.d, &op.B.d, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
    void *w = ws ? mxbt_dev_alloc(ws) : NULL, *dc = mxbt_dev_alloc(cb);
    cudaStream_t st;
    cr_assert_eq(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), cudaSuccess);
    cudaGraph_t g;
    cudaGraphExec_t ge;
    cr_assert_eq(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    const mxb_status_t cs = mxb_gemm(ctx, &dp, &op.A.d, &op.B.d, dc, w, ws, st);
    cr_assert_eq(cudaStreamEndCapture(st, &g), cudaSuccess);
    cr_assert_eq(cs, MXB_SUCCESS, "captured call: %s", mxb_last_error_detail());
    cr_assert_eq(cudaGraphInstantiate(&ge, g, 0), cudaSuccess);
    char ran[64];
    snprintf(ran, sizeof(ran), "%s", mxb_context_last_impl(ctx));
    for (int v = 0; v < 3; v++) {
      void *cin = make_c(MXB_DTYPE_FP32, k->M, k->N, values[v][1] == 0.0f, 70 + v);
      unsigned char *want = malloc(cb), *got = malloc(cb);
      mxb_gemm_desc_t dv = mxbt_gemm_desc(k->mode, k->ct, values[v][0], values[v][1], 0);
      cr_assert_eq(cudaMemcpy(dc, cin, cb, cudaMemcpyHostToDevice), cudaSuccess);
      cr_assert_eq(cudaMemcpy(ds, values[v], sizeof(values[v]), cudaMemcpyHostToDevice), cudaSuccess);
      cr_assert_eq(cudaGraphLaunch(ge, st), cudaSuccess);
      cr_assert_eq(cudaStreamSynchronize(st), cudaSuccess);
      mxbt_to_host(got, dc, cb);
      /* the by-value call on the same inputs */
      cr_assert_eq(cudaMemcpy(dc, cin, cb, cudaMemcpyHostToDevice), cudaSuccess);
      cr_assert_eq(mxb_gemm(ctx, &dv, &op.A.d, &op.B.d, dc, w, ws, NULL), MXB_SUCCESS);
      mxbt_dev_sync();
      mxbt_to_host(want, dc, cb);
      cr_assert_eq(memcmp(want, got, cb), 0, "case %zu (%s), replay %d (alpha %g beta %g): bytes differ", c, ran, v,
                   (double)values[v][0], (double)values[v][1]);
      free(want);
      free(got);
      free(cin);
    }
    cudaGraphExecDestroy(ge);
    cudaGraphDestroy(g);
    cudaStreamDestroy(st);
    mxbt_dev_free(w);
    mxbt_dev_free(dc);
    mxbt_dev_free(ds);
    mxb_context_destroy(ctx);
    mxbt_pair_free(&op);
  }
#endif
}
