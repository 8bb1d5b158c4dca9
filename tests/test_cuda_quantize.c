/* CUDA quantize / dequantize / amax against the CPU reference, byte for
 * byte (dequantize to fp32, bf16 and fp16 too): every format and option,
 * random normal, wide-range (2^-140..2^120)
 * and special-value inputs, odd shapes and tails. Skipped without a GPU. */
#include "cuda_compare.h"

#ifdef MXB_WITH_CUDA
#include "finite_cases.h"

static const mxb_dtype_t k_dtypes[] = {MXB_DTYPE_FP32, MXB_DTYPE_BF16, MXB_DTYPE_FP16};
static const char *const k_dtype_name[] = {"fp32", "bf16", "fp16"};

typedef struct qcase {
  mxb_format_t format;
  mxb_dtype_t dtype;
  int64_t rows, cols;
  cmp_input kind;
  mxb_scale_layout_t layout;
  float supplied_amax; /* used when cfg.amax_source == MXB_AMAX_FROM_TENSOR */
} qcase;

/* Quantize x (q->rows x q->cols values, converted to q->dtype) on both
 * backends; compare status, every plane, flags; then dequantize both
 * results to fp32 and bf16 and compare those too. input: what x is. */
static void quantize_both_x(cmp_ctx *c, const mxb_quant_config_t *cfg, const qcase *q, const float *x,
                            const char *input) {
  size_t n = (size_t)(q->rows * q->cols);
  char what[256];
  mxb_format_info_t fi = {.struct_size = sizeof(fi)};
  mxb_format_info(q->format, &fi);
  snprintf(what, sizeof(what), "%s %s %lldx%lld %s %s round=%d rule=%d nonfinite=%d amax_src=%d/%a 2d=%d rht=%d/%d pow2=%d 4/6=%d e4m3_max=%d row_amax=%d",
           fi.name, k_dtype_name[q->dtype], (long long)q->rows, (long long)q->cols, input,
           q->layout ? "swizzled" : "linear", cfg->rounding, cfg->scale_rule, cfg->nonfinite, cfg->amax_source,
           q->supplied_amax, cfg->block_2d, cfg->rht.enabled, cfg->rht.size, cfg->fp8_pow2_scale,
           (int)cfg->four_over_six, cfg->nvfp4_e4m3_max, cfg->nvfp4_row_amax);
  uint64_t seed = 1000003u * (uint64_t)q->format + 7919u * (uint64_t)(q->rows * 31 + q->cols) + (uint64_t)q->kind;
  void *hsrc = cmp_convert(x, n, q->dtype, seed ^ 0x5555);
  size_t in_bytes = n * mxb_dtype_size(q->dtype);
  void *dsrc = mxbt_dev_from_host(hsrc, in_bytes);
  cmp_tensor t;
  cmp_tensor_alloc(&t, q->format, q->rows, q->cols, q->layout);
  if (cfg->amax_source == MXB_AMAX_FROM_TENSOR && t.sz.amax_bytes) {
    /* one amax, or one a row (1x, 2x, 0.5x the given one by turns) */
    const int64_t na = cfg->nvfp4_row_amax ? q->rows : 1;
    for (int64_t r = 0; r < na; r++) t.h.amax[r] = q->supplied_amax * (r % 3 == 0 ? 1.0f : r % 3 == 1 ? 2.0f : 0.5f);
    cr_assert_eq(cudaMemcpy(t.d.amax, t.h.amax, (size_t)na * 4, cudaMemcpyHostToDevice), cudaSuccess);
  }
  size_t ws_bytes = 0;
  cr_assert_eq(mxb_quantize_workspace_size(c->gpu, cfg, q->dtype, &t.d, &ws_bytes), MXB_SUCCESS, "%s: %s", what,
               mxb_last_error_detail());
  void *ws = ws_bytes ? mxbt_dev_alloc(ws_bytes) : NULL;
  mxb_status_t sc = mxb_quantize(c->cpu, cfg, q->dtype, hsrc, &t.h, NULL, 0, NULL);
  char cpu_detail[512];
  snprintf(cpu_detail, sizeof(cpu_detail), "%s", mxb_last_error_detail());
  mxb_status_t sg = mxb_quantize(c->gpu, cfg, q->dtype, dsrc, &t.d, ws, ws_bytes, NULL);
  cr_assert_eq(sc, sg, "%s: cpu status %d (%s), cuda status %d (%s)", what, sc, cpu_detail, sg, mxb_last_error_detail());
  if (sc == MXB_SUCCESS) {
    mxbt_dev_sync();
    cr_assert_eq(strncmp(mxb_context_last_impl(c->gpu), "cuda-", 5), 0, "%s: last_impl %s", what,
                 mxb_context_last_impl(c->gpu));
    cmp_tensor_check(&t, what);
    for (int dt = 0; dt < 3; dt++) {
      const mxb_dtype_t ot = k_dtypes[dt];
      size_t ob = n * mxb_dtype_size(ot);
      void *hout = malloc(ob), *dout = mxbt_dev_alloc(ob);
      memset(hout, 0x5A, ob);
      mxbt_dev_poison(dout, ob);
      mxb_status_t dc = mxb_dequantize(c->cpu, &t.h, ot, hout, NULL);
      mxb_status_t dg = mxb_dequantize(c->gpu, &t.d, ot, dout, NULL);
      cr_assert_eq(dc, dg, "%s: dequantize status cpu %d cuda %d (%s)", what, dc, dg, mxb_last_error_detail());
      if (dc == MXB_SUCCESS) {
        mxbt_dev_sync();
        char w2[300];
        snprintf(w2, sizeof(w2), "%s dequantize->%s", what, k_dtype_name[dt]);
        cmp_plane(hout, dout, ob, "values", w2);
      }
      free(hout);
      mxbt_dev_free(dout);
    }
  }
  cmp_tensor_free(&t);
  mxbt_dev_free(ws);
  mxbt_dev_free(dsrc);
  free(hsrc);
}

