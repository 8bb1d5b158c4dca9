/* libFuzzer target for the tool's file readers: the input is taken as a .npy
 * or safetensors file (by its first bytes), read through the public reader
 * entry points, and also parsed as each format directly. Build and run:
 *   make fuzz FUZZ_TIME=60 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tensor_io.h"

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
    for (int i = 0; i < st.ntensors; i++) {
      if (mxio_st_read(&s, &st, &st.tensors[i], &a, err, sizeof(err)) == 0) mxio_array_free(&a);
    }
    mxio_st_free(&st);
  }
  return 0;
}
