/* Grouped GEMM (docs/GEMM.md "Grouped GEMM"): each group's rows equal, bit
 * for bit, the dense exact GEMM of A with that group's expert; rows outside
 * every group (and beyond a masked count) are neither read into results nor
 * written; per-expert tensor scales; empty and one-row groups; bad offsets
 * reported through the status word; refusals. The CUDA cases give the CPU's
 * bits with the index and status word in device memory. */
#include <math.h>
#include <stdio.h>

#include "common/gemm_epilogue.h"
#include "cpu/decode.h"
#include "gemm_operands.h"

/* The fast grouped paths' names (mxb_context_last_impl). */
#define W4_GROUPED "cuda-fast-grouped-sm90-w4-bf16-wgmma"
#define MX_GROUPED "cuda-fast-grouped-sm90-mx-fp8-wgmma"
#define BF_GROUPED "cuda-fast-grouped-sm90-bf16-wgmma"

#ifdef MXB_WITH_CUDA
/* The sm_90a kernels run on compute capability 9.0 only. */
static int is_sm90(void) {
  int dev = 0;
  struct cudaDeviceProp prop;
  cr_assert_eq(cudaGetDevice(&dev), cudaSuccess);
  cr_assert_eq(cudaGetDeviceProperties(&prop, dev), cudaSuccess);
  return prop.major == 9 && prop.minor == 0;
}
/* A CUDA context and a CPU one (the reference). */
static void make_contexts(mxb_context_t **gpu, mxb_context_t **cpu) {
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, gpu), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, cpu), MXB_SUCCESS);
}
#endif

/* E experts [N, K] quantized one by one, stacked into one [E * N, K] tensor
 * (linear scales: the planes concatenate; per-tensor scales and NVFP4 amaxes
 * become one value per expert). */
typedef struct stack {
  mxb_tensor_t h;
  float *amax;  /* E values */
  size_t data_bytes, scale_bytes, aux_bytes;
  mxbt_operand *ex;  /* E experts */
} stack;

static void stack_make(stack *s, mxb_format_t f, int E, int64_t N, int64_t K, uint64_t seed) {
  memset(s, 0, sizeof(*s));
  s->ex = calloc((size_t)E, sizeof(*s->ex));
  s->amax = calloc((size_t)E, sizeof(float));
  for (int e = 0; e < E; e++) {
    float *x = mxbt_gemm_input(N, K, seed + 7 * (uint64_t)e, MXBT_IN_NORMAL, 0);
    mxbt_operand_make(&s->ex[e], f, MXB_SCALE_LAYOUT_LINEAR, N, K, x);
    free(x);
  }
  const mxb_tensor_sizes_t *z = &s->ex[0].s;
  s->data_bytes = z->data_bytes * E;
  s->scale_bytes = z->scale_bytes * E;
  s->aux_bytes = z->aux_bytes * E;
  cr_assert_eq(mxb_tensor_init(&s->h, f, E * N, K, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  s->h.data = malloc(s->data_bytes);
  s->h.scales = s->scale_bytes ? malloc(s->scale_bytes) : NULL;
  s->h.aux = s->aux_bytes ? malloc(s->aux_bytes) : NULL;
  s->h.amax = z->amax_bytes ? s->amax : NULL;
  for (int e = 0; e < E; e++) {
    memcpy((char *)s->h.data + e * z->data_bytes, s->ex[e].h.data, z->data_bytes);
    if (z->scale_bytes) memcpy((char *)s->h.scales + e * z->scale_bytes, s->ex[e].h.scales, z->scale_bytes);
    if (z->aux_bytes) memcpy((char *)s->h.aux + e * z->aux_bytes, s->ex[e].h.aux, z->aux_bytes);
    s->amax[e] = s->ex[e].amax;
  }
}

static void stack_free(stack *s, int E) {
  free(s->h.data);
  free(s->h.scales);
  free(s->h.aux);
  for (int e = 0; e < E; e++) mxbt_operand_free(&s->ex[e]);
  free(s->ex);
  free(s->amax);
}

static mxb_status_t run_dense(mxb_context_t *ctx, const mxb_gemm_desc_t *d, const mxb_tensor_t *A,
                              const mxb_tensor_t *B, void *C) {
  size_t ws = 0;
  mxb_status_t st = mxb_gemm_workspace_size(ctx, d, A, B, &ws);
  if (st != MXB_SUCCESS) return st;
  void *w = malloc(ws ? ws : 1);
  st = mxb_gemm(ctx, d, A, B, C, w, ws, NULL);
  free(w);
  return st;
}

static mxb_status_t run_grouped(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *g, const mxb_tensor_t *A,
                                const mxb_tensor_t *B, void *C) {
  size_t ws = 0;
  mxb_status_t st = mxb_grouped_gemm_workspace_size(ctx, g, A, B, &ws);
  if (st != MXB_SUCCESS) return st;
  void *w = malloc(ws ? ws : 1);
  st = mxb_grouped_gemm(ctx, g, A, B, C, w, ws, NULL);
  free(w);
  return st;
}

static const float SENTINEL = -12345.0f;

/* Rows of group e: [start[e], start[e] + rows[e]) of A and C. */
static void check_groups(mxb_context_t *ctx, const mxb_gemm_desc_t *d, const mxbt_operand *A, stack *B, int E,
                         int64_t N, const int64_t *start, const int64_t *rows, const float *C, const char *what) {
  const int64_t M = A->h.rows, ldc = d->ldc ? d->ldc : N;
  float *ref = malloc((size_t)(M * ldc) * sizeof(float));
  char *covered = calloc((size_t)M, 1);
  for (int e = 0; e < E; e++) {
    for (int64_t i = 0; i < M * ldc; i++) ref[i] = SENTINEL;
    for (int64_t r = start[e]; r < start[e] + rows[e]; r++)
      for (int64_t n = 0; n < N; n++) ref[r * ldc + n] = (float)(r % 7) - 3.0f;  /* C's input for beta */
    cr_assert_eq(run_dense(ctx, d, &A->h, &B->ex[e].h, ref), MXB_SUCCESS, "%s", mxb_last_error_detail());
    for (int64_t r = start[e]; r < start[e] + rows[e]; r++) {
      covered[r] = 1;
      for (int64_t n = 0; n < N; n++)
        cr_assert_eq(mxbt_f2u(C[r * ldc + n]), mxbt_f2u(ref[r * ldc + n]),
                     "%s: group %d row %lld col %lld: %a, dense %a", what, e, (long long)r, (long long)n,
                     C[r * ldc + n], ref[r * ldc + n]);
    }
  }
  for (int64_t r = 0; r < M; r++)
    for (int64_t n = 0; n < ldc; n++)
      if (!covered[r] || n >= N)
        cr_assert_eq(mxbt_f2u(C[r * ldc + n]), mxbt_f2u(r < M && n < N && covered[r] ? 0 : SENTINEL),
                     "%s: row %lld col %lld outside every group was written", what, (long long)r, (long long)n);
  free(ref);
  free(covered);
}

/* C's starting values: SENTINEL everywhere, the beta input inside groups. */
static float *c_init(int64_t M, int64_t ldc, int64_t N, const int64_t *start, const int64_t *rows, int E) {
  float *C = malloc((size_t)(M * ldc) * sizeof(float));
  for (int64_t i = 0; i < M * ldc; i++) C[i] = SENTINEL;
  for (int e = 0; e < E; e++)
    for (int64_t r = start[e]; r < start[e] + rows[e]; r++)
      for (int64_t n = 0; n < N; n++) C[r * ldc + n] = (float)(r % 7) - 3.0f;
  return C;
}

typedef struct gcase {
  mxb_format_t fa, fb;
  int E;
  int64_t N, K;
  int64_t sizes[8];  /* rows per group (contiguous) or counts (masked) */
} gcase;

/* Contiguous groups after `lead` rows no group owns, `tail` more at the end. */
static void run_contiguous(mxb_context_t *ctx, const gcase *c, float beta, int64_t ldc_pad, int bits) {
  const int64_t lead = 3, tail = 5;
  int64_t start[8], M = lead, off32[9];
  for (int e = 0; e < c->E; e++) {
    start[e] = M;
    M += c->sizes[e];
  }
  M += tail;
  for (int e = 0; e <= c->E; e++) off32[e] = e < c->E ? start[e] : start[c->E - 1] + c->sizes[c->E - 1];
  float *x = mxbt_gemm_input(M, c->K, 11, MXBT_IN_NORMAL, 0);
  for (int64_t k = 0; k < c->K; k++) x[k] = NAN; /* row 0 belongs to no group */
  mxbt_operand A;
  mxbt_operand_make(&A, c->fa, MXB_SCALE_LAYOUT_LINEAR, M, c->K, x);
  free(x);
  stack B;
  stack_make(&B, c->fb, c->E, c->N, c->K, 101);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.beta = beta;
  d.ldc = ldc_pad ? c->N + ldc_pad : 0;
  int32_t i32[9];
  for (int e = 0; e <= c->E; e++) i32[e] = (int32_t)off32[e];
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.gemm = &d;
  g.groups = c->E;
  g.index_bits = bits;
  g.index = bits == 64 ? (const void *)off32 : (const void *)i32;
  int32_t status = -1;
  g.status = &status;
  const int64_t ldc = d.ldc ? d.ldc : c->N;
  float *C = c_init(M, ldc, c->N, start, c->sizes, c->E);
  cr_assert_eq(run_grouped(ctx, &g, &A.h, &B.h, C), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(status, 0);
  char what[160];
  snprintf(what, sizeof what, "%s x %s contiguous E=%d beta=%g", mxbt_format_name(c->fa), mxbt_format_name(c->fb),
           c->E, beta);
  check_groups(ctx, &d, &A, &B, c->E, c->N, start, c->sizes, C, what);
  free(C);
  stack_free(&B, c->E);
  mxbt_operand_free(&A);
}

static const gcase k_cases[] = {
    {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 4, 48, 96, {17, 0, 1, 40}},          /* per-expert amax, an empty group */
    {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 3, 40, 64, {5, 33, 16}},
    {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, 2, 24, 64, {1, 20}},             /* W4A8 */
    {MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E4M3_TENSOR, 3, 16, 48, {9, 9, 2}}, /* per-expert FP8 scales */
    {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128, 2, 128, 256, {70, 3}}, /* 2-D weight blocks */
    {MXB_FORMAT_BF16, MXB_FORMAT_BF16, 2, 20, 40, {0, 30}},
};

Test(grouped_gemm, contiguous_groups_equal_the_dense_gemm_of_each_expert) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
    run_contiguous(ctx, &k_cases[i], 0.0f, 0, 32);
    run_contiguous(ctx, &k_cases[i], 0.5f, 3, 64);
  }
  mxb_context_destroy(ctx);
}

/* Rows of expert e among E = 256 (the largest MoE layers): a Zipf-like fall
 * from 40 rows, most experts empty, a few single rows far down the list. */
static int64_t e256_rows(int e) { return e < 40 ? 40 / (1 + e) : e % 37 == 5; }

/* E = 256 experts: each group equals the dense GEMM of its expert (NVFP4,
 * one amax an expert), rows outside every group untouched. */
Test(grouped_gemm, e256_experts_equal_the_dense_gemm_of_each) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  const int E = 256;
  const int64_t N = 16, K = 64;
  int64_t *start = malloc(E * sizeof(int64_t)), *rows = malloc(E * sizeof(int64_t)), M = 2;
  int32_t *off = malloc((E + 1) * sizeof(int32_t));
  for (int e = 0; e < E; e++) {
    start[e] = M;
    rows[e] = e256_rows(e);
    off[e] = (int32_t)M;
    M += rows[e];
  }
  off[E] = (int32_t)M;
  M += 3;
  float *x = mxbt_gemm_input(M, K, 5, MXBT_IN_NORMAL, 0);
  mxbt_operand A;
  mxbt_operand_make(&A, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, M, K, x);
  free(x);
  stack B;
  stack_make(&B, MXB_FORMAT_NVFP4, E, N, K, 301);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.beta = 0.5f;
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.gemm = &d;
  g.groups = E;
  g.index = off;
  int32_t status = -1;
  g.status = &status;
  float *C = c_init(M, N, N, start, rows, E);
  cr_assert_eq(run_grouped(ctx, &g, &A.h, &B.h, C), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(status, 0);
  check_groups(ctx, &d, &A, &B, E, N, start, rows, C, "NVFP4 x NVFP4 contiguous E=256");
  free(C);
  stack_free(&B, E);
  mxbt_operand_free(&A);
  free(start);
  free(rows);
  free(off);
  mxb_context_destroy(ctx);
}

/* The CPU tests' common start: a CPU context, A [M, K] in MXFP8 E4M3 with
 * linear scales from x (freed here), and E stacked MXFP8 E4M3 experts
 * [N, K] from seed; mx_case_end undoes it. */
static mxb_context_t *mx_case(mxbt_operand *A, stack *B, float *x, int64_t M, int E, int64_t N, int64_t K,
                              uint64_t seed) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxbt_operand_make(A, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_LINEAR, M, K, x);
  free(x);
  stack_make(B, MXB_FORMAT_MXFP8_E4M3, E, N, K, seed);
  return ctx;
}
static void mx_case_end(mxb_context_t *ctx, mxbt_operand *A, stack *B, int E) {
  stack_free(B, E);
  mxbt_operand_free(A);
  mxb_context_destroy(ctx);
}

/* The descriptor's epilogue applies to every group, with expert e's bias
 * at bias + e * N: each group equals the dense GEMM of its expert with that
 * bias and the same activation. */
