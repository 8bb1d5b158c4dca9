/* Grouped (MoE) GEMM throughput against the same grouped work in BF16 in the
 * same run: cuBLASLt BF16 called once per group with the sizes known on the
 * host (a baseline that needs no device-to-host copy of the counts, so
 * generous to BF16), and against mxblas's dense kernel at the same total M.
 * TFLOP/s = 2 * (routed rows) * N * K / time; ratio_to_bf16 = the BF16
 * baseline's time / this case's; ratio_to_dense = the dense call's time /
 * this case's (cases "dense_*": one expert, A of all routed rows).
 * Scenarios (docs/PERFORMANCE.md):
 *   deepseek  E = 8, 4096 rows each, N = 4096, K = 7168 (contiguous)
 *   latent    E = 128, N = 2048, K = 1024, about 16384 routed rows over 120
 *             experts with Zipf-like sizes (exponent 1.1), 8 experts empty,
 *             in a shuffled expert order
 *   decode    masked, E = 64, max_m = 16, 1..16 rows an expert, N = 2048, K = 1024
 * and the K split (weight gradients, cuda_grouped_k/): dW_e = dY_e^T X_e for
 * E = 8 experts of 4096 tokens each, A = dY^T [4096, 32768], B = X^T [7168,
 * 32768], against one dense GEMM of the same A and B (the same FLOPs) in BF16
 * through mxb_gemm (cuBLASLt) and in the case's format. */
#include "bench.h"
#include "mxblas.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MXB_WITH_CUDA
#include "bench_cuda_util.h"

typedef enum { G_BF16_LT, G_MXB, G_DENSE, G_MXB_EXACT } gkind; /* G_MXB_EXACT: mxb_grouped_gemm in exact mode */

typedef struct scenario {
  const char *name;
  int E, masked;
  int64_t N, K, total, max_m;
  int64_t rows[128];
} scenario;

typedef struct gcase {
  const char *name;
  gkind kind;
  int sc;  /* scenario */
  mxb_format_t fa, fb;
  mxb_activation_t act; /* with a bias of E x N fp32 values (MXB_ACT_NONE: neither) */
} gcase;

enum { SC_DEEPSEEK, SC_LATENT, SC_DECODE, NSC };
static scenario g_sc[NSC];
static double g_bf16_time[NSC], g_dense_time[NSC][7];

static void scenarios_init(void) {
  scenario *d = &g_sc[SC_DEEPSEEK];
  *d = (scenario){"deepseek", 8, 0, 4096, 7168, 0, 0, {0}};
  for (int e = 0; e < 8; e++) d->rows[e] = 4096;
  d->total = 8 * 4096;
  scenario *l = &g_sc[SC_LATENT];
  *l = (scenario){"latent", 128, 0, 2048, 1024, 0, 0, {0}};
  double w[128], sw = 0;
  for (int e = 0; e < 128; e++) sw += w[e] = e < 120 ? pow(e + 1.0, -1.1) : 0.0; /* the last 8 ranks: no tokens */
  int perm[128];
  uint64_t s = 99;
  for (int e = 0; e < 128; e++) perm[e] = e;
  for (int e = 127; e > 0; e--) {
    int j = (int)(splitmix(&s) % (uint64_t)(e + 1)), t = perm[e];
    perm[e] = perm[j];
    perm[j] = t;
  }
  for (int e = 0; e < 128; e++) {
    l->rows[perm[e]] = (int64_t)floor(16384.0 * w[e] / sw);
    l->total += l->rows[perm[e]];
  }
  scenario *m = &g_sc[SC_DECODE];
  *m = (scenario){"decode", 64, 1, 2048, 1024, 0, 16, {0}};
  for (int e = 0; e < 64; e++) {
    m->rows[e] = 1 + (int64_t)(splitmix(&s) % 16);
    m->total += m->rows[e];
  }
}

