/* safetensors reader and writer.
 *
 * Layout: u64 little-endian N, N bytes of JSON header, then the data section.
 * The header maps tensor names to {"dtype", "shape", "data_offsets"} and may
 * hold "__metadata__" (string to string). The JSON parser is strict (RFC 8259
 * strings in UTF-8 and non-negative integers only, no duplicate or unknown
 * keys) and never reads past the header. Names are returned as decoded: the
 * caller escapes them when printing (mxio_put_escaped). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"
#include "tensor_io.h"

/* Every dtype the format defines, so a file can be listed even when some of
 * its tensors are of a type the tool does not read. */
static const struct {
  const char *name;
  int size;
  int dtype; /* mxio_dtype, or -1: not readable */
} k_st_dtypes[] = {
  {"F32", 4, MXIO_F32}, {"F16", 2, MXIO_F16}, {"BF16", 2, MXIO_BF16}, {"F64", 8, MXIO_F64},
  {"U8", 1, MXIO_U8},   {"I8", 1, -1},        {"BOOL", 1, -1},        {"I16", 2, -1},
  {"U16", 2, -1},       {"I32", 4, -1},       {"U32", 4, -1},         {"I64", 8, -1},
  {"U64", 8, -1},       {"F8_E4M3", 1, -1},   {"F8_E5M2", 1, -1},
};
#define N_ST_DTYPES (sizeof(k_st_dtypes) / sizeof(k_st_dtypes[0]))

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

static int hex4(mxio_scan *c, uint32_t *v) {
  if (c->end - c->p < 4) return -1;
  *v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval((unsigned char)c->p[i]);
    if (h < 0) return -1;
    *v = *v << 4 | (uint32_t)h;
  }
  c->p += 4;
  return 0;
}

/* A JSON string, decoded to UTF-8 at *w, which advances past its NUL (NULL
 * on error). Decoded text is never longer than the source text without its
 * quotes, so strings decoded from a header of n bytes fit in n bytes. */
static char *json_string(mxio_scan *c, char **w) {
  if (!mxio_eat(c, '"')) return NULL;
  const char *q = c->p;
  while (q < c->end && *q != '"') q += (*q == '\\' && q + 1 < c->end) ? 2 : 1;
  if (q >= c->end) return NULL;
  char *out = *w, *o = out;
  while (c->p < q) {
    unsigned char ch = (unsigned char)*c->p++;
    if (ch < 0x20) goto bad;
    if (ch != '\\') {
      *o++ = (char)ch;
      continue;
    }
    ch = (unsigned char)*c->p++;
    const char *simple = strchr("\"\\/bfnrt", ch);
    if (ch && simple) {
      *o++ = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
      continue;
    }
    uint32_t u, lo;
    if (ch != 'u' || hex4(c, &u) != 0) goto bad;
    if (u >= 0xD800 && u < 0xDC00) { /* surrogate pair */
      if (c->p + 2 > q || c->p[0] != '\\' || c->p[1] != 'u') goto bad;
      c->p += 2;
      if (hex4(c, &lo) != 0 || lo < 0xDC00 || lo >= 0xE000) goto bad;
      u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
    } else if (u >= 0xDC00 && u < 0xE000) {
      goto bad;
    }
    /* At most 4 UTF-8 bytes for 6 or 12 source bytes: fits. */
    if (u < 0x80) {
      *o++ = (char)u;
    } else if (u < 0x800) {
      *o++ = (char)(0xC0 | u >> 6);
      *o++ = (char)(0x80 | (u & 0x3F));
    } else if (u < 0x10000) {
      *o++ = (char)(0xE0 | u >> 12);
      *o++ = (char)(0x80 | ((u >> 6) & 0x3F));
      *o++ = (char)(0x80 | (u & 0x3F));
    } else {
      *o++ = (char)(0xF0 | u >> 18);
      *o++ = (char)(0x80 | ((u >> 12) & 0x3F));
      *o++ = (char)(0x80 | ((u >> 6) & 0x3F));
      *o++ = (char)(0x80 | (u & 0x3F));
    }
  }
  if (c->p != q) goto bad; /* an escape ran over the closing quote */
  c->p++;
  *o = 0;
  if (memchr(out, 0, (size_t)(o - out))) goto bad; /* \u0000 inside a name */
  uint32_t cp;
  for (const unsigned char *u = (const unsigned char *)out; *u;) { /* JSON text is UTF-8 */
    int n = mxio_utf8_len(u, &cp);
    if (n == 0) goto bad;
    u += n;
  }
  *w = o + 1;
  return out;
bad:
  return NULL;
}

