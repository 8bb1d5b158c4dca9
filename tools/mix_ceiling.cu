// What a memory-bound kernel can reach on this GPU for a given mix of bytes
// read and written, against the device copy the quantize benchmarks use as
// their reference (bytes = input once + output once, as there).
//
// A quantizer from bf16 reads four times what it writes (NVFP4: 32 bytes in,
// 8 + 1 out a block of 16); a dequantizer to bf16 writes four times what it
// reads. Each case below moves exactly those bytes with nothing else to do
// (16-byte loads and stores, whole lines a warp, several items a thread in
// flight), so its time is the floor for any kernel with that mix; a kernel
// whose ratio to copy is below the mix's is losing time to its own work.
//
//   nvcc -O3 -arch=sm_90a -o mix_ceiling tools/mix_ceiling.cu && ./mix_ceiling
//
// Prints one JSON object a case: GB/s and the ratio to the copy.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#define CK(x)                                                                    \
  do {                                                                           \
    cudaError_t e_ = (x);                                                        \
    if (e_ != cudaSuccess) {                                                     \
      fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      return 1;                                                                  \
    }                                                                            \
  } while (0)

// Item i reads RB bytes at in + i * RB and writes WB bytes at out + i * WB
// (RB, WB multiples of 8; 16-byte pieces where they are). The reads of a warp
// cover 32 consecutive items; so do its writes, stored lane by lane along
// the stretch (whole lines an instruction). U items a thread a step, all
// loads first.
template <int RB, int WB, int U>
__global__ void __launch_bounds__(256) mix_kernel(const uint8_t *in, uint8_t *out, uint32_t items, uint32_t salt) {
  const uint32_t stride = gridDim.x * blockDim.x, lane = threadIdx.x & 31;
  for (uint32_t i0 = blockIdx.x * blockDim.x + threadIdx.x; i0 < items; i0 += U * stride) {
    uint32_t x[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
      const uint32_t i = i0 + u * stride;
      x[u] = salt;
      if (i >= items) continue;
      if constexpr (RB % 16 == 0) {
#pragma unroll
        for (int k = 0; k < RB / 16; k++) {
          const uint4 q = __ldcs(reinterpret_cast<const uint4 *>(in + (size_t)i * RB) + k);
          x[u] ^= q.x ^ q.y ^ q.z ^ q.w;
        }
      } else {
#pragma unroll
        for (int k = 0; k < RB / 8; k++) {
          const uint2 q = __ldcs(reinterpret_cast<const uint2 *>(in + (size_t)i * RB) + k);
          x[u] ^= q.x ^ q.y;
        }
      }
    }
#pragma unroll
    for (int u = 0; u < U; u++) {
      const uint32_t i = i0 + u * stride;
      if (i - lane + 31 >= items) continue;  // whole warps only (the sizes below are)
      uint8_t *o = out + (size_t)(i - lane) * WB;
      if constexpr (WB % 16 == 0) {
#pragma unroll
        for (int k = 0; k < WB / 16; k++)
          __stcs(reinterpret_cast<uint4 *>(o) + 32 * k + lane, make_uint4(x[u], x[u] + 1, x[u] + 2, x[u] + 3));
      } else {
#pragma unroll
        for (int k = 0; k < WB / 8; k++) __stcs(reinterpret_cast<uint2 *>(o) + 32 * k + lane, make_uint2(x[u], x[u] + 1));
      }
    }
  }
}

