/* GEMM epilogue on the CPU reference: bias (fp32, bf16, fp16), activations,
 * fp16 output, the order t = alpha A B^T + beta C, t + bias, activation,
 * rounding; descs of the first release; refusals. The activations are
 * checked against binary64 evaluations of the real functions. */
#include <float.h>
#include <stdio.h>

#include "common/activation.h"
#include "common/gemm_epilogue.h"
#include "cpu/gemm.h"
#include "gemm_operands.h"

/* ------------------------------------------------------------ references */
static double ref_act(int act, double x) {
  switch (act) {
    case MXB_ACT_RELU: return x > 0 ? x : 0.0;
    case MXB_ACT_RELU2: return x > 0 ? x * x : 0.0;
    case MXB_ACT_GELU_ERF: return 0.5 * x * erfc(-x / sqrt(2.0));
    case MXB_ACT_GELU_TANH: {
      /* 0.5 x (1 + tanh(u)) = x / (1 + e^(-2u)), the form without cancellation */
      double u = sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
      return x / (1.0 + exp(-2.0 * u));
    }
    case MXB_ACT_SILU: return x / (1.0 + exp(-x));
    default: return x;
  }
}

/* Largest error in ulps of f(x) over 2^21 evenly spaced fp32 x in [lo, hi]
 * (act < 0: e^x). */
static double max_ulp(int act, float lo, float hi, float *where) {
  const int n = 1 << 21;
  double worst = 0;
  *where = 0;
  for (int i = 0; i <= n; i++) {
    const float x = (float)(lo + ((double)hi - lo) * i / n);
    const float y = act < 0 ? mxb_act_exp(x) : mxb_activation(act, x);
    const double r = act < 0 ? exp((double)x) : ref_act(act, x);
    if (isinf(r) && isinf(y)) continue;
    const double e = fabs((double)y - r) / mxbt_ulp32(r);
    if (!(e <= worst)) {
      worst = e;
      *where = x;
    }
  }
  return worst;
}

/* The documented accuracy (docs/GEMM.md, "Epilogue"), in ulps of the real
 * function's value: the maxima over every fp32 x of each range (|x| >= 2^-12)
 * are 0.894, 4.59, 3.34, 21.3 and 180; this sweep samples the ranges. */
Test(gemm_epilogue, activation_accuracy_against_binary64) {
  const struct {
    int act;
    const char *name;
    float lo, hi;
    double bound;
  } rows[] = {
      {-1, "exp", -103.0f, 88.7f, 1.0},
      {MXB_ACT_GELU_ERF, "gelu_erf", -20.0f, 20.0f, 5.0},
      {MXB_ACT_SILU, "silu", -120.0f, 100.0f, 4.0},
      {MXB_ACT_GELU_TANH, "gelu_tanh", -4.0f, 100.0f, 22.0},
      {MXB_ACT_GELU_TANH, "gelu_tanh (tail)", -20.0f, -4.0f, 180.0},
  };
  for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    float at;
    double e = max_ulp(rows[i].act, rows[i].lo, rows[i].hi, &at);
    cr_log_info("%s on [%g, %g]: max error %.3f ulp at x = %.9g", rows[i].name, rows[i].lo, rows[i].hi, e, at);
    fprintf(stderr, "activation accuracy: %s on [%g, %g]: %.3f ulp at x = %.9g\n", rows[i].name, rows[i].lo,
            rows[i].hi, e, at);
    cr_expect(e <= rows[i].bound, "%s: %.3f ulp at x = %.9g > %.0f", rows[i].name, e, at, rows[i].bound);
  }
}

/* The CPU GEMM's FMA build of the activations (src/cpu/activation_fma.c,
 * where the CPU has FMA) against the shared code as this file is compiled
 * (libm's fmaf on x86-64's baseline): the same bits for every activation,
 * plain and gated, over a sweep of 2^20 inputs per activation and the
 * special values. */
Test(gemm_epilogue, fma_build_gives_the_same_bits) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (!__builtin_cpu_supports("fma")) cr_skip_test("this CPU has no FMA instructions");
#endif
  const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, FLT_MAX, -FLT_MAX, FLT_MIN, -0x1p-149f, 15.0f,
                           -15.0f, 88.7f, -104.0f, -128.5f, -150.5f};
  long diff = 0;
  for (int act = MXB_ACT_RELU; act <= MXB_ACT_GEGLU_TANH; act++) {
    const int n = 1 << 20;
    for (int i = 0; i < n + (int)(sizeof(special) / sizeof(special[0])); i++) {
      const float x = i < n ? (float)(-130.0 + 260.0 * i / n) : special[i - n];
      const float want = mxb_gemm_gate_act(act) ? mxb_gemm_gated(act, x, 1.5f) : mxb_activation(act, x);
      const float got = mxb_gemm_gate_act(act) ? mxb_cpu_gated_fma(act, x, 1.5f) : mxb_cpu_activation_fma(act, x);
      if (mxbt_f2u(want) != mxbt_f2u(got) && !(isnan(want) && isnan(got))) {
        if (diff++ < 5) cr_log_error("act %d at x = %.9g: %a vs %a", act, x, want, got);
      }
    }
  }
  cr_expect_eq(diff, 0, "%ld inputs differ", diff);
}