/* A stack of E experts [E * N, K] (NVFP4: E amaxes of 1). */
static int make_stack(mxb_tensor_t *t, mxb_format_t f, int E, int64_t N, int64_t K) {
  if (make_operand(t, f, E * N, K, 40) != 0) return -1;
  if (t->amax) {
    cudaFree(t->amax);
    float *h = malloc((size_t)E * 4);
    for (int e = 0; e < E; e++) h[e] = 1.0f;
    int bad = cudaMalloc((void **)&t->amax, (size_t)E * 4) != cudaSuccess ||
              cudaMemcpy(t->amax, h, (size_t)E * 4, cudaMemcpyHostToDevice) != cudaSuccess;
    free(h);
    if (bad) return -1;
  }
  return 0;
}

/* cuBLASLt BF16, one call a group (C^T = B_e A_e^T, bf16 out), one handle,
 * an algorithm planned per group shape. */
typedef struct {
  cublasLtHandle_t h;
  cublasLtMatmulDesc_t op;
  cublasLtMatrixLayout_t la, lb[128], lc[128];
  cublasLtMatmulAlgo_t algo[128];
  void *ws;
  size_t ws_bytes;
} lt_groups;

static int lt_groups_init(lt_groups *g, const scenario *s) {
  memset(g, 0, sizeof(*g));
  g->ws_bytes = (size_t)32 << 20;
  if (cudaMalloc(&g->ws, g->ws_bytes) != cudaSuccess || cublasLtCreate(&g->h) != CUBLAS_STATUS_SUCCESS) return -1;
  cublasLtMatmulDescCreate(&g->op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
  cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta));
  cublasLtMatmulDescSetAttribute(g->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb));
  cublasLtMatrixLayoutCreate(&g->la, CUDA_R_16BF, (uint64_t)s->K, (uint64_t)s->N, s->K);
  cublasLtMatmulPreference_t pref;
  cublasLtMatmulPreferenceCreate(&pref);
  uint64_t ws = g->ws_bytes;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  int bad = 0;
  for (int e = 0; e < s->E && !bad; e++) {
    if (!s->rows[e]) continue;
    cublasLtMatrixLayoutCreate(&g->lb[e], CUDA_R_16BF, (uint64_t)s->K, (uint64_t)s->rows[e], s->K);
    cublasLtMatrixLayoutCreate(&g->lc[e], CUDA_R_16BF, (uint64_t)s->N, (uint64_t)s->rows[e], s->N);
    cublasLtMatmulHeuristicResult_t r;
    int found = 0;
    cublasLtMatmulAlgoGetHeuristic(g->h, g->op, g->la, g->lb[e], g->lc[e], g->lc[e], pref, 1, &r, &found);
    if (found) g->algo[e] = r.algo;
    else bad = 1;
  }
  cublasLtMatmulPreferenceDestroy(pref);
  return bad ? -1 : 0;
}

/* Group e's rows of A at its first row (contiguous, or e * max_m masked). */
static int lt_groups_run(lt_groups *g, const scenario *s, const void *A, const void *B, void *C) {
  float alpha = 1.0f, beta = 0.0f;
  int64_t row = 0;
  for (int e = 0; e < s->E; e++) {
    const int64_t r0 = s->masked ? e * s->max_m : row;
    row += s->rows[e];
    if (!s->rows[e]) continue;
    const char *a = (const char *)A + (size_t)(r0 * s->K) * 2, *b = (const char *)B + (size_t)(e * s->N * s->K) * 2;
    char *c = (char *)C + (size_t)(r0 * s->N) * 2;
    if (cublasLtMatmul(g->h, g->op, &alpha, b, g->la, a, g->lb[e], &beta, c, g->lc[e], c, g->lc[e], &g->algo[e],
                       g->ws, g->ws_bytes, 0) != CUBLAS_STATUS_SUCCESS)
      return -1;
  }
  return 0;
}

static void lt_groups_fini(lt_groups *g, const scenario *s) {
  for (int e = 0; e < s->E; e++)
    if (s->rows[e]) {
      cublasLtMatrixLayoutDestroy(g->lb[e]);
      cublasLtMatrixLayoutDestroy(g->lc[e]);
    }
  cublasLtMatrixLayoutDestroy(g->la);
  cublasLtMatmulDescDestroy(g->op);
  if (g->h) cublasLtDestroy(g->h);
  cudaFree(g->ws);
}

