/* Byte sources, arrays, element conversion and format detection. */
#include "tensor_io.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scan.h"

int mxio_fail(char *err, size_t errlen, const char *fmt, ...) {
  if (err && errlen) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return -1;
}

int mxio_utf8_len(const unsigned char *p, uint32_t *cp) {
  int n = p[0] < 0x80 ? 1 : p[0] < 0xC2 ? 0 : p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : p[0] < 0xF5 ? 4 : 0;
  if (n == 0) return 0;
  uint32_t c = n == 1 ? p[0] : p[0] & (0x7Fu >> n);
  for (int i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0; /* also stops at the terminating NUL */
    c = c << 6 | (p[i] & 0x3Fu);
  }
  static const uint32_t k_min[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < k_min[n] || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000)) return 0;
  *cp = c;
  return n;
}

/* The escaped form of the character at p into out (at most 12 bytes plus a
 * NUL); returns the number of source bytes it stands for. */
static size_t escape_one(const unsigned char *p, int mode, char *out) {
  uint32_t c = 0;
  int n = mxio_utf8_len(p, &c);
  int json = mode == MXIO_ESC_JSON;
  if (n == 0) { /* a byte of invalid UTF-8 */
    if (json)
      strcpy(out, "\\ufffd");
    else
      snprintf(out, 13, "\\x%02X", p[0]);
    return 1;
  }
  if (c == '\\' || (json && c == '"')) {
    snprintf(out, 13, "\\%c", (char)c);
  } else if (c == '\n' || c == '\r' || c == '\t') {
    snprintf(out, 13, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
  } else if (c < 0x20 || (c >= 0x7F && c < 0xA0)) {
    snprintf(out, 13, json || c >= 0x80 ? "\\u%04x" : "\\x%02X", (unsigned)c);
  } else {
    memcpy(out, p, (size_t)n);
    out[n] = 0;
  }
  return (size_t)n;
}

size_t mxio_put_escaped(FILE *f, const char *s, int mode) {
  size_t total = 0;
  char e[13];
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    p += escape_one(p, mode, e);
    total += strlen(e);
    fputs(e, f);
  }
  return total;
}

const char *mxio_escaped(const char *s, int mode, char *buf, size_t cap) {
  size_t len = 0, cut = 0; /* cut: the longest output that leaves room for "..." */
  char e[13];
  if (cap == 0) return buf;
  buf[0] = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    p += escape_one(p, mode, e);
    size_t el = strlen(e);
    if (len + el >= cap) { /* does not fit: back to the last cut point */
      if (cap > 3)
        memcpy(buf + cut, "...", 4);
      else
        buf[0] = 0;
      return buf;
    }
    memcpy(buf + len, e, el + 1);
    len += el;
    if (len + 3 < cap) cut = len;
  }
  return buf;
}

static const struct {
  const char *name;
  size_t size;
} k_dtypes[MXIO_DTYPE_COUNT] = {
  {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"U8", 1},
};

size_t mxio_dtype_size(mxio_dtype t) {
  return (unsigned)t < MXIO_DTYPE_COUNT ? k_dtypes[t].size : 0;
}
const char *mxio_dtype_name(mxio_dtype t) {
  return (unsigned)t < MXIO_DTYPE_COUNT ? k_dtypes[t].name : "?";
}

void mxio_array_free(mxio_array *a) {
  if (!a) return;
  free(a->data);
  a->data = NULL;
  a->nbytes = 0;
}

static float half_to_f32(uint16_t h) {
  int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  float v;
  if (e == 0)
    v = ldexpf((float)m, -24); /* subnormal: exact */
  else if (e == 31)
    v = m ? NAN : INFINITY;
  else
    v = ldexpf((float)(m | 0x400), e - 25);
  return (h & 0x8000) ? -v : v;
}