/* [n0, n1, ...] of non-negative integers; returns the count or -1. */
static int json_uint_array(mxio_scan *c, uint64_t *v, int cap) {
  int n = 0;
  if (!mxio_eat(c, '[')) return -1;
  if (mxio_eat(c, ']')) return 0;
  do {
    if (n == cap || mxio_uint(c, (uint64_t)INT64_MAX, &v[n]) != 0) return -1;
    n++;
  } while (mxio_eat(c, ','));
  return mxio_eat(c, ']') ? n : -1;
}

/* An object's members one by one: call with *first = 1; returns 1 with the
 * key (decoded at *w) and the cursor on the value, 0 at the end, -1 on error. */
static int json_member(mxio_scan *c, int *first, char **key, char **w) {
  if (*first) {
    if (!mxio_eat(c, '{')) return -1;
    *first = 0;
    if (mxio_eat(c, '}')) return 0;
  } else {
    if (mxio_eat(c, '}')) return 0;
    if (!mxio_eat(c, ',')) return -1;
  }
  *key = json_string(c, w);
  return *key && mxio_eat(c, ':') ? 1 : -1;
}

/* Room for element n of an array of capacity *cap, growing it geometrically
 * (amortised O(1) per element). Returns the array, or NULL (arr unchanged)
 * when memory runs out. */
static void *grow(void *arr, int n, int *cap, size_t elem) {
  if (n < *cap) return arr;
  if (*cap > INT_MAX / 2) return NULL;
  int nc = *cap ? 2 * *cap : 16;
  void *p = realloc(arr, (size_t)nc * elem);
  if (p) *cap = nc;
  return p;
}

static int cmp_key(const void *a, const void *b) {
  const mxio_st_key *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x->index > y->index) - (x->index < y->index);
}

static const char *tensor_name(const mxio_st *st, int i) { return st->tensors[i].name; }
static const char *meta_key(const mxio_st *st, int i) { return st->meta_keys[i]; }

/* The n names sorted into a new index; a repeated name is refused. */
static mxio_st_key *index_names(const mxio_st *st, int n, const char *(*name_of)(const mxio_st *, int),
                                const char *what, char *err, size_t errlen) {
  mxio_st_key *k = malloc(sizeof(*k) * (size_t)(n ? n : 1));
  if (!k) {
    mxio_fail(err, errlen, "out of memory");
    return NULL;
  }
  for (int i = 0; i < n; i++) k[i] = (mxio_st_key){name_of(st, i), i};
  qsort(k, (size_t)n, sizeof(*k), cmp_key);
  for (int i = 1; i < n; i++)
    if (strcmp(k[i - 1].name, k[i].name) == 0) {
      mxio_fail(err, errlen, "malformed safetensors header: repeated %s '%s'", what, k[i].name);
      free(k);
      return NULL;
    }
  return k;
}

typedef struct span {
  uint64_t begin, end;
  int index;
} span;

static int cmp_span(const void *a, const void *b) {
  const span *x = a, *y = b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index);
}

/* The tensors must tile the data section exactly, in some order, as the
 * reference reader requires: no byte belongs to two tensors or to none. */
