/* One alignment rule for every workspace (MXB_WORKSPACE_ALIGNMENT): each
 * entry point that takes a workspace refuses a misaligned one with
 * MXB_ERR_BAD_ALIGNMENT, a detail and untouched outputs, and runs with one
 * that is aligned to exactly MXB_WORKSPACE_ALIGNMENT (not more), giving the
 * bytes a generously aligned workspace gives. */
#include <stdint.h>

#include "transforms_util.h"

#define ROWS 48
#define COLS 160 /* several MoR 1x128 partitions, a multiple of every block */

typedef struct op {
  const char *name;
  /* workspace bytes, then the call on (workspace, bytes) writing outs[] */
  size_t (*query)(mxb_context_t *ctx, mxbt_qt *outs);
  mxb_status_t (*run)(mxb_context_t *ctx, mxbt_qt *outs, void *ws, size_t bytes);
  mxb_format_t formats[2];
  int nouts;
} op;

static float g_x[ROWS * COLS];
static float g_c[ROWS * ROWS];

static size_t q_query(mxb_context_t *ctx, mxbt_qt *o) {
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  size_t n = 0;
  cr_assert_eq(mxb_quantize_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, &o[0].t, &n), MXB_SUCCESS);
  return n;
}
static mxb_status_t q_run(mxb_context_t *ctx, mxbt_qt *o, void *ws, size_t bytes) {
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  return mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, g_x, &o[0].t, ws, bytes, NULL);
}

static size_t pair_query(mxb_context_t *ctx, mxbt_qt *o) {
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  size_t n = 0;
  cr_assert_eq(mxb_quantize_pair_workspace_size(ctx, &cfg, &cfg, MXB_DTYPE_FP32, &o[0].t, &o[1].t, &n), MXB_SUCCESS);
  return n;
}
static mxb_status_t pair_run(mxb_context_t *ctx, mxbt_qt *o, void *ws, size_t bytes) {
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  return mxb_quantize_pair(ctx, &cfg, &cfg, MXB_DTYPE_FP32, g_x, &o[0].t, &o[1].t, ws, bytes, NULL);
}

static size_t mor_query(mxb_context_t *ctx, mxbt_qt *o) {
  mxb_mor_config_t cfg;
  mxb_mor_config_init(&cfg);
  size_t n = 0;
  cr_assert_eq(mxb_mor_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, &o[0].t, &n), MXB_SUCCESS);
  return n;
}
static mxb_status_t mor_run(mxb_context_t *ctx, mxbt_qt *o, void *ws, size_t bytes) {
  mxb_mor_config_t cfg;
  mxb_mor_config_init(&cfg);
  return mxb_mor_quantize(ctx, &cfg, MXB_DTYPE_FP32, g_x, &o[0].t, ws, bytes, NULL);
}

/* GEMM of two MXFP8 operands quantized from x; C is g_c. */
static mxbt_qt g_a;
static size_t gemm_query(mxb_context_t *ctx, mxbt_qt *o) {
  (void)o;
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  size_t n = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &g_a.t, &g_a.t, &n), MXB_SUCCESS);
  return n;
}
static mxb_status_t gemm_run(mxb_context_t *ctx, mxbt_qt *o, void *ws, size_t bytes) {
  (void)o;
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  return mxb_gemm(ctx, &d, &g_a.t, &g_a.t, g_c, ws, bytes, NULL);
}

