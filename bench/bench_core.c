/* Build context for every benchmark run (library build and version), and
 * the host tensors the CPU benchmarks quantize into. */
#include <stdlib.h>

#include "bench.h"
#include "mxblas.h"

MXBB_CONSTRUCTOR static void add_context(void) {
  mxbb_add_context("mxblas_version", mxb_version_string());
  mxbb_add_context("mxblas_build", mxb_build_info());
}

int mxbb_host_tensor(mxb_format_t f, int64_t rows, int64_t cols, mxb_tensor_t *t, float *amax) {
  mxb_tensor_sizes_t sz = {.struct_size = sizeof(sz)};
  if (mxb_tensor_init(t, f, rows, cols, MXB_SCALE_LAYOUT_LINEAR) != MXB_SUCCESS ||
      mxb_tensor_sizes(f, rows, cols, MXB_SCALE_LAYOUT_LINEAR, &sz) != MXB_SUCCESS)
    return 0;
  t->data = malloc(sz.data_bytes);
  t->scales = sz.scale_bytes ? malloc(sz.scale_bytes) : NULL;
  t->aux = sz.aux_bytes ? malloc(sz.aux_bytes) : NULL;
  t->amax = sz.amax_bytes ? amax : NULL;
  if (!t->data || (sz.scale_bytes && !t->scales) || (sz.aux_bytes && !t->aux)) {
    mxbb_host_tensor_free(t);
    return 0;
  }
  return 1;
}

void mxbb_host_tensor_free(mxb_tensor_t *t) {
  free(t->data);
  free(t->scales);
  free(t->aux);
  t->data = t->scales = t->aux = NULL;
}
