/* FP8 with power-of-two scales (fp8_pow2_scale) is the UE8M0 scaling of
 * DeepGEMM's Hopper recipe, exactly: every stored scale_inv is the smallest
 * power of two s with amax / s <= maxnormal (the real-number rule, which
 * DeepGEMM's fp32 log2 approximates), 1 for an all-zero block, and a value
 * a UE8M0 byte holds. Checked against a binary64 search, with amaxes placed
 * one ulp either side of maxnormal times a power of two, for 1x128 and
 * 128x128 blocks and per tensor, E4M3 and E5M2, on the CPU and (with a GPU)
 * CUDA. */
#include <float.h>
#include <math.h>

#include "cuda_compare.h"

enum { R = 256, C = 512 };

static const mxb_format_t k_formats[] = {MXB_FORMAT_FP8_E4M3_1x128, MXB_FORMAT_FP8_E5M2_1x128,
                                         MXB_FORMAT_FP8_E4M3_128x128, MXB_FORMAT_FP8_E5M2_128x128,
                                         MXB_FORMAT_FP8_E4M3_TENSOR};

/* Normal values at a scale of their own per row, and in some rows an amax
 * of maxnormal * 2^k nudged by -1, 0 or +1 ulp. */
static void sample(float *x, double maxnormal) {
  uint64_t s = 77;
  for (int r = 0; r < R; r++) {
    const float g = ldexpf(1.0f, (int)(mxbt_next(&s) % 60) - 30);
    for (int c = 0; c < C; c++) x[r * C + c] = g * mxbt_normal(&s);
    if (r % 3 == 0) {
      const uint32_t u = mxbt_f2u((float)ldexp(maxnormal, (int)(mxbt_next(&s) % 40) - 20));
      x[r * C + (int)(mxbt_next(&s) % C)] = mxbt_u2f(u + (uint32_t)(mxbt_next(&s) % 3) - 1u);
    }
  }
  for (int c = 0; c < C; c++) x[5 * C + c] = 0.0f; /* an all-zero row */
}

/* The smallest power of two s with amax / s <= maxnormal (1 for amax 0). */
static double smallest_scale(double amax, double maxnormal) {
  if (amax == 0.0) return 1.0;
  int e = (int)ceil(log2(amax / maxnormal));
  while (amax / ldexp(1.0, e) > maxnormal) e++;
  while (amax / ldexp(1.0, e - 1) <= maxnormal) e--;
  return ldexp(1.0, e);
}

static void check(mxb_context_t *ctx, int gpu) {
  for (size_t i = 0; i < sizeof(k_formats) / sizeof(k_formats[0]); i++) {
    const mxb_format_t f = k_formats[i];
    mxb_format_info_t info = {.struct_size = sizeof(info)};
    cr_assert_eq(mxb_format_info(f, &info), MXB_SUCCESS);
    float *x = malloc((size_t)R * C * sizeof(float));
    sample(x, info.elem_max);
    mxb_tensor_t t;
    mxb_tensor_sizes_t sz = {.struct_size = sizeof(sz)};
    cr_assert_eq(mxb_tensor_init(&t, f, R, C, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
    cr_assert_eq(mxb_tensor_sizes(f, R, C, MXB_SCALE_LAYOUT_LINEAR, &sz), MXB_SUCCESS);
    float *scales = malloc(sz.scale_bytes);
    uint8_t *data = malloc(sz.data_bytes);
    mxb_quant_config_t cfg;
    mxb_quant_config_init(&cfg);
    cfg.fp8_pow2_scale = 1;
    if (!gpu) {
      t.data = data;
      t.scales = scales;
      cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &t, NULL, 0, NULL), MXB_SUCCESS, "%s",
                   mxb_last_error_detail());
    } else {
#ifdef MXB_WITH_CUDA
      void *dx = mxbt_dev_from_host(x, (size_t)R * C * sizeof(float)), *dws = NULL;
      t.data = mxbt_dev_alloc(sz.data_bytes);
      t.scales = mxbt_dev_alloc(sz.scale_bytes);
      size_t ws = 0;
      cr_assert_eq(mxb_quantize_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, &t, &ws), MXB_SUCCESS);
      if (ws) dws = mxbt_dev_alloc(ws);
      cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, dx, &t, dws, ws, NULL), MXB_SUCCESS, "%s",
                   mxb_last_error_detail());
      mxbt_to_host(scales, t.scales, sz.scale_bytes);
      mxbt_dev_free(t.data);
      mxbt_dev_free(t.scales);
      mxbt_dev_free(dx);
      mxbt_dev_free(dws);
