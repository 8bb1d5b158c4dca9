/* CPU reference transforms on a 1024x4096 fp32 tensor: RHT, the 2D NVFP4
 * transpose, the row/column pair, MoR and error statistics. bytes/s counts
 * the fp32 input bytes. Single-threaded. */
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "mxblas.h"

enum { ROWS = 1024, COLS = 4096 };

typedef enum { OP_RHT_COLS, OP_RHT_ROWS, OP_TRANSPOSE, OP_PAIR, OP_MOR_1x128, OP_MOR_TENSOR, OP_STATS } op_t;

typedef struct {
  mxb_tensor_t t;
  mxb_tensor_sizes_t s;
  float amax;
} tensor;

static int make(tensor *q, mxb_format_t f, int64_t rows, int64_t cols) {
  q->s.struct_size = sizeof(q->s);
  if (mxb_tensor_init(&q->t, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR) != MXB_SUCCESS ||
      mxb_tensor_sizes(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &q->s) != MXB_SUCCESS)
    return 0;
  q->t.data = malloc(q->s.data_bytes);
  q->t.scales = q->s.scale_bytes ? malloc(q->s.scale_bytes) : NULL;
  q->t.aux = q->s.aux_bytes ? malloc(q->s.aux_bytes) : NULL;
  q->t.amax = q->s.amax_bytes ? &q->amax : NULL;
  return 1;
}
static void drop(tensor *q) {
  free(q->t.data);
  free(q->t.scales);
  free(q->t.aux);
}

static void run(mxbb_state *s, void *arg) {
  op_t op = (op_t)(intptr_t)arg;
  mxb_context_t *ctx = NULL;
  float *x = malloc((size_t)ROWS * COLS * 4), *y = malloc((size_t)ROWS * COLS * 4);
  uint64_t st = 1;
  for (size_t i = 0; i < (size_t)ROWS * COLS; i++) { /* deterministic, roughly normal */
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = ((float)(int32_t)(st >> 32) / 2147483648.0f) * ((st >> 20) & 1 ? 3.0f : 0.25f);
  }
  mxb_context_create(MXB_BACKEND_CPU, 0, &ctx);
  mxb_quant_config_t cfg, ccfg;
  mxb_quant_config_init(&cfg);
  mxb_quant_config_init(&ccfg);
  ccfg.rht.enabled = 1;
  ccfg.rounding = MXB_ROUND_SR;
  ccfg.offset = 1;
  mxb_mor_config_t mcfg;
  mxb_mor_config_init(&mcfg);
  mxb_format_t f = op == OP_MOR_1x128 ? MXB_FORMAT_MOR_1x128 : op == OP_MOR_TENSOR ? MXB_FORMAT_MOR_TENSOR
                                                                                    : MXB_FORMAT_NVFP4;
  tensor a, b;
  make(&a, f, ROWS, COLS);
  make(&b, MXB_FORMAT_NVFP4, COLS, ROWS);
  size_t ws = 0;
  if (op == OP_PAIR) mxb_quantize_pair_workspace_size(ctx, &cfg, &ccfg, MXB_DTYPE_FP32, &a.t, &b.t, &ws);
  if (op == OP_MOR_1x128 || op == OP_MOR_TENSOR) mxb_mor_workspace_size(ctx, &mcfg, MXB_DTYPE_FP32, &a.t, &ws);
  void *w = malloc(ws ? ws : 1);
  cfg.block_2d = op == OP_TRANSPOSE;
  mxb_status_t rc = f == MXB_FORMAT_NVFP4 ? mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &a.t, NULL, 0, NULL) : MXB_SUCCESS;
  mxb_rht_t r;
  mxb_rht_init(&r);
  mxb_error_stats_t es = {.struct_size = sizeof(es)};
  while (rc == MXB_SUCCESS && mxbb_keep_running(s)) {
    switch (op) {
      case OP_RHT_COLS:
      case OP_RHT_ROWS:
        rc = mxb_rht(ctx, &r, 0, op == OP_RHT_COLS ? MXB_AXIS_COLS : MXB_AXIS_ROWS, ROWS, COLS, MXB_DTYPE_FP32, x,
                     MXB_DTYPE_FP32, y, NULL);
        break;
      case OP_TRANSPOSE: rc = mxb_transpose_quantized(ctx, &a.t, &b.t, NULL); break;
      case OP_PAIR: rc = mxb_quantize_pair(ctx, &cfg, &ccfg, MXB_DTYPE_FP32, x, &a.t, &b.t, w, ws, NULL); break;
      case OP_MOR_1x128:
      case OP_MOR_TENSOR: rc = mxb_mor_quantize(ctx, &mcfg, MXB_DTYPE_FP32, x, &a.t, w, ws, NULL); break;
      case OP_STATS: rc = mxb_error_stats(x, &a.t, &es); break;
    }
  }
  if (rc != MXB_SUCCESS) mxbb_skip(s, mxb_last_error_detail());
  else mxbb_set_bytes_processed(s, mxbb_iterations(s) * (int64_t)ROWS * COLS * 4);
  free(w);
  drop(&a);
  drop(&b);
  free(x);
  free(y);
  mxb_context_destroy(ctx);
}

MXBB_CONSTRUCTOR static void reg(void) {
  mxbb_register("cpu/rht/d16_cols", run, (void *)(intptr_t)OP_RHT_COLS, 0);
  mxbb_register("cpu/rht/d16_rows", run, (void *)(intptr_t)OP_RHT_ROWS, 0);
  mxbb_register("cpu/transpose_quantized/nvfp4_2d", run, (void *)(intptr_t)OP_TRANSPOSE, 0);
  mxbb_register("cpu/quantize_pair/nvfp4_rne+rht_sr", run, (void *)(intptr_t)OP_PAIR, 0);
  mxbb_register("cpu/mor/1x128", run, (void *)(intptr_t)OP_MOR_1x128, 0);
  mxbb_register("cpu/mor/tensor", run, (void *)(intptr_t)OP_MOR_TENSOR, 0);
  mxbb_register("cpu/error_stats/nvfp4", run, (void *)(intptr_t)OP_STATS, 0);
}
