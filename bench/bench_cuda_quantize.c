/* CUDA quantize / dequantize throughput against a device-to-device copy of
 * the same input timed in the same run. Bytes counted: input read plus every
 * output plane written. ratio_to_copy = (bytes / kernel time) divided by
 * (2 * input bytes / copy time). 8192 x 8192 inputs (fp32 or bf16),
 * standard normal values; the main recipe cases also on LLM-shaped tensors
 * (16384 x 4096, 4096 x 14336 and their transposes; names end in the shape). */
#include "bench.h"
#include "mxblas.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef MXB_WITH_CUDA
#include <cuda_runtime_api.h>

#define ROWS 8192
#define COLS 8192

/* OP_PAIR: mxb_quantize_pair in the NVFP4 recipe's configuration for
 * gradients: the row-wise copy RNE, the column-wise copy with the d = 16 RHT
 * and SR; for the MX formats (the MXFP8 recipe) both copies RNE (bytes: the
 * input once and both copies' planes). */
typedef enum { OP_QUANT, OP_DEQUANT, OP_PAIR } bench_op;

typedef struct bench_case {
  const char *name;
  bench_op op;
  mxb_format_t format;
  mxb_dtype_t dtype;     /* input type (quantize) or output type (dequantize) */
  int rht, sr, block_2d; /* options (rht: 0 off, 1 the default d = 16, else d) */
  int amax_compute;      /* NVFP4: compute the tensor amax (two passes over the input) */
  int four_over_six;     /* NVFP4: mxb_four_over_six_t */
  int64_t rows, cols;    /* 0: 8192 x 8192 */
  int row_amax;          /* NVFP4: an amax per row (supplied, or computed with amax_compute) */
  int e4m3_max;          /* NVFP4: the E4M3 bound (0: 448) */
} bench_case;

/* The shared random input, made once per dtype. */
static void *g_src[3];

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void *device_input(mxb_dtype_t t) {
  if (g_src[t]) return g_src[t];
  size_t n = (size_t)ROWS * COLS, es = mxb_dtype_size(t);
  void *h = malloc(n * es);
  if (!h) return NULL;
  uint64_t s = 42;
  for (size_t i = 0; i < n; i += 2) {
    double u1 = ((double)(splitmix(&s) >> 11) + 1.0) * 0x1.0p-53, u2 = (double)(splitmix(&s) >> 11) * 0x1.0p-53;
    double r = sqrt(-2.0 * log(u1));
    float v[2] = {(float)(r * cos(6.283185307179586 * u2)), (float)(r * sin(6.283185307179586 * u2))};
    for (int k = 0; k < 2; k++) {
      if (t == MXB_DTYPE_FP32) {
        ((float *)h)[i + k] = v[k];
      } else {
        uint32_t b;
        memcpy(&b, &v[k], 4);
        ((uint16_t *)h)[i + k] = (uint16_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16); /* RNE to bf16 */
      }
    }
  }
  void *d = NULL;
  if (cudaMalloc(&d, n * es) != cudaSuccess || cudaMemcpy(d, h, n * es, cudaMemcpyHostToDevice) != cudaSuccess) d = NULL;
  free(h);
  g_src[t] = d;
  return d;
}

/* Seconds per cudaMemcpyDeviceToDevice of `bytes` from src, or with src
 * NULL per cudaMemset of `bytes` (a write-only stream), median of 21. */
static double copy_seconds(const void *src, size_t bytes) {
  void *dst = NULL;
  if (cudaMalloc(&dst, bytes) != cudaSuccess) return -1;
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  float t[21];
  for (int i = -1; i < 21; i++) { /* i = -1: warm up */
    cudaEventRecord(a, 0);
    if (src) cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, 0);
    else cudaMemsetAsync(dst, 0, bytes, 0);
    cudaEventRecord(b, 0);
    cudaEventSynchronize(b);
    if (i >= 0) cudaEventElapsedTime(&t[i], a, b);
  }
  for (int i = 1; i < 21; i++)
    for (int j = i; j > 0 && t[j] < t[j - 1]; j--) { float x = t[j]; t[j] = t[j - 1]; t[j - 1] = x; }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaFree(dst);
  return t[10] * 1e-3;
}