Test(gemm_epilogue, activation_special_values) {
  const float inf = INFINITY;
  for (int act = MXB_ACT_RELU; act <= MXB_ACT_SILU; act++) {
    cr_expect(isnan(mxb_activation(act, NAN)), "act %d: NaN", act);
    cr_expect_eq(mxb_activation(act, inf), inf, "act %d: +Inf", act);
    float m = mxb_activation(act, -inf);
    cr_expect(m == 0.0f, "act %d: -Inf gives %g, the limit is 0", act, m);
    float z = mxb_activation(act, -0.0f);
    cr_expect(z == 0.0f, "act %d: -0 gives %g", act, z);
  }
  cr_expect_eq(mxbt_f2u(mxb_activation(MXB_ACT_RELU, -0.0f)), 0u, "ReLU(-0) is +0");
  cr_expect_eq(mxb_act_exp(0.0f), 1.0f);
  cr_expect_eq(mxb_act_exp(-200.0f), 0.0f);
  cr_expect(isinf(mxb_act_exp(100.0f)));
  cr_expect_eq(mxb_act_exp(-103.0f) > 0.0f, 1, "e^-103 is a subnormal, not 0");
}

/* ------------------------------------------------------------ GEMM level */
static float *cpu_gemm(const mxb_gemm_desc_t *d, const mxbt_operand *A, const mxbt_operand *B, const void *Cin,
                       size_t cb) {
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, d, &A->h, &B->h, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = malloc(ws ? ws : 1), *C = malloc(cb);
  memcpy(C, Cin, cb);
  cr_assert_eq(mxb_gemm(ctx, d, &A->h, &B->h, C, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  free(w);
  mxb_context_destroy(ctx);
  return C;
}

/* Independent roundings of the test: bf16 and fp16 RNE from fp32. */
static uint16_t t_bf16(float f) {
  uint32_t u = mxbt_f2u(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FC0;
  uint32_t r = u + 0x7FFFu + ((u >> 16) & 1u);
  return (uint16_t)(r >> 16);
}
static uint16_t t_fp16(float f) {
  if (isnan(f)) return 0x7E00;
  _Float16 h = (_Float16)f; /* IEEE conversion, round to nearest even */
  uint16_t u;
  memcpy(&u, &h, 2);
  return u;
}
static float t_bias(const void *bias, mxb_dtype_t type, int64_t n) {
  uint16_t h;
  switch (type) {
    case MXB_DTYPE_BF16: h = ((const uint16_t *)bias)[n]; return mxbt_u2f((uint32_t)h << 16);
    case MXB_DTYPE_FP16: {
      _Float16 v;
      memcpy(&v, (const uint16_t *)bias + n, 2);
      return (float)v;
    }
    default: return ((const float *)bias)[n];
  }
}

enum { EM = 19, EN = 37, EK = 96 };

typedef struct {
  mxbt_operand A, B;
  float cin[EM * EN];
  float bias32[EN];
  uint16_t bias16[EN];
} efix;

static void efix_make(efix *f, mxb_dtype_t bias_type) {
  float *xa = mxbt_gemm_input(EM, EK, 5, MXBT_IN_NORMAL, 0), *xb = mxbt_gemm_input(EN, EK, 6, MXBT_IN_NORMAL, 1);
  mxbt_operand_make(&f->A, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, EM, EK, xa);
  mxbt_operand_make(&f->B, MXB_FORMAT_BF16, MXB_SCALE_LAYOUT_LINEAR, EN, EK, xb);
  free(xa);
  free(xb);
  uint64_t s = 17;
  for (int i = 0; i < EM * EN; i++) f->cin[i] = 4.0f * mxbt_normal(&s);
  for (int n = 0; n < EN; n++) {
    float b = 8.0f * mxbt_normal(&s);
    if (bias_type == MXB_DTYPE_FP16) {
      _Float16 h = (_Float16)b;
      memcpy(&f->bias16[n], &h, 2);
    } else {
      f->bias16[n] = t_bf16(b);
    }
    f->bias32[n] = b;
  }
}
static void efix_free(efix *f) {
  mxbt_operand_free(&f->A);
  mxbt_operand_free(&f->B);
}

/* Every activation and bias type with fp32 C: the test's own fp32 bias add
 * (exact) on the GEMM without epilogue (same alpha, beta, C), then the
 * binary64 activation: ReLU and squared ReLU exactly, the others within the
 * documented accuracy. */
Test(gemm_epilogue, every_activation_and_bias_type) {
  const mxb_dtype_t bts[] = {MXB_DTYPE_FP32, MXB_DTYPE_BF16, MXB_DTYPE_FP16};
  for (int bt = 0; bt < 3; bt++) {
    efix f;
    efix_make(&f, bts[bt]);
    const void *bias = bts[bt] == MXB_DTYPE_FP32 ? (const void *)f.bias32 : (const void *)f.bias16;
    mxb_gemm_desc_t d;
    mxb_gemm_desc_init(&d);
    d.alpha = 0.75f;
    d.beta = -0.5f;
    float *t = cpu_gemm(&d, &f.A, &f.B, f.cin, sizeof(f.cin));
    d.bias = bias;
    d.bias_type = bts[bt];
    for (int act = MXB_ACT_NONE; act <= MXB_ACT_SILU; act++) {
      d.activation = (mxb_activation_t)act;
      float *c = cpu_gemm(&d, &f.A, &f.B, f.cin, sizeof(f.cin));
      int below = 0, above = 0;
      for (int m = 0; m < EM; m++)
        for (int n = 0; n < EN; n++) {
          const float x = t[m * EN + n] + t_bias(bias, bts[bt], n); /* fp32 add */
          const float got = c[m * EN + n];
          below += x < 0, above += x > 0;
          if (act == MXB_ACT_NONE || act == MXB_ACT_RELU || act == MXB_ACT_RELU2) {
            float want = act == MXB_ACT_NONE ? x : x > 0 ? x : 0.0f;
            if (act == MXB_ACT_RELU2) want = want * want;
            cr_assert_eq(mxbt_f2u(got), mxbt_f2u(want), "act %d bias %d [%d][%d]: %.9g, want %.9g", act, bt, m, n,
                         got, want);
          } else {
            const double r = ref_act(act, x), tol = (act == MXB_ACT_GELU_TANH ? 180 : 5) * mxbt_ulp32(r);
            cr_assert(fabs(got - r) <= tol, "act %d bias %d [%d][%d] x = %.9g: %.9g, real %.9g", act, bt, m, n, x,
                      got, r);
          }
        }
      cr_assert(below > 20 && above > 20, "the inputs reach both signs (%d, %d)", below, above);
      free(c);
    }
    free(t);
    efix_free(&f);
  }
}

/* The order: beta C before the bias, the bias before the activation, the
 * rounding to bf16 / fp16 last (the fp32 result of the same epilogue,
 * rounded once), and a NaN from the bias written as the one quiet NaN. */
Test(gemm_epilogue, order_and_output_types) {
  efix f;
  efix_make(&f, MXB_DTYPE_FP32);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.bias = f.bias32;
  d.activation = MXB_ACT_RELU;
  d.beta = 0.0f;
  f.bias32[3] = NAN;
  float *y32 = cpu_gemm(&d, &f.A, &f.B, f.cin, sizeof(f.cin));
  /* ReLU after the bias: a negative bias shows where the order is wrong. */
  d.bias = NULL;
  d.activation = MXB_ACT_NONE;
  float *t = cpu_gemm(&d, &f.A, &f.B, f.cin, sizeof(f.cin));
  int differ = 0;
  for (int i = 0; i < EM * EN; i++) {
    const int n = i % EN;
    const float x = t[i] + f.bias32[n], relu_then_bias = (t[i] > 0 ? t[i] : 0.0f) + f.bias32[n];
    if (n == 3) {
      cr_assert_eq(mxbt_f2u(y32[i]), 0x7FC00000u, "NaN bias: canonical NaN");
      continue;
    }
    cr_assert_eq(y32[i], x > 0 ? x : 0.0f);
    differ += y32[i] != relu_then_bias;
  }
  cr_assert(differ > 0, "the inputs do not tell the orders apart");
  /* bf16 and fp16 C: the same epilogue, rounded once at the end. */
  d.bias = f.bias32;
  d.activation = MXB_ACT_GELU_ERF;
  float *g32 = cpu_gemm(&d, &f.A, &f.B, f.cin, sizeof(f.cin));
  for (int ct = MXB_DTYPE_BF16; ct <= MXB_DTYPE_FP16; ct++) {
    d.c_type = (mxb_dtype_t)ct;
    uint16_t c0[EM * EN];
    memset(c0, 0xFF, sizeof(c0));
    uint16_t *c = (uint16_t *)cpu_gemm(&d, &f.A, &f.B, c0, sizeof(c0));
    for (int i = 0; i < EM * EN; i++) {
      uint16_t want = ct == MXB_DTYPE_BF16 ? t_bf16(g32[i]) : t_fp16(g32[i]);
      cr_assert_eq(c[i], want, "type %d element %d: %04x, want %04x (fp32 %.9g)", ct, i, c[i], want, g32[i]);
    }
    free(c);
  }
  free(g32);
  free(y32);
  free(t);
  efix_free(&f);
}

/* beta C read as fp16 when C is fp16. */
Test(gemm_epilogue, fp16_output_with_beta) {
  efix f;
  efix_make(&f, MXB_DTYPE_FP32);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.beta = 2.0f;
  uint16_t c16[EM * EN];
  float c32[EM * EN];
  for (int i = 0; i < EM * EN; i++) {
    c16[i] = t_fp16(f.cin[i]);
    _Float16 h;
    memcpy(&h, &c16[i], 2);
    c32[i] = (float)h;
  }
  float *t = cpu_gemm(&d, &f.A, &f.B, c32, sizeof(c32));
  d.c_type = MXB_DTYPE_FP16;
  uint16_t *c = (uint16_t *)cpu_gemm(&d, &f.A, &f.B, c16, sizeof(c16));
  for (int i = 0; i < EM * EN; i++) cr_assert_eq(c[i], t_fp16(t[i]), "element %d", i);
  free(c);
  free(t);
  efix_free(&f);
}

/* A desc of the first release (struct_size ending at ldc) gets no bias and
 * no activation, whatever follows it in memory. */
Test(gemm_epilogue, first_release_desc_gets_the_defaults) {
  efix f;
  efix_make(&f, MXB_DTYPE_FP32);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.alpha = 1.5f;
  float *want = cpu_gemm(&d, &f.A, &f.B, f.cin, sizeof(f.cin));
  d.struct_size = offsetof(mxb_gemm_desc_t, ldc) + sizeof(d.ldc);
  d.bias = (const void *)(uintptr_t)1; /* neither read nor validated */
  d.bias_type = (mxb_dtype_t)77;
  d.activation = (mxb_activation_t)99;
  float *got = cpu_gemm(&d, &f.A, &f.B, f.cin, sizeof(f.cin));
  cr_assert(memcmp(want, got, sizeof(f.cin)) == 0);
  free(want);
  free(got);
  efix_free(&f);
}

/* A struct_size that ends inside a field: that field keeps its default (only
 * whole fields are read), so a size cutting the activation in two gives no
 * activation rather than whatever its first bytes would make. */
Test(gemm_epilogue, a_field_cut_by_struct_size_keeps_its_default) {
  efix f;
  efix_make(&f, MXB_DTYPE_FP32);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  float *want = cpu_gemm(&d, &f.A, &f.B, f.cin, sizeof(f.cin));
  d.activation = MXB_ACT_RELU;
  float *relu = cpu_gemm(&d, &f.A, &f.B, f.cin, sizeof(f.cin));
  cr_assert(memcmp(want, relu, sizeof(f.cin)) != 0, "the fixture needs negative outputs");
  d.struct_size = offsetof(mxb_gemm_desc_t, activation) + 1;
  float *got = cpu_gemm(&d, &f.A, &f.B, f.cin, sizeof(f.cin));
  cr_assert(memcmp(want, got, sizeof(f.cin)) == 0);
  free(want);
  free(relu);
  free(got);
  efix_free(&f);
}

Test(gemm_epilogue, refusals_write_nothing) {
  efix f;
  efix_make(&f, MXB_DTYPE_FP32);
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_gemm_desc_t d0, d;
  mxb_gemm_desc_init(&d0);
  size_t ws = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d0, &f.A.h, &f.B.h, &ws), MXB_SUCCESS);
  void *w = malloc(ws);
  static float C[EM * EN];
  static char raw[4 * EN + 4];
  const struct {
    int what;
    mxb_status_t st;
    const char *detail;
  } cases[] = {
      {0, MXB_ERR_INVALID_ARGUMENT, "desc->activation 9"},
      {1, MXB_ERR_INVALID_ARGUMENT, "desc->activation -1"},
      {2, MXB_ERR_INVALID_ARGUMENT, "desc->bias_type 9"},
      {3, MXB_ERR_BAD_ALIGNMENT, "desc->bias"},
      {4, MXB_ERR_BAD_ALIGNMENT, "desc->bias"},
      {5, MXB_ERR_INVALID_ARGUMENT, "desc->c_type 3"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    d = d0;
    d.bias = f.bias32;
    switch (cases[i].what) {
      case 0: d.activation = (mxb_activation_t)9; break;
      case 1: d.activation = (mxb_activation_t)-1; break;
      case 2: d.bias_type = (mxb_dtype_t)9; break;
      case 3: d.bias = raw + 2; break; /* fp32 bias on 2 bytes */
      case 4: d.bias = raw + 1; d.bias_type = MXB_DTYPE_BF16; break;
      case 5: d.c_type = (mxb_dtype_t)3; break;
    }
    for (int k = 0; k < EM * EN; k++) C[k] = 7.0f;
    mxb_status_t st = mxb_gemm(ctx, &d, &f.A.h, &f.B.h, C, w, ws, NULL);
    cr_assert_eq(st, cases[i].st, "case %zu: %s", i, mxb_last_error_detail());
    cr_assert(strstr(mxb_last_error_detail(), cases[i].detail), "case %zu: %s", i, mxb_last_error_detail());
    for (int k = 0; k < EM * EN; k++) cr_assert_eq(C[k], 7.0f, "case %zu: C written", i);
    size_t q = 12345;
    cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &f.A.h, &f.B.h, &q), cases[i].st, "case %zu (query)", i);
    cr_assert_eq(q, 12345, "case %zu: query wrote its output", i);
  }
  free(w);
  mxb_context_destroy(ctx);
  efix_free(&f);
}

