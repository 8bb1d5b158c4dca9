// Grouped GEMM (docs/GEMM.md "Grouped GEMM"): every group's rows times its
// expert of the stacked B, with the group offsets or counts read on the
// device. A one-thread prep kernel validates the index, writes the status
// word and the prefix sums of each group's 16-row tiles; the generic exact
// kernel then walks (tile of a group, 16 columns) work items, finding the
// group of a tile by binary search, and computes each output exactly as the
// dense generic kernel does (the CPU reference's bits). Both modes run it:
// fused grouped fast paths are not built yet.
#include "core/gemm.h"
#include "cuda/gemm.h"
#include "cuda/gemm_common.cuh"

namespace mxb {
namespace gemm {
namespace {

constexpr int GT = 16;

struct group_table {  // in the workspace
  int64_t *tiles;     // [E + 1]: prefix sums of ceil(rows / 16), tiles[E] the total
  int64_t *row0;      // [E]: first row of the group in A and C
  int64_t *rows;      // [E]: rows of the group (0 for an invalid one)
};

group_table table_at(void *ws, int64_t E) {
  int64_t *w = static_cast<int64_t *>(ws);
  return {w, w + E + 1, w + 2 * E + 1};
}

__global__ void grouped_prep(const void *index, int bits, int masked, int64_t E, int64_t a_rows, int64_t max_rows,
                             group_table t, int32_t *status) {
  if (threadIdx.x || blockIdx.x) return;
  int32_t bad = 0;
  int64_t acc = 0, end = 0;  // rows before `end` belong to an earlier group
  for (int64_t e = 0; e < E; e++) {
    auto at = [&](int64_t i) {
      return bits == 64 ? static_cast<const int64_t *>(index)[i] : (int64_t) static_cast<const int32_t *>(index)[i];
    };
    int64_t start, rows;
    if (!masked) {
      start = at(e);
      rows = at(e + 1) - start;
      if (start < end || rows < 0 || start + rows > a_rows) rows = -1;
      else end = start + rows;
    } else {
      start = e * max_rows;
      rows = at(e);
      if (rows < 0 || rows > max_rows) rows = -1;
    }
    if (rows < 0) {
      if (!bad) bad = (int32_t)(e + 1 < INT32_MAX ? e + 1 : INT32_MAX);
      rows = 0;
    }
    t.tiles[e] = acc;
    t.row0[e] = start;
    t.rows[e] = rows;
    acc += (rows + GT - 1) / GT;
  }
  t.tiles[E] = acc;
  if (status) *status = bad;
}

// The dense generic kernel (gemm_exact.cu) with a group per tile: the same
// decode, the same binary64 K-block sums in ascending k, the same epilogue.
__global__ void __launch_bounds__(256) grouped_generic(problem p, int64_t N, int64_t E, group_table t) {
  __shared__ double sa[GT][MXB_GEMM_MAX_K_BLOCK + 1], sb[GT][MXB_GEMM_MAX_K_BLOCK + 1];
  const int tx = threadIdx.x % GT, ty = threadIdx.x / GT;
  const int64_t tiles_n = (N + GT - 1) / GT, items = t.tiles[E] * tiles_n;
  for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const int64_t mt = item / tiles_n, n0 = item % tiles_n * GT;
    int64_t lo = 0, hi = E - 1;  // the last group whose first tile is at or before mt
    while (lo < hi) {
      const int64_t mid = (lo + hi + 1) / 2;
      if (t.tiles[mid] <= mt) lo = mid;
      else hi = mid - 1;
    }
    const int64_t e = lo, m0 = t.row0[e] + (mt - t.tiles[e]) * GT, m_end = t.row0[e] + t.rows[e];
    operand b = p.b;  // expert e: its own tensor scale; rows keep their index in B
    if (mxb_fmt_tensor_scale(b.format) == MXB_TSCALE_AMAX) b.amax += e;
    if (mxb_fmt_tensor_scale(b.format) == MXB_TSCALE_PLANE) b.scales += 4 * e;
    const float alpha_t = mxb_gemm_alpha_t(p.out.alpha, tensor_scale(p.a), tensor_scale(b));
    out_view out = p.out;  // the expert's bias: N values of the E x N
    if (out.bias) out.bias = static_cast<const char *>(out.bias) + e * N * mxb_dtype_bytes(out.bias_type);
    const int64_t b0 = e * N;
    float acc = 0.0f;
    for (int64_t k0 = 0; k0 < p.K; k0 += p.L) {
      const int len = (int)min((int64_t)p.L, p.K - k0);
      __syncthreads();
      for (int i = threadIdx.x; i < GT * len; i += blockDim.x) {
        const int r = i / len, k = i % len;
        sa[r][k] = m0 + r < m_end ? decoded(p.a, m0 + r, k0 + k) : 0.0;
        sb[r][k] = n0 + r < N ? decoded(b, b0 + n0 + r, k0 + k) : 0.0;
      }
      __syncthreads();
      double s = 0.0;
      for (int k = 0; k < len; k++) s = __dadd_rn(s, __dmul_rn(sa[ty][k], sb[tx][k]));
      acc = __fadd_rn(acc, __double2float_rn(s));
    }
    if (m0 + ty < m_end && n0 + tx < N) store(out, alpha_t, m0 + ty, n0 + tx, acc);
  }
}

}  // namespace
}  // namespace gemm
}  // namespace mxb

