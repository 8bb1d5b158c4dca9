/* GEMM plans on the CPU: the same bits as mxb_gemm, the path and workspace
 * known from pointer-less descriptors, refusals that write nothing, the
 * workspace limit, one plan shared by threads. (CUDA plans: test_cuda_gemm.c.) */
#include <pthread.h>
#include <stdio.h>

#include "cpu/gemm.h"
#include "cpu/pool.h"
#include "gemm_operands.h"

static mxb_context_t *cpu_ctx(void) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  return ctx;
}


/* A descriptor with t's format, shape and layout and no pointers. */
static mxb_tensor_t bare(const mxb_tensor_t *t) {
  mxb_tensor_t b;
  cr_assert_eq(mxb_tensor_init(&b, t->format, t->rows, t->cols, t->scale_layout), MXB_SUCCESS);
  b.flags = t->flags;
  return b;
}

static size_t c_bytes(const mxb_gemm_desc_t *d, int64_t M, int64_t N) {
  return (size_t)(M * (d->ldc ? d->ldc : N)) * mxb_dtype_size(d->c_type);
}

static void fill_c(unsigned char *C, size_t n, uint64_t seed) {
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++) C[i] = (unsigned char)(mxbt_next(&s) >> 7);
}

static mxb_gemm_plan_t *make_plan(mxb_context_t *ctx, const mxb_gemm_desc_t *d, const mxb_tensor_t *A,
                                  const mxb_tensor_t *B, const mxb_gemm_plan_prefs_t *prefs) {
  mxb_tensor_t a = bare(A), b = bare(B);
  mxb_gemm_plan_t *p = NULL;
  cr_assert_eq(mxb_gemm_plan_create(ctx, d, &a, &b, prefs, &p), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_not_null(p);
  return p;
}

/* mxb_gemm and the plan on the same operands and the same C: same bytes. */
static void check_same_bits(mxb_format_t fa, mxb_format_t fb, int64_t M, int64_t N, int64_t K,
                            const mxb_gemm_desc_t *d) {
  mxbt_pair P;
  mxbt_pair_make(&P, fa, fb, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 21 + (uint64_t)M, 0);
  const mxbt_operand A = P.A, B = P.B;
  mxb_context_t *ctx = cpu_ctx();
  const size_t cb = c_bytes(d, M, N);
  unsigned char *C0 = malloc(cb), *C1 = malloc(cb);
  fill_c(C0, cb, 5);
  memcpy(C1, C0, cb);

  size_t ws = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, d, &A.h, &B.h, &ws), MXB_SUCCESS);
  void *w = malloc(ws ? ws : 1);
  cr_assert_eq(mxb_gemm(ctx, d, &A.h, &B.h, C0, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  char ran[64];
  snprintf(ran, sizeof(ran), "%s", mxb_context_last_impl(ctx));

  mxb_gemm_plan_t *p = make_plan(ctx, d, &A.h, &B.h, NULL);
  size_t pws = 0;
  cr_assert_eq(mxb_gemm_plan_workspace_size(p, &pws), MXB_SUCCESS);
  cr_assert_eq(pws, ws, "%s x %s: the plan asks for %zu bytes, mxb_gemm for %zu", mxbt_format_name(fa),
               mxbt_format_name(fb), pws, ws);
  cr_assert_str_eq(mxb_gemm_plan_path(p), ran);
  void *pw = malloc(pws ? pws : 1);
  cr_assert_eq(mxb_gemm_plan_execute(p, &A.h, &B.h, C1, pw, pws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_str_eq(mxb_context_last_impl(ctx), mxb_gemm_plan_path(p));
  cr_assert(memcmp(C0, C1, cb) == 0, "%s x %s (mode %d, c_type %d): plan and mxb_gemm differ", mxbt_format_name(fa),
            mxbt_format_name(fb), (int)d->mode, (int)d->c_type);
  /* a plan is reusable: a second execution on the same C gives the same bytes
   * as a second mxb_gemm */
  cr_assert_eq(mxb_gemm(ctx, d, &A.h, &B.h, C0, w, ws, NULL), MXB_SUCCESS);
  cr_assert_eq(mxb_gemm_plan_execute(p, &A.h, &B.h, C1, pw, pws, NULL), MXB_SUCCESS);
  cr_assert(memcmp(C0, C1, cb) == 0, "second execution differs");

  cr_assert_eq(mxb_gemm_plan_destroy(p), MXB_SUCCESS);
  free(pw);
  free(w);
  free(C0);
  free(C1);
  mxb_context_destroy(ctx);
  mxbt_pair_free(&P);
}

Test(gemm_plan, same_bits_as_mxb_gemm) {
  static const mxb_format_t pairs[][2] = {
    {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4},          {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4},
    {MXB_FORMAT_BF16, MXB_FORMAT_NVFP4},           {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128},
    {MXB_FORMAT_MX6, MXB_FORMAT_MX9},              {MXB_FORMAT_MOR_1x128, MXB_FORMAT_FP32},
  };
  const mxb_gemm_desc_t descs[] = {
    mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0),
    mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_BF16, 0.5f, -2.0f, 0),
    mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.5f, 0.25f, 77),
  };
  for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
    for (size_t j = 0; j < sizeof(descs) / sizeof(descs[0]); j++)
      check_same_bits(pairs[i][0], pairs[i][1], 19, 70, 256, &descs[j]);
}

