/* Version and build information entry points. */
#include "mxblas.h"

#define MXB_STR2(x) #x
#define MXB_STR(x) MXB_STR2(x)

MXB_API const char *mxb_version_string(void) {
  return MXB_STR(MXB_VERSION_MAJOR) "." MXB_STR(MXB_VERSION_MINOR) "." MXB_STR(MXB_VERSION_PATCH);
}

MXB_API unsigned mxb_version_number(void) { return MXB_VERSION_NUMBER; }

#ifndef MXB_CUDA_ARCHS
#define MXB_CUDA_ARCHS "none"
#endif
#ifndef MXB_CUDA_VERSION_STR
#define MXB_CUDA_VERSION_STR "none"
#endif

#ifdef MXB_WITH_NCCL
#define MXB_NCCL_STR "; nccl=yes" /* include/mxblas_nccl.h is implemented */
#else
#define MXB_NCCL_STR "; nccl=no"
#endif

MXB_API const char *mxb_build_info(void) {
#ifdef MXB_WITH_CUDA
  return "mxblas " MXB_STR(MXB_VERSION_MAJOR) "." MXB_STR(MXB_VERSION_MINOR) "." MXB_STR(
      MXB_VERSION_PATCH) "; cuda=yes; toolkit=" MXB_CUDA_VERSION_STR "; archs=" MXB_CUDA_ARCHS MXB_NCCL_STR;
#else
  return "mxblas " MXB_STR(MXB_VERSION_MAJOR) "." MXB_STR(MXB_VERSION_MINOR) "." MXB_STR(
      MXB_VERSION_PATCH) "; cuda=no";
#endif
}
