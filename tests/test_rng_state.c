/* SR state in the backend's memory (mxb_quant_config_t.rng_state): each call
 * gives the bits of seed/offset set to the state, then advances the offset;
 * quantize_pair draws row-wise first; refusals leave state and output alone;
 * on CUDA, a captured graph draws fresh bits at every replay. */
#include "cuda_compare.h"

#define ROWS 24
#define COLS 96

static const mxb_format_t k_formats[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_FP8_E4M3_1x128};

/* A quantized tensor's planes in host memory (amax: one fp32). */
typedef struct planes {
  mxb_tensor_sizes_t sz;
  uint8_t *data, *scales;
  float amax;
} planes;

static void planes_make(planes *p, mxb_format_t f, int64_t rows, int64_t cols) {
  p->sz = (mxb_tensor_sizes_t){.struct_size = sizeof(p->sz)};
  cr_assert_eq(mxb_tensor_sizes(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &p->sz), MXB_SUCCESS);
  p->data = malloc(p->sz.data_bytes);
  p->scales = malloc(p->sz.scale_bytes);
  memset(p->data, 0xA5, p->sz.data_bytes);
  memset(p->scales, 0xA5, p->sz.scale_bytes);
  p->amax = -1.0f;
}

static void planes_free(planes *p) {
  free(p->data);
  free(p->scales);
}

static int planes_equal(const planes *a, const planes *b) {
  return !memcmp(a->data, b->data, a->sz.data_bytes) && !memcmp(a->scales, b->scales, a->sz.scale_bytes);
}

static mxb_tensor_t tensor_of(planes *p, mxb_format_t f, int64_t rows, int64_t cols) {
  mxb_tensor_t t;
  cr_assert_eq(mxb_tensor_init(&t, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  t.data = p->data;
  t.scales = p->scales;
  t.amax = &p->amax;
  return t;
}

/* x quantized on the CPU into t with SR at (seed, offset), or from *state
 * when state is set. */
static mxb_status_t cpu_sr_into(const float *x, uint64_t seed, uint64_t offset, uint64_t *state, mxb_tensor_t *t) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.rounding = MXB_ROUND_SR;
  cfg.seed = seed;
  cfg.offset = offset;
  cfg.rng_state = state;
  mxb_status_t s = mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, t, NULL, 0, NULL);
  mxb_context_destroy(ctx);
  return s;
}
static mxb_status_t cpu_sr(mxb_format_t f, const float *x, int64_t rows, int64_t cols, uint64_t seed, uint64_t offset,
                           uint64_t *state, planes *out) {
  mxb_tensor_t t = tensor_of(out, f, rows, cols);
  return cpu_sr_into(x, seed, offset, state, &t);
}

static float *sample(uint64_t seed) {
  float *x = malloc(sizeof(float) * ROWS * COLS);
  mxbt_fill_normal(x, ROWS * COLS, seed, 1.0f);
  return x;
}

Test(rng_state, host_state_gives_the_bits_of_seed_and_offset) {
  float *x = sample(11);
  for (size_t k = 0; k < sizeof(k_formats) / sizeof(k_formats[0]); k++) {
    const mxb_format_t f = k_formats[k];
    uint64_t state[2] = {0x1234567890ABCDEFull, 5};
    planes prev = {0};
    for (int call = 0; call < 3; call++) {
      planes got, want;
      planes_make(&got, f, ROWS, COLS);
      planes_make(&want, f, ROWS, COLS);
      /* the config's own seed and offset are ignored when the state is set */
      cr_assert_eq(cpu_sr(f, x, ROWS, COLS, 99, 99, state, &got), MXB_SUCCESS, "%s", mxb_last_error_detail());
      cr_assert_eq(cpu_sr(f, x, ROWS, COLS, 0x1234567890ABCDEFull, 5 + call, NULL, &want), MXB_SUCCESS);
      cr_assert(planes_equal(&got, &want), "format %d call %d", (int)f, call);
      cr_assert_eq(state[0], 0x1234567890ABCDEFull);
      cr_assert_eq(state[1], 6u + (uint64_t)call);
      if (call) cr_assert(!planes_equal(&got, &prev), "format %d: call %d drew the bits of the call before", (int)f, call);
      if (call) planes_free(&prev);
      prev = got;
      planes_free(&want);
    }
    planes_free(&prev);
  }
  free(x);
}

