/* Bit-identity harness for the CUDA suites: run one operation on a CPU and
 * a CUDA context from the same host input and compare every output byte.
 * Every test calls MXBT_REQUIRE_GPU() first, so CI (no GPU) skips them. */
#ifndef MXB_TESTS_CUDA_COMPARE_H
#define MXB_TESTS_CUDA_COMPARE_H
#include "testutil.h"

#include <stdio.h>

#ifdef MXB_WITH_CUDA
typedef enum { CMP_NORMAL, CMP_WIDE, CMP_SPECIAL, CMP_KINDS } cmp_input;
static const char *const cmp_input_name[CMP_KINDS] = {"normal", "wide", "special"};

/* fp32 values of one kind: standard normal; sign * 2^U(-140, 120); or a mix
 * of normal values with ±0, NaN, ±Inf, fp32 subnormals and huge values. */
static inline void cmp_fill(float *x, size_t n, cmp_input kind, uint64_t seed) {
  uint64_t s = seed;
  static const uint32_t specials[] = {0x00000000u, 0x80000000u, 0x7FC00000u, 0xFFC00001u, 0x7F800000u,
                                      0xFF800000u, 0x00000001u, 0x807FFFFFu, 0x7F7FFFFFu, 0xFF000000u,
                                      0x00800000u, 0x43E00000u, 0x3E800000u};
  for (size_t i = 0; i < n; i++) {
    if (kind == CMP_NORMAL) {
      x[i] = mxbt_normal(&s);
    } else if (kind == CMP_WIDE) {
      x[i] = mxbt_wide(&s, -140, 120);
    } else {
      uint64_t r = mxbt_next(&s);
      x[i] = (r % 23 == 0) ? mxbt_u2f(specials[(r >> 8) % (sizeof(specials) / 4)]) : mxbt_normal(&s);
    }
  }
}

/* The same values in the requested input type (bf16: the top halves; fp16:
 * RNE from fp32 via the compiler's _Float16 where normal/special, raw
 * random bit patterns otherwise, covering every fp16 class). */
static inline void *cmp_convert(const float *x, size_t n, mxb_dtype_t t, uint64_t seed) {
  size_t es = mxb_dtype_size(t);
  size_t nb = n * es;
  void *h = malloc(nb > 0 ? nb : 1);
  uint64_t s = seed;
  for (size_t i = 0; i < n; i++) {
    if (t == MXB_DTYPE_FP32) {
      ((float *)h)[i] = x[i];
    } else if (t == MXB_DTYPE_BF16) {
      ((uint16_t *)h)[i] = (uint16_t)(mxbt_f2u(x[i]) >> 16);
    } else {
      uint16_t b = (uint16_t)mxbt_next(&s);
      if (mxbt_next(&s) & 1) { /* a scaled-down copy of x, rounded by truncation: any pattern is valid */
        uint32_t u = mxbt_f2u(x[i]);
        uint32_t e = (u >> 23) & 0xFF;
        int ee = (int)e - 127 + 15;
        b = (uint16_t)(((u >> 16) & 0x8000u) | (ee > 0 && ee < 31 ? ((uint32_t)ee << 10) | ((u >> 13) & 0x3FFu) : 0u));
      }
      ((uint16_t *)h)[i] = b;
    }
  }
  return h;
}

typedef struct cmp_ctx {
  mxb_context_t *cpu, *gpu;
} cmp_ctx;

static inline cmp_ctx cmp_open(void) {
  cmp_ctx c;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &c.cpu), MXB_SUCCESS);
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CUDA, 0, &c.gpu), MXB_SUCCESS, "%s", mxb_last_error_detail());
  return c;
}
static inline void cmp_close(cmp_ctx *c) {
  mxb_context_destroy(c->cpu);
  mxb_context_destroy(c->gpu);
}

/* Host and device planes of one quantized tensor, poisoned. */
typedef struct cmp_tensor {
  mxb_tensor_t h, d;
  mxb_tensor_sizes_t sz;
} cmp_tensor;

static inline void cmp_tensor_alloc(cmp_tensor *t, mxb_format_t f, int64_t rows, int64_t cols, mxb_scale_layout_t layout) {
  cr_assert_eq(mxb_tensor_init(&t->h, f, rows, cols, layout), MXB_SUCCESS, "%s", mxb_last_error_detail());
  t->sz.struct_size = sizeof(t->sz);
  cr_assert_eq(mxb_tensor_sizes(f, rows, cols, layout, &t->sz), MXB_SUCCESS);
  t->d = t->h;
  /* room for an amax per row (MXB_TENSOR_ROW_AMAX) */
  size_t b[4] = {t->sz.data_bytes, t->sz.scale_bytes, t->sz.aux_bytes, t->sz.amax_bytes * (size_t)(rows > 0 ? rows : 1)};
  void *hp[4], *dp[4];
  for (int k = 0; k < 4; k++) {
    hp[k] = b[k] ? malloc(b[k]) : NULL;
    if (b[k]) memset(hp[k], 0xA5, b[k]);
    dp[k] = NULL;
    if (b[k]) {
      dp[k] = mxbt_dev_alloc(b[k]);
      mxbt_dev_poison(dp[k], b[k]);
    }
  }
  t->h.data = hp[0]; t->h.scales = hp[1]; t->h.aux = hp[2]; t->h.amax = (float *)hp[3];
  t->d.data = dp[0]; t->d.scales = dp[1]; t->d.aux = dp[2]; t->d.amax = (float *)dp[3];
}
static inline void cmp_tensor_free(cmp_tensor *t) {
  free(t->h.data); free(t->h.scales); free(t->h.aux); free(t->h.amax);
  mxbt_dev_free(t->d.data); mxbt_dev_free(t->d.scales); mxbt_dev_free(t->d.aux); mxbt_dev_free(t->d.amax);
}

/* Compare n bytes of host plane a with device plane d; report the first difference. */
static inline void cmp_plane(const void *a, const void *d, size_t n, const char *plane, const char *what) {
  if (!n) return;
  unsigned char *g = malloc(n);
  mxbt_to_host(g, d, n);
  const unsigned char *c = a;
  size_t diff = 0, first = n;
  for (size_t i = 0; i < n; i++)
    if (c[i] != g[i]) { diff++; if (first == n) first = i; }
  if (diff)
    cr_assert_fail("%s: %s differs in %zu of %zu bytes, first at byte %zu (cpu 0x%02x, cuda 0x%02x)", what, plane, diff, n,
            first, c[first], g[first]);
  free(g);
}

static inline void cmp_tensor_check(const cmp_tensor *t, const char *what) {
  cmp_plane(t->h.data, t->d.data, t->sz.data_bytes, "data", what);
  cmp_plane(t->h.scales, t->d.scales, t->sz.scale_bytes, "scales", what);
  cmp_plane(t->h.aux, t->d.aux, t->sz.aux_bytes, "aux", what);
  cmp_plane(t->h.amax, t->d.amax, t->sz.amax_bytes * (size_t)((t->h.flags & MXB_TENSOR_ROW_AMAX) ? t->h.rows : 1),
            "amax", what);
  cr_assert_eq(t->h.flags, t->d.flags, "%s: flags cpu 0x%x cuda 0x%x", what, t->h.flags, t->d.flags);
}
#endif
#endif