#endif
    }
    const int64_t br = info.block_rows ? info.block_rows : R, bc = info.block_cols ? info.block_cols : C;
    for (int64_t i0 = 0; i0 < sz.scale_rows; i0++)
      for (int64_t j0 = 0; j0 < sz.scale_cols; j0++) {
        double amax = 0.0;
        for (int64_t r = i0 * br; r < (i0 + 1) * br && r < R; r++)
          for (int64_t c = j0 * bc; c < (j0 + 1) * bc && c < C; c++) amax = fmax(amax, fabs((double)x[r * C + c]));
        const float got = scales[i0 * sz.scale_cols + j0];
        const double want = smallest_scale(amax, info.elem_max);
        cr_assert_eq((double)got, want, "%s %s: block (%lld, %lld), amax %a: scale_inv %a, not %a", gpu ? "cuda" : "cpu",
                     info.name, (long long)i0, (long long)j0, amax, (double)got, want);
        int e;
        cr_assert(frexpf(got, &e) == 0.5f && e - 1 >= -127 && e - 1 <= 127, "%a is not a UE8M0 value", (double)got);
      }
    free(x);
    free(scales);
    free(data);
  }
}

/* fn(ctx, gpu) on a context of the backend. */
static void on_backend(mxb_backend_t backend, void (*fn)(mxb_context_t *, int)) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(backend, 0, &ctx), MXB_SUCCESS);
  fn(ctx, backend == MXB_BACKEND_CUDA);
  mxb_context_destroy(ctx);
}

Test(fp8_ue8m0, pow2_scales_are_the_smallest_power_of_two_on_the_cpu) { on_backend(MXB_BACKEND_CPU, check); }

Test(fp8_ue8m0, pow2_scales_are_the_smallest_power_of_two_on_cuda) {
  MXBT_REQUIRE_GPU();
  on_backend(MXB_BACKEND_CUDA, check);
}

/* ---- the one-byte formats ------------------------------------------------
 * fp8_*_ue8m0 store what the fp32-scale format quantized with
 * fp8_pow2_scale stores, the scale_inv as its E8M0 byte: the same codes
 * (also with stochastic rounding, same seed), each byte the exponent field
 * of the twin's scale_inv, the same dequantized values and GEMM results.
 * Inputs include NaN, +-Inf, values near FLT_MAX (scale_inv 2^120 for
 * E4M3) and blocks of fp32 subnormals (scale clamped to FLT_MAX, rounded
 * down to 2^127: scale_inv 2^-127, byte 0). */
static const mxb_format_t k_bytes[][2] = {
    {MXB_FORMAT_FP8_E4M3_1x128_UE8M0, MXB_FORMAT_FP8_E4M3_1x128},
    {MXB_FORMAT_FP8_E5M2_1x128_UE8M0, MXB_FORMAT_FP8_E5M2_1x128},
    {MXB_FORMAT_FP8_E4M3_128x128_UE8M0, MXB_FORMAT_FP8_E4M3_128x128},
    {MXB_FORMAT_FP8_E5M2_128x128_UE8M0, MXB_FORMAT_FP8_E5M2_128x128},
};
enum { BR = 300, BC = 520 }; /* partial blocks at both ends */


static float *byte_sample(void) {
  float *x = malloc((size_t)BR * BC * sizeof(float));
  uint64_t s = 91;
  for (int r = 0; r < BR; r++) {
    const float g = ldexpf(1.0f, (int)(mxbt_next(&s) % 80) - 40);
    for (int c = 0; c < BC; c++) x[r * BC + c] = g * mxbt_normal(&s);
  }
  for (int c = 0; c < BC; c++) {
    x[1 * BC + c] = ldexpf(mxbt_normal(&s), -140); /* fp32 subnormals: scale_inv 2^-127 */
    x[2 * BC + c] = c % 7 ? ldexpf(mxbt_uniform(&s), 127) : -FLT_MAX;
    x[3 * BC + c] = 0.0f;
  }
  for (int r = 256; r < BR; r++) /* a 128 x 128 block of subnormals: byte 0 in the 128 x 128 formats too */
    for (int c = 0; c < 128; c++) x[r * BC + c] = ldexpf(mxbt_normal(&s), -140);
  x[4 * BC + 3] = NAN;
  x[4 * BC + 200] = INFINITY;
  x[130 * BC + 129] = -INFINITY; /* the second 128-row band */
  return x;
}