static float median(std::vector<float> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int main() {
  const size_t n = (size_t)8192 * 8192;  // elements, as the quantize benchmarks
  const size_t big = n * 4;
  uint8_t *a, *b;
  CK(cudaMalloc(&a, big));
  CK(cudaMalloc(&b, big));
  CK(cudaMemset(a, 1, big));
  CK(cudaMemset(b, 2, big));
  cudaEvent_t e0, e1;
  CK(cudaEventCreate(&e0));
  CK(cudaEventCreate(&e1));
  int sms = 0;
  CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  auto timed = [&](auto &&f) {
    std::vector<float> t;
    for (int r = 0; r < 25; r++) {
      cudaEventRecord(e0);
      f();
      cudaEventRecord(e1);
      cudaEventSynchronize(e1);
      float ms = 0;
      cudaEventElapsedTime(&ms, e0, e1);
      if (r >= 3) t.push_back(ms * 1e-3f);
    }
    return median(t);
  };
  printf("{\"device\": \"%s\", \"sms\": %d, \"cases\": [\n", prop.name, sms);
  // The references: copies of a bf16 and an fp32 8192 x 8192 input, as the
  // quantize benchmark times them, and fills.
  double copy_bw[2];
  for (int k = 0; k < 2; k++) {
    const size_t bytes = n * (k ? 4 : 2);
    const float t = timed([&] { cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice); });
    copy_bw[k] = 2.0 * bytes / t;
    printf("  {\"case\": \"copy %s\", \"us\": %.2f, \"GBps\": %.1f},\n", k ? "fp32" : "bf16", t * 1e6, copy_bw[k] * 1e-9);
  }
  for (int k = 0; k < 2; k++) {
    const size_t bytes = n * (k ? 4 : 2);
    const float t = timed([&] { cudaMemsetAsync(b, 0, bytes); });
    printf("  {\"case\": \"fill %zu MB\", \"us\": %.2f, \"GBps\": %.1f, \"ratio_to_copy_bf16\": %.3f},\n", bytes >> 20,
           t * 1e6, bytes / t * 1e-9, bytes / t / copy_bw[0]);
  }
  auto mix = [&](const char *name, auto kernel, int rb, int wb, int per_sm) {
    const uint32_t items = (uint32_t)(n / 16);  // a block of 16 elements an item
    const unsigned grid = (unsigned)std::min<size_t>((size_t)sms * per_sm, (items + 255) / 256);
    const float t = timed([&] { kernel<<<grid, 256>>>(a, b, items, 7u); });
    const double bytes = (double)items * (rb + wb);
    printf("  {\"case\": \"%s\", \"blocks_per_sm\": %d, \"us\": %.2f, \"GBps\": %.1f, \"ratio_to_copy_bf16\": %.3f},\n",
           name, per_sm, t * 1e6, bytes / t * 1e-9, bytes / t / copy_bw[0]);
    return cudaGetLastError();
  };
  for (int per_sm : {4, 8}) {
    // A quantizer from bf16 to a 4-bit format (32 bytes in, 8 out) and to an
    // 8-bit one (32 in, 16 out); from fp32 to 4 bits (64 in, 8 out).
    CK(mix("read 32 write 8 (bf16 -> 4-bit), U=1", mix_kernel<32, 8, 1>, 32, 8, per_sm));
    CK(mix("read 32 write 8 (bf16 -> 4-bit), U=2", mix_kernel<32, 8, 2>, 32, 8, per_sm));
    CK(mix("read 32 write 16 (bf16 -> 8-bit), U=2", mix_kernel<32, 16, 2>, 32, 16, per_sm));
    CK(mix("read 64 write 8 (fp32 -> 4-bit), U=1", mix_kernel<64, 8, 1>, 64, 8, per_sm));
    // A dequantizer from 4 bits to bf16 (8 in, 32 out) and fp32 (8 in, 64
    // out); from 8 bits to bf16 (16 in, 32 out).
    CK(mix("read 8 write 32 (4-bit -> bf16), U=1", mix_kernel<8, 32, 1>, 8, 32, per_sm));
    CK(mix("read 8 write 32 (4-bit -> bf16), U=2", mix_kernel<8, 32, 2>, 8, 32, per_sm));
    CK(mix("read 8 write 32 (4-bit -> bf16), U=4", mix_kernel<8, 32, 4>, 8, 32, per_sm));
    CK(mix("read 8 write 64 (4-bit -> fp32), U=2", mix_kernel<8, 64, 2>, 8, 64, per_sm));
    CK(mix("read 16 write 32 (8-bit -> bf16), U=2", mix_kernel<16, 32, 2>, 16, 32, per_sm));
    CK(mix("read 32 write 32 (copy by the same kernel), U=2", mix_kernel<32, 32, 2>, 32, 32, per_sm));
  }
  printf("  {}\n]}\n");
  return 0;
}
