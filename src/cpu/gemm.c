/* CPU reference GEMM, exact mode of NUMERICS 7 (it is also the CPU's fast
 * mode). Per output element: K-blocks of length L in ascending order; per
 * block a binary64 sum of products of decoded values in ascending k, rounded
 * once to fp32; fp32 accumulation from +0.0; then the shared epilogue.
 *
 * Speed without changing a bit:
 *  - each operand row is decoded once per panel into contiguous binary64;
 *  - a 4x4 tile of outputs is computed together, every output still summed
 *    in exactly the specified order;
 *  - a block whose decoded values are all small integers times one power of
 *    two S (|v/S| <= 2047) has an exact binary64 sum (every product and
 *    partial sum is an integer multiple of S_a*S_b below 2^53), so an integer
 *    sum times S_a*S_b gives the same p. Which blocks qualify is decided from
 *    the decoded values themselves, not from the format: NVFP4, MXFP4/6,
 *    MXINT8 and MX9/6/4 blocks always do; E4M3/E5M2/bf16 blocks when they
 *    happen to fit; anything else, and non-finite blocks, take the binary64
 *    loop. */
#include "cpu/gemm.h"

#include <math.h>
#include <string.h>

#include "common/gemm_epilogue.h"
#include "core/gemm.h"
#include "cpu/decode.h"
#include "cpu/pool.h"

enum {
  MR = 4,          /* output tile: rows of A */
  NR = 4,          /* output tile: rows of B */
  NB = 128,        /* rows of B decoded per panel */
  MAX_MANT = 2047  /* |integer image| bound: 128 * 2047^2 < 2^31 */
};
_Static_assert((int64_t)MXB_GEMM_MAX_K_BLOCK * MAX_MANT * MAX_MANT < INT32_MAX,
               "integer block sums must fit in int32");

/* One decoded row: values v[K], and per K-block either S (a power of two)
 * with the integer image m = v / S, or S = 0 when the block does not fit.
 * Rows of B keep their values interleaved by groups of NR (v[k * NR + c]) so
 * that one tile's NR products per k are adjacent and vectorize. */
typedef struct {
  double *v;
  double *s;
  int16_t *m;
} row_image;

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Per row: the K-block scales and integer images. */
static size_t image_bytes(int64_t K, int L) {
  size_t nkb = (size_t)((K + L - 1) / L);
  return align64(nkb * 8) + align64((size_t)K * 2);
}

static int64_t b_slots(int64_t N) { return ((N < NB ? N : NB) + NR - 1) / NR * NR; }

/* Threads for an M x N x K product: row groups of MR rows of A are the
 * tasks (the same for any thread count). */
static int gemm_threads(int64_t M, int64_t N, int64_t K) {
  return mxb_cpu_plan((M + MR - 1) / MR, (double)M * (double)N * (double)K);
}

/* Workspace: values and images of NB rows of B (interleaved), shared; then
 * per thread MR rows of A, one row of decode scratch and their images. */
static size_t shared_bytes(int64_t N, int64_t K, int L) {
  return (size_t)b_slots(N) * (align64((size_t)K * 8) + image_bytes(K, L));
}
static size_t thread_bytes(int64_t K, int L) { return (MR + 1) * align64((size_t)K * 8) + MR * image_bytes(K, L); }

size_t mxb_cpu_gemm_workspace_for(int64_t N, int64_t K, int L, int threads) {
  return shared_bytes(N, K, L) + (size_t)threads * thread_bytes(K, L) + 64;
}

size_t mxb_cpu_gemm_workspace_size(int64_t M, int64_t N, int64_t K, int L) {
  return mxb_cpu_gemm_workspace_for(N, K, L, gemm_threads(M, N, K));
}

/* The most threads (at most the count the shape would take) whose scratch
 * fits max_bytes (0: no limit); 0 when not even one thread's does. Every
 * count gives the same bits (tasks do not depend on it). */
