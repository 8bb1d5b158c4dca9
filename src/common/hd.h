/* Qualifiers for code shared verbatim by the CPU reference and CUDA kernels.
 * The numerics live in src/common/ once; each backend only loops over it. */
#ifndef MXB_COMMON_HD_H
#define MXB_COMMON_HD_H
#ifdef __CUDACC__
#define MXB_HD static __host__ __device__ __forceinline__
#else
#define MXB_HD static inline
#endif
#endif