/* quantize_both_x on values of q->kind. */
static void quantize_both(cmp_ctx *c, const mxb_quant_config_t *cfg, const qcase *q) {
  size_t n = (size_t)(q->rows * q->cols);
  uint64_t seed = 1000003u * (uint64_t)q->format + 7919u * (uint64_t)(q->rows * 31 + q->cols) + (uint64_t)q->kind;
  float *x = malloc(n * sizeof(float));
  cmp_fill(x, n, q->kind, seed);
  quantize_both_x(c, cfg, q, x, cmp_input_name[q->kind]);
  free(x);
}

static const int64_t k_shapes[][2] = {{1, 1}, {3, 17}, {2, 64}, {129, 257}, {33, 4100}};
#define NSHAPES (sizeof(k_shapes) / sizeof(k_shapes[0]))

/* Every format x input type x shape x input kind x scale layout, defaults. */
static void sweep(const mxb_quant_config_t *cfg, int only_sr_formats) {
  cmp_ctx c = cmp_open();
  mxb_format_t formats[MXB_FORMAT_COUNT];
  const size_t nformats = mxbt_quant_formats(formats);
  for (size_t f = 0; f < nformats; f++) {
    mxb_format_info_t fi = {.struct_size = sizeof(fi)};
    mxb_format_info(formats[f], &fi);
    if (only_sr_formats && (fi.scale_type == MXB_SCALE_NONE || fi.scale_type == MXB_SCALE_BDR)) continue;
    for (int layout = 0; layout < 2; layout++) {
      if (layout && fi.scale_type != MXB_SCALE_UE4M3 && fi.scale_type != MXB_SCALE_E8M0) continue;
      for (size_t d = 0; d < 3; d++)
        for (size_t s = 0; s < NSHAPES; s++)
          for (int k = 0; k < CMP_KINDS; k++) {
            qcase q = {formats[f], k_dtypes[d], k_shapes[s][0], k_shapes[s][1], (cmp_input)k,
                       (mxb_scale_layout_t)layout, 1.0f};
            quantize_both(&c, cfg, &q);
          }
    }
  }
  cmp_close(&c);
}

Test(cuda_quantize, every_format_rne) {
  MXBT_REQUIRE_GPU();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  sweep(&cfg, 0);
}

Test(cuda_quantize, every_format_saturate_policy) {
  MXBT_REQUIRE_GPU();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.nonfinite = MXB_NONFINITE_SATURATE;
  sweep(&cfg, 0);
}

Test(cuda_quantize, stochastic_rounding) {
  MXBT_REQUIRE_GPU();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.rounding = MXB_ROUND_SR;
  cfg.seed = 0x0123456789ABCDEFull;
  cfg.offset = 0xFEDCBA9876543210ull; /* both halves of key and counter exercised */
  sweep(&cfg, 1);
}

Test(cuda_quantize, mx_scale_rules) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  for (int rule = 0; rule <= MXB_SCALE_RULE_EVEN; rule++)
    for (int f = MXB_FORMAT_MXFP8_E4M3; f <= MXB_FORMAT_MXINT8; f++)
      for (int nf = 0; nf < 2; nf++)
        for (int k = 0; k < CMP_KINDS; k++) {
          mxb_quant_config_t cfg;
          mxb_quant_config_init(&cfg);
          cfg.scale_rule = (mxb_scale_rule_t)rule;
          cfg.nonfinite = (mxb_nonfinite_t)nf;
          for (int w = 0; w < 2; w++) { /* a tail in every row; whole blocks (the row-wise kernels) */
            qcase q = {(mxb_format_t)f, MXB_DTYPE_FP32, 129, w ? 256 : 257, (cmp_input)k, MXB_SCALE_LAYOUT_LINEAR,
                       1.0f};
            quantize_both(&c, &cfg, &q);
          }
        }
  cmp_close(&c);
}

/* The row-wise kernels take rows of whole blocks, and only those (the
 * suites above compare both kinds of shape with the CPU). */
Test(cuda_quantize, rows_kernels_take_whole_block_rows) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  const mxb_format_t fmts[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP6_E3M2,
                               MXB_FORMAT_MXFP6_E2M3, MXB_FORMAT_MXFP4, MXB_FORMAT_MXINT8};
  for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++)
    for (int w = 0; w < 2; w++) {
      const int64_t rows = 64, cols = w ? 256 : 250;
      float *x = malloc(rows * cols * sizeof(float));
      cmp_fill(x, (size_t)(rows * cols), CMP_NORMAL, 5);
      void *h = cmp_convert(x, (size_t)(rows * cols), MXB_DTYPE_BF16, 1);
      void *dx = mxbt_dev_from_host(h, (size_t)(rows * cols) * 2);
      cmp_tensor t;
      cmp_tensor_alloc(&t, fmts[f], rows, cols, MXB_SCALE_LAYOUT_SWIZZLED);
      mxb_quant_config_t cfg;
      mxb_quant_config_init(&cfg);
      cr_assert_eq(mxb_quantize(c.gpu, &cfg, MXB_DTYPE_BF16, dx, &t.d, NULL, 0, NULL), MXB_SUCCESS, "%s",
                   mxb_last_error_detail());
      const char *impl = mxb_context_last_impl(c.gpu);
      const size_t n = strlen(impl);
      cr_assert_eq(n > 5 && strcmp(impl + n - 5, "-rows") == 0, w == 1, "format %d, %lld columns: %s", (int)fmts[f],
                   (long long)cols, impl);
      mxbt_dev_sync();
      cmp_tensor_free(&t);
      mxbt_dev_free(dx);
      free(h);
      free(x);
    }
  cmp_close(&c);
}

