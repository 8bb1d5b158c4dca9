/* libFuzzer target for the tool's file readers: the input is taken as a .npy
 * or safetensors file (by its first bytes), read through the public reader
 * entry points, and also parsed as each format directly. Names are escaped
 * for printing and must come out as clean text. Build and run:
 *   make fuzz FUZZ_TIME=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scan.h"
#include "tensor_io.h"

/* Escaped text (both modes) is valid UTF-8 without control characters and
 * fits its buffer. */
static void check_escaped(const char *s) {
  char buf[64];
  for (int mode = MXIO_ESC_TEXT; mode <= MXIO_ESC_JSON; mode++) {
    mxio_escaped(s, mode, buf, sizeof(buf));
    if (strlen(buf) >= sizeof(buf)) abort();
    for (const unsigned char *p = (const unsigned char *)buf; *p;) {
      uint32_t cp = 0;
      int n = mxio_utf8_len(p, &cp);
      if (n == 0 || cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) abort();
      p += n;
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[256];
  mxio_src s;
  mxio_array a;
  mxio_src_mem(&s, data, size);
  if (mxio_load_src(&s, NULL, &a, err, sizeof(err)) == 0) {
    if (mxio_array_to_f32(&a, err, sizeof(err)) == 0 && a.nbytes != (size_t)(a.rows * a.cols) * 4)
      abort(); /* the 2-D view must describe the data exactly */
    mxio_array_free(&a);
  }
  if (mxio_npy_read(&s, &a, err, sizeof(err)) == 0) mxio_array_free(&a);
  mxio_st st;
  if (mxio_st_open(&s, &st, err, sizeof(err)) == 0) {
    uint64_t covered = 0;
    for (int i = 0; i < st.ntensors; i++) {
      const mxio_st_tensor *t = &st.tensors[i];
      if (mxio_st_find(&st, t->name) != t) abort(); /* names are unique */
      covered += t->end - t->begin;
      check_escaped(t->name);
      if (mxio_st_read(&s, &st, t, &a, err, sizeof(err)) == 0) mxio_array_free(&a);
    }
    if (covered != size - st.data_start) abort(); /* the tensors tile the data section */
    for (int i = 0; i < st.nmeta; i++) {
      if (mxio_st_meta(&st, st.meta_keys[i]) != st.meta_values[i]) abort();
      check_escaped(st.meta_keys[i]);
      check_escaped(st.meta_values[i]);
    }
    mxio_st_free(&st);
  }
  /* The input itself as text: any bytes at all. */
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  check_escaped(text);
  free(text);
  return 0;
}
