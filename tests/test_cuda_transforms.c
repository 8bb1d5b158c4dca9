/* CUDA transforms against the CPU reference, byte for byte: the row-wise /
 * column-wise pair, the exact NVFP4 2D transpose, MoR, the standalone RHT's
 * canonical NaN; and the device proof that the specialised element encoders
 * equal the generic one over all 2^32 fp32 inputs. Skipped without a GPU. */
#include "cuda_compare.h"

#ifdef MXB_WITH_CUDA
#include "cuda/cuda_ops.h"
#include "finite_cases.h"

static const mxb_dtype_t k_types[] = {MXB_DTYPE_FP32, MXB_DTYPE_BF16, MXB_DTYPE_FP16};
static const int64_t k_shapes[][2] = {{1, 1}, {3, 17}, {16, 16}, {40, 130}, {129, 257}, {256, 384}};
#define NSHAPES (sizeof(k_shapes) / sizeof(k_shapes[0]))

/* Host input of one kind/type and its device copy. */
typedef struct input {
  void *h, *d;
} input;
static input make_input(int64_t rows, int64_t cols, cmp_input kind, mxb_dtype_t t, uint64_t seed) {
  size_t n = (size_t)(rows * cols);
  float *x = malloc(n * sizeof(float) + 4);
  cmp_fill(x, n, kind, seed);
  input in;
  in.h = cmp_convert(x, n, t, seed ^ 0x77);
  in.d = mxbt_dev_from_host(in.h, n * mxb_dtype_size(t));
  free(x);
  return in;
}
static void free_input(input *in) {
  free(in->h);
  mxbt_dev_free(in->d);
}

/* ---- specialised encoders: exhaustive on the device ---------------------- */
static void codec_check(int which, const char *what) {
  unsigned long long bad = 0, first = 0;
  cr_assert_eq(mxb_cuda_codec_check(which, &bad, &first), MXB_SUCCESS, "%s", mxb_last_error_detail());
  cr_assert_eq(bad, 0ull, "%s: %llu inputs differ from the generic encoder, first 0x%llx", what, bad, first);
}
Test(cuda_codec, e2m1_rne_all_fp32) { MXBT_REQUIRE_GPU(); codec_check(0, "E2M1 RNE"); }
Test(cuda_codec, e2m1_rne_words_all_fp32) { MXBT_REQUIRE_GPU(); codec_check(10, "E2M1 RNE word form"); }
Test(cuda_codec, e4m3_cvt_all_fp32) { MXBT_REQUIRE_GPU(); codec_check(1, "E4M3 cvt.rn.satfinite"); }
Test(cuda_codec, e2m1_sr_all_bytes) { MXBT_REQUIRE_GPU(); codec_check(2, "E2M1 SR"); }
Test(cuda_codec, e5m2_cvt_all_fp32) { MXBT_REQUIRE_GPU(); codec_check(3, "E5M2 cvt.rn.satfinite"); }
Test(cuda_codec, int8_rne_all_fp32) { MXBT_REQUIRE_GPU(); codec_check(4, "MXINT8 RNE"); }
Test(cuda_codec, e3m2_minifloat_all_fp32) { MXBT_REQUIRE_GPU(); codec_check(5, "E3M2 branch-free"); }
Test(cuda_codec, e2m3_minifloat_all_fp32) { MXBT_REQUIRE_GPU(); codec_check(6, "E2M3 branch-free"); }
Test(cuda_codec, ue4m3_decode_all_bytes) { MXBT_REQUIRE_GPU(); codec_check(7, "UE4M3 decode"); }
Test(cuda_codec, bf16_cvt_all_fp32) { MXBT_REQUIRE_GPU(); codec_check(8, "bf16 cvt.rn"); }
Test(cuda_codec, fp16_cvt_all_fp32) { MXBT_REQUIRE_GPU(); codec_check(9, "fp16 cvt.rn"); }