int mxb_cpu_gemm_threads_within(int64_t M, int64_t N, int64_t K, int L, size_t max_bytes) {
  int t = gemm_threads(M, N, K);
  while (t > 0 && max_bytes && mxb_cpu_gemm_workspace_for(N, K, L, t) > max_bytes) t--;
  return t;
}

/* Exponent of the lowest set bit of a finite non-zero binary64 (x = odd * 2^e). */
static int low_bit_exp(double x) {
  uint64_t b;
  memcpy(&b, &x, 8);
  int e = (int)((b >> 52) & 0x7FF);
  uint64_t mant = b & ((UINT64_C(1) << 52) - 1);
  if (e) mant |= UINT64_C(1) << 52;
  else e = 1;
  int tz = 0;
#if defined(__GNUC__)
  tz = __builtin_ctzll(mant);
#else
  while (!(mant & 1)) { mant >>= 1; tz++; }
#endif
  return e - 1075 + tz;
}

/* Decodes row `row` of t into scratch (columns outside [kw0, kw1) as +0),
 * builds its integer image, and stores the values at r->v with stride
 * `stride`. */
static void decode_image(const mxb_tensor_t *t, int64_t row, row_image *r, int stride, double *scratch, int64_t K,
                         int L, int64_t kw0, int64_t kw1) {
  mxb_cpu_decode_row_f64(t, row, scratch);
  for (int64_t k = 0; k < kw0; k++) scratch[k] = 0.0;
  for (int64_t k = kw1; k < K; k++) scratch[k] = 0.0;
  for (int64_t k = 0; k < K; k++) r->v[k * stride] = scratch[k];
  for (int64_t k0 = 0, kb = 0; k0 < K; k0 += L, kb++) {
    int64_t len = K - k0 < L ? K - k0 : L;
    const double *v = scratch + k0;
    int lo = INT32_MAX, ok = 1;
    double amax = 0.0;
    for (int64_t k = 0; k < len && ok; k++) {
      if (!isfinite(v[k])) ok = 0;
      else if (v[k] != 0.0) {
        int e = low_bit_exp(v[k]);
        if (e < lo) lo = e;
        if (fabs(v[k]) > amax) amax = fabs(v[k]);
      }
    }
    if (lo == INT32_MAX) lo = 0; /* all zeros */
    /* |S| within 2^+-500 keeps S_a*S_b*sum far from under/overflow. */
    if (ok && (lo < -500 || lo > 500 || amax > ldexp((double)MAX_MANT, lo))) ok = 0;
    r->s[kb] = ok ? ldexp(1.0, lo) : 0.0;
    if (ok)
      for (int64_t k = 0; k < len; k++) r->m[k0 + k] = (int16_t)ldexp(v[k], -lo);
  }
}

/* Integer dot product; fixed-length chunks let the compiler vectorize it
 * (integer sums may be reassociated, the result is the same). */
static int32_t int_dot(const int16_t *x, const int16_t *y, int64_t len) {
  int32_t sum = 0;
  int64_t k = 0;
  for (; k + 16 <= len; k += 16) {
    int32_t part = 0;
    for (int i = 0; i < 16; i++) part += (int32_t)x[k + i] * (int32_t)y[k + i];
    sum += part;
  }
  for (; k < len; k++) sum += (int32_t)x[k] * (int32_t)y[k];
  return sum;
}

/* acc[r][c] for one MR x NR tile over the K-blocks [kb0, kb1) (the others
 * would add +0: their values are +0 outside the window, and a block sum of
 * zeros is +0). */
