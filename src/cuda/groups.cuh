// The group description of the grouped calls (docs/GEMM.md "Grouped GEMM"),
// read on the device: the grouped GEMM's and the grouped quantize's prep
// kernels walk it in one thread, in group order.
#ifndef MXB_CUDA_GROUPS_CUH
#define MXB_CUDA_GROUPS_CUH
#include <stdint.h>

namespace mxb {

// Group e: writes its first row (or column: K split) to *start and returns
// its rows, or -1 for an invalid group. index: E + 1 offsets (contiguous:
// a group is valid when it starts at or after *end, the end of every
// earlier valid group, and ends within `limit`), or E counts (masked:
// group e at e * max_rows, valid when 0 <= count <= max_rows); bits: 32 or 64.
__device__ inline int64_t group_span(const void *index, int bits, bool masked, int64_t e, int64_t limit,
                                     int64_t max_rows, int64_t *end, int64_t *start) {
  auto at = [&](int64_t i) {
    return bits == 64 ? static_cast<const int64_t *>(index)[i] : (int64_t) static_cast<const int32_t *>(index)[i];
  };
  if (masked) {
    *start = e * max_rows;
    const int64_t n = at(e);
    return n < 0 || n > max_rows ? -1 : n;
  }
  *start = at(e);
  const int64_t n = at(e + 1) - *start;
  if (*start < *end || n < 0 || *start + n > limit) return -1;
  *end = *start + n;
  return n;
}

// The status word's value for the first bad group e: 1 + e, saturated.
__device__ inline int32_t bad_group_status(int64_t e) { return (int32_t)(e + 1 < INT32_MAX ? e + 1 : INT32_MAX); }

}  // namespace mxb
#endif