Test(grouped_gemm, epilogue_takes_each_experts_bias) {
  const int E = 3;
  const int64_t N = 24, K = 64, M = 30;
  const int32_t off[4] = {0, 11, 11, 30};
  float *x = mxbt_gemm_input(M, K, 77, MXBT_IN_NORMAL, 0);
  mxbt_operand A;
  stack B;
  mxb_context_t *ctx = mx_case(&A, &B, x, M, E, N, K, 78);
  float bias[3 * 24];
  for (int i = 0; i < E * N; i++) bias[i] = (float)(i % 13) - 6.0f;
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.bias = bias;
  d.activation = MXB_ACT_SILU;
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.gemm = &d;
  g.groups = E;
  g.index = off;
  float C[30 * 24], R[30 * 24];
  cr_assert_eq(run_grouped(ctx, &g, &A.h, &B.h, C), MXB_SUCCESS, "%s", mxb_last_error_detail());
  for (int e = 0; e < E; e++) {
    mxb_gemm_desc_t de = d;
    de.bias = bias + e * N;
    cr_assert_eq(run_dense(ctx, &de, &A.h, &B.ex[e].h, R), MXB_SUCCESS, "%s", mxb_last_error_detail());
    for (int64_t r = off[e]; r < off[e + 1]; r++)
      for (int64_t n = 0; n < N; n++)
        cr_assert_eq(mxbt_f2u(C[r * N + n]), mxbt_f2u(R[r * N + n]), "group %d row %lld col %lld", e, (long long)r,
                     (long long)n);
  }
  mx_case_end(ctx, &A, &B, E);
}

/* Masked: group e owns rows [e * max_m, e * max_m + count); NaN rows beyond
 * the counts never reach a result and are not written. */
Test(grouped_gemm, masked_counts_leave_padding_rows_alone) {
  const int E = 4;
  const int64_t max_m = 6, N = 32, K = 64, M = E * max_m;
  const int64_t counts[4] = {6, 0, 1, 4};
  int64_t start[4];
  float *x = mxbt_gemm_input(M, K, 5, MXBT_IN_NORMAL, 0);
  for (int e = 0; e < E; e++) {
    start[e] = e * max_m;
    for (int64_t r = start[e] + counts[e]; r < start[e] + max_m; r++)
      for (int64_t k = 0; k < K; k++) x[r * K + k] = NAN;
  }
  mxbt_operand A;
  stack B;
  mxb_context_t *ctx = mx_case(&A, &B, x, M, E, N, K, 9);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  const int32_t idx[4] = {6, 0, 1, 4};
  int32_t status = -1;
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.gemm = &d;
  g.layout = MXB_GROUPED_M_MASKED;
  g.groups = E;
  g.index = idx;
  g.status = &status;
  float *C = c_init(M, N, N, start, counts, E);
  cr_assert_eq(run_grouped(ctx, &g, &A.h, &B.h, C), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(status, 0);
  check_groups(ctx, &d, &A, &B, E, N, start, counts, C, "masked");
  free(C);
  mx_case_end(ctx, &A, &B, E);
}

/* A group is valid when it starts at or after the end of every earlier valid
 * group and ends within A: offsets that run backwards, overlap or pass M are
 * reported (the status word names the first bad group), those groups' rows
 * stay untouched and the other groups are computed. */
Test(grouped_gemm, bad_offsets_are_reported_and_skipped) {
  const int E = 3;
  const int64_t M = 20, N = 16, K = 32;
  float *x = mxbt_gemm_input(M, K, 3, MXBT_IN_NORMAL, 0);
  mxbt_operand A;
  stack B;
  mxb_context_t *ctx = mx_case(&A, &B, x, M, E, N, K, 4);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  const struct { int32_t off[4]; int32_t want; } cases[] = {
      {{0, 8, 4, 20}, 2},   /* group 1 runs backwards, group 2 overlaps group 0 */
      {{0, 8, 8, 20}, 0},   /* an empty group is fine */
      {{0, 8, 12, 21}, 3},  /* group 2 ends past M */
      {{-1, 8, 12, 20}, 1}, /* group 0 starts before row 0 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int32_t status = -1;
    mxb_grouped_gemm_desc_t g;
    mxb_grouped_gemm_desc_init(&g);
    g.gemm = &d;
    g.groups = E;
    g.index = cases[i].off;
    g.status = &status;
    float *C = malloc((size_t)(M * N) * sizeof(float));
    for (int64_t j = 0; j < M * N; j++) C[j] = SENTINEL;
    cr_assert_eq(run_grouped(ctx, &g, &A.h, &B.h, C), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert_eq(status, cases[i].want, "case %zu: status %d", i, status);
    /* the valid groups, each against its expert */
    int64_t start[3], rows[3], end = 0;
    int ok = 0;
    stack B2 = B;
    mxbt_operand valid_ex[3];
    B2.ex = valid_ex;  /* the valid groups' experts, in order */
    for (int e = 0; e < E; e++) {
      const int64_t s0 = cases[i].off[e], n = cases[i].off[e + 1] - s0;
      if (s0 < end || n < 0 || s0 + n > M) continue;
      end = s0 + n;
      start[ok] = s0;
      rows[ok] = n;
      B2.ex[ok++] = B.ex[e];
    }
    /* rows of the bad group that no valid group covers stay SENTINEL (checked by check_groups) */
    check_groups(ctx, &d, &A, &B2, ok, N, start, rows, C, "bad offsets");
    free(C);
  }
  mx_case_end(ctx, &A, &B, E);
}

/* ---- K split (weight gradients) -------------------------------------- */
/* A copy of q whose element codes outside the columns [k0, k1) are zero
 * codes (+0 for every format here), scales kept: its dense exact product is
 * what the K-grouped layout defines for that group. */
static void keep_columns(mxbt_operand *dst, const mxbt_operand *q, int64_t k0, int64_t k1) {
  *dst = *q;
  mxb_format_info_t info = {.struct_size = sizeof(info)};
  cr_assert_eq(mxb_format_info(q->h.format, &info), MXB_SUCCESS);
  cr_assert(info.elem_bits == 4 || info.elem_bits == 8 || info.elem_bits == 16);
  dst->h.data = malloc(q->s.data_bytes);
  memcpy(dst->h.data, q->h.data, q->s.data_bytes);
  dst->h.scales = q->s.scale_bytes ? malloc(q->s.scale_bytes) : NULL;
  if (q->s.scale_bytes) memcpy(dst->h.scales, q->h.scales, q->s.scale_bytes);
  dst->h.aux = NULL;
  dst->h.amax = q->h.amax ? &dst->amax : NULL;
  const size_t row_bytes = q->s.data_bytes / (size_t)q->h.rows;
  uint8_t *d = dst->h.data;
  for (int64_t r = 0; r < q->h.rows; r++)
    for (int64_t k = 0; k < q->h.cols; k++) {
      if (k >= k0 && k < k1) continue;
      uint8_t *row = d + (size_t)r * row_bytes;
      if (info.elem_bits == 4) row[k / 2] &= k % 2 ? 0x0F : 0xF0; /* low nibble first */
      else memset(row + (size_t)k * (size_t)(info.elem_bits / 8), 0, (size_t)(info.elem_bits / 8));
    }
}

/* dW_e = dY_e^T X_e: A [M, K] and B [N, K] share the K split; each group's
 * [M, N] result (rows e * M of C) is, bit for bit, the dense exact product
 * of A and B with the other columns' codes zeroed: offsets inside a scale
 * block, an empty group, a K tail, beta and ldc; one group over all of K is
 * the dense product itself. */
Test(grouped_gemm, k_groups_equal_the_dense_gemm_of_their_columns) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  static const struct {
    mxb_format_t fa, fb;
    int64_t K;
  } cases[] = {{MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 200},
               {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 200},
               {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, 192},
               {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128, 300},
               {MXB_FORMAT_BF16, MXB_FORMAT_BF16, 90}};
  const int64_t M = 24, N = 40, ldc = N + 3;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const int64_t K = cases[c].K;
    mxbt_pair p;
    mxbt_pair_make(&p, cases[c].fa, cases[c].fb, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 31 + c, 0);
    for (int split = 0; split < 2; split++) {
      /* split 1: unaligned boundaries (37), an empty group, a tail group */
      const int E = split ? 4 : 1;
      const int64_t off[5] = {0, split ? 37 : K, 37, K * 2 / 3, K};
      mxb_gemm_desc_t d;
      mxb_gemm_desc_init(&d);
      d.beta = 0.5f;
      d.ldc = ldc;
      mxb_grouped_gemm_desc_t g;
      mxb_grouped_gemm_desc_init(&g);
      g.gemm = &d;
      g.layout = MXB_GROUPED_K_CONTIGUOUS;
      g.groups = E;
      g.index_bits = 64;
      g.index = off;
      int32_t status = -1;
      g.status = &status;
      float *C = malloc((size_t)(E * M * ldc) * sizeof(float)), *ref = malloc((size_t)(M * ldc) * sizeof(float));
      for (int64_t i = 0; i < E * M * ldc; i++) C[i] = (float)(i % 5) - 2.0f;
      cr_assert_eq(run_grouped(ctx, &g, &p.A.h, &p.B.h, C), MXB_SUCCESS, "%s", mxb_last_error_detail());
      cr_assert_eq(status, 0, "%s x %s split %d: status %d", mxbt_format_name(cases[c].fa),
                   mxbt_format_name(cases[c].fb), split, status);
      for (int e = 0; e < E; e++) {
        mxbt_operand a, b;
        keep_columns(&a, &p.A, off[e], off[e + 1]);
        keep_columns(&b, &p.B, off[e], off[e + 1]);
        for (int64_t i = 0; i < M * ldc; i++) ref[i] = (float)((e * M * ldc + i) % 5) - 2.0f;
        cr_assert_eq(run_dense(ctx, &d, split ? &a.h : &p.A.h, split ? &b.h : &p.B.h, ref), MXB_SUCCESS, "%s",
                     mxb_last_error_detail());
        for (int64_t i = 0; i < M * ldc; i++)
          cr_assert_eq(mxbt_f2u(C[e * M * ldc + i]), mxbt_f2u(ref[i]), "%s x %s group %d [%lld, %lld) at %lld: %a, dense %a",
                       mxbt_format_name(cases[c].fa), mxbt_format_name(cases[c].fb), e, (long long)off[e],
                       (long long)off[e + 1], (long long)i, C[e * M * ldc + i], ref[i]);
        free(a.h.data);
        free(a.h.scales);
        free(b.h.data);
        free(b.h.scales);
      }
      free(C);
      free(ref);
    }
    mxbt_pair_free(&p);
  }
  mxb_context_destroy(ctx);
}

/* Offsets that go back or past K: those groups are reported and left
 * unwritten, the others computed. */
Test(grouped_gemm, k_groups_with_bad_offsets_are_reported_and_skipped) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  const int64_t M = 8, N = 16, K = 96;
  mxbt_pair p;
  mxbt_pair_make(&p, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 77, 0);
  /* group 1 goes back, group 2 overlaps group 0, group 3 ends past K */
  const int32_t off[5] = {0, 50, 40, 96, 97};
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.layout = MXB_GROUPED_K_CONTIGUOUS;
  g.groups = 4;
  g.index = off;
  int32_t status = -1;
  g.status = &status;
  float *C = malloc((size_t)(4 * M * N) * sizeof(float));
  for (int64_t i = 0; i < 4 * M * N; i++) C[i] = SENTINEL;
  cr_assert_eq(run_grouped(ctx, &g, &p.A.h, &p.B.h, C), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(status, 2, "status %d: the first bad group is 1", status);
  for (int64_t i = 0; i < M * N; i++) cr_assert_neq(mxbt_f2u(C[i]), mxbt_f2u(SENTINEL), "group 0 was not written");
  for (int64_t i = M * N; i < 4 * M * N; i++)
    cr_assert_eq(mxbt_f2u(C[i]), mxbt_f2u(SENTINEL), "a bad or overlapping group was written at %lld", (long long)i);
  free(C);
  mxbt_pair_free(&p);
  mxb_context_destroy(ctx);
}

Test(grouped_gemm, bad_arguments_are_refused) {
  float *x = mxbt_gemm_input(8, 32, 1, MXBT_IN_NORMAL, 0);
  mxbt_operand A;
  stack B;
  mxb_context_t *ctx = mx_case(&A, &B, x, 8, 2, 16, 32, 2);
  const int32_t off[3] = {0, 4, 8};
  size_t ws;
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.groups = 2;
  g.index = off;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &g, &A.h, &B.h, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxb_grouped_gemm_desc_t bad = g;
  bad.groups = 0;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &bad, &A.h, &B.h, &ws), MXB_ERR_INVALID_ARGUMENT);
  bad = g;
  bad.groups = 3; /* 32 rows of B are not 3 experts */
  cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &bad, &A.h, &B.h, &ws), MXB_ERR_BAD_SHAPE);
  bad = g;
  bad.index = NULL;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &bad, &A.h, &B.h, &ws), MXB_ERR_INVALID_ARGUMENT);
  bad = g;
  bad.index_bits = 16;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &bad, &A.h, &B.h, &ws), MXB_ERR_INVALID_ARGUMENT);
  bad = g;
  bad.index = (const char *)off + 2;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &bad, &A.h, &B.h, &ws), MXB_ERR_BAD_ALIGNMENT);
  bad = g;
  bad.layout = (mxb_grouped_layout_t)7;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &bad, &A.h, &B.h, &ws), MXB_ERR_INVALID_ARGUMENT);
  bad = g;
  bad.layout = MXB_GROUPED_M_MASKED;
  bad.groups = 2;
  mxb_tensor_t A7 = A.h;
  A7.rows = 7; /* not E * max_m */
  cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &bad, &A7, &B.h, &ws), MXB_ERR_BAD_SHAPE);
  bad = g;
  bad.struct_size = 8;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &bad, &A.h, &B.h, &ws), MXB_ERR_INVALID_ARGUMENT);
  /* nothing written on a refusal */
  float C[8 * 16];
  for (int i = 0; i < 8 * 16; i++) C[i] = SENTINEL;
  void *w = malloc(ws);
  bad = g;
  bad.groups = 3;
  cr_assert_neq(mxb_grouped_gemm(ctx, &bad, &A.h, &B.h, C, w, ws, NULL), MXB_SUCCESS);
  cr_assert_neq(mxb_grouped_gemm(ctx, &g, &A.h, &B.h, C, w, 0, NULL), MXB_SUCCESS); /* short workspace */
  for (int i = 0; i < 8 * 16; i++) cr_assert_eq(mxbt_f2u(C[i]), mxbt_f2u(SENTINEL));
  free(w);
  mx_case_end(ctx, &A, &B, 2);
}

