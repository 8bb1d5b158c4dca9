/* NumPy .npy reader and writer (format versions 1.0, 2.0, 3.0).
 *
 * The header is a Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * parsed strictly: exactly these three keys, each once. */
#include <stdlib.h>
#include <string.h>

#include "scan.h"
#include "tensor_io.h"

static const struct {
  const char *descr;
  mxio_dtype dtype;
} k_descr[] = {
  {"<f4", MXIO_F32}, {"<f2", MXIO_F16}, {"<u2", MXIO_BF16}, {"<f8", MXIO_F64},
  {"|u1", MXIO_U8},  {"<u1", MXIO_U8},
};

static const char *descr_of(mxio_dtype t) {
  for (size_t i = 0; i < sizeof(k_descr) / sizeof(k_descr[0]); i++)
    if (k_descr[i].dtype == t) return k_descr[i].descr;
  return NULL;
}

/* A quoted Python string without escapes, into buf. */
static int py_string(mxio_scan *c, char *buf, size_t cap) {
  mxio_ws(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return -1;
  char q = *c->p++;
  size_t n = 0;
  while (c->p < c->end && *c->p != q) {
    if (*c->p == '\\' || n + 1 >= cap) return -1;
    buf[n++] = *c->p++;
  }
  if (c->p >= c->end) return -1;
  c->p++;
  buf[n] = 0;
  return 0;
}

static int parse_header(mxio_scan *c, mxio_array *out, char *err, size_t errlen) {
  int have_descr = 0, have_order = 0, have_shape = 0;
  if (!mxio_eat(c, '{')) return mxio_fail(err, errlen, "malformed .npy header: expected '{'");
  while (!mxio_eat(c, '}')) {
    char key[32], val[32];
    if (py_string(c, key, sizeof(key)) != 0 || !mxio_eat(c, ':'))
      return mxio_fail(err, errlen, "malformed .npy header: expected 'key':");
    if (strcmp(key, "descr") == 0 && !have_descr) {
      have_descr = 1;
      if (mxio_peek(c) == '[')
        return mxio_fail(err, errlen, "structured .npy dtypes are not supported");
      if (py_string(c, val, sizeof(val)) != 0)
        return mxio_fail(err, errlen, "malformed .npy header: bad descr");
      size_t i, n = sizeof(k_descr) / sizeof(k_descr[0]);
      for (i = 0; i < n && strcmp(val, k_descr[i].descr) != 0; i++) {
      }
      if (i == n)
        return mxio_fail(err, errlen,
                         "unsupported .npy dtype '%s' (supported: <f4, <f2, <u2 as bf16 bits, <f8, u1;"
                         " little-endian)", val);
      out->dtype = k_descr[i].dtype;
    } else if (strcmp(key, "fortran_order") == 0 && !have_order) {
      have_order = 1;
      mxio_ws(c);
      if ((size_t)(c->end - c->p) >= 4 && memcmp(c->p, "True", 4) == 0)
        return mxio_fail(err, errlen,
                         "Fortran-order .npy arrays are not supported; save with np.ascontiguousarray");
      if ((size_t)(c->end - c->p) < 5 || memcmp(c->p, "False", 5) != 0)
        return mxio_fail(err, errlen, "malformed .npy header: fortran_order is not True/False");
      c->p += 5;
    } else if (strcmp(key, "shape") == 0 && !have_shape) {
      have_shape = 1;
      if (!mxio_eat(c, '(')) return mxio_fail(err, errlen, "malformed .npy header: shape is not a tuple");
      out->ndim = 0;
      while (!mxio_eat(c, ')')) {
        uint64_t d;
        if (out->ndim == MXIO_MAX_DIMS)
          return mxio_fail(err, errlen, ".npy shape has more than %d dimensions", MXIO_MAX_DIMS);
        if (mxio_uint(c, (uint64_t)INT64_MAX, &d) != 0)
          return mxio_fail(err, errlen, "malformed .npy header: bad dimension in shape");
        out->shape[out->ndim++] = (int64_t)d;
        if (!mxio_eat(c, ',')) {
          if (!mxio_eat(c, ')')) return mxio_fail(err, errlen, "malformed .npy header: bad shape tuple");
          break;
        }
      }
    } else {
      return mxio_fail(err, errlen, "malformed .npy header: unexpected or repeated key '%s'", key);
    }
    if (!mxio_eat(c, ',')) {
      if (!mxio_eat(c, '}')) return mxio_fail(err, errlen, "malformed .npy header: expected ',' or '}'");
      break;
    }
  }
  mxio_ws(c);
  if (c->p != c->end) return mxio_fail(err, errlen, "malformed .npy header: text after the dict");
  if (!have_descr || !have_order || !have_shape)
    return mxio_fail(err, errlen, "malformed .npy header: needs descr, fortran_order and shape");
  return 0;
}

int mxio_npy_read(const mxio_src *s, mxio_array *out, char *err, size_t errlen) {
  uint8_t pre[12];
  memset(out, 0, sizeof(*out));
  if (mxio_src_read(s, 0, pre, 10, "the .npy preamble", err, errlen) != 0) return -1;
  if (memcmp(pre, "\x93NUMPY", 6) != 0) return mxio_fail(err, errlen, "not a .npy file (bad magic)");
  int major = pre[6];
  uint64_t hlen, hstart;
  if (major == 1) {
    hlen = pre[8] | (pre[9] << 8);
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (mxio_src_read(s, 0, pre, 12, "the .npy preamble", err, errlen) != 0) return -1;
    hlen = pre[8] | (pre[9] << 8) | ((uint64_t)pre[10] << 16) | ((uint64_t)pre[11] << 24);
    hstart = 12;
  } else {
    return mxio_fail(err, errlen, "unsupported .npy version %d.%d", major, pre[7]);
  }
  if (hlen > MXIO_MAX_NPY_HEADER)
    return mxio_fail(err, errlen, ".npy header of %llu bytes exceeds the %u-byte limit",
                     (unsigned long long)hlen, MXIO_MAX_NPY_HEADER);
  char *h = malloc(hlen ? hlen : 1);
  if (!h) return mxio_fail(err, errlen, "out of memory");
  if (mxio_src_read(s, hstart, h, hlen, "the .npy header", err, errlen) != 0) {
    free(h);
    return -1;
  }
  mxio_scan c = {h, h + hlen};
  int rc = parse_header(&c, out, err, errlen);
  free(h);
  if (rc != 0) return -1;
  uint64_t elems;
  if (mxio_shape_elems(out->shape, out->ndim, MXIO_MAX_BYTES, &elems) != 0)
    return mxio_fail(err, errlen, ".npy shape is absurd (element count overflows)");
  return mxio_read_body(s, hstart + hlen, elems * mxio_dtype_size(out->dtype), out, err, errlen);
}

int mxio_npy_write(const char *path, mxio_dtype dtype, int ndim, const int64_t *shape,
                   const void *data, char *err, size_t errlen) {
  const char *descr = descr_of(dtype);
  if (!descr) return mxio_fail(err, errlen, "cannot write dtype %d to .npy", (int)dtype);
  if (ndim < 0 || ndim > MXIO_MAX_DIMS) return mxio_fail(err, errlen, "bad ndim %d", ndim);
  char dict[1024];
  int n = snprintf(dict, sizeof(dict), "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
  for (int i = 0; i < ndim; i++)
    n += snprintf(dict + n, sizeof(dict) - (size_t)n, "%lld,%s", (long long)shape[i],
                  i + 1 < ndim ? " " : "");
  n += snprintf(dict + n, sizeof(dict) - (size_t)n, "), }");
  uint64_t elems;
  if (mxio_shape_elems(shape, ndim, MXIO_MAX_BYTES, &elems) != 0)
    return mxio_fail(err, errlen, "shape overflows");
  /* Preamble + header padded with spaces to a multiple of 64, ending in '\n'. */
  size_t total = (size_t)(10 + n + 1 + 63) / 64 * 64;
  size_t hlen = total - 10;
  mxio_out o;
  if (mxio_out_open(&o, path, err, errlen) != 0) return -1;
  FILE *f = o.f;
  uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hlen & 0xFF), (uint8_t)(hlen >> 8)};
  int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(dict, 1, (size_t)n, f) == (size_t)n;
  for (size_t i = 10 + (size_t)n; ok && i + 1 < total; i++) ok = fputc(' ', f) != EOF;
  ok = ok && fputc('\n', f) != EOF;
  size_t bytes = (size_t)elems * mxio_dtype_size(dtype);
  ok = ok && (bytes == 0 || fwrite(data, 1, bytes, f) == bytes);
  return mxio_out_close(&o, path, ok, err, errlen);
}