/* ---------------------------------------------------- gated activations */
enum { GH = 19 }; /* C's columns; N = 2 * GH */

static const int k_gated[] = {MXB_ACT_SWIGLU, MXB_ACT_GEGLU_ERF, MXB_ACT_GEGLU_TANH};
static const int k_gate_of[] = {MXB_ACT_SILU, MXB_ACT_GELU_ERF, MXB_ACT_GELU_TANH};

/* C[m, j] = act(p[m, j]) * p[m, j + N/2] from the pre-activations p of the
 * same GEMM without an activation (bias included, fp32 C), with the
 * library's activation functions (their accuracy is tested above), the
 * product in fp32 and the rounding to c_type last; a padded ldc leaves the
 * gap untouched. */
Test(gemm_epilogue, gated_pairs_gate_and_value) {
  const int N = 2 * GH, ldc = GH + 3;
  float *xa = mxbt_gemm_input(EM, EK, 7, MXBT_IN_NORMAL, 0), *xb = mxbt_gemm_input(N, EK, 8, MXBT_IN_NORMAL, 1);
  mxbt_operand A, B;
  mxbt_operand_make(&A, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, EM, EK, xa);
  mxbt_operand_make(&B, MXB_FORMAT_NVFP4, MXB_SCALE_LAYOUT_LINEAR, N, EK, xb);
  free(xa);
  free(xb);
  float bias[2 * GH];
  uint64_t s = 23;
  for (int n = 0; n < N; n++) bias[n] = 2.0f * mxbt_normal(&s);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.alpha = 0.75f;
  d.bias = bias;
  static float zero[EM * 2 * GH];
  float *p = cpu_gemm(&d, &A, &B, zero, sizeof(zero));
  const mxb_dtype_t cts[] = {MXB_DTYPE_FP32, MXB_DTYPE_BF16, MXB_DTYPE_FP16};
  for (int a = 0; a < 3; a++)
    for (int ct = 0; ct < 3; ct++) {
      mxb_gemm_desc_t g = d;
      g.activation = (mxb_activation_t)k_gated[a];
      g.c_type = cts[ct];
      g.ldc = ldc;
      const size_t es = cts[ct] == MXB_DTYPE_FP32 ? 4 : 2;
      unsigned char init[EM * (GH + 3) * 4];
      memset(init, 0xA5, sizeof(init));
      unsigned char *c = (unsigned char *)cpu_gemm(&g, &A, &B, init, (size_t)EM * ldc * es);
      int neg = 0;
      for (int m = 0; m < EM; m++)
        for (int j = 0; j < ldc; j++) {
          const size_t at = ((size_t)m * ldc + j) * es;
          if (j >= GH) { /* the gap */
            for (size_t b = 0; b < es; b++) cr_assert_eq(c[at + b], 0xA5, "act %d: C's gap written", k_gated[a]);
            continue;
          }
          const float gate = p[m * N + j], value = p[m * N + GH + j];
          const float want = mxb_activation(k_gate_of[a], gate) * value; /* fp32 product */
          neg += gate < 0;
          if (cts[ct] == MXB_DTYPE_FP32) {
            uint32_t u;
            memcpy(&u, c + at, 4);
            cr_assert_eq(u, mxbt_f2u(want), "act %d [%d][%d]: %.9g, want %.9g", k_gated[a], m, j, mxbt_u2f(u), want);
          } else {
            uint16_t h;
            memcpy(&h, c + at, 2);
            const uint16_t w16 = cts[ct] == MXB_DTYPE_BF16 ? t_bf16(want) : t_fp16(want);
            cr_assert_eq(h, w16, "act %d c_type %d [%d][%d]: 0x%04x, want 0x%04x", k_gated[a], (int)cts[ct], m, j, h,
                         w16);
          }
        }
      cr_assert(neg > 20, "gates of both signs (%d negative)", neg);
      /* a plan of the same GEMM writes the same bytes */
      mxb_context_t *ctx;
      cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
      mxb_gemm_plan_t *plan;
      cr_assert_eq(mxb_gemm_plan_create(ctx, &g, &A.h, &B.h, NULL, &plan), MXB_SUCCESS, "%s", mxb_last_error_detail());
      size_t ws = 0;
      cr_assert_eq(mxb_gemm_plan_workspace_size(plan, &ws), MXB_SUCCESS);
      void *w = malloc(ws), *c2 = malloc((size_t)EM * ldc * es);
      memcpy(c2, init, (size_t)EM * ldc * es);
      cr_assert_eq(mxb_gemm_plan_execute(plan, &A.h, &B.h, c2, w, ws, NULL), MXB_SUCCESS, "%s",
                   mxb_last_error_detail());
      cr_assert_eq(memcmp(c2, c, (size_t)EM * ldc * es), 0, "act %d c_type %d: the plan's bytes differ", k_gated[a],
                   (int)cts[ct]);
      free(w);
      free(c2);
      mxb_gemm_plan_destroy(plan);
      mxb_context_destroy(ctx);
      free(c);
    }
  free(p);
  mxbt_operand_free(&A);
  mxbt_operand_free(&B);
}