static void tile(const row_image *a[MR], const row_image *b[NR], const double *bv, int64_t K, int L,
                 int int_sums, int64_t kb0, int64_t kb1, float acc[MR][NR]) {
  for (int r = 0; r < MR; r++)
    for (int c = 0; c < NR; c++) acc[r][c] = 0.0f;
  for (int64_t kb = kb0, k0 = kb0 * L; kb < kb1; k0 += L, kb++) {
    int64_t len = K - k0 < L ? K - k0 : L;
    int integer = int_sums;
    for (int r = 0; r < MR; r++) integer &= a[r]->s[kb] != 0.0;
    for (int c = 0; c < NR; c++) integer &= b[c]->s[kb] != 0.0;
    float p[MR][NR];
    if (integer) {
      for (int r = 0; r < MR; r++)
        for (int c = 0; c < NR; c++) {
          int32_t sum = int_dot(a[r]->m + k0, b[c]->m + k0, len);
          p[r][c] = (float)((double)sum * (a[r]->s[kb] * b[c]->s[kb]));
        }
    } else {
      double s[MR][NR] = {{0.0}};
      for (int64_t k = k0; k < k0 + len; k++)
        for (int r = 0; r < MR; r++) {
          double x = a[r]->v[k];
          for (int c = 0; c < NR; c++) s[r][c] += x * bv[k * NR + c];
        }
      for (int r = 0; r < MR; r++)
        for (int c = 0; c < NR; c++) p[r][c] = (float)s[r][c];
    }
    for (int r = 0; r < MR; r++)
      for (int c = 0; c < NR; c++) acc[r][c] += p[r][c];
  }
}

/* v rounded to c_type into element i of an output plane. */
static void put(mxb_dtype_t c_type, void *plane, int64_t i, float v) {
  if (c_type == MXB_DTYPE_FP32) {
    const uint32_t u = mxb_gemm_out_f32(v);
    memcpy((float *)plane + i, &u, 4);
  } else {
    ((uint16_t *)plane)[i] = c_type == MXB_DTYPE_BF16 ? mxb_gemm_out_bf16(v) : mxb_gemm_out_fp16(v);
  }
}

/* The activations by activation_fma.c where the CPU has FMA instructions
 * (their fmaf inlined, not libm's: the same bits, faster). */
#if defined(__x86_64__) && !defined(__FMA__) && (defined(__GNUC__) || defined(__clang__))
#define CPU_FMA() __builtin_cpu_supports("fma")
#else
#define CPU_FMA() 0
#endif
static float activation(int act, float x) {
  return act > MXB_ACT_RELU2 && CPU_FMA() ? mxb_cpu_activation_fma(act, x) : mxb_activation(act, x);
}
static float gated(int act, float g, float v) {
  return CPU_FMA() ? mxb_cpu_gated_fma(act, g, v) : mxb_gemm_gated(act, g, v);
}

/* Output element (m, n): the combine, bias, the pre-activation to aux when
 * asked, the activation, rounding. */
static void store(const mxb_gemm_desc_t *desc, float alpha_t, float acc, void *C, int64_t ldc, int64_t m, int64_t n) {
  const int64_t idx = m * ldc + n;
  float c_in = 0.0f;
  if (desc->beta != 0.0f) {
    if (desc->c_type == MXB_DTYPE_FP32) c_in = ((const float *)C)[idx];
    else c_in = desc->c_type == MXB_DTYPE_BF16 ? mxb_bf16_decode(((const uint16_t *)C)[idx])
                                               : mxb_fp16_decode(((const uint16_t *)C)[idx]);
  }
  const float t = mxb_gemm_finish(mxb_gemm_combine(alpha_t, acc, desc->beta, c_in), desc->bias, desc->bias_type,
                                  MXB_ACT_NONE, n);
  if (desc->aux) put(desc->c_type, desc->aux, m * desc->ld_aux + n, t);
  put(desc->c_type, C, idx, activation(desc->activation, t));
}

typedef struct gctx {
  const mxb_gemm_desc_t *desc;
  const mxb_tensor_t *A, *B;
  void *C;
  int64_t ldc, M, K, j0, nb;
  int64_t a0, b0;  /* first row of A and of B the product reads */
  int64_t kw0, kw1; /* the columns of A and B in the product */
  int L, int_sums;
  float alpha_t;
  row_image *bp;        /* [b_slots(N)] */
  const double *bvals;  /* B panel values, interleaved */
  unsigned char *slots; /* per thread: thread_bytes(K, L) */
} gctx;