/* Which dense case a grouped one is compared with (by its formats). */
static int dense_slot(mxb_format_t fa, mxb_format_t fb) {
  if (fa == MXB_FORMAT_BF16) return fb == MXB_FORMAT_MXFP4 ? 1 : fb == MXB_FORMAT_BF16 ? 6 : 0;
  if (fa == MXB_FORMAT_NVFP4) return 2;
  if (fb == MXB_FORMAT_MXFP4) return 4;              /* W4A8 */
  return fa == MXB_FORMAT_FP8_E4M3_1x128 ? 5 : 3; /* FP8 blocks : MXFP8 */
}

/* One call of a case (bench_call). */
typedef struct gcall {
  const gcase *c;
  const scenario *s;
  mxb_context_t *ctx;
  const mxb_gemm_desc_t *d;
  const mxb_grouped_gemm_desc_t *g;
  const mxb_tensor_t *A, *B;
  void *C, *ws;
  size_t wsb;
  lt_groups *lt;
} gcall;

static int gemm_call(void *arg, int i) {
  const gcall *x = arg;
  (void)i;
  if (x->c->kind == G_BF16_LT) return lt_groups_run(x->lt, x->s, x->A->data, x->B->data, x->C);
  if (x->c->kind == G_DENSE) return mxb_gemm(x->ctx, x->d, x->A, x->B, x->C, x->ws, x->wsb, NULL) != MXB_SUCCESS;
  return mxb_grouped_gemm(x->ctx, x->g, x->A, x->B, x->C, x->ws, x->wsb, NULL) != MXB_SUCCESS;
}