static int check_tiling(const mxio_st *st, uint64_t data_size, char *err, size_t errlen) {
  span *sp = malloc(sizeof(*sp) * (size_t)(st->ntensors ? st->ntensors : 1));
  if (!sp) return mxio_fail(err, errlen, "out of memory");
  for (int i = 0; i < st->ntensors; i++) sp[i] = (span){st->tensors[i].begin, st->tensors[i].end, i};
  qsort(sp, (size_t)st->ntensors, sizeof(*sp), cmp_span);
  uint64_t at = 0; /* where the next tensor must begin */
  int rc = 0;
  for (int i = 0; i < st->ntensors && rc == 0; i++) {
    const span *p = &sp[i], *q = i ? &sp[i - 1] : NULL;
    if (p->begin < at) /* then q exists: at > 0 */
      rc = mxio_fail(err, errlen, "tensors '%s' and '%s' overlap (data_offsets [%llu, %llu] and [%llu, %llu])",
                     st->tensors[q->index].name, st->tensors[p->index].name, (unsigned long long)q->begin,
                     (unsigned long long)q->end, (unsigned long long)p->begin, (unsigned long long)p->end);
    else if (p->begin > at)
      rc = mxio_fail(err, errlen, "bytes [%llu, %llu) of the data section belong to no tensor",
                     (unsigned long long)at, (unsigned long long)p->begin);
    at = p->end;
  }
  if (rc == 0 && at != data_size)
    rc = mxio_fail(err, errlen, "bytes [%llu, %llu) of the data section belong to no tensor",
                   (unsigned long long)at, (unsigned long long)data_size);
  free(sp);
  return rc;
}

static const mxio_st_key *lookup(const mxio_st_key *k, int n, const char *name) {
  size_t lo = 0, hi = (size_t)n; /* the first key >= name */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(k[mid].name, name) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < (size_t)n && strcmp(k[lo].name, name) == 0 ? &k[lo] : NULL;
}

static int parse_meta(mxio_scan *c, mxio_st *st, char **w, char *err, size_t errlen) {
  int first = 1, r, cap = 0;
  char *key;
  while ((r = json_member(c, &first, &key, w)) == 1) {
    char *val = json_string(c, w);
    if (!val)
      return mxio_fail(err, errlen, "malformed safetensors header: __metadata__ values must be strings");
    int kcap = cap; /* both arrays grow to the same capacity */
    char **k2 = grow(st->meta_keys, st->nmeta, &kcap, sizeof(char *));
    if (k2) st->meta_keys = k2;
    char **v2 = k2 ? grow(st->meta_values, st->nmeta, &cap, sizeof(char *)) : NULL;
    if (!v2) return mxio_fail(err, errlen, "out of memory");
    st->meta_values = v2;
    st->meta_keys[st->nmeta] = key;
    st->meta_values[st->nmeta++] = val;
  }
  return r == 0 ? 0 : mxio_fail(err, errlen, "malformed safetensors header: bad __metadata__ object");
}

static int parse_tensor(mxio_scan *c, mxio_st_tensor *t, uint64_t data_size, char **w, char *err,
                        size_t errlen) {
  int first = 1, r, have = 0;
  char *key;
  int size = 0;
  while ((r = json_member(c, &first, &key, w)) == 1) {
    int bit = !strcmp(key, "dtype") ? 1 : !strcmp(key, "shape") ? 2 : !strcmp(key, "data_offsets") ? 4 : 0;
    if (!bit || (have & bit))
      return mxio_fail(err, errlen, "tensor '%s': unexpected or repeated key '%s'", t->name, key);
    have |= bit;
    if (bit == 1) {
      char *d = json_string(c, w);
      size_t i;
      for (i = 0; d && i < N_ST_DTYPES && strcmp(d, k_st_dtypes[i].name); i++) {
      }
      if (!d || i == N_ST_DTYPES)
        return mxio_fail(err, errlen, "tensor '%s': unknown dtype %s%s%s", t->name, d ? "'" : "",
                         d ? d : "(not a string)", d ? "'" : "");
      t->dtype = (mxio_dtype)k_st_dtypes[i].dtype; /* -1 when unreadable */
      size = k_st_dtypes[i].size;
    } else if (bit == 2) {
      uint64_t v[MXIO_MAX_DIMS];
      int n = json_uint_array(c, v, MXIO_MAX_DIMS);
      if (n < 0)
        return mxio_fail(err, errlen, "tensor '%s': shape is not a list of at most %d integers",
                         t->name, MXIO_MAX_DIMS);
      t->ndim = n;
      for (int i = 0; i < n; i++) t->shape[i] = (int64_t)v[i];
    } else {
      uint64_t v[2];
      if (json_uint_array(c, v, 2) != 2)
        return mxio_fail(err, errlen, "tensor '%s': data_offsets is not [begin, end]", t->name);
      t->begin = v[0];
      t->end = v[1];
    }
  }
  if (r != 0) return mxio_fail(err, errlen, "malformed safetensors header in tensor '%s'", t->name);
  if (have != 7)
    return mxio_fail(err, errlen, "tensor '%s': needs dtype, shape and data_offsets", t->name);
  uint64_t elems;
  if (mxio_shape_elems(t->shape, t->ndim, MXIO_MAX_BYTES, &elems) != 0)
    return mxio_fail(err, errlen, "tensor '%s': shape is absurd (element count overflows)", t->name);
  if (t->begin > t->end || t->end > data_size)
    return mxio_fail(err, errlen,
                     "tensor '%s': data_offsets [%llu, %llu] outside the %llu-byte data section%s",
                     t->name, (unsigned long long)t->begin, (unsigned long long)t->end,
                     (unsigned long long)data_size, t->end > data_size ? " (truncated file?)" : "");
  if (t->end - t->begin != elems * (uint64_t)size)
    return mxio_fail(err, errlen, "tensor '%s': shape needs %llu bytes but data_offsets span %llu",
                     t->name, (unsigned long long)(elems * (uint64_t)size),
                     (unsigned long long)(t->end - t->begin));
  return 0;
}

