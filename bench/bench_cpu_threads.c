/* The CPU backend on 1 thread and on all threads (MXBLAS_NUM_THREADS, or the
 * online CPUs): the element encoders (fp32 -> code, RNE, the loop the block
 * quantizers run, over 4 Mi values in chunks of 64 Ki on the thread pool),
 * mxb_quantize of a 1024x4096 fp32 input, and a 512^3 NVFP4 GEMM. Bytes/s
 * counts the fp32 input, over wall time (the pool's threads do the work, so
 * the calling thread's CPU time would not do); the "threads" counter says
 * how many ran, "per_thread_B/s" the rate per thread. Scaling: the "all"
 * rate over the "1" rate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "common/block.h"
#include "cpu/pool.h"
#include "mxblas.h"

enum { N_ENC = 1 << 22, ENC_CHUNK = 1 << 16, ROWS = 1024, COLS = 4096 };

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Deterministic, roughly normal, magnitudes 2^-12..2^4 (every binade of the
 * small formats, saturation and underflow included). */
static float *input(size_t n) {
  float *x = malloc(n * sizeof(float));
  uint64_t st = 1;
  for (size_t i = 0; x && i < n; i++) {
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = ((float)(int32_t)(st >> 32) / 2147483648.0f) * (float)(1 << ((st >> 20) & 15)) / 4096.0f;
  }
  return x;
}

typedef struct {
  int elem;
  int all; /* 0: one thread; 1: all */
} ecase;

typedef struct {
  mxb_fp p;
  const float *x;
  uint8_t *out;
} ejob;

static void encode_chunk(void *arg, int64_t task, int slot) {
  (void)slot;
  const ejob *j = arg;
  mxb_encode_rne_host(&j->p, j->x + task * ENC_CHUNK, ENC_CHUNK, 1.0f, 1.0f, j->out + task * ENC_CHUNK);
}

static void run_encode(mxbb_state *s, void *arg) {
  const ecase *c = arg;
  mxb_cpu_set_threads(0);
  int t = c->all ? mxb_cpu_threads() : 1;
  ejob j = {mxb_elem_fp(c->elem), input(N_ENC), malloc(N_ENC)};
  double total = 0;
  while (mxbb_keep_running(s)) {
    double t0 = now();
    mxb_cpu_run(t, N_ENC / ENC_CHUNK, encode_chunk, &j);
    double dt = now() - t0;
    mxbb_set_iteration_time(s, dt);
    total += dt;
  }
  mxbb_set_bytes_processed(s, mxbb_iterations(s) * (int64_t)N_ENC * 4);
  mxbb_counter(s, "threads", t, 0);
  mxbb_counter(s, "per_thread_B/s", (double)mxbb_iterations(s) * N_ENC * 4 / t / total, 0);
  free((void *)j.x);
  free(j.out);
}

typedef struct {
  mxb_format_t format;
  int all;
} qcase;

static void run_quantize(mxbb_state *s, void *arg) {
  const qcase *qc = arg;
  mxb_cpu_set_threads(0);
  int t = qc->all ? mxb_cpu_threads() : 1;
  mxb_cpu_set_threads(t);
  mxbb_counter(s, "threads", t, 0);
  mxb_context_t *ctx = NULL;
  mxb_tensor_t q;
  float *x = input((size_t)ROWS * COLS), amax = 0;
  if (mxb_context_create(MXB_BACKEND_CPU, 0, &ctx) != MXB_SUCCESS || !x ||
      !mxbb_host_tensor(qc->format, ROWS, COLS, &q, &amax)) {
    mxbb_skip(s, mxb_last_error_detail());
    free(x);
    mxb_cpu_set_threads(0);
    return;
  }
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  double total = 0;
  while (mxbb_keep_running(s)) {
    double t0 = now();
    if (mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &q, NULL, 0, NULL) != MXB_SUCCESS) {
      mxbb_skip(s, mxb_last_error_detail());
      break;
    }
    double dt = now() - t0;
    mxbb_set_iteration_time(s, dt);
    total += dt;
  }
  mxbb_set_bytes_processed(s, mxbb_iterations(s) * (int64_t)ROWS * COLS * 4);
  mxbb_counter(s, "per_thread_B/s", (double)mxbb_iterations(s) * ROWS * COLS * 4 / t / total, 0);
  mxbb_host_tensor_free(&q);
  free(x);
  mxb_context_destroy(ctx);
  mxb_cpu_set_threads(0);
}