static void run(mxbb_state *st, void *arg) {
  const gcase *c = arg;
  const scenario *s = &g_sc[c->sc];
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    mxbb_skip(st, "no CUDA device");
    return;
  }
  const int64_t a_rows = s->masked ? s->E * s->max_m : s->total;
  mxb_tensor_t A, B;
  memset(&A, 0, sizeof(A));
  memset(&B, 0, sizeof(B));
  const mxb_format_t fa = c->kind == G_BF16_LT ? MXB_FORMAT_BF16 : c->fa;
  const mxb_format_t fb = c->kind == G_BF16_LT ? MXB_FORMAT_BF16 : c->fb;
  int bad = make_operand(&A, fa, a_rows, s->K, 1) != 0;
  bad |= c->kind == G_DENSE ? make_operand(&B, fb, s->N, s->K, 2) != 0 : make_stack(&B, fb, s->E, s->N, s->K) != 0;
  void *C = NULL, *ws = NULL, *index = NULL;
  size_t wsb = 0;
  bad |= cudaMalloc(&C, (size_t)(a_rows * s->N) * 4) != cudaSuccess;
  int32_t idx[129];
  int64_t row = 0;
  for (int e = 0; e < s->E; e++) {
    idx[e] = (int32_t)(s->masked ? s->rows[e] : row);
    row += s->rows[e];
  }
  idx[s->E] = (int32_t)row;
  bad |= cudaMalloc(&index, sizeof(idx)) != cudaSuccess || cudaMemcpy(index, idx, sizeof(idx), cudaMemcpyHostToDevice) != cudaSuccess;
  mxb_context_t *ctx = NULL;
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.mode = c->kind == G_MXB_EXACT ? MXB_GEMM_EXACT : MXB_GEMM_FAST;
  d.c_type = MXB_DTYPE_BF16;
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.gemm = &d;
  g.layout = s->masked ? MXB_GROUPED_M_MASKED : MXB_GROUPED_M_CONTIGUOUS;
  g.groups = s->E;
  g.index = index;
  void *bias = NULL;
  if (c->act != MXB_ACT_NONE) {
    bad |= cudaMalloc(&bias, (size_t)(s->E * s->N) * 4) != cudaSuccess ||
           cudaMemset(bias, 0, (size_t)(s->E * s->N) * 4) != cudaSuccess;
    d.bias = bias;
    d.activation = c->act;
  }
  lt_groups lt;
  memset(&lt, 0, sizeof(lt));
  if (!bad && c->kind == G_BF16_LT) {
    bad |= lt_groups_init(&lt, s) != 0;
  } else if (!bad) {
    bad |= mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx) != MXB_SUCCESS;
    bad |= !bad && (c->kind == G_DENSE ? mxb_gemm_workspace_size(ctx, &d, &A, &B, &wsb)
                                       : mxb_grouped_gemm_workspace_size(ctx, &g, &A, &B, &wsb)) != MXB_SUCCESS;
    bad |= !bad && wsb && cudaMalloc(&ws, wsb) != cudaSuccess;
  }
  gcall gc = {c, s, ctx, &d, &g, &A, &B, C, ws, wsb, &lt};
  const double per = bench_calls(st, gemm_call, &gc, !bad);
  if (per > 0) {
    const double flops = 2.0 * (double)s->total * (double)s->N * (double)s->K;
    if (c->kind == G_BF16_LT) g_bf16_time[c->sc] = per;
    if (c->kind == G_DENSE) g_dense_time[c->sc][dense_slot(c->fa, c->fb)] = per;
    mxbb_counter(st, "TFLOPS", flops * 1e-12 / per, 0);
    mxbb_counter(st, "us", per * 1e6, 0);
    if (g_bf16_time[c->sc] > 0 && c->kind != G_DENSE) mxbb_counter(st, "ratio_to_bf16", g_bf16_time[c->sc] / per, 0);
    const double dt = g_dense_time[c->sc][dense_slot(c->fa, c->fb)];
    if (c->kind == G_MXB && dt > 0) mxbb_counter(st, "ratio_to_dense", dt / per, 0);
    if (c->sc == SC_DECODE) {
      mxb_tensor_sizes_t z = {.struct_size = sizeof(z)};
      mxb_tensor_sizes(fb, B.rows, s->K, MXB_SCALE_LAYOUT_LINEAR, &z);
      mxbb_counter(st, "weight_TBps", (double)(z.data_bytes + z.scale_bytes) * 1e-12 / per, 0);
    }
  }
  if (c->kind == G_BF16_LT) lt_groups_fini(&lt, s);
  if (ctx) {
    mxbb_set_label(st, mxb_context_last_impl(ctx));
    mxb_context_destroy(ctx);
  }
  cudaFree(ws);
  cudaFree(C);
  cudaFree(index);
  cudaFree(bias);
  free_operand(&A);
  free_operand(&B);
}

/* Grouped quantize of the LatentMoE-like routed rows (K = 4096 columns, bf16
 * in) against quantizing the same tensor at once (dense), same run:
 * ratio_to_dense = dense time / grouped time. */
typedef struct qcase {
  const char *name;
  mxb_format_t f;
  int grouped;
} qcase;
static double g_qdense[2];

typedef struct qcall {
  const qcase *c;
  mxb_context_t *ctx;
  const mxb_grouped_gemm_desc_t *g;
  const void *x;
  mxb_tensor_t *q;
  void *ws;
  size_t wsb;
} qcall;

static int quant_call(void *arg, int i) {
  const qcall *k = arg;
  (void)i;
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  return (k->c->grouped ? mxb_grouped_quantize(k->ctx, k->g, &cfg, MXB_DTYPE_BF16, k->x, k->q, k->ws, k->wsb, NULL)
                        : mxb_quantize(k->ctx, &cfg, MXB_DTYPE_BF16, k->x, k->q, k->ws, k->wsb, NULL)) != MXB_SUCCESS;
}