int mxio_st_open(const mxio_src *s, mxio_st *st, char *err, size_t errlen) {
  uint8_t pre[8];
  memset(st, 0, sizeof(*st));
  if (mxio_src_read(s, 0, pre, 8, "the safetensors header length", err, errlen) != 0) return -1;
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | pre[i];
  /* An implausible length: if no JSON object follows either, the file is
   * just something else, and its first 8 bytes mean nothing. */
  uint8_t lead = '{';
  if ((n > MXIO_MAX_ST_HEADER || n > s->size - 8) && s->size > 8 &&
      mxio_src_read(s, 8, &lead, 1, "the safetensors header", err, errlen) == 0 &&
      !strchr("{ \t\r\n", lead))
    return mxio_fail(err, errlen, "not a .npy or safetensors file");
  if (n > MXIO_MAX_ST_HEADER)
    return mxio_fail(err, errlen,
                     "not a .npy or safetensors file (header length %llu exceeds the %u-byte limit)",
                     (unsigned long long)n, MXIO_MAX_ST_HEADER);
  if (n > s->size - 8)
    return mxio_fail(err, errlen, "truncated: the safetensors header needs %llu bytes, file has %llu",
                     (unsigned long long)n, (unsigned long long)(s->size - 8));
  char *h = malloc(n ? (size_t)n : 1);
  st->text = malloc((size_t)n + 1);
  if (!h || !st->text) {
    free(h);
    free(st->text);
    st->text = NULL;
    return mxio_fail(err, errlen, "out of memory");
  }
  if (mxio_src_read(s, 8, h, (size_t)n, "the safetensors header", err, errlen) != 0) {
    free(h);
    mxio_st_free(st);
    return -1;
  }
  st->data_start = 8 + n;
  uint64_t data_size = s->size - st->data_start;
  mxio_scan c = {h, h + n};
  char *w = st->text;
  int first = 1, r, rc = -1, seen_meta = 0, cap = 0;
  char *key;
  while ((r = json_member(&c, &first, &key, &w)) == 1) {
    if (strcmp(key, "__metadata__") == 0) {
      if (seen_meta++) {
        mxio_fail(err, errlen, "malformed safetensors header: repeated __metadata__");
        goto out;
      }
      if (parse_meta(&c, st, &w, err, errlen) != 0) goto out;
      continue;
    }
    if (st->ntensors == MXIO_MAX_TENSORS) {
      mxio_fail(err, errlen, "more than %d tensors", MXIO_MAX_TENSORS);
      goto out;
    }
    mxio_st_tensor *t2 = grow(st->tensors, st->ntensors, &cap, sizeof(*t2));
    if (!t2) {
      mxio_fail(err, errlen, "out of memory");
      goto out;
    }
    st->tensors = t2;
    mxio_st_tensor *t = &st->tensors[st->ntensors++];
    memset(t, 0, sizeof(*t));
    t->name = key;
    if (parse_tensor(&c, t, data_size, &w, err, errlen) != 0) goto out;
  }
  if (r != 0) {
    mxio_fail(err, errlen, "malformed safetensors header (not a JSON object of tensors)");
    goto out;
  }
  mxio_ws(&c);
  if (c.p != c.end) {
    mxio_fail(err, errlen, "malformed safetensors header: text after the JSON object");
    goto out;
  }
  /* Repeated names: sorted, they are neighbours (O(n log n) in all). */
  st->tensor_index = index_names(st, st->ntensors, tensor_name, "tensor", err, errlen);
  if (!st->tensor_index) goto out;
  st->meta_index = index_names(st, st->nmeta, meta_key, "__metadata__ key", err, errlen);
  if (!st->meta_index || check_tiling(st, data_size, err, errlen) != 0) goto out;
  rc = 0;
out:
  free(h);
  if (rc != 0) mxio_st_free(st);
  return rc;
}

