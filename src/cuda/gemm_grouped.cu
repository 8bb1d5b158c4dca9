// Grouped GEMM (docs/GEMM.md "Grouped GEMM"): every group's rows times its
// expert of the stacked B, with the group offsets or counts read on the
// device. A one-thread prep kernel validates the index, writes the status
// word, each group's rows and the prefix sums of its row tiles (16 rows for
// the generic kernel; the fast kernel's tile rows too). Paths, the first
// that applies serving the call:
// - fast mode, 4-bit B or BF16 x BF16 on sm_90a: the sm90 4-bit kernel,
//   its persistent CTAs walking the table's row tiles (sm90_w4_bf16_gemm.cu),
//   plain C;
// - fast mode, MXFP8 x MXFP8, MXFP8 x MXFP4 (W4A8) and FP8 block scales on
//   sm_90a: the sm90 MX kernel, its persistent CTAs walking the table's
//   (row tile, column tile) units (sm90_mx_fp8_gemm.cu), plain C;
// - exact mode, NVFP4 x NVFP4 and MXFP4 x MXFP4 on sm_90a: the same 4-bit
//   kernel's exact form (BF16 wgmma on the codes, a promotion a K-block);
// - the generic exact kernel, walking (tile of a group, 16 columns) work
//   items and computing each output exactly as the dense generic kernel
//   does (the CPU reference's bits), in either mode;
// - K split (weight gradients): fast mode on sm_90a, every group in whole
//   128-column stages (checked by the prep kernel): NVFP4 B with BF16 or
//   NVFP4 A, or BF16 x BF16, on the sm90 4-bit kernel (units over the groups), MXFP8 /
//   FP8-block / W4A8 pairs on the sm90 MX kernel over (group, tile) units;
//   otherwise the generic exact kernel over (group, tile of C) items, each
//   group summing the K-blocks its columns touch with the values outside
//   them as +0 (the CPU reference's bits).
#include "core/gemm.h"
#include "cuda/gemm.h"
#include "cuda/gemm_common.cuh"
#include "cuda/groups.cuh"