static void run_quant(mxbb_state *st, void *arg) {
  const qcase *c = arg;
  const scenario *s = &g_sc[SC_LATENT];
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    mxbb_skip(st, "no CUDA device");
    return;
  }
  const int64_t rows = s->total, K = 4096;
  const int slot = c->f == MXB_FORMAT_NVFP4 ? 0 : 1;
  mxb_tensor_t q;
  mxb_tensor_sizes_t z = {.struct_size = sizeof(z)};
  mxb_tensor_init(&q, c->f, rows, K, MXB_SCALE_LAYOUT_LINEAR);
  mxb_tensor_sizes(c->f, rows, K, MXB_SCALE_LAYOUT_LINEAR, &z);
  void *x = dev_random((size_t)(rows * K) * 2, 1, 5), *ws = NULL, *index = NULL;
  int bad = !x || cudaMalloc(&q.data, z.data_bytes) != cudaSuccess ||
            cudaMalloc(&q.scales, z.scale_bytes) != cudaSuccess ||
            cudaMalloc((void **)&q.amax, (size_t)s->E * 4) != cudaSuccess;
  int32_t idx[129];
  int64_t row = 0;
  for (int e = 0; e <= s->E; e++) {
    idx[e] = (int32_t)row;
    if (e < s->E) row += s->rows[e];
  }
  bad |= cudaMalloc(&index, sizeof(idx)) != cudaSuccess || cudaMemcpy(index, idx, sizeof(idx), cudaMemcpyHostToDevice) != cudaSuccess;
  mxb_context_t *ctx = NULL;
  bad |= mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx) != MXB_SUCCESS;
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.groups = s->E;
  g.index = index;
  size_t wsb = 0;
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  bad |= !bad && (c->grouped ? mxb_grouped_quantize_workspace_size(ctx, &g, &cfg, MXB_DTYPE_BF16, &q, &wsb)
                             : mxb_quantize_workspace_size(ctx, &cfg, MXB_DTYPE_BF16, &q, &wsb)) != MXB_SUCCESS;
  bad |= !bad && wsb && cudaMalloc(&ws, wsb) != cudaSuccess;
  qcall qc = {c, ctx, &g, x, &q, ws, wsb};
  const double per = bench_calls(st, quant_call, &qc, !bad);
  if (per > 0) {
    if (!c->grouped) g_qdense[slot] = per;
    mxbb_counter(st, "us", per * 1e6, 0);
    mxbb_counter(st, "GBps", (double)((size_t)(rows * K) * 2 + z.data_bytes + z.scale_bytes) * 1e-9 / per, 0);
    if (c->grouped && g_qdense[slot] > 0) mxbb_counter(st, "ratio_to_dense", g_qdense[slot] / per, 0);
  }
  if (ctx) {
    mxbb_set_label(st, mxb_context_last_impl(ctx));
    mxb_context_destroy(ctx);
  }
  cudaFree(ws);
  cudaFree(index);
  cudaFree(x);
  cudaFree(q.data);
  cudaFree(q.scales);
  cudaFree(q.amax);
}

/* K split cases (gcase without a scenario): G_BF16_LT here is the dense BF16
 * mxb_gemm of A [M, T] and B [N, T]. */
enum { KE = 8, KM = 4096, KN = 7168, KT = 8 * 4096 };
static double g_k_bf16, g_k_dense; /* the dense case registered just before */

static int kcall(void *arg, int i) {
  const gcall *x = arg;
  (void)i;
  if (x->c->kind == G_MXB) return mxb_grouped_gemm(x->ctx, x->g, x->A, x->B, x->C, x->ws, x->wsb, NULL) != MXB_SUCCESS;
  return mxb_gemm(x->ctx, x->d, x->A, x->B, x->C, x->ws, x->wsb, NULL) != MXB_SUCCESS;
}

