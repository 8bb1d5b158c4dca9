/* GEMM operands for the test suites: inputs with controlled magnitudes and
 * operands quantized by the CPU reference (host planes), optionally copied to
 * the device for the CUDA backend. */
#ifndef MXB_TEST_GEMM_OPERANDS_H
#define MXB_TEST_GEMM_OPERANDS_H
#include "testutil.h"

typedef struct mxbt_operand {
  mxb_tensor_t h;        /* host planes, quantized on the CPU */
  mxb_tensor_t d;        /* device copy after mxbt_operand_upload */
  mxb_tensor_sizes_t s;
  float amax;
} mxbt_operand;

enum { MXBT_IN_NORMAL = 0, MXBT_IN_WIDE = 1, MXBT_IN_CANCEL = 2, MXBT_IN_TINY = 3, MXBT_IN_SKEW = 4, MXBT_IN_EDGE = 5 };

/* Rows of magnitude 2^-4..2^4 (a random power of two per row) times normal
 * values. MXBT_IN_WIDE spreads every value over 2^-30..2^30; MXBT_IN_TINY
 * puts every value near 2^-110 (extreme MX scales); MXBT_IN_CANCEL makes the
 * second half of each row repeat the first (negated when negate), so exact
 * dot products vanish while sum |a b| stays large; MXBT_IN_SKEW puts values
 * near 2^66 (negate = 0) or 2^-80 (negate = 1), so products stay ordinary
 * while each operand alone is extreme. MXBT_IN_EDGE puts values near 2^124
 * (negate = 0) or 2^-125 (negate = 1): NVFP4 amaxes beyond FLT_MAX / 448
 * and below 7.9e-36. */
static inline float *mxbt_gemm_input(int64_t rows, int64_t cols, uint64_t seed, int kind, int negate) {
  float *x = malloc((size_t)(rows * cols) * sizeof(float));
  uint64_t s = seed;
  for (int64_t r = 0; r < rows; r++) {
    const float scale = ldexpf(1.0f, (int)(mxbt_next(&s) % 9) - 4);
    float *xr = x + r * cols;
    for (int64_t c = 0; c < cols; c++) {
      float v = kind == MXBT_IN_WIDE ? mxbt_wide(&s, -30, 30) : scale * mxbt_normal(&s);
      if (kind == MXBT_IN_TINY) v = ldexpf(mxbt_normal(&s), -110);
      if (kind == MXBT_IN_SKEW) v = ldexpf(mxbt_normal(&s), negate ? -80 : 66);
      if (kind == MXBT_IN_EDGE) v = ldexpf(mxbt_normal(&s), negate ? -125 : 124);
      xr[c] = v;
    }
    if (kind == MXBT_IN_CANCEL)
      for (int64_t c = cols / 2; c < cols; c++) xr[c] = negate ? -xr[c - cols / 2] : xr[c - cols / 2];
  }
  return x;
}

/* Quantize x [rows, cols] into format f on the CPU reference (fp32 is copied,
 * MoR formats go through mxb_mor_quantize with the default config). */
static inline void mxbt_operand_make(mxbt_operand *q, mxb_format_t f, mxb_scale_layout_t layout, int64_t rows,
                                     int64_t cols, const float *x) {
  memset(q, 0, sizeof(*q));
  cr_assert_eq(mxb_tensor_init(&q->h, f, rows, cols, layout), MXB_SUCCESS, "%s", mxb_last_error_detail());
  q->s.struct_size = sizeof(q->s);
  cr_assert_eq(mxb_tensor_sizes(f, rows, cols, layout, &q->s), MXB_SUCCESS);
  q->h.data = calloc(1, q->s.data_bytes);
  q->h.scales = q->s.scale_bytes ? calloc(1, q->s.scale_bytes) : NULL;
  q->h.aux = q->s.aux_bytes ? calloc(1, q->s.aux_bytes) : NULL;
  q->h.amax = q->s.amax_bytes ? &q->amax : NULL;
  mxb_context_t *ctx;
  cr_assert_eq(mxb_context_create(MXB_BACKEND_CPU, 0, &ctx), MXB_SUCCESS);
  mxb_format_info_t info = {.struct_size = sizeof(info)};
  mxb_format_info(f, &info);
  size_t ws = 0;
  void *w = NULL;
  mxb_status_t st = MXB_SUCCESS;
  if (f == MXB_FORMAT_FP32) {
    memcpy(q->h.data, x, (size_t)(rows * cols) * 4);
  } else if (info.elem == MXB_ELEM_MIXED) {
    mxb_mor_config_t cfg;
    mxb_mor_config_init(&cfg);
    cr_assert_eq(mxb_mor_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, &q->h, &ws), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    w = malloc(ws ? ws : 1);
    st = mxb_mor_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &q->h, w, ws, NULL);
  } else {
    mxb_quant_config_t cfg;
    mxb_quant_config_init(&cfg);
    cr_assert_eq(mxb_quantize_workspace_size(ctx, &cfg, MXB_DTYPE_FP32, &q->h, &ws), MXB_SUCCESS, "%s",
                 mxb_last_error_detail());
    w = malloc(ws ? ws : 1);
    st = mxb_quantize(ctx, &cfg, MXB_DTYPE_FP32, x, &q->h, w, ws, NULL);
  }
  cr_assert_eq(st, MXB_SUCCESS, "quantize %s: %s", info.name, mxb_last_error_detail());
  free(w);
  mxb_context_destroy(ctx);
}

