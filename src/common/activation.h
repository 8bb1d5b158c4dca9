/* GEMM epilogue activations in plain fp32 arithmetic, shared verbatim by the
 * CPU reference and the CUDA kernels. Only IEEE +, -, *, /, fmaf (each
 * rounded once; no contraction besides the written fmaf: the build uses
 * -ffp-contract=off and -fmad=false) and bit manipulation, in a fixed
 * order: no libm, so every backend returns the same bits. SiLU and the tanh
 * GELU are branch-free (selects only), so that the lanes of a GPU warp, whose
 * inputs differ in sign, run one path. Accuracy against the real functions:
 * docs/GEMM.md. */
#ifndef MXB_COMMON_ACTIVATION_H
#define MXB_COMMON_ACTIVATION_H
#include "common/codec.h"

/* 2^n as fp32, n in [-126, 127]. */
MXB_HD float mxb_act_pow2(int n) { return mxb_u2f((uint32_t)(n + 127) << 23); }

/* v * 2^k for k in [-226, 128], rounded once (in two steps where the result
 * may be subnormal: the first product is exact). */
MXB_HD float mxb_act_scale2(float v, int k) {
  if (k > 127) return (v * mxb_act_pow2(127)) * mxb_act_pow2(k - 127);
  if (k < -126) return (v * mxb_act_pow2(k + 100)) * mxb_act_pow2(-100);
  return v * mxb_act_pow2(k);
}

/* c[0] v^(n-1) + c[1] v^(n-2) + ... + c[n-1] by Horner's rule in fmaf (n a
 * constant at every call: unrolled, the coefficients become immediates). */
MXB_HD float mxb_act_horner(const float *c, int n, float v) {
  float p = c[0];
#ifdef __CUDA_ARCH__
#pragma unroll
#endif
  for (int i = 1; i < n; i++) p = fmaf(p, v, c[i]);
  return p;
}

/* e^x as y * 2^k, y in about [0.7, 1.42], for x in [-150, 89] (any x gives
 * finite values): x = k ln2 + r with k the nearest integer to x log2(e),
 * read from the bits of the fmaf that rounds it (k + 1.5 * 2^23 has an ulp
 * of 1), r reduced with ln2 in two parts (the first product and difference
 * exact), e^r = 1 + r (1 + r p(r)) with p of degree 5 on |r| <= ln2 / 2, by
 * Horner's rule in fmaf. Callers scale after their own products, so that a
 * tiny result is rounded only once. */
MXB_HD float mxb_act_exp_parts(float x, int *k) {
  const float MAGIC = 12582912.0f; /* 1.5 * 2^23 */
  const float t = fmaf(x, 1.44269502e+00f, MAGIC);
  const float kf = t - MAGIC;
  *k = (int)mxb_f2u(t) - (int)mxb_f2u(MAGIC);
  float r = fmaf(kf, -6.93359375e-01f, x); /* exact: kf * ln2_hi has 9 + 8 bits */
  r = fmaf(kf, 2.12194440e-04f, r);
  const float c[] = {1.98756915e-04f, 1.39819995e-03f, 8.33345190e-03f, 4.16657959e-02f,
                     1.66666655e-01f, 5.00000012e-01f, 1.0f,            1.0f};
  return mxb_act_horner(c, 8, r);
}

/* e^x. */
MXB_HD float mxb_act_exp(float x) {
  if (x != x) return x;
  if (x > 89.0f) return mxb_u2f(MXB_F32_INF);
  if (x < -104.0f) return 0.0f; /* below half the smallest subnormal */
  int k;
  const float y = mxb_act_exp_parts(x, &k);
  return mxb_act_scale2(y, k);
}

/* x * sigmoid(z) = x / (1 + e^-z) for the activations below, where z < 0
 * only with x < 0 and |x| <= max(15, -z). Branch-free: with a = -|z|
 * (clamped at -150) and e^a = y 2^k (k in [-217, 0]),
 *   z >= 0:  x / (1 + e^a),
 *   z <  0:  x e^z / (1 + e^z) = (x y / (1 + e^a)) 2^k,
 * so that nothing overflows while the result is representable, and the 2^k
 * of z < 0 is applied last (in two steps below 2^-126, the first exact), so
 * that a subnormal result is rounded once. 1 + e^a takes 2^max(k, -126) for
 * 2^k: below that it is 1 either way. z < -128 gives -0 (|x e^z| < 2^-151).
 * NaN z gives a number; the callers select x for NaN x. */
MXB_HD float mxb_act_x_sigmoid(float x, float z) {
  const uint32_t neg = mxb_f2u(z) >> 31;
  float a = mxb_u2f(mxb_f2u(z) | 0x80000000u);
  a = a < -150.0f ? -150.0f : a;
  int k;
  const float y = mxb_act_exp_parts(a, &k);
  const float d = 1.0f + y * mxb_act_pow2(k < -126 ? -126 : k);
  const float q = (neg ? x * y : x) / d;
  const int low = neg && k < -126;
  const float r = (q * mxb_act_pow2(neg ? (low ? k + 100 : k) : 0)) * mxb_act_pow2(low ? -100 : 0);
  return z < -128.0f ? -0.0f : r;
}

