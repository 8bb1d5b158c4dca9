/* Work for several threads sharing one context, without a test framework so
 * that the same code runs in the Criterion suite (tests/test_threads.c) and
 * under ThreadSanitizer (tests/tsan/shared_context.c, `make test-tsan`; the
 * Criterion runner does not start under TSan). */
#ifndef MXB_TEST_THREADS_WORK_H
#define MXB_TEST_THREADS_WORK_H
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxblas.h"

#define MXBT_TH_ROWS 32
#define MXBT_TH_COLS 128

/* A host tensor and its plane sizes. */
typedef struct mxbt_th_tensor {
  mxb_tensor_t t;
  mxb_tensor_sizes_t s;
  float amax;
} mxbt_th_tensor;

static inline void mxbt_th_tensor_alloc(mxbt_th_tensor *q, mxb_format_t f, int64_t rows, int64_t cols) {
  memset(q, 0, sizeof(*q));
  q->s.struct_size = sizeof(q->s);
  if (mxb_tensor_init(&q->t, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR) != MXB_SUCCESS ||
      mxb_tensor_sizes(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &q->s) != MXB_SUCCESS)
    abort();
  q->t.data = calloc(1, q->s.data_bytes);
  q->t.scales = q->s.scale_bytes ? calloc(1, q->s.scale_bytes) : NULL;
  q->t.aux = q->s.aux_bytes ? calloc(1, q->s.aux_bytes) : NULL;
  q->t.amax = q->s.amax_bytes ? &q->amax : NULL;
}

static inline void mxbt_th_tensor_free(mxbt_th_tensor *q) {
  free(q->t.data);
  free(q->t.scales);
  free(q->t.aux);
}

static inline int mxbt_th_tensor_equal(const mxbt_th_tensor *a, const mxbt_th_tensor *b) {
  return !memcmp(a->t.data, b->t.data, a->s.data_bytes) &&
         (!a->s.scale_bytes || !memcmp(a->t.scales, b->t.scales, a->s.scale_bytes)) &&
         (!a->s.aux_bytes || !memcmp(a->t.aux, b->t.aux, a->s.aux_bytes)) && !memcmp(&a->amax, &b->amax, 4);
}

/* One thread's share: every kind of call on its own buffers. */
typedef struct mxbt_th_job {
  mxb_context_t *ctx;
  int id;
  float x[MXBT_TH_ROWS * MXBT_TH_COLS];
  mxbt_th_tensor q, row, col, mor;
  float y[MXBT_TH_ROWS * MXBT_TH_COLS], c[MXBT_TH_ROWS * MXBT_TH_ROWS], amax;
  const char *impl_before, *impl_after;
  char failed[256]; /* "" or the first failing call and its detail */
} mxbt_th_job;

static inline mxbt_th_job *mxbt_th_job_new(mxb_context_t *ctx, int id) {
  mxbt_th_job *j = calloc(1, sizeof(*j));
  j->ctx = ctx;
  j->id = id;
  uint32_t s = 12345u + 977u * (uint32_t)id;
  for (int i = 0; i < MXBT_TH_ROWS * MXBT_TH_COLS; i++) {
    s = s * 1664525u + 1013904223u;
    j->x[i] = ldexpf((float)(int32_t)s, -31 + id % 5);
  }
  mxbt_th_tensor_alloc(&j->q, MXB_FORMAT_NVFP4, MXBT_TH_ROWS, MXBT_TH_COLS);
  mxbt_th_tensor_alloc(&j->row, MXB_FORMAT_MXFP8_E4M3, MXBT_TH_ROWS, MXBT_TH_COLS);
  mxbt_th_tensor_alloc(&j->col, MXB_FORMAT_MXFP8_E4M3, MXBT_TH_COLS, MXBT_TH_ROWS);
  mxbt_th_tensor_alloc(&j->mor, MXB_FORMAT_MOR_1x128, MXBT_TH_ROWS, MXBT_TH_COLS);
  return j;
}

static inline void mxbt_th_job_free(mxbt_th_job *j) {
  mxbt_th_tensor_free(&j->q);
  mxbt_th_tensor_free(&j->row);
  mxbt_th_tensor_free(&j->col);
  mxbt_th_tensor_free(&j->mor);
  free(j);
}