#ifdef MXB_WITH_CUDA
/* Copy the host planes to the device (q->d). */
static inline void mxbt_operand_upload(mxbt_operand *q) {
  q->d = q->h;
  q->d.data = mxbt_dev_from_host(q->h.data, q->s.data_bytes);
  q->d.scales = q->s.scale_bytes ? mxbt_dev_from_host(q->h.scales, q->s.scale_bytes) : NULL;
  q->d.aux = q->s.aux_bytes ? mxbt_dev_from_host(q->h.aux, q->s.aux_bytes) : NULL;
  q->d.amax = q->s.amax_bytes ? (float *)mxbt_dev_from_host(&q->amax, 4) : NULL;
}
#endif

static inline void mxbt_operand_free(mxbt_operand *q) {
  free(q->h.data);
  free(q->h.scales);
  free(q->h.aux);
#ifdef MXB_WITH_CUDA
  if (q->d.data) mxbt_dev_free(q->d.data);
  if (q->d.scales) mxbt_dev_free(q->d.scales);
  if (q->d.aux) mxbt_dev_free(q->d.aux);
  if (q->d.amax) mxbt_dev_free(q->d.amax);
#endif
  memset(q, 0, sizeof(*q));
}

/* Host planes of a quantized [rows, cols] tensor for an operation to fill,
 * poisoned (0xA5) so that unwritten bytes show; amax holds up to 8 values
 * (one per group for grouped calls), each -1. */
typedef struct mxbt_planes {
  mxb_tensor_t t;
  mxb_tensor_sizes_t s;
  float amax[8];
} mxbt_planes;
static inline void mxbt_planes_make(mxbt_planes *q, mxb_format_t f, int64_t rows, int64_t cols,
                                    mxb_scale_layout_t layout) {
  memset(q, 0, sizeof(*q));
  cr_assert_eq(mxb_tensor_init(&q->t, f, rows, cols, layout), MXB_SUCCESS);
  q->s.struct_size = sizeof(q->s);
  cr_assert_eq(mxb_tensor_sizes(f, rows, cols, layout, &q->s), MXB_SUCCESS);
  q->t.data = malloc(q->s.data_bytes);
  memset(q->t.data, 0xA5, q->s.data_bytes);
  q->t.scales = q->s.scale_bytes ? malloc(q->s.scale_bytes) : NULL;
  if (q->s.scale_bytes) memset(q->t.scales, 0xA5, q->s.scale_bytes);
  q->t.aux = q->s.aux_bytes ? malloc(q->s.aux_bytes) : NULL;
  if (q->s.aux_bytes) memset(q->t.aux, 0xA5, q->s.aux_bytes);
  for (int e = 0; e < 8; e++) q->amax[e] = -1.0f;
  q->t.amax = q->amax;
}
static inline void mxbt_planes_free(mxbt_planes *q) {
  free(q->t.data);
  free(q->t.scales);
  free(q->t.aux);
}

/* A [M, K] and B [N, K] quantized from normal inputs (seeds seed, seed + 1),
 * copied to the device when upload (CUDA builds). */
typedef struct mxbt_pair {
  mxbt_operand A, B;
  float *xa, *xb;
} mxbt_pair;
static inline void mxbt_pair_make(mxbt_pair *p, mxb_format_t fa, mxb_format_t fb, mxb_scale_layout_t lb, int64_t M,
                                  int64_t N, int64_t K, uint64_t seed, int upload) {
  p->xa = mxbt_gemm_input(M, K, seed, MXBT_IN_NORMAL, 0);
  p->xb = mxbt_gemm_input(N, K, seed + 1, MXBT_IN_NORMAL, 1);
  mxbt_operand_make(&p->A, fa, MXB_SCALE_LAYOUT_LINEAR, M, K, p->xa);
  mxbt_operand_make(&p->B, fb, lb, N, K, p->xb);
#ifdef MXB_WITH_CUDA
  if (upload) {
    mxbt_operand_upload(&p->A);
    mxbt_operand_upload(&p->B);
  }
#else
  (void)upload;
#endif
}
static inline void mxbt_pair_free(mxbt_pair *p) {
  mxbt_operand_free(&p->A);
  mxbt_operand_free(&p->B);
  free(p->xa);
  free(p->xb);
}

static inline mxb_gemm_desc_t mxbt_gemm_desc(mxb_gemm_mode_t mode, mxb_dtype_t ct, float alpha, float beta,
                                             int64_t ldc) {
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  d.mode = mode;
  d.c_type = ct;
  d.alpha = alpha;
  d.beta = beta;
  d.ldc = ldc;
  return d;
}

/* docs/GEMM.md's fast-mode gamma for K products of fa x fb: fp32 sums of
 * the K products and of the K-blocks (2u each), plus the FP8 tensor cores'
 * partial sums (about 13 bits) of each promotion: 128 products for FP8 with
 * fp32 or UE8M0 block scales, 32 for the MX kernel (mx_kernel) on MX blocks. */
static inline double mxbt_fast_gamma(mxb_format_t fa, mxb_format_t fb, int64_t K, int mx_kernel) {
  mxb_format_info_t ia = {.struct_size = sizeof(ia)}, ib = {.struct_size = sizeof(ib)};
  mxb_format_info(fa, &ia);
  mxb_format_info(fb, &ib);
  const int fp8 = (ia.scale_type == MXB_SCALE_FP32 && ia.elem != MXB_ELEM_MIXED) ||
                  (ib.scale_type == MXB_SCALE_FP32 && ib.elem != MXB_ELEM_MIXED) ||
                  ia.scale_type == MXB_SCALE_UE8M0 || ib.scale_type == MXB_SCALE_UE8M0;
  int L = ia.block_cols > ib.block_cols ? ia.block_cols : ib.block_cols;
  if (L <= 1) L = 32;
  const double nb = (double)((K + L - 1) / L);
  return ((double)K + nb + 4) * 0x1p-23 + (fp8 ? 128 * 0x1p-13 : mx_kernel ? 32 * 0x1p-13 : 0.0);
}

#endif
