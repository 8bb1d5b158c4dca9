/* GEMM epilogue of NUMERICS 7, step 3, shared verbatim by the CPU reference
 * and the CUDA kernels so that both round the same way. */
#ifndef MXB_COMMON_GEMM_EPILOGUE_H
#define MXB_COMMON_GEMM_EPILOGUE_H
#include "common/codec.h"

/* NaN results are written as one quiet NaN, so that output bytes do not
 * depend on which operation produced the NaN (CPUs and GPUs differ there). */
#define MXB_GEMM_NAN_BF16 ((uint16_t)(MXB_F32_QNAN >> 16))

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

MXB_HD uint32_t mxb_gemm_out_f32(float c) { return c != c ? MXB_F32_QNAN : mxb_f2u(c); }
MXB_HD uint16_t mxb_gemm_out_bf16(float c) { return c != c ? MXB_GEMM_NAN_BF16 : mxb_bf16_rne(c); }

#endif