/* d (valid for mxb_gemm on the CPU) refused by the grouped GEMM in
 * `layout`, and by mxb_gemm_quantized when `quantized` says so: not offered
 * there so far. */
static void refused_by_grouped(mxb_context_t *ctx, const mxb_gemm_desc_t *d, const mxb_tensor_t *A,
                               const mxb_tensor_t *B, mxb_grouped_layout_t layout, int quantized) {
  size_t q = 0;
  if (quantized) {
    mxb_quant_config_t cfg;
    mxb_quant_config_init(&cfg);
    mxb_tensor_t qc;
    mxb_tensor_init(&qc, MXB_FORMAT_MXFP8_E4M3, A->rows, B->rows, MXB_SCALE_LAYOUT_LINEAR);
    cr_assert_eq(mxb_gemm_quantized_workspace_size(ctx, d, &cfg, A, B, &qc, &q), MXB_ERR_UNSUPPORTED, "%s",
                 mxb_last_error_detail());
  }
  mxb_grouped_gemm_desc_t gd;
  mxb_grouped_gemm_desc_init(&gd);
  const int32_t offs[2] = {0, (int32_t)(layout == MXB_GROUPED_K_CONTIGUOUS ? A->cols : A->rows)};
  gd.index = offs;
  gd.gemm = d;
  gd.layout = layout;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &gd, A, B, &q), MXB_ERR_UNSUPPORTED, "%s",
               mxb_last_error_detail());
}

