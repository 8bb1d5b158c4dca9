/* libFuzzer target over the public C API on the CPU backend (the library's
 * sources are compiled in). The input bytes choose a few calls and every
 * argument of each: formats and enums (in and out of range), shapes (0,
 * negative, odd, huge), every config and descriptor field including
 * struct_size, NULL and misaligned planes and workspaces, and data with NaN,
 * Inf, subnormals and values at the ends of the fp32 range. Invariants
 * checked here (a violation aborts, so libFuzzer keeps the input):
 *   - a failing call leaves a non-empty detail and every output untouched
 *     (outputs start filled with canary bytes);
 *   - a successful call had documented-valid arguments (a shape beyond the
 *     documented limits, a misaligned workspace, a too small struct_size
 *     are refused), and the sizes it reports never wrap;
 *   - mxb_quantize_pair equals its two quantizations;
 *   - the exact transpose of a 2D-scaled NVFP4 tensor equals quantizing the
 *     transposed input;
 *   - finite input dequantizes to finite output (NUMERICS Decisions; off
 *     with FUZZ_CHECK_FINITE=0).
 * Build and run: make fuzz-api FUZZ_TIME=60 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/format_table.h"
#include "mxblas.h"

#ifndef FUZZ_CHECK_FINITE
#define FUZZ_CHECK_FINITE 1
#endif

#define MAX_ELEMS 8192 /* largest tensor given real buffers */
#define CANARY 0xA5

#define CHECK(cond, ...)                          \
  do {                                            \
    if (!(cond)) {                                \
      fprintf(stderr, "fuzz_api: " __VA_ARGS__);  \
      fprintf(stderr, " [%s:%d]\n", __FILE__, __LINE__); \
      abort();                                    \
    }                                             \
  } while (0)

/* ------------------------------------------------------------ input bytes */
typedef struct in_t {
  const uint8_t *p;
  size_t n;
} in_t;

static uint8_t u8(in_t *in) {
  if (!in->n) return 0;
  in->n--;
  return *in->p++;
}
static uint32_t u32(in_t *in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v |= (uint32_t)u8(in) << (8 * i);
  return v;
}
static uint64_t u64(in_t *in) { return (uint64_t)u32(in) | (uint64_t)u32(in) << 32; }

static float f32_of(uint32_t u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static uint32_t bits_of(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

/* An enum value: mostly in [0, count), sometimes just past it or wild. */
static int pick(in_t *in, int count) {
  uint8_t b = u8(in);
  if (b < 232) return b % count;
  static const int wild[] = {-1, 0x7fffffff, (int)0x80000000, 1000, -1000, 2};
  return b < 240 ? count : wild[b % 6];
}

/* A flag that is mostly 0 or 1, sometimes another int. */
static int pick_flag(in_t *in) {
  uint8_t b = u8(in);
  if (b < 120) return 0;
  if (b < 240) return 1;
  static const int wild[] = {2, -1, 0x7fffffff, 256};
  return wild[b % 4];
}

/* A dimension: mostly small (odd sizes and block multiples), sometimes 0,
 * negative, at the documented limits or far beyond them. */
static int64_t pick_dim(in_t *in) {
  uint8_t b = u8(in), v = u8(in);
  switch (b % 16) {
    case 0: return 16 * (1 + v % 20);
    case 1: return 128 * (1 + v % 3);
    case 2: {
      static const int64_t edge[] = {0, -1, -16, INT64_MIN, INT64_MAX, (int64_t)1 << 31, ((int64_t)1 << 31) + 1,
                                     (int64_t)1 << 40, (int64_t)1 << 20, ((int64_t)1 << 20) + 3, (int64_t)1 << 62,
                                     -((int64_t)1 << 40)};
      return edge[v % 12];
    }
    default: return 1 + v % (b & 16 ? 300 : 40);
  }
}

/* Whether [rows, cols] is within the documented limits (each dimension in
 * [1, 2^31], at most 2^40 elements). */
static int shape_ok(int64_t rows, int64_t cols) {
  return rows >= 1 && cols >= 1 && rows <= ((int64_t)1 << 31) && cols <= ((int64_t)1 << 31) &&
         (__int128)rows * cols <= ((__int128)1 << 40);
}
/* Small enough to get real buffers. */
static int shape_small(int64_t rows, int64_t cols) {
  return rows >= 1 && cols >= 1 && rows <= MAX_ELEMS && cols <= MAX_ELEMS && rows * cols <= MAX_ELEMS;
}

/* A struct_size: mostly right, sometimes short, zero or larger. */
static size_t pick_struct_size(in_t *in, size_t size) {
  uint8_t b = u8(in);
  if (b < 216) return size;
  switch (b % 5) {
    case 0: return 0;
    case 1: return size - 1;
    case 2: return sizeof(size_t);
    case 3: return size + 8;
    default: return size / 2;
  }
}

/* ------------------------------------------------------------ data */
static const uint32_t k_special[] = {
  0x00000000u, 0x80000000u, 0x00000001u, 0x80000001u, 0x007FFFFFu, 0x00800000u, /* 0, -0, subnormals, FLT_MIN */
  0x7F7FFFFFu, 0xFF7FFFFFu, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0x7F800001u, /* +-FLT_MAX, +-Inf, NaNs */
  0xFFC00001u, 0x7E96769Fu /* 1e38 */, 0x7A3F6A8Cu /* ~2.5e35 */, 0x7B1BAB11u /* ~8e35 */,
  0x0209F4B2u /* ~1e-37 */, 0x006CE3EEu /* ~1e-38 */, 0x43E00000u /* 448 */, 0x47600000u /* 57344 */,
  0x40C00000u /* 6 */, 0x3F800000u, 0xBF800000u, 0x7F7FFFFEu, 0x05A00000u, 0x7F000000u /* 2^127 */,
};
#define NSPECIAL (sizeof(k_special) / sizeof(k_special[0]))

static uint64_t mix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* n fp32 values: the first few straight from the input, the rest from a
 * generator the input picks (normal-ish values at a chosen binade, raw bit
 * patterns, or specials sprinkled in). */
static void fill_f32(in_t *in, float *x, size_t n) {
  uint8_t mode = u8(in);
  int e = (int)(int8_t)u8(in);
  uint64_t s = u64(in);
  size_t direct = u8(in) % 17;
  for (size_t i = 0; i < n; i++) {
    uint64_t r = mix(&s);
    uint32_t u;
    if (i < direct) u = u32(in);
    else switch (mode % 4) {
      case 0: u = (uint32_t)r; break;
      case 1: u = k_special[r % NSPECIAL]; break;
      case 2: u = bits_of(ldexpf((float)(int32_t)(r >> 32) * 0x1p-31f, e)); break;
      default: u = (r & 15) == 0 ? k_special[(r >> 8) % NSPECIAL] : bits_of(ldexpf((float)(int16_t)(r >> 16), e)); break;
    }
    x[i] = f32_of(u);
  }
}

static int dtype_ok(int t) { return t == MXB_DTYPE_FP32 || t == MXB_DTYPE_BF16 || t == MXB_DTYPE_FP16; }

/* A block of n bytes starting off bytes past an aligned address (the byte
 * before the start records off, for plain_free). */
static void *alloc_at(size_t n, unsigned off) {
  unsigned char *b = malloc(n + 16 + off);
  b[15 + off] = (unsigned char)off;
  return b + 16 + off;
}
static void plain_free(void *p) {
  if (p) free((unsigned char *)p - 16 - ((unsigned char *)p)[-1]);
}
static int aligned_to(const void *p, size_t a) { return a == 0 || (uintptr_t)p % a == 0; }

/* A plain buffer of n elements of type t (an invalid t gets fp32 storage),
 * now and then misaligned: bf16 keeps the top half of each fp32 value, fp16
 * the bottom half of its bits (any pattern, NaN and Inf included). Free it
 * with plain_free. */
static void *make_plain(in_t *in, int t, size_t n) {
  uint8_t m = u8(in);
  unsigned off = m >= 248 ? 1 + m % 3 : 0;
  float *x = malloc((n ? n : 1) * 4);
  fill_f32(in, x, n);
  int half = t == MXB_DTYPE_BF16 || t == MXB_DTYPE_FP16;
  unsigned char *p = alloc_at(n * (half ? 2 : 4), off);
  for (size_t i = 0; i < n; i++) {
    uint16_t h = (uint16_t)(t == MXB_DTYPE_BF16 ? bits_of(x[i]) >> 16 : bits_of(x[i]));
    if (half) memcpy(p + 2 * i, &h, 2);
    else memcpy(p + 4 * i, &x[i], 4);
  }
  free(x);
  return p;
}
/* The plain input of a [rows, cols] call: real when the shape is small, a
 * dummy when the shape is invalid (the call must refuse it), NULL when it is
 * valid but too big to allocate (the call must refuse the NULL). */
static void *plain_for(in_t *in, int t, int64_t rows, int64_t cols) {
  int small = shape_small(rows, cols);
  return small || !shape_ok(rows, cols) ? make_plain(in, t, small ? (size_t)(rows * cols) : 16) : NULL;
}
static int plain_aligned(const void *p, int t) { return aligned_to(p, dtype_ok(t) ? mxb_dtype_size((mxb_dtype_t)t) : 1); }

static int finite_elem(int t, const void *p, size_t i) {
  if (t == MXB_DTYPE_FP32) return isfinite(((const float *)p)[i]);
  uint16_t h = ((const uint16_t *)p)[i];
  return t == MXB_DTYPE_BF16 ? ((h >> 7) & 0xFF) != 0xFF : ((h >> 10) & 0x1F) != 0x1F;
}
static int all_finite(int t, const void *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!finite_elem(t, p, i)) return 0;
  return 1;
}

/* Dense transpose of [rows, cols] elements of es bytes. */
static void *transpose(const void *src, int64_t rows, int64_t cols, size_t es) {
  unsigned char *d = malloc((size_t)(rows * cols) * es);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < cols; c++) memcpy(d + (size_t)(c * rows + r) * es, (const char *)src + (size_t)(r * cols + c) * es, es);
  return d;
}