using namespace mxb;
using namespace mxb::gemm;

extern "C" size_t mxb_cuda_grouped_gemm_workspace_size(int64_t groups) {
  return align256((size_t)(3 * groups + 1) * sizeof(int64_t)) + 256 - MXB_WORKSPACE_ALIGNMENT;
}

extern "C" mxb_status_t mxb_cuda_grouped_gemm(struct mxb_context *ctx, const mxb_gemm_desc_t *desc, int layout,
                                              int64_t groups, int index_bits, const void *index, int32_t *status,
                                              const mxb_tensor_t *A, const mxb_tensor_t *B, void *C, int64_t N,
                                              int64_t max_rows, int64_t ldc, void *workspace, void *stream) {
  if (ctx->cc_major < 8)
    return mxb_fail(MXB_ERR_ARCH_UNSUPPORTED, "the CUDA GEMM needs compute capability 8.0 or newer");
  cudaStream_t st = as_stream(stream);
  void *ws = static_cast<char *>(workspace) + (256 - (uintptr_t)workspace % 256) % 256;
  const group_table t = table_at(ws, groups);
  const int masked = layout == MXB_GROUPED_M_MASKED;
  grouped_prep<<<1, 32, 0, st>>>(index, index_bits, masked, groups, A->rows, max_rows, t, status);
  MXB_TRY(launch_status("grouped GEMM prep kernel"));
  problem p;
  p.a = make_operand(A);
  p.b = make_operand(B);
  p.M = A->rows;
  p.N = N;
  p.K = A->cols;
  p.L = mxb_gemm_k_block(mxb_format_desc_get(A->format), mxb_format_desc_get(B->format));
  p.out.c = C;
  p.out.c_in = C;
  p.out.ldc = ldc;
  p.out.dtype = desc->c_type;
  p.out.alpha = desc->alpha;
  p.out.beta = desc->beta;
  p.out.bias = desc->bias;
  p.out.bias_type = desc->bias_type;
  p.out.act = desc->activation;
  mxb_set_last_impl(ctx, "cuda-exact-grouped-generic");
  if (N == 0 || A->rows == 0) return MXB_SUCCESS;
  // At most ceil(rows / 16) + E tiles of 16 rows (contiguous) or E * ceil(max_m / 16) (masked).
  const int64_t upper = masked ? groups * ((max_rows + GT - 1) / GT) : (A->rows + GT - 1) / GT + groups;
  const unsigned grid = grid_for(ctx, upper * ((N + GT - 1) / GT) * 256, 256, 8);
  grouped_generic<<<grid, 256, 0, st>>>(p, N, groups, t);
  return launch_status("grouped GEMM generic kernel");
}