/* Gated activations: an odd N, beta != 0, ldc below N/2 and the K-grouped
 * layout are refused, C untouched. */
Test(gemm_epilogue, gated_refusals) {
  efix f; /* N = 37: odd */
  efix_make(&f, MXB_DTYPE_FP32);
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  static float C[EM * EN];
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.activation = MXB_ACT_SWIGLU;
  size_t q = 12345;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &f.A.h, &f.B.h, &q), MXB_ERR_BAD_SHAPE);
  cr_assert(strstr(mxb_last_error_detail(), "odd"), "%s", mxb_last_error_detail());
  cr_assert_eq(q, 12345);
  /* an even N: B's first 36 rows */
  mxb_tensor_t B = f.B.h;
  B.rows = EN - 1;
  d.beta = 1.0f;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &f.A.h, &B, &q), MXB_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(mxb_last_error_detail(), "beta"), "%s", mxb_last_error_detail());
  d.beta = 0.0f;
  d.ldc = (EN - 1) / 2 - 1;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &f.A.h, &B, &q), MXB_ERR_BAD_SHAPE);
  cr_assert(strstr(mxb_last_error_detail(), "N/2"), "%s", mxb_last_error_detail());
  d.ldc = 0;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &f.A.h, &B, &q), MXB_SUCCESS, "%s", mxb_last_error_detail());
  void *w = malloc(q);
  for (int k = 0; k < EM * EN; k++) C[k] = 7.0f;
  d.ldc = (EN - 1) / 2 - 1;
  cr_assert_eq(mxb_gemm(ctx, &d, &f.A.h, &B, C, w, q, NULL), MXB_ERR_BAD_SHAPE);
  for (int k = 0; k < EM * EN; k++) cr_assert_eq(C[k], 7.0f, "C written");
  free(w);
  d.ldc = 0;
  refused_by_grouped(ctx, &d, &f.A.h, &B, MXB_GROUPED_K_CONTIGUOUS, 0);
  mxb_context_destroy(ctx);
  efix_free(&f);
}