/* ------------------------------------------------------------ buffers */
/* An output buffer, canary-filled, with a copy to compare after a failure. */
typedef struct outbuf {
  unsigned char *p, *copy;
  size_t n;
} outbuf;

/* off: bytes past an aligned address. */
static void out_make_at(outbuf *o, size_t n, unsigned off) {
  o->n = n;
  o->p = alloc_at(n, off);
  o->copy = malloc(n ? n : 1);
  memset(o->p, CANARY, n);
}
static void out_make(outbuf *o, size_t n) { out_make_at(o, n, 0); }
static void out_snap(outbuf *o) { memcpy(o->copy, o->p, o->n); }
static int out_same(const outbuf *o) { return memcmp(o->copy, o->p, o->n) == 0; }
static void out_free(outbuf *o) {
  plain_free(o->p);
  free(o->copy);
  memset(o, 0, sizeof(*o));
}

/* A tensor descriptor from the input, with planes: its own allocations when
 * the descriptor is valid and small, a small dummy block when it is invalid
 * (the library must refuse before using it), NULL when it is valid but too
 * big to allocate (the library must refuse the NULL data plane). */
typedef struct ftensor {
  mxb_tensor_t t, t0;   /* the descriptor and its copy */
  mxb_tensor_sizes_t s;
  int sized;            /* mxb_tensor_sizes accepted format, shape, layout */
  int real;             /* planes are real allocations of the sizes */
  outbuf pl[4];         /* data, scales, aux, amax */
} ftensor;

/* hostile: planes hold input bytes (a tensor to read) instead of canaries. */
static void ft_make(ftensor *f, in_t *in, int format, int64_t rows, int64_t cols, int layout, int hostile) {
  memset(f, 0, sizeof(*f));
  uint8_t nulls = u8(in);
  f->t.struct_size = pick_struct_size(in, sizeof(mxb_tensor_t));
  f->t.format = (mxb_format_t)format;
  f->t.rows = rows;
  f->t.cols = cols;
  f->t.scale_layout = (mxb_scale_layout_t)layout;
  f->t.flags = u8(in) < 200 ? 0 : u32(in);
  f->s.struct_size = sizeof(f->s);
  f->sized = mxb_tensor_sizes((mxb_format_t)format, rows, cols, (mxb_scale_layout_t)layout, &f->s) == MXB_SUCCESS;
  f->real = f->sized && shape_small(rows, cols);
  size_t nb[4] = {64, 64, 64, 64};
  if (f->real) {
    nb[0] = f->s.data_bytes;
    nb[1] = f->s.scale_bytes;
    nb[2] = f->s.aux_bytes;
    /* FP8 per tensor has no amax plane but reads a supplied amax there */
    const int fp8_tensor = format == MXB_FORMAT_FP8_E4M3_TENSOR || format == MXB_FORMAT_FP8_E5M2_TENSOR;
    /* NVFP4: room for an amax per row (nvfp4_row_amax) */
    nb[3] = f->s.amax_bytes ? f->s.amax_bytes * (size_t)(rows > 0 ? rows : 1) : fp8_tensor ? 4 : 0;
  }
  uint8_t mis = u8(in);
  for (int k = 0; k < 4; k++) {
    int drop = (nulls >> k) & 1 && nulls >= 0xC0;
    if (drop || (f->real && nb[k] == 0) || (f->sized && !f->real)) continue;
    out_make_at(&f->pl[k], nb[k], mis >= 248 && (mis & 3) == k ? 1 + (mis >> 2) % 3 : 0);
    if (hostile)
      for (size_t i = 0; i < nb[k]; i++) f->pl[k].p[i] = (i < 64 ? u8(in) : (uint8_t)(f->pl[k].p[i - 64] * 13 + 7));
  }
  f->t.data = f->pl[0].p;
  f->t.scales = f->pl[1].p;
  f->t.aux = f->pl[2].p;
  f->t.amax = (float *)f->pl[3].p;
  f->t0 = f->t;
}

/* Every plane aligned to its elements (fp32/bf16/MoR codes, fp32 scales,
 * the amax), as the library requires. */
static int ft_aligned(const ftensor *f) {
  mxb_format_info_t fi = {.struct_size = sizeof(fi)};
  if (mxb_format_info(f->t.format, &fi) != MXB_SUCCESS) return 1;
  return aligned_to(f->t.data, fi.elem_bits >= 16 ? (size_t)fi.elem_bits / 8 : 1) &&
         aligned_to(f->t.scales, fi.scale_type == MXB_SCALE_FP32 ? 4 : 1) && aligned_to(f->t.amax, 4);
}

static void ft_snap(ftensor *f) {
  for (int k = 0; k < 4; k++)
    if (f->pl[k].p) out_snap(&f->pl[k]);
  f->t0 = f->t;
}
static int ft_same(const ftensor *f) {
  for (int k = 0; k < 4; k++)
    if (f->pl[k].p && !out_same(&f->pl[k])) return 0;
  const mxb_tensor_t *a = &f->t, *b = &f->t0;
  return a->struct_size == b->struct_size && a->format == b->format && a->rows == b->rows && a->cols == b->cols &&
         a->data == b->data && a->scales == b->scales && a->aux == b->aux && a->amax == b->amax &&
         a->scale_layout == b->scale_layout && a->flags == b->flags;
}
static void ft_free(ftensor *f) {
  for (int k = 0; k < 4; k++) out_free(&f->pl[k]);
}
/* Same planes (the sizes of a), byte for byte. FP8 per tensor's amax slot
 * is an input (a supplied amax), not a plane the call writes: one tensor may
 * have it and the other not. */
