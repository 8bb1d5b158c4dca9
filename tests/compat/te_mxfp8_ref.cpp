// Host driver for Transformer Engine's own MXFP8 CPU reference (tests/compat/gen_te.py).
//
// This file contains no quantization arithmetic of its own. gen_te.py cuts TE's
// reference code out of the TE sources, verbatim, into "te_extracted.inc":
//   tests/cpp/test_common.h:            FP32_EXPONENT_BIAS, FP32_MANTISSA_BITS,
//                                       Numeric_Traits<> (+ fp8e4m3, fp8e5m2),
//                                       Quantized_Limits<>, float_to_e8m0, exp2f_rcp,
//                                       identity
//   tests/cpp/operator/test_cast_mxfp8.cu: enum ProcessingMethod, compute_ref<>
// and compiles this driver with g++ on the host, against CUDA's cuda_fp8.h (the
// host path of __nv_fp8_e4m3 / __nv_fp8_e5m2, i.e. what TE's test binary runs).
//
// Protocol (binary, little-endian):
//   stdin:  int32 fmt (0 = E4M3, 1 = E5M2), int32 rows, int32 cols, rows*cols fp32
//   stdout: rows*cols element bytes, then rows*ceil(cols/32) E8M0 scale bytes
#include <cuda_fp8.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

using std::isinf;
using std::isnan;

namespace test {
using byte = uint8_t;
using fp32 = float;
using fp8e4m3 = __nv_fp8_e4m3;
using fp8e5m2 = __nv_fp8_e5m2;
using fp8e8m0 = uint8_t;

#include "te_extracted.inc"

template <typename OutputType>
static void run(const std::vector<float> &x, size_t rows, size_t cols) {
  const size_t sc = (cols + 31) / 32;
  std::vector<OutputType> out(rows * cols);
  std::vector<fp8e8m0> scales(rows * sc, 0);
  std::vector<float> dbias(cols, 0.0f);
  // Row-wise 1x32 scaling, plain cast (CAST_ONLY), fp32 input: exactly how
  // TE's OperatorTest_FusedCastMXFP8_CastOnly tests call it (rowwise only).
  compute_ref<float, OutputType>(CAST_ONLY, identity, /*rowwise=*/true, /*colwise=*/false,
                                 x.data(), nullptr, out.data(), nullptr, scales.data(),
                                 nullptr, dbias.data(), rows, cols, sc, 1);
  std::vector<uint8_t> codes(rows * cols);
  std::memcpy(codes.data(), out.data(), rows * cols);
  fwrite(codes.data(), 1, codes.size(), stdout);
  fwrite(scales.data(), 1, scales.size(), stdout);
}
}  // namespace test

int main() {
  int32_t hdr[3];
  if (fread(hdr, sizeof(int32_t), 3, stdin) != 3) return 2;
  const size_t rows = (size_t)hdr[1], cols = (size_t)hdr[2];
  std::vector<float> x(rows * cols);
  if (fread(x.data(), sizeof(float), x.size(), stdin) != x.size()) return 3;
  static_assert(sizeof(__nv_fp8_e4m3) == 1 && sizeof(__nv_fp8_e5m2) == 1, "fp8 size");
  if (hdr[0] == 0)
    test::run<test::fp8e4m3>(x, rows, cols);
  else if (hdr[0] == 1)
    test::run<test::fp8e5m2>(x, rows, cols);
  else
    return 4;
  fflush(stdout);
  return 0;
}