/* ------------------------------------------------- pre-activation (aux) */
/* aux holds p = alpha A B^T + beta C + bias rounded to c_type: the bytes C
 * gets from the same GEMM without an activation; C itself is unchanged by
 * asking for aux; a padded ld_aux leaves the gap untouched. */
Test(gemm_epilogue, pre_activation_output) {
  efix f;
  efix_make(&f, MXB_DTYPE_BF16);
  const int ld_aux = EN + 2;
  const mxb_dtype_t cts[] = {MXB_DTYPE_FP32, MXB_DTYPE_BF16};
  const int acts[] = {MXB_ACT_RELU, MXB_ACT_GELU_TANH};
  for (int ct = 0; ct < 2; ct++)
    for (int a = 0; a < 2; a++) {
      const size_t es = cts[ct] == MXB_DTYPE_FP32 ? 4 : 2, cb = (size_t)EM * EN * es;
      unsigned char cin[EM * EN * 4];
      for (int i = 0; i < EM * EN; i++) {
        if (es == 4) memcpy(cin + 4 * i, &f.cin[i], 4);
        else {
          const uint16_t h = t_bf16(f.cin[i]);
          memcpy(cin + 2 * i, &h, 2);
        }
      }
      mxb_gemm_desc_t d;
      mxb_gemm_desc_init(&d);
      d.alpha = 0.75f;
      d.beta = -0.5f;
      d.c_type = cts[ct];
      d.bias = f.bias16;
      d.bias_type = MXB_DTYPE_BF16;
      unsigned char *pre = (unsigned char *)cpu_gemm(&d, &f.A, &f.B, cin, cb); /* no activation */
      d.activation = (mxb_activation_t)acts[a];
      unsigned char *plain = (unsigned char *)cpu_gemm(&d, &f.A, &f.B, cin, cb);
      unsigned char aux[EM * (EN + 2) * 4];
      memset(aux, 0x5A, sizeof(aux));
      d.aux = aux;
      d.ld_aux = ld_aux;
      unsigned char *c = (unsigned char *)cpu_gemm(&d, &f.A, &f.B, cin, cb);
      cr_assert_eq(memcmp(c, plain, cb), 0, "c_type %d act %d: C changed by asking for aux", (int)cts[ct], acts[a]);
      for (int m = 0; m < EM; m++) {
        cr_assert_eq(memcmp(aux + (size_t)m * ld_aux * es, pre + (size_t)m * EN * es, EN * es), 0,
                     "c_type %d act %d row %d: aux is not the pre-activation", (int)cts[ct], acts[a], m);
        for (size_t b = EN * es; b < (size_t)ld_aux * es; b++)
          cr_assert_eq(aux[(size_t)m * ld_aux * es + b], 0x5A, "row %d: the gap written", m);
      }
      free(pre);
      free(plain);
      free(c);
    }
  efix_free(&f);
}