typedef struct qt {
  mxb_tensor_t t;
  mxb_tensor_sizes_t sz;
  void *host_data, *host_scales; /* the planes on the host */
} qt;

/* Quantize x into format f (fp8_pow2_scale = pow2, SR when sr) with ctx; the
 * planes end on the host either way. */
static void quantize_rc(mxb_context_t *ctx, int gpu, mxb_format_t f, const float *x, int64_t rows, int64_t cols,
                        int pow2, int sr, qt *q) {
  memset(q, 0, sizeof(*q));
  q->sz.struct_size = sizeof(q->sz);
  cr_assert_eq(mxb_tensor_init(&q->t, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR), MXB_SUCCESS);
  cr_assert_eq(mxb_tensor_sizes(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &q->sz), MXB_SUCCESS);
  q->host_data = malloc(q->sz.data_bytes);
  q->host_scales = malloc(q->sz.scale_bytes);
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  cfg.fp8_pow2_scale = pow2;
  if (sr) {
    cfg.rounding = MXB_ROUND_SR;
    cfg.seed = 1234;
    cfg.offset = 77;
  }
  if (!gpu) {
    q->t.data = q->host_data;
    q->t.scales = q->host_scales;
    cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &q->t, NULL, 0, NULL), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    return;
  }
#ifdef MXB_WITH_CUDA
  void *dx = mxbt_dev_from_host(x, (size_t)(rows * cols) * sizeof(float)), *dws = NULL;
  mxb_tensor_t d = q->t;
  d.data = mxbt_dev_alloc(q->sz.data_bytes);
  d.scales = mxbt_dev_alloc(q->sz.scale_bytes);
  size_t ws = 0;
  cr_assert_eq(mxb_quantize_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, &d, &ws), MXB_SUCCESS);
  if (ws) dws = mxbt_dev_alloc(ws);
  cr_assert_eq(mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, dx, &d, dws, ws, NULL), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  mxbt_to_host(q->host_data, d.data, q->sz.data_bytes);
  mxbt_to_host(q->host_scales, d.scales, q->sz.scale_bytes);
  mxbt_dev_free(d.data);
  mxbt_dev_free(d.scales);
  mxbt_dev_free(dx);
  mxbt_dev_free(dws);
  q->t.data = q->host_data;
  q->t.scales = q->host_scales;
#endif
}
static void quantize_to(mxb_context_t *ctx, int gpu, mxb_format_t f, const float *x, int pow2, int sr, qt *q) {
  quantize_rc(ctx, gpu, f, x, BR, BC, pow2, sr, q);
}
static void qt_free(qt *q) {
  free(q->host_data);
  free(q->host_scales);
}