static void run_case(mxbb_state *st, void *arg) {
  const bench_case *c = (const bench_case *)arg;
  int ndev = 0;
  if (mxb_cuda_device_count(&ndev) != MXB_SUCCESS || ndev == 0) {
    mxbb_skip(st, "no CUDA device");
    return;
  }
  mxb_context_t *ctx = NULL;
  if (mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx) != MXB_SUCCESS) {
    mxbb_skip(st, mxb_last_error_detail());
    return;
  }
  mxb_dtype_t in_type = c->op != OP_DEQUANT ? c->dtype : MXB_DTYPE_FP32;
  const void *src = device_input(in_type);
  mxb_tensor_t q;
  mxb_tensor_sizes_t sz = {.struct_size = sizeof(sz)};
  const int64_t rows = c->rows ? c->rows : ROWS, cols = c->cols ? c->cols : COLS; /* at most ROWS * COLS values */
  mxb_tensor_init(&q, c->format, rows, cols, MXB_SCALE_LAYOUT_LINEAR);
  mxb_tensor_sizes(c->format, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &sz);
  void *planes[4] = {NULL, NULL, NULL, NULL}, *out = NULL, *ws = NULL;
  size_t in_bytes = (size_t)(rows * cols) * mxb_dtype_size(in_type);
  /* an amax per row: rows values (for the pair, the larger of the two copies' rows) */
  size_t plane_bytes[4] = {sz.data_bytes, sz.scale_bytes, sz.aux_bytes,
                           sz.amax_bytes * (size_t)(c->row_amax ? (rows > cols ? rows : cols) : 1)};
  int ok = src != NULL;
  for (int k = 0; k < 4 && ok; k++)
    if (plane_bytes[k]) ok = cudaMalloc(&planes[k], plane_bytes[k]) == cudaSuccess;
  q.data = planes[0];
  q.scales = planes[1];
  q.aux = planes[2];
  q.amax = (float *)planes[3];
  mxb_tensor_t qt; /* OP_PAIR: the column-wise copy [cols, rows] */
  void *tplanes[4] = {NULL, NULL, NULL, NULL};
  mxb_tensor_init(&qt, c->format, cols, rows, MXB_SCALE_LAYOUT_LINEAR);
  for (int k = 0; k < 4 && ok && c->op == OP_PAIR; k++)
    if (plane_bytes[k]) ok = cudaMalloc(&tplanes[k], plane_bytes[k]) == cudaSuccess; /* same sizes, transposed */
  qt.data = tplanes[0];
  qt.scales = tplanes[1];
  qt.aux = tplanes[2];
  qt.amax = (float *)tplanes[3];

  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.rht.enabled = c->rht != 0;
  if (c->rht > 1) cfg.rht.size = c->rht; /* staged: the standalone RHT kernel, then the quantizer */
  cfg.rounding = c->sr ? MXB_ROUND_SR : MXB_ROUND_RNE;
  cfg.seed = 1234;
  cfg.block_2d = c->block_2d;
  cfg.four_over_six = (mxb_four_over_six_t)c->four_over_six;
  cfg.nvfp4_row_amax = c->row_amax;
  cfg.nvfp4_e4m3_max = c->e4m3_max;
  mxb_quant_config_t ccfg = cfg; /* OP_PAIR: the column-wise copy's (NVFP4: the recipe's RHT and SR; MX: as the row-wise) */
  if (c->format == MXB_FORMAT_NVFP4) {
    ccfg.rht.enabled = 1;
    ccfg.rounding = MXB_ROUND_SR;
  }
  size_t ws_bytes = 0;
  /* Quantize once (this also produces the amaxes a supplied-amax run reads). */
  if (ok && c->op == OP_PAIR) {
    ok = mxb_quantize_pair_workspace_size(ctx, &cfg, &ccfg, in_type, &q, &qt, &ws_bytes) == MXB_SUCCESS;
    if (ok && ws_bytes) ok = cudaMalloc(&ws, ws_bytes) == cudaSuccess;
    if (ok) ok = mxb_quantize_pair(ctx, &cfg, &ccfg, in_type, src, &q, &qt, ws, ws_bytes, NULL) == MXB_SUCCESS;
  } else {
    if (ok) ok = mxb_quantize_workspace_size(ctx, &cfg, in_type, &q, &ws_bytes) == MXB_SUCCESS;
    if (ok && ws_bytes) ok = cudaMalloc(&ws, ws_bytes) == cudaSuccess;
    if (ok) ok = mxb_quantize(ctx, &cfg, in_type, src, &q, ws, ws_bytes, NULL) == MXB_SUCCESS;
  }
  if (ok && sz.amax_bytes && !c->amax_compute) cfg.amax_source = ccfg.amax_source = MXB_AMAX_FROM_TENSOR;
  if (ok && c->op == OP_DEQUANT)
    ok = cudaMalloc(&out, (size_t)(rows * cols) * mxb_dtype_size(c->dtype)) == cudaSuccess;
  if (!ok || cudaDeviceSynchronize() != cudaSuccess) {
    mxbb_skip(st, mxb_last_error_detail()[0] ? mxb_last_error_detail() : "allocation or setup failed");
  } else {
    size_t qbytes = sz.data_bytes + sz.scale_bytes + sz.aux_bytes + plane_bytes[3];
    size_t bytes = c->op == OP_QUANT ? in_bytes + qbytes
                   : c->op == OP_PAIR ? in_bytes + 2 * qbytes
                                      : qbytes + (size_t)(rows * cols) * mxb_dtype_size(c->dtype);
    double t_copy = copy_seconds(src, in_bytes);
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    double total = 0;
    int failed = 0;
    while (mxbb_keep_running(st)) {
      cudaEventRecord(a, 0);
      mxb_status_t s = c->op == OP_QUANT  ? mxb_quantize(ctx, &cfg, in_type, src, &q, ws, ws_bytes, NULL)
                       : c->op == OP_PAIR ? mxb_quantize_pair(ctx, &cfg, &ccfg, in_type, src, &q, &qt, ws, ws_bytes, NULL)
                                          : mxb_dequantize(ctx, &q, c->dtype, out, NULL);
      cudaEventRecord(b, 0);
      cudaEventSynchronize(b);
      float ms = 0;
      cudaEventElapsedTime(&ms, a, b);
      if (s != MXB_SUCCESS) failed = 1;
      mxbb_set_iteration_time(st, ms * 1e-3);
      total += ms * 1e-3;
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    if (failed) {
      mxbb_skip(st, mxb_last_error_detail());
    } else {
      int64_t it = mxbb_iterations(st);
      mxbb_set_bytes_processed(st, it * (int64_t)bytes);
      double bw = (double)bytes * (double)it / total, copy_bw = 2.0 * (double)in_bytes / t_copy;
      mxbb_counter(st, "ratio_to_copy", bw / copy_bw, 0);
      mxbb_counter(st, "copy_GBps", copy_bw * 1e-9, 0);
      mxbb_counter(st, "GBps", bw * 1e-9, 0);
      if (c->amax_compute) /* the computed amax reads the input twice: against that byte count */
        mxbb_counter(st, "ratio_to_copy_two_pass", (double)(bytes + in_bytes) * (double)it / total / copy_bw, 0);
      if (c->op == OP_DEQUANT) /* time of a memset of the output over the kernel's time: the write-only ceiling */
        mxbb_counter(st, "ratio_to_fill", copy_seconds(NULL, bytes - qbytes) / (total / (double)it), 0);
    }
  }
  for (int k = 0; k < 4; k++) cudaFree(planes[k]);
  for (int k = 0; k < 4; k++) cudaFree(tplanes[k]);
  cudaFree(out);
  cudaFree(ws);
  mxb_context_destroy(ctx);
}