Test(rng_state, pair_draws_rowwise_first) {
  float *x = sample(12);
  float *xt = malloc(sizeof(float) * ROWS * COLS);
  for (int r = 0; r < ROWS; r++)
    for (int c = 0; c < COLS; c++) xt[c * ROWS + r] = x[r * COLS + c];
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  uint64_t state[2] = {42, 1000};
  mxb_quant_config_t rc, cc;
  mxb_quant_config_init(&rc);
  rc.rounding = MXB_ROUND_SR;
  rc.rng_state = state;
  cc = rc;
  planes row, col, want_row, want_col;
  planes_make(&row, MXB_FORMAT_NVFP4, ROWS, COLS);
  planes_make(&col, MXB_FORMAT_NVFP4, COLS, ROWS);
  mxb_tensor_t tr = tensor_of(&row, MXB_FORMAT_NVFP4, ROWS, COLS), tc = tensor_of(&col, MXB_FORMAT_NVFP4, COLS, ROWS);
  size_t ws = 0;
  cr_assert_eq(mxb_quantize_pair_workspace_size(ctx, &rc, &cc, MXB_DTYPE_FP32, &tr, &tc, &ws), MXB_SUCCESS);
  void *w = malloc(ws);
  cr_assert_eq(mxb_quantize_pair(ctx, &rc, &cc, MXB_DTYPE_FP32, x, &tr, &tc, w, ws, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  cr_assert_eq(state[1], 1002u);
  planes_make(&want_row, MXB_FORMAT_NVFP4, ROWS, COLS);
  planes_make(&want_col, MXB_FORMAT_NVFP4, COLS, ROWS);
  cr_assert_eq(cpu_sr(MXB_FORMAT_NVFP4, x, ROWS, COLS, 42, 1000, NULL, &want_row), MXB_SUCCESS);
  cr_assert_eq(cpu_sr(MXB_FORMAT_NVFP4, xt, COLS, ROWS, 42, 1001, NULL, &want_col), MXB_SUCCESS);
  cr_assert(planes_equal(&row, &want_row), "the row-wise copy draws at the state's offset");
  cr_assert(planes_equal(&col, &want_col), "the column-wise copy draws at the next offset");
  planes_free(&row);
  planes_free(&col);
  planes_free(&want_row);
  planes_free(&want_col);
  free(w);
  free(xt);
  free(x);
  mxb_context_destroy(ctx);
}

Test(rng_state, refusals_leave_the_state_and_the_output_alone) {
  float *x = sample(13);
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  uint64_t buf[3] = {7, 8, 9};
  struct {
    mxb_format_t f;
    mxb_rounding_t rounding;
    uint64_t *state;
    mxb_status_t want;
  } cases[] = {
      {MXB_FORMAT_NVFP4, MXB_ROUND_RNE, buf, MXB_ERR_INVALID_ARGUMENT},                          /* no SR: nothing to draw */
      {MXB_FORMAT_NVFP4, MXB_ROUND_SR, (uint64_t *)((char *)buf + 4), MXB_ERR_INVALID_ARGUMENT}, /* misaligned */
      {MXB_FORMAT_BF16, MXB_ROUND_SR, buf, MXB_ERR_UNSUPPORTED},                                 /* no SR for BF16 */
  };
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    planes p;
    planes_make(&p, cases[k].f, ROWS, COLS);
    mxb_quant_config_t cfg;
    mxb_quant_config_init(&cfg);
    cfg.rounding = cases[k].rounding;
    cfg.rng_state = cases[k].state;
    mxb_tensor_t t = tensor_of(&p, cases[k].f, ROWS, COLS);
    cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), cases[k].want, "case %zu: %s", k, mxb_last_error_detail());
    cr_assert_neq(strlen(mxb_last_error_detail()), 0);
    cr_assert(buf[0] == 7 && buf[1] == 8 && buf[2] == 9, "case %zu moved the state", k);
    for (size_t i = 0; i < p.sz.data_bytes; i++) cr_assert_eq(p.data[i], 0xA5, "case %zu wrote data", k);
    planes_free(&p);
  }
  free(x);
  mxb_context_destroy(ctx);
}