/* ---- pair ----------------------------------------------------------------- */
/* variant bits: 1 the NVFP4 recipe's Wgrad side (SR and RHT on the
 * column-wise copy); 2 the saturating non-finite policy; 4 SR and RHT on the
 * row-wise copy too; 8 both amaxes supplied and swizzled scales; 16 both
 * copies drawing from one SR state in memory (row-wise first). */
static void pair_case(cmp_ctx *c, mxb_format_t f, int64_t rows, int64_t cols, mxb_dtype_t t, cmp_input kind,
                      int variant) {
  char what[160];
  snprintf(what, sizeof(what), "pair format %d %lldx%lld type %d %s variant %d", (int)f, (long long)rows,
           (long long)cols, (int)t, cmp_input_name[kind], variant);
  mxb_quant_config_t rc, cc;
  mxb_quant_config_init(&rc);
  mxb_quant_config_init(&cc);
  if (variant & 1) {
    cc.rounding = MXB_ROUND_SR;
    cc.seed = 11;
    cc.offset = 3;
    if (f != MXB_FORMAT_BF16 && rows % 16 == 0) cc.rht.enabled = 1;
  }
  if (variant & 2) {
    rc.nonfinite = MXB_NONFINITE_SATURATE;
    cc.nonfinite = MXB_NONFINITE_SATURATE;
  }
  if (variant & 4) {
    rc.rounding = MXB_ROUND_SR;
    rc.seed = 5;
    rc.offset = 9;
    if (f != MXB_FORMAT_BF16 && cols % 16 == 0) {
      rc.rht.enabled = 1;
      rc.rht.sign_seed = 77;
      rc.rht.bf16_output = 1;
    }
  }
  mxb_format_info_t fi = {.struct_size = sizeof(fi)};
  mxb_format_info(f, &fi);
  const int block_scaled = fi.scale_type == MXB_SCALE_UE4M3 || fi.scale_type == MXB_SCALE_E8M0;
  const int supplied = (variant & 8) && f == MXB_FORMAT_NVFP4;
  const mxb_scale_layout_t lay = (variant & 8) && block_scaled ? MXB_SCALE_LAYOUT_SWIZZLED : MXB_SCALE_LAYOUT_LINEAR;
  if (supplied) rc.amax_source = cc.amax_source = MXB_AMAX_FROM_TENSOR;
  if ((variant & 32) && f == MXB_FORMAT_NVFP4) { /* the E4M3 bound 256; with variant 8 Four Over Six on the rows */
    rc.nvfp4_e4m3_max = cc.nvfp4_e4m3_max = 256;
    if (variant & 8) rc.four_over_six = MXB_FOUR_OVER_SIX_MSE;
  }
  uint64_t host_state[2] = {21, 40}, *dev_state = NULL;
  if (variant & 16) {
    dev_state = mxbt_dev_alloc(sizeof(host_state));
    cudaMemcpy(dev_state, host_state, sizeof(host_state), cudaMemcpyHostToDevice);
  }
  input in = make_input(rows, cols, kind, t, (uint64_t)(rows * 977 + cols + variant));
  cmp_tensor rw, cw;
  cmp_tensor_alloc(&rw, f, rows, cols, lay);
  cmp_tensor_alloc(&cw, f, cols, rows, lay);
  if (supplied) { /* the amaxes a previous step measured */
    const float am[2] = {3.25f, 1.5f};
    *rw.h.amax = am[0];
    *cw.h.amax = am[1];
    cudaMemcpy(rw.d.amax, &am[0], 4, cudaMemcpyHostToDevice);
    cudaMemcpy(cw.d.amax, &am[1], 4, cudaMemcpyHostToDevice);
  }
  size_t wh = 0, wg = 0;
  mxb_status_t s1 = mxb_quantize_pair_workspace_size(c->cpu, &rc, &cc, t, &rw.h, &cw.h, &wh);
  mxb_status_t s2 = mxb_quantize_pair_workspace_size(c->gpu, &rc, &cc, t, &rw.d, &cw.d, &wg);
  cr_assert_eq(s1, s2, "%s: workspace status %d vs %d (%s)", what, s1, s2, mxb_last_error_detail());
  if (s1 == MXB_SUCCESS) {
    void *hw = malloc(wh), *dw = mxbt_dev_alloc(wg);
    if (variant & 16) rc.rng_state = cc.rng_state = host_state;
    mxb_status_t a = mxb_quantize_pair(c->cpu, &rc, &cc, t, in.h, &rw.h, &cw.h, hw, wh, NULL);
    char cpu_detail[400];
    snprintf(cpu_detail, sizeof(cpu_detail), "%s", mxb_last_error_detail());
    if (variant & 16) rc.rng_state = cc.rng_state = dev_state;
    mxb_status_t b = mxb_quantize_pair(c->gpu, &rc, &cc, t, in.d, &rw.d, &cw.d, dw, wg, NULL);
    cr_assert_eq(a, b, "%s: status cpu %d (%s) cuda %d (%s)", what, a, cpu_detail, b, mxb_last_error_detail());
    if (a == MXB_SUCCESS) {
      mxbt_dev_sync();
      /* NVFP4 or MX with whole blocks both ways: the one-pass kernel (not with Four Over Six). */
      const int nv = f == MXB_FORMAT_NVFP4, mx = fi.scale_type == MXB_SCALE_E8M0 && fi.block_cols == 32;
      const int B = nv ? 16 : 32, one_pass = (nv || mx) && rows % B == 0 && cols % B == 0 && !rc.four_over_six;
      cr_assert_str_eq(mxb_context_last_impl(c->gpu), !one_pass ? "cuda-pair" : nv ? "cuda-nvfp4-pair" : "cuda-mx-pair",
                       "%s", what);
      cmp_tensor_check(&rw, what);
      cmp_tensor_check(&cw, what);
      if (variant & 16) {
        uint64_t got[2];
        cudaMemcpy(got, dev_state, sizeof(got), cudaMemcpyDeviceToHost);
        cr_assert(got[0] == 21 && got[1] == 42 && host_state[1] == 42, "%s: SR state offsets cpu %llu cuda %llu", what,
                  (unsigned long long)host_state[1], (unsigned long long)got[1]);
      }
    }
    free(hw);
    mxbt_dev_free(dw);
  }
  if (dev_state) mxbt_dev_free(dev_state);
  cmp_tensor_free(&rw);
  cmp_tensor_free(&cw);
  free_input(&in);
}

