/* Internal to the readers: error formatting and a bounded text cursor shared
 * by the .npy header and safetensors JSON parsers. */
#ifndef MXB_TOOLS_SCAN_H
#define MXB_TOOLS_SCAN_H
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
int mxio_fail(char *err, size_t errlen, const char *fmt, ...); /* returns -1 */

/* Length of the valid UTF-8 sequence at p (1..4; sets *cp), 0 if there is
 * none (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
 * Reads no further than the first byte that is not a continuation byte. */
int mxio_utf8_len(const unsigned char *p, uint32_t *cp);

struct mxio_src;
struct mxio_array;
/* Allocate out->data and read nbytes at off (bounded by the source size and
 * MXIO_MAX_BYTES); sets the 2-D view from out->shape. */
int mxio_read_body(const struct mxio_src *s, uint64_t off, uint64_t nbytes, struct mxio_array *out,
                   char *err, size_t errlen);

/* An output file. A regular file (or a new one) is written to a temporary
 * file in its directory and renamed over it once complete and synced, so a
 * failed write leaves the old file untouched and nothing else behind. What
 * is not a regular file (a pipe, /dev/null) is written in place. */
typedef struct mxio_out {
  FILE *f;
  char *tmp;  /* the temporary file; NULL when writing in place */
  char *dest; /* the destination, symbolic links resolved */
} mxio_out;
int mxio_out_open(mxio_out *o, const char *path, char *err, size_t errlen);
/* ok: every write succeeded. Flushes, syncs and renames, or removes the
 * temporary file; -1 with "path: write failed: reason" on any failure. */
int mxio_out_close(mxio_out *o, const char *path, int ok, char *err, size_t errlen);

typedef struct mxio_scan {
  const char *p, *end;
} mxio_scan;

static inline void mxio_ws(mxio_scan *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}
/* Skip blanks; consume ch if it comes next. */
static inline int mxio_eat(mxio_scan *c, char ch) {
  mxio_ws(c);
  if (c->p < c->end && *c->p == ch) {
    c->p++;
    return 1;
  }
  return 0;
}
static inline int mxio_peek(mxio_scan *c) {
  mxio_ws(c);
  return c->p < c->end ? (unsigned char)*c->p : -1;
}
/* Non-negative decimal integer no larger than max. */
static inline int mxio_uint(mxio_scan *c, uint64_t max, uint64_t *v) {
  mxio_ws(c);
  if (c->p >= c->end || *c->p < '0' || *c->p > '9') return -1;
  uint64_t x = 0;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
    uint64_t d = (uint64_t)(*c->p++ - '0');
    if (x > (max - d) / 10) return -1;
    x = x * 10 + d;
  }
  *v = x;
  return 0;
}
/* The checked product of a shape; -1 when it overflows limit. */
static inline int mxio_shape_elems(const int64_t *shape, int ndim, uint64_t limit, uint64_t *n) {
  uint64_t e = 1;
  for (int i = 0; i < ndim; i++) {
    uint64_t d = (uint64_t)shape[i];
    if (d != 0 && e > limit / d) return -1;
    e *= d;
  }
  *n = e;
  return 0;
}
#endif
