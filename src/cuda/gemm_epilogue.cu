// The GEMM epilogue as its own step, for the paths whose C cuBLASLt writes
// (cuBLASLt's activations are not the library's functions, and cuBLASLt has
// no fp16 C for these inputs; a bias alone of C's type goes into its
// epilogue: lt_bias_first in gemm.cu), and for every path where the call asks for
// a gated activation or the pre-activation output: see lt_epilogue_problem
// in gemm_common.cuh. The order is the CPU reference's: the combine, the
// bias, the pre-activation to aux, the activation (gated: act(gate) times
// value, gate = column j, value = column N/2 + j), rounding to C's type.
#include "cuda/gemm_common.cuh"

namespace mxb {
namespace gemm {

// fp32 C holds the path's result in place, unless a gated activation makes
// C narrower than the product.
static bool in_place(const problem &p) { return p.out.dtype == MXB_DTYPE_FP32 && !mxb_gemm_gate_act(p.out.act); }
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
  q.out.aux = nullptr;
  if (!in_place(p)) {
    q.out.c = inter;
    q.out.c_in = inter;
    q.out.ldc = inter_ld(p);
    q.out.dtype = MXB_DTYPE_FP32;
    drop_beta(q.out);
  }
  return q;
}

// Element (m, n) of the finished product: t is final up to beta C where ran
// applied it (in place); alpha_t = 1 (1 * t == t) as in the custom kernels'
// store(). Written to aux when asked.
__device__ __forceinline__ float pre_activation(const out_view &o, const float *t, int64_t ldt, int64_t m,
                                                int64_t n) {
  const float pre = mxb_gemm_finish(combine_at(o, 1.0f, m * o.ldc + n, t[m * ldt + n]), o.bias, o.bias_type,
                                    MXB_ACT_NONE, n);
  if (o.aux) {
    out_view a = o;
    a.c = o.aux;
    write_at(a, m * o.ld_aux + n, pre);
  }
  return pre;
}

__global__ void lt_epilogue_kernel(const float *t, int64_t ldt, out_view o, int64_t M, int64_t N) {
  load_scalars(o);
  const bool gated = mxb_gemm_gate_act(o.act) != 0;
  const int64_t W = gated ? N / 2 : N;  // C's columns
  // Element i = m W + j, walked with a grid stride S: (m, j) divided out
  // once and then advanced by (S / W, S % W) with a carry, not by a 64-bit
  // division an element (about 15 instructions where the activation now
  // takes about 60).
  const int64_t S = (int64_t)gridDim.x * blockDim.x, dm = S / W, dj = S % W;
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, m = i / W, j = i % W;
  for (; i < M * W; i += S) {
    const float x = pre_activation(o, t, ldt, m, j);
    write_at(o, m * o.ldc + j, gated ? mxb_gemm_gated(o.act, x, pre_activation(o, t, ldt, m, W + j))
                                     : mxb_activation(o.act, x));
    m += dm;
    j += dj;
    if (j >= W) {
      j -= W;
      m++;
    }
  }
}

// The common case on its own: no beta C to read, no aux, C's columns and
// rows in runs of four. A thread finishes four adjacent elements of a row
// (one 16-byte load of t, or two for a gated pair; one 16- or 8-byte store)
// with the activation and C's type fixed at compile time: the general
// kernel's per-element switches, 64-bit index products and single load in
// flight cost it about twice the activation's own instructions. Same
// operations in the same order as pre_activation and the activation above.
template <int ACT, int OUT>
__global__ void lt_epilogue_quads(const float *t, int64_t ldt, out_view o, int64_t M, int64_t W) {
  constexpr int GATE = ACT == MXB_ACT_SWIGLU ? MXB_ACT_SILU
                       : ACT == MXB_ACT_GEGLU_ERF ? MXB_ACT_GELU_ERF
                       : ACT == MXB_ACT_GEGLU_TANH ? MXB_ACT_GELU_TANH : 0;
  const int64_t Q = W / 4, S = (int64_t)gridDim.x * blockDim.x, dm = S / Q, dq = S % Q;
  int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, m = i / Q, q = i % Q;
  for (; i < M * Q; i += S) {
    const int64_t j = 4 * q;
    const float4 g4 = *reinterpret_cast<const float4 *>(t + m * ldt + j);
    float x[4] = {g4.x, g4.y, g4.z, g4.w}, v[4];
    if constexpr (GATE != 0) {
      const float4 v4 = *reinterpret_cast<const float4 *>(t + m * ldt + W + j);
      v[0] = v4.x, v[1] = v4.y, v[2] = v4.z, v[3] = v4.w;
    }
    if (o.bias) {
#pragma unroll
      for (int u = 0; u < 4; u++) {
        x[u] = x[u] + mxb_gemm_bias_at(o.bias, o.bias_type, j + u);
        if constexpr (GATE != 0) v[u] = v[u] + mxb_gemm_bias_at(o.bias, o.bias_type, W + j + u);
      }
    }
    float y[4];
#pragma unroll
    for (int u = 0; u < 4; u++) y[u] = GATE != 0 ? mxb_activation(GATE, x[u]) * v[u] : mxb_activation(ACT, x[u]);
    if constexpr (OUT == MXB_DTYPE_FP32) {
      *reinterpret_cast<uint4 *>(static_cast<float *>(o.c) + m * o.ldc + j) =
          make_uint4(mxb_gemm_out_f32(y[0]), mxb_gemm_out_f32(y[1]), mxb_gemm_out_f32(y[2]), mxb_gemm_out_f32(y[3]));
    } else {
      uint16_t h[4];
#pragma unroll
      for (int u = 0; u < 4; u++) h[u] = OUT == MXB_DTYPE_BF16 ? mxb_gemm_out_bf16(y[u]) : mxb_gemm_out_fp16(y[u]);
      *reinterpret_cast<uint2 *>(static_cast<uint16_t *>(o.c) + m * o.ldc + j) =
          make_uint2(h[0] | (uint32_t)h[1] << 16, h[2] | (uint32_t)h[3] << 16);
    }
    m += dm;
    q += dq;
    if (q >= Q) {
      q -= Q;
      m++;
    }
  }
}

// fn(std::integral_constant<int, A>()) for the activation A == act among
// ACTS (the ones a kernel is compiled for); false where act is not listed.
template <int... ACTS, class Fn>
static bool act_switch(int act, Fn &&fn) {
  return ((act == ACTS && (fn(std::integral_constant<int, ACTS>()), true)) || ...);
}

// lt_epilogue_quads for o's activation, C of type OUT.
template <int OUT>
static bool launch_quads_of(unsigned grid, const float *t, int64_t ldt, const out_view &o, int64_t M, int64_t W,
                            cudaStream_t st) {
  return act_switch<MXB_ACT_NONE, MXB_ACT_RELU, MXB_ACT_RELU2, MXB_ACT_GELU_ERF, MXB_ACT_GELU_TANH, MXB_ACT_SILU,
                    MXB_ACT_SWIGLU, MXB_ACT_GEGLU_ERF, MXB_ACT_GEGLU_TANH>(o.act, [&](auto a) {
    lt_epilogue_quads<decltype(a)::value, OUT><<<grid, 256, 0, st>>>(t, ldt, o, M, W);
  });
}

// lt_epilogue_quads where it applies (false: the general kernel's case).
static bool launch_quads(const mxb_context *ctx, const float *t, int64_t ldt, const out_view &o, int64_t M,
                         int64_t N, cudaStream_t st) {
  const int64_t W = mxb_gemm_gate_act(o.act) ? N / 2 : N;
  const size_t cw = o.dtype == MXB_DTYPE_FP32 ? 16 : 8;  // bytes of a quad of C
  if (may_read_c(o) || o.aux || W % 4 || ldt % 4 || o.ldc % 4 || (uintptr_t)t % 16 || (uintptr_t)o.c % cw) return false;
  const unsigned grid = grid_for(ctx, M * (W / 4), 256);
  return MXB_DTYPE_SWITCH(o.dtype, OUT, [&] { return launch_quads_of<OUT>(grid, t, ldt, o, M, W, st); });
}

mxb_status_t run_lt_epilogue(const mxb_context *ctx, const problem &p, const problem &ran, cudaStream_t st) {
  out_view o = p.out;
  if (in_place(p)) drop_beta(o);  // cuBLASLt (or its fallback) has added beta C already
  if (launch_quads(ctx, static_cast<const float *>(ran.out.c), ran.out.ldc, o, p.M, p.N, st))
    return launch_status("gemm epilogue kernel");
  lt_epilogue_kernel<<<grid_for(ctx, p.M * p.N, 256), 256, 0, st>>>(static_cast<const float *>(ran.out.c),
                                                                     ran.out.ldc, o, p.M, p.N);
  return launch_status("gemm epilogue kernel");
}

// The grouped GEMM's step: block (x, y) finishes row x % gt of tile x / gt
// (g's tiles of `gt` rows, as the exact grouped kernel walks them) with the
// tile's expert's bias (E x N values), the group found once a block. Each
// thread loads its GU columns' values before it writes any: its writes may
// alias its later reads (fp32 C in place), so the compiler would otherwise
// keep one load in flight (measured latency-bound with an item per (tile,
// column) and a group search each). Rows no group owns are not read or
// written. A gated activation writes C's N/2 columns from the gate (column
// j of t and of the expert's bias) and the value (column N/2 + j); C is not
// read then (beta is 0). aux gets every pre-activation (gate and value).
constexpr int GU = 8;
__device__ __forceinline__ void write_aux(const out_view &o, int64_t m, int64_t n, float pre) {
  out_view a = o;
  a.c = o.aux;
  write_at(a, m * o.ld_aux + n, pre);
}
// ACT, OUT >= 0: the activation and C's type fixed at compile time (the
// common ones), so that their per-element switches fold away; -1: o's.
template <int ACT, int OUT>
__global__ void grouped_epilogue_kernel(const float *t, int64_t ldt, out_view o, group_rows g, int gt, int64_t N) {
  load_scalars(o);
  if (ACT >= 0) o.act = ACT;
  if (OUT >= 0) o.dtype = OUT;
  const int64_t tile = blockIdx.x / gt;
  if (tile >= g.tiles[g.E]) return;
  const int64_t e = group_of_tile(g, tile);
  const int64_t m = g.row0[e] + (tile - g.tiles[e]) * gt + blockIdx.x % gt;
  if (m >= g.row0[e] + g.rows[e]) return;
  const void *bias = o.bias ? static_cast<const char *>(o.bias) + e * N * mxb_dtype_bytes(o.bias_type) : nullptr;
  const bool gated = mxb_gemm_gate_act(o.act) != 0;
  const int64_t W = gated ? N / 2 : N, bs = blockDim.x;  // W: C's columns
  for (int64_t n0 = blockIdx.y * bs * GU + threadIdx.x; n0 < W; n0 += (int64_t)gridDim.y * bs * GU) {
    float x[GU], cin[GU], b[GU], xv[GU], bv[GU];
#pragma unroll
    for (int u = 0; u < GU; u++) {
      const int64_t n = n0 + u * bs;
      if (n >= W) continue;
      x[u] = t[m * ldt + n];
      cin[u] = 0.0f;
      if (o.beta != 0.0f) {
        const uint16_t *h = static_cast<const uint16_t *>(o.c_in);
        const int64_t i = m * o.ldc + n;
        cin[u] = o.dtype == MXB_DTYPE_FP32 ? static_cast<const float *>(o.c_in)[i]
                 : o.dtype == MXB_DTYPE_BF16 ? mxb_bf16_decode(h[i])
                                             : mxb_fp16_decode(h[i]);
      }
      b[u] = bias ? mxb_gemm_bias_at(bias, o.bias_type, n) : 0.0f;
      if (gated) {
        xv[u] = t[m * ldt + W + n];
        bv[u] = bias ? mxb_gemm_bias_at(bias, o.bias_type, W + n) : 0.0f;
      }
    }
#pragma unroll
    for (int u = 0; u < GU; u++) {
      const int64_t n = n0 + u * bs;
      if (n >= W) continue;
      // pre_activation's value (alpha_t = 1: t is the path's product), then the activation
      float c = mxb_gemm_combine(1.0f, x[u], o.beta, cin[u]);
      if (bias) c = c + b[u];
      if (o.aux) write_aux(o, m, n, c);
      if (gated) {
        float v = mxb_gemm_combine(1.0f, xv[u], 0.0f, 0.0f);
        if (bias) v = v + bv[u];
        if (o.aux) write_aux(o, m, W + n, v);
        write_at(o, m * o.ldc + n, mxb_gemm_gated(o.act, c, v));
      } else {
        write_at(o, m * o.ldc + n, mxb_activation(o.act, c));
      }
    }
  }
}

// grouped_epilogue_kernel compiled for o's activation and C of type OUT,
// where it is one of the common ones (false: the general kernel's case).
template <int OUT>
static bool launch_grouped_of(dim3 grid, const float *t, int64_t ldt, const out_view &o, const group_rows &g, int gt,
                              int64_t N, cudaStream_t st) {
  return act_switch<MXB_ACT_NONE, MXB_ACT_RELU, MXB_ACT_RELU2, MXB_ACT_GELU_TANH, MXB_ACT_SILU, MXB_ACT_SWIGLU>(
      o.act, [&](auto a) { grouped_epilogue_kernel<decltype(a)::value, OUT><<<grid, 256, 0, st>>>(t, ldt, o, g, gt, N); });
}

mxb_status_t run_grouped_epilogue(const problem &p, const problem &ran, const group_rows &g, int gt,
                                  int64_t upper_tiles, cudaStream_t st) {
  out_view o = p.out;
  if (in_place(p)) drop_beta(o);  // the path has added beta C already
  const int64_t rows = upper_tiles * gt, cols = (p.N + 256 * GU - 1) / (256 * GU);
  if (rows >= ((int64_t)1 << 31)) return mxb_fail(MXB_ERR_BAD_SHAPE, "grouped GEMM epilogue: %lld row slots", (long long)rows);
  const dim3 grid((unsigned)rows, (unsigned)(cols < 65535 ? cols : 65535));
  const float *t = static_cast<const float *>(ran.out.c);
  if (!MXB_DTYPE_SWITCH(o.dtype, OUT, [&] { return launch_grouped_of<OUT>(grid, t, ran.out.ldc, o, g, gt, p.N, st); }))
    grouped_epilogue_kernel<-1, -1><<<grid, 256, 0, st>>>(t, ran.out.ldc, o, g, gt, p.N);
  return launch_status("grouped gemm epilogue kernel");
}

}  // namespace gemm
}  // namespace mxb