/* alpha_t of C[m, n] (m, n within this product): the one of the call, or
 * with an operand's amax per row (MXB_TENSOR_ROW_AMAX) its rows' own. */
static float alpha_at(const gctx *g, int64_t m, int64_t n) {
  if (!((g->A->flags | g->B->flags) & MXB_TENSOR_ROW_AMAX)) return g->alpha_t;
  return mxb_gemm_alpha_t(g->desc->alpha, (float)mxb_cpu_tensor_scale(g->A, g->a0 + m),
                          (float)mxb_cpu_tensor_scale(g->B, g->b0 + n));
}

typedef struct tslot {
  row_image ap[MR];
  double *scratch;
} tslot;

static tslot slot_of(const gctx *g, int slot) {
  const size_t vb = align64((size_t)g->K * 8), ib = image_bytes(g->K, g->L), nkb = (size_t)((g->K + g->L - 1) / g->L);
  unsigned char *base = g->slots + (size_t)slot * thread_bytes(g->K, g->L), *images = base + (MR + 1) * vb;
  tslot t;
  for (int i = 0; i < MR; i++) {
    t.ap[i].v = (double *)(base + (size_t)i * vb);
    t.ap[i].s = (double *)(images + (size_t)i * ib);
    t.ap[i].m = (int16_t *)(images + (size_t)i * ib + align64(nkb * 8));
  }
  t.scratch = (double *)(base + MR * vb);
  return t;
}

/* Task: decode the NR rows of group `task` of the current B panel; the last
 * group is padded by repeating its first row (computed, never stored). */
static void decode_b_group(void *arg, int64_t task, int slot) {
  const gctx *g = arg;
  tslot t = slot_of(g, slot);
  for (int64_t j = task * NR; j < (task + 1) * NR; j++)
    decode_image(g->B, g->b0 + g->j0 + (j < g->nb ? j : j / NR * NR), &g->bp[j], NR, t.scratch, g->K, g->L, g->kw0,
                 g->kw1);
}

/* Task: rows [task * MR, +MR) of C over the current B panel. */
static void row_group(void *arg, int64_t task, int slot) {
  const gctx *g = arg;
  tslot t = slot_of(g, slot);
  const int64_t i0 = task * MR, mr = g->M - i0 < MR ? g->M - i0 : MR;
  for (int64_t i = 0; i < mr; i++)
    decode_image(g->A, g->a0 + i0 + i, &t.ap[i], 1, t.scratch, g->K, g->L, g->kw0, g->kw1);
  const row_image *a[MR];
  for (int r = 0; r < MR; r++) a[r] = &t.ap[r < mr ? r : 0]; /* edge rows repeat row 0, not stored */
  for (int64_t jt = 0; jt < g->nb; jt += NR) {
    int64_t nr = g->nb - jt < NR ? g->nb - jt : NR;
    const row_image *b[NR];
    for (int c = 0; c < NR; c++) b[c] = &g->bp[jt + c];
    float acc[MR][NR];
    tile(a, b, g->bvals + jt * g->K, g->K, g->L, g->int_sums, g->kw0 / g->L, (g->kw1 + g->L - 1) / g->L, acc);
    for (int64_t r = 0; r < mr; r++)
      for (int64_t c = 0; c < nr; c++)
        store(g->desc, alpha_at(g, i0 + r, g->j0 + jt + c), acc[r][c], g->C, g->ldc, i0 + r, g->j0 + jt + c);
  }
}

void mxb_cpu_gemm_rows(const mxb_gemm_desc_t *desc, const mxb_tensor_t *A, int64_t a0, int64_t M,
                       const mxb_tensor_t *B, int64_t b0, int64_t N, void *C, int64_t ldc, int L, int threads,
                       void *workspace, int int_sums) {
  mxb_cpu_gemm_rows_k(desc, A, a0, M, B, b0, N, C, ldc, L, threads, workspace, int_sums, 0, A->cols);
}

