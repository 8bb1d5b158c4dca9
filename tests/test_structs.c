/* ABI growth of the output structs (mxb_tensor_sizes_t, mxb_format_info_t,
 * mxb_error_stats_t): the library writes only the bytes the caller's
 * struct_size covers, never rewrites struct_size, and refuses a struct_size
 * below the struct's first release. Each struct sits in a buffer with canary
 * bytes after it. */
#include <stddef.h>

#include "core/tensor.h"
#include "transforms_util.h"

#define CANARY 0xCD
#define EXTRA 64

static void set_size(void *buf, size_t struct_size) { memcpy(buf, &struct_size, sizeof(size_t)); }
static size_t get_size(const void *buf) {
  size_t s;
  memcpy(&s, buf, sizeof(size_t));
  return s;
}
static int all_canary(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != CANARY) return 0;
  return 1;
}

/* One output-struct API call on a buffer of at least `size` bytes. */
typedef mxb_status_t (*fill_fn)(void *out, void *arg);

static mxb_status_t fill_sizes(void *out, void *arg) {
  (void)arg;
  return mxb_tensor_sizes(MXB_FORMAT_NVFP4, 3, 33, MXB_SCALE_LAYOUT_LINEAR, out);
}
static mxb_status_t fill_info(void *out, void *arg) {
  (void)arg;
  return mxb_format_info(MXB_FORMAT_MX6, out);
}
typedef struct stats_arg {
  float x[64];
  mxbt_qt q;
} stats_arg;
static mxb_status_t fill_stats(void *out, void *arg) {
  stats_arg *a = arg;
  return mxb_error_stats(a->x, &a->q.t, out);
}

/* A caller built against a newer header (struct_size larger than the
 * library's struct), the exact size, a caller of the first release (size
 * `first`: only its prefix is written), and sizes below the first release. */
static void check_output_struct(fill_fn fill, void *arg, size_t size, size_t first, const char *what) {
  unsigned char *ref = malloc(size), *buf = malloc(size + EXTRA);
  memset(ref, 0, size);
  set_size(ref, size);
  cr_assert_eq(fill(ref, arg), MXB_SUCCESS, "%s: %s", what, mxb_last_error_detail());
  cr_assert_eq(get_size(ref), size, "%s: struct_size rewritten", what);

  memset(buf, CANARY, size + EXTRA);
  set_size(buf, size + EXTRA);
  cr_assert_eq(fill(buf, arg), MXB_SUCCESS, "%s: %s", what, mxb_last_error_detail());
  cr_assert_eq(get_size(buf), size + EXTRA, "%s: the caller's struct_size was overwritten", what);
  cr_assert_eq(memcmp(buf + sizeof(size_t), ref + sizeof(size_t), size - sizeof(size_t)), 0, "%s: fields differ",
               what);
  cr_assert(all_canary(buf + size, EXTRA), "%s: bytes past the library's struct were written", what);

  memset(buf, CANARY, size + EXTRA);
  set_size(buf, first);
  cr_assert_eq(fill(buf, arg), MXB_SUCCESS, "%s (first release's size): %s", what, mxb_last_error_detail());
  cr_assert_eq(get_size(buf), first, "%s: struct_size rewritten", what);
  cr_assert_eq(memcmp(buf + sizeof(size_t), ref + sizeof(size_t), first - sizeof(size_t)), 0, "%s: prefix differs", what);
  cr_assert(all_canary(buf + first, size + EXTRA - first), "%s: bytes past the older caller's struct written", what);

  size_t small[] = {0, sizeof(size_t), first - 1};
  for (int k = 0; k < 3; k++) {
    memset(buf, CANARY, size + EXTRA);
    set_size(buf, small[k]);
    mxb_status_t s = fill(buf, arg);
    cr_assert_eq(s, MXB_ERR_INVALID_ARGUMENT, "%s: struct_size %zu accepted", what, small[k]);
    cr_assert_neq(strlen(mxb_last_error_detail()), 0, "%s: no detail", what);
    cr_assert_eq(get_size(buf), small[k], "%s: struct_size modified on failure", what);
    cr_assert(all_canary(buf + sizeof(size_t), size + EXTRA - sizeof(size_t)), "%s: written on failure", what);
  }
  free(ref);
  free(buf);
}

Test(structs, output_structs_honour_struct_size) {
  check_output_struct(fill_sizes, NULL, sizeof(mxb_tensor_sizes_t), MXB_MIN_SIZE_TENSOR_SIZES, "mxb_tensor_sizes");
  /* mxb_format_info_t grew in 0.2 (elem_name, scale_name): a 0.1 caller
   * still works and gets the fields it knows. */
  check_output_struct(fill_info, NULL, sizeof(mxb_format_info_t), MXB_MIN_SIZE_FORMAT_INFO, "mxb_format_info");
  cr_assert_lt(MXB_MIN_SIZE_FORMAT_INFO, sizeof(mxb_format_info_t));

  stats_arg a;
  for (int i = 0; i < 64; i++) a.x[i] = (float)(i - 20) * 0.37f;
  mxb_context_t *ctx = mxbt_cpu();
  mxb_quant_config_t cfg;
  mxb_quant_config_init(&cfg);
  a.q = mxbt_qt_alloc(MXB_FORMAT_MXFP4, 2, 32, MXB_SCALE_LAYOUT_LINEAR);
  mxbt_quantize(ctx, &cfg, a.x, &a.q);
  check_output_struct(fill_stats, &a, sizeof(mxb_error_stats_t), MXB_MIN_SIZE_ERROR_STATS, "mxb_error_stats");
  mxbt_qt_free(&a.q);
  mxb_context_destroy(ctx);
}

/* A caller built against an older header, whose struct ends before the
 * library's: simulated on the shared helper with a first release that ends
 * at mxb_error_stats_t.blocks. Only the caller's bytes are written. */
Test(structs, older_caller_gets_its_prefix) {
  mxb_error_stats_t lib;
  memset(&lib, 0x11, sizeof(lib));
  lib.struct_size = sizeof(lib);
  size_t old = MXB_FIELD_END(mxb_error_stats_t, blocks);
  unsigned char buf[sizeof(mxb_error_stats_t) + EXTRA];
  memset(buf, CANARY, sizeof(buf));
  set_size(buf, old);
  cr_assert_eq(mxb_check_struct_size(old, old, "stats", "set it to sizeof"), MXB_SUCCESS);
  mxb_struct_out(buf, &lib, sizeof(lib));
  cr_assert_eq(get_size(buf), old);
  cr_assert_eq(memcmp(buf + sizeof(size_t), (unsigned char *)&lib + sizeof(size_t), old - sizeof(size_t)), 0);
  cr_assert(all_canary(buf + old, sizeof(buf) - old), "bytes past the caller's struct_size were written");
  cr_assert_eq(mxb_check_struct_size(old - 1, old, "stats", "set it to sizeof"), MXB_ERR_INVALID_ARGUMENT);
  cr_assert_neq(strlen(mxb_last_error_detail()), 0);
}