#define MXBT_TH_RUN(j, call)                                                                     \
  do {                                                                                           \
    if (!(j)->failed[0] && (call) != MXB_SUCCESS)                                                \
      snprintf((j)->failed, sizeof((j)->failed), "%s: %s", #call, mxb_last_error_detail());     \
  } while (0)

/* Workspaces come from malloc: MXB_WORKSPACE_ALIGNMENT is what it gives. */
static inline void *mxbt_th_work(void *arg) {
  mxbt_th_job *j = (mxbt_th_job *)arg;
  mxb_context_t *ctx = j->ctx;
  j->impl_before = mxb_context_last_impl(ctx);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.rounding = MXB_ROUND_SR;
  cfg.seed = (uint64_t)j->id;
  MXBT_TH_RUN(j, mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, j->x, &j->q.t, NULL, 0, NULL));
  MXBT_TH_RUN(j, mxb_dequantize(ctx, &j->q.t, MXB_DTYPE_FP32, j->y, NULL));
  MXBT_TH_RUN(j, mxb_amax(ctx, MXB_DTYPE_FP32, j->x, MXBT_TH_ROWS * MXBT_TH_COLS, &j->amax, NULL));

  mxb_quant_config_t rc;
  mxb_quant_config_init(&rc);
  size_t ws = 0;
  MXBT_TH_RUN(j, mxb_quantize_pair_workspace_size(ctx, &rc, &rc, MXB_DTYPE_FP32, &j->row.t, &j->col.t, &ws));
  void *w = malloc(ws ? ws : 1);
  MXBT_TH_RUN(j, mxb_quantize_pair(ctx, &rc, &rc, MXB_DTYPE_FP32, j->x, &j->row.t, &j->col.t, w, ws, NULL));
  free(w);

  mxb_mor_config_t mc;
  mxb_mor_config_init(&mc);
  MXBT_TH_RUN(j, mxb_mor_workspace_size(ctx, &mc, MXB_DTYPE_FP32, &j->mor.t, &ws));
  w = malloc(ws ? ws : 1);
  MXBT_TH_RUN(j, mxb_mor_quantize(ctx, &mc, MXB_DTYPE_FP32, j->x, &j->mor.t, w, ws, NULL));
  free(w);

  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  MXBT_TH_RUN(j, mxb_gemm_workspace_size(ctx, &d, &j->row.t, &j->row.t, &ws));
  w = malloc(ws ? ws : 1);
  MXBT_TH_RUN(j, mxb_gemm(ctx, &d, &j->row.t, &j->row.t, j->c, w, ws, NULL));
  free(w);
  j->impl_after = mxb_context_last_impl(ctx);
  return NULL;
}

/* nthreads threads share ctx (a CPU context); then the same jobs run one at
 * a time, each on a context of its own. 0 when every thread got the results its job gets
 * alone and saw only its own last implementation, else 1 with a message. */
static inline int mxbt_th_shared_context(mxb_context_t *ctx, int nthreads, char *msg, size_t msg_size) {
  mxbt_th_job *par[64], *alone;
  pthread_t th[64];
  int bad = 0;
  if (nthreads > 64) nthreads = 64;
  snprintf(msg, msg_size, "ok");
  for (int i = 0; i < nthreads; i++) par[i] = mxbt_th_job_new(ctx, i);
  for (int i = 0; i < nthreads; i++)
    if (pthread_create(&th[i], NULL, mxbt_th_work, par[i]) != 0) abort();
  for (int i = 0; i < nthreads; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < nthreads && !bad; i++) {
    mxb_context_t *own = NULL;
    if (mxb_context_create(MXB_BACKEND_CPU, 0, &own) != MXB_SUCCESS) abort();
    alone = mxbt_th_job_new(own, i);
    mxbt_th_work(alone);
    mxb_context_destroy(own);
    const mxbt_th_job *p = par[i], *a = alone;
    bad = 1;
    if (p->failed[0]) snprintf(msg, msg_size, "thread %d: %s", i, p->failed);
    else if (a->failed[0]) snprintf(msg, msg_size, "job %d alone: %s", i, a->failed);
    else if (!mxbt_th_tensor_equal(&p->q, &a->q) || !mxbt_th_tensor_equal(&p->row, &a->row) ||
             !mxbt_th_tensor_equal(&p->col, &a->col) || !mxbt_th_tensor_equal(&p->mor, &a->mor))
      snprintf(msg, msg_size, "thread %d: quantized planes differ from the same work alone", i);
    else if (memcmp(p->y, a->y, sizeof(p->y)) || memcmp(p->c, a->c, sizeof(p->c)) || memcmp(&p->amax, &a->amax, 4))
      snprintf(msg, msg_size, "thread %d: dequantized values, GEMM or amax differ from the same work alone", i);
    else if (strcmp(p->impl_before, "none") != 0)
      snprintf(msg, msg_size, "thread %d saw another thread's last implementation (%s)", i, p->impl_before);
    else if (strcmp(p->impl_after, "cpu-reference") != 0)
      snprintf(msg, msg_size, "thread %d: last implementation %s", i, p->impl_after);
    else bad = 0;
    mxbt_th_job_free(alone);
  }
  for (int i = 0; i < nthreads; i++) mxbt_th_job_free(par[i]);
  return bad;
}
#endif
