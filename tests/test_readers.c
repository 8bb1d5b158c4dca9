/* File readers of the mxblas tool: .npy and safetensors, valid and hostile. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../tools/io/tensor_io.h"

static char g_dir[64];
static char g_err[512];

static void make_dir(void) {
  strcpy(g_dir, "/tmp/mxb_readers_XXXXXX");
  cr_assert_not_null(mkdtemp(g_dir));
}
static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
  cr_assert_eq(system(cmd), 0);
}
static const char *tmp_path(const char *name) {
  static char p[128];
  snprintf(p, sizeof(p), "%s/%s", g_dir, name);
  return p;
}

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(*len + 1);
  cr_assert_eq(fread(b, 1, *len, f), *len);
  fclose(f);
  return b;
}

/* Load from memory; expect failure whose message contains want. */
static void expect_fail(const void *buf, size_t len, const char *name, const char *want) {
  mxio_src s;
  mxio_array a;
  mxio_src_mem(&s, buf, len);
  g_err[0] = 0;
  cr_assert_neq(mxio_load_src(&s, name, &a, g_err, sizeof(g_err)), 0, "accepted; wanted '%s'", want);
  cr_assert_not_null(strstr(g_err, want), "message '%s' lacks '%s'", g_err, want);
}

/* A hand-built .npy: version, header text (padded), then the data bytes. */
static size_t build_npy(uint8_t *out, int major, const char *dict, const void *data, size_t n) {
  size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
  size_t total = (pre + dl + 1 + 63) / 64 * 64, hlen = total - pre;
  memcpy(out, "\x93NUMPY", 6);
  out[6] = (uint8_t)major;
  out[7] = 0;
  for (size_t i = 0; i < pre - 8; i++) out[8 + i] = (uint8_t)(hlen >> (8 * i));
  memcpy(out + pre, dict, dl);
  memset(out + pre + dl, ' ', hlen - dl - 1);
  out[total - 1] = '\n';
  memcpy(out + total, data, n);
  return total + n;
}

TestSuite(readers, .init = make_dir, .fini = remove_dir);

Test(readers, npy_round_trip_every_dtype) {
  const float f[6] = {1.0f, -2.5f, 0.0f, INFINITY, 3.0e-5f, -0.0f};
  const uint16_t h[6] = {0x3C00, 0x0001, 0x7BFF, 0x8000, 0xFC00, 0x3555};      /* f16 */
  const uint16_t b[6] = {0x3F80, 0xC0A0, 0x0001, 0x7F80, 0x8000, 0x4049};      /* bf16 */
  const double d[6] = {0.1, -0x1.fffffefffffffp+127, 1e-50, 2.0, -3.5, 65504.0}; /* [1]: just below the overflow midpoint */
  const float h_want[6] = {1.0f, 0x1p-24f, 65504.0f, -0.0f, -INFINITY, 0.333251953125f};
  const float b_want[6] = {1.0f, -5.0f, 0x1p-133f, INFINITY, -0.0f, 3.140625f};
  const float d_want[6] = {(float)0.1, -0x1.fffffep+127f, 0.0f, 2.0f, -3.5f, 65504.0f};
  const struct {
    mxio_dtype t;
    const void *data;
    const float *want;
  } cases[] = {{MXIO_F32, f, f}, {MXIO_F16, h, h_want}, {MXIO_BF16, b, b_want}, {MXIO_F64, d, d_want}};
  const int64_t shape[3] = {1, 2, 3};
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    cr_assert_eq(mxio_npy_write(tmp_path("a.npy"), cases[k].t, 3, shape, cases[k].data, g_err, sizeof(g_err)), 0,
                 "%s", g_err);
    mxio_array a;
    cr_assert_eq(mxio_load(tmp_path("a.npy"), NULL, &a, g_err, sizeof(g_err)), 0, "%s", g_err);
    cr_assert_eq(a.dtype, cases[k].t);
    cr_assert_eq(a.ndim, 3);
    cr_assert_eq(a.rows, 2); /* N-D flattened to [prod(leading), last] */
    cr_assert_eq(a.cols, 3);
    cr_assert_eq(a.nbytes, 6 * mxio_dtype_size(cases[k].t));
    cr_assert_eq(memcmp(a.data, cases[k].data, a.nbytes), 0);
    cr_assert_eq(mxio_array_to_f32(&a, g_err, sizeof(g_err)), 0);
    const float *v = a.data;
    for (int i = 0; i < 6; i++) {
      uint32_t x, y;
      memcpy(&x, &v[i], 4);
      memcpy(&y, &cases[k].want[i], 4);
      cr_assert_eq(x, y, "dtype %s element %d: %a, want %a", mxio_dtype_name(cases[k].t), i, v[i],
                   cases[k].want[i]);
    }
    mxio_array_free(&a);
  }
}