/* fp32 values of q, dequantized by the CPU reference. */
static float *dequantized(const qt *q) {
  mxb_context_t *cpu = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &cpu), MXB_SUCCESS);
  float *y = malloc((size_t)BR * BC * sizeof(float));
  cr_assert_eq(mxb_dequantize(cpu, &q->t, MXB_DTYPE_FP32, y, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  mxb_context_destroy(cpu);
  return y;
}

static void check_bytes(mxb_context_t *ctx, int gpu) {
  float *x = byte_sample();
  for (size_t i = 0; i < sizeof(k_bytes) / sizeof(k_bytes[0]); i++)
    for (int sr = 0; sr < 2; sr++) {
      const char *name = mxbt_format_name(k_bytes[i][0]);
      qt b, b2, t;
      quantize_to(ctx, gpu, k_bytes[i][0], x, 0, sr, &b);
      quantize_to(ctx, gpu, k_bytes[i][0], x, 1, sr, &b2); /* pow2 is implied: setting it changes nothing */
      quantize_to(ctx, gpu, k_bytes[i][1], x, 1, sr, &t);
      cr_assert_eq(b.sz.scale_bytes * 4, t.sz.scale_bytes, "%s: one byte a block", name);
      cr_assert_eq(memcmp(b.host_data, t.host_data, b.sz.data_bytes), 0, "%s sr=%d: codes differ from the twin's", name, sr);
      cr_assert_eq(memcmp(b.host_data, b2.host_data, b.sz.data_bytes), 0, "%s: fp8_pow2_scale changed the codes", name);
      cr_assert_eq(memcmp(b.host_scales, b2.host_scales, b.sz.scale_bytes), 0, "%s: fp8_pow2_scale changed a byte", name);
      const uint8_t *sb = b.host_scales;
      const float *sf = t.host_scales;
      int saw0 = 0, saw_big = 0;
      for (size_t k = 0; k < b.sz.scale_bytes; k++) {
        cr_assert_eq(sb[k], mxbt_f2u(sf[k]) >> 23, "%s: scale %zu byte %d, twin scale_inv %a", name, k, sb[k], (double)sf[k]);
        cr_assert_eq(mxbt_f2u(sf[k]) & 0x807FFFFFu, sb[k] ? 0u : 0x00400000u, "%s: twin scale_inv %a not a power of two",
                     name, (double)sf[k]);
        saw0 |= sb[k] == 0;
        saw_big |= sb[k] >= 127 + 110;
      }
      cr_assert(saw0 && saw_big, "%s: the sample reaches neither end of the byte range", name);
      float *yb = dequantized(&b), *yt = dequantized(&t);
      cr_assert_eq(memcmp(yb, yt, (size_t)BR * BC * 4), 0, "%s: dequantized values differ from the twin's", name);
      free(yb);
      free(yt);
      qt_free(&b);
      qt_free(&b2);
      qt_free(&t);
    }
  free(x);
}

Test(fp8_ue8m0, byte_formats_are_the_pow2_formats_on_the_cpu) { on_backend(MXB_BACKEND_CPU, check_bytes); }

Test(fp8_ue8m0, byte_formats_are_the_pow2_formats_on_cuda) {
  MXBT_REQUIRE_GPU();
  on_backend(MXB_BACKEND_CUDA, check_bytes);
}

/* The GEMM reads a byte operand as its twin: exact-mode C is the same bits
 * (byte x byte, byte x twin, twin x byte against twin x twin), fp32 and
 * bf16 C, with alpha and beta. */
Test(fp8_ue8m0, gemm_reads_bytes_as_the_twin_on_the_cpu) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  float *x = byte_sample();
  /* A = rows 0..47 of the sample (1x128 blocks), B = rows 0..69 (128x128), K = BC */
  for (int e = 0; e < 2; e++) {
    const mxb_format_t a8 = e ? MXB_FORMAT_FP8_E5M2_1x128_UE8M0 : MXB_FORMAT_FP8_E4M3_1x128_UE8M0;
    const mxb_format_t b8 = MXB_FORMAT_FP8_E4M3_128x128_UE8M0;
    const mxb_format_t a32 = e ? MXB_FORMAT_FP8_E5M2_1x128 : MXB_FORMAT_FP8_E4M3_1x128;
    const mxb_format_t b32 = MXB_FORMAT_FP8_E4M3_128x128;
    qt A8, A32, B8, B32;
    quantize_to(ctx, 0, a8, x, 0, 0, &A8);
    quantize_to(ctx, 0, a32, x, 1, 0, &A32);
    quantize_to(ctx, 0, b8, x, 0, 0, &B8);
    quantize_to(ctx, 0, b32, x, 1, 0, &B32);
    A8.t.rows = A32.t.rows = 48;
    B8.t.rows = B32.t.rows = 70;
    const mxb_tensor_t *as[2] = {&A8.t, &A32.t}, *bs[2] = {&B8.t, &B32.t};
    for (int ct = 0; ct < 2; ct++) {
      mxb_gemm_desc_t d;
      mxb_gemm_desc_init(&d);
      d.mode = MXB_GEMM_EXACT;
      d.c_type = ct ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32;
      d.alpha = 0.75f;
      d.beta = 0.5f;
      const size_t cb = (size_t)48 * 70 * (ct ? 2 : 4);
      unsigned char *want = malloc(cb), *got = malloc(cb);
      for (size_t k = 0; k < cb; k++) want[k] = (unsigned char)(k * 7);
      size_t ws = 0;
      cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &A32.t, &B32.t, &ws), MXB_SUCCESS);
      void *w = malloc(ws ? ws : 1);
      cr_assert_eq(mxb_gemm(ctx, &d, &A32.t, &B32.t, want, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
      for (int v = 0; v < 3; v++) { /* byte x byte, byte x twin, twin x byte */
        const mxb_tensor_t *a = as[v == 2], *b = bs[v == 1];
        for (size_t k = 0; k < cb; k++) got[k] = (unsigned char)(k * 7);
        size_t ws2 = 0;
        cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, a, b, &ws2), MXB_SUCCESS);
        void *w2 = malloc(ws2 ? ws2 : 1);
        cr_assert_eq(mxb_gemm(ctx, &d, a, b, got, w2, ws2, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
        cr_assert_eq(memcmp(got, want, cb), 0, "%s x %s (%s C): C differs from the fp32-scale twins'",
                     mxbt_format_name(a->format), mxbt_format_name(b->format), ct ? "bf16" : "fp32");
        free(w2);
      }
      free(w);
      free(want);
      free(got);
    }
    qt_free(&A8);
    qt_free(&A32);
    qt_free(&B8);
    qt_free(&B32);
  }
  free(x);
  mxb_context_destroy(ctx);
}