Test(cuda_transforms, pair_matches_cpu) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  const mxb_format_t fmts[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP4, MXB_FORMAT_FP8_E4M3_1x128,
                               MXB_FORMAT_MX6, MXB_FORMAT_BF16, MXB_FORMAT_FP8_E5M2_128x128_UE8M0};
  for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++)
    for (size_t s = 0; s < NSHAPES; s++)
      for (int k = 0; k < CMP_KINDS; k++)
        pair_case(&c, fmts[f], k_shapes[s][0], k_shapes[s][1], k_types[(f + s + (size_t)k) % 3], (cmp_input)k,
                  (int)((s + (size_t)k) % 4));
  cmp_close(&c);
}

/* The MX one-pass pair: every MX element type, partial 64 x 64 and
 * 64 x 128 tiles, several tiles a block (160 x 288), the options per copy
 * (RNE/SR, RHT, policies, layouts, a shared SR state). */
Test(cuda_transforms, pair_mx_one_pass_matches_cpu) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  static const mxb_format_t fmts[] = {MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E5M2, MXB_FORMAT_MXFP6_E3M2,
                                      MXB_FORMAT_MXFP6_E2M3, MXB_FORMAT_MXFP4,      MXB_FORMAT_MXINT8};
  static const int64_t shapes[][2] = {{32, 32}, {64, 96}, {96, 160}, {128, 64}, {160, 288}};
  for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++)
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
      for (int k = 0; k < CMP_KINDS; k++)
        for (int v = (int)((f + s + (size_t)k) % 3); v < 32; v += 3)
          pair_case(&c, fmts[f], shapes[s][0], shapes[s][1], k_types[(s + (size_t)k + (size_t)v) % 3], (cmp_input)k, v);
  cmp_close(&c);
}