namespace mxb {
namespace gemm {
namespace {

constexpr int GT = 16;

struct group_table {  // in the workspace
  int64_t *tiles;     // [E + 1]: prefix sums of ceil(rows / 16), tiles[E] the total
  int64_t *wtiles;    // [E + 1]: the same for the fast kernel's tile rows
  int64_t *row0;      // [E]: first row of the group in A and C (K split: first column); -1 for an invalid one
  int64_t *rows;      // [E]: rows of the group (0 for an invalid one)
  int64_t *staged;    // K split: 1 where every valid group starts and ends on a 128-column stage
};
size_t table_bytes(int64_t E) { return align256((size_t)(4 * E + 3) * sizeof(int64_t)); }

group_table table_at(void *ws, int64_t E) {
  int64_t *w = static_cast<int64_t *>(ws);
  return {w, w + E + 1, w + 2 * E + 2, w + 3 * E + 2, w + 4 * E + 2};
}
group_rows rows_of(const group_table &t, int64_t E, bool fast, bool a_groups) {
  return {fast ? t.wtiles : t.tiles, t.row0, t.rows, E, a_groups};
}

// wt: the fast kernel's tile rows (0: none runs). a_rows: the extent the
// groups split (A's rows; K split: its columns).
__global__ void grouped_prep(const void *index, int bits, int masked, int64_t E, int64_t a_rows, int64_t max_rows,
                             int wt, group_table t, int32_t *status) {
  if (threadIdx.x || blockIdx.x) return;
  int32_t bad = 0;
  int64_t acc = 0, wacc = 0, end = 0, staged = 1;  // rows before `end` belong to an earlier group
  for (int64_t e = 0; e < E; e++) {
    int64_t start, rows = group_span(index, bits, masked, e, a_rows, max_rows, &end, &start);
    if (rows < 0) {
      if (!bad) bad = bad_group_status(e);
      rows = 0;
      start = -1;
    }
    t.tiles[e] = acc;
    t.row0[e] = start;
    t.rows[e] = rows;
    if (start >= 0 && rows > 0 && (start % 128 || rows % 128)) staged = 0;
    acc += (rows + GT - 1) / GT;
    if (wt) {
      t.wtiles[e] = wacc;
      wacc += (rows + wt - 1) / wt;
    }
  }
  t.tiles[E] = acc;
  if (wt) t.wtiles[E] = wacc;
  *t.staged = staged;
  if (status) *status = bad;
}

// The dense generic kernel (gemm_exact.cu) with a group per tile: the same
// decode, the same binary64 K-block sums in ascending k, the same epilogue.
// guard: run only where *guard != 0 (a fast path's exactness flag; NULL: always).
__global__ void __launch_bounds__(256) grouped_generic(problem p, int64_t N, group_rows t, const int *guard) {
  __shared__ double sa[GT][MXB_GEMM_MAX_K_BLOCK + 1], sb[GT][MXB_GEMM_MAX_K_BLOCK + 1];
  if (guard && !*guard) return;
  load_scalars(p.out);
  const int tx = threadIdx.x % GT, ty = threadIdx.x / GT;
  const int64_t tiles_n = (N + GT - 1) / GT, items = t.tiles[t.E] * tiles_n;
  for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const int64_t mt = item / tiles_n, n0 = item % tiles_n * GT;
    const int64_t e = group_of_tile(t, mt), m0 = t.row0[e] + (mt - t.tiles[e]) * GT, m_end = t.row0[e] + t.rows[e];
    const operand b = expert_operand(p.b, e);  // rows keep their index in B
    const float alpha_t = mxb_gemm_alpha_t(p.out.alpha, tensor_scale(group_a(p.a, t, e)), tensor_scale(b));
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

// K split: group e is the product of A [M, K] and B [N, K] over the columns
// [row0[e], row0[e] + rows[e]) into C's rows [e M, (e + 1) M), as the CPU
// reference computes it: the K-blocks the columns touch, in ascending order,
// each a binary64 sum with the values outside the columns as +0.
// skip: not run where *skip != 0 (the fast kernel's flag; NULL: always run).
__global__ void __launch_bounds__(256) grouped_k_generic(problem p, group_rows t, const int64_t *skip) {
  __shared__ double sa[GT][MXB_GEMM_MAX_K_BLOCK + 1], sb[GT][MXB_GEMM_MAX_K_BLOCK + 1];
  if (skip && *skip) return;
  load_scalars(p.out);
  const int tx = threadIdx.x % GT, ty = threadIdx.x / GT;
  const int64_t tiles_m = (p.M + GT - 1) / GT, tiles_n = (p.N + GT - 1) / GT, per = tiles_m * tiles_n;
  const float alpha_t = mxb_gemm_alpha_t(p.out.alpha, tensor_scale(p.a), tensor_scale(p.b));
  const size_t esize = (size_t)mxb_dtype_bytes(p.out.dtype);
  for (int64_t item = blockIdx.x; item < t.E * per; item += gridDim.x) {
    const int64_t e = item / per, m0 = item % per / tiles_n * GT, n0 = item % tiles_n * GT;
    if (t.row0[e] < 0) continue;  // an invalid group (the whole block skips it)
    const int64_t kw0 = t.row0[e], kw1 = kw0 + t.rows[e];
    out_view out = p.out;  // group e's C and bias
    out.c = static_cast<char *>(out.c) + (size_t)(e * p.M * out.ldc) * esize;
    out.c_in = out.c;
    if (out.bias) out.bias = static_cast<const char *>(out.bias) + e * p.N * mxb_dtype_bytes(out.bias_type);
    float acc = 0.0f;
    for (int64_t k0 = kw0 / p.L * p.L; k0 < kw1; k0 += p.L) {
      const int len = (int)min((int64_t)p.L, p.K - k0);
      __syncthreads();
      for (int i = threadIdx.x; i < GT * len; i += blockDim.x) {
        const int r = i / len, k = i % len;
        const bool in = k0 + k >= kw0 && k0 + k < kw1;
        sa[r][k] = in && m0 + r < p.M ? decoded(p.a, m0 + r, k0 + k) : 0.0;
        sb[r][k] = in && n0 + r < p.N ? decoded(p.b, n0 + r, k0 + k) : 0.0;
      }
      __syncthreads();
      double s = 0.0;
      for (int k = 0; k < len; k++) s = __dadd_rn(s, __dmul_rn(sa[ty][k], sb[tx][k]));
      acc = __fadd_rn(acc, __double2float_rn(s));
    }
    if (m0 + ty < p.M && n0 + tx < p.N) store(out, alpha_t, m0 + ty, n0 + tx, acc);
  }
}

}  // namespace
}  // namespace gemm
}  // namespace mxb

using namespace mxb;
using namespace mxb::gemm;

namespace {
// The call as the paths see it: p.M is A's rows, p.N an expert's rows of B.
problem grouped_problem(const mxb_gemm_desc_t *desc, const mxb_tensor_t *A, const mxb_tensor_t *B, void *C,
                        int64_t N, int64_t ldc) {
  problem p;
  p.a = make_operand(A);
  p.b = make_operand(B);
  p.M = A->rows;
  p.N = N;
  p.K = A->cols;
  p.L = mxb_gemm_k_block(mxb_format_desc_get(A->format), mxb_format_desc_get(B->format));
  p.align = mxb_gemm_pointer_align(A, B);
  p.out.c = C;
  p.out.c_in = C;
  p.out.ldc = ldc;
  p.out.dtype = desc->c_type;
  p.out.alpha = desc->alpha;
  p.out.beta = desc->beta;
  p.out.alpha_dev = desc->alpha_ptr;
  p.out.beta_dev = desc->beta_ptr;
  p.out.bias = desc->bias;
  p.out.bias_type = desc->bias_type;
  p.out.act = desc->activation;
  p.out.aux = desc->aux;  // M layouts only (the API refuses it with the K split)
  p.out.ld_aux = desc->ld_aux;
  return p;
}

// The fast kernel's choices, from the shape only: which kernel, a group's
// rows as the shape suggests (max_m, or the mean), its tile rows, and a
// bound on the table's tiles (every group may end in a partial tile).
// M layouts with a bias, an activation or fp16 C: the fast kernels compute
// the plain product (lt_epilogue_problem: C itself for fp32 C, else an fp32
// intermediate in the workspace) and an epilogue step over the groups' rows
// finishes C (gemm_epilogue.cu); not where the 4-bit kernel may fall back to
// the exact path, which would recompute C under the step.
// W4_EXACT: exact mode, NVFP4 x NVFP4 or MXFP4 x MXFP4 on the 4-bit kernel's
// exact form (sm90_w4_exact_applies), M layouts.
enum fast_kernel { NO_FAST, W4_FAST, MX_FAST, W4_EXACT };
struct fast_plan {
  fast_kernel on;
  int64_t rows_hint, upper;
  int tile;
};
fast_plan plan_fast(const mxb_context *ctx, const mxb_gemm_desc_t *desc, const problem &p, int layout, int64_t E,
                    int64_t max_rows) {
  const int masked = layout == MXB_GROUPED_M_MASKED;
  auto upper = [&](int tile) { return masked ? E * ((max_rows + tile - 1) / tile) : (p.M + tile - 1) / tile + E; };
  fast_plan f{NO_FAST, masked ? max_rows : (p.M + E - 1) / E, 0, 0};
  const bool step = has_epilogue(p.out);
  const problem q = step ? lt_epilogue_problem(p, nullptr) : p;
  // The 4-bit kernel with tiles of `tile` rows (a fallback to the exact path
  // would recompute C under the step, so none with one).
  auto w4_serves = [&](int tile) {
    return sm90_w4_grouped_applies(ctx, q, upper(tile)) && !(step && sm90_w4_may_fall_back(q));
  };
  if (desc->mode == MXB_GEMM_EXACT) {
    const int w4 = sm90_w4_tile_rows(f.rows_hint, true);
    if (layout != MXB_GROUPED_K_CONTIGUOUS && sm90_w4_exact_applies(ctx, q) && w4_serves(w4))
      f = {W4_EXACT, f.rows_hint, upper(w4), w4};
    return f;
  }
  if (layout == MXB_GROUPED_K_CONTIGUOUS) {
    if (sm90_w4_kgrouped_applies(ctx, p, E)) f.on = W4_FAST;
    else if (sm90_mx_kgrouped_applies(ctx, p, E)) f.on = MX_FAST;
    return f;
  }
  const int w4 = sm90_w4_tile_rows(f.rows_hint), mx = sm90_mx_grouped_tile();
  if (w4_serves(w4))
    f = {W4_FAST, f.rows_hint, upper(w4), w4};
  else if (sm90_mx_grouped_applies(ctx, q, upper(mx)))
    f = {MX_FAST, f.rows_hint, upper(mx), mx};
  return f;
}
// Whether the exact kernel's product goes through the epilogue step too: a
// gated activation pairs two of its columns and aux is a second output,
// which its store does neither of.
bool exact_step(const problem &p) { return epilogue_step_only(p.out); }
// Bytes of the epilogue step's intermediate (M layouts: a fast kernel, or a
// gated activation on the exact one).
size_t step_bytes(const problem &p, int layout, const fast_plan &f) {
  return (f.on != NO_FAST || exact_step(p)) && layout != MXB_GROUPED_K_CONTIGUOUS && has_epilogue(p.out)
             ? lt_epilogue_bytes(p)
             : 0;
}
size_t fast_workspace(const mxb_context *ctx, const problem &p, int layout, const fast_plan &f) {
  switch (f.on) {
    case W4_FAST:
      return layout == MXB_GROUPED_K_CONTIGUOUS ? sm90_w4_kgrouped_workspace(ctx, p)
                                                : sm90_w4_grouped_workspace(ctx, p, f.rows_hint);
    case W4_EXACT: return sm90_w4_grouped_workspace(ctx, p, f.rows_hint, true);
    case MX_FAST:
      return layout == MXB_GROUPED_K_CONTIGUOUS ? sm90_mx_kgrouped_workspace(p) : sm90_mx_grouped_workspace(p);
    default: return 0;
  }
}
// FP8 blocks with UE8M0 scale bytes: where the fp32-scale twins take the MX
// kernel, the call runs them there with the bytes widened to fp32 planes
// at the workspace's end (as the dense GEMM does); else the bytes are read
// as they are (the exact kernel decodes them). The twins when they run.
bool widen_ue8m0(const mxb_context *ctx, const mxb_gemm_desc_t *desc, int layout, int64_t groups,
                 const mxb_tensor_t *A, const mxb_tensor_t *B, int64_t N, int64_t max_rows, int64_t ldc,
                 ue8m0_twins *t) {
  *t = ue8m0_twins_of(A, B);
  if (desc->mode == MXB_GEMM_EXACT || !t->any()) return false;
  const problem pt = grouped_problem(desc, &t->A, &t->B, nullptr, N, ldc);
  return plan_fast(ctx, desc, pt, layout, groups, max_rows).on == MX_FAST;
}
// The workspace before the widened UE8M0 planes: the group table, the
// epilogue step's intermediate, the fast kernel's own.
size_t head_bytes(const mxb_context *ctx, const mxb_gemm_desc_t *desc, const problem &p, int layout, int64_t groups,
                  int64_t max_rows) {
  const fast_plan f = plan_fast(ctx, desc, p, layout, groups, max_rows);
  const problem q = layout != MXB_GROUPED_K_CONTIGUOUS && has_epilogue(p.out) ? lt_epilogue_problem(p, nullptr) : p;
  return table_bytes(groups) + step_bytes(p, layout, f) + align256(fast_workspace(ctx, q, layout, f));
}
}  // namespace

extern "C" size_t mxb_cuda_grouped_gemm_workspace_size(struct mxb_context *ctx, const mxb_gemm_desc_t *desc,
                                                       int layout, int64_t groups, const mxb_tensor_t *A,
                                                       const mxb_tensor_t *B, int64_t N, int64_t max_rows,
                                                       int64_t ldc) {
  ue8m0_twins t;
  const bool wide = widen_ue8m0(ctx, desc, layout, groups, A, B, N, max_rows, ldc, &t);
  if (wide) {
    A = &t.A;
    B = &t.B;
  }
  const problem p = grouped_problem(desc, A, B, nullptr, N, ldc);
  return head_bytes(ctx, desc, p, layout, groups, max_rows) + (wide ? t.bytes() : 0) + 256 - MXB_WORKSPACE_ALIGNMENT;
}

extern "C" mxb_status_t mxb_cuda_grouped_gemm(struct mxb_context *ctx, const mxb_gemm_desc_t *desc, int layout,
                                              int64_t groups, int index_bits, const void *index, int32_t *status,
                                              const mxb_tensor_t *A, const mxb_tensor_t *B, void *C, int64_t N,
                                              int64_t max_rows, int64_t ldc, int a_groups, void *workspace,
                                              void *stream) {
  if (ctx->cc_major < 8)
    return mxb_fail(MXB_ERR_ARCH_UNSUPPORTED, "the CUDA GEMM needs compute capability 8.0 or newer");
  cudaStream_t st = as_stream(stream);
  char *ws = static_cast<char *>(workspace) + (256 - (uintptr_t)workspace % 256) % 256;
  const group_table t = table_at(ws, groups);
  const int masked = layout == MXB_GROUPED_M_MASKED, split_k = layout == MXB_GROUPED_K_CONTIGUOUS;
  ue8m0_twins tw;
  if (widen_ue8m0(ctx, desc, layout, groups, A, B, N, max_rows, ldc, &tw)) {  // planes after everything else
    const problem p0 = grouped_problem(desc, &tw.A, &tw.B, C, N, ldc);
    MXB_TRY(tw.widen(ctx, ws + head_bytes(ctx, desc, p0, layout, groups, max_rows), st));
    A = &tw.A;
    B = &tw.B;
  }
  const problem p = grouped_problem(desc, A, B, C, N, ldc);
  const fast_plan f = plan_fast(ctx, desc, p, layout, groups, max_rows);
  const bool bf16 = B->format == MXB_FORMAT_BF16;  // on the 4-bit kernel: its BF16 x BF16 form
  grouped_prep<<<1, 32, 0, st>>>(index, index_bits, masked, groups, split_k ? A->cols : A->rows, max_rows,
                                 f.on != NO_FAST ? f.tile : 0, t, status);
  MXB_TRY(launch_status("grouped GEMM prep kernel"));
  if (split_k) {
    const bool fast = f.on != NO_FAST;
    mxb_set_last_impl(ctx, f.on == W4_FAST  ? (bf16 ? "cuda-fast-grouped-k-sm90-bf16-wgmma"
                                                           : "cuda-fast-grouped-k-sm90-w4-bf16-wgmma")
                         : f.on == MX_FAST ? "cuda-fast-grouped-k-sm90-mx-fp8-wgmma"
                                           : "cuda-exact-grouped-k-generic");
    if (N == 0 || A->rows == 0) return MXB_SUCCESS;
    // The fast kernel runs where every group is in whole stages (the prep
    // kernel's flag), the exact one where not: one of the two does the work.
    const group_rows gk = rows_of(t, groups, false, false);
    if (f.on == W4_FAST) MXB_TRY(run_sm90_w4_kgrouped(ctx, p, gk, t.staged, ws + table_bytes(groups), st));
    if (f.on == MX_FAST) MXB_TRY(run_sm90_mx_kgrouped(ctx, p, gk, t.staged, ws + table_bytes(groups), st));
    const int64_t items = groups * ((A->rows + GT - 1) / GT) * ((N + GT - 1) / GT);
    grouped_k_generic<<<grid_for(ctx, items * 256, 256, 8), 256, 0, st>>>(p, rows_of(t, groups, false, false),
                                                                          fast ? t.staged : nullptr);
    return launch_status("grouped GEMM K-split kernel");
  }
  mxb_set_last_impl(ctx, f.on == W4_FAST  ? (bf16 ? "cuda-fast-grouped-sm90-bf16-wgmma"
                                                         : "cuda-fast-grouped-sm90-w4-bf16-wgmma")
                         : f.on == MX_FAST  ? "cuda-fast-grouped-sm90-mx-fp8-wgmma"
                         : f.on == W4_EXACT ? "cuda-exact-grouped-sm90-fp4-wgmma"
                                            : "cuda-exact-grouped-generic");
  if (N == 0 || A->rows == 0) return MXB_SUCCESS;
  const int *guard = nullptr;
  problem exact = p;
  // At most ceil(rows / 16) + E tiles of 16 rows (contiguous) or E * ceil(max_m / 16) (masked).
  const int64_t upper = masked ? groups * ((max_rows + GT - 1) / GT) : (A->rows + GT - 1) / GT + groups;
  if (f.on != NO_FAST) {
    // The workspace: the table, the step's intermediate (if any), the kernel's own.
    const size_t inter = step_bytes(p, layout, f);
    char *kws = ws + table_bytes(groups) + inter;
    const problem q = has_epilogue(p.out) ? lt_epilogue_problem(p, ws + table_bytes(groups)) : p;
    if (f.on == MX_FAST) MXB_TRY(run_sm90_mx_grouped(ctx, q, rows_of(t, groups, true, a_groups), f.upper, kws, st));
    else
      MXB_TRY(run_sm90_w4_grouped(ctx, q, rows_of(t, groups, true, a_groups), f.rows_hint, f.upper, f.on == W4_EXACT,
                                  kws, st, &guard, &exact));
    if (has_epilogue(p.out))  // never with a guard (plan_fast)
      return run_grouped_epilogue(p, q, rows_of(t, groups, false, a_groups), GT, upper, st);
    if (!guard) return MXB_SUCCESS;
  }
  const bool step = exact_step(p);  // the plain product into the intermediate, then the step
  if (step) exact = lt_epilogue_problem(p, ws + table_bytes(groups));
  const unsigned grid = grid_for(ctx, upper * ((N + GT - 1) / GT) * 256, 256, 8);
  grouped_generic<<<grid, 256, 0, st>>>(exact, N, rows_of(t, groups, false, a_groups), guard);
  MXB_TRY(launch_status("grouped GEMM generic kernel"));
  return step ? run_grouped_epilogue(p, exact, rows_of(t, groups, false, a_groups), GT, upper, st) : MXB_SUCCESS;
}