static float bf16_to_f32(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

int mxio_array_to_f32(mxio_array *a, char *err, size_t errlen) {
  if (a->dtype == MXIO_F32) return 0;
  if (a->dtype == MXIO_U8) return mxio_fail(err, errlen, "a u8 array is not a tensor of numbers");
  size_t n = a->nbytes / mxio_dtype_size(a->dtype);
  float *f = malloc(n ? n * sizeof(float) : 1);
  if (!f) return mxio_fail(err, errlen, "out of memory converting %zu elements to f32", n);
  const uint8_t *src = a->data;
  for (size_t i = 0; i < n; i++) {
    if (a->dtype == MXIO_F64) {
      double d;
      memcpy(&d, src + 8 * i, 8);
      /* A finite value that rounds to infinity in fp32 (|d| at or above
       * FLT_MAX plus half an ulp) would turn into Inf silently: refuse. */
      if (isfinite(d) && fabs(d) >= 0x1.ffffffp+127) {
        free(f);
        return mxio_fail(err, errlen, "f64 element %zu (%g) is outside the fp32 range the tool works in", i, d);
      }
      f[i] = (float)d;
    } else {
      uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
      f[i] = a->dtype == MXIO_F16 ? half_to_f32(h) : bf16_to_f32(h);
    }
  }
  free(a->data);
  a->data = f;
  a->nbytes = n * sizeof(float);
  a->dtype = MXIO_F32;
  return 0;
}

void mxio_src_mem(mxio_src *s, const void *mem, size_t len) {
  memset(s, 0, sizeof(*s));
  s->mem = mem;
  s->size = len;
}

int mxio_src_file(mxio_src *s, const char *path, char *err, size_t errlen) {
  memset(s, 0, sizeof(*s));
  FILE *f = fopen(path, "rb");
  if (!f) return mxio_fail(err, errlen, "%s: %s", path, strerror(errno));
  if (fseeko(f, 0, SEEK_END) != 0) {
    fclose(f);
    return mxio_fail(err, errlen, "%s: cannot seek (not a regular file?)", path);
  }
  off_t end = ftello(f);
  if (end < 0) {
    fclose(f);
    return mxio_fail(err, errlen, "%s: cannot tell its size", path);
  }
  s->file = f;
  s->size = (uint64_t)end;
  return 0;
}

void mxio_src_close(mxio_src *s) {
  if (s->file) fclose(s->file);
  s->file = NULL;
}

int mxio_src_read(const mxio_src *s, uint64_t off, void *dst, size_t n, const char *what,
                  char *err, size_t errlen) {
  if (off > s->size || n > s->size - off)
    return mxio_fail(err, errlen, "truncated: %s needs %zu bytes at offset %llu, file has %llu",
                     what, n, (unsigned long long)off, (unsigned long long)s->size);
  if (n == 0) return 0;
  if (s->mem) {
    memcpy(dst, s->mem + off, n);
    return 0;
  }
  if (fseeko(s->file, (off_t)off, SEEK_SET) != 0 || fread(dst, 1, n, s->file) != n)
    return mxio_fail(err, errlen, "read error: %s at offset %llu", what, (unsigned long long)off);
  return 0;
}

int mxio_out_open(mxio_out *o, const char *path, char *err, size_t errlen) {
  memset(o, 0, sizeof(*o));
  struct stat sb;
  char *real = realpath(path, NULL); /* NULL: no such file yet */
  int exists = real && stat(real, &sb) == 0;
  if (exists && !S_ISREG(sb.st_mode)) {
    free(real);
    if (!(o->f = fopen(path, "wb"))) return mxio_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    return 0;
  }
  o->dest = real ? real : strdup(path);
  const char *slash = o->dest ? strrchr(o->dest, '/') : NULL;
  int dl = slash ? (int)(slash - o->dest + 1) : 0;
  size_t bl = o->dest ? strlen(o->dest + dl) : 0;
  o->tmp = o->dest ? malloc((size_t)dl + (bl < 200 ? bl : 200) + 10) : NULL;
  if (!o->tmp) {
    free(o->dest);
    return mxio_fail(err, errlen, "out of memory");
  }
  /* ".name.XXXXXX" next to the destination (the name cut to stay within NAME_MAX) */
  sprintf(o->tmp, "%.*s.%.200s.XXXXXX", dl, o->dest, o->dest + dl);
  int fd = mkstemp(o->tmp);
  if (fd < 0) {
    int e = errno;
    free(o->tmp);
    free(o->dest);
    return mxio_fail(err, errlen, "%s: cannot create a file in its directory: %s", path, strerror(e));
  }
  /* The permissions of the file replaced, or those a new file would get. */
  mode_t mode;
  if (exists) {
    mode = sb.st_mode & 07777;
  } else {
    mode_t mask = umask(0);
    umask(mask);
    mode = 0666 & ~mask;
  }
  if (fchmod(fd, mode) != 0 || !(o->f = fdopen(fd, "wb"))) {
    int e = errno;
    close(fd);
    unlink(o->tmp);
    free(o->tmp);
    free(o->dest);
    return mxio_fail(err, errlen, "%s: cannot create: %s", path, strerror(e));
  }
  return 0;
}

int mxio_out_close(mxio_out *o, const char *path, int ok, char *err, size_t errlen) {
  int e = ok ? 0 : errno ? errno : EIO; /* the failed write's reason */
  if (!e && fflush(o->f) != 0) e = errno;
  if (!e && o->tmp && fsync(fileno(o->f)) != 0) e = errno;
  if (fclose(o->f) != 0 && !e) e = errno;
  if (!e && o->tmp && rename(o->tmp, o->dest) != 0) e = errno;
  if (e && o->tmp) unlink(o->tmp);
  if (!e && o->tmp) { /* make the rename itself durable (best effort) */
    char *slash = strrchr(o->dest, '/');
    if (slash) slash[1] = 0;
    int dfd = open(slash ? o->dest : ".", O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
  }
  free(o->tmp);
  free(o->dest);
  memset(o, 0, sizeof(*o));
  return e ? mxio_fail(err, errlen, "%s: write failed: %s", path, strerror(e)) : 0;
}

/* 2-D view of an N-D shape: [prod(leading), last]. */
static void set_view(mxio_array *a) {
  a->rows = 1;
  a->cols = a->ndim ? a->shape[a->ndim - 1] : 1;
  for (int i = 0; i + 1 < a->ndim; i++) a->rows *= a->shape[i];
}

/* Allocate and read a tensor body whose size the caller has bounded. */
int mxio_read_body(const mxio_src *s, uint64_t off, uint64_t nbytes, mxio_array *out,
                   char *err, size_t errlen) {
  if (nbytes > MXIO_MAX_BYTES)
    return mxio_fail(err, errlen, "tensor of %llu bytes exceeds the %llu-byte limit",
                     (unsigned long long)nbytes, (unsigned long long)MXIO_MAX_BYTES);
  if (off > s->size || nbytes > s->size - off)
    return mxio_fail(err, errlen, "truncated: the data needs %llu bytes at offset %llu, file has %llu",
                     (unsigned long long)nbytes, (unsigned long long)off,
                     (unsigned long long)s->size);
  void *p = malloc(nbytes ? (size_t)nbytes : 1);
  if (!p) return mxio_fail(err, errlen, "out of memory reading %llu bytes", (unsigned long long)nbytes);
  if (mxio_src_read(s, off, p, (size_t)nbytes, "the data", err, errlen) != 0) {
    free(p);
    return -1;
  }
  out->data = p;
  out->nbytes = (size_t)nbytes;
  set_view(out);
  return 0;
}

int mxio_load_src(const mxio_src *s, const char *name, mxio_array *out, char *err, size_t errlen) {
  uint8_t magic[6] = {0};
  size_t n = s->size < 6 ? (size_t)s->size : 6;
  if (mxio_src_read(s, 0, magic, n, "the magic", err, errlen) != 0) return -1;
  if (n == 6 && memcmp(magic, "\x93NUMPY", 6) == 0) {
    if (name) return mxio_fail(err, errlen, "a .npy file holds one array; --tensor %s does not apply", name);
    return mxio_npy_read(s, out, err, errlen);
  }
  if (s->size < 8)
    return mxio_fail(err, errlen, "not a .npy or safetensors file (only %llu bytes)",
                     (unsigned long long)s->size);
  mxio_st st;
  if (mxio_st_open(s, &st, err, errlen) != 0) return -1;
  const mxio_st_tensor *t = NULL;
  int rc = -1;
  if (name) {
    t = mxio_st_find(&st, name);
    if (!t) {
      char list[256] = "";
      for (int i = 0; i < st.ntensors && strlen(list) < 200; i++) {
        strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
        strncat(list, st.tensors[i].name, sizeof(list) - strlen(list) - 1);
      }
      mxio_fail(err, errlen, "no tensor named '%s' (the file has: %s)", name, list);
      goto done;
    }
  } else if (st.ntensors == 1) {
    t = &st.tensors[0];
  } else {
    mxio_fail(err, errlen, "the file holds %d tensors; choose one with --tensor NAME (mxblas list FILE)",
              st.ntensors);
    goto done;
  }
  rc = mxio_st_read(s, &st, t, out, err, errlen);
done:
  mxio_st_free(&st);
  return rc;
}

int mxio_load(const char *path, const char *name, mxio_array *out, char *err, size_t errlen) {
  mxio_src s;
  if (mxio_src_file(&s, path, err, errlen) != 0) return -1;
  int rc = mxio_load_src(&s, name, out, err, errlen);
  mxio_src_close(&s);
  if (rc != 0 && err && errlen) {
    /* prefix the path */
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s", err);
    snprintf(err, errlen, "%s: %s", path, tmp);
  }
  return rc;
}