/* GEMM: NVFP4 x NVFP4, GDIM^3, both operands from the same input. */
enum { GDIM = 512 };
static void run_gemm(mxbb_state *s, void *arg) {
  const int all = (int)(intptr_t)arg;
  mxb_cpu_set_threads(0);
  int t = all ? mxb_cpu_threads() : 1;
  mxb_cpu_set_threads(t);
  mxb_context_t *ctx = NULL;
  mxb_tensor_t q = {0};
  float *x = input((size_t)GDIM * GDIM), amax = 0, *c = malloc(sizeof(float) * GDIM * GDIM);
  int ok = mxb_context_create(MXB_BACKEND_CPU, 0, &ctx) == MXB_SUCCESS && x && c &&
           mxbb_host_tensor(MXB_FORMAT_NVFP4, GDIM, GDIM, &q, &amax);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  size_t ws = 0;
  void *w = NULL;
  if (!ok || mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &q, NULL, 0, NULL) != MXB_SUCCESS ||
      mxb_gemm_workspace_size(ctx, &d, &q, &q, &ws) != MXB_SUCCESS || !(w = malloc(ws))) {
    mxbb_skip(s, mxb_last_error_detail());
  } else {
    while (mxbb_keep_running(s)) {
      double t0 = now();
      if (mxb_gemm(ctx, &d, &q, &q, c, w, ws, NULL) != MXB_SUCCESS) {
        mxbb_skip(s, mxb_last_error_detail());
        break;
      }
      mxbb_set_iteration_time(s, now() - t0);
    }
    mxbb_counter(s, "threads", t, 0);
  }
  free(w);
  mxbb_host_tensor_free(&q);
  free(x);
  free(c);
  mxb_context_destroy(ctx);
  mxb_cpu_set_threads(0);
}

static const int k_elems[] = {MXB_ELEM_E2M1, MXB_ELEM_E2M3, MXB_ELEM_E3M2, MXB_ELEM_E4M3, MXB_ELEM_E5M2};
static const char *k_elem_names[] = {"e2m1", "e2m3", "e3m2", "e4m3", "e5m2"};
static const mxb_format_t k_formats[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4,
                                         MXB_FORMAT_MX6, MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_BF16};
#define NE (sizeof(k_elems) / sizeof(k_elems[0]))
#define NF (sizeof(k_formats) / sizeof(k_formats[0]))
static ecase k_ecases[2 * NE];
static qcase k_qcases[2 * NF];
static char k_names[2 * (NE + NF)][64];

MXBB_CONSTRUCTOR static void reg(void) {
  size_t n = 0;
  for (int all = 0; all < 2; all++)
    for (size_t k = 0; k < NE; k++) {
      k_ecases[all * NE + k] = (ecase){k_elems[k], all};
      snprintf(k_names[n], sizeof(k_names[n]), "cpu/threads/encode_rne/%s/%s", k_elem_names[k], all ? "all" : "1");
      mxbb_register(k_names[n++], run_encode, &k_ecases[all * NE + k], 1);
    }
  for (int all = 0; all < 2; all++)
    for (size_t k = 0; k < NF; k++) {
      mxb_format_info_t in = {.struct_size = sizeof(in)};
      mxb_format_info(k_formats[k], &in);
      k_qcases[all * NF + k] = (qcase){k_formats[k], all};
      snprintf(k_names[n], sizeof(k_names[n]), "cpu/threads/quantize/%s/%s", in.name, all ? "all" : "1");
      mxbb_register(k_names[n++], run_quantize, &k_qcases[all * NF + k], 1);
    }
  mxbb_register("cpu/threads/gemm/nvfp4/512/1", run_gemm, (void *)(intptr_t)0, 1);
  mxbb_register("cpu/threads/gemm/nvfp4/512/all", run_gemm, (void *)(intptr_t)1, 1);
}
