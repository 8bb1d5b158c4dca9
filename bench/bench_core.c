/* Build context for every benchmark run: library build and version. */
#include "bench.h"
#include "mxblas.h"

MXBB_CONSTRUCTOR static void add_context(void) {
  mxbb_add_context("mxblas_version", mxb_version_string());
  mxbb_add_context("mxblas_build", mxb_build_info());
}
