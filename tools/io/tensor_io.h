/* Tensor file readers and writers: NumPy .npy and safetensors.
 *
 * Independent of the library. Every function returns 0 on success, or -1 with
 * a one-line message in err (never printing, never reading past the input).
 * Input sizes are checked against the bytes actually present before anything
 * is allocated, so a malformed header cannot cause a large allocation.
 *
 * Element types: f64, f32, f16, bf16 and u8, little-endian. A .npy array of
 * dtype '<u2' is taken to hold bf16 bit patterns (NumPy has no bf16 dtype;
 * this is how bf16 tensors are usually saved from PyTorch/JAX with .view()).
 */
#ifndef MXB_TOOLS_TENSOR_IO_H
#define MXB_TOOLS_TENSOR_IO_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MXIO_MAX_DIMS 32
#define MXIO_MAX_NPY_HEADER (1u << 16)          /* NumPy itself refuses > 10000 by default */
#define MXIO_MAX_ST_HEADER (100u << 20)         /* as the safetensors reference */
#define MXIO_MAX_TENSORS 100000
#define MXIO_MAX_BYTES ((uint64_t)1 << 40)      /* one tensor, 1 TiB */

typedef enum mxio_dtype {
  MXIO_F32 = 0,
  MXIO_F16,
  MXIO_BF16,
  MXIO_F64,
  MXIO_U8,
  MXIO_DTYPE_COUNT
} mxio_dtype;

size_t mxio_dtype_size(mxio_dtype t);
const char *mxio_dtype_name(mxio_dtype t); /* safetensors spelling: "F32", ... */

typedef struct mxio_array {
  mxio_dtype dtype;
  int ndim;
  int64_t shape[MXIO_MAX_DIMS];
  int64_t rows, cols; /* 2-D view: [prod(shape[:-1]), shape[-1]]; 1-D is [1, n]; 0-D [1, 1] */
  void *data;         /* little-endian elements, malloc'ed, owned */
  size_t nbytes;
} mxio_array;

void mxio_array_free(mxio_array *a);
/* Convert to f32 in place (f64 rounds to nearest; f16/bf16/f32 exact). */
int mxio_array_to_f32(mxio_array *a, char *err, size_t errlen);

/* A byte source: a memory buffer or an open file (random access). */
typedef struct mxio_src {
  const uint8_t *mem;
  FILE *file;
  uint64_t size;
} mxio_src;

void mxio_src_mem(mxio_src *s, const void *mem, size_t len);
int mxio_src_file(mxio_src *s, const char *path, char *err, size_t errlen);
void mxio_src_close(mxio_src *s);
/* Read exactly n bytes at off; fails (with what) if they are not all there. */
int mxio_src_read(const mxio_src *s, uint64_t off, void *dst, size_t n, const char *what,
                  char *err, size_t errlen);

/* .npy v1/v2/v3, C order. */
int mxio_npy_read(const mxio_src *s, mxio_array *out, char *err, size_t errlen);
/* .npy v1 (v2 when the header needs it). dtype f32, f16 ('<f2'), bf16 ('<u2'), f64, u8. */
int mxio_npy_write(const char *path, mxio_dtype dtype, int ndim, const int64_t *shape,
                   const void *data, char *err, size_t errlen);

/* safetensors: the parsed header. */
typedef struct mxio_st_tensor {
  char *name;
  mxio_dtype dtype;
  int ndim;
  int64_t shape[MXIO_MAX_DIMS];
  uint64_t begin, end; /* offsets in the data section */
} mxio_st_tensor;

typedef struct mxio_st_key {
  const char *name;
  int index;
} mxio_st_key;

typedef struct mxio_st {
  uint64_t data_start; /* 8 + header length */
  int ntensors;
  mxio_st_tensor *tensors; /* in file order */
  int nmeta;
  char **meta_keys, **meta_values; /* __metadata__ (string values), in file order */
  /* Internal: tensor names and metadata keys sorted (for lookups), and the
   * storage of every decoded string (at most the header's length). */
  mxio_st_key *tensor_index, *meta_index;
  char *text;
} mxio_st;

int mxio_st_open(const mxio_src *s, mxio_st *st, char *err, size_t errlen);
void mxio_st_free(mxio_st *st);
const mxio_st_tensor *mxio_st_find(const mxio_st *st, const char *name);
const char *mxio_st_meta(const mxio_st *st, const char *key); /* NULL if absent */
int mxio_st_read(const mxio_src *s, const mxio_st *st, const mxio_st_tensor *t, mxio_array *out,
                 char *err, size_t errlen);

typedef struct mxio_st_out {
  const char *name;
  mxio_dtype dtype;
  int ndim;
  const int64_t *shape;
  const void *data;
} mxio_st_out;
/* Tensors in the given order; meta: nmeta key/value string pairs. */
int mxio_st_write(const char *path, int n, const mxio_st_out *tensors, int nmeta,
                  const char *const *meta_keys, const char *const *meta_values, char *err,
                  size_t errlen);

/* A sharded checkpoint's index (model.safetensors.index.json): the
 * "weight_map" object, tensor name -> shard file name, in file order. Other
 * members ("metadata") are skipped. */
typedef struct mxio_index {
  int n;
  char **names, **files;
  char *text; /* storage of the decoded strings */
} mxio_index;
int mxio_index_read(const mxio_src *s, mxio_index *ix, char *err, size_t errlen);
void mxio_index_free(mxio_index *ix);

/* Text from a file (tensor names, metadata, header keys) made safe to print.
 * Valid UTF-8 passes through, except what a terminal or a JSON parser would
 * act on: backslash, control characters (C0, DEL and the C1 range
 * U+0080..U+009F, which terminals honour as escape sequences) and every byte
 * of an invalid UTF-8 sequence.
 *   MXIO_ESC_TEXT: \\, \n, \r, \t, \xNN for other bytes, \uNNNN for C1.
 *   MXIO_ESC_JSON: the body of a JSON string (RFC 8259): \", \\, \uNNNN for
 *                  controls; an invalid byte, which JSON cannot carry, becomes
 *                  U+FFFD (\ufffd). */
enum { MXIO_ESC_TEXT = 0, MXIO_ESC_JSON = 1 };
/* Write the escaped form of s to f; returns the number of bytes written. */
size_t mxio_put_escaped(FILE *f, const char *s, int mode);
/* The same into buf (always terminated); text that does not fit is cut at a
 * character boundary and ends in "...". Returns buf. */
const char *mxio_escaped(const char *s, int mode, char *buf, size_t cap);

/* Open path, detect the format from its first bytes, read one tensor.
 * name selects a safetensors tensor; NULL takes the file's only tensor.
 * A .npy file refuses a name. */
int mxio_load(const char *path, const char *name, mxio_array *out, char *err, size_t errlen);
/* Same, from memory (the fuzz target and tests use it). */
int mxio_load_src(const mxio_src *s, const char *name, mxio_array *out, char *err, size_t errlen);

#endif