void mxio_st_free(mxio_st *st) {
  free(st->tensors);
  free(st->meta_keys);
  free(st->meta_values);
  free(st->tensor_index);
  free(st->meta_index);
  free(st->text);
  memset(st, 0, sizeof(*st));
}

const mxio_st_tensor *mxio_st_find(const mxio_st *st, const char *name) {
  const mxio_st_key *k = lookup(st->tensor_index, st->ntensors, name);
  return k ? &st->tensors[k->index] : NULL;
}

const char *mxio_st_meta(const mxio_st *st, const char *key) {
  const mxio_st_key *k = lookup(st->meta_index, st->nmeta, key);
  return k ? st->meta_values[k->index] : NULL;
}

int mxio_st_read(const mxio_src *s, const mxio_st *st, const mxio_st_tensor *t, mxio_array *out,
                 char *err, size_t errlen) {
  memset(out, 0, sizeof(*out));
  if ((int)t->dtype < 0 || t->dtype >= MXIO_DTYPE_COUNT)
    return mxio_fail(err, errlen, "tensor '%s': dtype not supported (supported: F32, F16, BF16, F64, U8)",
                     t->name);
  out->dtype = t->dtype;
  out->ndim = t->ndim;
  memcpy(out->shape, t->shape, sizeof(t->shape));
  return mxio_read_body(s, st->data_start + t->begin, t->end - t->begin, out, err, errlen);
}

/* A JSON string (RFC 8259); text that is not UTF-8 is stored as U+FFFD. */
static void put_json_string(FILE *f, const char *s) {
  fputc('"', f);
  mxio_put_escaped(f, s, MXIO_ESC_JSON);
  fputc('"', f);
}

int mxio_st_write(const char *path, int n, const mxio_st_out *tensors, int nmeta,
                  const char *const *meta_keys, const char *const *meta_values, char *err,
                  size_t errlen) {
  /* The header goes to a memory stream first: its length comes before it. */
  char *hdr = NULL;
  size_t hlen = 0;
  FILE *h = open_memstream(&hdr, &hlen);
  if (!h) return mxio_fail(err, errlen, "out of memory");
  fputc('{', h);
  if (nmeta > 0) {
    fputs("\"__metadata__\":{", h);
    for (int i = 0; i < nmeta; i++) {
      if (i) fputc(',', h);
      put_json_string(h, meta_keys[i]);
      fputc(':', h);
      put_json_string(h, meta_values[i]);
    }
    fputc('}', h);
  }
  uint64_t off = 0;
  for (int i = 0; i < n; i++) {
    uint64_t elems;
    if (mxio_shape_elems(tensors[i].shape, tensors[i].ndim, MXIO_MAX_BYTES, &elems) != 0) {
      fclose(h);
      free(hdr);
      return mxio_fail(err, errlen, "tensor '%s': shape overflows", tensors[i].name);
    }
    uint64_t bytes = elems * mxio_dtype_size(tensors[i].dtype);
    if (i || nmeta > 0) fputc(',', h);
    put_json_string(h, tensors[i].name);
    fprintf(h, ":{\"dtype\":\"%s\",\"shape\":[", mxio_dtype_name(tensors[i].dtype));
    for (int d = 0; d < tensors[i].ndim; d++)
      fprintf(h, "%s%lld", d ? "," : "", (long long)tensors[i].shape[d]);
    fprintf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
            (unsigned long long)(off + bytes));
    off += bytes;
  }
  fputc('}', h);
  while ((ftell(h) % 8) != 0) fputc(' ', h); /* data section 8-byte aligned */
  fclose(h);
  mxio_out o;
  if (mxio_out_open(&o, path, err, errlen) != 0) {
    free(hdr);
    return -1;
  }
  FILE *f = o.f;
  uint8_t pre[8];
  for (int i = 0; i < 8; i++) pre[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
  int ok = fwrite(pre, 1, 8, f) == 8 && fwrite(hdr, 1, hlen, f) == hlen;
  free(hdr);
  for (int i = 0; ok && i < n; i++) {
    uint64_t elems = 0;
    mxio_shape_elems(tensors[i].shape, tensors[i].ndim, MXIO_MAX_BYTES, &elems);
    size_t bytes = (size_t)elems * mxio_dtype_size(tensors[i].dtype);
    ok = bytes == 0 || fwrite(tensors[i].data, 1, bytes, f) == bytes;
  }
  return mxio_out_close(&o, path, ok, err, errlen);
}