/* ------------------------------------------------------------------ CUDA */
#ifdef MXB_WITH_CUDA
/* The stack's planes on the device. */
static mxb_tensor_t stack_upload(const stack *s, int E) {
  mxb_tensor_t d = s->h;
  d.data = mxbt_dev_from_host(s->h.data, s->data_bytes);
  d.scales = s->scale_bytes ? mxbt_dev_from_host(s->h.scales, s->scale_bytes) : NULL;
  d.aux = s->aux_bytes ? mxbt_dev_from_host(s->h.aux, s->aux_bytes) : NULL;
  d.amax = s->h.amax ? (float *)mxbt_dev_from_host(s->amax, (size_t)E * 4) : NULL;
  return d;
}
static void stack_dev_free(mxb_tensor_t *d) {
  mxbt_dev_free(d->data);
  if (d->scales) mxbt_dev_free(d->scales);
  if (d->aux) mxbt_dev_free(d->aux);
  if (d->amax) mxbt_dev_free(d->amax);
}

/* Grouped on the CPU and on the GPU (index and status word in device memory):
 * the same bits, the same status, in both modes. */
static void cuda_vs_cpu(mxb_context_t *gpu, mxb_context_t *cpu, const gcase *c, mxb_grouped_layout_t layout,
                        mxb_gemm_mode_t mode, const int32_t *index, int64_t M, int32_t want_status,
                        mxb_activation_t act) {
  /* with an activation, each expert's bias and the pre-activations (aux, ld_aux N + 1) too; a
   * gated one makes C [M, N/2] and takes beta 0 */
  const int64_t W = mxb_gemm_gate_act(act) ? c->N / 2 : c->N, la = c->N + 1;
  float *x = mxbt_gemm_input(M, c->K, 21, MXBT_IN_NORMAL, 0);
  for (int64_t k = 0; k < c->K; k++) x[(M - 1) * c->K + k] = NAN;  /* the last row: padding in every case here */
  mxbt_operand A;
  mxbt_operand_make(&A, c->fa, MXB_SCALE_LAYOUT_LINEAR, M, c->K, x);
  mxbt_operand_upload(&A);
  free(x);
  stack B;
  stack_make(&B, c->fb, c->E, c->N, c->K, 33);
  mxb_tensor_t Bd = stack_upload(&B, c->E);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.mode = mode;
  d.beta = W < c->N ? 0.0f : 0.25f;
  d.activation = act;
  float *bias = act == MXB_ACT_NONE ? NULL : malloc((size_t)(c->E * c->N) * 4);
  uint64_t bs = 9;
  for (int64_t i = 0; bias && i < c->E * c->N; i++) bias[i] = mxbt_normal(&bs);
  d.bias = bias;
  const size_t ab = bias ? (size_t)(M * la) * 4 : 0;
  float *auxh = bias ? malloc(ab) : NULL, *auxg = bias ? malloc(ab) : NULL;
  for (int64_t i = 0; auxh && i < M * la; i++) auxh[i] = auxg[i] = (float)(i % 3) - 7.0f;
  d.aux = auxh;
  d.ld_aux = bias ? la : 0;
  const int nidx = layout == MXB_GROUPED_M_MASKED ? c->E : c->E + 1;
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.gemm = &d;
  g.layout = layout;
  g.groups = c->E;
  g.index = index;
  int32_t hstatus = -1;
  g.status = &hstatus;
  const size_t cb = (size_t)(M * W) * 4;
  float *Ch = malloc(cb), *Cg = malloc(cb);
  for (int64_t i = 0; i < M * W; i++) Ch[i] = (float)(i % 5) - 2.0f;
  cr_assert_eq(run_grouped(cpu, &g, &A.h, &B.h, Ch), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(hstatus, want_status);
  for (int64_t i = 0; i < M * W; i++) Cg[i] = (float)(i % 5) - 2.0f;
  void *Cd = mxbt_dev_from_host(Cg, cb), *bias_d = bias ? mxbt_dev_from_host(bias, (size_t)(c->E * c->N) * 4) : NULL;
  d.bias = bias_d;
  void *aux_d = auxg ? mxbt_dev_from_host(auxg, ab) : NULL;
  d.aux = aux_d;
  int32_t *idx_d = mxbt_dev_from_host(index, (size_t)nidx * 4), *st_d = mxbt_dev_alloc(4);
  cr_assert_eq(cudaMemset(st_d, 0xFF, 4), cudaSuccess);
  g.index = idx_d;
  g.status = st_d;
  size_t ws = 0;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(gpu, &g, &A.d, &Bd, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = mxbt_dev_alloc(ws);
  cr_assert_eq(mxb_grouped_gemm(gpu, &g, &A.d, &Bd, Cd, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxbt_dev_sync();
  int32_t dstatus;
  mxbt_to_host(&dstatus, st_d, 4);
  mxbt_to_host(Cg, Cd, cb);
  cr_assert_eq(dstatus, want_status);
  /* Fast mode where a fast grouped kernel takes the pair: within the bound,
   * which the fast_* tests check; the exact kernels give the CPU's bits. */
  const int exact_path = strncmp(mxb_context_last_impl(gpu), "cuda-exact", 10) == 0;
  cr_assert(mode == MXB_GEMM_FAST || exact_path, "exact mode ran %s", mxb_context_last_impl(gpu));
  for (int64_t i = 0; exact_path && i < M * W; i++)
    cr_assert_eq(mxbt_f2u(Cg[i]), mxbt_f2u(Ch[i]), "%s x %s layout %d mode %d act %d: C[%lld] GPU %a CPU %a",
                 mxbt_format_name(c->fa), mxbt_format_name(c->fb), (int)layout, (int)mode, (int)act, (long long)i,
                 Cg[i], Ch[i]);
  if (aux_d) mxbt_to_host(auxg, aux_d, ab);
  for (int64_t i = 0; exact_path && auxg && i < M * la; i++)
    cr_assert_eq(mxbt_f2u(auxg[i]), mxbt_f2u(auxh[i]), "%s x %s layout %d act %d: aux[%lld] GPU %a CPU %a",
                 mxbt_format_name(c->fa), mxbt_format_name(c->fb), (int)layout, (int)act, (long long)i, auxg[i],
                 auxh[i]);
  mxbt_dev_free(w);
  mxbt_dev_free(Cd);
  mxbt_dev_free(bias_d);
  mxbt_dev_free(aux_d);
  free(bias);
  free(auxh);
  free(auxg);
  mxbt_dev_free(idx_d);
  mxbt_dev_free(st_d);
  free(Ch);
  free(Cg);
  stack_dev_free(&Bd);
  stack_free(&B, c->E);
  mxbt_operand_free(&A);
}
#endif

#ifdef MXB_WITH_CUDA
/* K split on both backends (offsets and status word in device memory): the
 * same bits in every stacked result, bias and beta included, the same
 * status, bad groups untouched. */
static void k_cuda_vs_cpu(mxb_context_t *gpu, mxb_context_t *cpu, mxb_format_t fa, mxb_format_t fb, int64_t M,
                          int64_t N, int64_t K, int E, const int64_t *off, int32_t want_status) {
  mxbt_pair p;
  mxbt_pair_make(&p, fa, fb, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 91 + (uint64_t)K, 1);
  const int64_t ldc = N + 3;
  float *bias = malloc((size_t)(E * N) * 4);
  for (int64_t i = 0; i < E * N; i++) bias[i] = (float)(i % 7) * 0.25f - 0.5f;
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.beta = 0.5f;
  d.ldc = ldc;
  d.bias = bias;
  d.bias_type = MXB_DTYPE_FP32;
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.gemm = &d;
  g.layout = MXB_GROUPED_K_CONTIGUOUS;
  g.groups = E;
  g.index_bits = 64;
  g.index = off;
  int32_t hstatus = -1;
  g.status = &hstatus;
  const size_t cb = (size_t)(E * M * ldc) * 4;
  float *Ch = malloc(cb), *Cg = malloc(cb);
  for (int64_t i = 0; i < E * M * ldc; i++) Ch[i] = (float)(i % 5) - 2.0f;
  memcpy(Cg, Ch, cb);
  cr_assert_eq(run_grouped(cpu, &g, &p.A.h, &p.B.h, Ch), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(hstatus, want_status);
  void *Cd = mxbt_dev_from_host(Cg, cb), *bias_d = mxbt_dev_from_host(bias, (size_t)(E * N) * 4);
  int64_t *idx_d = mxbt_dev_from_host(off, (size_t)(E + 1) * 8);
  int32_t *st_d = mxbt_dev_alloc(4);
  d.bias = bias_d;
  g.index = idx_d;
  g.status = st_d;
  size_t ws = 0;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(gpu, &g, &p.A.d, &p.B.d, &ws), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  void *w = mxbt_dev_alloc(ws);
  cr_assert_eq(mxb_grouped_gemm(gpu, &g, &p.A.d, &p.B.d, Cd, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_expect_str_eq(mxb_context_last_impl(gpu), "cuda-exact-grouped-k-generic");
  mxbt_dev_sync();
  int32_t dstatus;
  mxbt_to_host(&dstatus, st_d, 4);
  mxbt_to_host(Cg, Cd, cb);
  cr_assert_eq(dstatus, want_status);
  for (int64_t i = 0; i < E * M * ldc; i++)
    cr_assert_eq(mxbt_f2u(Cg[i]), mxbt_f2u(Ch[i]), "%s x %s K split: C[%lld] GPU %a CPU %a", mxbt_format_name(fa),
                 mxbt_format_name(fb), (long long)i, Cg[i], Ch[i]);
  mxbt_dev_free(w);
  mxbt_dev_free(Cd);
  mxbt_dev_free(bias_d);
  mxbt_dev_free(idx_d);
  mxbt_dev_free(st_d);
  free(Ch);
  free(Cg);
  free(bias);
  mxbt_pair_free(&p);
}
#endif

Test(grouped_gemm_cuda, device_index_gives_the_cpu_bits) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *gpu, *cpu;
  make_contexts(&gpu, &cpu);
  for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; i++) {
    const gcase *c = &k_cases[i];
    int32_t off[9] = {2};
    for (int e = 0; e < c->E; e++) off[e + 1] = off[e] + (int32_t)c->sizes[e];
    const int64_t M = off[c->E] + 3;
    for (int mode = 0; mode < 2; mode++)
      cuda_vs_cpu(gpu, cpu, c, MXB_GROUPED_M_CONTIGUOUS, (mxb_gemm_mode_t)mode, off, M, 0, MXB_ACT_NONE);
  }
  /* masked, and bad offsets */
  const gcase m = {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 3, 32, 64, {0}};
  const int32_t counts[3] = {7, 0, 3};
  cuda_vs_cpu(gpu, cpu, &m, MXB_GROUPED_M_MASKED, MXB_GEMM_EXACT, counts, 3 * 8, 0, MXB_ACT_NONE);
  /* gated activations on the exact kernel (its product, then the epilogue step), with each expert's bias
   * and the pre-activations; a plain one with aux */
  const mxb_activation_t gates[] = {MXB_ACT_SWIGLU, MXB_ACT_GEGLU_ERF, MXB_ACT_GEGLU_TANH};
  for (int a = 0; a < 3; a++) {
    cuda_vs_cpu(gpu, cpu, &m, MXB_GROUPED_M_MASKED, MXB_GEMM_EXACT, counts, 3 * 8, 0, gates[a]);
    const gcase *c = &k_cases[a % (sizeof k_cases / sizeof k_cases[0])];
    int32_t off[9] = {1};
    for (int e = 0; e < c->E; e++) off[e + 1] = off[e] + (int32_t)c->sizes[e];
    cuda_vs_cpu(gpu, cpu, c, MXB_GROUPED_M_CONTIGUOUS, MXB_GEMM_EXACT, off, off[c->E] + 2, 0, gates[a]);
  }
  cuda_vs_cpu(gpu, cpu, &m, MXB_GROUPED_M_MASKED, MXB_GEMM_EXACT, counts, 3 * 8, 0, MXB_ACT_RELU2);
  const int32_t bad_counts[3] = {7, 9, 3};
  cuda_vs_cpu(gpu, cpu, &m, MXB_GROUPED_M_MASKED, MXB_GEMM_EXACT, bad_counts, 3 * 8, 2, MXB_ACT_NONE);
  const int32_t bad_off[4] = {0, 10, 4, 30};
  cuda_vs_cpu(gpu, cpu, &m, MXB_GROUPED_M_CONTIGUOUS, MXB_GEMM_EXACT, bad_off, 31, 2, MXB_ACT_NONE);
  /* the K split (weight gradients): unaligned boundaries, an empty group, a
   * tail group, bias, beta, ldc > N; bad offsets reported and skipped */
  static const struct {
    mxb_format_t fa, fb;
    int64_t K;
  } kc[] = {{MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 200}, {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, 192},
            {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128, 300}, {MXB_FORMAT_BF16, MXB_FORMAT_BF16, 90}};
  for (size_t i = 0; i < sizeof kc / sizeof kc[0]; i++) {
    const int64_t K = kc[i].K, off[5] = {0, 37, 37, K * 2 / 3, K};
    k_cuda_vs_cpu(gpu, cpu, kc[i].fa, kc[i].fb, 24, 40, K, 4, off, 0);
  }
  const int64_t bad_k[5] = {0, 50, 40, 96, 97}; /* back, overlapping, past K */
  k_cuda_vs_cpu(gpu, cpu, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 8, 16, 96, 4, bad_k, 2);
  mxb_context_destroy(cpu);
  mxb_context_destroy(gpu);
#endif
}

#ifdef MXB_WITH_CUDA
/* C element i of type t widened to fp32, and an fp32 value stored as t. */
static float c_get(mxb_dtype_t t, const void *C, int64_t i) {
  if (t == MXB_DTYPE_FP32) return ((const float *)C)[i];
  const uint16_t h = ((const uint16_t *)C)[i];
  return t == MXB_DTYPE_BF16 ? mxb_bf16_decode(h) : mxb_fp16_decode(h);
}
static void c_put(mxb_dtype_t t, void *C, int64_t i, float v) {
  if (t == MXB_DTYPE_FP32) ((uint32_t *)C)[i] = mxb_gemm_out_f32(v);
  else ((uint16_t *)C)[i] = t == MXB_DTYPE_BF16 ? mxb_gemm_out_bf16(v) : mxb_gemm_out_fp16(v);
}

/* A grouped fast call with a bias (E x N, bias_type), an activation and C
 * of type ct runs the fast kernel `impl` and then the epilogue step over the
 * groups' rows: its bytes are those of the same kernel's plain fp32 result
 * finished on the host by the library's own epilogue functions (combine
 * with beta C where C is not fp32, the expert's bias, the activation,
 * rounding to ct; a gated activation: C [M, N/2] from gate column j and
 * value column N/2 + j, beta 0); rows no group owns keep their bytes. */
static void epilogue_case(mxb_context_t *gpu, const gcase *c, mxb_grouped_layout_t layout, mxb_activation_t act,
                          mxb_dtype_t ct, mxb_dtype_t bias_type, const char *impl) {
  const int E = c->E, masked = layout == MXB_GROUPED_M_MASKED;
  int64_t start[8], M = 3, max_m = 0;
  int32_t index[9];
  for (int e = 0; e < E; e++) max_m = c->sizes[e] > max_m ? c->sizes[e] : max_m;
  max_m += 2;
  for (int e = 0; e < E; e++) {
    start[e] = masked ? e * max_m : M;
    index[e] = (int32_t)(masked ? c->sizes[e] : start[e]);
    if (!masked) M += c->sizes[e];
  }
  if (masked) M = E * max_m;
  else index[E] = (int32_t)M, M += 4;
  float *x = mxbt_gemm_input(M, c->K, 5 + (uint64_t)M, MXBT_IN_NORMAL, 0);
  mxbt_operand A;
  mxbt_operand_make(&A, c->fa, MXB_SCALE_LAYOUT_LINEAR, M, c->K, x);
  mxbt_operand_upload(&A);
  free(x);
  stack B;
  stack_make(&B, c->fb, E, c->N, c->K, 71);
  mxb_tensor_t Bd = stack_upload(&B, E);
  const int64_t N = c->N, bsz = mxb_dtype_size(bias_type), es = mxb_dtype_size(ct);
  const int gated = mxb_gemm_gate_act(act) != 0;
  const int64_t W = gated ? N / 2 : N; /* C's columns */
  unsigned char *bias = malloc((size_t)(E * N * bsz)), *Cin = malloc((size_t)(M * W * es)), *Cg = malloc((size_t)(M * W * es));
  uint64_t seed = 3;
  for (int64_t i = 0; i < E * N; i++) c_put(bias_type, bias, i, 4.0f * mxbt_normal(&seed));
  for (int64_t i = 0; i < M * W; i++) c_put(ct, Cin, i, (float)(i % 9) - 4.0f);
  float *Tin = malloc((size_t)(M * N) * 4), *T = malloc((size_t)(M * N) * 4);
  for (int64_t i = 0; i < M * N; i++) Tin[i] = gated ? (float)(i % 7) : c_get(ct, Cin, i);
  int32_t *idx_d = mxbt_dev_from_host(index, sizeof index);
  void *bias_d = mxbt_dev_from_host(bias, (size_t)(E * N * bsz));
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.mode = MXB_GEMM_FAST;
  d.alpha = 1.25f;
  d.beta = gated ? 0.0f : 0.5f;
  d.c_type = ct;
  d.bias = bias_d;
  d.bias_type = bias_type;
  d.activation = act;
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.gemm = &d;
  g.layout = layout;
  g.groups = E;
  g.index = idx_d;
  /* the plain fp32 product: beta C in it where C is fp32 (the step's in-place case) */
  mxb_gemm_desc_t dp = d;
  dp.c_type = MXB_DTYPE_FP32;
  dp.bias = NULL;
  dp.activation = MXB_ACT_NONE;
  dp.beta = ct == MXB_DTYPE_FP32 ? d.beta : 0.0f;
  mxb_grouped_gemm_desc_t gp = g;
  gp.gemm = &dp;
  size_t ws = 0, wsp = 0;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(gpu, &g, &A.d, &Bd, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(mxb_grouped_gemm_workspace_size(gpu, &gp, &A.d, &Bd, &wsp), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = mxbt_dev_alloc(ws > wsp ? ws : wsp), *Cd = mxbt_dev_from_host(Cin, (size_t)(M * W * es)),
       *Td = mxbt_dev_from_host(Tin, (size_t)(M * N) * 4);
  cr_assert_eq(mxb_grouped_gemm(gpu, &g, &A.d, &Bd, Cd, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_expect_str_eq(mxb_context_last_impl(gpu), impl);
  cr_assert_eq(mxb_grouped_gemm(gpu, &gp, &A.d, &Bd, Td, w, wsp, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_expect_str_eq(mxb_context_last_impl(gpu), impl);
  mxbt_dev_sync();
  mxbt_to_host(Cg, Cd, (size_t)(M * W * es));
  mxbt_to_host(T, Td, (size_t)(M * N) * 4);
  char *owned = calloc((size_t)M, 1);
  for (int e = 0; e < E; e++)
    for (int64_t r = start[e]; r < start[e] + c->sizes[e]; r++) owned[r] = (char)(e + 1);
  unsigned char *want = malloc((size_t)(M * W * es));
  for (int64_t r = 0; r < M; r++)
    for (int64_t n = 0; n < W; n++) {
      const int64_t i = r * W + n;
      if (!owned[r]) {
        memcpy(want + i * es, Cin + i * es, (size_t)es);
        continue;
      }
      const unsigned char *be = bias + (owned[r] - 1) * N * bsz;
      if (gated) { /* the gate's and the value's pre-activations, then act(gate) * value */
        const float g = mxb_gemm_finish(T[r * N + n], be, bias_type, MXB_ACT_NONE, n),
                    v = mxb_gemm_finish(T[r * N + W + n], be, bias_type, MXB_ACT_NONE, W + n);
        c_put(ct, want, i, mxb_gemm_gated(act, g, v));
        continue;
      }
      const float v = mxb_gemm_combine(1.0f, T[i], ct == MXB_DTYPE_FP32 ? 0.0f : d.beta, c_get(ct, Cin, i));
      c_put(ct, want, i, mxb_gemm_finish(v, be, bias_type, act, n));
    }
  for (int64_t i = 0; i < M * W; i++)
    cr_assert(memcmp(Cg + i * es, want + i * es, (size_t)es) == 0,
              "%s x %s layout %d act %d C %d: C[%lld][%lld] = %a, want %a (row %s)", mxbt_format_name(c->fa),
              mxbt_format_name(c->fb), (int)layout, (int)act, (int)ct, (long long)(i / W), (long long)(i % W),
              c_get(ct, Cg, i), c_get(ct, want, i), owned[i / W] ? "in a group" : "outside every group");
  free(want);
  free(owned);
  mxbt_dev_free(w);
  mxbt_dev_free(Cd);
  mxbt_dev_free(Td);
  mxbt_dev_free(idx_d);
  mxbt_dev_free(bias_d);
  free(T);
  free(Tin);
  free(Cin);
  free(Cg);
  free(bias);
  stack_dev_free(&Bd);
  stack_free(&B, E);
  mxbt_operand_free(&A);
}
#endif

/* Bias, activations and fp16 / bf16 / fp32 C on the fast grouped paths:
 * the kernels compute the plain product and an epilogue step finishes the
 * groups' rows (each expert's bias); both M layouts. */
Test(grouped_gemm_cuda, fast_epilogue_step) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  if (!is_sm90()) cr_skip_test("the sm_90a kernels need compute capability 9.0");
  mxb_context_t *gpu;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &gpu), MXB_SUCCESS, "%s", mxb_last_error_detail());
  const gcase mx = {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 3, 136, 256, {40, 0, 133}};
  const gcase nv = {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 4, 200, 256, {17, 1, 0, 70}};
  const gcase bf = {MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, 2, 64, 384, {33, 9}};
  const gcase bb = {MXB_FORMAT_BF16, MXB_FORMAT_BF16, 3, 72, 256, {20, 0, 45}};
  const mxb_activation_t acts[] = {MXB_ACT_NONE, MXB_ACT_RELU2, MXB_ACT_GELU_ERF, MXB_ACT_SILU,
                                   MXB_ACT_SWIGLU, MXB_ACT_GEGLU_ERF, MXB_ACT_GEGLU_TANH};
  const mxb_dtype_t cts[] = {MXB_DTYPE_FP32, MXB_DTYPE_BF16, MXB_DTYPE_FP16};
  for (int i = 0; i < 7; i++) {
    const mxb_dtype_t ct = cts[i % 3], bt = i % 2 ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32;
    epilogue_case(gpu, &mx, MXB_GROUPED_M_CONTIGUOUS, acts[i], ct, bt, MX_GROUPED);
    epilogue_case(gpu, &nv, MXB_GROUPED_M_MASKED, acts[i], cts[(i + 1) % 3], bt, W4_GROUPED);
    epilogue_case(gpu, &bf, MXB_GROUPED_M_CONTIGUOUS, acts[(i + 2) % 7], cts[(i + 2) % 3], bt, W4_GROUPED);
    epilogue_case(gpu, &bb, MXB_GROUPED_M_MASKED, acts[(i + 3) % 7], cts[i % 3], bt, BF_GROUPED);
  }
  mxb_context_destroy(gpu);
#endif
}

#ifdef MXB_WITH_CUDA
/* K split in fast mode (int64 offsets in device memory, beta, ldc > N):
 * with every group in whole 128-column stages, the sm_90a kernel `impl`,
 * each group's C within the fast-mode bound of the CPU's exact result (S
 * summed over the group's columns; the MX kernel's FP8 row); otherwise the
 * exact K-split kernel, the CPU's bits. Invalid groups untouched either way. */
#define K_MX "cuda-fast-grouped-k-sm90-mx-fp8-wgmma"
#define K_W4 "cuda-fast-grouped-k-sm90-w4-bf16-wgmma"
#define K_BF "cuda-fast-grouped-k-sm90-bf16-wgmma"
static void k_fast_vs_cpu(mxb_context_t *gpu, mxb_context_t *cpu, mxb_format_t fa, mxb_format_t fb, int64_t M,
                          int64_t N, int64_t K, int E, const int64_t *off, int staged, int32_t want_status,
                          const char *impl) {
  mxbt_pair p;
  mxbt_pair_make(&p, fa, fb, MXB_SCALE_LAYOUT_LINEAR, M, N, K, 77 + (uint64_t)K, 1);
  const int64_t ldc = N + 3;
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.mode = MXB_GEMM_FAST;
  d.alpha = 0.75f;
  d.beta = 0.5f;
  d.ldc = ldc;
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.gemm = &d;
  g.layout = MXB_GROUPED_K_CONTIGUOUS;
  g.groups = E;
  g.index_bits = 64;
  g.index = off;
  const size_t cb = (size_t)(E * M * ldc) * 4;
  float *Cin = malloc(cb), *Ch = malloc(cb), *Cg = malloc(cb);
  for (int64_t i = 0; i < E * M * ldc; i++) Cin[i] = (float)(i % 5) - 2.0f;
  memcpy(Ch, Cin, cb);
  mxb_gemm_desc_t dex = d;
  dex.mode = MXB_GEMM_EXACT;
  mxb_grouped_gemm_desc_t gex = g;
  gex.gemm = &dex;
  cr_assert_eq(run_grouped(cpu, &gex, &p.A.h, &p.B.h, Ch), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *Cd = mxbt_dev_from_host(Cin, cb);
  int64_t *idx_d = mxbt_dev_from_host(off, (size_t)(E + 1) * 8);
  int32_t *st_d = mxbt_dev_alloc(4);
  g.index = idx_d;
  g.status = st_d;
  size_t ws = 0;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(gpu, &g, &p.A.d, &p.B.d, &ws), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  void *w = mxbt_dev_alloc(ws);
  cr_assert_eq(mxb_grouped_gemm(gpu, &g, &p.A.d, &p.B.d, Cd, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_expect_str_eq(mxb_context_last_impl(gpu), impl);
  mxbt_dev_sync();
  int32_t dstatus;
  mxbt_to_host(&dstatus, st_d, 4);
  mxbt_to_host(Cg, Cd, cb);
  cr_assert_eq(dstatus, want_status);
  if (!staged) {
    cr_assert_eq(memcmp(Cg, Ch, cb), 0, "%s x %s K split, groups off the stages: not the CPU's bits",
                 mxbt_format_name(fa), mxbt_format_name(fb));
  } else {
    double *a = malloc((size_t)(M * K) * 8), *b = malloc((size_t)(N * K) * 8);
    for (int64_t r = 0; r < M; r++) mxb_cpu_decode_row_f64(&p.A.h, r, a + r * K);
    for (int64_t r = 0; r < N; r++) mxb_cpu_decode_row_f64(&p.B.h, r, b + r * K);
    const double at = 0.75 * mxb_cpu_tensor_scale(&p.A.h, 0) * mxb_cpu_tensor_scale(&p.B.h, 0);
    double worst = 0;
    for (int e = 0; e < E; e++) {
      const int64_t k0 = off[e], k1 = off[e + 1];
      const int valid = k0 >= (e ? off[e - 1] : 0) && k1 >= k0 && k1 <= K;  /* this test's bad groups only */
      const double gam = mxbt_fast_gamma(fa, fb, k1 - k0, !strcmp(impl, K_MX));
      for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < ldc; n++) {
          const int64_t i = (e * M + m) * ldc + n;
          if (!valid || n >= N) {
            cr_assert_eq(mxbt_f2u(Cg[i]), mxbt_f2u(Cin[i]), "group %d C[%lld][%lld] written", e, (long long)m,
                         (long long)n);
            continue;
          }
          double S = 0;
          for (int64_t k = k0; k < k1; k++) S += fabs(a[m * K + k] * b[n * K + k]);
          const double bnd = at * gam * S + 2 * 0x1p-24 * (fabs(Ch[i]) + fabs(0.5 * Cin[i])) + 0x1p-130;
          cr_assert(fabs(Cg[i] - Ch[i]) <= bnd, "%s x %s K split: group %d C[%lld][%lld] = %.9g, reference %.9g, bound %.3g",
                    mxbt_format_name(fa), mxbt_format_name(fb), e, (long long)m, (long long)n, Cg[i], Ch[i], bnd);
          if (bnd > 0 && fabs(Cg[i] - Ch[i]) / bnd > worst) worst = fabs(Cg[i] - Ch[i]) / bnd;
        }
    }
    cr_log_info("K split fast %s x %s: worst |diff| / bound = %.3g", mxbt_format_name(fa), mxbt_format_name(fb), worst);
    free(a);
    free(b);
  }
  mxbt_dev_free(w);
  mxbt_dev_free(Cd);
  mxbt_dev_free(idx_d);
  mxbt_dev_free(st_d);
  free(Cin);
  free(Ch);
  free(Cg);
  mxbt_pair_free(&p);
}
#endif

/* The K split on the sm_90a kernels (weight gradients: MXFP8, W4A8 with
 * the MXFP4 operand widened first, FP8 1 x 128 x 128 x 128 on the MX
 * kernel; NVFP4 x NVFP4 and BF16 x NVFP4 on the 4-bit kernel), an empty
 * group, a bad group (reported, untouched), several tile widths; and
 * groups off the 128-column stages (the exact kernel on the device). */
Test(grouped_gemm_cuda, fast_k_split_within_bound) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  if (!is_sm90()) cr_skip_test("the sm_90a MX kernel needs compute capability 9.0");
  mxb_context_t *gpu, *cpu;
  make_contexts(&gpu, &cpu);
  const int64_t staged[5] = {0, 256, 256, 640, 1024}, loose[5] = {0, 96, 96, 640, 1024};
  const int64_t bad[5] = {0, 384, 256, 640, 1024}; /* group 1 runs backwards */
  k_fast_vs_cpu(gpu, cpu, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 200, 136, 1024, 4, staged, 1, 0, K_MX);
  k_fast_vs_cpu(gpu, cpu, MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP8_E4M3, 64, 300, 1024, 4, bad, 1, 2, K_MX);
  k_fast_vs_cpu(gpu, cpu, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, 130, 96, 1024, 4, staged, 1, 0, K_MX);
  k_fast_vs_cpu(gpu, cpu, MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128, 256, 256, 1024, 4, staged, 1, 0,
                K_MX);
  k_fast_vs_cpu(gpu, cpu, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 40, 72, 1024, 4, loose, 0, 0, K_MX);
  k_fast_vs_cpu(gpu, cpu, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 200, 136, 1024, 4, staged, 1, 0, K_W4);
  k_fast_vs_cpu(gpu, cpu, MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, 64, 300, 1024, 4, bad, 1, 2, K_W4);
  k_fast_vs_cpu(gpu, cpu, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 40, 72, 1024, 4, loose, 0, 0, K_W4);
  k_fast_vs_cpu(gpu, cpu, MXB_FORMAT_BF16, MXB_FORMAT_BF16, 200, 136, 1024, 4, staged, 1, 0, K_BF);
  k_fast_vs_cpu(gpu, cpu, MXB_FORMAT_BF16, MXB_FORMAT_BF16, 64, 300, 1024, 4, bad, 1, 2, K_BF);
  k_fast_vs_cpu(gpu, cpu, MXB_FORMAT_BF16, MXB_FORMAT_BF16, 40, 72, 1024, 4, loose, 0, 0, K_BF);
  mxb_context_destroy(cpu);
  mxb_context_destroy(gpu);
#endif
}

/* E = 256 experts on the device (offsets or counts in device memory): the
 * CPU's bits, contiguous (NVFP4, W4A8) and masked. */
Test(grouped_gemm_cuda, e256_experts_give_the_cpu_bits) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *gpu, *cpu;
  make_contexts(&gpu, &cpu);
  const int E = 256, max_m = 8;
  int32_t *off = malloc((E + 1) * sizeof(int32_t)), *counts = malloc(E * sizeof(int32_t));
  off[0] = 2;
  for (int e = 0; e < E; e++) {
    off[e + 1] = off[e] + (int32_t)e256_rows(e);
    counts[e] = (int32_t)(e256_rows(e) < max_m - 1 ? e256_rows(e) : max_m - 1); /* the last row stays padding */
  }
  const gcase nv = {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, E, 16, 64, {0}};
  const gcase w4a8 = {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, E, 16, 64, {0}};
  cuda_vs_cpu(gpu, cpu, &nv, MXB_GROUPED_M_CONTIGUOUS, MXB_GEMM_EXACT, off, off[E] + 3, 0, MXB_ACT_NONE);
  cuda_vs_cpu(gpu, cpu, &w4a8, MXB_GROUPED_M_CONTIGUOUS, MXB_GEMM_EXACT, off, off[E] + 3, 0, MXB_ACT_NONE);
  cuda_vs_cpu(gpu, cpu, &nv, MXB_GROUPED_M_MASKED, MXB_GEMM_EXACT, counts, (int64_t)E * max_m, 0, MXB_ACT_NONE);
  free(off);
  free(counts);
  mxb_context_destroy(cpu);
  mxb_context_destroy(gpu);
#endif
}

/* The fast grouped path on sm_90a (4-bit B on BF16 tensor cores, each
 * group's tiles of rows walked from the device-side table): every valid
 * group's rows within the fast-mode bound of docs/GEMM.md of the CPU's exact
 * result, rows outside every group (NaN rows among them) untouched; tiles of
 * B's rows that run into the next expert (N not a multiple of 128); tile
 * rows 32, 64 and 128. A scale byte of 254 in an MXFP4 expert (6 x 2^127
 * overflows BF16) sends the call to the exact grouped kernel on the device:
 * then every byte equals the CPU's (found by a scan where C is read, by the
 * kernel's own scale decode where it is not: big_scale 2). */
#ifdef MXB_WITH_CUDA
/* a_groups (NVFP4 A): A quantized group by group (mxb_grouped_quantize on the
 * CPU, one amax a group) and read with a_group_scales, exact mode also
 * compared bit for bit. impl: the path the call must take. */
static void fast_vs_cpu(mxb_context_t *gpu, mxb_context_t *cpu, const gcase *c, mxb_grouped_layout_t layout,
                        int64_t lead, int64_t tail, int big_scale, int a_groups, const char *impl) {
  const int E = c->E;
  const int masked = layout == MXB_GROUPED_M_MASKED;
  int64_t start[8], rows[8], max_m = 0, M = lead;
  for (int e = 0; e < E; e++) max_m = c->sizes[e] > max_m ? c->sizes[e] : max_m;
  max_m += tail;
  int32_t index[9];
  for (int e = 0; e < E; e++) {
    start[e] = masked ? e * max_m : M;
    rows[e] = c->sizes[e];
    index[e] = (int32_t)(masked ? rows[e] : start[e]);
    if (!masked) M += rows[e];
  }
  if (masked) M = E * max_m;
  else {
    index[E] = (int32_t)M;
    M += tail;
  }
  float *x = mxbt_gemm_input(M, c->K, 51 + (uint64_t)M, MXBT_IN_NORMAL, 0);
  char *owned = calloc((size_t)M, 1);
  for (int e = 0; e < E; e++)
    for (int64_t r = start[e]; r < start[e] + rows[e]; r++) owned[r] = 1;
  /* every third row no group owns: NaN (not with NVFP4 A, whose NaN amax
   * would poison every row, as the reference's does) */
  for (int64_t r = 0; r < M; r++)
    if (!owned[r] && r % 3 == 0 && c->fa != MXB_FORMAT_NVFP4)
      for (int64_t k = 0; k < c->K; k++) x[r * c->K + k] = NAN;
  for (int64_t k = 0; a_groups && k < (M > 40 ? 40 : M) * c->K; k++) x[k] *= 40.0f; /* groups of other magnitudes */
  /* big_scale: A near 2^-40, so that the exact products with the 2^127
   * block stay finite where the BF16 decode overflows */
  for (int64_t k = 0; big_scale && k < M * c->K; k++) x[k] = ldexpf(x[k], -40);
  mxbt_operand A;
  mxbt_operand_make(&A, c->fa, MXB_SCALE_LAYOUT_LINEAR, M, c->K, x);
  float a_amax[8];
  if (a_groups) {
    mxb_grouped_gemm_desc_t q;
    mxb_grouped_gemm_desc_init(&q);
    q.layout = layout;
    q.groups = E;
    q.index = index;
    A.h.amax = a_amax;
    cr_assert_eq(mxb_grouped_quantize(cpu, &q, NULL, MXB_DTYPE_FP32, x, &A.h, NULL, 0, NULL), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
  }
  free(x);
  mxbt_operand_upload(&A);
  if (a_groups) {
    mxbt_dev_free(A.d.amax);
    A.d.amax = mxbt_dev_from_host(a_amax, (size_t)E * 4);
  }
  stack B;
  stack_make(&B, c->fb, E, c->N, c->K, 61);
  if (big_scale) ((uint8_t *)B.h.scales)[B.scale_bytes - 1] = 254;
  mxb_tensor_t Bd = stack_upload(&B, E);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.mode = MXB_GEMM_FAST;
  d.alpha = -1.5f;
  d.beta = big_scale == 2 ? 0.0f : 0.25f; /* 2: C not read, so the kernel itself finds the scale byte */
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.gemm = &d;
  g.layout = layout;
  g.groups = E;
  g.a_group_scales = a_groups;
  const int64_t N = c->N, K = c->K;
  const size_t cb = (size_t)(M * N) * 4;
  float *Cin = malloc(cb), *Ch = malloc(cb), *Cg = malloc(cb);
  for (int64_t i = 0; i < M * N; i++) Cin[i] = (float)(i % 5) - 2.0f;
  memcpy(Ch, Cin, cb);
  mxb_gemm_desc_t dex = d;
  dex.mode = MXB_GEMM_EXACT;
  mxb_grouped_gemm_desc_t gex = g;
  gex.gemm = &dex;
  gex.index = index;
  cr_assert_eq(run_grouped(cpu, &gex, &A.h, &B.h, Ch), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *Cd = mxbt_dev_from_host(Cin, cb);
  int32_t *idx_d = mxbt_dev_from_host(index, sizeof index), *st_d = mxbt_dev_alloc(4);
  g.index = idx_d;
  g.status = st_d;
  size_t ws = 0;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(gpu, &g, &A.d, &Bd, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = mxbt_dev_alloc(ws);
  cr_assert_eq(mxb_grouped_gemm(gpu, &g, &A.d, &Bd, Cd, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_expect_str_eq(mxb_context_last_impl(gpu), impl);
  mxbt_dev_sync();
  mxbt_to_host(Cg, Cd, cb);
  int32_t dstatus;
  mxbt_to_host(&dstatus, st_d, 4);
  cr_assert_eq(dstatus, 0);
  const char *what = mxbt_format_name(c->fb);
  if (a_groups) { /* exact mode on the GPU: the CPU's bits */
    float *Ce = malloc(cb);
    cudaMemcpy(Cd, Cin, cb, cudaMemcpyHostToDevice);
    mxb_grouped_gemm_desc_t gx = g;
    gx.gemm = &dex;
    size_t wsx = 0;
    cr_assert_eq(mxb_grouped_gemm_workspace_size(gpu, &gx, &A.d, &Bd, &wsx), MXB_SUCCESS);
    void *wx = mxbt_dev_alloc(wsx);
    cr_assert_eq(mxb_grouped_gemm(gpu, &gx, &A.d, &Bd, Cd, wx, wsx, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
    mxbt_dev_sync();
    mxbt_to_host(Ce, Cd, cb);
    cr_assert_eq(memcmp(Ce, Ch, cb), 0, "a_group_scales, exact: the GPU differs from the CPU");
    mxbt_dev_free(wx);
    free(Ce);
  }
  if (big_scale) {
    for (int64_t i = 0; i < M * N; i++) /* else a fast result could match by chance */
      cr_assert(isfinite(Ch[i]), "the reference's C[%lld] is not finite", (long long)(i / N));
    cr_assert_eq(memcmp(Cg, Ch, cb), 0, "%s x %s: the exact fallback differs from the CPU", mxbt_format_name(c->fa),
                 what);
  } else {
    double *a = malloc((size_t)(M * K) * 8), *b = malloc((size_t)(E * N * K) * 8);
    for (int64_t r = 0; r < M; r++) mxb_cpu_decode_row_f64(&A.h, r, a + r * K);
    for (int64_t r = 0; r < E * N; r++) mxb_cpu_decode_row_f64(&B.h, r, b + r * K);
    /* docs/GEMM.md's fast-mode bound (the MX kernel's FP8 partial sums) */
    const double gam = mxbt_fast_gamma(c->fa, c->fb, K, !strcmp(impl, MX_GROUPED));
    double worst = 0;
    for (int e = 0; e < E; e++) {
      mxb_tensor_t Ae = A.h;
      if (a_groups) Ae.amax = a_amax + e;
      const double at = fabs((double)d.alpha * mxb_cpu_tensor_scale(&Ae, 0) * mxb_cpu_tensor_scale(&B.ex[e].h, 0));
      for (int64_t r = start[e]; r < start[e] + rows[e]; r++)
        for (int64_t n = 0; n < N; n++) {
          double S = 0;
          for (int64_t k = 0; k < K; k++) S += fabs(a[r * K + k] * b[(e * N + n) * K + k]);
          const double ref = Ch[r * N + n], got = Cg[r * N + n];
          const double bnd = at * gam * S + 2 * 0x1p-24 * (fabs(ref) + fabs(0.25 * Cin[r * N + n])) + 0x1p-130;
          cr_assert(fabs(got - ref) <= bnd, "%s x %s layout %d: group %d C[%lld][%lld] = %.9g, reference %.9g, bound %.3g",
                    mxbt_format_name(c->fa), what, (int)layout, e, (long long)r, (long long)n, got, ref, bnd);
          if (bnd > 0 && fabs(got - ref) / bnd > worst) worst = fabs(got - ref) / bnd;
        }
    }
    for (int64_t r = 0; r < M; r++)
      if (!owned[r])
        for (int64_t n = 0; n < N; n++)
          cr_assert_eq(mxbt_f2u(Cg[r * N + n]), mxbt_f2u(Cin[r * N + n]), "row %lld outside every group was written",
                       (long long)r);
    cr_log_info("grouped fast %s x %s layout %d M %lld: worst |diff| / bound = %.3g", mxbt_format_name(c->fa), what,
                (int)layout, (long long)M, worst);
    free(a);
    free(b);
  }
  mxbt_dev_free(w);
  mxbt_dev_free(Cd);
  mxbt_dev_free(idx_d);
  mxbt_dev_free(st_d);
  free(Cin);
  free(Ch);
  free(Cg);
  free(owned);
  stack_dev_free(&Bd);
  stack_free(&B, E);
  mxbt_operand_free(&A);
}
#endif

/* Exact mode, NVFP4 x NVFP4 and MXFP4 x MXFP4 with K in whole 128-column
 * stages on compute capability 9.0: the 4-bit kernel's exact form over the
 * groups (tile rows 64 and 128), contiguous and masked, an empty group,
 * per-expert NVFP4 amaxes, padding rows of NaN; NVFP4 with a bias and
 * squared ReLU and with SwiGLU (the epilogue step after its product): the
 * CPU's bytes. */
#define EXACT_GROUPED "cuda-exact-grouped-sm90-fp4-wgmma"
Test(grouped_gemm_cuda, exact_fp4_groups_on_the_sm90_kernel) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  if (!is_sm90()) cr_skip_test("the sm_90a exact kernel needs compute capability 9.0");
  mxb_context_t *gpu, *cpu;
  make_contexts(&gpu, &cpu);
  static const gcase cases[] = {
      {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 4, 48, 256, {17, 0, 1, 70}},
      {MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP4, 3, 40, 384, {5, 200, 16}},
      {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 2, 136, 128, {130, 3}},
  };
  const int max_m = 80;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const gcase *c = &cases[i];
    int32_t off[9] = {2}, counts[8];
    for (int e = 0; e < c->E; e++) {
      off[e + 1] = off[e] + (int32_t)c->sizes[e];
      counts[e] = (int32_t)(c->sizes[e] < max_m - 1 ? c->sizes[e] : max_m - 1);
    }
    cuda_vs_cpu(gpu, cpu, c, MXB_GROUPED_M_CONTIGUOUS, MXB_GEMM_EXACT, off, off[c->E] + 3, 0, MXB_ACT_NONE);
    cr_expect_str_eq(mxb_context_last_impl(gpu), EXACT_GROUPED);
    cuda_vs_cpu(gpu, cpu, c, MXB_GROUPED_M_MASKED, MXB_GEMM_EXACT, counts, (int64_t)c->E * max_m, 0, MXB_ACT_NONE);
    cr_expect_str_eq(mxb_context_last_impl(gpu), EXACT_GROUPED);
    if (c->fa != MXB_FORMAT_NVFP4) continue; /* MXFP4 with an epilogue: the generic kernel (the recompute flag) */
    for (int a = 0; a < 2; a++) {
      cuda_vs_cpu(gpu, cpu, c, MXB_GROUPED_M_CONTIGUOUS, MXB_GEMM_EXACT, off, off[c->E] + 3, 0,
                  a ? MXB_ACT_SWIGLU : MXB_ACT_RELU2);
      cr_expect_str_eq(mxb_context_last_impl(gpu), EXACT_GROUPED);
    }
  }
  mxb_context_destroy(cpu);
  mxb_context_destroy(gpu);
#endif
}

Test(grouped_gemm_cuda, fast_w4_groups_within_bound) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  if (!is_sm90()) cr_skip_test("the sm_90a 4-bit kernel needs compute capability 9.0");
  mxb_context_t *gpu, *cpu;
  make_contexts(&gpu, &cpu);
  static const gcase cases[] = {
      {MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, 5, 200, 256, {17, 0, 1, 70, 40}},    /* tile rows 32 */
      {MXB_FORMAT_BF16, MXB_FORMAT_MXFP4, 3, 136, 384, {50, 61, 9}},           /* tile rows 64 */
      {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, 4, 130, 256, {200, 3, 0, 129}},     /* tile rows 128 */
      {MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP4, 2, 64, 128, {33, 1}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fast_vs_cpu(gpu, cpu, &cases[i], MXB_GROUPED_M_CONTIGUOUS, 2, 4, 0, 0, W4_GROUPED);
    fast_vs_cpu(gpu, cpu, &cases[i], MXB_GROUPED_M_MASKED, 0, 5, 0, 0, W4_GROUPED);
  }
  fast_vs_cpu(gpu, cpu, &cases[1], MXB_GROUPED_M_CONTIGUOUS, 3, 2, 1, 0, W4_GROUPED);
  fast_vs_cpu(gpu, cpu, &cases[3], MXB_GROUPED_M_MASKED, 0, 3, 1, 0, W4_GROUPED);
  fast_vs_cpu(gpu, cpu, &cases[1], MXB_GROUPED_M_CONTIGUOUS, 3, 2, 2, 0, W4_GROUPED);
  fast_vs_cpu(gpu, cpu, &cases[3], MXB_GROUPED_M_MASKED, 0, 3, 2, 0, W4_GROUPED);
  /* NVFP4 activations quantized a group at a time (a_group_scales) */
  fast_vs_cpu(gpu, cpu, &cases[2], MXB_GROUPED_M_CONTIGUOUS, 2, 4, 0, 1, W4_GROUPED);
  fast_vs_cpu(gpu, cpu, &cases[2], MXB_GROUPED_M_MASKED, 0, 5, 0, 1, W4_GROUPED);
  /* BF16 x BF16 experts on the same kernel (B's tiles by TMA, no decode),
   * tile rows 32, 64 and 128 */
  static const gcase bf16[] = {
      {MXB_FORMAT_BF16, MXB_FORMAT_BF16, 5, 200, 256, {17, 0, 1, 70, 40}},
      {MXB_FORMAT_BF16, MXB_FORMAT_BF16, 3, 136, 384, {50, 61, 9}},
      {MXB_FORMAT_BF16, MXB_FORMAT_BF16, 4, 130, 256, {200, 3, 0, 129}},
      {MXB_FORMAT_BF16, MXB_FORMAT_BF16, 2, 136, 384, {300, 170}}, /* groups of several tiles */
  };
  for (size_t i = 0; i < sizeof bf16 / sizeof bf16[0]; i++) {
    fast_vs_cpu(gpu, cpu, &bf16[i], MXB_GROUPED_M_CONTIGUOUS, 2, 4, 0, 0, BF_GROUPED);
    fast_vs_cpu(gpu, cpu, &bf16[i], MXB_GROUPED_M_MASKED, 0, 5, 0, 0, BF_GROUPED);
  }
  mxb_context_destroy(cpu);
  mxb_context_destroy(gpu);
#endif
}

/* The fast grouped path on FP8 tensor cores (sm_90a MX kernel): MXFP8 in
 * two element mixes, MXFP4 weights x MXFP8 activations (W4A8, the 4-bit
 * kernel's where K is in whole 128-column stages), FP8 with
 * fp32 1 x 128 / 128 x 128 block scales; each group's rows within the
 * FP8 row of the fast-mode bound of the CPU's exact result, rows outside
 * every group (NaN rows among them) untouched, empty groups and groups of
 * one row, tiles of B's rows running into the next expert, 32-, 64- and
 * 128-column tiles. */
Test(grouped_gemm_cuda, fast_mx_groups_within_bound) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  if (!is_sm90()) cr_skip_test("the sm_90a MX kernel needs compute capability 9.0");
  mxb_context_t *gpu, *cpu;
  make_contexts(&gpu, &cpu);
  static const gcase cases[] = {
      {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 5, 200, 256, {17, 0, 1, 130, 40}},
      {MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP8_E4M3, 3, 64, 384, {50, 61, 9}},
      {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, 4, 130, 256, {200, 3, 0, 129}},
      {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 2, 24, 128, {33, 1}},
      {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128, 3, 256, 384, {50, 161, 9}},
      {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_1x128, 2, 96, 256, {70, 0}},
      /* W4A8 on the MX kernel (K = 192: a partial stage), 32-column tiles;
       * MXFP8 with enough tiles for 128-column ones */
      {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, 3, 24, 192, {40, 0, 7}},
      {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, 8, 384, 128, {600, 0, 1, 1000, 700, 900, 33, 1400}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *impl = cases[i].fb == MXB_FORMAT_MXFP4 && cases[i].K % 128 == 0 ? W4_GROUPED : MX_GROUPED;
    fast_vs_cpu(gpu, cpu, &cases[i], MXB_GROUPED_M_CONTIGUOUS, 2, 4, 0, 0, impl);
    fast_vs_cpu(gpu, cpu, &cases[i], MXB_GROUPED_M_MASKED, 0, 5, 0, 0, impl);
  }
  mxb_context_destroy(cpu);
  mxb_context_destroy(gpu);
#endif
}

#ifdef MXB_WITH_CUDA
/* A grouped call (E = 3 experts) captured once in a CUDA graph and replayed
 * after the device-side offsets change: each replay gives the bytes of a
 * direct call with the same offsets and, in exact mode, the CPU's. `impl`:
 * the path the call must take (NULL: any). */
static void graph_replay_case(mxb_format_t fa, mxb_format_t fb, mxb_gemm_mode_t mode, int64_t M, int64_t N, int64_t K,
                              const int32_t offs[2][4], uint64_t seed, const char *impl) {
  mxb_context_t *gpu, *cpu;
  make_contexts(&gpu, &cpu);
  const int E = 3;
  float *x = mxbt_gemm_input(M, K, seed, MXBT_IN_NORMAL, 0);
  mxbt_operand A;
  mxbt_operand_make(&A, fa, MXB_SCALE_LAYOUT_LINEAR, M, K, x);
  mxbt_operand_upload(&A);
  free(x);
  stack B;
  stack_make(&B, fb, E, N, K, seed + 1);
  mxb_tensor_t Bd = stack_upload(&B, E);
  int32_t *idx_d = mxbt_dev_from_host(offs[0], 16);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.mode = mode;
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.gemm = &d;
  g.groups = E;
  g.index = idx_d;
  const size_t cb = (size_t)(M * N) * 4;
  size_t ws = 0;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(gpu, &g, &A.d, &Bd, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = mxbt_dev_alloc(ws), *Cd = mxbt_dev_alloc(cb), *Cr = mxbt_dev_alloc(cb);
  cudaStream_t st;
  cr_assert_eq(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), cudaSuccess);
  cudaGraph_t graph;
  cudaGraphExec_t ge;
  cr_assert_eq(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  mxb_status_t s = mxb_grouped_gemm(gpu, &g, &A.d, &Bd, Cd, w, ws, st);
  cr_assert_eq(cudaStreamEndCapture(st, &graph), cudaSuccess);
  cr_assert_eq(s, MXB_SUCCESS, "captured call: %s", mxb_last_error_detail());
  if (impl) cr_assert_str_eq(mxb_context_last_impl(gpu), impl);
  cr_assert_eq(cudaGraphInstantiate(&ge, graph, 0), cudaSuccess);
  float *Cg = malloc(cb), *Cdir = malloc(cb), *Ch = malloc(cb);
  for (int r = 0; r < 2; r++) {
    cr_assert_eq(cudaMemcpyAsync(idx_d, offs[r], 16, cudaMemcpyHostToDevice, st), cudaSuccess);
    cr_assert_eq(cudaMemsetAsync(Cd, 0, cb, st), cudaSuccess);
    cr_assert_eq(cudaGraphLaunch(ge, st), cudaSuccess);
    cr_assert_eq(cudaMemsetAsync(Cr, 0, cb, st), cudaSuccess);
    cr_assert_eq(mxb_grouped_gemm(gpu, &g, &A.d, &Bd, Cr, w, ws, st), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert_eq(cudaStreamSynchronize(st), cudaSuccess);
    mxbt_to_host(Cg, Cd, cb);
    mxbt_to_host(Cdir, Cr, cb);
    cr_assert_eq(memcmp(Cg, Cdir, cb), 0, "replay %d differs from a direct call with the same offsets", r);
    if (mode == MXB_GEMM_EXACT) {
      memset(Ch, 0, cb);
      mxb_grouped_gemm_desc_t h = g;
      h.index = offs[r];
      cr_assert_eq(run_grouped(cpu, &h, &A.h, &B.h, Ch), MXB_SUCCESS);
      cr_assert_eq(memcmp(Cg, Ch, cb), 0, "replay %d differs from the CPU with the same offsets", r);
    }
  }
  free(Cg);
  free(Cdir);
  free(Ch);
  cudaGraphExecDestroy(ge);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(st);
  mxbt_dev_free(w);
  mxbt_dev_free(Cd);
  mxbt_dev_free(Cr);
  mxbt_dev_free(idx_d);
  stack_dev_free(&Bd);
  stack_free(&B, E);
  mxbt_operand_free(&A);
  mxb_context_destroy(cpu);
  mxb_context_destroy(gpu);
}
#endif

/* Captured once in a CUDA graph, replayed after the device-side offsets
 * change: each replay follows the offsets in memory (no host sync, nothing
 * read on the host at capture time). */
Test(grouped_gemm_cuda, graph_replay_follows_device_offsets) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  const int32_t offs[2][4] = {{0, 10, 10, 40}, {5, 6, 30, 31}};
  graph_replay_case(MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_GEMM_EXACT, 40, 32, 64, offs, 8, NULL);
#endif
}

/* The same on the fast grouped paths (4-bit experts on the sm_90a 4-bit
 * kernel, MXFP8 on the sm_90a MX kernel; both deterministic, the offsets
 * read on the device only). */
Test(grouped_gemm_cuda, fast_graph_replay_follows_device_offsets) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  if (!is_sm90()) cr_skip_test("the sm_90a 4-bit kernel needs compute capability 9.0");
  const int32_t offs[2][4] = {{0, 30, 30, 90}, {5, 6, 60, 95}};
  graph_replay_case(MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, MXB_GEMM_FAST, 96, 136, 256, offs, 18, W4_GROUPED);
  graph_replay_case(MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_GEMM_FAST, 96, 136, 256, offs, 18, MX_GROUPED);
  graph_replay_case(MXB_FORMAT_BF16, MXB_FORMAT_BF16, MXB_GEMM_FAST, 96, 136, 256, offs, 18, BF_GROUPED);
#endif
}

/* ---- grouped quantize ------------------------------------------------- */
static mxb_status_t run_gquant(mxb_context_t *ctx, const mxb_grouped_gemm_desc_t *g, const mxb_quant_config_t *cfg,
                               const float *x, mxb_tensor_t *dst) {
  size_t ws = 1;
  mxb_status_t st = mxb_grouped_quantize_workspace_size(ctx, g, cfg, MXB_DTYPE_FP32, dst, &ws);
  if (st != MXB_SUCCESS) return st;
  return mxb_grouped_quantize(ctx, g, cfg, MXB_DTYPE_FP32, x, dst, NULL, ws, NULL);
}

/* Rows [start, start + rows) of q against x's rows quantized alone (all of x
 * when whole: per-block formats give the whole tensor's bytes), or still
 * poisoned (rows < 0: [start, -rows)). */
static void check_rows(const mxbt_planes *q, const float *x, int64_t K, int64_t start, int64_t rows, int whole, int e,
                       const char *what) {
  const size_t rd = q->s.data_bytes / (size_t)q->t.rows, rs = q->s.scale_bytes / (size_t)q->t.rows;
  if (rows <= 0) {
    for (int64_t r = start; r < -rows; r++) {
      for (size_t i = 0; i < rd; i++) cr_assert_eq(((uint8_t *)q->t.data)[(size_t)r * rd + i], 0xA5, "%s: row %lld written", what, (long long)r);
      for (size_t i = 0; i < rs; i++) cr_assert_eq(((uint8_t *)q->t.scales)[(size_t)r * rs + i], 0xA5, "%s: row %lld scales written", what, (long long)r);
    }
    return;
  }
  mxbt_operand want;
  const int64_t r0 = whole ? 0 : start;
  mxbt_operand_make(&want, q->t.format, MXB_SCALE_LAYOUT_LINEAR, whole ? q->t.rows : rows, K, x + r0 * K);
  const size_t off = whole ? (size_t)start : 0;
  cr_assert(!memcmp((uint8_t *)q->t.data + (size_t)start * rd, (uint8_t *)want.h.data + off * rd, (size_t)rows * rd),
            "%s: group %d codes", what, e);
  if (rs)
    cr_assert(!memcmp((uint8_t *)q->t.scales + (size_t)start * rs, (uint8_t *)want.h.scales + off * rs, (size_t)rows * rs),
              "%s: group %d scales", what, e);
  if (want.s.amax_bytes && !whole)
    cr_assert_eq(mxbt_f2u(q->amax[e]), mxbt_f2u(want.amax), "%s: group %d amax %a, alone %a", what, e, q->amax[e],
                 want.amax);
  mxbt_operand_free(&want);
}

/* Each group's rows are quantized as they would be alone: NVFP4 with its own
 * tensor amax (a group 50x larger than the others), 0 for an empty group;
 * per-block formats give the whole tensor's bytes; rows outside every group
 * and bad groups are not written. */
Test(grouped_quantize, each_group_is_quantized_as_if_alone) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  const int64_t M = 30, K = 64;
  float *x = mxbt_gemm_input(M, K, 61, MXBT_IN_NORMAL, 0);
  for (int64_t i = 10 * K; i < 25 * K; i++) x[i] *= 50.0f;
  const int32_t off[4] = {2, 10, 10, 25};
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.groups = 3;
  g.index = off;
  int32_t status = -1;
  g.status = &status;
  static const mxb_format_t fmts[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, MXB_FORMAT_BF16};
  for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++) {
    mxbt_planes q;
    mxbt_planes_make(&q, fmts[f], M, K, MXB_SCALE_LAYOUT_LINEAR);
    cr_assert_eq(run_gquant(ctx, &g, NULL, x, &q.t), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert_eq(status, 0);
    const int whole = fmts[f] != MXB_FORMAT_NVFP4;
    const char *name = mxbt_format_name(fmts[f]);
    check_rows(&q, x, K, 0, -2, whole, -1, name);
    check_rows(&q, x, K, 2, 8, whole, 0, name);
    check_rows(&q, x, K, 10, 15, whole, 2, name);
    check_rows(&q, x, K, 25, -30, whole, -1, name);
    if (!whole) cr_assert_eq(q.amax[1], 0.0f, "an empty group's amax is 0");
    mxbt_planes_free(&q);
  }
  /* masked layout, and bad groups (a count past max_m) */
  const int32_t counts[3] = {3, 7, 5}; /* max_m 6: group 1 is bad */
  g.layout = MXB_GROUPED_M_MASKED;
  g.index = counts;
  mxbt_planes q;
  mxbt_planes_make(&q, MXB_FORMAT_NVFP4, 18, K, MXB_SCALE_LAYOUT_LINEAR);
  cr_assert_eq(run_gquant(ctx, &g, NULL, x, &q.t), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(status, 2);
  check_rows(&q, x, K, 0, 3, 0, 0, "masked");
  check_rows(&q, x, K, 3, -12, 0, -1, "masked: past a count, and the bad group");
  check_rows(&q, x, K, 12, 5, 0, 2, "masked");
  check_rows(&q, x, K, 17, -18, 0, -1, "masked: past a count");
  cr_assert_eq(q.amax[1], -1.0f, "a bad group's amax is not written");
  mxbt_planes_free(&q);
  free(x);
  mxb_context_destroy(ctx);
}

/* Grouped quantize on CUDA (groups and status word in device memory) gives
 * the CPU's bytes: codes, scales, per-group amaxes (computed, or supplied
 * and left as they are), the status word; rows outside every group, past a
 * masked count and in bad groups stay poisoned on both. NVFP4 (the d = 16
 * RHT too, NaN and Inf in a group), MXFP8, MXFP4; fp32 and bf16 input. */
#ifdef MXB_WITH_CUDA
static void gquant_cuda_vs_cpu(mxb_context_t *gpu, mxb_context_t *cpu, mxb_format_t f, mxb_dtype_t dt,
                               const mxb_quant_config_t *cfg, mxb_grouped_layout_t layout, const int32_t *index,
                               int E, int64_t M, const float *x, int64_t K, int32_t want_status) {
  const size_t n = (size_t)(M * K), es = mxb_dtype_size(dt);
  void *src = malloc(n * es);
  for (size_t i = 0; i < n; i++) {
    if (dt == MXB_DTYPE_FP32) ((float *)src)[i] = x[i];
    else ((uint16_t *)src)[i] = (uint16_t)(mxbt_f2u(x[i]) >> 16);
  }
  mxbt_planes h, g;
  mxbt_planes_make(&h, f, M, K, MXB_SCALE_LAYOUT_LINEAR);
  mxbt_planes_make(&g, f, M, K, MXB_SCALE_LAYOUT_LINEAR);
  if (cfg->amax_source == MXB_AMAX_FROM_TENSOR)
    for (int e = 0; e < E; e++) h.amax[e] = g.amax[e] = 3.0f + (float)e;
  mxb_grouped_gemm_desc_t gd;
  mxb_grouped_gemm_desc_init(&gd);
  gd.layout = layout;
  gd.groups = E;
  gd.index = index;
  int32_t hstatus = -1;
  gd.status = &hstatus;
  size_t ws = 1;
  cr_assert_eq(mxb_grouped_quantize_workspace_size(cpu, &gd, cfg, dt, &h.t, &ws), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  cr_assert_eq(mxb_grouped_quantize(cpu, &gd, cfg, dt, src, &h.t, NULL, ws, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  cr_assert_eq(hstatus, want_status);
  mxb_tensor_t d = g.t;
  d.data = mxbt_dev_from_host(g.t.data, g.s.data_bytes);
  d.scales = mxbt_dev_from_host(g.t.scales, g.s.scale_bytes);
  d.amax = g.s.amax_bytes ? mxbt_dev_from_host(g.amax, sizeof g.amax) : NULL;
  void *src_d = mxbt_dev_from_host(src, n * es);
  int32_t *idx_d = mxbt_dev_from_host(index, (size_t)(E + 1) * 4), *st_d = mxbt_dev_alloc(4);
  gd.index = idx_d;
  gd.status = st_d;
  cr_assert_eq(mxb_grouped_quantize_workspace_size(gpu, &gd, cfg, dt, &d, &ws), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  void *w = mxbt_dev_alloc(ws);
  cr_assert_eq(mxb_grouped_quantize(gpu, &gd, cfg, dt, src_d, &d, w, ws, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  cr_expect(strstr(mxb_context_last_impl(gpu), "grouped-quantize-rows") != NULL, "ran %s", mxb_context_last_impl(gpu));
  cr_assert_eq(d.flags, h.t.flags);
  mxbt_dev_sync();
  int32_t dstatus;
  mxbt_to_host(&dstatus, st_d, 4);
  mxbt_to_host(g.t.data, d.data, g.s.data_bytes);
  mxbt_to_host(g.t.scales, d.scales, g.s.scale_bytes);
  if (d.amax) mxbt_to_host(g.amax, d.amax, sizeof g.amax);
  const char *name = mxbt_format_name(f);
  cr_assert_eq(dstatus, want_status, "%s: status %d", name, dstatus);
  cr_assert(!memcmp(g.t.data, h.t.data, g.s.data_bytes), "%s (%s input, layout %d): codes differ", name,
            dt == MXB_DTYPE_FP32 ? "fp32" : "bf16", (int)layout);
  cr_assert(!memcmp(g.t.scales, h.t.scales, g.s.scale_bytes), "%s: scales differ", name);
  for (int e = 0; e < 8; e++)
    cr_assert_eq(mxbt_f2u(g.amax[e]), mxbt_f2u(h.amax[e]), "%s: amax[%d] GPU %a CPU %a", name, e, g.amax[e], h.amax[e]);
  mxbt_dev_free(w);
  mxbt_dev_free(src_d);
  mxbt_dev_free(idx_d);
  mxbt_dev_free(st_d);
  mxbt_dev_free(d.data);
  mxbt_dev_free(d.scales);
  if (d.amax) mxbt_dev_free(d.amax);
  mxbt_planes_free(&h);
  mxbt_planes_free(&g);
  free(src);
}
#endif

Test(grouped_quantize_cuda, device_groups_give_the_cpu_bytes) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *gpu, *cpu;
  make_contexts(&gpu, &cpu);
  const int64_t M = 30, K = 64;
  float *x = mxbt_gemm_input(M, K, 71, MXBT_IN_NORMAL, 0);
  for (int64_t i = 10 * K; i < 25 * K; i++) x[i] *= 50.0f;
  x[26 * K + 5] = NAN;      /* group 3 */
  x[12 * K + 40] = INFINITY; /* group 2 */
  const int32_t off[5] = {2, 10, 10, 25, 28}, bad_off[5] = {0, 12, 8, 30, 30}, counts[3] = {3, 7, 5};
  static const mxb_format_t fmts[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4};
  for (size_t f = 0; f < sizeof fmts / sizeof fmts[0]; f++)
    for (int variant = 0; variant < (fmts[f] == MXB_FORMAT_NVFP4 ? 4 : 1); variant++)
      for (int t = 0; t < 2; t++) {
        mxb_quant_config_t cfg;
        mxb_quant_config_init(&cfg);
        if (variant == 1) {
          cfg.rht.enabled = 1;
          cfg.rht.size = 16;
        }
        if (variant == 2) cfg.amax_source = MXB_AMAX_FROM_TENSOR;
        if (variant == 3) cfg.nvfp4_e4m3_max = 256;
        const mxb_dtype_t dt = t ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32;
        gquant_cuda_vs_cpu(gpu, cpu, fmts[f], dt, &cfg, MXB_GROUPED_M_CONTIGUOUS, off, 4, M, x, K, 0);
        gquant_cuda_vs_cpu(gpu, cpu, fmts[f], dt, &cfg, MXB_GROUPED_M_CONTIGUOUS, bad_off, 4, M, x, K, 2);
        gquant_cuda_vs_cpu(gpu, cpu, fmts[f], dt, &cfg, MXB_GROUPED_M_MASKED, counts, 3, 18, x, K, 2);
      }
  /* outside the row-wise kernels' case (BF16 output): refused, nothing written */
  {
    mxbt_planes q;
    mxbt_planes_make(&q, MXB_FORMAT_BF16, M, K, MXB_SCALE_LAYOUT_LINEAR);
    mxb_tensor_t d = q.t;
    d.data = mxbt_dev_from_host(q.t.data, q.s.data_bytes);
    void *src_d = mxbt_dev_from_host(x, (size_t)(M * K) * 4);
    int32_t *idx_d = mxbt_dev_from_host(off, sizeof off), *st_d = mxbt_dev_from_host(&(int32_t){-7}, 4);
    mxb_grouped_gemm_desc_t gd;
    mxb_grouped_gemm_desc_init(&gd);
    gd.groups = 4;
    gd.index = idx_d;
    gd.status = st_d;
    size_t ws = 0;
    cr_assert_eq(mxb_grouped_quantize_workspace_size(gpu, &gd, NULL, MXB_DTYPE_FP32, &d, &ws), MXB_SUCCESS);
    void *w = mxbt_dev_alloc(ws);
    cr_assert_eq(mxb_grouped_quantize(gpu, &gd, NULL, MXB_DTYPE_FP32, src_d, &d, w, ws, NULL), MXB_ERR_UNSUPPORTED);
    cr_assert(strstr(mxb_last_error_detail(), "grouped quantize on CUDA takes") != NULL, "%s", mxb_last_error_detail());
    mxbt_dev_sync();
    int32_t status;
    mxbt_to_host(&status, st_d, 4);
    mxbt_to_host(q.t.data, d.data, q.s.data_bytes);
    cr_assert_eq(status, -7, "the status word was written");
    for (size_t i = 0; i < q.s.data_bytes; i++) cr_assert_eq(((uint8_t *)q.t.data)[i], 0xA5, "dst was written");
    mxbt_dev_free(w);
    mxbt_dev_free(src_d);
    mxbt_dev_free(idx_d);
    mxbt_dev_free(st_d);
    mxbt_dev_free(d.data);
    mxbt_planes_free(&q);
  }
  free(x);
  mxb_context_destroy(cpu);
  mxb_context_destroy(gpu);
#endif
}

/* What grouped quantize does not take is refused, and nothing is written. */
Test(grouped_quantize, refusals_write_nothing) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  const int64_t M = 256, K = 256;
  float *x = mxbt_gemm_input(M, K, 62, MXBT_IN_NORMAL, 0);
  const int32_t off[3] = {0, 100, 256};
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.groups = 2;
  g.index = off;
  mxb_quant_config_t sr, twod;
  mxb_quant_config_init(&sr);
  sr.rounding = MXB_ROUND_SR;
  mxb_quant_config_init(&twod);
  twod.block_2d = 1;
  struct {
    mxb_format_t f;
    mxb_scale_layout_t layout;
    const mxb_quant_config_t *cfg;
    int k_split;
    const char *says;
  } cases[] = {
      {MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_SWIZZLED, NULL, 0, "swizzled"},
      {MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, &twod, 0, "2D"},
      {MXB_FORMAT_FP8_E4M3_128x128, MXB_SCALE_LAYOUT_LINEAR, NULL, 0, "2-D blocks"},
      {MXB_FORMAT_FP8_E4M3_TENSOR, MXB_SCALE_LAYOUT_LINEAR, NULL, 0, "one scale"},
      {MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, &sr, 0, "stochastic"},
      {MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, NULL, 1, "K split"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    mxbt_planes q;
    mxbt_planes_make(&q, cases[k].f, M, K, cases[k].layout);
    g.layout = cases[k].k_split ? MXB_GROUPED_K_CONTIGUOUS : MXB_GROUPED_M_CONTIGUOUS;
    mxb_status_t st = run_gquant(ctx, &g, cases[k].cfg, x, &q.t);
    cr_assert_neq(st, MXB_SUCCESS, "case %zu", k);
    cr_assert(strstr(mxb_last_error_detail(), cases[k].says) != NULL, "case %zu: %s", k, mxb_last_error_detail());
    for (size_t i = 0; i < q.s.data_bytes; i++) cr_assert_eq(((uint8_t *)q.t.data)[i], 0xA5, "case %zu wrote", k);
    cr_assert_eq(q.amax[0], -1.0f);
    mxbt_planes_free(&q);
  }
  free(x);
  mxb_context_destroy(ctx);
}

/* A quantized group by group (NVFP4, an amax each) times stacked experts:
 * with a_group_scales each group's rows of C are the dense GEMM of its rows
 * quantized alone; without it, A's first amax would serve every group. */
Test(grouped_gemm, a_group_scales_take_each_groups_amax) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  const int64_t M = 24, K = 64, N = 16;
  float *x = mxbt_gemm_input(M, K, 63, MXBT_IN_NORMAL, 0);
  for (int64_t i = 8 * K; i < 20 * K; i++) x[i] *= 40.0f;
  const int32_t off[4] = {0, 8, 8, 20};
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.groups = 3;
  g.index = off;
  mxbt_planes qa;
  mxbt_planes_make(&qa, MXB_FORMAT_NVFP4, M, K, MXB_SCALE_LAYOUT_LINEAR);
  cr_assert_eq(run_gquant(ctx, &g, NULL, x, &qa.t), MXB_SUCCESS, "%s", mxb_last_error_detail());
  stack B;
  stack_make(&B, MXB_FORMAT_NVFP4, 3, N, K, 71);
  g.a_group_scales = 1;
  float *C = calloc((size_t)(M * N), sizeof(float));
  cr_assert_eq(run_grouped(ctx, &g, &qa.t, &B.h, C), MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  for (int e = 0; e < 3; e++) {
    const int64_t r0 = off[e], rows = off[e + 1] - off[e];
    if (!rows) continue;
    mxbt_operand a;
    mxbt_operand_make(&a, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, rows, K, x + r0 * K);
    float *ref = malloc(sizeof(float) * (size_t)(rows * N));
    cr_assert_eq(run_dense(ctx, &d, &a.h, &B.ex[e].h, ref), MXB_SUCCESS);
    for (int64_t i = 0; i < rows * N; i++)
      cr_assert_eq(mxbt_f2u(C[r0 * N + i]), mxbt_f2u(ref[i]), "group %d at %lld: %a, dense %a", e, (long long)i,
                   C[r0 * N + i], ref[i]);
    free(ref);
    mxbt_operand_free(&a);
  }
  /* refused where A has no tensor amax, or with the K split */
  mxbt_operand b16;
  mxbt_operand_make(&b16, MXB_FORMAT_BF16, MXB_SCALE_LAYOUT_LINEAR, M, K, x);
  size_t ws;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &g, &b16.h, &B.h, &ws), MXB_ERR_INVALID_ARGUMENT, "%s",
               mxb_last_error_detail());
  cr_assert(strstr(mxb_last_error_detail(), "no tensor amax") != NULL, "%s", mxb_last_error_detail());
  g.layout = MXB_GROUPED_K_CONTIGUOUS;
  const int32_t koff[4] = {0, 32, 32, 64};
  g.index = koff;
  stack_free(&B, 3);
  stack_make(&B, MXB_FORMAT_NVFP4, 1, N, K, 72);
  cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &g, &qa.t, &B.h, &ws), MXB_ERR_INVALID_ARGUMENT, "%s",
               mxb_last_error_detail());
  cr_assert(strstr(mxb_last_error_detail(), "M layouts") != NULL, "%s", mxb_last_error_detail());
  mxbt_operand_free(&b16);
  free(C);
  stack_free(&B, 1);
  mxbt_planes_free(&qa);
  free(x);
  mxb_context_destroy(ctx);
}

/* Experts whose routed rows are all zeros (amax 0) or tiny (2^-126) get
 * exact zeros and finite values, never NaN from a 0/0 scale: NVFP4 A
 * quantized a group at a time, read with a_group_scales, each group's rows
 * the bits of the dense GEMM of those rows quantized alone (exact), on the
 * CPU and, where a GPU is present, on CUDA in both modes (K = 128: the fast
 * grouped 4-bit kernel). */
static void zero_tiny_groups(mxb_context_t *ctx, mxb_gemm_mode_t mode) {
  mxb_context_t *cpu;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &cpu), MXB_SUCCESS);
  mxb_backend_t be = MXB_BACKEND_CPU;
  cr_assert_eq(mxb_context_backend(ctx, &be), MXB_SUCCESS);
  const int cuda = be == MXB_BACKEND_CUDA;
  const int64_t M = 24, K = 128, N = 32;
  float *x = mxbt_gemm_input(M, K, 64, MXBT_IN_NORMAL, 0);
  for (int64_t i = 8 * K; i < 14 * K; i++) x[i] = 0.0f;                /* group 1: zeros */
  for (int64_t i = 14 * K; i < 24 * K; i++) x[i] = ldexpf(x[i], -126); /* group 2: tiny */
  const int32_t off[4] = {0, 8, 14, 24};
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.groups = 3;
  g.index = off;
  mxbt_planes qa;
  mxbt_planes_make(&qa, MXB_FORMAT_NVFP4, M, K, MXB_SCALE_LAYOUT_LINEAR);
  cr_assert_eq(run_gquant(cpu, &g, NULL, x, &qa.t), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(qa.amax[1], 0.0f);
  stack B;
  stack_make(&B, MXB_FORMAT_NVFP4, 3, N, K, 73);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.mode = mode;
  g.gemm = &d;
  g.a_group_scales = 1;
  const size_t cb = (size_t)(M * N) * sizeof(float);
  float *C = calloc(1, cb);
  mxb_tensor_t A = qa.t, Bt = B.h;
  void *Cd = NULL;
#ifdef MXB_WITH_CUDA
  void *idx_d = NULL;
  if (cuda) {
    A.data = mxbt_dev_from_host(qa.t.data, qa.s.data_bytes);
    A.scales = mxbt_dev_from_host(qa.t.scales, qa.s.scale_bytes);
    A.amax = mxbt_dev_from_host(qa.amax, 3 * sizeof(float));
    Bt = stack_upload(&B, 3);
    Cd = mxbt_dev_from_host(C, cb);
    idx_d = mxbt_dev_from_host(off, sizeof off);
    g.index = idx_d;
  }
#endif
  size_t ws = 0;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &g, &A, &Bt, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = cuda ? NULL : malloc(ws ? ws : 1);
#ifdef MXB_WITH_CUDA
  if (cuda) w = mxbt_dev_alloc(ws);
#endif
  cr_assert_eq(mxb_grouped_gemm(ctx, &g, &A, &Bt, cuda ? Cd : C, w, ws, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  const char *impl = mxb_context_last_impl(ctx);
#ifdef MXB_WITH_CUDA
  if (cuda) {
    mxbt_dev_sync();
    mxbt_to_host(C, Cd, cb);
    mxbt_dev_free(w);
    mxbt_dev_free(Cd);
    mxbt_dev_free(idx_d);
    mxbt_dev_free(A.data);
    mxbt_dev_free(A.scales);
    mxbt_dev_free(A.amax);
    stack_dev_free(&Bt);
  }
#endif
  if (!cuda) free(w);
  for (int64_t i = 0; i < M * N; i++) cr_assert(!isnan(C[i]), "%s: NaN at %lld", impl, (long long)i);
  for (int64_t i = 8 * N; i < 14 * N; i++) cr_assert_eq(mxbt_f2u(C[i]), 0u, "%s: a zero group gave %a", impl, C[i]);
  mxb_gemm_desc_t dx;
  mxb_gemm_desc_init(&dx);
  for (int e = 0; e < 3 && mode == MXB_GEMM_EXACT; e++) {
    const int64_t r0 = off[e], rows = off[e + 1] - off[e];
    mxbt_operand a;
    mxbt_operand_make(&a, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, rows, K, x + r0 * K);
    float *ref = malloc(sizeof(float) * (size_t)(rows * N));
    cr_assert_eq(run_dense(cpu, &dx, &a.h, &B.ex[e].h, ref), MXB_SUCCESS);
    for (int64_t i = 0; i < rows * N; i++)
      cr_assert_eq(mxbt_f2u(C[r0 * N + i]), mxbt_f2u(ref[i]), "%s group %d at %lld: %a, dense %a", impl, e,
                   (long long)i, C[r0 * N + i], ref[i]);
    free(ref);
    mxbt_operand_free(&a);
  }
  free(C);
  stack_free(&B, 3);
  mxbt_planes_free(&qa);
  free(x);
  mxb_context_destroy(cpu);
}

Test(grouped_gemm, zero_and_tiny_groups_give_zeros_not_nan) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  zero_tiny_groups(ctx, MXB_GEMM_EXACT);
  zero_tiny_groups(ctx, MXB_GEMM_FAST);
  mxb_context_destroy(ctx);
}

Test(grouped_gemm_cuda, zero_and_tiny_groups_give_zeros_not_nan) {
  MXBT_REQUIRE_GPU();
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx), MXB_SUCCESS, "%s", mxb_last_error_detail());
  zero_tiny_groups(ctx, MXB_GEMM_EXACT);
  zero_tiny_groups(ctx, MXB_GEMM_FAST);
  mxb_context_destroy(ctx);
}