static int ft_equal(const ftensor *a, const ftensor *b) {
  for (int k = 0; k < 4; k++) {
    if (k == 3 && !a->s.amax_bytes) continue;
    if (a->pl[k].n != b->pl[k].n || (a->pl[k].n && memcmp(a->pl[k].p, b->pl[k].p, a->pl[k].n))) return 0;
  }
  return 1;
}
/* A fresh, valid output tensor of the format, shape and layout of f. */
static void ft_like(ftensor *f, mxb_format_t format, int64_t rows, int64_t cols, mxb_scale_layout_t layout) {
  static const uint8_t zeros[16];
  in_t none = {zeros, 0};
  ft_make(f, &none, format, rows, cols, layout, 0);
}

/* A workspace from the query's answer: mostly right, sometimes NULL, short,
 * misaligned or larger. Returns the pointer to pass; *block is what to free. */
static void *pick_workspace(in_t *in, size_t need, size_t *bytes, void **block, int *misaligned) {
  uint8_t b = u8(in);
  size_t n = need;
  size_t off = 0;
  *misaligned = 0;
  if (b >= 200) {
    switch (b % 5) {
      case 0: *block = NULL; *bytes = need; return NULL;
      case 1: n = need ? need - 1 : 0; break;
      case 2: n = need + 1 + u8(in); break;
      default: off = 1 + u8(in) % (2 * MXB_WORKSPACE_ALIGNMENT - 1); break;
    }
  }
  if (need > ((size_t)1 << 28)) { /* a size this large is tested without memory behind it */
    *block = NULL;
    *bytes = need;
    return NULL;
  }
  *block = aligned_alloc(256, (n + off + 256) / 256 * 256);
  *misaligned = off % MXB_WORKSPACE_ALIGNMENT != 0;
  *bytes = n;
  return (char *)*block + off;
}

/* ------------------------------------------------------------ checks */
static mxb_context_t *g_ctx;

static void expect_failure_detail(mxb_status_t s, const char *call) {
  CHECK(s != MXB_SUCCESS, "%s: expected a failure", call);
  CHECK(mxb_last_error_detail()[0] != '\0', "%s failed with status %d and no detail", call, (int)s);
}

/* After a call: 1 when it failed, with a detail and its outputs untouched
 * (untouched: what the caller compared); 0 when it succeeded. */
static int failed_cleanly(mxb_status_t s, const char *call, int untouched) {
  if (s == MXB_SUCCESS) return 0;
  expect_failure_detail(s, call);
  CHECK(untouched, "%s changed an output on failure (status %d: %s)", call, (int)s, mxb_last_error_detail());
  return 1;
}

/* A quantization config from the input: defaults, each field sometimes
 * replaced by any value. */
static void pick_quant_config(in_t *in, mxb_quant_config_t *c) {
  mxb_quant_config_init(c);
  uint32_t which = u8(in) < 96 ? 0 : u32(in);
  if (which & 1) c->struct_size = pick_struct_size(in, sizeof(*c));
  if (which & 2) c->rounding = (mxb_rounding_t)pick(in, 2);
  if (which & 4) c->seed = u64(in);
  if (which & 8) c->offset = u64(in);
  if (which & 16) c->scale_rule = (mxb_scale_rule_t)pick(in, 4);
  if (which & 32) c->nonfinite = (mxb_nonfinite_t)pick(in, 2);
  if (which & 64) c->amax_source = (mxb_amax_source_t)pick(in, 2);
  if (which & 128) c->block_2d = pick_flag(in);
  if (which & 256) c->fp8_pow2_scale = pick_flag(in);
  if (which & 512) c->rht.enabled = pick_flag(in);
  if (which & 1024) {
    static const int sizes[] = {16, 32, 64, 128, 256, 0, 8, 512, -16, 48};
    c->rht.size = sizes[u8(in) % 10];
  }
  if (which & 2048) c->rht.sign_source = (mxb_sign_source_t)pick(in, 2);
  if (which & 4096)
    for (int k = 0; k < 8; k++) c->rht.sign_mask[k] = u32(in);
  if (which & 8192) c->rht.sign_seed = u64(in);
  if (which & 16384) c->rht.bf16_output = pick_flag(in);
  if (which & 32768) c->four_over_six = (mxb_four_over_six_t)pick(in, 4);
  if (which & 65536) {
    static const int bounds[] = {0, 448, 256, 300, -256};
    c->nvfp4_e4m3_max = bounds[u8(in) % 5];
  }
  if (which & 131072) c->nvfp4_row_amax = pick(in, 3);
  if (which & 262144) c->compat = (mxb_compat_t)pick(in, MXB_COMPAT_COUNT + 1);
  if (which & 1048576) { /* FP8 per tensor's amax out: an aligned slot, or one a byte off */
    static float slot[2];
    c->amax_out = u8(in) & 1 ? slot : (float *)((char *)slot + 1);
  }
  if (which & 524288) { /* a shard's place: often valid, sometimes negative, past the row or past 2^62 */
    static const int64_t v[] = {0, 1, 16, 64, 1000, -1, (int64_t)1 << 40, (int64_t)1 << 61, INT64_MAX};
    c->global_row0 = v[u8(in) % 9];
    c->global_col0 = v[u8(in) % 9];
    c->global_cols = v[u8(in) % 9];
  }
}

/* Whether amax_out (read as NULL past struct_size) suits the format: FP8 per
 * tensor only, 4-byte aligned. */
static int amax_out_valid(const mxb_quant_config_t *c, int format) {
  if (c->struct_size < offsetof(mxb_quant_config_t, amax_out) + sizeof(c->amax_out) || !c->amax_out) return 1;
  return mxb_fmt_tensor_scale(format) == MXB_TSCALE_PLANE && (uintptr_t)c->amax_out % 4 == 0;
}

/* Whether the config's place (the fields past struct_size read as 0) fits a
 * [rows, cols] destination: inside the whole tensor, indices below 2^62. */
static int place_valid(const mxb_quant_config_t *c, int64_t rows, int64_t cols) {
  if (c->struct_size < offsetof(mxb_quant_config_t, global_cols) + sizeof(c->global_cols)) return 1;
  const int64_t gc = c->global_cols ? c->global_cols : cols;
  if (c->global_row0 < 0 || c->global_col0 < 0 || c->global_cols < 0 || c->global_col0 > gc - cols) return 0;
  return gc == 0 || c->global_row0 <= ((int64_t)1 << 62) / gc - rows;
}

/* Whether a quantize config is one the documentation accepts for the
 * destination (enums, flags in range; NVFP4-only options; shape vs RHT). */
static int quant_config_valid(const mxb_quant_config_t *c) {
  /* a caller built before four_over_six passes the prefix up to rht; the
   * field is read only where struct_size covers it */
  const size_t old = offsetof(mxb_quant_config_t, rht) + sizeof(c->rht),
               f46 = offsetof(mxb_quant_config_t, four_over_six) + sizeof(c->four_over_six),
               fb = offsetof(mxb_quant_config_t, nvfp4_e4m3_max) + sizeof(c->nvfp4_e4m3_max),
               fr = offsetof(mxb_quant_config_t, nvfp4_row_amax) + sizeof(c->nvfp4_row_amax),
               fc = offsetof(mxb_quant_config_t, compat) + sizeof(c->compat);
  return c->struct_size >= old && (c->rounding == 0 || c->rounding == 1) && (unsigned)c->scale_rule <= 3 &&
         (c->nonfinite == 0 || c->nonfinite == 1) && (c->amax_source == 0 || c->amax_source == 1) &&
         (c->struct_size < f46 || (unsigned)c->four_over_six <= 2) &&
         (c->struct_size < fb || c->nvfp4_e4m3_max == 0 || c->nvfp4_e4m3_max == 448 || c->nvfp4_e4m3_max == 256) &&
         (c->struct_size < fr || (unsigned)c->nvfp4_row_amax <= 1) &&
         (c->struct_size < fc || (unsigned)c->compat < MXB_COMPAT_COUNT);
}

