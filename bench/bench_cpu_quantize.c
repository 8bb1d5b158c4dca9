/* CPU reference quantize and dequantize per format on a 1024x4096 fp32
 * input; bytes/s counts the fp32 input (quantize) or fp32 output
 * (dequantize) bytes. Single-threaded (the thread pool is set to one thread;
 * bench_cpu_threads.c measures the scaling). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cpu/pool.h"
#include "mxblas.h"

enum { ROWS = 1024, COLS = 4096 };

typedef struct {
  mxb_format_t format;
  int dequant;
  int sr;   /* stochastic rounding */
  int fos;  /* NVFP4 Four Over Six (MSE) */
} qcase;

static void run(mxbb_state *s, void *arg) {
  const qcase *qc = arg;
  mxb_cpu_set_threads(1);
  mxb_context_t *ctx = NULL;
  mxb_tensor_t t;
  float *x = malloc((size_t)ROWS * COLS * 4), *y = malloc((size_t)ROWS * COLS * 4), amax = 0;
  if (mxb_context_create(MXB_BACKEND_CPU, 0, &ctx) != MXB_SUCCESS || !x || !y ||
      !mxbb_host_tensor(qc->format, ROWS, COLS, &t, &amax)) {
    mxbb_skip(s, mxb_last_error_detail());
    free(x);
    free(y);
    mxb_cpu_set_threads(0);
    return;
  }
  uint64_t st = 1;
  for (size_t i = 0; i < (size_t)ROWS * COLS; i++) { /* deterministic, roughly normal */
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = ((float)(int32_t)(st >> 32) / 2147483648.0f) * ((st >> 20) & 1 ? 3.0f : 0.25f);
  }
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  if (qc->sr) cfg.rounding = MXB_ROUND_SR;
  if (qc->fos) cfg.four_over_six = MXB_FOUR_OVER_SIX_MSE;
  mxb_status_t rc = mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL);
  while (rc == MXB_SUCCESS && mxbb_keep_running(s)) {
    if (qc->dequant)
      rc = mxb_dequantize(ctx, &t, MXB_DTYPE_FP32, y, NULL);
    else
      rc = mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL);
  }
  if (rc != MXB_SUCCESS) mxbb_skip(s, mxb_last_error_detail());
  else mxbb_set_bytes_processed(s, mxbb_iterations(s) * (int64_t)ROWS * COLS * 4);
  mxbb_host_tensor_free(&t);
  free(x);
  free(y);
  mxb_context_destroy(ctx);
  mxb_cpu_set_threads(0);
}

static const mxb_format_t k_formats[] = {
    MXB_FORMAT_NVFP4,          MXB_FORMAT_MXFP8_E4M3,     MXB_FORMAT_MXFP8_E5M2,      MXB_FORMAT_MXFP6_E3M2,
    MXB_FORMAT_MXFP6_E2M3,     MXB_FORMAT_MXFP4,          MXB_FORMAT_MXINT8,          MXB_FORMAT_MX9,
    MXB_FORMAT_MX6,            MXB_FORMAT_MX4,            MXB_FORMAT_FP8_E4M3_TENSOR, MXB_FORMAT_FP8_E4M3_1x128,
    MXB_FORMAT_FP8_E4M3_128x128, MXB_FORMAT_BF16};
#define NF (sizeof(k_formats) / sizeof(k_formats[0]))
static qcase k_cases[2 * NF + 3];
static char k_names[2 * NF + 3][64];

MXBB_CONSTRUCTOR static void reg(void) {
  size_t n = 0;
  for (size_t k = 0; k < NF; k++)
    for (int dq = 0; dq < 2; dq++) {
      mxb_format_info_t in = {.struct_size = sizeof(in)};
      mxb_format_info(k_formats[k], &in);
      k_cases[n] = (qcase){k_formats[k], dq, 0, 0};
      snprintf(k_names[n], sizeof(k_names[n]), "cpu/%s/%s", dq ? "dequantize" : "quantize", in.name);
      mxbb_register(k_names[n], run, &k_cases[n], 0);
      n++;
    }
  k_cases[n] = (qcase){MXB_FORMAT_NVFP4, 0, 1, 0};
  mxbb_register("cpu/quantize/nvfp4_sr", run, &k_cases[n++], 0);
  k_cases[n] = (qcase){MXB_FORMAT_MXFP8_E4M3, 0, 1, 0};
  mxbb_register("cpu/quantize/mxfp8_e4m3_sr", run, &k_cases[n++], 0);
  k_cases[n] = (qcase){MXB_FORMAT_NVFP4, 0, 0, 1};
  mxbb_register("cpu/quantize/nvfp4_four_over_six", run, &k_cases[n++], 0);
}