/* The same GEMM through a plan, made by the query (which runs first). */
static mxb_gemm_plan_t *g_plan;
static size_t plan_query(mxb_context_t *ctx, mxbt_qt *o) {
  (void)o;
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  mxb_gemm_plan_destroy(g_plan);
  cr_assert_eq(mxb_gemm_plan_create(ctx, &d, &g_a.t, &g_a.t, NULL, &g_plan), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  size_t n = 0;
  cr_assert_eq(mxb_gemm_plan_workspace_size(g_plan, &n), MXB_SUCCESS);
  return n;
}
static mxb_status_t plan_run(mxb_context_t *ctx, mxbt_qt *o, void *ws, size_t bytes) {
  (void)ctx;
  (void)o;
  return mxb_gemm_plan_execute(g_plan, &g_a.t, &g_a.t, g_c, ws, bytes, NULL);
}

static const op k_ops[] = {
  {"mxb_quantize", q_query, q_run, {MXB_FORMAT_MXFP8_E4M3}, 1},
  {"mxb_quantize_pair", pair_query, pair_run, {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4}, 2},
  {"mxb_mor_quantize", mor_query, mor_run, {MXB_FORMAT_MOR_1x128}, 1},
  {"mxb_gemm", gemm_query, gemm_run, {MXB_FORMAT_COUNT}, 0},
  {"mxb_gemm_plan_execute", plan_query, plan_run, {MXB_FORMAT_COUNT}, 0},
};

static void alloc_outs(const op *p, mxbt_qt *o) {
  for (int k = 0; k < p->nouts; k++)
    o[k] = k == 0 ? mxbt_qt_alloc(p->formats[k], ROWS, COLS, MXB_SCALE_LAYOUT_LINEAR)
                  : mxbt_qt_alloc(p->formats[k], COLS, ROWS, MXB_SCALE_LAYOUT_LINEAR);
  for (int i = 0; i < ROWS * ROWS; i++) g_c[i] = 7.0f;
}

Test(workspace, one_alignment_rule_for_every_entry_point) {
  mxb_context_t *ctx = mxbt_cpu();
  mxbt_fill_normal(g_x, ROWS * COLS, 3, 1.5f);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  g_a = mxbt_qt_alloc(MXB_FORMAT_MXFP8_E4M3, ROWS, COLS, MXB_SCALE_LAYOUT_LINEAR);
  mxbt_quantize(ctx, &cfg, g_x, &g_a);

  for (size_t k = 0; k < sizeof(k_ops) / sizeof(k_ops[0]); k++) {
    const op *p = &k_ops[k];
    mxbt_qt ref[2], got[2];
    alloc_outs(p, ref);
    size_t need = p->query(ctx, ref);
    /* room for every offset below, on a generously aligned base */
    size_t bytes = need + 256;
    unsigned char *base = aligned_alloc(256, (bytes + 256 + 255) / 256 * 256);
    cr_assert_eq(p->run(ctx, ref, base, bytes), MXB_SUCCESS, "%s: %s", p->name, mxb_last_error_detail());
    float c_ref[ROWS * ROWS];
    memcpy(c_ref, g_c, sizeof(c_ref));

    for (size_t off = 1; off < MXB_WORKSPACE_ALIGNMENT; off++) {
      alloc_outs(p, got);
      mxb_status_t s = p->run(ctx, got, base + off, bytes);
      cr_assert_eq(s, MXB_ERR_BAD_ALIGNMENT, "%s: workspace at offset %zu gave status %d", p->name, off, (int)s);
      cr_assert_neq(strlen(mxb_last_error_detail()), 0, "%s: no detail", p->name);
      mxbt_qt poisoned[2];
      alloc_outs(p, poisoned);
      for (int j = 0; j < p->nouts; j++) {
        cr_assert(mxbt_qt_equal(&got[j], &poisoned[j]), "%s: output %d written on failure", p->name, j);
        mxbt_qt_free(&got[j]);
        mxbt_qt_free(&poisoned[j]);
      }
      for (int i = 0; i < ROWS * ROWS; i++) cr_assert_eq(g_c[i], 7.0f, "%s: C written on failure", p->name);
    }

    /* aligned to MXB_WORKSPACE_ALIGNMENT and to nothing larger */
    unsigned char *ws = base + MXB_WORKSPACE_ALIGNMENT;
    if ((uintptr_t)ws % (2 * MXB_WORKSPACE_ALIGNMENT) == 0) ws += MXB_WORKSPACE_ALIGNMENT;
    alloc_outs(p, got);
    cr_assert_eq(p->run(ctx, got, ws, need), MXB_SUCCESS, "%s: %s", p->name, mxb_last_error_detail());
    for (int j = 0; j < p->nouts; j++) {
      cr_assert(mxbt_qt_equal(&got[j], &ref[j]), "%s: output %d differs", p->name, j);
      mxbt_qt_free(&got[j]);
      mxbt_qt_free(&ref[j]);
    }
    cr_assert_eq(memcmp(g_c, c_ref, sizeof(c_ref)), 0, "%s: C differs", p->name);
    free(base);
  }
  mxb_gemm_plan_destroy(g_plan);
  mxbt_qt_free(&g_a);
  mxb_context_destroy(ctx);
}