void mxb_cpu_gemm_rows_k(const mxb_gemm_desc_t *desc, const mxb_tensor_t *A, int64_t a0, int64_t M,
                         const mxb_tensor_t *B, int64_t b0, int64_t N, void *C, int64_t ldc, int L, int threads,
                         void *workspace, int int_sums, int64_t k0, int64_t k1) {
  const int64_t K = A->cols;
  if (M <= 0 || N <= 0) return;
  const size_t vb = align64((size_t)K * 8), ib = image_bytes(K, L), nkb = (size_t)((K + L - 1) / L);
  unsigned char *ws = (unsigned char *)workspace;
  ws += (64 - (uintptr_t)ws % 64) % 64;
  const int64_t nbs = b_slots(N);
  const int nt = threads > 0 ? threads : gemm_threads(M, N, K);
  row_image bp[NB];
  double *bvals = (double *)ws;
  unsigned char *images = ws + (size_t)nbs * vb;
  for (int64_t i = 0; i < nbs; i++) {
    bp[i].v = bvals + (i / NR) * NR * K + i % NR;
    bp[i].s = (double *)(images + (size_t)i * ib);
    bp[i].m = (int16_t *)(images + (size_t)i * ib + align64(nkb * 8));
  }
  gctx g = {desc, A, B, C, ldc, M, K, 0, 0, a0, b0, k0, k1, L, int_sums && L <= MXB_GEMM_MAX_K_BLOCK,
            mxb_gemm_alpha_t(desc->alpha, (float)mxb_cpu_tensor_scale(A, a0), (float)mxb_cpu_tensor_scale(B, b0)),
            bp, bvals, ws + shared_bytes(N, K, L)};
  for (int64_t j0 = 0; j0 < N; j0 += NB) {
    g.j0 = j0;
    g.nb = N - j0 < NB ? N - j0 : NB;
    /* every output is written by one task, in the order of the serial loop */
    mxb_cpu_run(nt, (g.nb + NR - 1) / NR, decode_b_group, &g);
    mxb_cpu_run(nt, (M + MR - 1) / MR, row_group, &g);
  }
}

void mxb_cpu_gemm(const mxb_gemm_desc_t *desc, const mxb_tensor_t *A, const mxb_tensor_t *B, void *C,
                  int64_t ldc, int L, int threads, void *workspace, int int_sums) {
  mxb_cpu_gemm_rows(desc, A, 0, A->rows, B, 0, B->rows, C, ldc, L, threads, workspace, int_sums);
}

size_t mxb_cpu_gemm_gated_scratch(const mxb_gemm_desc_t *desc, int64_t M, int64_t N) {
  return mxb_gemm_gate_act(desc->activation) ? ((size_t)(M * N) * sizeof(float) + 63) / 64 * 64 : 0;
}

void mxb_cpu_gemm_rows_gated(const mxb_gemm_desc_t *desc, const mxb_tensor_t *A, int64_t a0, int64_t M,
                             const mxb_tensor_t *B, int64_t b0, int64_t N, void *C, int64_t ldc, int L, int threads,
                             void *workspace, float *p) {
  mxb_gemm_desc_t pre = *desc;
  pre.activation = MXB_ACT_NONE;
  pre.c_type = MXB_DTYPE_FP32;
  pre.aux = NULL;
  mxb_cpu_gemm_rows(&pre, A, a0, M, B, b0, N, p, N, L, threads, workspace, 1);
  const int64_t H = N / 2;
  for (int64_t m = 0; m < M; m++) {
    if (desc->aux)
      for (int64_t n = 0; n < N; n++) put(desc->c_type, desc->aux, m * desc->ld_aux + n, p[m * N + n]);
    for (int64_t j = 0; j < H; j++)
      put(desc->c_type, C, m * ldc + j, gated(desc->activation, p[m * N + j], p[m * N + H + j]));
  }
}