/* CUDA: the state lives in device memory; plain calls and the replays of a
 * captured graph each draw at the next offset, with the CPU's bits. */
Test(rng_state, cuda_graph_replays_draw_fresh_bits) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  float *x = sample(14);
  float *dx = mxbt_dev_from_host(x, sizeof(float) * ROWS * COLS);
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx), MXB_SUCCESS);
  cudaStream_t st;
  cr_assert_eq(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking), cudaSuccess);
  for (size_t k = 0; k < sizeof(k_formats) / sizeof(k_formats[0]); k++) {
    const mxb_format_t f = k_formats[k];
    const uint64_t init[2] = {0xFEEDull + k, 40};
    uint64_t *dstate = mxbt_dev_from_host(init, sizeof(init));
    cmp_tensor ct;  /* .h: the CPU's planes, .d: the device's */
    cmp_tensor_alloc(&ct, f, ROWS, COLS, MXB_SCALE_LAYOUT_LINEAR);
    mxb_quant_config_t cfg;
    mxb_quant_config_init(&cfg);
    cfg.rounding = MXB_ROUND_SR;
    cfg.rng_state = dstate;
    size_t ws = 0;
    cr_assert_eq(mxb_quantize_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, &ct.d, &ws), MXB_SUCCESS);
    void *w = ws ? mxbt_dev_alloc(ws) : NULL;
    /* call 0 directly, calls 1..3 as replays of one captured call */
    cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, dx, &ct.d, w, ws, st), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cudaGraph_t graph;
    cudaGraphExec_t exec;
    cr_assert_eq(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, dx, &ct.d, w, ws, st), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert_eq(cudaStreamEndCapture(st, &graph), cudaSuccess);
    cr_assert_eq(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    uint8_t *prev = malloc(ct.sz.data_bytes), *cur = malloc(ct.sz.data_bytes);
    for (int call = 0; call < 4; call++) {
      if (call) cr_assert_eq(cudaGraphLaunch(exec, st), cudaSuccess);
      cr_assert_eq(cudaStreamSynchronize(st), cudaSuccess);
      cr_assert_eq(cpu_sr_into(x, init[0], init[1] + (uint64_t)call, NULL, &ct.h), MXB_SUCCESS);
      char what[64];
      snprintf(what, sizeof what, "format %d call %d (the CPU's bits at offset %d)", (int)f, call, (int)init[1] + call);
      cmp_tensor_check(&ct, what);
      mxbt_to_host(cur, ct.d.data, ct.sz.data_bytes);
      if (call) cr_assert(memcmp(cur, prev, ct.sz.data_bytes), "format %d: replay %d repeated the bits", (int)f, call);
      memcpy(prev, cur, ct.sz.data_bytes);
    }
    uint64_t end[2];
    mxbt_to_host(end, dstate, sizeof(end));
    cr_assert(end[0] == init[0] && end[1] == init[1] + 4, "state {%llu, %llu}", (unsigned long long)end[0],
              (unsigned long long)end[1]);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    free(prev);
    free(cur);
    cmp_tensor_free(&ct);
    mxbt_dev_free(w);
    mxbt_dev_free(dstate);
  }
  cudaStreamDestroy(st);
  mxb_context_destroy(ctx);
  mxbt_dev_free(dx);
  free(x);
#endif
}