/* A finite f64 value that rounds to infinity in fp32 (here the overflow
 * midpoint FLT_MAX + ulp/2, and 1e300) is refused, naming the element, and
 * the array is left as it was. */
Test(readers, f64_beyond_fp32_is_refused) {
  const double vals[2] = {-0x1.ffffffp+127, 1e300};
  for (int k = 0; k < 2; k++) {
    const double d[3] = {1.0, vals[k], 2.0};
    const int64_t shape[2] = {1, 3};
    cr_assert_eq(mxio_npy_write(tmp_path("big.npy"), MXIO_F64, 2, shape, d, g_err, sizeof(g_err)), 0, "%s", g_err);
    mxio_array a;
    cr_assert_eq(mxio_load(tmp_path("big.npy"), NULL, &a, g_err, sizeof(g_err)), 0, "%s", g_err);
    cr_assert_neq(mxio_array_to_f32(&a, g_err, sizeof(g_err)), 0, "%a was read as fp32", vals[k]);
    cr_assert(strstr(g_err, "element 1") != NULL, "%s", g_err);
    cr_assert_eq(a.dtype, MXIO_F64);
    cr_assert_eq(memcmp(a.data, d, sizeof(d)), 0);
    mxio_array_free(&a);
  }
}

Test(readers, npy_versions_and_shapes) {
  uint8_t buf[512];
  const float v[4] = {1, 2, 3, 4};
  const char *dicts[] = {
    "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
    "{\"shape\": (2, 2), \"descr\": \"<f4\", \"fortran_order\": False}",
    "{'descr':'<f4','fortran_order':False,'shape':(1,1,4)}",
  };
  const int64_t rows[] = {1, 2, 1}, cols[] = {4, 2, 4};
  for (int major = 1; major <= 3; major++)
    for (int k = 0; k < 3; k++) {
      size_t n = build_npy(buf, major, dicts[k], v, sizeof(v));
      mxio_src s;
      mxio_array a;
      mxio_src_mem(&s, buf, n);
      cr_assert_eq(mxio_load_src(&s, NULL, &a, g_err, sizeof(g_err)), 0, "v%d %s: %s", major, dicts[k], g_err);
      cr_assert_eq(a.rows, rows[k]);
      cr_assert_eq(a.cols, cols[k]);
      cr_assert_eq(memcmp(a.data, v, 16), 0);
      mxio_array_free(&a);
    }
  /* A 0-d array is one element, [1, 1]. */
  size_t n = build_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", v, 4);
  mxio_src s;
  mxio_array a;
  mxio_src_mem(&s, buf, n);
  cr_assert_eq(mxio_load_src(&s, NULL, &a, g_err, sizeof(g_err)), 0, "%s", g_err);
  cr_assert_eq(a.rows * a.cols, 1);
  mxio_array_free(&a);
}

Test(readers, npy_bad_headers) {
  uint8_t buf[512];
  const float v[4] = {0};
  const struct {
    const char *dict, *want;
  } cases[] = {
    {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", "Fortran"},
    {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", "unsupported .npy dtype '>f4'"},
    {"{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", "unsupported .npy dtype '<i8'"},
    {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", "structured"},
    {"{'descr': '<f4', 'shape': (4,), }", "needs descr, fortran_order and shape"},
    {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", "repeated key 'descr'"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'x': 1}", "unexpected"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", "bad dimension"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': [4], }", "not a tuple"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), } x", "after the dict"},
    {"{'descr': '<f4', 'fortran_order': Nope, 'shape': (4,), }", "fortran_order"},
    {"'descr'", "expected '{'"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", "bad dimension"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }",
     "absurd"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824, 1024), }", "limit"},
    {"{'descr': '<f4', 'fortran_order': False, 'shape': (1024, 1024), }", "truncated"},
  };
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    size_t n = build_npy(buf, 1, cases[k].dict, v, sizeof(v));
    expect_fail(buf, n, NULL, cases[k].want);
  }
  size_t n = build_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", v, 16);
  buf[6] = 4;
  expect_fail(buf, n, NULL, "unsupported .npy version 4");
  buf[6] = 1;
  buf[8] = 0xFF; /* header length past the end */
  buf[9] = 0xFF;
  expect_fail(buf, n, NULL, "truncated");
  buf[6] = 2; /* v2: 32-bit header length 0xFFFF003x + upper bytes */
  buf[10] = 0xFF;
  buf[11] = 0x7F;
  expect_fail(buf, n, NULL, "limit");
  n = build_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", v, 16);
  expect_fail(buf, n, "w", "does not apply");
}