/* Skip one JSON value (at most 64 levels deep). */
static int json_skip(mxio_scan *c, char **w, int depth) {
  int ch = mxio_peek(c);
  if (depth > 64 || ch < 0) return -1;
  if (ch == '"') {
    char *mark = *w; /* decoded only to validate; the room is reused */
    int ok = json_string(c, w) != NULL;
    *w = mark;
    return ok ? 0 : -1;
  }
  if (ch == '{' || ch == '[') {
    char close = ch == '{' ? '}' : ']';
    c->p++;
    if (mxio_eat(c, close)) return 0;
    do {
      if (ch == '{') {
        char *mark = *w;
        int ok = json_string(c, w) && mxio_eat(c, ':');
        *w = mark;
        if (!ok) return -1;
      }
      if (json_skip(c, w, depth + 1) != 0) return -1;
    } while (mxio_eat(c, ','));
    return mxio_eat(c, close) ? 0 : -1;
  }
  /* a number, true, false or null */
  const char *q = c->p;
  while (c->p < c->end && strchr("0123456789+-.eEtrufalsn", *c->p)) c->p++;
  return c->p > q ? 0 : -1;
}

void mxio_index_free(mxio_index *ix) {
  free(ix->names);
  free(ix->files);
  free(ix->text);
  memset(ix, 0, sizeof(*ix));
}

int mxio_index_read(const mxio_src *s, mxio_index *ix, char *err, size_t errlen) {
  memset(ix, 0, sizeof(*ix));
  if (s->size > MXIO_MAX_ST_HEADER)
    return mxio_fail(err, errlen, "the index is larger than %u bytes", MXIO_MAX_ST_HEADER);
  size_t n = (size_t)s->size;
  char *h = malloc(n ? n : 1);
  ix->text = malloc(n + 1);
  if (!h || !ix->text) {
    free(h);
    mxio_index_free(ix);
    return mxio_fail(err, errlen, "out of memory");
  }
  if (mxio_src_read(s, 0, h, n, "the index", err, errlen) != 0) {
    free(h);
    mxio_index_free(ix);
    return -1;
  }
  mxio_scan c = {h, h + n};
  char *w = ix->text, *key;
  int first = 1, r, cap = 0, cap2 = 0, seen = 0;
  while ((r = json_member(&c, &first, &key, &w)) == 1) {
    if (strcmp(key, "weight_map") != 0) {
      if (json_skip(&c, &w, 0) != 0) break;
      continue;
    }
    seen = 1;
    int first2 = 1, r2;
    char *name;
    while ((r2 = json_member(&c, &first2, &name, &w)) == 1) {
      char *file = json_string(&c, &w);
      char **a = grow(ix->names, ix->n, &cap, sizeof(char *)), **b = a ? grow(ix->files, ix->n, &cap2, sizeof(char *)) : NULL;
      if (a) ix->names = a;
      if (b) ix->files = b;
      if (!file || !a || !b || ix->n == MXIO_MAX_TENSORS) {
        r2 = -1;
        break;
      }
      ix->names[ix->n] = name;
      ix->files[ix->n++] = file;
    }
    if (r2 != 0) {
      r = -1;
      break;
    }
  }
  mxio_ws(&c);
  free(h);
  if (r != 0 || c.p != c.end || !seen) {
    mxio_index_free(ix);
    return mxio_fail(err, errlen, "not a safetensors index (a JSON object with a \"weight_map\" of tensor names "
                                  "to shard files)");
  }
  return 0;
}