static void run_k(mxbb_state *st, void *arg) {
  const gcase *c = arg;
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    mxbb_skip(st, "no CUDA device");
    return;
  }
  mxb_tensor_t A, B;
  memset(&A, 0, sizeof(A));
  memset(&B, 0, sizeof(B));
  int bad = make_operand(&A, c->fa, KM, KT, 1) != 0 || make_operand(&B, c->fb, KN, KT, 2) != 0;
  void *C = NULL, *ws = NULL, *index = NULL;
  size_t wsb = 0;
  const int grouped = c->kind == G_MXB;
  bad |= cudaMalloc(&C, (size_t)(grouped ? KE : 1) * KM * KN * 4) != cudaSuccess;
  int64_t off[KE + 1];
  for (int e = 0; e <= KE; e++) off[e] = (int64_t)e * (KT / KE);
  bad |= cudaMalloc(&index, sizeof(off)) != cudaSuccess ||
         cudaMemcpy(index, off, sizeof(off), cudaMemcpyHostToDevice) != cudaSuccess;
  mxb_context_t *ctx = NULL;
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.mode = MXB_GEMM_FAST;
  d.c_type = MXB_DTYPE_BF16;
  mxb_grouped_gemm_desc_t g;
  mxb_grouped_gemm_desc_init(&g);
  g.gemm = &d;
  g.layout = MXB_GROUPED_K_CONTIGUOUS;
  g.groups = KE;
  g.index_bits = 64;
  g.index = index;
  bad |= !bad && mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx) != MXB_SUCCESS;
  bad |= !bad && (grouped ? mxb_grouped_gemm_workspace_size(ctx, &g, &A, &B, &wsb)
                          : mxb_gemm_workspace_size(ctx, &d, &A, &B, &wsb)) != MXB_SUCCESS;
  bad |= !bad && wsb && cudaMalloc(&ws, wsb) != cudaSuccess;
  gcall gc = {c, NULL, ctx, &d, &g, &A, &B, C, ws, wsb, NULL};
  const double per = bench_calls(st, kcall, &gc, !bad);
  if (per > 0) {
    mxbb_counter(st, "TFLOPS", 2.0 * KM * KN * (double)KT * 1e-12 / per, 0);
    mxbb_counter(st, "us", per * 1e6, 0);
    if (c->kind == G_BF16_LT) g_k_bf16 = per;
    if (c->kind == G_DENSE) g_k_dense = per;
    if (g_k_bf16 > 0 && c->kind != G_BF16_LT) mxbb_counter(st, "ratio_to_bf16", g_k_bf16 / per, 0);
    if (grouped && g_k_dense > 0) mxbb_counter(st, "ratio_to_dense", g_k_dense / per, 0);
  }
  if (ctx) {
    mxbb_set_label(st, mxb_context_last_impl(ctx));
    mxb_context_destroy(ctx);
  }
  cudaFree(ws);
  cudaFree(C);
  cudaFree(index);
  free_operand(&A);
  free_operand(&B);
}

static const gcase k_kcases[] = {
    {"dense_bf16", G_BF16_LT, -1, MXB_FORMAT_BF16, MXB_FORMAT_BF16, MXB_ACT_NONE},
    {"mxb_bf16", G_MXB, -1, MXB_FORMAT_BF16, MXB_FORMAT_BF16, MXB_ACT_NONE},
    {"dense_mxfp8", G_DENSE, -1, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_ACT_NONE},
    {"mxb_mxfp8", G_MXB, -1, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_ACT_NONE},
    {"dense_fp8_1x128_x_128x128", G_DENSE, -1, MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128, MXB_ACT_NONE},
    {"mxb_fp8_1x128_x_128x128", G_MXB, -1, MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128, MXB_ACT_NONE},
    {"dense_nvfp4", G_DENSE, -1, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_ACT_NONE},
    {"mxb_nvfp4", G_MXB, -1, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_ACT_NONE},
};
#define NKCASES (int)(sizeof(k_kcases) / sizeof(k_kcases[0]))

static const qcase k_qcases[] = {{"dense_nvfp4", MXB_FORMAT_NVFP4, 0},
                                 {"grouped_nvfp4", MXB_FORMAT_NVFP4, 1},
                                 {"dense_mxfp8_e4m3", MXB_FORMAT_MXFP8_E4M3, 0},
                                 {"grouped_mxfp8_e4m3", MXB_FORMAT_MXFP8_E4M3, 1}};