/* Every proper prefix of a valid file fails cleanly; the whole file loads. */
static void check_prefixes(const uint8_t *file, size_t len, const char *name) {
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *p = malloc(cut ? cut : 1); /* exact size: ASan sees any over-read */
    memcpy(p, file, cut);
    mxio_src s;
    mxio_array a;
    mxio_src_mem(&s, p, cut);
    cr_assert_neq(mxio_load_src(&s, name, &a, g_err, sizeof(g_err)), 0, "prefix %zu of %zu accepted", cut, len);
    cr_assert_neq(strlen(g_err), 0);
    free(p);
  }
  mxio_src s;
  mxio_array a;
  mxio_src_mem(&s, file, len);
  cr_assert_eq(mxio_load_src(&s, name, &a, g_err, sizeof(g_err)), 0, "%s", g_err);
  mxio_array_free(&a);
}

Test(readers, truncated_files_fail_at_every_length) {
  const float v[6] = {1, 2, 3, 4, 5, 6};
  const int64_t shape[2] = {2, 3};
  size_t len;
  cr_assert_eq(mxio_npy_write(tmp_path("t.npy"), MXIO_F32, 2, shape, v, g_err, sizeof(g_err)), 0);
  uint8_t *f = slurp(tmp_path("t.npy"), &len);
  check_prefixes(f, len, NULL);
  free(f);
  mxio_st_out t = {"w", MXIO_F32, 2, shape, v};
  cr_assert_eq(mxio_st_write(tmp_path("t.safetensors"), 1, &t, 0, NULL, NULL, g_err, sizeof(g_err)), 0);
  f = slurp(tmp_path("t.safetensors"), &len);
  check_prefixes(f, len, "w");
  free(f);
}

Test(readers, safetensors_round_trip_names_and_metadata) {
  const float a[4] = {1, -2, 3, -4};
  const uint16_t bf[3] = {0x3F80, 0x4000, 0xBF80};
  const uint8_t u[5] = {1, 2, 3, 4, 5};
  const int64_t sa[2] = {2, 2}, sb[1] = {3}, su[1] = {5};
  mxio_st_out ts[3] = {{"layer.0.weight", MXIO_F32, 2, sa, a},
                       {"na\"me\\\x01\xc3\xa9", MXIO_BF16, 1, sb, bf},
                       {"codes", MXIO_U8, 1, su, u}};
  const char *keys[2] = {"format", "rows"}, *vals[2] = {"nvfp4", "2"};
  cr_assert_eq(mxio_st_write(tmp_path("m.safetensors"), 3, ts, 2, keys, vals, g_err, sizeof(g_err)), 0);
  size_t len;
  uint8_t *f = slurp(tmp_path("m.safetensors"), &len);
  uint64_t hl = 0;
  memcpy(&hl, f, 8);
  cr_assert_eq((8 + hl) % 8, 0, "data section is 8-byte aligned");
  mxio_src s;
  mxio_st st;
  mxio_src_mem(&s, f, len);
  cr_assert_eq(mxio_st_open(&s, &st, g_err, sizeof(g_err)), 0, "%s", g_err);
  cr_assert_eq(st.ntensors, 3);
  cr_assert_str_eq(mxio_st_meta(&st, "format"), "nvfp4");
  cr_assert_str_eq(mxio_st_meta(&st, "rows"), "2");
  cr_assert_null(mxio_st_meta(&st, "cols"));
  for (int i = 0; i < 3; i++) {
    const mxio_st_tensor *t = mxio_st_find(&st, ts[i].name);
    cr_assert_not_null(t, "tensor %d", i);
    mxio_array arr;
    cr_assert_eq(mxio_st_read(&s, &st, t, &arr, g_err, sizeof(g_err)), 0, "%s", g_err);
    cr_assert_eq(arr.dtype, ts[i].dtype);
    cr_assert_eq(arr.ndim, ts[i].ndim);
    cr_assert_eq(memcmp(arr.data, ts[i].data, arr.nbytes), 0);
    mxio_array_free(&arr);
  }
  mxio_st_free(&st);
  expect_fail(f, len, NULL, "holds 3 tensors");
  expect_fail(f, len, "nope", "no tensor named 'nope' (the file has: layer.0.weight");
  free(f);
}