/* Before any data exists: the path's name and its workspace. */
Test(gemm_plan, path_and_workspace_known_before_execution) {
  mxb_context_t *ctx = cpu_ctx();
  mxb_tensor_t a, b;
  cr_assert_eq(mxb_tensor_init(&a, MXB_FORMAT_MXFP8_E4M3, 64, 512, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  cr_assert_eq(mxb_tensor_init(&b, MXB_FORMAT_MXFP4, 96, 512, MXB_SCALE_LAYOUT_SWIZZLED), MXB_SUCCESS);
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_FAST, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  mxb_gemm_plan_t *p = NULL;
  cr_assert_eq(mxb_gemm_plan_create(ctx, &d, &a, &b, NULL, &p), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_str_eq(mxb_gemm_plan_path(p), "cpu-reference");
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_plan_workspace_size(p, &ws), MXB_SUCCESS);
  /* what mxb_gemm asks for once the operands exist */
  mxb_tensor_sizes_t sa = {.struct_size = sizeof(sa)}, sb = {.struct_size = sizeof(sb)};
  mxb_tensor_sizes(a.format, a.rows, a.cols, a.scale_layout, &sa);
  mxb_tensor_sizes(b.format, b.rows, b.cols, b.scale_layout, &sb);
  a.data = calloc(1, sa.data_bytes);
  a.scales = calloc(1, sa.scale_bytes);
  b.data = calloc(1, sb.data_bytes);
  b.scales = calloc(1, sb.scale_bytes);
  size_t want = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &a, &b, &want), MXB_SUCCESS);
  cr_assert_eq(ws, want);
  cr_assert_gt(ws, 0);
  cr_assert_str_eq(mxb_gemm_plan_path(NULL), "none");
  cr_assert_eq(mxb_gemm_plan_workspace_size(NULL, &ws), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_gemm_plan_workspace_size(p, NULL), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_gemm_plan_destroy(p), MXB_SUCCESS);
  cr_assert_eq(mxb_gemm_plan_destroy(NULL), MXB_SUCCESS);
  free(a.data);
  free(a.scales);
  free(b.data);
  free(b.scales);
  mxb_context_destroy(ctx);
}

/* n bytes of src copied `offset` bytes past a 64-byte boundary. */
static void *aligned_copy(const void *src, size_t n, size_t offset) {
  unsigned char *p = aligned_alloc(64, (n + offset + 63) / 64 * 64);
  memcpy(p + offset, src, n);
  return p;
}