/* Quantizes rows x cols normal bf16 values to format f with cfg on the GPU
 * and checks the path the call took. */
static void expect_quantize_path(cmp_ctx *c, const mxb_quant_config_t *cfg, mxb_format_t f, int64_t rows,
                                 int64_t cols, const char *want, int tag) {
  const size_t n = (size_t)(rows * cols);
  float *x = malloc(n * sizeof(float));
  cmp_fill(x, n, CMP_NORMAL, 5);
  void *h = cmp_convert(x, n, MXB_DTYPE_BF16, 1);
  void *dx = mxbt_dev_from_host(h, n * 2);
  cmp_tensor t;
  cmp_tensor_alloc(&t, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR);
  size_t ws = 0;
  cr_assert_eq(mxb_quantize_workspace_size(c->gpu, cfg, MXB_DTYPE_BF16, &t.d, &ws), MXB_SUCCESS);
  void *w = ws ? mxbt_dev_alloc(ws) : NULL;
  cr_assert_eq(mxb_quantize(c->gpu, cfg, MXB_DTYPE_BF16, dx, &t.d, w, ws, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  cr_assert_str_eq(mxb_context_last_impl(c->gpu), want, "case %d (%lld x %lld)", tag, (long long)rows,
                   (long long)cols);
  mxbt_dev_sync();
  if (w) mxbt_dev_free(w);
  cmp_tensor_free(&t);
  mxbt_dev_free(dx);
  free(h);
  free(x);
}

/* NVFP4 with SR on the row-wise kernel (every block one Philox group):
 * the CPU's bytes for every input type, kind and layout, with and without
 * the fused RHT, computed and supplied amax, and shard places whose SR index
 * is (row-wise kernel) or is not (general kernel) a multiple of 16. */
Test(cuda_quantize, nvfp4_sr_rows_kernel) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  static const int64_t shapes[][2] = {{64, 256}, {130, 512}};
  for (int opt = 0; opt < 4; opt++)
    for (size_t d = 0; d < 3; d++)
      for (size_t s = 0; s < 2; s++)
        for (int k = 0; k < CMP_KINDS; k++) {
          mxb_quant_config_t cfg;
          mxb_quant_config_init(&cfg);
          cfg.rounding = MXB_ROUND_SR;
          cfg.seed = 0x0123456789ABCDEFull + (uint64_t)opt;
          cfg.offset = 0xFEDCBA9876543210ull;
          cfg.rht.enabled = opt & 1;
          if (opt & 2) cfg.amax_source = MXB_AMAX_FROM_TENSOR;
          qcase q = {MXB_FORMAT_NVFP4, k_dtypes[d], shapes[s][0], shapes[s][1], (cmp_input)k,
                     (mxb_scale_layout_t)((opt + k) & 1), 3.0f};
          quantize_both(&c, &cfg, &q);
        }
  /* the path: a whole tensor and an aligned place on the row-wise kernel, an unaligned place not */
  static const int64_t places[][3] = {{0, 0, 0}, {3, 16, 1024}, {3, 8, 1024}};
  for (int p = 0; p < 3; p++) {
    mxb_quant_config_t cfg;
    mxb_quant_config_init(&cfg);
    cfg.rounding = MXB_ROUND_SR;
    cfg.seed = 77;
    cfg.global_row0 = places[p][0];
    cfg.global_col0 = places[p][1];
    cfg.global_cols = places[p][2];
    qcase q = {MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 64, 256, CMP_NORMAL, MXB_SCALE_LAYOUT_LINEAR, 1.0f};
    quantize_both(&c, &cfg, &q);
    expect_quantize_path(&c, &cfg, MXB_FORMAT_NVFP4, 64, 256, p < 2 ? "cuda-nvfp4-quantize-rows" : "cuda-nvfp4-quantize", p);
  }
  cmp_close(&c);
}

/* FP8 with 1 x 128 partitions in one pass (rows of whole partitions): the
 * CPU's bytes for both element types and both scale kinds, every input type
 * and kind (the special kind holds partitions that need the finite cap and
 * lanes with NaN and Inf), with and without the fused RHT and power-of-two
 * scales; and the path: whole partitions on the row kernel, a partial one on
 * the two-pass kernel. */
Test(cuda_quantize, fp8_1x128_rows_kernel) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  static const mxb_format_t fmts[] = {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E5M2_1x128,
                                      MXB_FORMAT_FP8_E4M3_1x128_UE8M0, MXB_FORMAT_FP8_E5M2_1x128_UE8M0};
  static const int64_t shapes[][2] = {{64, 1024}, {33, 384}};
  for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++)
    for (int opt = 0; opt < 4; opt++)
      for (size_t d = 0; d < 3; d++)
        for (size_t s = 0; s < 2; s++)
          for (int k = 0; k < CMP_KINDS; k++) {
            mxb_quant_config_t cfg;
            mxb_quant_config_init(&cfg);
            cfg.rht.enabled = opt & 1;
            cfg.fp8_pow2_scale = (opt >> 1) & 1;
            qcase q = {fmts[f], k_dtypes[d], shapes[s][0], shapes[s][1], (cmp_input)k, MXB_SCALE_LAYOUT_LINEAR, 1.0f};
            quantize_both(&c, &cfg, &q);
          }
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  expect_quantize_path(&c, &cfg, MXB_FORMAT_FP8_E4M3_1x128, 16, 256, "cuda-fp8-quantize-rows", 0);
  expect_quantize_path(&c, &cfg, MXB_FORMAT_FP8_E4M3_1x128, 16, 200, "cuda-fp8-quantize", 1);
  cmp_close(&c);
}