/* A safetensors file from a header string and n data bytes. */
static size_t build_st(uint8_t *out, const char *json, size_t ndata) {
  uint64_t n = strlen(json);
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)(n >> (8 * i));
  memcpy(out + 8, json, n);
  memset(out + 8 + n, 0, ndata);
  return 8 + n + ndata;
}

Test(readers, safetensors_strict_json) {
  static uint8_t buf[4096];
  const struct {
    const char *json, *want;
    size_t ndata;
  } ok[] = {
    {"{\"x\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", NULL, 4},
    {" { \"__metadata__\" : { } , \"x\" : { \"shape\" : [ ] , \"dtype\" : \"F32\" , "
     "\"data_offsets\" : [ 0 , 4 ] } }  ",
     NULL, 4},
    {"{\"\\u00e9\\ud83d\\ude00\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", NULL, 4},
    /* Tiled out of order, with empty tensors anywhere. */
    {"{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
     "\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[8,8]}}",
     NULL, 8},
  };
  for (size_t k = 0; k < sizeof(ok) / sizeof(ok[0]); k++) {
    size_t n = build_st(buf, ok[k].json, ok[k].ndata);
    mxio_src s;
    mxio_array a;
    mxio_src_mem(&s, buf, n);
    mxio_st st;
    cr_assert_eq(mxio_st_open(&s, &st, g_err, sizeof(g_err)), 0, "%s: %s", ok[k].json, g_err);
    for (int i = 0; i < st.ntensors; i++) {
      cr_assert_eq(mxio_st_read(&s, &st, &st.tensors[i], &a, g_err, sizeof(g_err)), 0, "%s", g_err);
      mxio_array_free(&a);
    }
    mxio_st_free(&st);
  }
  /* The escaped name decodes to UTF-8. */
  size_t n = build_st(buf, ok[2].json, 4);
  mxio_src s;
  mxio_array a;
  mxio_src_mem(&s, buf, n);
  cr_assert_eq(mxio_load_src(&s, "\xc3\xa9\xf0\x9f\x98\x80", &a, g_err, sizeof(g_err)), 0, "%s", g_err);
  mxio_array_free(&a);

  const struct {
    const char *json, *want;
    size_t ndata;
  } bad[] = {
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "shape needs 8 bytes but data_offsets span 4", 4},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", "outside the 4-byte data section", 4},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", "outside", 4},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"y\":1}}", "unexpected or repeated key 'y'", 4},
    {"{\"x\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "repeated key 'dtype'", 4},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", "needs dtype, shape and data_offsets", 4},
    {"{\"x\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", "unknown dtype 'Q4'", 4},
    {"{\"x\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "dtype not supported", 4},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", "shape is not a list", 4},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "shape is not a list", 4},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,4]}}", "absurd", 4},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     "repeated tensor 'x'", 4},
    /* The tensors tile the data section exactly, in some order. */
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}",
     "tensors 'x' and 'y' overlap (data_offsets [0, 4] and [2, 6])", 8},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     "tensors 'x' and 'y' overlap", 4},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[2,2]}}",
     "tensors 'x' and 'z' overlap", 4},
    {"{\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     "bytes [4, 8) of the data section belong to no tensor", 12},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "bytes [0, 4) of the data section belong to no tensor", 8},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "bytes [4, 6) of the data section belong to no tensor", 6},
    {"{\"__metadata__\":{}}", "bytes [0, 1) of the data section belong to no tensor", 1},
    {"{\"__metadata__\":{\"a\":1}}", "values must be strings", 0},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", "repeated __metadata__", 0},
    {"{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", "repeated __metadata__ key 'a'", 0},
    {"[]", "not a JSON object", 0},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} {}", "text after", 4},
    {"{\"x\\q\":{}}", "not a JSON object", 0},
    {"{\"\\ud800\":{}}", "not a JSON object", 0},
    {"{\"a\x01\":{}}", "not a JSON object", 0},
    {"{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", "malformed", 4},
    {"", "malformed", 0},
  };
  for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
    n = build_st(buf, bad[k].json, bad[k].ndata);
    expect_fail(buf, n, bad[k].json[0] == '{' && strstr(bad[k].json, "I32") ? "x" : NULL, bad[k].want);
  }
  /* Absurd header length: refused before any allocation; without a JSON
   * object after it, the file is not a safetensors file at all. */
  memset(buf, 0xFF, 16);
  buf[8] = '{';
  expect_fail(buf, 16, NULL, "header length 18446744073709551615 exceeds");
  buf[8] = 0xFF;
  expect_fail(buf, 16, NULL, "not a .npy or safetensors file");
  g_err[0] = 0;
  expect_fail("hello, this is text\n", 20, NULL, "not a .npy or safetensors file");
  cr_assert_null(strstr(g_err, "header length"), "%s", g_err);
  expect_fail(buf, 3, NULL, "not a .npy or safetensors file");
}

