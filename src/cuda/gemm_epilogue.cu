// The GEMM epilogue as its own step, for the paths whose C cuBLASLt writes
// (cuBLASLt's epilogues are not the library's functions, and cuBLASLt has
// no fp16 C for these inputs): see lt_epilogue_problem in gemm_common.cuh.
#include "cuda/gemm_common.cuh"

namespace mxb {
namespace gemm {

static bool in_place(const problem &p) { return p.out.dtype == MXB_DTYPE_FP32; }
// Rows of the intermediate start on 16 bytes, as cuBLASLt prefers.
static int64_t inter_ld(const problem &p) { return (p.N + 3) / 4 * 4; }

size_t lt_epilogue_bytes(const problem &p) {
  if (!has_epilogue(p.out) || in_place(p)) return 0;
  return align256((size_t)(p.M * inter_ld(p)) * 4);
}

problem lt_epilogue_problem(const problem &p, void *inter) {
  problem q = p;
  q.out.bias = nullptr;
  q.out.act = MXB_ACT_NONE;
  if (!in_place(p)) {
    q.out.c = inter;
    q.out.c_in = inter;
    q.out.ldc = inter_ld(p);
    q.out.dtype = MXB_DTYPE_FP32;
    q.out.beta = 0.0f;
  }
  return q;
}

// t is final up to beta C where ran applied it (in place); store() with
// alpha_t = 1 (1 * t == t) then does what the custom kernels do.
__global__ void lt_epilogue_kernel(const float *t, int64_t ldt, out_view o, int64_t M, int64_t N) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < M * N; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t m = i / N, n = i % N;
    store(o, 1.0f, m, n, t[m * ldt + n]);
  }
}

mxb_status_t run_lt_epilogue(const mxb_context *ctx, const problem &p, const problem &ran, cudaStream_t st) {
  out_view o = p.out;
  if (in_place(p)) o.beta = 0.0f;  // cuBLASLt (or its fallback) has added beta C already
  lt_epilogue_kernel<<<grid_for(ctx, p.M * p.N, 256), 256, 0, st>>>(static_cast<const float *>(ran.out.c),
                                                                     ran.out.ldc, o, p.M, p.N);
  return launch_status("gemm epilogue kernel");
}

}  // namespace gemm
}  // namespace mxb