/* The row-wise dequantize kernels on FP8 with 128 x 128 blocks (row blocks
 * cut short at the bottom), the plain BF16 format and MX9/MX6/MX4 (blocks of
 * 16, 10 and 6 bytes: every alignment, the last block's tail): the CPU's bytes
 * for every output type, input type and kind (fp8_1x128_rows_kernel covers
 * 1 x 128 blocks); and the path each format's dequantize takes where rows
 * hold whole blocks (256 columns) and where they do not (200). */
Test(cuda_quantize, dequantize_rows_kernel) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  static const mxb_format_t fmts[] = {MXB_FORMAT_FP8_E4M3_128x128, MXB_FORMAT_FP8_E5M2_128x128,
                                      MXB_FORMAT_FP8_E4M3_128x128_UE8M0, MXB_FORMAT_FP8_E5M2_128x128_UE8M0,
                                      MXB_FORMAT_BF16, MXB_FORMAT_MX9, MXB_FORMAT_MX6, MXB_FORMAT_MX4};
  static const int64_t shapes[][2] = {{130, 256}, {64, 384}};
  for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++)
    for (size_t d = 0; d < 3; d++)
      for (size_t s = 0; s < 2; s++)
        for (int k = 0; k < CMP_KINDS; k++) {
          mxb_quant_config_t cfg;
          mxb_quant_config_init(&cfg);
          qcase q = {fmts[f], k_dtypes[d], shapes[s][0], shapes[s][1], (cmp_input)k, MXB_SCALE_LAYOUT_LINEAR, 1.0f};
          quantize_both(&c, &cfg, &q);
        }
  static const mxb_format_t paths[] = {MXB_FORMAT_NVFP4,          MXB_FORMAT_MXFP8_E4M3,
                                       MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E5M2_1x128_UE8M0,
                                       MXB_FORMAT_FP8_E4M3_128x128, MXB_FORMAT_BF16,
                                       MXB_FORMAT_MX9,             MXB_FORMAT_MX6,
                                       MXB_FORMAT_MX4};
  for (size_t f = 0; f < sizeof(paths) / sizeof(paths[0]); f++)
    for (int w = 0; w < 2; w++) {
      const int64_t rows = 16, cols = w ? 256 : 200;
      cmp_tensor t;
      cmp_tensor_alloc(&t, paths[f], rows, cols, MXB_SCALE_LAYOUT_LINEAR);
      void *out = mxbt_dev_alloc((size_t)(rows * cols) * 4);
      cr_assert_eq(mxb_dequantize(c.gpu, &t.d, MXB_DTYPE_FP32, out, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
      mxbt_dev_sync();
      cr_assert_str_eq(mxb_context_last_impl(c.gpu), w ? "cuda-dequantize-rows" : "cuda-dequantize",
                       "format %d, %lld columns", (int)paths[f], (long long)cols);
      mxbt_dev_free(out);
      cmp_tensor_free(&t);
    }
  cmp_close(&c);
}

Test(cuda_quantize, nvfp4_supplied_amax) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  const float amaxes[] = {3.7f, 1e-3f, 0.0f, INFINITY, 1e30f, 6.0f * 448.0f};
  for (size_t a = 0; a < sizeof(amaxes) / sizeof(amaxes[0]); a++)
    for (int sr = 0; sr < 2; sr++)
      for (int k = 0; k < CMP_KINDS; k++) {
        mxb_quant_config_t cfg;
        mxb_quant_config_init(&cfg);
        cfg.amax_source = MXB_AMAX_FROM_TENSOR;
        cfg.rounding = sr ? MXB_ROUND_SR : MXB_ROUND_RNE;
        qcase q = {MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, 65, 96, (cmp_input)k, MXB_SCALE_LAYOUT_SWIZZLED, amaxes[a]};
        quantize_both(&c, &cfg, &q);
      }
  cmp_close(&c);
}

Test(cuda_quantize, nvfp4_2d) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  for (size_t s = 0; s < NSHAPES; s++)
    for (int k = 0; k < CMP_KINDS; k++)
      for (int opt = 0; opt < 4; opt++) {
        mxb_quant_config_t cfg;
        mxb_quant_config_init(&cfg);
        cfg.block_2d = 1;
        cfg.rounding = (opt & 1) ? MXB_ROUND_SR : MXB_ROUND_RNE;
        cfg.nonfinite = (opt & 2) ? MXB_NONFINITE_SATURATE : MXB_NONFINITE_NAN_BLOCK;
        qcase q = {MXB_FORMAT_NVFP4, k_dtypes[(s + k) % 3], k_shapes[s][0], k_shapes[s][1], (cmp_input)k,
                   (mxb_scale_layout_t)(opt >> 1), 1.0f};
        quantize_both(&c, &cfg, &q);
      }
  cmp_close(&c);
}

/* 2D (32x32) MX scaling: every MX element type, tails both ways (the
 * shapes' rows and columns are not multiples of 32), RNE and SR, both
 * non-finite policies, both scale layouts, and the d = 16 RHT. */
/* NVFP4 16 x 16 tiles on the row-strip kernel (RNE, no RHT): the CPU's
 * bytes for every input type and kind, both scale layouts and policies,
 * computed and supplied amax, the E4M3 bound 256; shapes with a partial
 * tile row, a partial strip (320 columns: a strip and a quarter of 16-bit
 * input), scales as words and as bytes (208 columns: 13 tiles a row), one
 * tile. Then the path: this kernel where it applies, the general kernel
 * with SR or a partial tile along columns. */