/* The NVFP4 one-pass pair: partial 64 x 64 tiles, every combination of the
 * options per copy, all input types and kinds; every fourth one also with
 * the E4M3 bound 256 (variant 32). 32 x 528: the amax pass's warp tiles
 * (16 rows x 256 columns of 16-bit x, 128 of fp32) several to a row, the
 * last partial. */
Test(cuda_transforms, pair_nvfp4_one_pass_matches_cpu) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  static const int64_t shapes[][2] = {{16, 16}, {48, 80}, {96, 208}, {128, 64}, {32, 528}};
  for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
    for (int k = 0; k < CMP_KINDS; k++)
      for (int v = 0; v < 64; v += v < 32 ? 1 : 3)
        pair_case(&c, MXB_FORMAT_NVFP4, shapes[s][0], shapes[s][1], k_types[(s + (size_t)k + (size_t)v) % 3],
                  (cmp_input)k, v);
  cmp_close(&c);
}

/* ---- exact 2D transpose (NVFP4, every MX element type) ---------------------- */
Test(cuda_transforms, transpose_2d_matches_cpu) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  static const mxb_format_t fmts[] = {MXB_FORMAT_NVFP4,      MXB_FORMAT_MXFP8_E4M3, MXB_FORMAT_MXFP8_E5M2,
                                      MXB_FORMAT_MXFP6_E3M2, MXB_FORMAT_MXFP6_E2M3, MXB_FORMAT_MXFP4,
                                      MXB_FORMAT_MXINT8};
  for (size_t f = 0; f < sizeof(fmts) / sizeof(fmts[0]); f++)
  for (size_t s = 0; s < NSHAPES; s++)
    for (int k = 0; k < CMP_KINDS; k++)
      for (int lay = 0; lay < 4; lay++) {
        int64_t rows = k_shapes[s][0], cols = k_shapes[s][1];
        char what[128];
        snprintf(what, sizeof(what), "transpose format %d %lldx%lld %s layouts %d", (int)fmts[f], (long long)rows,
                 (long long)cols, cmp_input_name[k], lay);
        mxb_quant_config_t cfg;
        mxb_quant_config_init(&cfg);
        cfg.block_2d = 1;
        input in = make_input(rows, cols, (cmp_input)k, MXB_DTYPE_FP32, (uint64_t)(rows + 31 * cols + k));
        cmp_tensor q, t;
        cmp_tensor_alloc(&q, fmts[f], rows, cols, (mxb_scale_layout_t)(lay & 1));
        cmp_tensor_alloc(&t, fmts[f], cols, rows, (mxb_scale_layout_t)(lay >> 1));
        /* one quantization (CPU), copied to the device, so both transposes start from the same bytes */
        cr_assert_eq(mxb_quantize(c.cpu, &cfg, MXB_DTYPE_FP32, in.h, &q.h, NULL, 0, NULL), MXB_SUCCESS, "%s",
                     mxb_last_error_detail());
        cudaMemcpy(q.d.data, q.h.data, q.sz.data_bytes, cudaMemcpyHostToDevice);
        cudaMemcpy(q.d.scales, q.h.scales, q.sz.scale_bytes, cudaMemcpyHostToDevice);
        if (q.sz.amax_bytes) cudaMemcpy(q.d.amax, q.h.amax, 4, cudaMemcpyHostToDevice);
        q.d.flags = q.h.flags;
        cr_assert_eq(mxb_transpose_quantized(c.cpu, &q.h, &t.h, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
        cr_assert_eq(mxb_transpose_quantized(c.gpu, &q.d, &t.d, NULL), MXB_SUCCESS, "%s: %s", what,
                     mxb_last_error_detail());
        mxbt_dev_sync();
        cr_assert_str_eq(mxb_context_last_impl(c.gpu), f ? "cuda-transpose-mx-2d" : "cuda-transpose-nvfp4-2d");
        cmp_tensor_check(&t, what);
        cmp_tensor_free(&q);
        cmp_tensor_free(&t);
        free_input(&in);
      }
  cmp_close(&c);
}

/* The shared validation refuses a 1D-scaled input on the CUDA backend too. */
Test(cuda_transforms, transpose_refuses_1d_input) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  cmp_tensor q, t;
  cmp_tensor_alloc(&q, MXB_FORMAT_NVFP4, 32, 32, MXB_SCALE_LAYOUT_LINEAR);
  cmp_tensor_alloc(&t, MXB_FORMAT_NVFP4, 32, 32, MXB_SCALE_LAYOUT_LINEAR);
  q.d.flags = 0;
  cr_assert_eq(mxb_transpose_quantized(c.gpu, &q.d, &t.d, NULL), MXB_ERR_UNSUPPORTED);
  cmp_tensor_free(&q);
  cmp_tensor_free(&t);
  cmp_close(&c);
}