/* With a gated activation aux holds all N columns of p (gate and value). */
Test(gemm_epilogue, pre_activation_output_gated) {
  const int N = 2 * GH;
  float *xa = mxbt_gemm_input(EM, EK, 9, MXBT_IN_NORMAL, 0), *xb = mxbt_gemm_input(N, EK, 10, MXBT_IN_NORMAL, 1);
  mxbt_operand A, B;
  mxbt_operand_make(&A, MXB_FORMAT_MXFP4, MXB_SCALE_LAYOUT_LINEAR, EM, EK, xa);
  mxbt_operand_make(&B, MXB_FORMAT_MXFP4, MXB_SCALE_LAYOUT_LINEAR, N, EK, xb);
  free(xa);
  free(xb);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.alpha = 1.5f;
  static float zero[EM * 2 * GH];
  float *p = cpu_gemm(&d, &A, &B, zero, sizeof(zero));
  for (int ct = 0; ct < 2; ct++) {
    static uint16_t aux16[EM * 2 * GH];
    static float aux32[EM * 2 * GH];
    d.activation = MXB_ACT_SWIGLU;
    d.c_type = ct ? MXB_DTYPE_BF16 : MXB_DTYPE_FP32;
    d.aux = ct ? (void *)aux16 : (void *)aux32;
    static float cz[EM * GH];
    float *c = cpu_gemm(&d, &A, &B, cz, sizeof(cz));
    for (int i = 0; i < EM * N; i++) {
      if (ct) cr_assert_eq(aux16[i], t_bf16(p[i]), "bf16 aux [%d]", i);
      else cr_assert_eq(mxbt_f2u(aux32[i]), mxbt_f2u(p[i]), "fp32 aux [%d]", i);
    }
    free(c);
  }
  free(p);
  mxbt_operand_free(&A);
  mxbt_operand_free(&B);
}

/* aux: ld_aux below N, a misaligned or negative stride, a quantized C and
 * the grouped GEMM's K split are refused. */
Test(gemm_epilogue, pre_activation_refusals) {
  efix f;
  efix_make(&f, MXB_DTYPE_FP32);
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  static float aux[EM * EN + 1];
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.aux = aux;
  size_t q = 12345;
  d.ld_aux = EN - 1;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &f.A.h, &f.B.h, &q), MXB_ERR_BAD_SHAPE);
  cr_assert(strstr(mxb_last_error_detail(), "ld_aux"), "%s", mxb_last_error_detail());
  d.ld_aux = -1;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &f.A.h, &f.B.h, &q), MXB_ERR_BAD_SHAPE);
  d.ld_aux = 0;
  d.aux = (char *)aux + 2;
  cr_assert_eq(mxb_gemm_workspace_size(ctx, &d, &f.A.h, &f.B.h, &q), MXB_ERR_BAD_ALIGNMENT);
  cr_assert_eq(q, 12345);
  d.aux = aux;
  refused_by_grouped(ctx, &d, &f.A.h, &f.B.h, MXB_GROUPED_K_CONTIGUOUS, 1);
  mxb_context_destroy(ctx);
  efix_free(&f);
}