Test(cuda_quantize, nvfp4_2d_rows_kernel) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  static const int64_t shapes[][2] = {{130, 512}, {33, 320}, {17, 208}, {16, 16}};
  for (size_t s = 0; s < 4; s++)
    for (size_t d = 0; d < 3; d++)
      for (int k = 0; k < CMP_KINDS; k++)
        for (int opt = 0; opt < 8; opt++) {
          mxb_quant_config_t cfg;
          mxb_quant_config_init(&cfg);
          cfg.block_2d = 1;
          cfg.nonfinite = (opt & 1) ? MXB_NONFINITE_SATURATE : MXB_NONFINITE_NAN_BLOCK;
          if (opt & 2) cfg.amax_source = MXB_AMAX_FROM_TENSOR;
          if (opt & 4) cfg.nvfp4_e4m3_max = 256;
          qcase q = {MXB_FORMAT_NVFP4, k_dtypes[d], shapes[s][0], shapes[s][1], (cmp_input)k,
                     (mxb_scale_layout_t)((opt + (int)s) & 1), k == CMP_WIDE ? 0x1p100f : 3.0f};
          quantize_both(&c, &cfg, &q);
        }
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.block_2d = 1;
  expect_quantize_path(&c, &cfg, MXB_FORMAT_NVFP4, 40, 320, "cuda-nvfp4-2d-quantize-rows", 0);
  expect_quantize_path(&c, &cfg, MXB_FORMAT_NVFP4, 40, 200, "cuda-nvfp4-2d-quantize", 1);
  cfg.rounding = MXB_ROUND_SR;
  expect_quantize_path(&c, &cfg, MXB_FORMAT_NVFP4, 40, 320, "cuda-nvfp4-2d-quantize", 2);
  cmp_close(&c);
}

Test(cuda_quantize, mx_2d) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  static const mxb_format_t fmts[] = {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP6_E3M2,
                                      MXB_FORMAT_MXFP6_E2M3, MXB_FORMAT_MXFP4, MXB_FORMAT_MXINT8};
  for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++)
    for (size_t s = 0; s < NSHAPES; s++)
      for (int k = 0; k < CMP_KINDS; k++)
        for (int opt = 0; opt < 8; opt += 1 + (int)((f + s + (size_t)k) % 2)) {
          mxb_quant_config_t cfg;
          mxb_quant_config_init(&cfg);
          cfg.block_2d = 1;
          cfg.rounding = (opt & 1) ? MXB_ROUND_SR : MXB_ROUND_RNE;
          cfg.seed = 77;
          cfg.nonfinite = (opt & 2) ? MXB_NONFINITE_SATURATE : MXB_NONFINITE_NAN_BLOCK;
          if ((opt & 4) && k_shapes[s][1] % 16 == 0) cfg.rht.enabled = 1;
          qcase q = {fmts[f], k_dtypes[(s + (size_t)k + f) % 3], k_shapes[s][0], k_shapes[s][1], (cmp_input)k,
                     (mxb_scale_layout_t)((opt >> 1) & 1), 1.0f};
          quantize_both(&c, &cfg, &q);
        }
  cmp_close(&c);
}

Test(cuda_quantize, nvfp4_four_over_six) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  for (size_t s = 0; s < NSHAPES; s++)
    for (int k = 0; k < CMP_KINDS; k++)
      for (int opt = 0; opt < 8; opt++) {
        mxb_quant_config_t cfg;
        mxb_quant_config_init(&cfg);
        cfg.four_over_six = (opt & 1) ? MXB_FOUR_OVER_SIX_MAE : MXB_FOUR_OVER_SIX_MSE;
        cfg.rounding = (opt & 2) ? MXB_ROUND_SR : MXB_ROUND_RNE;
        cfg.nonfinite = (opt & 4) ? MXB_NONFINITE_SATURATE : MXB_NONFINITE_NAN_BLOCK;
        cfg.rht.enabled = k_shapes[s][1] % 16 == 0 && (opt & 2);
        qcase q = {MXB_FORMAT_NVFP4, k_dtypes[(s + k) % 3], k_shapes[s][0], k_shapes[s][1], (cmp_input)k,
                   (mxb_scale_layout_t)(opt >> 2), 1.0f};
        quantize_both(&c, &cfg, &q);
        cfg.block_2d = 1; /* the same on 16x16 tiles (the RHT too: it runs along the rows) */
        quantize_both(&c, &cfg, &q);
      }
  cmp_close(&c);
}

/* NVFP4 options through every NVFP4 kernel: the E4M3 bound 256 (row = 0:
 * 1x16 blocks, 2D tiles, Four Over Six, SR, the RHT, a supplied amax, both
 * layouts) and an amax per row (row = 1: computed or supplied, RNE and SR,
 * Four Over Six, the RHT, the bound 256 by turns, both non-finite
 * policies); dequantize reads each. */
Test(cuda_quantize, nvfp4_e4m3_max_and_row_amax) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  for (int row = 0; row < 2; row++)
    for (size_t s = 0; s < NSHAPES; s++)
      for (int k = 0; k < CMP_KINDS; k++)
        for (int opt = 0; opt < 16; opt++) {
          mxb_quant_config_t cfg;
          mxb_quant_config_init(&cfg);
          cfg.rounding = (opt & 1) ? MXB_ROUND_SR : MXB_ROUND_RNE;
          cfg.seed = row ? 9 : 5;
          if (opt & 2) cfg.four_over_six = row ? MXB_FOUR_OVER_SIX_MSE : MXB_FOUR_OVER_SIX_MAE;
          else if ((opt & 4) && !row) cfg.block_2d = 1;
          cfg.rht.enabled = !cfg.block_2d && k_shapes[s][1] % 16 == 0 && (opt & 4);
          if (opt & 8) cfg.amax_source = MXB_AMAX_FROM_TENSOR;
          cfg.nvfp4_row_amax = row;
          cfg.nvfp4_e4m3_max = !row || (opt + k) % 3 == 0 ? 256 : 0;
          if (row) cfg.nonfinite = (opt + (int)s) % 2 ? MXB_NONFINITE_SATURATE : MXB_NONFINITE_NAN_BLOCK;
          qcase q = {MXB_FORMAT_NVFP4, k_dtypes[(s + (size_t)k + (size_t)opt) % 3], k_shapes[s][0], k_shapes[s][1],
                     (cmp_input)k, (mxb_scale_layout_t)(row ? (opt >> 2) & 1 : (opt >> 1) & 1), row ? 3.0f : 2.5f};
          quantize_both(&c, &cfg, &q);
        }
  cmp_close(&c);
}