/* ---- MoR ------------------------------------------------------------------ */
/* MoR of one host input (and its device copy) on both backends: same planes. */
static void mor_case(cmp_ctx *c, mxb_format_t f, int64_t rows, int64_t cols, mxb_dtype_t t, const mxb_mor_config_t *cfg,
                     const input *in, const char *what) {
  cmp_tensor q;
  cmp_tensor_alloc(&q, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR);
  size_t wh = 0, wg = 0;
  cr_assert_eq(mxb_mor_workspace_size(c->cpu, cfg, t, &q.h, &wh), MXB_SUCCESS);
  cr_assert_eq(mxb_mor_workspace_size(c->gpu, cfg, t, &q.d, &wg), MXB_SUCCESS);
  void *hw = malloc(wh), *dw = mxbt_dev_alloc(wg);
  cr_assert_eq(mxb_mor_quantize(c->cpu, cfg, t, in->h, &q.h, hw, wh, NULL), MXB_SUCCESS, "%s: %s", what,
               mxb_last_error_detail());
  cr_assert_eq(mxb_mor_quantize(c->gpu, cfg, t, in->d, &q.d, dw, wg, NULL), MXB_SUCCESS, "%s: %s", what,
               mxb_last_error_detail());
  mxbt_dev_sync();
  cr_assert_str_eq(mxb_context_last_impl(c->gpu), "cuda-mor");
  cmp_tensor_check(&q, what);
  free(hw);
  mxbt_dev_free(dw);
  cmp_tensor_free(&q);
}

static const mxb_format_t k_mor_formats[] = {MXB_FORMAT_MOR_TENSOR, MXB_FORMAT_MOR_128x128, MXB_FORMAT_MOR_1x128};

Test(cuda_transforms, mor_matches_cpu) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  const double taus[] = {0.0, 0.02, 0.0625, 1.0};
  for (size_t f = 0; f < 3; f++)
    for (size_t s = 0; s < NSHAPES; s++)
      for (int k = 0; k < CMP_KINDS; k++)
        for (int m = 0; m < 3; m++) {
          int64_t rows = k_shapes[s][0], cols = k_shapes[s][1];
          mxb_dtype_t t = k_types[(s + (size_t)k + (size_t)m) % 3];
          mxb_mor_config_t cfg;
          mxb_mor_config_init(&cfg);
          cfg.metric = (mxb_mor_metric_t)m;
          cfg.tau = taus[(s + (size_t)m) % 4];
          cfg.pow2_scale = k == 1;
          char what[160];
          snprintf(what, sizeof(what), "mor format %d %lldx%lld type %d %s metric %d tau %g", (int)k_mor_formats[f],
                   (long long)rows, (long long)cols, (int)t, cmp_input_name[k], m, cfg.tau);
          input in = make_input(rows, cols, (cmp_input)k, t, (uint64_t)(rows * 7 + cols + 1000 * f + (size_t)m));
          mor_case(&c, k_mor_formats[f], rows, cols, t, &cfg, &in, what);
          free_input(&in);
        }
  cmp_close(&c);
}