/* Values actually quantized: x, or RHT(x) (fp32, bf16-rounded when asked)
 * when the config transforms. Finite? */
static int quantized_input_finite(const mxb_quant_config_t *c, int dt, const void *x, int64_t rows, int64_t cols) {
  size_t n = (size_t)(rows * cols);
  if (!c->rht.enabled) return all_finite(dt, x, n);
  float *y = malloc(n * 4);
  mxb_status_t s = mxb_rht(g_ctx, &c->rht, 0, MXB_AXIS_COLS, rows, cols, (mxb_dtype_t)dt, x, MXB_DTYPE_FP32, y, NULL);
  int fin = s == MXB_SUCCESS && all_finite(MXB_DTYPE_FP32, y, n);
  free(y);
  return fin;
}

/* Dequantize a tensor the library just produced: must succeed; with
 * FUZZ_CHECK_FINITE, finite input must give finite fp32 output. */
static void check_decode(ftensor *q, int input_finite, const char *what) {
  size_t n = (size_t)(q->t.rows * q->t.cols);
  float *y = malloc(n * 4);
  mxb_status_t s = mxb_dequantize(g_ctx, &q->t, MXB_DTYPE_FP32, y, NULL);
  CHECK(s == MXB_SUCCESS, "%s: dequantizing a tensor the library produced failed: %s", what, mxb_last_error_detail());
#if FUZZ_CHECK_FINITE
  if (input_finite)
    for (size_t i = 0; i < n; i++)
      CHECK(isfinite(y[i]), "%s: format %d, finite input decodes to %g at element %zu (tensor amax %g)", what,
            (int)q->t.format, (double)y[i], i, q->t.amax ? (double)*q->t.amax : 0.0);
#else
  (void)input_finite;
#endif
  free(y);
}

/* ------------------------------------------------------------ operations */
static void op_sizes(in_t *in) {
  int format = pick(in, MXB_FORMAT_COUNT), layout = pick(in, 2);
  int64_t rows = pick_dim(in), cols = pick_dim(in);
  size_t ss = pick_struct_size(in, sizeof(mxb_tensor_sizes_t));
  unsigned char buf[sizeof(mxb_tensor_sizes_t) + 32];
  memset(buf, CANARY, sizeof(buf));
  memcpy(buf, &ss, sizeof(ss));
  mxb_status_t s = mxb_tensor_sizes((mxb_format_t)format, rows, cols, (mxb_scale_layout_t)layout, (mxb_tensor_sizes_t *)buf);
  size_t ss_after;
  memcpy(&ss_after, buf, sizeof(ss_after));
  CHECK(ss_after == ss, "mxb_tensor_sizes changed struct_size");
  size_t written = ss < sizeof(mxb_tensor_sizes_t) ? ss : sizeof(mxb_tensor_sizes_t);
  for (size_t i = s == MXB_SUCCESS ? written : sizeof(size_t); i < sizeof(buf); i++)
    CHECK(buf[i] == CANARY, "mxb_tensor_sizes wrote byte %zu (struct_size %zu, status %d)", i, ss, (int)s);
  if (s != MXB_SUCCESS) {
    expect_failure_detail(s, "mxb_tensor_sizes");
    return;
  }
  CHECK(ss >= sizeof(mxb_tensor_sizes_t), "struct_size %zu accepted", ss);
  CHECK(shape_ok(rows, cols), "shape [%lld, %lld] accepted", (long long)rows, (long long)cols);
  mxb_tensor_sizes_t z;
  memcpy(&z, buf, sizeof(z));
  /* recompute from the format table in 128-bit integers: nothing wrapped */
  mxb_format_info_t fi = {.struct_size = sizeof(fi)};
  CHECK(mxb_format_info((mxb_format_t)format, &fi) == MXB_SUCCESS, "format_info");
  __int128 sr = 0, sc = 0;
  if (fi.scale_type != MXB_SCALE_NONE) {
    sr = fi.block_rows ? (rows + fi.block_rows - 1) / fi.block_rows : 1;
    sc = fi.block_cols ? (cols + fi.block_cols - 1) / fi.block_cols : 1;
  }
  __int128 row_bytes = fi.scale_type == MXB_SCALE_BDR ? sc * 2 * fi.elem_bits : ((__int128)cols * fi.elem_bits + 7) / 8;
  __int128 ns = layout == MXB_SCALE_LAYOUT_SWIZZLED ? (sr + 127) / 128 * 128 * ((sc + 3) / 4 * 4) : sr * sc;
  __int128 sb = fi.scale_type == MXB_SCALE_FP32 ? ns * 4 : ns;
  __int128 ab = fi.scale_type == MXB_SCALE_BDR || fi.elem == MXB_ELEM_MIXED ? ns : 0;
  CHECK(z.scale_rows == (int64_t)sr && z.scale_cols == (int64_t)sc, "scale grid");
  CHECK((__int128)z.row_bytes == row_bytes, "row_bytes %zu", z.row_bytes);
  CHECK((__int128)z.data_bytes == row_bytes * rows, "data_bytes %zu wrapped", z.data_bytes);
  CHECK((__int128)z.scale_bytes == sb, "scale_bytes %zu wrapped", z.scale_bytes);
  CHECK((__int128)z.aux_bytes == ab, "aux_bytes %zu", z.aux_bytes);
  CHECK(z.amax_bytes == (fi.has_tensor_amax ? 4u : 0u), "amax_bytes");
}

static void op_misc(in_t *in) {
  int v = (int)u32(in);
  CHECK(mxb_status_string((mxb_status_t)v) != NULL, "status string");
  size_t ds = mxb_dtype_size((mxb_dtype_t)v);
  CHECK(ds == (v == 0 ? 4u : (v == 1 || v == 2) ? 2u : 0u), "dtype size %zu for %d", ds, v);
  char name[24];
  size_t len = u8(in) % sizeof(name);
  for (size_t i = 0; i < len; i++) name[i] = (char)u8(in);
  name[len] = '\0';
  if (u8(in) & 1) {
    mxb_format_info_t fi = {.struct_size = sizeof(fi)};
    if (mxb_format_info((mxb_format_t)(u8(in) % MXB_FORMAT_COUNT), &fi) == MXB_SUCCESS) snprintf(name, sizeof(name), "%s", fi.name);
  }
  mxb_format_t f = (mxb_format_t)0x5A5A5A5A;
  mxb_status_t s = mxb_format_from_name(u8(in) == 255 ? NULL : name, &f);
  if (s == MXB_SUCCESS) {
    mxb_format_info_t fi = {.struct_size = sizeof(fi)};
    CHECK(mxb_format_info(f, &fi) == MXB_SUCCESS && strcmp(fi.name, name) == 0, "format name round trip");
  } else {
    expect_failure_detail(s, "mxb_format_from_name");
    CHECK(f == (mxb_format_t)0x5A5A5A5A, "format written on failure");
  }
  int supported = 77;
  int a = pick(in, MXB_FORMAT_COUNT), b = pick(in, MXB_FORMAT_COUNT), mode = pick(in, 2);
  s = mxb_gemm_pair_supported((mxb_format_t)a, (mxb_format_t)b, (mxb_gemm_mode_t)mode, &supported);
  if (s == MXB_SUCCESS) CHECK(supported == 0 || supported == 1, "supported %d", supported);
  else {
    expect_failure_detail(s, "mxb_gemm_pair_supported");
    CHECK(supported == 77, "supported written on failure");
  }
  mxb_context_t *c = (mxb_context_t *)&supported;
  s = mxb_context_create((mxb_backend_t)pick(in, 2), (int)u8(in) - 128, &c);
  if (s == MXB_SUCCESS) {
    mxb_backend_t be;
    CHECK(mxb_context_backend(c, &be) == MXB_SUCCESS && be == MXB_BACKEND_CPU, "backend");
    CHECK(strcmp(mxb_context_last_impl(c), "none") == 0, "a new context has a last implementation");
    mxb_context_destroy(c);
  } else {
    expect_failure_detail(s, "mxb_context_create");
    CHECK(c == (mxb_context_t *)&supported, "ctx written on failure");
  }
  int count = -5;
  CHECK(mxb_cuda_device_count(&count) == MXB_SUCCESS && count == 0, "device count");
}