/* NVFP4 with an amax a row on the row-wise kernel (RNE): the CPU's bytes for
 * every input type and kind, with and without the fused RHT, computed and
 * supplied amaxes, the E4M3 bound 256, both policies and layouts; then the
 * path (SR keeps the general kernel). */
Test(cuda_quantize, nvfp4_row_amax_rows_kernel) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  static const int64_t shapes[][2] = {{64, 256}, {37, 1024}, {130, 160}};
  for (size_t s = 0; s < 3; s++)
    for (size_t d = 0; d < 3; d++)
      for (int k = 0; k < CMP_KINDS; k++)
        for (int opt = 0; opt < 16; opt++) {
          mxb_quant_config_t cfg;
          mxb_quant_config_init(&cfg);
          cfg.nvfp4_row_amax = 1;
          cfg.rht.enabled = opt & 1;
          if (opt & 2) cfg.amax_source = MXB_AMAX_FROM_TENSOR;
          if (opt & 4) cfg.nvfp4_e4m3_max = 256;
          cfg.nonfinite = (opt & 8) ? MXB_NONFINITE_SATURATE : MXB_NONFINITE_NAN_BLOCK;
          qcase q = {MXB_FORMAT_NVFP4, k_dtypes[d], shapes[s][0], shapes[s][1], (cmp_input)k,
                     (mxb_scale_layout_t)((opt + k) & 1), 3.0f};
          quantize_both(&c, &cfg, &q);
        }
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.nvfp4_row_amax = 1;
  expect_quantize_path(&c, &cfg, MXB_FORMAT_NVFP4, 40, 256, "cuda-nvfp4-quantize-rows", 0);
  cfg.rounding = MXB_ROUND_SR;
  expect_quantize_path(&c, &cfg, MXB_FORMAT_NVFP4, 40, 256, "cuda-nvfp4-quantize", 1);
  cmp_close(&c);
}

/* The RHT of length d before quantizing: signs from a seed or from a mask
 * (the default mask with every word changed), bf16-rounded output or not. */
static mxb_quant_config_t rht_config(int d, int seeded, uint64_t seed, int bf16) {
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.rht.enabled = 1;
  cfg.rht.size = d;
  cfg.rht.sign_source = seeded ? MXB_SIGNS_SEED : MXB_SIGNS_MASK;
  cfg.rht.sign_seed = seed;
  for (int w = 0; w < 8; w++) cfg.rht.sign_mask[w] ^= 0x9E3779B9u * (uint32_t)(w + 1);
  cfg.rht.bf16_output = bf16;
  return cfg;
}

Test(cuda_quantize, rht_fused) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  const mxb_format_t fmts[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, MXB_FORMAT_MX6,
                               MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_BF16};
  for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++)
    for (int d = 16; d <= 256; d *= 2)
      for (int opt = 0; opt < 4; opt++)
        for (int k = 0; k < CMP_KINDS; k++) {
          mxb_quant_config_t cfg = rht_config(d, opt & 1, 99, (opt >> 1) & 1);
          qcase q = {fmts[f], k_dtypes[(f + opt) % 3], 67, 512, (cmp_input)k, MXB_SCALE_LAYOUT_LINEAR, 1.0f};
          quantize_both(&c, &cfg, &q);
        }
  cmp_close(&c);
}

/* NVFP4 with the d = 32..256 RHT transformed and quantized in one kernel:
 * the CPU's bytes for every input type and kind, both scale layouts, a
 * computed and a supplied amax (scaled: blocks whose scales saturate or
 * underflow), the bf16-rounded transform, and shapes whose chunks end inside
 * a warp (5 x 3d: 15 chunks, a warp holding 512 / d of them); the path is
 * the fused one where it applies and the staged one (transform, then the
 * row-wise kernel) for SR. */
Test(cuda_quantize, nvfp4_rht_one_kernel) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  for (int d = 32; d <= 256; d *= 2)
    for (size_t s = 0; s < 3; s++)
      for (int opt = 0; opt < 4; opt++)
        for (int k = 0; k < CMP_KINDS; k++) {
          mxb_quant_config_t cfg = rht_config(d, 1, 7 + (uint64_t)d, (opt + k) & 1);
          if (opt & 2) cfg.amax_source = MXB_AMAX_FROM_TENSOR;
          const int64_t shapes[3][2] = {{67, 512}, {5, 3 * d}, {3, 3 * d}};
          qcase q = {MXB_FORMAT_NVFP4, k_dtypes[(s + k + opt) % 3], shapes[s][0], shapes[s][1], (cmp_input)k,
                     (mxb_scale_layout_t)(opt & 1), (opt & 1) ? 1e-3f : 5e3f};
          quantize_both(&c, &cfg, &q);
        }
  for (int d = 32; d <= 256; d *= 2) {
    mxb_quant_config_t cfg = rht_config(d, 0, 0, 0);
    expect_quantize_path(&c, &cfg, MXB_FORMAT_NVFP4, 5, 512, "cuda-nvfp4-quantize-rht-fused", d);
    cfg.rounding = MXB_ROUND_SR;  /* SR: the staged transform, then the row-wise kernel */
    expect_quantize_path(&c, &cfg, MXB_FORMAT_NVFP4, 5, 512, "cuda-nvfp4-quantize-rows", d + 1);
  }
  cmp_close(&c);
}