Test(readers, safetensors_lists_unreadable_dtypes) {
  static uint8_t buf[512];
  size_t n = build_st(buf,
                      "{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                      "\"w\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[16,24]}}",
                      24);
  mxio_src s;
  mxio_st st;
  mxio_src_mem(&s, buf, n);
  cr_assert_eq(mxio_st_open(&s, &st, g_err, sizeof(g_err)), 0, "%s", g_err);
  cr_assert_eq(st.ntensors, 2);
  mxio_st_free(&st);
  mxio_array a;
  cr_assert_eq(mxio_load_src(&s, "w", &a, g_err, sizeof(g_err)), 0, "%s", g_err);
  cr_assert_eq(a.rows, 2);
  mxio_array_free(&a);
  expect_fail(buf, n, "ids", "dtype not supported");
}

Test(readers, missing_file) {
  mxio_array a;
  cr_assert_neq(mxio_load(tmp_path("absent.npy"), NULL, &a, g_err, sizeof(g_err)), 0);
  cr_assert_not_null(strstr(g_err, "absent.npy"));
  cr_assert_not_null(strstr(g_err, "No such file"));
}

/* Writers replace their output atomically: a failed write (here: the file
 * size limit) leaves the old file and no temporary file. */
static int count_entries(const char *dir) {
  char cmd[160];
  snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
  FILE *p = popen(cmd, "r");
  int n = -1;
  cr_assert_not_null(p);
  cr_assert_eq(fscanf(p, "%d", &n), 1);
  pclose(p);
  return n;
}

Test(readers, failed_writes_leave_the_old_file) {
  static float big[4096];
  const int64_t shape[1] = {4096}, small_shape[1] = {4};
  mxio_st_out t = {"w", MXIO_F32, 1, shape, big};
  mxio_st_out small = {"w", MXIO_F32, 1, small_shape, big};
  cr_assert_eq(mxio_npy_write(tmp_path("a.npy"), MXIO_F32, 1, small_shape, big, g_err, sizeof(g_err)), 0);
  cr_assert_eq(mxio_st_write(tmp_path("a.st"), 1, &small, 0, NULL, NULL, g_err, sizeof(g_err)), 0);
  size_t len_npy, len_st;
  uint8_t *old_npy = slurp(tmp_path("a.npy"), &len_npy), *old_st = slurp(tmp_path("a.st"), &len_st);
  signal(SIGXFSZ, SIG_IGN); /* writes past the limit fail with EFBIG */
  struct rlimit lim = {8192, 8192};
  cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
  cr_assert_neq(mxio_npy_write(tmp_path("a.npy"), MXIO_F32, 1, shape, big, g_err, sizeof(g_err)), 0);
  cr_assert_not_null(strstr(g_err, "File too large"), "%s", g_err);
  cr_assert_neq(mxio_st_write(tmp_path("a.st"), 1, &t, 0, NULL, NULL, g_err, sizeof(g_err)), 0);
  cr_assert_not_null(strstr(g_err, "File too large"), "%s", g_err);
  size_t n;
  uint8_t *now = slurp(tmp_path("a.npy"), &n);
  cr_assert(n == len_npy && memcmp(now, old_npy, n) == 0, "a.npy changed");
  free(now);
  now = slurp(tmp_path("a.st"), &n);
  cr_assert(n == len_st && memcmp(now, old_st, n) == 0, "a.st changed");
  free(now);
  cr_assert_eq(count_entries(g_dir), 2, "a temporary file was left");
  free(old_npy);
  free(old_st);
}