#define Q(n, f, t, rht, sr, b2d, ac) {n, OP_QUANT, f, t, rht, sr, b2d, ac, 0, 0, 0, 0, 0}
static const bench_case k_cases[] = {
  Q("nvfp4", MXB_FORMAT_NVFP4, MXB_DTYPE_FP32, 0, 0, 0, 0),
  Q("nvfp4", MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 0, 0, 0, 0),
  Q("nvfp4_amax_computed", MXB_FORMAT_NVFP4, MXB_DTYPE_FP32, 0, 0, 0, 1),
  Q("nvfp4_amax_computed", MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 0, 0, 0, 1),
  Q("nvfp4_rht", MXB_FORMAT_NVFP4, MXB_DTYPE_FP32, 1, 0, 0, 0),
  Q("nvfp4_rht", MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 1, 0, 0, 0),
  Q("nvfp4_rht256", MXB_FORMAT_NVFP4, MXB_DTYPE_FP32, 256, 0, 0, 0),
  Q("nvfp4_rht256", MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 256, 0, 0, 0),
  Q("nvfp4_rht256_amax_computed", MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 256, 0, 0, 1),
  Q("nvfp4_sr", MXB_FORMAT_NVFP4, MXB_DTYPE_FP32, 0, 1, 0, 0),
  Q("nvfp4_sr", MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 0, 1, 0, 0),
  {"nvfp4_4over6", OP_QUANT, MXB_FORMAT_NVFP4, MXB_DTYPE_FP32, 0, 0, 0, 0, MXB_FOUR_OVER_SIX_MAE, 0, 0, 0, 0},
  {"nvfp4_4over6", OP_QUANT, MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 0, 0, 0, 0, MXB_FOUR_OVER_SIX_MAE, 0, 0, 0, 0},
  {"nvfp4_2d_4over6", OP_QUANT, MXB_FORMAT_NVFP4, MXB_DTYPE_FP32, 0, 0, 1, 0, MXB_FOUR_OVER_SIX_MAE, 0, 0, 0, 0},
  {"nvfp4_2d_4over6", OP_QUANT, MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 0, 0, 1, 0, MXB_FOUR_OVER_SIX_MAE, 0, 0, 0, 0},
  {"nvfp4_4over6_e4m3_256", OP_QUANT, MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 0, 0, 0, 0, MXB_FOUR_OVER_SIX_MAE, 0, 0, 0, 256},
  {"nvfp4_row_amax", OP_QUANT, MXB_FORMAT_NVFP4, MXB_DTYPE_FP32, 0, 0, 0, 0, 0, 0, 0, 1, 0},
  {"nvfp4_row_amax", OP_QUANT, MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 0, 0, 0, 0, 0, 0, 0, 1, 0},
  {"nvfp4_row_amax_computed", OP_QUANT, MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 0, 0, 0, 1, 0, 0, 0, 1, 0},
  Q("nvfp4_2d", MXB_FORMAT_NVFP4, MXB_DTYPE_FP32, 0, 0, 1, 0),
  Q("nvfp4_2d", MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 0, 0, 1, 0),
  Q("mxfp8_e4m3", MXB_FORMAT_MXFP8_E4M3, MXB_DTYPE_FP32, 0, 0, 0, 0),
  Q("mxfp8_e4m3", MXB_FORMAT_MXFP8_E4M3, MXB_DTYPE_BF16, 0, 0, 0, 0),
  Q("mxfp4", MXB_FORMAT_MXFP4, MXB_DTYPE_FP32, 0, 0, 0, 0),
  Q("mxfp4", MXB_FORMAT_MXFP4, MXB_DTYPE_BF16, 0, 0, 0, 0),
  Q("mxfp6_e3m2", MXB_FORMAT_MXFP6_E3M2, MXB_DTYPE_FP32, 0, 0, 0, 0),
  Q("mxfp6_e3m2", MXB_FORMAT_MXFP6_E3M2, MXB_DTYPE_BF16, 0, 0, 0, 0),
  Q("mxint8", MXB_FORMAT_MXINT8, MXB_DTYPE_FP32, 0, 0, 0, 0),
  Q("mxint8", MXB_FORMAT_MXINT8, MXB_DTYPE_BF16, 0, 0, 0, 0),
  Q("mx6", MXB_FORMAT_MX6, MXB_DTYPE_FP32, 0, 0, 0, 0),
  Q("mx6", MXB_FORMAT_MX6, MXB_DTYPE_BF16, 0, 0, 0, 0),
  Q("mx9", MXB_FORMAT_MX9, MXB_DTYPE_BF16, 0, 0, 0, 0),
  Q("mx4", MXB_FORMAT_MX4, MXB_DTYPE_BF16, 0, 0, 0, 0),
  Q("fp8_e4m3_1x128", MXB_FORMAT_FP8_E4M3_1x128, MXB_DTYPE_FP32, 0, 0, 0, 0),
  Q("fp8_e4m3_1x128", MXB_FORMAT_FP8_E4M3_1x128, MXB_DTYPE_BF16, 0, 0, 0, 0),
  Q("bf16", MXB_FORMAT_BF16, MXB_DTYPE_FP32, 0, 0, 0, 0),
#define D(name, fmt) {name, OP_DEQUANT, fmt, MXB_DTYPE_BF16, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {name, OP_DEQUANT, fmt, MXB_DTYPE_FP32, 0, 0, 0, 0, 0, 0, 0, 0, 0}
  D("nvfp4", MXB_FORMAT_NVFP4),
  D("mxfp8_e4m3", MXB_FORMAT_MXFP8_E4M3),
  D("mxfp4", MXB_FORMAT_MXFP4),
  D("mxfp6_e3m2", MXB_FORMAT_MXFP6_E3M2),
  D("mxint8", MXB_FORMAT_MXINT8),
  D("mx6", MXB_FORMAT_MX6),
  D("mx9", MXB_FORMAT_MX9),
  D("mx4", MXB_FORMAT_MX4),
  D("fp8_e4m3_1x128", MXB_FORMAT_FP8_E4M3_1x128),
  D("fp8_e4m3_128x128", MXB_FORMAT_FP8_E4M3_128x128),
  D("bf16", MXB_FORMAT_BF16),
#undef D
/* LLM-shaped tensors, bf16 in (quantize) or out (dequantize) */
#define L(n, op, f, rht, r, c) {n, op, f, MXB_DTYPE_BF16, rht, 0, 0, 0, 0, r, c, 0, 0}
#define LS(n, op, f, rht) L(n, op, f, rht, 16384, 4096), L(n, op, f, rht, 4096, 16384), L(n, op, f, rht, 4096, 14336), \
                          L(n, op, f, rht, 14336, 4096)
  LS("nvfp4", OP_QUANT, MXB_FORMAT_NVFP4, 0),
  LS("nvfp4_rht", OP_QUANT, MXB_FORMAT_NVFP4, 1),
  LS("mxfp8_e4m3", OP_QUANT, MXB_FORMAT_MXFP8_E4M3, 0),
  LS("mxfp4", OP_QUANT, MXB_FORMAT_MXFP4, 0),
  LS("fp8_e4m3_1x128", OP_QUANT, MXB_FORMAT_FP8_E4M3_1x128, 0),
  LS("nvfp4", OP_DEQUANT, MXB_FORMAT_NVFP4, 0),
  LS("mxfp8_e4m3", OP_DEQUANT, MXB_FORMAT_MXFP8_E4M3, 0),
  L("nvfp4_recipe", OP_PAIR, MXB_FORMAT_NVFP4, 0, 8192, 8192), LS("nvfp4_recipe", OP_PAIR, MXB_FORMAT_NVFP4, 0),
  {"nvfp4_recipe", OP_PAIR, MXB_FORMAT_NVFP4, MXB_DTYPE_FP32, 0, 0, 0, 0, 0, 8192, 8192, 0, 0},
  {"nvfp4_recipe_amax", OP_PAIR, MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 0, 0, 0, 1, 0, 8192, 8192, 0, 0},
  {"nvfp4_recipe_amax", OP_PAIR, MXB_FORMAT_NVFP4, MXB_DTYPE_FP32, 0, 0, 0, 1, 0, 8192, 8192, 0, 0},
  L("mxfp8_e4m3", OP_PAIR, MXB_FORMAT_MXFP8_E4M3, 0, 8192, 8192), LS("mxfp8_e4m3", OP_PAIR, MXB_FORMAT_MXFP8_E4M3, 0),
  L("mxfp4", OP_PAIR, MXB_FORMAT_MXFP4, 0, 8192, 8192),
#undef LS
#undef L
};

MXBB_CONSTRUCTOR static void reg(void) {
  static char names[sizeof(k_cases) / sizeof(k_cases[0])][96];
  for (size_t i = 0; i < sizeof(k_cases) / sizeof(k_cases[0]); i++) {
    const bench_case *c = &k_cases[i];
    const char *t = c->dtype == MXB_DTYPE_FP32 ? "fp32" : "bf16";
    char shape[32] = "";
    if (c->rows) snprintf(shape, sizeof(shape), "/%lldx%lld", (long long)c->rows, (long long)c->cols);
    if (c->op == OP_QUANT)
      snprintf(names[i], sizeof(names[i]), "cuda/quantize/%s/%s%s", c->name, t, shape);
    else if (c->op == OP_PAIR)
      snprintf(names[i], sizeof(names[i]), "cuda/quantize_pair/%s/%s%s", c->name, t, shape);
    else
      snprintf(names[i], sizeof(names[i]), "cuda/dequantize/%s/to_%s%s", c->name, t, shape);
    mxbb_register(names[i], run_case, (void *)c, 1);
  }
}
#endif
