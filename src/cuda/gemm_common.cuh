// Internal plumbing of the CUDA GEMM: a device view of one operand, the
// decoded element values of NUMERICS 7 (through the shared codecs), the
// epilogue, and the entry points of each path.
#ifndef MXB_CUDA_GEMM_COMMON_CUH
#define MXB_CUDA_GEMM_COMMON_CUH
#include <stdint.h>

#include "common/block.h"
#include "common/gemm_epilogue.h"
#include "core/formats.h"
#include "core/gemm.h"
#include "cuda/launch.cuh"
#include "cuda/tensor_view.cuh"

namespace mxb {
namespace gemm {

// One operand [rows, cols = K] as the kernels see it: the tensor's view and
// its format's facts. Built on the host from the tensor descriptor and the
// format table, passed by value; the kernels only read it.
struct operand : tensor_view {
  int elem, elem_bits, block_rows, block_cols, scale_type, bdr_m, format;
  mxb_fp fp;                // minifloat / MXINT8 parameters of the element
};

operand make_operand(const mxb_tensor_t *t);

// Index of the scale of element (r, k) in the scale plane.
__device__ __forceinline__ int64_t scale_index(const operand &o, int64_t r, int64_t k) {
  int64_t i = o.block_rows ? r / o.block_rows : 0, j = o.block_cols ? k / o.block_cols : 0;
  return mxb_scale_index(i, j, o.scale_cols, o.swizzled);
}

// The element code at (r, k): a little-endian bit stream of elem_bits per
// element within each row (FP4, FP6, BDR), or whole bytes.
__device__ __forceinline__ uint32_t code_at(const operand &o, int64_t r, int64_t k) {
  const uint8_t *row = o.data + r * o.row_bytes;
  if (o.elem_bits == 8) return row[k];
  if (o.elem_bits == 16) return row[2 * k] | ((uint32_t)row[2 * k + 1] << 8);
  if (o.elem_bits == 32) return *reinterpret_cast<const uint32_t *>(row + 4 * k);
  int64_t bit = k * o.elem_bits;
  uint32_t v = row[bit >> 3];
  if ((bit & 7) + o.elem_bits > 8) v |= (uint32_t)row[(bit >> 3) + 1] << 8;
  return (v >> (bit & 7)) & ((1u << o.elem_bits) - 1u);
}

// Decoded value of element (r, k): element times its block scale, without
// tensor scales (NUMERICS 7). Exact in binary64 for every format.
__device__ __forceinline__ double decoded(const operand &o, int64_t r, int64_t k) {
  uint32_t c = code_at(o, r, k);
  switch (o.scale_type) {
    case MXB_SCALE_NONE:
      return o.elem == MXB_ELEM_FP32 ? (double)__uint_as_float(c) : (double)mxb_bf16_decode((uint16_t)c);
    case MXB_SCALE_UE4M3:
      return (double)mxb_fp_decode(&o.fp, c) * (double)mxb_ue4m3_decode(o.scales[scale_index(o, r, k)]);
    case MXB_SCALE_E8M0:
    case MXB_SCALE_UE8M0:  // MX blocks; FP8 blocks with their scale_inv as one byte
      return (double)mxb_fp_decode(&o.fp, c) * (double)mxb_e8m0_decode(o.scales[scale_index(o, r, k)]);
    case MXB_SCALE_BDR: {
      int64_t s = scale_index(o, r, k);
      const int i = (int)(k & (o.block_cols - 1));  // position in the block (a power of two long)
      return mxb_bdr_decode((uint8_t)c, i, o.bdr_m, o.scales[s], o.aux[s]);
    }
    default: {  // fp32 scale_inv: FP8 (per tensor: a tensor scale) and MoR
      int64_t s = scale_index(o, r, k);
      bool fp8 = o.elem != MXB_ELEM_MIXED || o.aux[s];
      float v = fp8 ? mxb_fp_decode(&o.fp, c & 0xFFu) : mxb_bf16_decode((uint16_t)c);
      // a per-tensor scale_inv is applied as the tensor scale
      if (mxb_tensor_scale_rule(MXB_SCALE_FP32, 0, o.block_rows, o.block_cols, o.elem) == MXB_TSCALE_PLANE)
        return (double)v;
      return (double)v * (double)reinterpret_cast<const float *>(o.scales)[s];
    }
  }
}

static inline bool has_tensor_scale(const operand &o) { return mxb_fmt_tensor_scale(o.format) != MXB_TSCALE_NONE; }

// Tensor scale (NUMERICS 7 step 3), by the table's rule: NVFP4 amax used / 2688
// (/ 1536 with the E4M3 bound 256),
// FP8 per-tensor scale_inv.
// (An operand with an amax per row: its first row's; see alpha_rows.)
__device__ __forceinline__ float tensor_scale(const operand &o) {
  switch (mxb_fmt_tensor_scale(o.format)) {
    case MXB_TSCALE_AMAX: return mxb_nvfp4_tensor_scale(*o.amax, o.flags);
    case MXB_TSCALE_PLANE: return *reinterpret_cast<const float *>(o.scales);
    default: return 1.0f;
  }
}
// Whether o's tensor scale is one a row (NVFP4 with MXB_TENSOR_ROW_AMAX):
// the exact paths and the decode kernel take each row's (alpha_rows); the
// other fast paths refuse it.
__host__ __device__ inline bool row_scaled(const operand &o) {
  return mxb_fmt_tensor_scale(o.format) == MXB_TSCALE_AMAX && (o.flags & MXB_TENSOR_ROW_AMAX);
}

// Grouped GEMM (gemm_grouped.cu): each group's rows of A and C and the
// prefix sums of its row tiles, in the workspace, written on the device by
// the prep kernel from the caller's device-side offsets or counts. An
// invalid group has 0 rows, so no tile.
struct group_rows {
  const int64_t *tiles;        // [E + 1]: prefix sums of ceil(rows / tile), tiles[E] the total
  const int64_t *row0, *rows;  // [E]: first row in A and C; rows (0 for an invalid group)
  int64_t E;
  bool a_groups;               // A's tensor amax is one a group (a.amax[e]), not one for A
};
// The group of row tile mt (< tiles[E]): the last whose first tile is at or before it.
__device__ __forceinline__ int64_t group_of_tile(const group_rows &g, int64_t mt) {
  int64_t lo = 0, hi = g.E - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (g.tiles[mid] <= mt) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
// Group e's A: its own tensor amax where A has one a group.
__host__ __device__ inline operand group_a(operand a, const group_rows &g, int64_t e) {
  if (g.a_groups) a.amax += e;
  return a;
}
// Expert e of a stacked B [E * N, K]: rows keep their index in B; the
// tensor scale is the expert's own (amax or scale_inv plane entry e).
__host__ __device__ inline operand expert_operand(operand b, int64_t e) {
  if (mxb_fmt_tensor_scale(b.format) == MXB_TSCALE_AMAX) b.amax += e;
  if (mxb_fmt_tensor_scale(b.format) == MXB_TSCALE_PLANE) b.scales += 4 * e;
  return b;
}

// Output element (m, n): the shared epilogue (combine, bias, activation),
// fp32, bf16 or fp16 C.
struct out_view {
  void *c;
  int64_t ldc;
  int dtype;  // mxb_dtype_t of C
  float alpha, beta;
  const void *c_in;  // where C's previous values are read (C itself, or a copy)
  const void *bias;  // [N] or NULL
  int bias_type, act;  // act: a gated one (SwiGLU ...) makes C [M, N/2]
  void *aux;           // the pre-activations [M, N] in C's type, ld_aux apart, or NULL
  int64_t ld_aux;
  // Pointer mode: alpha / beta in device memory, read when a kernel runs
  // (load_scalars); NULL: the values above.
  const float *alpha_dev, *beta_dev;
};
// The scalars of pointer mode, read once at a kernel's start (before any
// store, so the C a kernel writes cannot change them under it).
__device__ __forceinline__ void load_scalars(out_view &o) {
  if (o.alpha_dev) o.alpha = *o.alpha_dev;
  if (o.beta_dev) o.beta = *o.beta_dev;
  o.alpha_dev = o.beta_dev = nullptr;
}
// An output the path's own result has already combined with beta C, or
// that C never reaches: beta is 0 whatever the caller's pointer holds.
static inline void drop_beta(out_view &o) {
  o.beta = 0.0f;
  o.beta_dev = nullptr;
}
// Whether C may be read (beta by value not 0, or read on the device).
static inline bool may_read_c(const out_view &o) { return o.beta != 0.0f || o.beta_dev; }
// Bias and activation out of line: inlined into every store of a kernel's
// unrolled epilogue they multiplied its code several times over (107k SASS
// lines for the sm_90a MX kernel instead of 26k) and slowed the kernel.
static __device__ __noinline__ float finish_out_of_line(float c, const void *bias, int bias_type, int act,
                                                        int64_t n) {
  return mxb_gemm_finish(c, bias, bias_type, act, n);
}
__device__ __forceinline__ float combine_at(const out_view &o, float alpha_t, int64_t i, float acc) {
  float cin = 0.0f;
  if (o.beta != 0.0f) {
    const uint16_t *h = static_cast<const uint16_t *>(o.c_in);
    cin = o.dtype == MXB_DTYPE_FP32 ? static_cast<const float *>(o.c_in)[i]
          : o.dtype == MXB_DTYPE_BF16 ? mxb_bf16_decode(h[i])
                                      : mxb_fp16_decode(h[i]);
  }
  return mxb_gemm_combine(alpha_t, acc, o.beta, cin);
}
__device__ __forceinline__ void write_at(const out_view &o, int64_t i, float c) {
  if (o.dtype == MXB_DTYPE_FP32) static_cast<uint32_t *>(o.c)[i] = mxb_gemm_out_f32(c);
  else static_cast<uint16_t *>(o.c)[i] = o.dtype == MXB_DTYPE_BF16 ? mxb_gemm_out_bf16(c) : mxb_gemm_out_fp16(c);
}
__device__ __forceinline__ void store(const out_view &o, float alpha_t, int64_t m, int64_t n, float acc) {
  const int64_t i = m * o.ldc + n;
  float c = combine_at(o, alpha_t, i, acc);
  if (o.bias || o.act != MXB_ACT_NONE) c = finish_out_of_line(c, o.bias, o.bias_type, o.act, n);
  write_at(o, i, c);
}
// store() for fp32 and bf16 C without bias and activation, for kernels
// whose epilogue (bias, activation, fp16 C) runs as a second step (gemm.cu):
// compiled into the sm_90a MX kernel, the full store (a call, three C types
// in 64 unrolled stores) cost it a stack frame, instruction-cache misses and
// a third of its speed.
__device__ __forceinline__ void store_plain(const out_view &o, float alpha_t, int64_t m, int64_t n, float acc) {
  const int64_t i = m * o.ldc + n;
  const bool f32 = o.dtype == MXB_DTYPE_FP32;
  float cin = 0.0f;
  if (o.beta != 0.0f)
    cin = f32 ? static_cast<const float *>(o.c_in)[i] : mxb_bf16_decode(static_cast<const uint16_t *>(o.c_in)[i]);
  const float c = mxb_gemm_combine(alpha_t, acc, o.beta, cin);
  if (f32) static_cast<uint32_t *>(o.c)[i] = mxb_gemm_out_f32(c);
  else static_cast<uint16_t *>(o.c)[i] = mxb_gemm_out_bf16(c);
}
// Split-K: elements i .. i + 3 of the ranges' partial sums ([splits][n], i a
// multiple of 4, 16-byte aligned arrays), each summed in range order as one
// element at a time would be: one 16-byte load a range.
__device__ __forceinline__ float4 sum_splits4(const float *part, int splits, int64_t n, int64_t i) {
  float4 v = *reinterpret_cast<const float4 *>(part + i);
  for (int s = 1; s < splits; ++s) {
    const float4 w = *reinterpret_cast<const float4 *>(part + s * n + i);
    v.x = __fadd_rn(v.x, w.x);
    v.y = __fadd_rn(v.y, w.y);
    v.z = __fadd_rn(v.z, w.z);
    v.w = __fadd_rn(v.w, w.w);
  }
  return v;
}
// Row of element i of a row-major [*, cols] array: 32-bit division where
// the array is below 2^31 elements (the common case; a 64-bit one costs
// several times the instructions).
__device__ __forceinline__ int64_t row_of(int64_t i, int64_t cols, int64_t n) {
  return n < ((int64_t)1 << 31) ? (int64_t)((uint32_t)i / (uint32_t)cols) : i / cols;
}
// Split-K: this thread's share (a grid-stride walk) of the ranges' partial
// sums [splits][rows][cols], each element summed in range order and handed
// to put(row, col, value); four columns of a row a thread where cols % 4 == 0.
template <typename Put>
__device__ __forceinline__ void reduce_partials(const float *part, int splits, int64_t rows, int64_t cols, Put put) {
  const int64_t n = rows * cols;
  const int64_t t0 = blockIdx.x * (int64_t)blockDim.x + threadIdx.x, stride = (int64_t)gridDim.x * blockDim.x;
  if (cols % 4 == 0) {
    for (int64_t i = 4 * t0; i < n; i += 4 * stride) {
      const float4 v = sum_splits4(part, splits, n, i);
      const int64_t m = row_of(i, cols, n), c = i - m * cols;
      put(m, c, v.x);
      put(m, c + 1, v.y);
      put(m, c + 2, v.z);
      put(m, c + 3, v.w);
    }
    return;
  }
  for (int64_t i = t0; i < n; i += stride) {
    float v = part[i];
    for (int s = 1; s < splits; ++s) v = __fadd_rn(v, part[s * n + i]);
    const int64_t m = row_of(i, cols, n);
    put(m, i - m * cols, v);
  }
}
// Blocks of `threads` for reduce_partials over [rows, cols] (four columns
// a thread where cols % 4 == 0), at most cap.
static inline unsigned reduce_blocks(int64_t rows, int64_t cols, int threads, int64_t cap) {
  const int64_t n = rows * cols, nb = (cols % 4 == 0 ? n / 4 : n) / threads + 1;
  return (unsigned)(nb < cap ? nb : cap);
}
static inline bool has_epilogue(const out_view &o) {
  return o.bias || o.act != MXB_ACT_NONE || o.dtype == MXB_DTYPE_FP16 || o.aux;
}
// A bias and nothing else of the epilogue, C in fp32 or bf16, the bias of
// C's type on 16 bytes: what cuBLASLt adds as it writes C
// (CUBLASLT_EPILOGUE_BIAS: alpha A B^T + beta C, then + bias, in fp32, the
// step's order), so the rows whose C cuBLASLt writes hand it over instead
// of a pass over an fp32 intermediate (lt_bias_first, gemm.cu). cuBLASLt
// also takes an fp32 bias into bf16 C, but its heuristic then picks a
// kernel slower than its plain GEMM plus the step (docs/PERFORMANCE.md,
// H100 2026-12-07), so that one keeps the step.
static inline bool lt_bias_only(const out_view &o) {
  return o.bias && o.act == MXB_ACT_NONE && !o.aux && (o.dtype == MXB_DTYPE_FP32 || o.dtype == MXB_DTYPE_BF16) &&
         o.bias_type == o.dtype && (uintptr_t)o.bias % 16 == 0;
}
// A gated activation or the pre-activation output: only the epilogue step
// (gemm_epilogue.cu) writes them, so every path runs with it split off.
static inline bool epilogue_step_only(const out_view &o) { return o.aux || mxb_gemm_gate_act(o.act) != 0; }

struct problem {
  operand a, b;
  int64_t M, N, K;
  int L;  // K-block length
  out_view out;
  // Alignment of a's and b's data and scales pointers, as the path may
  // assume it (a plan's declared alignment, or the pointers' own): paths
  // test this, never the pointer values, so a plan fixes the path.
  mxb_gemm_align align;
};

// alpha_t of the elements of C (NUMERICS 7 step 3), worked out once a
// kernel: the call's alpha * (tsA * tsB), or, where an operand has an amax
// per row, tsA of A's row m and tsB of B's row n. The per-row case costs a
// load and three multiplies an element, and no code where it is not taken
// (a kernel that unrolls its stores keeps its size).
struct alpha_rows {
  float alpha, ta, tb, at;  // alpha; the operands' one tensor scales; alpha_t
  const float *ra, *rb;     // amax per row of A, of B (NULL: one amax)
  uint32_t fa, fb;          // their flags (the E4M3 bound)
  __device__ __forceinline__ float operator()(int64_t m, int64_t n) const {
    if (!ra && !rb) return at;
    return mxb_gemm_alpha_t(alpha, ra ? mxb_nvfp4_tensor_scale(ra[m], fa) : ta,
                            rb ? mxb_nvfp4_tensor_scale(rb[n], fb) : tb);
  }
};
__device__ __forceinline__ alpha_rows alpha_of(float alpha, const operand &a, const operand &b) {
  alpha_rows r;
  r.alpha = alpha;
  r.ta = tensor_scale(a);
  r.tb = tensor_scale(b);
  r.at = mxb_gemm_alpha_t(alpha, r.ta, r.tb);
  r.ra = row_scaled(a) ? a.amax : nullptr;
  r.rb = row_scaled(b) ? b.amax : nullptr;
  r.fa = a.flags;
  r.fb = b.flags;
  return r;
}

// A grouped call as the sm_90a kernels run it: the group table (M-grouped:
// its row tiles, at most `upper` of them; K split: each group's columns) and
// the device flag the kernel runs under (NULL: always).
struct grouped_run {
  group_rows g;
  int64_t upper;
  int kgrouped;
  const int64_t *run_if;
};

// Paths (each in its own file).
// Generic exact path: any pair. guard: run only when *guard != 0 (NULL: always).
mxb_status_t run_generic(const mxb_context *ctx, const problem &p, const int *guard, cudaStream_t st);
// Exact, integer tensor cores: NVFP4 x NVFP4 and MXFP4 x MXFP4.
size_t int8_workspace(const problem &p);
mxb_status_t run_int8(const mxb_context *ctx, const problem &p, void *ws, cudaStream_t st);
// Fast: dequantize to BF16 (exactly) and multiply with cuBLASLt.
size_t dequant_workspace(const problem &p);
mxb_status_t run_dequant(mxb_context *ctx, const problem &p, void *ws, size_t ws_bytes, cudaStream_t st);
// Block-scaled formats whose decoded values BF16 holds exactly, or the
// decode raises the flag (UE4M3, E8M0 and BDR scales; gemm_dequant.cu).
bool bf16_holds_decoded(int format);
// The operand decoded to BF16 rows of Kld elements (a multiple of 16) at
// out; raises *flag where a value is not exact in BF16 (gemm_dequant.cu).
mxb_status_t dequant_bf16(const mxb_context *ctx, const operand &o, int64_t Kld, uint16_t *out, int *flag,
                          cudaStream_t st);
// A fast path whose exactness is only known on the device recomputes C in
// exact mode (run_generic guarded by the flag) from a copy of C taken before
// it ran, when beta reads C: saved_c_bytes of workspace, and the problem the
// fallback runs (C read from the copy).
size_t saved_c_bytes(const problem &p);
mxb_status_t save_c_if_flagged(const mxb_context *ctx, const problem &p, const int *flag, void *copy,
                               problem *fallback, cudaStream_t st);
// Fast decode path: M <= 16, BF16 A, 4-bit B.
size_t decode_workspace(const mxb_context *ctx, const problem &p);
mxb_status_t run_decode(const mxb_context *ctx, const problem &p, void *ws, cudaStream_t st);
// Fast: operands cuBLASLt takes natively (BF16, FP8 per tensor, FP8 1x128 / 128x128).
size_t lt_native_workspace(const problem &p);
mxb_status_t run_lt_native(mxb_context *ctx, const problem &p, const mxb_tensor_t *A,
                           const mxb_tensor_t *B, void *ws, size_t ws_bytes, cudaStream_t st);
// Fast, compute capability 10.x: NVFP4 x NVFP4 and MXFP8 x MXFP8 with
// swizzled scales through cuBLASLt's block-scaled modes (gemm_blockscaled.cu).
bool blockscaled_ok(const mxb_context *ctx, const problem &p);
size_t blockscaled_workspace(const problem &p);
mxb_status_t run_blockscaled(mxb_context *ctx, const problem &p, const mxb_tensor_t *A,
                             const mxb_tensor_t *B, void *ws, cudaStream_t st);

// Fast, sm_90a: MXFP8 x MXFP8 and MXFP4 x MXFP8 on FP8 wgmma with per-32 promotion (sm90_mx_fp8_gemm.cu).
// FP8 blocks with UE8M0 scale bytes as their fp32-scale twins (gemm.cu):
// the twins' descriptors (formats swapped; scales still the bytes) and the
// bytes of the fp32 planes they need; widen() writes those planes at base
// (a_bytes for A's, then B's) and points the twins at them.
struct ue8m0_twins {
  mxb_tensor_t A, B;
  int64_t na, nb;           // scale bytes to widen (0: the operand is kept)
  size_t a_bytes, b_bytes;  // their fp32 planes, 256-byte rounded
  bool any() const { return na || nb; }
  size_t bytes() const { return a_bytes + b_bytes; }
  mxb_status_t widen(const mxb_context *ctx, char *base, cudaStream_t st);
};
ue8m0_twins ue8m0_twins_of(const mxb_tensor_t *A, const mxb_tensor_t *B);

bool sm90_mx_fp8_applies(const mxb_context *ctx, const problem &p);
bool sm90_mx_fp8_preferred(const mxb_context *ctx, const problem &p);
size_t sm90_mx_fp8_workspace(const mxb_context *ctx, const problem &p);
mxb_status_t run_sm90_mx_fp8(const mxb_context *ctx, const problem &p, void *ws, cudaStream_t st);
// The same kernel over the groups of a grouped GEMM (p: A's rows, N rows of
// B an expert, plain C), its row tiles those of the group table (tiles of
// sm90_mx_grouped_tile() rows, at most upper_tiles of them). Within the
// fast-mode bound for every input: no exactness guard.
bool sm90_mx_grouped_applies(const mxb_context *ctx, const problem &p, int64_t upper_tiles);
int sm90_mx_grouped_tile();
size_t sm90_mx_grouped_workspace(const problem &p);
mxb_status_t run_sm90_mx_grouped(const mxb_context *ctx, const problem &p, const group_rows &g, int64_t upper_tiles,
                                 void *ws, cudaStream_t st);
// K split (weight gradients): group e's columns [row0[e], row0[e] + rows[e])
// of A [M, K] and B [N, K] into C's rows [e M, (e + 1) M) (an invalid group,
// row0 < 0, untouched), for calls whose groups all start and end on
// 128-column stages: the kernel runs where *run_if != 0, which the caller
// computes on the device.
bool sm90_mx_kgrouped_applies(const mxb_context *ctx, const problem &p, int64_t E);
size_t sm90_mx_kgrouped_workspace(const problem &p);
mxb_status_t run_sm90_mx_kgrouped(const mxb_context *ctx, const problem &p, const group_rows &g, const int64_t *run_if,
                                  void *ws, cudaStream_t st);

// Whether the kernels that wait for their predecessor with pdl_wait (the
// decode kernel, the sm_90a 4-bit kernel) are launched as its programmatic
// dependents (gemm_decode.cu).
bool pdl_enabled();

// Fast, sm_90a: 4-bit B (NVFP4, MXFP4) decoded to BF16 in the mainloop, BF16
// wgmma (sm90_w4_bf16_gemm.cu).
bool sm90_w4_applies(const mxb_context *ctx, const problem &p);
bool sm90_w4_preferred(const mxb_context *ctx, const problem &p);
size_t sm90_w4_workspace(const mxb_context *ctx, const problem &p);
mxb_status_t run_sm90_w4(const mxb_context *ctx, const problem &p, void *ws, cudaStream_t st);
// Exact mode on the same kernel, NVFP4 x NVFP4 and MXFP4 x MXFP4: each
// K-block's wgmmas promoted with one FFMA, byte-identical with the CPU
// reference.
bool sm90_w4_exact_applies(const mxb_context *ctx, const problem &p);
size_t sm90_w4_exact_workspace(const mxb_context *ctx, const problem &p);
mxb_status_t run_sm90_w4_exact(const mxb_context *ctx, const problem &p, void *ws, cudaStream_t st);
// The same kernel over the groups of a grouped GEMM (p: A's rows, N rows of
// B an expert, plain C: no bias, activation or fp16). rows_hint (the rows
// of a group, from the shape: max_m or M / E) picks the tile rows, which
// the group table's tiles must use (sm90_w4_tile_rows); upper_tiles
// bounds the table's total. Where an MXFP4 value may be inexact in BF16
// (fast) or an MXFP4 scale leaves the exact kernel's range (exact), *guard
// is the device flag under which the caller recomputes C in exact mode from
// *fallback (else NULL). exact: the exact kernel (sm90_w4_exact_applies).
bool sm90_w4_grouped_applies(const mxb_context *ctx, const problem &p, int64_t upper_tiles);
int sm90_w4_tile_rows(int64_t rows_hint, bool exact = false);
size_t sm90_w4_grouped_workspace(const mxb_context *ctx, const problem &p, int64_t rows_hint, bool exact = false);
mxb_status_t run_sm90_w4_grouped(const mxb_context *ctx, const problem &p, const group_rows &g, int64_t rows_hint,
                                 int64_t upper_tiles, bool exact, void *ws, cudaStream_t st, const int **guard,
                                 problem *fallback);
// Whether a call may raise the exactness flag (an A or an MXFP4 B that BF16
// may not hold): then C is recomputed by the exact path.
bool sm90_w4_may_fall_back(const problem &p);
// The K split as for the MX kernel above: NVFP4 B, BF16 or NVFP4 A (every
// value exact in BF16: no exactness fallback).
bool sm90_w4_kgrouped_applies(const mxb_context *ctx, const problem &p, int64_t E);
size_t sm90_w4_kgrouped_workspace(const mxb_context *ctx, const problem &p);
mxb_status_t run_sm90_w4_kgrouped(const mxb_context *ctx, const problem &p, const group_rows &g, const int64_t *run_if,
                                  void *ws, cudaStream_t st);

// Paths whose C is written by cuBLASLt apply a bias, an activation or fp16
// output as a second step (gemm_epilogue.cu; a bias alone of C's type
// goes into cuBLASLt's own epilogue where it has an algorithm with it):
// cuBLASLt writes
// t = alpha A B^T + beta C to fp32 C in place, or alpha A B^T to an fp32
// intermediate at the start of the workspace (bf16 / fp16 C), and one kernel
// finishes each element as store() does.
size_t lt_epilogue_bytes(const problem &p);
// The problem the cuBLASLt path runs: out redirected to the intermediate
// `inter` (NULL for the in-place fp32 case), without bias and activation.
problem lt_epilogue_problem(const problem &p, void *inter);
mxb_status_t run_lt_epilogue(const mxb_context *ctx, const problem &p, const problem &ran, cudaStream_t st);
// The same step after a grouped path (a fast kernel, or the exact one with a
// gated activation or aux): over the rows of g's tiles of gt rows (at most
// upper_tiles), each group's expert's bias.
mxb_status_t run_grouped_epilogue(const problem &p, const problem &ran, const group_rows &g, int gt,
                                  int64_t upper_tiles, cudaStream_t st);

// cuBLASLt: C^T[N, M] = B[N, K] * A[M, K]^T in column-major terms ("TN").
// a/b: row-major [rows, K] with leading dimension ld (elements).
struct lt_operand {
  const void *ptr;
  int dtype;            // cudaDataType_t
  int64_t ld;
  int scale_mode;       // cublasLtMatmulMatrixScale_t, -1: none
  const void *scale;    // device scale pointer
};
size_t lt_workspace_bytes();
// p.out's epilogue: none, or lt_bias_only's bias (CUBLASLT_EPILOGUE_BIAS).
// alpha_dev: NULL for the host alpha p.out.alpha; else N + 1 device floats,
// N alphas (one per row of D^T) and beta, used as a per-row alpha vector
// with host beta, or where cuBLASLt refuses that (or the call is in pointer
// mode), as device scalars. Pointer mode needs alpha_dev (lt_scalars).
mxb_status_t lt_matmul(mxb_context *ctx, const problem &p, const lt_operand &a, const lt_operand &b,
                       const float *alpha_dev, void *ws, size_t ws_bytes, cudaStream_t st);
// Whether lt_matmul with these arguments finds an algorithm (its plan made
// and cached now, or a refusal cached): a path asks before it launches the
// kernels that prepare its operands, so a refused call has run nothing.
mxb_status_t lt_matmul_ready(mxb_context *ctx, const problem &p, const lt_operand &a, const lt_operand &b,
                             const float *alpha_dev, size_t ws_bytes);
// Pointer mode (desc->alpha_ptr or beta_ptr) on a cuBLASLt path: the
// scalars go to cuBLASLt from device memory.
static inline bool dev_scalars(const out_view &o) { return o.alpha_dev || o.beta_dev; }
// lt_matmul's N + 1 device floats: alpha (times the operands' tensor
// scales where tensor_scales) for every column, then beta, the pointer
// mode's values read on the device.
mxb_status_t lt_scalars(const mxb_context *ctx, const problem &p, bool tensor_scales, float *out, cudaStream_t st);

static inline size_t align256(size_t x) { return (x + 255) & ~(size_t)255; }

}  // namespace gemm
}  // namespace mxb
#endif