/* Byte 0xFF, which no quantizer writes, reads as NaN: its block dequantizes
 * to NaN and nothing else changes. */
Test(fp8_ue8m0, scale_byte_ff_reads_as_nan) {
  mxb_context_t *ctx = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  float *x = byte_sample();
  qt q;
  quantize_to(ctx, 0, MXB_FORMAT_FP8_E4M3_1x128_UE8M0, x, 0, 0, &q);
  float *before = dequantized(&q);
  ((uint8_t *)q.host_scales)[q.sz.scale_cols * 7 + 1] = 0xFF; /* row 7, columns 128..255 */
  float *after = dequantized(&q);
  for (int r = 0; r < BR; r++)
    for (int c = 0; c < BC; c++) {
      const float a = after[r * BC + c], b = before[r * BC + c];
      if (r == 7 && c >= 128 && c < 256) cr_assert(isnan(a), "(%d, %d) = %a, not NaN", r, c, (double)a);
      else cr_assert_eq(mxbt_f2u(a), mxbt_f2u(b), "(%d, %d) changed", r, c);
    }
  free(before);
  free(after);
  qt_free(&q);
  free(x);
  mxb_context_destroy(ctx);
}

#ifdef MXB_WITH_CUDA
static mxb_format_t fp32_twin_of(mxb_format_t f) {
  for (size_t i = 0; i < sizeof(k_bytes) / sizeof(k_bytes[0]); i++)
    if (k_bytes[i][0] == f) return k_bytes[i][1];
  return f;
}

/* q's planes on the device (a tensor whose pointers are device copies). */
static mxb_tensor_t to_device(const qt *q) {
  mxb_tensor_t d = q->t;
  d.data = mxbt_dev_from_host(q->host_data, q->sz.data_bytes);
  d.scales = mxbt_dev_from_host(q->host_scales, q->sz.scale_bytes);
  return d;
}

/* The byte operands' run (c[0], impl[0]) against the twins' (c[1], impl[1]):
 * the same path (want, where given) and the same bytes of C; then frees the
 * results and the four operands. */
static void same_as_twins(const char *what, float *c[2], size_t cb, char impl[2][64], const char *want, qt *q[4],
                          mxb_tensor_t *dev[4]) {
  cr_assert_str_eq(impl[0], impl[1], "%s: path %s, the twins' %s", what, impl[0], impl[1]);
  if (want) cr_assert_str_eq(impl[0], want, "%s", what);
  float *h1 = malloc(cb), *h2 = malloc(cb);
  mxbt_to_host(h1, c[0], cb);
  mxbt_to_host(h2, c[1], cb);
  cr_assert_eq(memcmp(h1, h2, cb), 0, "%s (%s): C differs from the twins'", what, impl[0]);
  free(h1);
  free(h2);
  for (int k = 0; k < 2; k++) mxbt_dev_free(c[k]);
  for (int k = 0; k < 4; k++) {
    mxbt_dev_free(dev[k]->data);
    mxbt_dev_free(dev[k]->scales);
    qt_free(q[k]);
  }
}