/* Text from files is printed escaped: terminal controls and invalid UTF-8
 * never pass through, JSON output stays valid. */
Test(readers, escaped_text) {
  const struct {
    const char *in, *text, *json;
  } cases[] = {
    {"plain.name_0", "plain.name_0", "plain.name_0"},
    {"\x1b[31mred", "\\x1B[31mred", "\\u001b[31mred"},
    {"a\rb\nc\td\x07", "a\\rb\\nc\\td\\x07", "a\\rb\\nc\\td\\u0007"},
    {"q\"b\\s", "q\"b\\\\s", "q\\\"b\\\\s"},
    {"del\x7f c1\xc2\x9b", "del\\x7F c1\\u009b", "del\\u007f c1\\u009b"},
    {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
     "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
    /* invalid: a lone byte, an overlong '/', an encoded surrogate, a cut sequence, > U+10FFFF */
    {"\xff.\xc0\xaf.\xed\xa0\x80.\xe2\x82.\xf4\x90\x80\x80", "\\xFF.\\xC0\\xAF.\\xED\\xA0\\x80.\\xE2\\x82.\\xF4\\x90\\x80\\x80",
     "\\ufffd.\\ufffd\\ufffd.\\ufffd\\ufffd\\ufffd.\\ufffd\\ufffd.\\ufffd\\ufffd\\ufffd\\ufffd"},
  };
  char buf[256];
  for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
    cr_assert_str_eq(mxio_escaped(cases[k].in, MXIO_ESC_TEXT, buf, sizeof(buf)), cases[k].text);
    cr_assert_str_eq(mxio_escaped(cases[k].in, MXIO_ESC_JSON, buf, sizeof(buf)), cases[k].json);
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    size_t n = mxio_put_escaped(f, cases[k].in, MXIO_ESC_TEXT);
    fclose(f);
    cr_assert_eq(n, strlen(cases[k].text));
    cr_assert_str_eq(mem, cases[k].text);
    free(mem);
  }
  /* Cut to fit, at a character boundary, marked. */
  cr_assert_str_eq(mxio_escaped("abcdefgh", MXIO_ESC_TEXT, buf, 8), "abcd...");
  cr_assert_str_eq(mxio_escaped("ab\x1b" "cdefgh", MXIO_ESC_TEXT, buf, 9), "ab...");
  cr_assert_str_eq(mxio_escaped("abcdefg", MXIO_ESC_TEXT, buf, 8), "abcdefg");
}

/* The header is UTF-8 (as the reference reader requires); the writer stores
 * text that is not as U+FFFD, so its files always parse. */
Test(readers, safetensors_names_are_utf8) {
  static uint8_t buf[512];
  size_t n = build_st(buf, "{\"w\xff\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
  expect_fail(buf, n, NULL, "malformed");
  n = build_st(buf, "{\"w\xc3\xa9\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
  mxio_src s;
  mxio_array a;
  mxio_src_mem(&s, buf, n);
  cr_assert_eq(mxio_load_src(&s, "w\xc3\xa9", &a, g_err, sizeof(g_err)), 0, "%s", g_err);
  mxio_array_free(&a);
  const float v = 1;
  const int64_t shape[1] = {1};
  mxio_st_out t = {"w\xff\x1b", MXIO_F32, 1, shape, &v};
  const char *key = "src", *val = "\xfe.npy";
  cr_assert_eq(mxio_st_write(tmp_path("u.st"), 1, &t, 1, &key, &val, g_err, sizeof(g_err)), 0, "%s", g_err);
  cr_assert_eq(mxio_load(tmp_path("u.st"), "w\xef\xbf\xbd\x1b", &a, g_err, sizeof(g_err)), 0, "%s", g_err);
  mxio_array_free(&a);
}