#define MAXCASES 96
static gcase g_cases[MAXCASES];
static char g_names[MAXCASES][96];

MXBB_CONSTRUCTOR static void reg(void) {
  scenarios_init();
  int n = 0;
  for (int sc = 0; sc < NSC; sc++) {
    const gcase list[] = {
        {"cublaslt_bf16_per_group", G_BF16_LT, sc, MXB_FORMAT_BF16, MXB_FORMAT_BF16, MXB_ACT_NONE},
        {"dense_bf16", G_DENSE, sc, MXB_FORMAT_BF16, MXB_FORMAT_BF16, MXB_ACT_NONE},
        {"mxb_bf16", G_MXB, sc, MXB_FORMAT_BF16, MXB_FORMAT_BF16, MXB_ACT_NONE},
        {"dense_bf16_x_nvfp4w", G_DENSE, sc, MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, MXB_ACT_NONE},
        {"dense_bf16_x_mxfp4w", G_DENSE, sc, MXB_FORMAT_BF16, MXB_FORMAT_MXFP4, MXB_ACT_NONE},
        {"dense_nvfp4", G_DENSE, sc, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_ACT_NONE},
        {"mxb_bf16_x_nvfp4w", G_MXB, sc, MXB_FORMAT_BF16, MXB_FORMAT_NVFP4, MXB_ACT_NONE},
        {"mxb_bf16_x_mxfp4w", G_MXB, sc, MXB_FORMAT_BF16, MXB_FORMAT_MXFP4, MXB_ACT_NONE},
        {"mxb_nvfp4", G_MXB, sc, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_ACT_NONE},
        {"dense_mxfp8", G_DENSE, sc, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_ACT_NONE},
        {"dense_mxfp8_x_mxfp4w", G_DENSE, sc, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, MXB_ACT_NONE},
        {"dense_fp8_1x128_x_128x128", G_DENSE, sc, MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128, MXB_ACT_NONE},
        {"mxb_mxfp8", G_MXB, sc, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_ACT_NONE},
        {"mxb_mxfp8_x_mxfp4w", G_MXB, sc, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, MXB_ACT_NONE},
        {"mxb_fp8_1x128_x_128x128", G_MXB, sc, MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E4M3_128x128, MXB_ACT_NONE},
        /* a bias and squared ReLU (LatentMoE's expert activation), bf16 C: the epilogue step */
        {"mxb_nvfp4_bias_relu2", G_MXB, sc, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_ACT_RELU2},
        {"mxb_mxfp8_bias_relu2", G_MXB, sc, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E4M3, MXB_ACT_RELU2},
        /* exact mode (the CPU's bytes) */
        {"mxb_nvfp4_exact", G_MXB_EXACT, sc, MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4, MXB_ACT_NONE},
        {"mxb_mxfp4_exact", G_MXB_EXACT, sc, MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP4, MXB_ACT_NONE},
    };
    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]) && n < MAXCASES; i++) {
      /* the dense comparison needs a single A of all rows: not the masked layout */
      if (list[i].kind == G_DENSE && g_sc[sc].masked) continue;
      g_cases[n] = list[i];
      snprintf(g_names[n], sizeof(g_names[n]), "cuda_grouped/%s/%s", g_sc[sc].name, list[i].name);
      mxbb_register(g_names[n], run, &g_cases[n], 1);
      n++;
    }
  }
  static char knames[NKCASES][96];
  for (int i = 0; i < NKCASES; i++) {
    snprintf(knames[i], sizeof(knames[i]), "cuda_grouped_k/wgrad/%s", k_kcases[i].name);
    mxbb_register(knames[i], run_k, (void *)&k_kcases[i], 1);
  }
  static char qnames[4][96];
  for (int i = 0; i < 4; i++) {
    snprintf(qnames[i], sizeof(qnames[i]), "cuda_grouped_quantize/latent/%s/bf16_x4096", k_qcases[i].name);
    mxbb_register(qnames[i], run_quant, (void *)&k_qcases[i], 1);
  }
}
#endif