Test(cuda_quantize, large_tensor) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  mxb_format_t formats[MXB_FORMAT_COUNT];
  const size_t nformats = mxbt_quant_formats(formats);
  for (size_t f = 0; f < nformats; f++)
    for (int d = 0; d < 2; d++) {
      mxb_quant_config_t cfg;
      mxb_quant_config_init(&cfg);
      qcase q = {formats[f], k_dtypes[d], 1000, 4100, CMP_NORMAL, MXB_SCALE_LAYOUT_LINEAR, 1.0f};
      quantize_both(&c, &cfg, &q);
    }
  cmp_close(&c);
}

/* The inputs of the finite suite (finite_cases.h): every format at the
 * edges of fp32, amaxes at both ends of its range, +-Inf under the saturate
 * policy and a supplied NVFP4 amax of +Inf, under the default, saturate,
 * pow2-scale and SR configs; CUDA's bytes (planes, then fp32 and bf16
 * dequantize) equal the CPU's. */
Test(cuda_quantize, finite_edges_match_cpu) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  /* 130 columns: 16x16 tiles and tails (the general kernels); 128: whole
   * blocks in every row (the row-wise kernels) */
  const int64_t rows = 17, widths[] = {130, 128};
  float *x = malloc(rows * widths[0] * sizeof(float));
  mxb_format_t formats[MXB_FORMAT_COUNT];
  const size_t nformats = mxbt_stored_formats(formats);
  for (size_t f = 0; f < 2 * nformats; f++) {
    const int64_t cols = widths[f / nformats];
    const mxb_format_t fm = formats[f % nformats];
    mxb_format_info_t fi = {.struct_size = sizeof(fi)};
    cr_assert_eq(mxb_format_info(fm, &fi), MXB_SUCCESS);
    if (fi.elem == MXB_ELEM_MIXED) continue; /* MoR: cuda_transforms */
    for (int k = 0; k < 5; k++) {
      mxb_quant_config_t cfg;
      mxb_quant_config_init(&cfg);
      if (k == 1) cfg.nonfinite = MXB_NONFINITE_SATURATE;
      if (k == 2) cfg.fp8_pow2_scale = 1;
      if (k == 3) cfg.rounding = MXB_ROUND_SR, cfg.seed = 0x5EED;
      if (k == 4) cfg.block_2d = 1, cfg.nonfinite = MXB_NONFINITE_SATURATE;
      if (k == 3 && (fi.scale_type == MXB_SCALE_NONE || fi.scale_type == MXB_SCALE_BDR)) continue;
      if (k == 4 && !fi.has_tensor_amax) continue;
      qcase q = {fm, MXB_DTYPE_FP32, rows, cols, CMP_SPECIAL, MXB_SCALE_LAYOUT_LINEAR, 1.0f};
      char input[64];
      for (size_t v = 0; v < FINITE_NVALUES; v++) {
        for (int64_t i = 0; i < rows * cols; i++) x[i] = k_finite_values[v];
        snprintf(input, sizeof(input), "all %a", k_finite_values[v]);
        quantize_both_x(&c, &cfg, &q, x, input);
      }
      for (size_t a = 0; a < FINITE_NAMAXES; a++) {
        finite_fill_pattern(x, rows * cols, k_finite_amaxes[a]);
        snprintf(input, sizeof(input), "amax %a", k_finite_amaxes[a]);
        quantize_both_x(&c, &cfg, &q, x, input);
      }
      if (cfg.nonfinite == MXB_NONFINITE_SATURATE) {
        finite_fill_inf(x, rows * cols);
        quantize_both_x(&c, &cfg, &q, x, "+-Inf");
      }
      if (fi.has_tensor_amax) {
        cfg.amax_source = MXB_AMAX_FROM_TENSOR;
        const float supplied[] = {INFINITY, 0x1p-149f, 1e-37f, FLT_MAX};
        for (int s = 0; s < 4; s++) {
          q.supplied_amax = supplied[s];
          finite_fill_pattern(x, rows * cols, 3.0f);
          quantize_both_x(&c, &cfg, &q, x, "supplied amax");
        }
      }
    }
  }
  free(x);
  cmp_close(&c);
}

Test(cuda_amax, matches_cpu) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  const int64_t ns[] = {1, 7, 1000, 1 << 20, (1 << 20) + 3};
  for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
    for (int d = 0; d < 3; d++)
      for (int k = 0; k < CMP_KINDS; k++)
        for (int off = 0; off < 2; off++) { /* off: a misaligned start */
          size_t n = (size_t)ns[i] + (size_t)off;
          float *x = malloc(n * sizeof(float));
          cmp_fill(x, n, (cmp_input)k, 77 + n);
          void *h = cmp_convert(x, n, k_dtypes[d], 5);
          size_t es = mxb_dtype_size(k_dtypes[d]);
          void *dx = mxbt_dev_from_host(h, n * es);
          float *damax = mxbt_dev_alloc(4);
          float ha = -1.0f, ga = -2.0f;
          mxb_status_t sc = mxb_amax(c.cpu, k_dtypes[d], (char *)h + off * es, (int64_t)(n - off), &ha, NULL);
          mxb_status_t sg = mxb_amax(c.gpu, k_dtypes[d], (char *)dx + off * es, (int64_t)(n - off), damax, NULL);
          cr_assert_eq(sc, MXB_SUCCESS);
          cr_assert_eq(sg, MXB_SUCCESS, "%s", mxb_last_error_detail());
          mxbt_to_host(&ga, damax, 4);
          cr_assert_eq(mxbt_f2u(ha), mxbt_f2u(ga), "amax n=%zu %s %s off=%d: cpu %08x cuda %08x", n - off,
                       k_dtype_name[d], cmp_input_name[k], off, mxbt_f2u(ha), mxbt_f2u(ga));
          mxbt_dev_free(damax);
          mxbt_dev_free(dx);
          free(h);
          free(x);
        }
  cmp_close(&c);
}