static void op_quantize(in_t *in) {
  mxb_quant_config_t cfg;
  pick_quant_config(in, &cfg);
  int dt = pick(in, 3), format = pick(in, MXB_FORMAT_COUNT), layout = pick(in, 2);
  int64_t rows = pick_dim(in), cols = pick_dim(in);
  ftensor d;
  ft_make(&d, in, format, rows, cols, layout, 0);
  float supplied = f32_of(u8(in) < 128 ? bits_of(1.0f + (float)u8(in)) : u32(in));
  if (d.t.amax && cfg.amax_source == MXB_AMAX_FROM_TENSOR) memcpy(d.t.amax, &supplied, 4);
  size_t need = (size_t)0xA5A5A5A5A5A5A5A5ull;
  mxb_status_t s = mxb_quantize_workspace_size(g_ctx, &cfg, (mxb_dtype_t)dt, &d.t, &need);
  if (s != MXB_SUCCESS) {
    expect_failure_detail(s, "mxb_quantize_workspace_size");
    CHECK(need == (size_t)0xA5A5A5A5A5A5A5A5ull, "bytes written on failure");
    need = 0;
  } else {
    CHECK(need == 0, "the CPU quantizer asks for %zu workspace bytes", need);
  }
  void *src = plain_for(in, dt, rows, cols);
  if (u8(in) >= 248) {
    plain_free(src);
    src = NULL;
  }
  size_t bytes;
  void *block;
  int misaligned;
  void *ws = pick_workspace(in, need, &bytes, &block, &misaligned);
  ft_snap(&d);
  s = mxb_quantize(g_ctx, &cfg, (mxb_dtype_t)dt, src, &d.t, ws, bytes, NULL);
  if (!failed_cleanly(s, "mxb_quantize", ft_same(&d))) {
    CHECK(d.real && src && !misaligned && quant_config_valid(&cfg) && d.t.struct_size >= sizeof(mxb_tensor_t) &&
              ft_aligned(&d) && plain_aligned(src, dt) && place_valid(&cfg, rows, cols) &&
              amax_out_valid(&cfg, d.t.format),
          "mxb_quantize accepted invalid arguments");
    /* the fields past struct_size read as their defaults */
    const int b256 = cfg.struct_size >= offsetof(mxb_quant_config_t, nvfp4_e4m3_max) + sizeof(int) &&
                     cfg.nvfp4_e4m3_max == 256,
              per_row = cfg.struct_size >= offsetof(mxb_quant_config_t, nvfp4_row_amax) + sizeof(int) &&
                        cfg.nvfp4_row_amax;
    CHECK(d.t.flags == ((cfg.block_2d ? MXB_TENSOR_SCALED_2D : 0u) | (cfg.rht.enabled ? MXB_TENSOR_RHT : 0u) |
                        (b256 ? MXB_TENSOR_E4M3_MAX_256 : 0u) | (per_row ? MXB_TENSOR_ROW_AMAX : 0u)),
          "flags %u", d.t.flags);
    CHECK(strcmp(mxb_context_last_impl(g_ctx), "cpu-reference") == 0, "last impl");
    /* a profile writes its library's bytes, which may decode finite input to Inf (docs/COMPAT.md) */
    const int profile = cfg.struct_size >= offsetof(mxb_quant_config_t, compat) + sizeof(int) && cfg.compat;
    int fin = !profile && quantized_input_finite(&cfg, dt, src, rows, cols) &&
              !(cfg.amax_source == MXB_AMAX_FROM_TENSOR && d.t.amax && !isfinite(supplied));
    check_decode(&d, fin, "mxb_quantize");
  }
  free(block);
  plain_free(src);
  ft_free(&d);
}

/* Dequantize a descriptor with planes of input bytes. */
static void op_dequantize(in_t *in) {
  int format = pick(in, MXB_FORMAT_COUNT), layout = pick(in, 2), ot = pick(in, 3);
  int64_t rows = pick_dim(in), cols = pick_dim(in);
  ftensor q;
  ft_make(&q, in, format, rows, cols, layout, 1);
  int small = shape_small(rows, cols);
  outbuf out;
  uint8_t mis = u8(in);
  out_make_at(&out, small ? (size_t)(rows * cols) * 4 : 64, mis >= 248 ? 1 + mis % 3 : 0);
  void *dst = small || !shape_ok(rows, cols) ? out.p : NULL;
  if (u8(in) >= 250) dst = NULL;
  out_snap(&out);
  ft_snap(&q);
  mxb_status_t s = mxb_dequantize(u8(in) == 255 ? NULL : g_ctx, &q.t, (mxb_dtype_t)ot, dst, NULL);
  CHECK(ft_same(&q), "mxb_dequantize changed its input");
  if (!failed_cleanly(s, "mxb_dequantize", out_same(&out))) {
    CHECK(q.real && dst && q.t.struct_size >= sizeof(mxb_tensor_t) && ft_aligned(&q) && plain_aligned(dst, ot),
          "mxb_dequantize accepted invalid arguments");
  }
  out_free(&out);
  ft_free(&q);
}

static void op_amax(in_t *in) {
  int dt = pick(in, 3);
  int64_t n = u8(in) < 200 ? 1 + u8(in) * 16 + u8(in) : pick_dim(in);
  int valid = n >= 1 && n <= ((int64_t)1 << 40);
  int small = n >= 1 && n <= MAX_ELEMS;
  void *x = small || !valid ? make_plain(in, dt, small ? (size_t)n : 16) : NULL;
  float a[2] = {f32_of(0xA5A5A5A5u), f32_of(0xA5A5A5A5u)};
  uint8_t where = u8(in);
  float *ap = where == 255 ? NULL : where >= 250 ? (float *)((char *)a + 1 + where % 3) : a;
  mxb_status_t s = mxb_amax(g_ctx, (mxb_dtype_t)dt, x, n, ap, NULL);
  if (s != MXB_SUCCESS) {
    expect_failure_detail(s, "mxb_amax");
    CHECK(bits_of(a[0]) == 0xA5A5A5A5u && bits_of(a[1]) == 0xA5A5A5A5u, "amax written on failure");
  } else {
    CHECK(small && x && dtype_ok(dt) && plain_aligned(x, dt) && ap == a, "mxb_amax accepted invalid arguments");
    if (dt == MXB_DTYPE_FP32) {
      float m = 0.0f;
      int nan = 0;
      for (int64_t i = 0; i < n; i++) {
        float v = fabsf(((float *)x)[i]);
        nan |= isnan(v);
        if (v > m) m = v;
      }
      CHECK(nan ? isnan(a[0]) : bits_of(a[0]) == bits_of(m), "amax %g, expected %g", (double)a[0], (double)m);
    }
  }
  plain_free(x);
}