/* Fast mode on CUDA: a byte operand gives the bits and the path of its twin
 * (fp32 scales, pow2): the FP8 paths run the twins with the bytes widened
 * in the workspace, the dequantize path decodes them. A [M, K] from x, B
 * [N, K] from x three rows of K on. */
static void fast_pair(mxb_context_t *ctx, mxb_context_t *cpu, const float *x, mxb_format_t fa, mxb_format_t fb,
                      int64_t M, int64_t N, int64_t K, const char *want) {
  const mxb_format_t ta = fp32_twin_of(fa), tb = fp32_twin_of(fb);
  qt A, B, At, Bt;
  const float *xb = x + 3 * K; /* B: other rows than A's */
  quantize_rc(cpu, 0, fa, x, M, K, 0, 0, &A);
  quantize_rc(cpu, 0, fb, xb, N, K, 0, 0, &B);
  quantize_rc(cpu, 0, ta, x, M, K, ta != fa, 0, &At); /* a side that is no byte format is its own twin */
  quantize_rc(cpu, 0, tb, xb, N, K, tb != fb, 0, &Bt);
  mxb_tensor_t dA = to_device(&A), dB = to_device(&B), dAt = to_device(&At), dBt = to_device(&Bt);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.mode = MXB_GEMM_FAST;
  d.alpha = 0.5f;
  const size_t cb = (size_t)(M * N) * 4;
  char impl[2][64];
  const mxb_tensor_t *ops[2][2] = {{&dA, &dB}, {&dAt, &dBt}};
  float *cs[2] = {mxbt_dev_alloc(cb), mxbt_dev_alloc(cb)};
  for (int v = 0; v < 2; v++) {
    size_t ws = 0;
    cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, ops[v][0], ops[v][1], &ws), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    void *w = ws ? mxbt_dev_alloc(ws) : NULL;
    cr_assert_eq(mxb_gemm(ctx, &d, ops[v][0], ops[v][1], cs[v], w, ws, NULL), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    mxbt_dev_sync();
    snprintf(impl[v], sizeof(impl[v]), "%s", mxb_context_last_impl(ctx));
    if (w) mxbt_dev_free(w);
  }
  char what[96];
  snprintf(what, sizeof(what), "%s x %s", mxbt_format_name(fa), mxbt_format_name(fb));
  qt *q[4] = {&A, &B, &At, &Bt};
  mxb_tensor_t *dev[4] = {&dA, &dB, &dAt, &dBt};
  same_as_twins(what, cs, cb, impl, want, q, dev);
}

/* The grouped GEMM likewise: 3 experts of N rows stacked in B, A's rows in
 * groups by offsets; byte operands give the twins' path and bits. */
static void grouped_pair(mxb_context_t *ctx, mxb_context_t *cpu, const float *x, mxb_format_t fa, mxb_format_t fb,
                         int layout, const char *want) {
  enum { M = 200, N = 128, E = 3, K = 384 };
  const mxb_format_t ta = fp32_twin_of(fa), tb = fp32_twin_of(fb);
  qt A, B, At, Bt;
  quantize_rc(cpu, 0, fa, x, M, K, 0, 0, &A);
  quantize_rc(cpu, 0, fb, x + 3 * K, (int64_t)E * N, K, 0, 0, &B);
  quantize_rc(cpu, 0, ta, x, M, K, ta != fa, 0, &At);
  quantize_rc(cpu, 0, tb, x + 3 * K, (int64_t)E * N, K, tb != fb, 0, &Bt);
  mxb_tensor_t dA = to_device(&A), dB = to_device(&B), dAt = to_device(&At), dBt = to_device(&Bt);
  const int32_t offsets[E + 1] = {0, 70, 70, 200}; /* an empty expert in the middle */
  int32_t *doff = mxbt_dev_from_host(offsets, sizeof(offsets));
  mxb_gemm_desc_t g;
  mxb_gemm_desc_init(&g);
  g.mode = MXB_GEMM_FAST;
  mxb_grouped_gemm_desc_t d;
  mxb_grouped_gemm_desc_init(&d);
  d.gemm = &g;
  d.layout = (mxb_grouped_layout_t)layout;
  d.groups = E;
  d.index_bits = 32;
  d.index = doff;
  const size_t cb = (size_t)M * N * 4;
  float *c[2] = {mxbt_dev_alloc(cb), mxbt_dev_alloc(cb)};
  const mxb_tensor_t *ops[2][2] = {{&dA, &dB}, {&dAt, &dBt}};
  char impl[2][64];
  for (int v = 0; v < 2; v++) {
    cr_assert_eq(cudaMemset(c[v], 0, cb), cudaSuccess);
    size_t ws = 0;
    cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &d, ops[v][0], ops[v][1], &ws), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    void *w = ws ? mxbt_dev_alloc(ws) : NULL;
    cr_assert_eq(mxb_grouped_gemm(ctx, &d, ops[v][0], ops[v][1], c[v], w, ws, NULL), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    mxbt_dev_sync();
    snprintf(impl[v], sizeof(impl[v]), "%s", mxb_context_last_impl(ctx));
    if (w) mxbt_dev_free(w);
  }
  mxbt_dev_free(doff);
  char what[96];
  snprintf(what, sizeof(what), "grouped %s x %s", mxbt_format_name(fa), mxbt_format_name(fb));
  qt *q[4] = {&A, &B, &At, &Bt};
  mxb_tensor_t *dev[4] = {&dA, &dB, &dAt, &dBt};
  same_as_twins(what, c, cb, impl, want, q, dev);
}
#endif

