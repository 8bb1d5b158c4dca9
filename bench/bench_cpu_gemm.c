/* CPU reference GEMM, 1024^3, one core (the thread pool set to one thread):
 * NVFP4 x NVFP4 and MXFP8 x MXFP8. */
#include <stdlib.h>

#include "bench.h"
#include "cpu/pool.h"
#include "mxblas.h"

enum { DIM = 1024 };

typedef struct {
  mxb_tensor_t t;
  float amax;
} operand;

static int make_operand(mxb_context_t *ctx, mxb_format_t f, uint64_t seed, operand *o) {
  float *x = malloc(sizeof(float) * DIM * DIM);
  uint64_t s = seed;
  for (size_t i = 0; i < (size_t)DIM * DIM; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (float)((double)(s >> 11) * 0x1.0p-53 * 2.0 - 1.0);
  }
  mxb_tensor_sizes_t sz = {.struct_size = sizeof(sz)};
  mxb_tensor_init(&o->t, f, DIM, DIM, MXB_SCALE_LAYOUT_LINEAR);
  mxb_tensor_sizes(f, DIM, DIM, MXB_SCALE_LAYOUT_LINEAR, &sz);
  o->t.data = malloc(sz.data_bytes);
  o->t.scales = malloc(sz.scale_bytes);
  o->t.amax = sz.amax_bytes ? &o->amax : NULL;
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  size_t ws = 0;
  mxb_quantize_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, &o->t, &ws);
  void *w = malloc(ws ? ws : 1);
  mxb_status_t st = mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &o->t, w, ws, NULL);
  free(w);
  free(x);
  return st == MXB_SUCCESS;
}

static void run(mxbb_state *s, void *arg) {
  mxb_format_t f = (mxb_format_t)(intptr_t)arg;
  mxb_cpu_set_threads(1);
  mxb_context_t *ctx = NULL;
  operand a, b;
  if (mxb_context_create(MXB_BACKEND_CPU, 0, &ctx) != MXB_SUCCESS || !make_operand(ctx, f, 1, &a) ||
      !make_operand(ctx, f, 2, &b)) {
    mxbb_skip(s, mxb_last_error_detail());
    return;
  }
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  size_t ws = 0;
  mxb_gemm_workspace_size(ctx, &d, &a.t, &b.t, &ws);
  void *w = malloc(ws);
  float *c = malloc(sizeof(float) * DIM * DIM);
  while (mxbb_keep_running(s)) {
    if (mxb_gemm(ctx, &d, &a.t, &b.t, c, w, ws, NULL) != MXB_SUCCESS) {
      mxbb_skip(s, mxb_last_error_detail());
      break;
    }
  }
  mxbb_counter(s, "FLOP/s", 2.0 * DIM * DIM * DIM * (double)mxbb_iterations(s), 1);
  free(c);
  free(w);
  free(a.t.data);
  free(a.t.scales);
  free(b.t.data);
  free(b.t.scales);
  mxb_context_destroy(ctx);
  mxb_cpu_set_threads(0);
}

MXBB_CONSTRUCTOR static void reg(void) {
  mxbb_register("cpu/gemm_exact/nvfp4/1024", run, (void *)(intptr_t)MXB_FORMAT_NVFP4, 0);
  mxbb_register("cpu/gemm_exact/mxfp8_e4m3/1024", run, (void *)(intptr_t)MXB_FORMAT_MXFP8_E4M3, 0);
}
