/* GEMM epilogue of NUMERICS 7, step 3, and the optional bias and activation
 * (docs/GEMM.md), shared verbatim by the CPU reference and the CUDA kernels
 * so that both round the same way. */
#ifndef MXB_COMMON_GEMM_EPILOGUE_H
#define MXB_COMMON_GEMM_EPILOGUE_H
#include "common/activation.h"
#include "common/codec.h"

/* NaN results are written as one quiet NaN, so that output bytes do not
 * depend on which operation produced the NaN (CPUs and GPUs differ there). */
#define MXB_GEMM_NAN_BF16 ((uint16_t)(MXB_F32_QNAN >> 16))
#define MXB_GEMM_NAN_FP16 ((uint16_t)0x7E00u)

/* alpha * (tsA * tsB), in fp32, in this order. */
MXB_HD float mxb_gemm_alpha_t(float alpha, float ts_a, float ts_b) {
  float t = ts_a * ts_b;
  return alpha * t;
}

/* c = alpha_t * acc; then c + beta * c_in only when beta != 0 (C is not read
 * otherwise: pass anything as c_in). Separate roundings, no contraction. */
MXB_HD float mxb_gemm_combine(float alpha_t, float acc, float beta, float c_in) {
  float c = alpha_t * acc;
  if (beta != 0.0f) {
    float bc = beta * c_in;
    c = c + bc;
  }
  return c;
}

/* Element n of the bias vector (an mxb_dtype_t), widened exactly to fp32. */
MXB_HD float mxb_gemm_bias_at(const void *bias, int type, int64_t n) {
  if (type == MXB_DTYPE_BF16) return mxb_bf16_decode(((const uint16_t *)bias)[n]);
  if (type == MXB_DTYPE_FP16) return mxb_fp16_decode(((const uint16_t *)bias)[n]);
  return ((const float *)bias)[n];
}

/* After the combine: c + bias (only with a bias: c + 0 would turn -0 into
 * +0), then the activation; the output rounding comes last. */
MXB_HD float mxb_gemm_finish(float c, const void *bias, int bias_type, int act, int64_t n) {
  if (bias) c = c + mxb_gemm_bias_at(bias, bias_type, n);
  return mxb_activation(act, c);
}

/* Gated activations (MXB_ACT_SWIGLU ...): the activation applied to the
 * gate, or 0 for a plain activation. */
MXB_HD int mxb_gemm_gate_act(int act) {
  return act == MXB_ACT_SWIGLU ? MXB_ACT_SILU
         : act == MXB_ACT_GEGLU_ERF ? MXB_ACT_GELU_ERF
         : act == MXB_ACT_GEGLU_TANH ? MXB_ACT_GELU_TANH : 0;
}
/* act(g) * v in fp32, g and v the finished pre-activations (the combine and
 * the bias done, no activation). */
MXB_HD float mxb_gemm_gated(int act, float g, float v) { return mxb_activation(mxb_gemm_gate_act(act), g) * v; }

MXB_HD uint32_t mxb_gemm_out_f32(float c) { return c != c ? MXB_F32_QNAN : mxb_f2u(c); }
MXB_HD uint16_t mxb_gemm_out_bf16(float c) { return c != c ? MXB_GEMM_NAN_BF16 : mxb_bf16_rne(c); }
MXB_HD uint16_t mxb_gemm_out_fp16(float c) { return c != c ? MXB_GEMM_NAN_FP16 : mxb_fp16_rne(c); }

#endif
