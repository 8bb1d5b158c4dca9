/* Shared helpers for the Criterion suites: deterministic random inputs,
 * device buffers for the CUDA backend, and GPU detection. */
#ifndef MXB_TESTUTIL_H
#define MXB_TESTUTIL_H
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mxblas.h"

#ifdef MXB_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

/* splitmix64: reproducible test inputs, independent of libc's rand(). */
static inline uint64_t mxbt_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
/* uniform in [-1, 1) */
static inline float mxbt_uniform(uint64_t *s) {
  return (float)((double)(mxbt_next(s) >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}
/* standard normal (Box-Muller) */
static inline float mxbt_normal(uint64_t *s) {
  double u1 = ((double)(mxbt_next(s) >> 11) + 1.0) * 0x1.0p-53;
  double u2 = (double)(mxbt_next(s) >> 11) * 0x1.0p-53;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
/* wide dynamic range: sign * 2^U(lo, hi) * (1 + mantissa) */
static inline float mxbt_wide(uint64_t *s, int lo, int hi) {
  float m = 1.0f + 0.5f * (mxbt_uniform(s) + 1.0f);
  int e = lo + (int)(mxbt_next(s) % (uint64_t)(hi - lo + 1));
  float v = ldexpf(m, e);
  return (mxbt_next(s) & 1) ? -v : v;
}
static inline void mxbt_fill_normal(float *x, size_t n, uint64_t seed, float sigma) {
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++) x[i] = sigma * mxbt_normal(&s);
}

/* The formats mxb_quantize writes with its default options, enumerated from
 * the library (mxb_quantize_supported on a CPU context) in enum order;
 * returns their count. */
static inline size_t mxbt_quant_formats(mxb_format_t out[MXB_FORMAT_COUNT]) {
  mxb_context_t *ctx = NULL;
  size_t n = 0;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  for (int f = 0; f < MXB_FORMAT_COUNT; f++) {
    int ok = 0;
    cr_assert_eq(mxb_quantize_supported(ctx, NULL, (mxb_format_t)f, &ok), MXB_SUCCESS);
    if (ok) out[n++] = (mxb_format_t)f;
  }
  mxb_context_destroy(ctx);
  return n;
}
/* Those, then the MoR formats (written by mxb_mor_quantize): every format
 * that holds quantized data. */
static inline size_t mxbt_stored_formats(mxb_format_t out[MXB_FORMAT_COUNT]) {
  size_t n = mxbt_quant_formats(out);
  for (int f = 0; f < MXB_FORMAT_COUNT; f++) {
    mxb_format_info_t fi = {.struct_size = sizeof(fi)};
    cr_assert_eq(mxb_format_info((mxb_format_t)f, &fi), MXB_SUCCESS);
    if (fi.elem == MXB_ELEM_MIXED) out[n++] = (mxb_format_t)f;
  }
  return n;
}

static inline uint32_t mxbt_f2u(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float mxbt_u2f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
/* One fp32 ulp at |r| (the subnormal spacing below FLT_MIN). */
static inline double mxbt_ulp32(double r) {
  double a = fabs(r);
  if (a < 0x1p-126) return 0x1p-149;
  int e;
  frexp(a, &e);
  return ldexp(1.0, e - 24);
}

/* 1 when a CUDA device is usable (library built with CUDA and a GPU present). */
static inline int mxbt_have_gpu(void) {
  int n = 0;
  return mxb_cuda_device_count(&n) == MXB_SUCCESS && n > 0;
}
/* Skip the current test when there is no GPU, saying why. */
/* The format's name from the table ("?" for a value outside it). */
static inline const char *mxbt_format_name(mxb_format_t f) {
  mxb_format_info_t i = {.struct_size = sizeof(i)};
  return mxb_format_info(f, &i) == MXB_SUCCESS ? i.name : "?";
}

#define MXBT_REQUIRE_GPU()                                                      \
  do {                                                                          \
    if (!mxbt_have_gpu()) cr_skip_test("no CUDA device (or built without CUDA)"); \
  } while (0)

#ifdef MXB_WITH_CUDA
static inline void *mxbt_dev_alloc(size_t bytes) {
  void *p = NULL;
  cr_assert_eq(cudaMalloc(&p, bytes ? bytes : 1), cudaSuccess, "cudaMalloc(%zu)", bytes);
  return p;
}
static inline void *mxbt_dev_from_host(const void *h, size_t bytes) {
  void *p = mxbt_dev_alloc(bytes);
  if (bytes) cr_assert_eq(cudaMemcpy(p, h, bytes, cudaMemcpyHostToDevice), cudaSuccess);
  return p;
}
static inline void mxbt_to_host(void *h, const void *d, size_t bytes) {
  if (bytes) cr_assert_eq(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
}
static inline void mxbt_to_device(void *d, const void *h, size_t bytes) {
  if (bytes) cr_assert_eq(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice), cudaSuccess);
}
/* Poison device memory so unwritten outputs are caught. */
static inline void mxbt_dev_poison(void *d, size_t bytes) {
  cr_assert_eq(cudaMemset(d, 0xA5, bytes), cudaSuccess);
}
static inline void mxbt_dev_free(void *p) { cudaFree(p); }
static inline void mxbt_dev_sync(void) { cr_assert_eq(cudaDeviceSynchronize(), cudaSuccess); }
#endif

#endif
