/* 2D (32x32) scaling for the MX formats (NUMERICS 4.2): every 1x32 block of
 * a 32x32 tile takes the tile's scale (its amax over the tile, NaN/Inf
 * flagging the whole tile under the NaN-block policy), so quantizing W^T
 * gives exactly the transpose of W's values. CUDA offers it too (its bytes
 * are compared in test_cuda_quantize.c and test_cuda_transforms.c). */
#include <math.h>

#include "common/block.h"
#include "core/formats.h"
#include "testutil.h"

enum { R = 70, C = 100, T = 32 }; /* tails in both dimensions */

static const mxb_format_t k_mx[] = {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP6_E3M2,
                                    MXB_FORMAT_MXFP6_E2M3, MXB_FORMAT_MXFP4,      MXB_FORMAT_MXINT8};

typedef struct qt2 {
  mxb_tensor_t t;
  mxb_tensor_sizes_t s;
} qt2;

static mxb_status_t quantize2d(mxb_context_t *ctx, mxb_format_t f, const float *x, int64_t rows, int64_t cols,
                               mxb_nonfinite_t policy, qt2 *q) {
  q->s = (mxb_tensor_sizes_t){.struct_size = sizeof(q->s)};
  cr_assert_eq(mxb_tensor_sizes(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &q->s), MXB_SUCCESS);
  cr_assert_eq(mxb_tensor_init(&q->t, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  q->t.data = malloc(q->s.data_bytes);
  q->t.scales = malloc(q->s.scale_bytes);
  memset(q->t.data, 0xA5, q->s.data_bytes);
  memset(q->t.scales, 0xA5, q->s.scale_bytes);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.block_2d = 1;
  cfg.nonfinite = policy;
  return mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &q->t, NULL, 0, NULL);
}

static void qt2_free(qt2 *q) {
  free(q->t.data);
  free(q->t.scales);
}

static float *dequant(mxb_context_t *ctx, const qt2 *q) {
  float *y = malloc(sizeof(float) * (size_t)(q->t.rows * q->t.cols));
  cr_assert_eq(mxb_dequantize(ctx, &q->t, MXB_DTYPE_FP32, y, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  return y;
}

static mxb_context_t *cpu(void) {
  mxb_context_t *c = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &c), MXB_SUCCESS);
  return c;
}

/* Scales and codes of each row's blocks are those of the shared block
 * quantizer given the tile's amax (computed here from the values). */
Test(mx_2d, every_block_takes_its_tiles_scale) {
  float *x = malloc(sizeof(float) * R * C);
  mxbt_fill_normal(x, R * C, 21, 1.0f);
  x[40 * C + 70] = 300.0f; /* one large value: its tile's scale differs from its rows' own */
  mxb_context_t *c = cpu();
  for (size_t k = 0; k < sizeof(k_mx) / sizeof(k_mx[0]); k++) {
    qt2 q;
    cr_assert_eq(quantize2d(c, k_mx[k], x, R, C, MXB_NONFINITE_NAN_BLOCK, &q), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    cr_assert_eq(q.t.flags & MXB_TENSOR_SCALED_2D, MXB_TENSOR_SCALED_2D);
    mxb_format_info_t fi = {.struct_size = sizeof(fi)};
    cr_assert_eq(mxb_format_info(k_mx[k], &fi), MXB_SUCCESS);
    const mxb_fp p = mxb_elem_fp(fi.elem);
    float *y = dequant(c, &q);
    for (int64_t r = 0; r < R; r++)
      for (int64_t j = 0; j < (C + T - 1) / T; j++) {
        uint32_t amax = 0;
        for (int64_t rr = r / T * T; rr < R && rr < r / T * T + T; rr++)
          for (int64_t cc = j * T; cc < C && cc < j * T + T; cc++) {
            const uint32_t a = mxbt_f2u(x[rr * C + cc]) & 0x7FFFFFFFu;
            amax = a > amax ? a : amax;
          }
        const int n = (int)(C - j * T < T ? C - j * T : T);
        uint8_t codes[T];
        const uint8_t b = mxb_mx_quantize_block_amax(x + r * C + j * T, n, amax, 0, &p, MXB_SCALE_RULE_RCEIL, NULL,
                                                     codes);
        cr_assert_eq(((uint8_t *)q.t.scales)[r * q.s.scale_cols + j], b, "%s row %lld block %lld", fi.name,
                     (long long)r, (long long)j);
        for (int i = 0; i < n; i++)
          cr_assert_eq(mxbt_f2u(y[r * C + j * T + i]), mxbt_f2u(mxb_mx_decode(&p, codes[i], b)),
                       "%s (%lld, %lld)", fi.name, (long long)r, (long long)(j * T + i));
      }
    /* the large value's tile: rows 32..63 share its scale, rows 0..31 do not */
    cr_assert_eq(((uint8_t *)q.t.scales)[33 * q.s.scale_cols + 2], ((uint8_t *)q.t.scales)[40 * q.s.scale_cols + 2]);
    cr_assert_neq(((uint8_t *)q.t.scales)[31 * q.s.scale_cols + 2], ((uint8_t *)q.t.scales)[40 * q.s.scale_cols + 2]);
    free(y);
    qt2_free(&q);
  }
  mxb_context_destroy(c);
  free(x);
}

/* The tile is symmetric under transposition, so W^T quantized with 2D
 * scaling holds exactly W's values, transposed. */
Test(mx_2d, the_transpose_is_exact) {
  float *x = malloc(sizeof(float) * R * C), *xt = malloc(sizeof(float) * R * C);
  mxbt_fill_normal(x, R * C, 22, 2.0f);
  for (int64_t r = 0; r < R; r++) x[r * C + 5] *= 50.0f; /* an outlier column */
  for (int64_t r = 0; r < R; r++)
    for (int64_t c0 = 0; c0 < C; c0++) xt[c0 * R + r] = x[r * C + c0];
  mxb_context_t *c = cpu();
  for (size_t k = 0; k < sizeof(k_mx) / sizeof(k_mx[0]); k++) {
    qt2 a, b;
    cr_assert_eq(quantize2d(c, k_mx[k], x, R, C, MXB_NONFINITE_NAN_BLOCK, &a), MXB_SUCCESS);
    cr_assert_eq(quantize2d(c, k_mx[k], xt, C, R, MXB_NONFINITE_NAN_BLOCK, &b), MXB_SUCCESS);
    float *ya = dequant(c, &a), *yb = dequant(c, &b);
    int differs_from_1d = 0;
    for (int64_t r = 0; r < R; r++)
      for (int64_t c0 = 0; c0 < C; c0++) {
        cr_assert_eq(mxbt_f2u(ya[r * C + c0]), mxbt_f2u(yb[c0 * R + r]), "format %d (%lld, %lld)", (int)k_mx[k],
                     (long long)r, (long long)c0);
        differs_from_1d |= ya[r * C + c0] != x[r * C + c0];
      }
    cr_assert(differs_from_1d, "format %d: nothing was quantized", (int)k_mx[k]);
    free(ya);
    free(yb);
    qt2_free(&a);
    qt2_free(&b);
  }
  mxb_context_destroy(c);
  free(x);
  free(xt);
}

/* Under the NaN-block policy a NaN or Inf poisons its whole tile (scale
 * 0xFF in each of its 32 rows), and no other; the saturate policy keeps
 * every tile finite where the values are. */
Test(mx_2d, a_nan_poisons_its_tile) {
  float *x = malloc(sizeof(float) * R * C);
  mxbt_fill_normal(x, R * C, 23, 1.0f);
  x[40 * C + 50] = NAN;
  mxb_context_t *c = cpu();
  qt2 q;
  cr_assert_eq(quantize2d(c, MXB_FORMAT_MXFP8_E4M3, x, R, C, MXB_NONFINITE_NAN_BLOCK, &q), MXB_SUCCESS);
  for (int64_t r = 0; r < R; r++)
    for (int64_t j = 0; j < q.s.scale_cols; j++) {
      const int in_tile = r >= 32 && r < 64 && j == 1;
      cr_assert_eq(((uint8_t *)q.t.scales)[r * q.s.scale_cols + j] == 0xFF, in_tile, "row %lld block %lld",
                   (long long)r, (long long)j);
    }
  qt2_free(&q);
  cr_assert_eq(quantize2d(c, MXB_FORMAT_MXFP8_E4M3, x, R, C, MXB_NONFINITE_SATURATE, &q), MXB_SUCCESS);
  for (int64_t i = 0; i < R * q.s.scale_cols; i++) cr_assert_neq(((uint8_t *)q.t.scales)[i], 0xFF);
  qt2_free(&q);
  mxb_context_destroy(c);
  free(x);
}

/* The CUDA backend offers 2D MX scaling (tests/test_cuda_quantize.c and
 * test_cuda_transforms.c compare its quantize and transpose bytes with
 * these). */
Test(mx_2d, cuda_offers_it) {
  MXBT_REQUIRE_GPU();
  mxb_context_t *g = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &g), MXB_SUCCESS);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.block_2d = 1;
  int ok = -1;
  cr_assert_eq(mxb_quantize_supported(g, &cfg, MXB_FORMAT_MXFP8_E4M3, &ok), MXB_SUCCESS);
  cr_assert_eq(ok, 1);
  cr_assert_eq(mxb_quantize_supported(g, &cfg, MXB_FORMAT_NVFP4, &ok), MXB_SUCCESS);
  cr_assert_eq(ok, 1);
  mxb_context_destroy(g);
}