/* Phi(-t) e^(t^2/2) * t for t >= 1, as a polynomial in s = 1/t (given)
 * about the middle of each range (fitted to the real function; relative error below
 * 1e-7 in fp32 evaluation). */
MXB_HD float mxb_act_mills(float t, float s) {
  if (t < 3.0f) {
    const float c[] = {9.856779128e-02f,  -5.388277397e-02f, -1.557573210e-02f, 4.624790698e-02f,
                       -6.822802126e-02f, 7.840485126e-02f,  -6.626914442e-02f, 2.585187182e-02f,
                       4.771352559e-02f,  -1.583409458e-01f, 3.086709976e-01f};
    return mxb_act_horner(c, 11, s - 6.66666687e-01f);
  }
  const float c[] = {-9.361301661e-01f, 1.959946513e+00f,  -7.965193391e-01f, -1.863425523e-01f,
                     4.264343083e-01f,  -2.070869058e-01f, -1.297633499e-01f, 3.845965266e-01f};
  return mxb_act_horner(c, 8, s - 2.00000003e-01f);
}

/* Phi(-t) = mills(t) / t * e^(-t^2/2) for 1 <= t < 15, as v * 2^k (so that a
 * caller's product with a tiny tail is rounded once). t^2/2 is split so that
 * its large part is exact: th keeps 12 significant bits (th^2 is exact), and
 * e^(-t^2/2) = e^(-th^2/2) * e^(-(t - th)(t + th)/2). */
MXB_HD float mxb_act_phi_tail(float t, int *k) {
  const float s = 1.0f / t;
  const float th = mxb_u2f(mxb_f2u(t) & 0xFFFFF000u);
  const float big = th * th * -0.5f;
  const float small = ((t - th) * (t + th)) * -0.5f;
  /* e^small, |small| < 0.06: its Taylor polynomial to degree 4 (relative
   * error below 6e-9) */
  const float ce[] = {4.16666679e-02f, 1.66666672e-01f, 0.5f, 1.0f, 1.0f};
  const float es = mxb_act_horner(ce, 5, small);
  float m = mxb_act_mills(t, s) / t;
  m = m * es;
  return m * mxb_act_exp_parts(big, k);
}

/* GELU, erf form: x Phi(x) = x (1 + erf(x / sqrt 2)) / 2. Phi by an odd
 * polynomial near 0 and by the tail Phi(-|x|) beyond |x| = 1 (1 - tail for
 * x > 0), never by 1 + erf, which cancels for negative x. */
MXB_HD float mxb_act_gelu_erf(float x) {
  if (x != x) return x;
  if (x >= 15.0f) return x;        /* Phi(x) = 1 in fp32 */
  if (x <= -15.0f) return -0.0f;   /* x Phi(x) underflows (the limit at -Inf) */
  const float t = x < 0.0f ? -x : x;
  float phi;
  if (t <= 1.0f) {
    const float c[] = {5.373182148e-07f, -9.273461728e-06f, 1.153181729e-04f, -1.187286340e-03f,
                       9.973549284e-03f, -6.649038196e-02f, 3.989422917e-01f};
    phi = x * mxb_act_horner(c, 7, x * x);
    phi = phi + 0.5f;
  } else {
    int k;
    const float tail = mxb_act_phi_tail(t, &k);
    if (x < 0.0f) return mxb_act_scale2(x * tail, k);
    phi = 1.0f - mxb_act_scale2(tail, k);
  }
  return x * phi;
}

/* GELU, tanh form: x (1 + tanh(u)) / 2 with u = sqrt(2/pi) (x + 0.044715 x^3),
 * evaluated as x sigmoid(2u) (the same function, without the cancellation of
 * 1 + tanh for negative x). Large |x| need no case of their own: x^3 = +-Inf
 * gives x or -0, as the limits. */
MXB_HD float mxb_act_gelu_tanh(float x) {
  float x3 = x * x;
  x3 = x3 * x;
  const float w = fmaf(4.471499845e-02f, x3, x);
  const float r = mxb_act_x_sigmoid(x, 1.595769122e+00f * w); /* 2 sqrt(2/pi) */
  return x != x ? x : r;
}

/* SiLU: x sigmoid(x). */
MXB_HD float mxb_act_silu(float x) {
  const float r = mxb_act_x_sigmoid(x, x);
  return x != x ? x : r;
}

/* ReLU: max(x, 0), with ReLU(-0) = +0 and NaN kept. */
MXB_HD float mxb_act_relu(float x) { return x > 0.0f || x != x ? x : 0.0f; }

/* Activation `act` (an mxb_activation_t) of x. */
MXB_HD float mxb_activation(int act, float x) {
  switch (act) {
    case MXB_ACT_RELU: return mxb_act_relu(x);
    case MXB_ACT_RELU2: {
      const float r = mxb_act_relu(x);
      return r * r;
    }
    case MXB_ACT_GELU_ERF: return mxb_act_gelu_erf(x);
    case MXB_ACT_GELU_TANH: return mxb_act_gelu_tanh(x);
    case MXB_ACT_SILU: return mxb_act_silu(x);
    default: return x;
  }
}

#endif