/* Quantize the pair and check it against its two quantizations. */
static void op_pair(in_t *in) {
  mxb_quant_config_t rc, cc;
  pick_quant_config(in, &rc);
  if (u8(in) & 1) cc = rc;
  else pick_quant_config(in, &cc);
  int dt = pick(in, 3), fr = pick(in, MXB_FORMAT_COUNT), fc = u8(in) & 1 ? fr : pick(in, MXB_FORMAT_COUNT);
  int lr = pick(in, 2), lc = pick(in, 2);
  int64_t rows = pick_dim(in), cols = pick_dim(in);
  int swap = u8(in) >= 250; /* colwise not the transpose */
  ftensor r, c;
  ft_make(&r, in, fr, rows, cols, lr, 0);
  ft_make(&c, in, fc, swap ? rows : cols, swap ? cols : rows, lc, 0);
  float amax_in = 1.0f + (float)u8(in);
  if (r.t.amax) memcpy(r.t.amax, &amax_in, 4);
  if (c.t.amax) memcpy(c.t.amax, &amax_in, 4);
  size_t need = (size_t)0xA5A5A5A5A5A5A5A5ull;
  mxb_status_t s = mxb_quantize_pair_workspace_size(g_ctx, &rc, &cc, (mxb_dtype_t)dt, &r.t, &c.t, &need);
  if (s != MXB_SUCCESS) {
    expect_failure_detail(s, "mxb_quantize_pair_workspace_size");
    CHECK(need == (size_t)0xA5A5A5A5A5A5A5A5ull, "bytes written on failure");
    need = 0;
  } else if (shape_ok(rows, cols)) {
    /* the transposed copy alone: no wrap */
    CHECK((__int128)need >= (__int128)rows * cols * (__int128)mxb_dtype_size((mxb_dtype_t)dt), "pair workspace %zu wrapped", need);
  }
  void *src = plain_for(in, dt, rows, cols);
  size_t bytes;
  void *block;
  int misaligned;
  void *ws = pick_workspace(in, need, &bytes, &block, &misaligned);
  ft_snap(&r);
  ft_snap(&c);
  s = mxb_quantize_pair(g_ctx, &rc, &cc, (mxb_dtype_t)dt, src, &r.t, &c.t, ws, bytes, NULL);
  if (!failed_cleanly(s, "mxb_quantize_pair", ft_same(&r) && ft_same(&c))) {
    CHECK(r.real && c.real && src && !misaligned && (!swap || rows == cols) && ft_aligned(&r) && ft_aligned(&c) &&
              plain_aligned(src, dt),
          "mxb_quantize_pair accepted invalid arguments");
    /* each copy equals its own quantization */
    ftensor r2, c2;
    ft_like(&r2, (mxb_format_t)fr, rows, cols, (mxb_scale_layout_t)lr);
    ft_like(&c2, (mxb_format_t)fc, cols, rows, (mxb_scale_layout_t)lc);
    if (r2.t.amax) memcpy(r2.t.amax, &amax_in, 4);
    if (c2.t.amax) memcpy(c2.t.amax, &amax_in, 4);
    void *srct = transpose(src, rows, cols, mxb_dtype_size((mxb_dtype_t)dt));
    CHECK(mxb_quantize(g_ctx, &rc, (mxb_dtype_t)dt, src, &r2.t, NULL, 0, NULL) == MXB_SUCCESS, "rowwise alone: %s",
          mxb_last_error_detail());
    CHECK(mxb_quantize(g_ctx, &cc, (mxb_dtype_t)dt, srct, &c2.t, NULL, 0, NULL) == MXB_SUCCESS, "colwise alone: %s",
          mxb_last_error_detail());
    CHECK(ft_equal(&r, &r2) && r.t.flags == r2.t.flags, "rowwise differs from its own quantization (format %d)", fr);
    CHECK(ft_equal(&c, &c2) && c.t.flags == c2.t.flags, "colwise differs from quantizing the transpose (format %d)", fc);
    free(srct);
    ft_free(&r2);
    ft_free(&c2);
  }
  free(block);
  plain_free(src);
  ft_free(&r);
  ft_free(&c);
}

/* The exact 2D transpose against quantizing the transposed input, and the
 * transpose of descriptors with input-byte planes. */
static void op_transpose(in_t *in) {
  int64_t rows = pick_dim(in), cols = pick_dim(in);
  int li = pick(in, 2), lo = pick(in, 2);
  ftensor a, out;
  int dt = pick(in, 3);
  mxb_quant_config_t cfg;
  pick_quant_config(in, &cfg);
  int quantized = 0;
  void *src = NULL;
  /* NVFP4 (16 x 16 tiles) or an MX format (32 x 32 tiles) */
  static const mxb_format_t f2d[] = {MXB_FORMAT_NVFP4, MXB_FORMAT_NVFP4,       MXB_FORMAT_MXFP8_E4M3,
                                     MXB_FORMAT_MXFP4, MXB_FORMAT_MXFP6_E2M3, MXB_FORMAT_MXINT8};
  const mxb_format_t fq = f2d[u8(in) % (sizeof(f2d) / sizeof(f2d[0]))];
  if (u8(in) < 160 && shape_small(rows, cols) && dtype_ok(dt)) {
    /* a tensor the library quantized with 2D scales */
    cfg.block_2d = 1;
    ft_like(&a, fq, rows, cols, (mxb_scale_layout_t)li);
    float supplied = 1.0f + (float)u8(in);
    if (a.t.amax) memcpy(a.t.amax, &supplied, 4);
    src = make_plain(in, dt, (size_t)(rows * cols));
    quantized = a.real && mxb_quantize(g_ctx, &cfg, (mxb_dtype_t)dt, src, &a.t, NULL, 0, NULL) == MXB_SUCCESS;
  } else {
    ft_make(&a, in, pick(in, MXB_FORMAT_COUNT), rows, cols, li, 1);
  }
  int64_t orows = u8(in) >= 250 ? rows : cols; /* the transposed shape only when rows == cols */
  ft_make(&out, in, u8(in) >= 250 ? pick(in, MXB_FORMAT_COUNT) : (int)a.t.format, orows, rows, lo, 0);
  ft_snap(&a);
  ft_snap(&out);
  mxb_status_t s = mxb_transpose_quantized(g_ctx, &a.t, &out.t, NULL);
  CHECK(ft_same(&a), "mxb_transpose_quantized changed its input");
  if (!failed_cleanly(s, "mxb_transpose_quantized", ft_same(&out))) {
    /* NVFP4 or an MX format (E8M0 scales on 1 x 32 blocks) flagged as 2D-scaled */
    const int fa = (int)a.t.format,
              mx = mxb_fmt_scale_type(fa) == MXB_SCALE_E8M0 && mxb_fmt_block_rows(fa) == 1;
    CHECK(a.real && out.real && (a.t.flags & MXB_TENSOR_SCALED_2D) && !(a.t.flags & MXB_TENSOR_RHT) &&
              (fa == MXB_FORMAT_NVFP4 || mx) && (int)out.t.format == fa && out.t.rows == cols && ft_aligned(&a) &&
              ft_aligned(&out),
          "mxb_transpose_quantized accepted invalid arguments");
    if (quantized && cfg.rounding == MXB_ROUND_RNE && !cfg.four_over_six) {
      /* stochastic rounding draws its bits by element index: not transposable;
       * Four Over Six sums a tile's errors row by row, so quantizing the
       * transpose may choose otherwise in a near-tie (docs/NUMERICS.md 4.1) */
      ftensor ref;
      ft_like(&ref, fq, cols, rows, (mxb_scale_layout_t)lo);
      if (ref.t.amax && cfg.amax_source == MXB_AMAX_FROM_TENSOR) memcpy(ref.t.amax, a.t.amax, 4);
      void *srct = transpose(src, rows, cols, mxb_dtype_size((mxb_dtype_t)dt));
      /* a shard's place fits [rows, cols], not the transpose; without SR it changes no byte */
      mxb_quant_config_t tcfg = cfg;
      tcfg.global_row0 = tcfg.global_col0 = tcfg.global_cols = 0;
      CHECK(mxb_quantize(g_ctx, &tcfg, (mxb_dtype_t)dt, srct, &ref.t, NULL, 0, NULL) == MXB_SUCCESS,
            "quantizing the transpose: %s", mxb_last_error_detail());
      CHECK(ft_equal(&out, &ref) && out.t.flags == ref.t.flags,
            "the 2D transpose differs from quantizing the transposed input ([%lld, %lld])", (long long)rows,
            (long long)cols);
      free(srct);
      ft_free(&ref);
    }
  }
  plain_free(src);
  ft_free(&a);
  ft_free(&out);
}