/* Every refusal returns its status with a detail and leaves C as it was. */
Test(gemm_plan, refusals_write_nothing) {
  const int64_t M = 8, N = 24, K = 128;
  float *xa = mxbt_gemm_input(M, K, 3, MXBT_IN_NORMAL, 0), *xb = mxbt_gemm_input(N, K, 4, MXBT_IN_NORMAL, 1);
  float *xa2 = mxbt_gemm_input(M + 1, K, 3, MXBT_IN_NORMAL, 0);
  mxbt_operand A, B, A_rows, A_fmt, A_swz;
  mxbt_operand_make(&A, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, M, K, xa);
  mxbt_operand_make(&B, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, N, K, xb);
  mxbt_operand_make(&A_rows, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, M + 1, K, xa2);
  mxbt_operand_make(&A_fmt, MXB_FORMAT_MXFP4, MXB_SCALE_LAYOUT_LINEAR, M, K, xa);
  mxbt_operand_make(&A_swz, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_SWIZZLED, M, K, xa);
  mxb_context_t *ctx = cpu_ctx();
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 1.0f, 0);
  mxb_gemm_plan_prefs_t prefs;
  mxb_gemm_plan_prefs_init(&prefs);
  cr_assert_eq(prefs.alignment, 16);
  cr_assert_eq(prefs.max_workspace, 0);
  prefs.alignment = 64;
  mxb_gemm_plan_t *p = make_plan(ctx, &d, &A.h, &B.h, &prefs);
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_plan_workspace_size(p, &ws), MXB_SUCCESS);
  cr_assert_gt(ws, 0);
  void *w = aligned_alloc(64, (ws + 63) / 64 * 64);

  /* A and B with their planes 64-byte aligned, and B with its codes 16
   * bytes past a 64-byte boundary */
  mxb_tensor_t Ag = A.h, Bg = B.h, B16 = B.h;
  Ag.data = aligned_copy(A.h.data, A.s.data_bytes, 0);
  Ag.scales = aligned_copy(A.h.scales, A.s.scale_bytes, 0);
  Bg.data = aligned_copy(B.h.data, B.s.data_bytes, 0);
  Bg.scales = aligned_copy(B.h.scales, B.s.scale_bytes, 0);
  unsigned char *b16 = aligned_copy(B.h.data, B.s.data_bytes, 16);
  B16.data = b16 + 16;
  B16.scales = Bg.scales;
  /* and A with its scales 16 bytes past a 64-byte boundary */
  mxb_tensor_t A16 = Ag;
  unsigned char *a16 = aligned_copy(A.h.scales, A.s.scale_bytes, 16);
  A16.scales = a16 + 16;
  mxb_tensor_t A_rht = Ag, B_rht = Bg;
  A_rht.flags |= MXB_TENSOR_RHT;
  B_rht.flags |= MXB_TENSOR_RHT;

  const size_t cb = c_bytes(&d, M, N);
  unsigned char *C = malloc(cb), *C0 = malloc(cb);
  fill_c(C, cb, 9);
  memcpy(C0, C, cb);
  struct {
    const mxb_gemm_plan_t *plan;
    const mxb_tensor_t *a, *b;
    void *w;
    size_t wb;
    mxb_status_t want;
    const char *what;
  } cases[] = {
    {p, &A_rows.h, &B.h, w, ws, MXB_ERR_BAD_SHAPE, "A with one row more"},
    {p, &A_fmt.h, &B.h, w, ws, MXB_ERR_INVALID_ARGUMENT, "A in another format"},
    {p, &A_swz.h, &B.h, w, ws, MXB_ERR_INVALID_ARGUMENT, "A with another scale layout"},
    {p, &A_rht, &B_rht, w, ws, MXB_ERR_INVALID_ARGUMENT, "A and B with a Hadamard flag the plan lacks"},
    {p, &Ag, &B16, w, ws, MXB_ERR_BAD_ALIGNMENT, "B->data 16 bytes off the declared 64"},
    {p, &A16, &Bg, w, ws, MXB_ERR_BAD_ALIGNMENT, "A->scales 16 bytes off the declared 64"},
    {p, &Ag, &Bg, w, ws - 1, MXB_ERR_WORKSPACE_TOO_SMALL, "a workspace one byte short"},
    {p, &Ag, &Bg, NULL, 0, MXB_ERR_WORKSPACE_TOO_SMALL, "no workspace"},
    {NULL, &Ag, &Bg, w, ws, MXB_ERR_INVALID_ARGUMENT, "a NULL plan"},
    {p, NULL, &Bg, w, ws, MXB_ERR_INVALID_ARGUMENT, "a NULL A"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    mxb_status_t st = mxb_gemm_plan_execute(cases[i].plan, cases[i].a, cases[i].b, C, cases[i].w, cases[i].wb, NULL);
    cr_assert_eq(st, cases[i].want, "%s: status %d (%s)", cases[i].what, (int)st, mxb_last_error_detail());
    cr_assert_neq(mxb_last_error_detail()[0], '\0', "%s: no detail", cases[i].what);
    cr_assert(memcmp(C, C0, cb) == 0, "%s: C was written", cases[i].what);
  }
  cr_assert_eq(mxb_gemm_plan_execute(p, &Ag, &Bg, NULL, w, ws, NULL), MXB_ERR_INVALID_ARGUMENT);
  /* the 64-aligned planes are accepted, and a plan with the default
   * alignment (16) takes the others too */
  cr_assert_eq(mxb_gemm_plan_execute(p, &Ag, &Bg, C, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxb_gemm_plan_t *p16 = make_plan(ctx, &d, &A.h, &B.h, NULL);
  memcpy(C, C0, cb);
  cr_assert_eq(mxb_gemm_plan_execute(p16, &A16, &B16, C, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxb_gemm_plan_destroy(p16);
  mxb_gemm_plan_destroy(p);
  free(Ag.data);
  free(Ag.scales);
  free(Bg.data);
  free(Bg.scales);
  free(b16);
  free(a16);
  free(w);
  free(C);
  free(C0);
  mxb_context_destroy(ctx);
  mxbt_operand_free(&A);
  mxbt_operand_free(&B);
  mxbt_operand_free(&A_rows);
  mxbt_operand_free(&A_fmt);
  mxbt_operand_free(&A_swz);
  free(xa);
  free(xb);
  free(xa2);
}

/* Bad arguments to create: a status, a detail, *plan untouched. */
Test(gemm_plan, create_refuses_bad_arguments) {
  mxb_context_t *ctx = cpu_ctx();
  mxb_tensor_t a, b, b_short;
  mxb_tensor_init(&a, MXB_FORMAT_MXFP8_E4M3, 4, 64, MXB_SCALE_LAYOUT_LINEAR);
  mxb_tensor_init(&b, MXB_FORMAT_MXFP8_E4M3, 4, 64, MXB_SCALE_LAYOUT_LINEAR);
  mxb_tensor_init(&b_short, MXB_FORMAT_MXFP8_E4M3, 4, 32, MXB_SCALE_LAYOUT_LINEAR);
  mxb_tensor_t nv;
  mxb_tensor_init(&nv, MXB_FORMAT_NVFP4, 4, 64, MXB_SCALE_LAYOUT_LINEAR);
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  mxb_gemm_plan_prefs_t odd, zero, small;
  mxb_gemm_plan_prefs_init(&odd);
  odd.alignment = 24;
  mxb_gemm_plan_prefs_init(&zero);
  zero.alignment = 0;
  mxb_gemm_plan_prefs_init(&small);
  small.struct_size = 4;
  mxb_gemm_plan_t *const sentinel = (mxb_gemm_plan_t *)&d, *p = sentinel;
  cr_assert_eq(mxb_gemm_plan_create(NULL, &d, &a, &b, NULL, &p), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_gemm_plan_create(ctx, NULL, &a, &b, NULL, &p), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_gemm_plan_create(ctx, &d, NULL, &b, NULL, &p), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_gemm_plan_create(ctx, &d, &a, &b_short, NULL, &p), MXB_ERR_BAD_SHAPE);
  cr_assert_eq(mxb_gemm_plan_create(ctx, &d, &a, &nv, NULL, &p), MXB_ERR_UNSUPPORTED);
  cr_assert_eq(mxb_gemm_plan_create(ctx, &d, &a, &b, &odd, &p), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_gemm_plan_create(ctx, &d, &a, &b, &zero, &p), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mxb_gemm_plan_create(ctx, &d, &a, &b, &small, &p), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_eq(p, sentinel, "*plan was written on failure");
  cr_assert_eq(mxb_gemm_plan_create(ctx, &d, &a, &b, NULL, NULL), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_neq(mxb_last_error_detail()[0], '\0');
  mxb_context_destroy(ctx);
}

/* A workspace limit below what the preferred choice needs: the plan takes
 * one that fits (on the CPU, fewer threads) and gives the same bits; a limit
 * nothing fits is refused. */
Test(gemm_plan, max_workspace_falls_back_to_a_path_that_fits) {
  mxb_cpu_set_threads(4);
  const int64_t M = 64, N = 64, K = 512;
  mxbt_pair P;
  mxbt_pair_make(&P, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP6_E2M3, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 31, 0);
  const mxbt_operand A = P.A, B = P.B;
  mxb_context_t *ctx = cpu_ctx();
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  mxb_gemm_plan_t *full = make_plan(ctx, &d, &A.h, &B.h, NULL);
  size_t ws_full = 0, ws_one = mxb_cpu_gemm_workspace_for(N, K, 32, 1);
  mxb_gemm_plan_workspace_size(full, &ws_full);
  cr_assert_gt(ws_full, ws_one, "the shape should run on several threads (%zu vs %zu bytes)", ws_full, ws_one);

  mxb_gemm_plan_prefs_t prefs;
  mxb_gemm_plan_prefs_init(&prefs);
  prefs.max_workspace = ws_full - 1;
  mxb_gemm_plan_t *lim = make_plan(ctx, &d, &A.h, &B.h, &prefs);
  size_t ws_lim = 0;
  mxb_gemm_plan_workspace_size(lim, &ws_lim);
  cr_assert_leq(ws_lim, prefs.max_workspace);
  cr_assert_geq(ws_lim, ws_one);
  cr_assert_str_eq(mxb_gemm_plan_path(lim), "cpu-reference");

  const size_t cb = c_bytes(&d, M, N);
  float *C0 = malloc(cb), *C1 = malloc(cb);
  void *w = malloc(ws_full);
  cr_assert_eq(mxb_gemm_plan_execute(full, &A.h, &B.h, C0, w, ws_full, NULL), MXB_SUCCESS);
  cr_assert_eq(mxb_gemm_plan_execute(lim, &A.h, &B.h, C1, w, ws_lim, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  cr_assert(memcmp(C0, C1, cb) == 0, "the limited plan gives other bits");

  prefs.max_workspace = ws_one;
  mxb_gemm_plan_t *one = make_plan(ctx, &d, &A.h, &B.h, &prefs);
  size_t ws1 = 0;
  mxb_gemm_plan_workspace_size(one, &ws1);
  cr_assert_eq(ws1, ws_one);
  cr_assert_eq(mxb_gemm_plan_execute(one, &A.h, &B.h, C1, w, ws1, NULL), MXB_SUCCESS);
  cr_assert(memcmp(C0, C1, cb) == 0, "the one-thread plan gives other bits");

  prefs.max_workspace = ws_one - 1;
  mxb_gemm_plan_t *none = (mxb_gemm_plan_t *)&prefs;
  mxb_tensor_t a = bare(&A.h), b = bare(&B.h);
  cr_assert_eq(mxb_gemm_plan_create(ctx, &d, &a, &b, &prefs, &none), MXB_ERR_WORKSPACE_TOO_SMALL);
  cr_assert_eq(none, (mxb_gemm_plan_t *)&prefs);
  mxb_gemm_plan_destroy(full);
  mxb_gemm_plan_destroy(lim);
  mxb_gemm_plan_destroy(one);
  mxb_cpu_set_threads(0);
  free(w);
  free(C0);
  free(C1);
  mxb_context_destroy(ctx);
  mxbt_pair_free(&P);
}

/* One plan executed by four threads at once, each with its own C and
 * workspace: every C equals the serial result. */
typedef struct {
  const mxb_gemm_plan_t *p;
  const mxb_tensor_t *A, *B;
  float *C;
  size_t ws;
  mxb_status_t st;
} plan_job;

static void *run_job(void *arg) {
  plan_job *j = arg;
  void *w = malloc(j->ws);
  j->st = MXB_SUCCESS;
  for (int it = 0; it < 8 && j->st == MXB_SUCCESS; it++)
    j->st = mxb_gemm_plan_execute(j->p, j->A, j->B, j->C, w, j->ws, NULL);
  free(w);
  return NULL;
}

Test(gemm_plan, one_plan_shared_by_threads) {
  const int64_t M = 16, N = 40, K = 256;
  mxbt_pair P;
  mxbt_pair_make(&P, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_SWIZZLED, M, N, K, 41, 0);
  const mxbt_operand A = P.A, B = P.B;
  mxb_context_t *ctx = cpu_ctx();
  mxb_gemm_desc_t d = mxbt_gemm_desc(MXB_GEMM_EXACT, MXB_DTYPE_FP32, 1.0f, 0.0f, 0);
  mxb_gemm_plan_t *p = make_plan(ctx, &d, &A.h, &B.h, NULL);
  size_t ws = 0;
  mxb_gemm_plan_workspace_size(p, &ws);
  const size_t cb = c_bytes(&d, M, N);
  float *ref = malloc(cb);
  void *w = malloc(ws);
  cr_assert_eq(mxb_gemm_plan_execute(p, &A.h, &B.h, ref, w, ws, NULL), MXB_SUCCESS);
  pthread_t th[4];
  plan_job jobs[4];
  for (int i = 0; i < 4; i++) {
    jobs[i] = (plan_job){p, &A.h, &B.h, malloc(cb), ws, MXB_ERR_INTERNAL};
    cr_assert_eq(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    cr_assert_eq(jobs[i].st, MXB_SUCCESS);
    cr_assert(memcmp(jobs[i].C, ref, cb) == 0, "thread %d differs", i);
    free(jobs[i].C);
  }
  mxb_gemm_plan_destroy(p);
  free(w);
  free(ref);
  mxb_context_destroy(ctx);
  mxbt_pair_free(&P);
}
