/* Tensor parallelism without the NCCL component (docs/DISTRIBUTED.md): an
 * activation split by columns over 4 ranks, each shard quantized to NVFP4
 * by stochastic rounding with its place in the whole tensor and the amax of
 * the whole tensor, reduced by the library's rule (mxb_amax_canonicalize,
 * then what MPI_Allreduce with MPI_MAX on the bits as MPI_UINT32_T does; with
 * a real communicator mxb_quantize_shard takes the steps in one call). The ranks run one after another
 * here, on one CPU context; the shards come out byte-identical to the
 * unsharded tensor, which the program checks (exit 1 if not). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxblas.h"

#define ROWS 64
#define COLS 512
#define RANKS 4
#define W (COLS / RANKS)

#define CHECK(call)                                                                          \
  do {                                                                                       \
    mxb_status_t s_ = (call);                                                                \
    if (s_ != MXB_SUCCESS) {                                                                 \
      fprintf(stderr, "%s: %s (%s)\n", #call, mxb_status_string(s_), mxb_last_error_detail()); \
      exit(2);                                                                               \
    }                                                                                        \
  } while (0)

/* An NVFP4 [rows, cols] tensor, planes on the heap (linear scales). */
static mxb_tensor_t nvfp4(int64_t rows, int64_t cols) {
  mxb_tensor_t t;
  mxb_tensor_sizes_t sz = {.struct_size = sizeof(sz)};
  CHECK(mxb_tensor_init(&t, MXB_FORMAT_NVFP4, rows, cols, MXB_SCALE_LAYOUT_LINEAR));
  CHECK(mxb_tensor_sizes(MXB_FORMAT_NVFP4, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &sz));
  t.data = malloc(sz.data_bytes);
  t.scales = malloc(sz.scale_bytes);
  t.amax = malloc(sizeof(float));
  return t;
}

int main(void) {
  mxb_context_t *ctx;
  CHECK(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx));
  float *x = malloc(sizeof(float) * ROWS * COLS);
  uint64_t s = 1;
  for (int i = 0; i < ROWS * COLS; i++) { /* uniform in [-1, 1), one large value in rank 2's columns */
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = (float)((double)(s >> 11) * 0x1.0p-52 - 1.0);
  }
  x[10 * COLS + 2 * W + 5] = 40.0f;

  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.rounding = MXB_ROUND_SR; /* every rank: the same seed and offset */
  cfg.seed = 2026;
  cfg.offset = 1;
  mxb_tensor_t whole = nvfp4(ROWS, COLS);
  CHECK(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &whole, NULL, 0, NULL));

  /* each rank: its shard's amax (as quantize computes it), then the reduction */
  float shard_src[RANKS][ROWS * W];
  mxb_tensor_t shard[RANKS];
  uint32_t global = 0;
  for (int q = 0; q < RANKS; q++) {
    for (int r = 0; r < ROWS; r++) memcpy(shard_src[q] + r * W, x + r * COLS + q * W, sizeof(float) * W);
    shard[q] = nvfp4(ROWS, W);
    mxb_quant_config_t local = cfg;
    local.rounding = MXB_ROUND_RNE; /* the amax does not depend on the rounding */
    CHECK(mxb_quantize(ctx, &local, MXB_DTYPE_FP32, shard_src[q], &shard[q], NULL, 0, NULL));
    CHECK(mxb_amax_canonicalize(ctx, shard[q].amax, 1, NULL)); /* -0 as +0, NaN as 0x7FC00000 */
    uint32_t b;
    memcpy(&b, shard[q].amax, 4);
    global = b > global ? b : global; /* what MPI_Allreduce(MPI_MAX, MPI_UINT32_T) does with these bits */
  }
  float amax;
  memcpy(&amax, &global, 4);

  /* each rank: its shard with its place and the global amax */
  int same = 1;
  for (int q = 0; q < RANKS; q++) {
    mxb_quant_config_t c = cfg;
    c.amax_source = MXB_AMAX_FROM_TENSOR;
    c.global_row0 = 0;
    c.global_col0 = q * W;
    c.global_cols = COLS;
    *shard[q].amax = amax;
    CHECK(mxb_quantize(ctx, &c, MXB_DTYPE_FP32, shard_src[q], &shard[q], NULL, 0, NULL));
    for (int r = 0; r < ROWS; r++) /* 2 codes a byte, a scale every 16 columns */
      same &= !memcmp((uint8_t *)shard[q].data + r * W / 2, (uint8_t *)whole.data + r * COLS / 2 + q * W / 2, W / 2) &&
              !memcmp((uint8_t *)shard[q].scales + r * W / 16, (uint8_t *)whole.scales + r * COLS / 16 + q * W / 16,
                      W / 16);
  }
  same &= amax == *whole.amax;
  printf("%d column shards of a %d x %d NVFP4 tensor, SR, global amax %g: %s\n", RANKS, ROWS, COLS, amax,
         same ? "byte-identical to the unsharded tensor" : "DIFFERENT from the unsharded tensor");
  for (int q = 0; q < RANKS; q++) free(shard[q].data), free(shard[q].scales), free(shard[q].amax);
  free(whole.data);
  free(whole.scales);
  free(whole.amax);
  free(x);
  mxb_context_destroy(ctx);
  return same ? 0 : 1;
}