/* The grouped GEMM (M layouts) with a gated activation: each group's rows
 * of C and of aux (the pre-activations, ld_aux > N) are the dense gated
 * GEMM's of its rows of A with its expert, an empty group included; rows
 * outside every group untouched. */
Test(gemm_epilogue, gated_grouped_is_the_dense_call_per_group) {
  enum { E = 3, KG = 64, MT = 21 };
  const int N = 2 * GH;
  const int32_t offs[E + 1] = {0, 9, 9, 20}; /* group 1 empty; row 20 in no group */
  float *xa = mxbt_gemm_input(MT, KG, 11, MXBT_IN_NORMAL, 0), *xb = mxbt_gemm_input(E * N, KG, 12, MXBT_IN_NORMAL, 1);
  mxbt_operand A, B;
  mxbt_operand_make(&A, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_LINEAR, MT, KG, xa);
  mxbt_operand_make(&B, MXB_FORMAT_MXFP8_E4M3, MXB_SCALE_LAYOUT_LINEAR, E * N, KG, xb);
  free(xa);
  free(xb);
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  float bias[E * 2 * GH];
  uint64_t s = 31;
  for (int n = 0; n < E * N; n++) bias[n] = mxbt_normal(&s);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.activation = MXB_ACT_GEGLU_TANH;
  d.c_type = MXB_DTYPE_BF16;
  d.bias = bias;
  enum { LDA = 2 * GH + 3 };
  static uint16_t aux[MT * LDA];
  for (int i = 0; i < MT * LDA; i++) aux[i] = 0xBEEF;
  d.aux = aux;
  d.ld_aux = LDA;
  mxb_grouped_gemm_desc_t gd;
  mxb_grouped_gemm_desc_init(&gd);
  gd.groups = E;
  gd.index = offs;
  gd.gemm = &d;
  size_t ws = 0;
  cr_assert_eq(mxb_grouped_gemm_workspace_size(ctx, &gd, &A.h, &B.h, &ws), MXB_SUCCESS, "%s",
               mxb_last_error_detail());
  void *w = malloc(ws);
  static uint16_t c[MT * GH];
  for (int i = 0; i < MT * GH; i++) c[i] = 0xBEEF;
  cr_assert_eq(mxb_grouped_gemm(ctx, &gd, &A.h, &B.h, c, w, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
  free(w);
  const mxb_tensor_sizes_t *sa = &A.s, *sb = &B.s;
  for (int e = 0; e < E; e++) {
    const int rows = offs[e + 1] - offs[e];
    if (!rows) continue;
    mxb_tensor_t Ae = A.h, Be = B.h; /* views of the group's rows and the expert's */
    Ae.rows = rows;
    Ae.data = (char *)A.h.data + (size_t)offs[e] * sa->row_bytes;
    Ae.scales = (char *)A.h.scales + (size_t)offs[e] * (size_t)sa->scale_cols;
    Be.rows = N;
    Be.data = (char *)B.h.data + (size_t)(e * N) * sb->row_bytes;
    Be.scales = (char *)B.h.scales + (size_t)(e * N) * (size_t)sb->scale_cols;
    mxb_gemm_desc_t de = d;
    de.bias = bias + e * N;
    static uint16_t want_aux[MT * LDA];
    de.aux = want_aux;
    cr_assert_eq(mxb_gemm_workspace_size(ctx, &de, &Ae, &Be, &ws), MXB_SUCCESS, "%s", mxb_last_error_detail());
    void *we = malloc(ws ? ws : 1);
    uint16_t want[MT * GH];
    cr_assert_eq(mxb_gemm(ctx, &de, &Ae, &Be, want, we, ws, NULL), MXB_SUCCESS, "%s", mxb_last_error_detail());
    free(we);
    cr_assert_eq(memcmp(c + offs[e] * GH, want, (size_t)rows * GH * 2), 0, "group %d differs", e);
    for (int r = 0; r < rows; r++)
      cr_assert_eq(memcmp(aux + (offs[e] + r) * LDA, want_aux + r * LDA, (size_t)N * 2), 0, "group %d aux row %d", e, r);
  }
  for (int j = 0; j < GH; j++) cr_assert_eq(c[20 * GH + j], 0xBEEF, "a row in no group written");
  for (int j = 0; j < LDA; j++) cr_assert_eq(aux[20 * LDA + j], 0xBEEF, "aux of a row in no group written");
  for (int r = 0; r < MT; r++)
    for (int j = N; j < LDA; j++) cr_assert_eq(aux[r * LDA + j], 0xBEEF, "aux past N written (row %d)", r);
  mxb_context_destroy(ctx);
  mxbt_operand_free(&A);
  mxbt_operand_free(&B);
}