Test(fp8_ue8m0, cuda_fast_gemm_runs_the_twins_path) {
  MXBT_REQUIRE_GPU();
#ifdef MXB_WITH_CUDA
  mxb_context_t *ctx = NULL, *cpu = NULL;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &ctx), MXB_SUCCESS);
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &cpu), MXB_SUCCESS);
  /* ordinary magnitudes, a power of two of their own every 64 values */
  const size_t n = (size_t)300 * 512;
  float *x = malloc(n * sizeof(float));
  uint64_t seed = 5;
  float g = 1.0f;
  for (size_t i = 0; i < n; i++) {
    if (i % 64 == 0) g = ldexpf(1.0f, (int)(mxbt_next(&seed) % 16) - 8);
    x[i] = g * mxbt_normal(&seed);
  }
  const float *xs = x;
  const mxb_format_t e4_1 = MXB_FORMAT_FP8_E4M3_1x128_UE8M0, e4_2 = MXB_FORMAT_FP8_E4M3_128x128_UE8M0;
  /* K a multiple of 16 (the FP8 paths' condition), 384 = 3 blocks of 128; 400: a partial block */
  fast_pair(ctx, cpu, xs, e4_1, e4_2, 96, 160, 384, "cuda-fast-cublaslt-fp8");     /* M, N > 32: cuBLASLt */
  fast_pair(ctx, cpu, xs, e4_1, e4_1, 16, 160, 400, "cuda-fast-sm90-mx-fp8-wgmma");  /* M <= 32: the sm_90a kernel */
  fast_pair(ctx, cpu, xs, e4_2, e4_2, 256, 128, 384, "cuda-fast-sm90-mx-fp8-wgmma"); /* 128 x 128 on both sides */
  fast_pair(ctx, cpu, xs, e4_1, MXB_FORMAT_FP8_E4M3_128x128, 96, 160, 384, "cuda-fast-cublaslt-fp8"); /* one byte side */
  fast_pair(ctx, cpu, xs, MXB_FORMAT_FP8_E5M2_1x128_UE8M0, e4_1, 64, 96, 384, "cuda-fast-dequant-cublaslt-bf16");
  /* MoE: 1x128 activations x 128x128 experts on the grouped MX kernel; E5M2 on the exact grouped kernel */
  grouped_pair(ctx, cpu, xs, e4_1, e4_2, MXB_GROUPED_M_CONTIGUOUS, "cuda-fast-grouped-sm90-mx-fp8-wgmma");
  grouped_pair(ctx, cpu, xs, e4_1, MXB_FORMAT_FP8_E4M3_128x128, MXB_GROUPED_M_CONTIGUOUS,
               "cuda-fast-grouped-sm90-mx-fp8-wgmma");
  grouped_pair(ctx, cpu, xs, MXB_FORMAT_FP8_E5M2_1x128_UE8M0, e4_2, MXB_GROUPED_M_CONTIGUOUS,
               "cuda-exact-grouped-generic");
  free(x);
  mxb_context_destroy(cpu);
  mxb_context_destroy(ctx);
#endif
}