/* Shapes with more blocks than the grid has threads (an H100 runs 132 * 8 *
 * 256), so every thread walks several items and the (row, block) step wraps
 * across rows, with a tail block per row (4100) and, at 8192 columns, whole
 * warp runs of 32 blocks (the coalesced dequantize store). */
Test(cuda_quantize, grid_stride_large) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  const int64_t shapes[][2] = {{2200, 4100}, {1100, 8192}};
  const mxb_format_t fmts[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP6_E3M2,
                               MXB_FORMAT_MX6, MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_BF16};
  for (int s = 0; s < 2; s++) {
    for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++) {
      mxb_quant_config_t cfg;
      mxb_quant_config_init(&cfg);
      qcase q = {fmts[f], k_dtypes[(f + s) % 3], shapes[s][0], shapes[s][1], f == 0 ? CMP_SPECIAL : CMP_NORMAL,
                 MXB_SCALE_LAYOUT_LINEAR, 1.0f};
      quantize_both(&c, &cfg, &q);
    }
    for (int opt = 0; opt < 2; opt++) { /* NVFP4 2D and SR from bf16 */
      mxb_quant_config_t cfg;
      mxb_quant_config_init(&cfg);
      cfg.block_2d = opt == 0;
      cfg.rounding = opt ? MXB_ROUND_SR : MXB_ROUND_RNE;
      qcase q = {MXB_FORMAT_NVFP4, MXB_DTYPE_BF16, shapes[s][0], shapes[s][1], CMP_NORMAL, MXB_SCALE_LAYOUT_SWIZZLED,
                 1.0f};
      quantize_both(&c, &cfg, &q);
    }
  }
  cmp_close(&c);
}
/* The capability queries answer as the CUDA calls do: mxb_quantize (and
 * its workspace query) where mxb_quantize_supported says 1, else
 * MXB_ERR_UNSUPPORTED; mxb_dequantize likewise, where MoR is not offered. */
Test(cuda_quantize, capability_queries_agree_with_the_calls) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  enum { R = 16, C = 64 };
  float x[R * C];
  mxbt_fill_normal(x, R * C, 12, 1.0f);
  void *dx = mxbt_dev_from_host(x, sizeof(x)), *dy = mxbt_dev_alloc(sizeof(x));
  for (int opt = 0; opt < 3; opt++) {
    mxb_quant_config_t cfg;
    mxb_quant_config_init(&cfg);
    if (opt == 1) cfg.rounding = MXB_ROUND_SR;
    if (opt == 2) cfg.block_2d = 1;
    for (int f = 0; f < MXB_FORMAT_COUNT; f++) {
      int ok = -1;
      cr_assert_eq(mxb_quantize_supported(c.gpu, &cfg, (mxb_format_t)f, &ok), MXB_SUCCESS);
      cmp_tensor t;
      cmp_tensor_alloc(&t, (mxb_format_t)f, R, C, MXB_SCALE_LAYOUT_LINEAR);
      size_t ws_bytes = 0;
      mxb_status_t st = mxb_quantize_workspace_size(c.gpu, &cfg, MXB_DTYPE_FP32, &t.d, &ws_bytes);
      cr_assert_eq(st, ok ? MXB_SUCCESS : MXB_ERR_UNSUPPORTED, "format %d options %d", f, opt);
      void *ws = ws_bytes ? mxbt_dev_alloc(ws_bytes) : NULL;
      st = mxb_quantize(c.gpu, &cfg, MXB_DTYPE_FP32, dx, &t.d, ws, ws_bytes, NULL);
      cr_assert_eq(st, ok ? MXB_SUCCESS : MXB_ERR_UNSUPPORTED, "format %d options %d: supported %d, status %d (%s)", f,
                   opt, ok, (int)st, mxb_last_error_detail());
      mxbt_dev_sync();
      mxbt_dev_free(ws);
      cmp_tensor_free(&t);
    }
  }
  for (int f = 0; f < MXB_FORMAT_COUNT; f++) {
    int ok = -1;
    cr_assert_eq(mxb_dequantize_supported(c.gpu, (mxb_format_t)f, &ok), MXB_SUCCESS);
    mxb_format_info_t fi = {.struct_size = sizeof(fi)};
    mxb_format_info((mxb_format_t)f, &fi);
    cr_assert_eq(ok, f != MXB_FORMAT_FP32 && fi.elem != MXB_ELEM_MIXED, "format %d", f);
    cmp_tensor t;
    cmp_tensor_alloc(&t, (mxb_format_t)f, R, C, MXB_SCALE_LAYOUT_LINEAR);
    mxb_status_t st = mxb_dequantize(c.gpu, &t.d, MXB_DTYPE_FP32, dy, NULL);
    cr_assert_eq(st, ok ? MXB_SUCCESS : MXB_ERR_UNSUPPORTED, "format %d: supported %d, status %d", f, ok, (int)st);
    mxbt_dev_sync();
    cmp_tensor_free(&t);
  }
  mxbt_dev_free(dx);
  mxbt_dev_free(dy);
  cmp_close(&c);
}

#endif