static void op_rht(in_t *in) {
  mxb_quant_config_t c;
  pick_quant_config(in, &c);
  int inverse = pick_flag(in), axis = pick(in, 2), it = pick(in, 3), ot = pick(in, 3);
  int64_t rows = pick_dim(in), cols = pick_dim(in);
  int small = shape_small(rows, cols);
  size_t n = small ? (size_t)(rows * cols) : 16;
  void *x = small || !shape_ok(rows, cols) ? make_plain(in, it, n) : NULL;
  size_t ies = dtype_ok(it) ? mxb_dtype_size((mxb_dtype_t)it) : 4;
  outbuf out;
  out_make(&out, n * 4 + 16);
  void *dst = small || !shape_ok(rows, cols) ? out.p : NULL;
  uint8_t alias = u8(in);
  if (alias >= 240 && x) { /* in place, or shifted by a few bytes */
    memcpy(out.p, x, n * ies);
    dst = out.p + (alias >= 248 ? 0 : (alias % 8) * 2);
  }
  void *src = alias >= 240 && x ? out.p : x;
  /* [src, src + n ies) and [dst, dst + n oes) overlap */
  int overlap = src == out.p && (size_t)((char *)dst - (char *)src) < n * ies;
  out_snap(&out);
  mxb_status_t s = mxb_rht(g_ctx, u8(in) == 255 ? NULL : &c.rht, inverse, (mxb_axis_t)axis, rows, cols,
                           (mxb_dtype_t)it, src, (mxb_dtype_t)ot, dst, NULL);
  if (!failed_cleanly(s, "mxb_rht", out_same(&out))) {
    CHECK(small && x && dst && (ot == MXB_DTYPE_FP32 || ot == MXB_DTYPE_BF16) && dtype_ok(it) && c.rht.size > 0 &&
              plain_aligned(src, it) && plain_aligned(dst, ot) &&
              (axis == MXB_AXIS_COLS ? cols : rows) % c.rht.size == 0,
          "mxb_rht accepted invalid arguments");
    CHECK(!overlap || (dst == src && it == ot), "mxb_rht accepted overlapping buffers");
  }
  out_free(&out);
  plain_free(x);
}

static void op_mor(in_t *in) {
  mxb_mor_config_t mc;
  mxb_mor_config_init(&mc);
  uint8_t which = u8(in) < 128 ? 0 : u8(in);
  if (which & 1) mc.struct_size = pick_struct_size(in, sizeof(mc));
  if (which & 2) mc.metric = (mxb_mor_metric_t)pick(in, 3);
  if (which & 4) {
    uint64_t u = u64(in);
    memcpy(&mc.tau, &u, 8);
  }
  if (which & 8) mc.tau = (double)u8(in) / 64.0;
  if (which & 16) mc.pow2_scale = pick_flag(in);
  int dt = pick(in, 3);
  int format = u8(in) < 220 ? MXB_FORMAT_MOR_TENSOR + u8(in) % 3 : pick(in, MXB_FORMAT_COUNT);
  int64_t rows = pick_dim(in), cols = pick_dim(in);
  ftensor d;
  ft_make(&d, in, format, rows, cols, pick(in, 2), 0);
  size_t need = (size_t)0xA5A5A5A5A5A5A5A5ull;
  mxb_status_t s = mxb_mor_workspace_size(g_ctx, &mc, (mxb_dtype_t)dt, &d.t, &need);
  if (s != MXB_SUCCESS) {
    expect_failure_detail(s, "mxb_mor_workspace_size");
    CHECK(need == (size_t)0xA5A5A5A5A5A5A5A5ull, "bytes written on failure");
    need = 0;
  } else if (shape_ok(rows, cols)) {
    CHECK((__int128)need >= (__int128)rows * cols, "MoR workspace %zu wrapped", need); /* the FP8 codes */
  }
  void *src = plain_for(in, dt, rows, cols);
  size_t bytes;
  void *block;
  int misaligned;
  void *ws = pick_workspace(in, need, &bytes, &block, &misaligned);
  ft_snap(&d);
  s = mxb_mor_quantize(g_ctx, &mc, (mxb_dtype_t)dt, src, &d.t, ws, bytes, NULL);
  if (!failed_cleanly(s, "mxb_mor_quantize", ft_same(&d))) {
    CHECK(d.real && src && !misaligned && ft_aligned(&d) && plain_aligned(src, dt),
          "mxb_mor_quantize accepted invalid arguments");
    double frac = -1;
    CHECK(mxb_mor_fp8_fraction(&d.t, &frac) == MXB_SUCCESS && frac >= 0 && frac <= 1, "fp8 fraction %g", frac);
    check_decode(&d, all_finite(dt, src, (size_t)(rows * cols)), "mxb_mor_quantize");
  }
  /* the fraction of a MoR tensor with input-byte decisions */
  ftensor h;
  ft_make(&h, in, format, rows, cols, 0, 1);
  double frac = -7;
  ft_snap(&h);
  s = mxb_mor_fp8_fraction(u8(in) == 255 ? NULL : &h.t, &frac);
  CHECK(ft_same(&h), "mxb_mor_fp8_fraction changed its input");
  if (s != MXB_SUCCESS) {
    expect_failure_detail(s, "mxb_mor_fp8_fraction");
    CHECK(frac == -7, "fraction written on failure");
  } else {
    CHECK(h.real && frac >= 0 && frac <= 1, "fraction %g", frac);
  }
  ft_free(&h);
  free(block);
  plain_free(src);
  ft_free(&d);
}

static void op_stats(in_t *in) {
  int format = pick(in, MXB_FORMAT_COUNT), layout = pick(in, 2);
  int64_t rows = pick_dim(in), cols = pick_dim(in);
  float *x = plain_for(in, MXB_DTYPE_FP32, rows, cols);
  ftensor q;
  if (u8(in) < 128) { /* a tensor the library quantized from x */
    ft_like(&q, (mxb_format_t)format, rows, cols, (mxb_scale_layout_t)layout);
    mxb_quant_config_t cfg;
    pick_quant_config(in, &cfg);
    if (q.real) mxb_quantize(g_ctx, &cfg, MXB_DTYPE_FP32, x, &q.t, NULL, 0, NULL);
  } else {
    ft_make(&q, in, format, rows, cols, layout, 1);
  }
  size_t ss = pick_struct_size(in, sizeof(mxb_error_stats_t));
  unsigned char *buf = malloc(sizeof(mxb_error_stats_t) + 32);
  memset(buf, CANARY, sizeof(mxb_error_stats_t) + 32);
  memcpy(buf, &ss, sizeof(ss));
  ft_snap(&q);
  mxb_status_t s = mxb_error_stats(u8(in) == 255 ? NULL : x, &q.t, (mxb_error_stats_t *)buf);
  CHECK(ft_same(&q), "mxb_error_stats changed its input");
  size_t written = s == MXB_SUCCESS ? (ss < sizeof(mxb_error_stats_t) ? ss : sizeof(mxb_error_stats_t)) : sizeof(size_t);
  size_t ss_after;
  memcpy(&ss_after, buf, sizeof(ss_after));
  CHECK(ss_after == ss, "struct_size changed");
  for (size_t i = written; i < sizeof(mxb_error_stats_t) + 32; i++)
    CHECK(buf[i] == CANARY, "mxb_error_stats wrote byte %zu (status %d)", i, (int)s);
  if (s != MXB_SUCCESS) {
    expect_failure_detail(s, "mxb_error_stats");
  } else {
    /* a caller built before frac_scaled_to_4 passes the prefix up to scale_code_hist */
    const size_t old = offsetof(mxb_error_stats_t, scale_code_hist) + sizeof(((mxb_error_stats_t *)0)->scale_code_hist);
    CHECK(q.real && x && ss >= old && ft_aligned(&q) && plain_aligned(x, MXB_DTYPE_FP32),
          "mxb_error_stats accepted invalid arguments");
    mxb_error_stats_t st;
    memcpy(&st, buf, sizeof(st));
    CHECK(st.count == rows * cols && st.nonfinite >= 0 && st.nonfinite <= st.count, "counts");
    CHECK(st.frac_flushed >= 0 && st.frac_flushed <= 1 && st.frac_saturated >= 0 && st.frac_saturated <= 1,
          "fractions %g %g", st.frac_flushed, st.frac_saturated);
    if (ss >= sizeof(st))
      CHECK(isnan(st.frac_scaled_to_4) || (st.frac_scaled_to_4 >= 0 && st.frac_scaled_to_4 <= 1), "frac_scaled_to_4 %g",
            st.frac_scaled_to_4);
  }
  free(buf);
  plain_free(x);
  ft_free(&q);
}

