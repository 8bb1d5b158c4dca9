/* NVFP4 Four Over Six (NUMERICS 4.1.1): a hand-worked block, the choice
 * checked block by block against the dequantized values of both candidates,
 * SR and RHT composition, quantize_pair, and the refusals. */
#include <float.h>

#include "common/block.h"
#include "testutil.h"

typedef struct q4 {
  uint8_t *data, *scales;
  float amax;
} q4;

static mxb_status_t quantize_cpu(const float *x, int64_t rows, int64_t cols, const mxb_quant_config_t *cfg, q4 *out) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_tensor_sizes_t sz = {.struct_size = sizeof(sz)};
  cr_assert_eq(mxb_tensor_sizes(MXB_FORMAT_NVFP4, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &sz), MXB_SUCCESS);
  out->data = calloc(sz.data_bytes, 1);
  out->scales = calloc(sz.scale_bytes, 1);
  mxb_tensor_t t;
  cr_assert_eq(mxb_tensor_init(&t, MXB_FORMAT_NVFP4, rows, cols, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  t.data = out->data;
  t.scales = out->scales;
  t.amax = &out->amax;
  mxb_status_t s = mxb_quantize(ctx, cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL);
  mxb_context_destroy(ctx);
  return s;
}

static void q4_free(q4 *q) {
  free(q->data);
  free(q->scales);
}

static uint8_t code_at(const q4 *q, int64_t cols, int64_t r, int64_t c) {
  const uint8_t b = q->data[r * ((cols + 1) / 2) + c / 2];
  return (uint8_t)(c & 1 ? b >> 4 : b & 0xF);
}

static void config(mxb_quant_config_t *cfg, mxb_four_over_six_t metric) {
  mxb_quant_config_init(cfg);
  cfg->four_over_six = metric;
}

/* Tensor amax 2688 makes S_enc = 1: block 0 = {6, 5, 5, 5, 0 ...} has
 * s6 = 1.0 (0x38), where 5 ties between 4 and 6 and rounds to 4 (error 1
 * each), and s4 = 1.5 (0x3C), where 6 -> 4 (exact) and 5 -> 3.33 -> 3
 * (dequantized 4.5, error 0.5 each): 4 wins by either metric. Block 1's amax
 * 2688 maps to 448 both ways (672 saturates): the standard scale. */
Test(four_over_six, a_worked_block) {
  float x[32] = {6.0f, 5.0f, 5.0f, 5.0f};
  x[16] = 2688.0f;
  const mxb_four_over_six_t metrics[] = {MXB_FOUR_OVER_SIX_OFF, MXB_FOUR_OVER_SIX_MSE, MXB_FOUR_OVER_SIX_MAE};
  for (int m = 0; m < 3; m++) {
    mxb_quant_config_t cfg;
    config(&cfg, metrics[m]);
    q4 q;
    cr_assert_eq(quantize_cpu(x, 1, 32, &cfg, &q), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert_eq(q.amax, 2688.0f);
    const uint8_t want_s = m ? 0x3C : 0x38, want_c[4] = {m ? 6 : 7, m ? 5 : 6, m ? 5 : 6, m ? 5 : 6};
    cr_assert_eq(q.scales[0], want_s, "metric %d: scale %#x", m, q.scales[0]);
    for (int j = 0; j < 4; j++) cr_assert_eq(code_at(&q, 32, 0, j), want_c[j], "metric %d, element %d", m, j);
    cr_assert_eq(q.scales[1], 0x7E, "metric %d: block 1 keeps 448", m);
    // the statistic: of the blocks whose two scales differ (block 0 only), the fraction at 4
    mxb_tensor_t t;
    mxb_tensor_init(&t, MXB_FORMAT_NVFP4, 1, 32, MXB_SCALE_LAYOUT_LINEAR);
    t.data = q.data, t.scales = q.scales, t.amax = &q.amax;
    mxb_error_stats_t st = {.struct_size = sizeof(st)};
    cr_assert_eq(mxb_error_stats(x, &t, &st), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert_eq(st.frac_scaled_to_4, m ? 1.0 : 0.0, "metric %d: frac_scaled_to_4 %g", m, st.frac_scaled_to_4);
    q4_free(&q);
  }
}

/* Block error of the dequantized codes of row r, block j (as the contract
 * defines it, from the public dequantize). */
static double block_error(const float *x, const float *v, int64_t cols, int64_t r, int64_t j, int mse) {
  double e = 0.0;
  for (int64_t c = j * 16; c < cols && c < j * 16 + 16; c++) {
    const double d = (double)v[r * cols + c] - (double)x[r * cols + c];
    e += mse ? d * d : fabs(d);
  }
  return e;
}

static void dequantize_cpu(const q4 *q, int64_t rows, int64_t cols, float *v) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_tensor_t t;
  mxb_tensor_init(&t, MXB_FORMAT_NVFP4, rows, cols, MXB_SCALE_LAYOUT_LINEAR);
  t.data = q->data;
  t.scales = q->scales;
  t.amax = (float *)&q->amax;
  cr_assert_eq(mxb_dequantize(ctx, &t, MXB_DTYPE_FP32, v, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxb_context_destroy(ctx);
}

/* On random blocks with outliers (RNE and SR): every block either is the
 * standard block, or has the scale of its amax mapped to 4 and a strictly
 * smaller error than the standard block; where the standard block is kept,
 * the 4-candidate (encoded by the shared encoder) is not better. */
Test(four_over_six, each_block_takes_the_smaller_error) {
  const int64_t rows = 37, cols = 203;  // a tail block of 11
  float *x = malloc(sizeof(float) * rows * cols), *v6 = malloc(sizeof(float) * rows * cols),
        *v = malloc(sizeof(float) * rows * cols);
  mxbt_fill_normal(x, (size_t)(rows * cols), 11, 1.0f);
  for (int64_t r = 0; r < rows; r++) x[r * cols + 5] *= 40.0f, x[r * cols + 77] *= 9.0f;
  int taken4 = 0, kept = 0;
  for (int opt = 0; opt < 4; opt++) {
    const int mse = opt & 1;
    mxb_quant_config_t std_cfg, cfg;
    mxb_quant_config_init(&std_cfg);
    std_cfg.rounding = (opt & 2) ? MXB_ROUND_SR : MXB_ROUND_RNE;
    std_cfg.seed = 99;
    cfg = std_cfg;
    cfg.four_over_six = mse ? MXB_FOUR_OVER_SIX_MSE : MXB_FOUR_OVER_SIX_MAE;
    q4 qs, q;
    cr_assert_eq(quantize_cpu(x, rows, cols, &std_cfg, &qs), MXB_SUCCESS);
    cr_assert_eq(quantize_cpu(x, rows, cols, &cfg, &q), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert_eq(q.amax, qs.amax);
    dequantize_cpu(&qs, rows, cols, v6);
    dequantize_cpu(&q, rows, cols, v);
    const mxb_nvfp4_ts ts = mxb_nvfp4_tensor_scales(q.amax, 0);
    const int64_t nb = (cols + 15) / 16;
    for (int64_t r = 0; r < rows; r++)
      for (int64_t j = 0; j < nb; j++) {
        float a_b = 0.0f;
        for (int64_t c = j * 16; c < cols && c < j * 16 + 16; c++) a_b = fmaxf(a_b, fabsf(x[r * cols + c]));
        const uint8_t s6 = qs.scales[r * nb + j], s = q.scales[r * nb + j];
        const uint8_t s4 = mxb_ue4m3_encode(fminf(a_b * (ts.S_enc * 0.25f), FLT_MAX));
        const double e6 = block_error(x, v6, cols, r, j, mse), e = block_error(x, v, cols, r, j, mse);
        if (s != s6) {
          cr_assert_eq(s, s4, "opt %d row %lld block %lld: scale %#x is neither 6's %#x nor 4's %#x", opt,
                       (long long)r, (long long)j, s, s6, s4);
          cr_assert(e < e6, "opt %d row %lld block %lld: 4 taken with error %.9g >= %.9g", opt, (long long)r,
                    (long long)j, e, e6);
          taken4++;
        } else {
          for (int64_t c = j * 16; c < cols && c < j * 16 + 16; c++)
            cr_assert_eq(code_at(&q, cols, r, c), code_at(&qs, cols, r, c));
          if (s4 == s6) continue;
          // the rejected candidate, from the shared encoder: not better
          const int n = (int)(cols - j * 16 < 16 ? cols - j * 16 : 16);
          uint8_t c4[16];
          mxb_nvfp4_ts t4 = ts;
          t4.four_six = mse ? MXB_FOUR_OVER_SIX_MSE : MXB_FOUR_OVER_SIX_MAE;
          if (std_cfg.rounding == MXB_ROUND_SR) continue;  // the SR bits are the quantizer's own
          mxb_nvfp4_encode_block(x + r * cols + j * 16, n, s4, &t4, NULL, c4);
          cr_assert(!(mxb_nvfp4_block_error(x + r * cols + j * 16, n, c4, s4, &t4) < e6),
                    "opt %d row %lld block %lld: a better 4-candidate was rejected", opt, (long long)r,
                    (long long)j);
          kept++;
        }
      }
    q4_free(&qs);
    q4_free(&q);
  }
  cr_assert(taken4 > 50 && kept > 50, "the inputs exercise both choices (4: %d, 6 over a distinct 4: %d)", taken4,
            kept);
  free(x);
  free(v6);
  free(v);
}

/* 2D tiles (the CPU reference): every tile keeps one scale on its 16 rows,
 * either the standard one (and then the standard codes) or its amax mapped
 * to 4 with a strictly smaller tile error (rows' errors summed in the
 * butterfly order), and a rejected 4 candidate is not better. */
Test(four_over_six, tiles_choose_over_their_rows) {
  const int64_t rows = 93, cols = 256;  // a last band of 13 rows
  float *x = malloc(sizeof(float) * rows * cols), *v6 = malloc(sizeof(float) * rows * cols),
        *v = malloc(sizeof(float) * rows * cols);
  mxbt_fill_normal(x, (size_t)(rows * cols), 17, 1.0f);
  for (int64_t r = 0; r < rows; r++) x[r * cols + 3] *= 25.0f, x[r * cols + 50] *= 6.0f;
  int taken4 = 0, kept = 0;
  for (int opt = 0; opt < 4; opt++) {
    const int mse = opt & 1;
    mxb_quant_config_t std_cfg, cfg;
    mxb_quant_config_init(&std_cfg);
    std_cfg.block_2d = 1;
    std_cfg.rounding = (opt & 2) ? MXB_ROUND_SR : MXB_ROUND_RNE;
    std_cfg.seed = 5;
    cfg = std_cfg;
    cfg.four_over_six = mse ? MXB_FOUR_OVER_SIX_MSE : MXB_FOUR_OVER_SIX_MAE;
    q4 qs, q;
    cr_assert_eq(quantize_cpu(x, rows, cols, &std_cfg, &qs), MXB_SUCCESS);
    cr_assert_eq(quantize_cpu(x, rows, cols, &cfg, &q), MXB_SUCCESS, "%s", mxb_last_error_detail());
    dequantize_cpu(&qs, rows, cols, v6);
    dequantize_cpu(&q, rows, cols, v);
    mxb_nvfp4_ts ts = mxb_nvfp4_tensor_scales(q.amax, 0);
    ts.four_six = cfg.four_over_six;
    const int64_t nb = cols / 16;
    for (int64_t b = 0; b * 16 < rows; b++)
      for (int64_t j = 0; j < nb; j++) {
        double e6[16] = {0}, e[16] = {0}, e4[16] = {0};
        float a_b = 0.0f;
        int64_t r1 = b * 16 + 16 < rows ? b * 16 + 16 : rows;
        for (int64_t r = b * 16; r < r1; r++) {
          for (int64_t c = j * 16; c < j * 16 + 16; c++) a_b = fmaxf(a_b, fabsf(x[r * cols + c]));
          e6[r - b * 16] = block_error(x, v6, cols, r, j, mse);
          e[r - b * 16] = block_error(x, v, cols, r, j, mse);
          cr_assert_eq(q.scales[r * nb + j], q.scales[b * 16 * nb + j], "one scale on the tile's rows");
        }
        const uint8_t s6 = qs.scales[b * 16 * nb + j], s = q.scales[b * 16 * nb + j];
        const uint8_t s4 = mxb_nvfp4_block_scale4(a_b, &ts);
        if (s != s6) {
          cr_assert_eq(s, s4);
          cr_assert(mxb_nvfp4_tile_error(e) < mxb_nvfp4_tile_error(e6), "opt %d tile %lld,%lld", opt, (long long)b,
                    (long long)j);
          taken4++;
          continue;
        }
        for (int64_t r = b * 16; r < r1; r++)
          for (int64_t c = j * 16; c < j * 16 + 16; c++) cr_assert_eq(code_at(&q, cols, r, c), code_at(&qs, cols, r, c));
        if (s4 == s6 || std_cfg.rounding == MXB_ROUND_SR) continue;
        for (int64_t r = b * 16; r < r1; r++) {
          uint8_t c4[16];
          mxb_nvfp4_encode_block(x + r * cols + j * 16, 16, s4, &ts, NULL, c4);
          e4[r - b * 16] = mxb_nvfp4_block_error(x + r * cols + j * 16, 16, c4, s4, &ts);
        }
        cr_assert(!(mxb_nvfp4_tile_error(e4) < mxb_nvfp4_tile_error(e6)), "opt %d tile %lld,%lld: a better 4 rejected",
                  opt, (long long)b, (long long)j);
        kept++;
      }
    q4_free(&qs);
    q4_free(&q);
  }
  cr_assert(taken4 > 10 && kept > 10, "both choices exercised (4: %d, 6 over a distinct 4: %d)", taken4, kept);
  free(x);
  free(v6);
  free(v);
}

/* With the RHT the blocks choose on the transformed values: quantize with
 * rht is quantize (rht off) of mxb_rht's output, 4/6 included. */
Test(four_over_six, composes_with_the_rht) {
  const int64_t rows = 24, cols = 96;
  float *x = malloc(sizeof(float) * rows * cols), *y = malloc(sizeof(float) * rows * cols);
  mxbt_fill_normal(x, (size_t)(rows * cols), 21, 1.0f);
  for (int64_t r = 0; r < rows; r++) x[r * cols + 7] *= 30.0f;
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_rht_t rht;
  mxb_rht_init(&rht);
  rht.enabled = 1;
  cr_assert_eq(mxb_rht(ctx, &rht, 0, MXB_AXIS_COLS, rows, cols, MXB_DTYPE_FP32, x, MXB_DTYPE_FP32, y, NULL),
               MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxb_context_destroy(ctx);
  for (int sr = 0; sr < 2; sr++) {
    mxb_quant_config_t a, b;
    config(&a, MXB_FOUR_OVER_SIX_MSE);
    a.rounding = sr ? MXB_ROUND_SR : MXB_ROUND_RNE;
    b = a;
    a.rht = rht;
    q4 qa, qb;
    cr_assert_eq(quantize_cpu(x, rows, cols, &a, &qa), MXB_SUCCESS, "%s", mxb_last_error_detail());
    cr_assert_eq(quantize_cpu(y, rows, cols, &b, &qb), MXB_SUCCESS);
    cr_assert_arr_eq(qa.data, qb.data, (size_t)(rows * cols / 2), "sr %d", sr);
    cr_assert_arr_eq(qa.scales, qb.scales, (size_t)(rows * cols / 16), "sr %d", sr);
    q4_free(&qa);
    q4_free(&qb);
  }
  free(x);
  free(y);
}

/* quantize_pair's copies are the quantize of x and of x^T, 4/6 included. */
Test(four_over_six, pair_gives_the_quantize_bytes) {
  const int64_t rows = 48, cols = 80;
  float *x = malloc(sizeof(float) * rows * cols), *xt = malloc(sizeof(float) * rows * cols);
  mxbt_fill_normal(x, (size_t)(rows * cols), 5, 2.0f);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) xt[c * rows + r] = x[r * cols + c];
  mxb_quant_config_t cfg;
  config(&cfg, MXB_FOUR_OVER_SIX_MSE);
  q4 qr, qc;
  cr_assert_eq(quantize_cpu(x, rows, cols, &cfg, &qr), MXB_SUCCESS);
  cr_assert_eq(quantize_cpu(xt, cols, rows, &cfg, &qc), MXB_SUCCESS);
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_tensor_t tr, tc;
  mxb_tensor_init(&tr, MXB_FORMAT_NVFP4, rows, cols, MXB_SCALE_LAYOUT_LINEAR);
  mxb_tensor_init(&tc, MXB_FORMAT_NVFP4, cols, rows, MXB_SCALE_LAYOUT_LINEAR);
  uint8_t dr[48 * 40], sr[48 * 5], dc[80 * 24], sc[80 * 3];
  float ar = 0, ac = 0;
  tr.data = dr, tr.scales = sr, tr.amax = &ar;
  tc.data = dc, tc.scales = sc, tc.amax = &ac;
  size_t ws = 0;
  cr_assert_eq(mxb_quantize_pair_workspace_size(ctx, &cfg, &cfg, MXB_DTYPE_FP32, &tr, &tc, &ws), MXB_SUCCESS);
  void *w = malloc(ws ? ws : 1);
  cr_assert_eq(mxb_quantize_pair(ctx, &cfg, &cfg, MXB_DTYPE_FP32, x, &tr, &tc, w, ws, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  cr_assert_arr_eq(dr, qr.data, sizeof(dr));
  cr_assert_arr_eq(sr, qr.scales, sizeof(sr));
  cr_assert_arr_eq(dc, qc.data, sizeof(dc));
  cr_assert_arr_eq(sc, qc.scales, sizeof(sc));
  free(w);
  mxb_context_destroy(ctx);
  q4_free(&qr);
  q4_free(&qc);
  free(x);
  free(xt);
}

Test(four_over_six, refusals_and_old_struct_sizes) {
  float x[64];
  mxbt_fill_normal(x, 64, 3, 1.0f);
  mxb_quant_config_t cfg;
  q4 q;
  config(&cfg, (mxb_four_over_six_t)3);
  cr_assert_eq(quantize_cpu(x, 2, 32, &cfg, &q), MXB_ERR_INVALID_ARGUMENT);
  q4_free(&q);
  // 2D tiles: both backends
  config(&cfg, MXB_FOUR_OVER_SIX_MSE);
  cfg.block_2d = 1;
  cr_assert_eq(quantize_cpu(x, 2, 32, &cfg, &q), MXB_SUCCESS, "%s", mxb_last_error_detail());
  q4_free(&q);
  int ncuda = 0;
  if (mxb_cuda_device_count(&ncuda) == MXB_SUCCESS && ncuda > 0) {
    mxb_context_t *cctx = NULL;
    cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &cctx), MXB_SUCCESS);
    int ok = -1;
    cr_assert_eq(mxb_quantize_supported(cctx, &cfg, MXB_FORMAT_NVFP4, &ok), MXB_SUCCESS);
    cr_assert_eq(ok, 1, "CUDA does not offer Four Over Six on 2D tiles");
    mxb_context_destroy(cctx);
  }
  // another format: refused with a reason
  {
    mxb_context_t *ctx = NULL;
    mxb_context_create(MXB_BACKEND_CPU, 0, &ctx);
    config(&cfg, MXB_FOUR_OVER_SIX_MAE);
    int ok = -1;
    cr_assert_eq(mxb_quantize_supported(ctx, &cfg, MXB_FORMAT_MXFP4, &ok), MXB_SUCCESS);
    cr_assert_eq(ok, 0);
    cr_assert_eq(mxb_quantize_supported(ctx, &cfg, MXB_FORMAT_NVFP4, &ok), MXB_SUCCESS);
    cr_assert_eq(ok, 1);
    mxb_context_destroy(ctx);
  }
  // a caller built before the field: struct_size ends at rht, whatever follows is not read
  config(&cfg, (mxb_four_over_six_t)12345);
  cfg.struct_size = offsetof(mxb_quant_config_t, rht) + sizeof(cfg.rht);
  q4 old, std;
  cr_assert_eq(quantize_cpu(x, 2, 32, &cfg, &old), MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxb_quant_config_init(&cfg);
  cr_assert_eq(quantize_cpu(x, 2, 32, &cfg, &std), MXB_SUCCESS);
  cr_assert_arr_eq(old.data, std.data, 32);
  cr_assert_arr_eq(old.scales, std.scales, 4);
  q4_free(&old);
  q4_free(&std);
}

/* mxb_e2m1_decode is mxb_fp_decode for E2M1, every code byte (bits 4-7
 * ignored). */
Test(four_over_six, e2m1_decode_is_the_generic_decode) {
  const mxb_fp p = mxb_elem_fp(MXB_ELEM_E2M1);
  for (uint32_t c = 0; c < 256; c++) {
    const float a = mxb_e2m1_decode(c), b = mxb_fp_decode(&p, c & 0xFu);
    cr_assert(memcmp(&a, &b, 4) == 0, "code %#x: %a, generic %a", c, (double)a, (double)b);
  }
}

/* The fp32 verdict of Four Over Six's choice (mxb_nvfp4_fos_verdict_f32),
 * where it gives one, and mxb_nvfp4_fos_takes4 always, are the binary64
 * comparison of mxb_nvfp4_block_error on every block: random ones over scales 2^-120 .. 2^120 and tensor amaxes
 * far from the block's, ties (values on a small grid, where both
 * candidates' errors often tie exactly) and near-ties (the same with some
 * values moved by an ulp, where fp32 sums can order them wrongly), blocks
 * with subnormal values, Inf, NaN and zeros. Both ways of deciding are
 * exercised (counted), so a filter that always fell back, or never did,
 * is seen. */
Test(four_over_six, fp32_filter_gives_the_binary64_choice) {
  uint64_t st = 7;
  long by_f32 = 0, by_f64 = 0, took4 = 0, random_f32 = 0, random_all = 0;
  for (int it = 0; it < 400000; it++) {
    const int kind = it % 6, n = it % 7 == 0 ? 1 + (int)(mxbt_next(&st) % 16) : 16;
    float x[16] = {0};
    const int e = (int)(mxbt_next(&st) % 241) - 120;  // the block's binade
    for (int j = 0; j < n; j++) {
      const double u = mxbt_uniform(&st);
      if (kind == 1 || kind == 5) x[j] = (float)ldexp((double)(int)(mxbt_next(&st) % 13) - 6.0, e);  // a grid: ties
      else if (kind == 2) x[j] = (float)ldexp(u, -126 - (int)(mxbt_next(&st) % 24));     // subnormal
      else x[j] = (float)ldexp(u, e);
    }
    if (kind == 5)  // a tie broken by a few ulps of some values: fp32 sums round across it
      for (int j = 0; j < n; j++)
        if (mxbt_next(&st) & 1) x[j] = nextafterf(x[j], (mxbt_next(&st) & 1) ? INFINITY : -INFINITY);
    if (kind == 3) x[mxbt_next(&st) % n] = (mxbt_next(&st) & 1) ? INFINITY : -INFINITY;
    if (kind == 4 && (mxbt_next(&st) & 3) == 0) x[mxbt_next(&st) % n] = NAN;
    float a_b = 0.0f;
    for (int j = 0; j < n; j++) a_b = fmaxf(a_b, fabsf(x[j]));  // NaN skipped, Inf kept
    const float A = kind == 1 || kind == 5 ? a_b * (float)(1 + mxbt_next(&st) % 4) : (float)ldexp(1.0, e + (int)(mxbt_next(&st) % 41) - 20);
    mxb_nvfp4_ts t = mxb_nvfp4_tensor_scales(A, 0);
    t.four_six = (it & 1) ? MXB_FOUR_OVER_SIX_MSE : MXB_FOUR_OVER_SIX_MAE;
    mxb_nvfp4_ts t0 = t;
    t0.four_six = 0;
    const uint8_t s6 = mxb_nvfp4_block_scale(a_b, &t0), s4 = mxb_nvfp4_block_scale4(a_b, &t0);
    if (s4 == s6) continue;  // nothing to choose (mxb_nvfp4_quantize_block does not ask)
    uint8_t c6[16], c4[16];
    mxb_nvfp4_encode_block(x, n, s6, &t0, NULL, c6);
    mxb_nvfp4_encode_block(x, n, s4, &t0, NULL, c4);
    const double e6 = mxb_nvfp4_block_error(x, n, c6, s6, &t), e4 = mxb_nvfp4_block_error(x, n, c4, s4, &t);
    const int want = e4 < e6, verdict = mxb_nvfp4_fos_verdict_f32(x, n, c6, s6, c4, s4, &t);
    cr_assert(verdict < 0 || verdict == want, "block %d (kind %d, n %d, 2^%d, A %a): fp32 verdict %d, binary64 %.17g vs %.17g",
              it, kind, n, e, (double)A, verdict, e4, e6);
    cr_assert_eq(mxb_nvfp4_fos_takes4(x, n, c6, s6, c4, s4, &t), want, "block %d", it);
    took4 += want;
    const int settled = verdict >= 0;
    if (settled) by_f32++;
    else by_f64++;
    if (kind == 0) random_f32 += settled, random_all++;
  }
  cr_log_info("Four Over Six choices: %ld by the fp32 sums (random blocks: %ld of %ld), %ld in binary64, %ld took 4",
              by_f32, random_f32, random_all, by_f64, took4);
  cr_assert(by_f32 > 50000 && by_f64 > 1000 && took4 > 10000, "both ways exercised: %ld fp32, %ld binary64, %ld 4",
            by_f32, by_f64, took4);
}

/* The same for 16x16 tiles (NUMERICS 4.1.1, as the CUDA 2D kernel decides):
 * fp32 row sums (mxb_nvfp4_block_error_f32) added by the butterfly of
 * mxb_nvfp4_tile_error, then mxb_nvfp4_fos_verdict_sums, agree with the
 * binary64 tile errors wherever they decide: random tiles over wide scale
 * ranges, ties on a small grid and near-ties a few ulps off them. */
static float tile_sum_f32(const float *e) {
  float a[8], b[4], c[2];
  for (int r = 0; r < 8; r++) a[r] = e[r] + e[r + 8];
  for (int r = 0; r < 4; r++) b[r] = a[r] + a[r + 4];
  for (int r = 0; r < 2; r++) c[r] = b[r] + b[r + 2];
  return c[0] + c[1];
}
Test(four_over_six, fp32_tile_filter_gives_the_binary64_choice) {
  uint64_t st = 11;
  long by_f32 = 0, by_f64 = 0, took4 = 0;
  for (int it = 0; it < 30000; it++) {
    const int kind = it % 3, e = (int)(mxbt_next(&st) % 201) - 100;
    float x[16][16];
    float a_b = 0.0f;
    for (int r = 0; r < 16; r++)
      for (int j = 0; j < 16; j++) {
        x[r][j] = kind ? (float)ldexp((double)(int)(mxbt_next(&st) % 13) - 6.0, e) : (float)ldexp(mxbt_uniform(&st), e);
        if (kind == 2 && (mxbt_next(&st) & 1)) x[r][j] = nextafterf(x[r][j], (mxbt_next(&st) & 1) ? INFINITY : -INFINITY);
        a_b = fmaxf(a_b, fabsf(x[r][j]));
      }
    const float A = kind ? a_b * (float)(1 + mxbt_next(&st) % 4) : (float)ldexp(1.0, e + (int)(mxbt_next(&st) % 41) - 20);
    mxb_nvfp4_ts t = mxb_nvfp4_tensor_scales(A, 0);
    const int mse = it & 1;
    t.four_six = mse ? MXB_FOUR_OVER_SIX_MSE : MXB_FOUR_OVER_SIX_MAE;
    mxb_nvfp4_ts t0 = t;
    t0.four_six = 0;
    const uint8_t s6 = mxb_nvfp4_block_scale(a_b, &t0), s4 = mxb_nvfp4_block_scale4(a_b, &t0);
    if (s4 == s6) continue;
    const float D6 = mxb_nvfp4_dequant_scale(s6, t.A, t.flags), D4 = mxb_nvfp4_dequant_scale(s4, t.A, t.flags);
    double e6[16], e4[16];
    float f6[16], f4[16];
    for (int r = 0; r < 16; r++) {
      uint8_t c6[16], c4[16];
      mxb_nvfp4_encode_block(x[r], 16, s6, &t0, NULL, c6);
      mxb_nvfp4_encode_block(x[r], 16, s4, &t0, NULL, c4);
      e6[r] = mxb_nvfp4_block_error(x[r], 16, c6, s6, &t);
      e4[r] = mxb_nvfp4_block_error(x[r], 16, c4, s4, &t);
      f6[r] = mxb_nvfp4_block_error_f32(x[r], 16, c6, D6, mse);
      f4[r] = mxb_nvfp4_block_error_f32(x[r], 16, c4, D4, mse);
    }
    const int want = mxb_nvfp4_tile_error(e4) < mxb_nvfp4_tile_error(e6);
    const int verdict = mxb_nvfp4_fos_verdict_sums(tile_sum_f32(f6), tile_sum_f32(f4));
    cr_assert(verdict < 0 || verdict == want, "tile %d (kind %d, 2^%d): fp32 verdict %d, binary64 %d", it, kind, e,
              verdict, want);
    took4 += want;
    if (verdict >= 0) by_f32++;
    else by_f64++;
  }
  cr_log_info("Four Over Six tiles: %ld by the fp32 sums, %ld in binary64, %ld took 4", by_f32, by_f64, took4);
  cr_assert(by_f32 > 10000 && by_f64 > 100 && took4 > 1000, "both ways exercised: %ld fp32, %ld binary64, %ld 4",
            by_f32, by_f64, took4);
}
