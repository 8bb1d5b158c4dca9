/* The GEMM epilogue's activations for CPUs with an FMA unit. The shared
 * code (common/activation.h) calls fmaf, for which x86-64's baseline
 * instruction set has no instruction: a default build calls libm's fmaf
 * (correctly rounded, a function call each, about three times slower than
 * the activations without it). This file is compiled with -mfma on x86-64
 * (Makefile), so the same code inlines the instruction here: the same bits,
 * since fmaf rounds once either way (tests/test_gemm_epilogue.c compares
 * the two). gemm.c calls it only where the CPU reports FMA; built without
 * -mfma (other compilers' builds) it is the shared code as is. */
#include "common/gemm_epilogue.h"
#include "cpu/gemm.h"

float mxb_cpu_activation_fma(int act, float x) { return mxb_activation(act, x); }
float mxb_cpu_gated_fma(int act, float g, float v) { return mxb_gemm_gated(act, g, v); }