/* The edge inputs of the finite suite (finite_cases.h): FP8 partitions
 * saturating below 2^128, BF16 partitions saturating to 0x7F7F. */
Test(cuda_transforms, mor_finite_edges_match_cpu) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  const int64_t rows = 130, cols = 130;
  float *x = malloc(rows * cols * sizeof(float));
  for (size_t f = 0; f < 3; f++)
    for (int pow2 = 0; pow2 < 2; pow2++)
      for (size_t v = 0; v < FINITE_NVALUES + FINITE_NAMAXES; v++) {
        if (v < FINITE_NVALUES)
          for (int64_t i = 0; i < rows * cols; i++) x[i] = k_finite_values[v];
        else
          finite_fill_pattern(x, rows * cols, k_finite_amaxes[v - FINITE_NVALUES]);
        mxb_mor_config_t cfg;
        mxb_mor_config_init(&cfg);
        cfg.pow2_scale = pow2;
        char what[160];
        snprintf(what, sizeof(what), "mor format %d pow2 %d %s %a", (int)k_mor_formats[f], pow2,
                 v < FINITE_NVALUES ? "all" : "amax",
                 v < FINITE_NVALUES ? k_finite_values[v] : k_finite_amaxes[v - FINITE_NVALUES]);
        input in = {x, mxbt_dev_from_host(x, (size_t)(rows * cols) * sizeof(float))};
        mor_case(&c, k_mor_formats[f], rows, cols, MXB_DTYPE_FP32, &cfg, &in, what);
        mxbt_dev_free(in.d);
      }
  free(x);
  cmp_close(&c);
}

/* ---- standalone RHT: NaN outputs are the canonical NaN on both backends ---- */
Test(cuda_transforms, rht_special_values_match_cpu) {
  MXBT_REQUIRE_GPU();
  cmp_ctx c = cmp_open();
  for (int d = 16; d <= 256; d *= 2)
    for (int ty = 0; ty < 3; ty++)
      for (int o = 0; o < 2; o++)
        for (int inv = 0; inv < 2; inv++) {
          int64_t rows = 24, cols = 512;
          size_t n = (size_t)(rows * cols);
          input in = make_input(rows, cols, CMP_SPECIAL, k_types[ty], (uint64_t)(d + 3 * ty));
          mxb_rht_t r;
          mxb_rht_init(&r);
          r.size = d;
          mxb_dtype_t ot = o ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32;
          size_t ob = n * mxb_dtype_size(ot);
          void *ho = malloc(ob), *dout = mxbt_dev_alloc(ob);
          for (int ax = 0; ax < 2; ax++) {
            mxb_axis_t axis = ax ? MXB_AXIS_ROWS : MXB_AXIS_COLS;
            if (axis == MXB_AXIS_ROWS && rows % d) continue;
            cr_assert_eq(mxb_rht(c.cpu, &r, inv, axis, rows, cols, k_types[ty], in.h, ot, ho, NULL), MXB_SUCCESS);
            cr_assert_eq(mxb_rht(c.gpu, &r, inv, axis, rows, cols, k_types[ty], in.d, ot, dout, NULL), MXB_SUCCESS);
            mxbt_dev_sync();
            char what[96];
            snprintf(what, sizeof(what), "rht d=%d type %d out %d inverse %d axis %d", d, ty, o, inv, ax);
            cmp_plane(ho, dout, ob, "values", what);
          }
          free(ho);
          mxbt_dev_free(dout);
          free_input(&in);
        }
  cmp_close(&c);
}
#endif