/* An operand for the GEMM: quantized by the library, or input bytes. */
static void gemm_operand(in_t *in, ftensor *f, int format, int64_t rows, int64_t cols) {
  int layout = pick(in, 2);
  if (u8(in) < 176 && shape_small(rows, cols)) {
    ft_like(f, (mxb_format_t)format, rows, cols, (mxb_scale_layout_t)layout);
    float *x = make_plain(in, MXB_DTYPE_FP32, (size_t)(rows * cols));
    mxb_status_t s = MXB_ERR_UNSUPPORTED;
    if (!f->real) {
    } else if (format == MXB_FORMAT_FP32) {
      memcpy(f->t.data, x, (size_t)(rows * cols) * 4);
    } else if (format >= MXB_FORMAT_MOR_TENSOR && format <= MXB_FORMAT_MOR_1x128) {
      mxb_mor_config_t mc;
      mxb_mor_config_init(&mc);
      size_t ws = 0;
      if (mxb_mor_workspace_size(g_ctx, &mc, MXB_DTYPE_FP32, &f->t, &ws) == MXB_SUCCESS) {
        void *w = malloc(ws);
        s = mxb_mor_quantize(g_ctx, &mc, MXB_DTYPE_FP32, x, &f->t, w, ws, NULL);
        free(w);
      }
    } else {
      mxb_quant_config_t cfg;
      pick_quant_config(in, &cfg);
      s = mxb_quantize(g_ctx, &cfg, MXB_DTYPE_FP32, x, &f->t, NULL, 0, NULL);
    }
    (void)s;
    plain_free(x);
  } else {
    ft_make(f, in, format, rows, cols, layout, 1);
  }
}

static void op_gemm(in_t *in) {
  int fa = pick(in, MXB_FORMAT_COUNT), fb = u8(in) & 1 ? fa : pick(in, MXB_FORMAT_COUNT);
  int64_t M = pick_dim(in), N = pick_dim(in), K = pick_dim(in), Kb = u8(in) >= 250 ? pick_dim(in) : K;
  /* keep the work of one call small */
  if (shape_small(M, K) && shape_small(N, Kb) && M * N * K > ((int64_t)1 << 20)) M = 1 + M % 8;
  ftensor A, B;
  gemm_operand(in, &A, fa, M, K);
  gemm_operand(in, &B, fb, N, Kb);
  mxb_gemm_desc_t d;
  mxb_gemm_desc_init(&d);
  uint8_t which = u8(in) < 96 ? 0 : u8(in);
  if (which & 1) d.struct_size = pick_struct_size(in, sizeof(d));
  if (which & 2) d.mode = (mxb_gemm_mode_t)pick(in, 2);
  if (which & 4) d.c_type = (mxb_dtype_t)pick(in, 3);
  if (which & 8) d.alpha = f32_of(u8(in) < 128 ? k_special[u8(in) % NSPECIAL] : u32(in));
  if (which & 16) d.beta = f32_of(u8(in) < 128 ? k_special[u8(in) % NSPECIAL] : u32(in));
  if (which & 32) d.ldc = u8(in) < 200 && N >= 1 && N <= MAX_ELEMS ? N + u8(in) % 5 : pick_dim(in);
  /* pointer mode: host floats on the CPU backend, sometimes misaligned */
  float scal[3];
  const int soff = which & 192 && u8(in) >= 224 ? 1 + u8(in) % 3 : 0;
  for (int k = 0; k < 2; k++) {
    const float v = f32_of(u8(in) < 128 ? k_special[u8(in) % NSPECIAL] : u32(in));
    memcpy((char *)scal + soff + 4 * k, &v, 4);
  }
  if (which & 64) d.alpha_ptr = (const float *)(void *)((char *)scal + soff);
  if (which & 128) d.beta_ptr = (const float *)(void *)((char *)scal + soff + 4);
  const int scal_bad = soff && d.struct_size >= offsetof(mxb_gemm_desc_t, beta_ptr) + sizeof(d.beta_ptr);
  size_t need = (size_t)0xA5A5A5A5A5A5A5A5ull;
  mxb_status_t s = mxb_gemm_workspace_size(g_ctx, &d, &A.t, &B.t, &need);
  if (s != MXB_SUCCESS) {
    expect_failure_detail(s, "mxb_gemm_workspace_size");
    CHECK(need == (size_t)0xA5A5A5A5A5A5A5A5ull, "bytes written on failure");
    need = 0;
  } else if (shape_ok(M, K)) {
    CHECK((__int128)need >= (__int128)K * 8, "GEMM workspace %zu wrapped", need); /* a row of binary64 values */
  }
  int64_t ldc = d.ldc ? d.ldc : N;
  size_t es = d.c_type == MXB_DTYPE_FP32 ? 4 : 2;
  int c_small = M >= 1 && ldc >= 1 && M <= MAX_ELEMS && ldc <= 4 * MAX_ELEMS && M * ldc <= 4 * MAX_ELEMS;
  outbuf C;
  out_make(&C, c_small ? (size_t)(M * ldc) * es + 2 : 64);
  for (size_t i = 0; i + 4 <= C.n; i += 4) { /* C is read when beta != 0: finite values */
    float v = (float)(i % 97) - 48.0f;
    memcpy(C.p + i, &v, 4);
  }
  void *c = c_small || !shape_ok(M, N) ? C.p + (u8(in) >= 250 ? 1 : 0) : NULL;
  size_t bytes;
  void *block;
  int misaligned;
  void *ws = pick_workspace(in, need, &bytes, &block, &misaligned);
  out_snap(&C);
  ft_snap(&A);
  ft_snap(&B);
  s = mxb_gemm(g_ctx, &d, &A.t, &B.t, c, ws, bytes, NULL);
  CHECK(ft_same(&A) && ft_same(&B), "mxb_gemm changed an operand");
  if (!failed_cleanly(s, "mxb_gemm", out_same(&C))) {
    /* a descriptor of the first release (up to ldc) is complete: the later fields default */
    CHECK(A.real && B.real && c_small && c && !misaligned && !scal_bad && K == Kb &&
              d.struct_size >= offsetof(mxb_gemm_desc_t, ldc) + sizeof(d.ldc) &&
              ft_aligned(&A) && ft_aligned(&B) && aligned_to(c, es),
          "mxb_gemm accepted invalid arguments");
    int sup = -1;
    CHECK(mxb_gemm_pair_supported((mxb_format_t)fa, (mxb_format_t)fb, d.mode, &sup) == MXB_SUCCESS && sup == 1,
          "mxb_gemm ran a pair mxb_gemm_pair_supported refuses");
  }
  free(block);
  out_free(&C);
  ft_free(&A);
  ft_free(&B);
}

typedef void (*op_fn)(in_t *);
static const op_fn k_ops[] = {op_sizes, op_misc, op_quantize, op_dequantize, op_amax, op_pair,
                              op_transpose, op_rht, op_mor, op_stats, op_gemm};
#define NOPS (sizeof(k_ops) / sizeof(k_ops[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!g_ctx && mxb_context_create(MXB_BACKEND_CPU, 0, &g_ctx) != MXB_SUCCESS) abort();
  in_t in = {data, size};
  for (int k = 0; k < 3 && (k == 0 || in.n > 0); k++) k_ops[u8(&in) % NOPS](&in);
  return 0;
}
