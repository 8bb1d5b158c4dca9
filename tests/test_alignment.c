/* Buffers and planes aligned to their element size: a plain buffer of
 * bf16/fp16 (2 bytes) or fp32 (4 bytes), fp32 scales, 2-byte MoR and bf16
 * codes, the fp32 tensor amax. A misaligned one is refused with
 * MXB_ERR_BAD_ALIGNMENT and a detail, and nothing is written (the CPU would
 * load it misaligned, a GPU would fault). */
#include "transforms_util.h"

#define EXPECT_MISALIGNED(call, what)                                                                      \
  do {                                                                                                     \
    mxb_status_t s_ = (call);                                                                              \
    cr_assert_eq(s_, MXB_ERR_BAD_ALIGNMENT, "%s: status %d (%s)", what, (int)s_, mxb_last_error_detail()); \
    cr_assert_neq(strlen(mxb_last_error_detail()), 0, "%s: no detail", what);                              \
  } while (0)

static int all_bytes(const void *p, size_t n, unsigned char v) {
  for (size_t i = 0; i < n; i++)
    if (((const unsigned char *)p)[i] != v) return 0;
  return 1;
}

/* A plane moved off its alignment by one byte (the block has room). */
static void *shifted(void *p, size_t n) {
  unsigned char *b = malloc(n + 8);
  memcpy(b + 1, p, n);
  return b + 1;
}

Test(alignment, plain_buffers_and_planes) {
  mxb_context_t *ctx = mxbt_cpu();
  enum { R = 4, C = 128 };
  float x[R * C];
  mxbt_fill_normal(x, R * C, 9, 1.0f);
  unsigned char *buf = malloc(R * C * 4 + 8);
  memcpy(buf + 1, x, R * C * 4);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);

  /* plain inputs and outputs */
  mxbt_qt q = mxbt_qt_alloc(MXB_FORMAT_MXFP8_E4M3, R, C, MXB_SCALE_LAYOUT_LINEAR);
  EXPECT_MISALIGNED(mxb_quantize(ctx, &cfg, MXB_DTYPE_BF16, buf + 1, &q.t, NULL, 0, NULL), "bf16 src");
  EXPECT_MISALIGNED(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, buf + 2, &q.t, NULL, 0, NULL), "fp32 src");
  cr_assert(all_bytes(q.t.data, q.s.data_bytes, 0xA5) && all_bytes(q.t.scales, q.s.scale_bytes, 0xA5),
            "dst written on failure");
  mxbt_quantize(ctx, &cfg, x, &q);
  memset(buf, 0x5A, R * C * 4 + 8);
  EXPECT_MISALIGNED(mxb_dequantize(ctx, &q.t, MXB_DTYPE_FP16, buf + 1, NULL), "fp16 dst");
  EXPECT_MISALIGNED(mxb_dequantize(ctx, &q.t, MXB_DTYPE_FP32, buf + 2, NULL), "fp32 dst");
  cr_assert(all_bytes(buf, R * C * 4 + 8, 0x5A), "dst written on failure");
  float amax = 7.0f;
  EXPECT_MISALIGNED(mxb_amax(ctx, MXB_DTYPE_BF16, buf + 1, 8, &amax, NULL), "amax x");
  EXPECT_MISALIGNED(mxb_amax(ctx, MXB_DTYPE_FP32, x, 8, (float *)(buf + 1), NULL), "amax output");
  cr_assert_eq(amax, 7.0f);
  mxb_rht_t rht;
  mxb_rht_init(&rht);
  EXPECT_MISALIGNED(mxb_rht(ctx, &rht, 0, MXB_AXIS_COLS, R, C, MXB_DTYPE_FP32, buf + 1, MXB_DTYPE_FP32, x, NULL),
                    "rht in");
  EXPECT_MISALIGNED(mxb_rht(ctx, &rht, 0, MXB_AXIS_COLS, R, C, MXB_DTYPE_FP32, x, MXB_DTYPE_BF16, buf + 1, NULL),
                    "rht out");
  mxb_error_stats_t st = {.struct_size = sizeof(st)};
  EXPECT_MISALIGNED(mxb_error_stats((const float *)(buf + 1), &q.t, &st), "stats x");

  /* planes with elements wider than a byte */
  struct { mxb_format_t f; int plane; const char *what; } cases[] = {
    {MXB_FORMAT_FP8_E4M3_1x128, 1, "fp32 scales"},
    {MXB_FORMAT_NVFP4, 3, "tensor amax"},
    {MXB_FORMAT_BF16, 0, "bf16 data"},
    {MXB_FORMAT_MOR_1x128, 0, "MoR data"},
  };
  for (int k = 0; k < 4; k++) {
    mxbt_qt t = mxbt_qt_alloc(cases[k].f, R, C, MXB_SCALE_LAYOUT_LINEAR);
    if (cases[k].f == MXB_FORMAT_MOR_1x128) {
      mxb_mor_config_t mc;
      mxb_mor_config_init(&mc);
      size_t ws = 0;
      cr_assert_eq(mxb_mor_workspace_size(ctx, &mc, MXB_DTYPE_FP32, &t.t, &ws), MXB_SUCCESS);
      void *w = malloc(ws);
      cr_assert_eq(mxb_mor_quantize(ctx, &mc, MXB_DTYPE_FP32, x, &t.t, w, ws, NULL), MXB_SUCCESS);
      free(w);
    } else {
      mxbt_quantize(ctx, &cfg, x, &t);
    }
    mxb_tensor_t bad = t.t;
    unsigned char *moved;
    switch (cases[k].plane) {
      case 0: bad.data = moved = shifted(t.t.data, t.s.data_bytes); break;
      case 1: bad.scales = moved = shifted(t.t.scales, t.s.scale_bytes); break;
      default: bad.amax = (float *)(moved = shifted(t.t.amax, 4)); break;
    }
    float y[R * C];
    memset(y, 0x5A, sizeof(y));
    EXPECT_MISALIGNED(mxb_dequantize(ctx, &bad, MXB_DTYPE_FP32, y, NULL), cases[k].what);
    cr_assert(all_bytes(y, sizeof(y), 0x5A), "%s: dst written on failure", cases[k].what);
    free(moved - 1);
    mxbt_qt_free(&t);
  }
  mxbt_qt_free(&q);
  free(buf);
  mxb_context_destroy(ctx);
}
